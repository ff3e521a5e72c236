"""The DATEV extended cash book through the gRPC API with real SQLite: amounts in EUR for
receipts in a foreign currency, the cash rounding on a row of its own, the payments as
the drawer kept them (sale_payments.kept)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from posd.client import PosdClient
from posd.v1 import shop_pb2

from tests.integration.api.test_sale_part2 import call
from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import CARD, CASH, cents, seed
from tests.support.fullsale import update_shop


def test_extended_cash_book_in_eur_with_cash_rounding_and_kept_amounts(day: Day) -> None:
    pos, dc = day.pos, day.day
    seed(pos)
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="EUR", increment_minor=5)],
    )
    dc.open_shift(PosdClient.cash_counts(total=2000))
    # 1: 8.99 paid in cash, rounded to 9.00; 10.00 tendered, 1.00 back
    a = pos.create_sale().sale_id
    pos.add_line(a, item_id="A", quantity="1")
    pos.add_payment(a, CASH, 1000)
    assert pos.post_sale(a).rounding.amount_minor == 1
    # 2: the same in CHF (8.54 CHF = 8.99 EUR), 20.00 CHF tendered
    b = pos.create_sale().sale_id
    pos.add_line(b, item_id="A", quantity="1")
    call(pos, "SetCurrency", sale_id=b, currency_code="CHF")
    pos.add_payment(b, CASH, 2000, currency="CHF")
    assert pos.post_sale(b).total.amount_minor == 854
    # 3: in CHF by card, two rates: 8.54 + 3.32 CHF = 11.86 CHF, 12.48 EUR
    c = pos.create_sale().sale_id
    pos.add_line(c, item_id="A", quantity="1")
    pos.add_line(c, item_id="B", quantity="1")
    call(pos, "SetCurrency", sale_id=c, currency_code="CHF")
    pos.add_payment(c, CARD, 1186, currency="CHF")
    assert pos.post_sale(c).total.amount_minor == 1186

    now = datetime.now(UTC)
    (book,) = dc.export_cash_book(now - timedelta(days=1), now + timedelta(days=1))
    rows = list(csv.reader(io.StringIO(book.content.decode("utf-8")), delimiter=";"))[1:]
    got = [(r[0], r[1], r[2], r[4], r[5], r[7], r[12]) for r in rows]
    assert got == [
        ("EUR", "+8,99", "1", "Beleg 1 Umsatz 19%", "19,00", "8400",
         "USt 1,44; Zahlarten: Bar 9,00"),
        # the 0.01 the drawer kept beyond the total, without VAT, on the rounding account
        ("EUR", "+0,01", "1", "Beleg 1 Rundung", "", "8200", "Rundungsdifferenz Bargeld"),
        ("EUR", "+8,99", "2", "Beleg 2 Umsatz 19%", "19,00", "8400",
         "USt 1,44; Zahlarten: Bar 8,99"),
        ("EUR", "+8,99", "3", "Beleg 3 Umsatz 19%", "19,00", "8400",
         "USt 1,44; Zahlarten: Karte 12,48"),
        ("EUR", "+3,49", "3", "Beleg 3 Umsatz 7%", "7,00", "8300",
         "USt 0,23; Zahlarten: Karte 12,48"),
        ("EUR", "-12,48", "3", "Beleg 3 Karte", "", "1360", "Zahlart Unbar"),
    ]  # fmt: skip
    # the cash book moves by what the drawer kept: 9.00 EUR and 8.54 CHF (8.99 EUR)
    assert sum(cents(r[1].replace("+", "")) for r in rows) == 900 + 899
