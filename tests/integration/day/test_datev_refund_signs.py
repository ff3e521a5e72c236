"""DATEV: a refund keeps its sign in the row text.

* The Nachricht of a receipt's rows in the extended cash book dropped the sign of the
  tax and of the payments: a refund of 8.99 read "USt 1,44; Zahlarten: Bar 8,99" like a
  sale.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.integration.api.test_sale_part2 import call, pay, post, sale_of, seed
from tests.support.cash import close_as_expected

CASH = common_pb2.PAYMENT_METHOD_CASH


def test_a_refunds_tax_and_payments_keep_their_sign_in_the_message(
    pos: PosdClient,
) -> None:
    pos.open_shift([])
    seed(pos)
    sid = sale_of(pos, ("COFFEE", "1"))
    pay(pos, sid, CASH, 899)
    coffee = post(pos, sid)
    ret = pos.create_sale().sale_id
    call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=coffee.sale_id,
        original_line_id=coffee.lines[0].line_id,
        quantity="1",
    )
    pay(pos, ret, CASH, -899)
    refund = post(pos, ret)
    close_as_expected(pos)

    day = coffee.post_time.ToDatetime().date()  # the register's calendar is UTC here
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    (book,) = pos.export_cash_book(start, end)

    rows = book.content.decode("utf-8").split("\r\n")
    sold = next(r for r in rows if r.startswith('"EUR";+8,99;"' + str(coffee.receipt_number)))
    back = next(r for r in rows if r.startswith('"EUR";-8,99;"' + str(refund.receipt_number)))
    assert sold.endswith('"USt 1,44; Zahlarten: Bar 8,99"')
    assert back.endswith('"USt -1,44; Zahlarten: Bar -8,99"')
