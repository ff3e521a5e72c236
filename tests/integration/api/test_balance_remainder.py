"""An exchange whose money goes back partly in cash: the rest goes to the balancing
account when the client asks for it (PostSale balance_negative_total), as the
REFUND_REQUIRED message offers."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import sale_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import CASH, call, pay, post, rows, seed, sold_receipt


def test_a_partly_refunded_exchange_books_the_rest_to_the_balancing_account(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    original = sold_receipt(pos)  # 3 x 8.99 - 10 % = 24.27
    sid = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
         original_line_id="1", quantity="2")  # fmt: skip
    pos.add_line(sid, item_id="ROLL")  # -16.18 + 0.35 = -15.83
    pay(pos, sid, CASH, -500)  # 5.00 back in cash, the rest to the account
    done = post(pos, sid, balance_negative_total=True)
    assert done.state == sale_pb2.SALE_STATE_POSTED
    assert done.lines[-1].kind == sale_pb2.LINE_KIND_BALANCING
    assert done.lines[-1].amount.amount_minor == 1083
    assert done.total.amount_minor == -500
    assert [p.amount.amount_minor for p in done.payments] == [-500]
    drawer = "SELECT kind, amount FROM drawer_entries WHERE sale_id = ?"
    assert rows(running, drawer, sid) == [("SALE_PAYMENT", -500)]
