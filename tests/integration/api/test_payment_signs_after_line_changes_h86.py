"""Through the gRPC API: a refund made while an exchange gave money back is not posted
once the return is taken off and the sale takes money (it posted a card credited with
15.83 beside 16.18 taken on a benefit card for goods of 0.35)."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import (
    BENEFIT,
    CARD,
    call,
    pay,
    post,
    seed,
    sold_receipt,
)


def test_a_refund_left_in_a_sale_that_takes_money_is_not_posted(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    original = sold_receipt(pos)  # 3 x 8.99 - 10 % = 24.27
    sid = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
         original_line_id="1", quantity="2")  # fmt: skip
    pos.add_line(sid, item_id="ROLL")  # -16.18 + 0.35 = -15.83
    refund = pay(pos, sid, CARD).sale.payments[0]
    assert refund.amount.amount_minor == -1583
    back = next(ln for ln in pos.get_sale(sid).lines if ln.kind == sale_pb2.LINE_KIND_RETURN)
    call(pos, "RemoveLine", sale_id=sid, line_id=back.line_id)  # the customer keeps it
    s = pay(pos, sid, BENEFIT).sale
    assert s.total.amount_minor == 35
    assert [p.amount.amount_minor for p in s.payments] == [-1583, 1618]
    with pytest.raises(PosdError) as err:
        post(pos, sid)
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "REFUND_EXCEEDS_OPEN_AMOUNT",
    )
    assert pos.get_sale(sid).state == sale_pb2.SALE_STATE_OPEN
    # the cashier takes the refund off and the benefit card down to the goods
    call(pos, "RemovePayment", sale_id=sid, payment_id=refund.payment_id)
    benefit = pos.get_sale(sid).payments[0]
    call(pos, "UpdatePayment", sale_id=sid, payment_id=benefit.payment_id,
         amount={"amount_minor": 35, "currency_code": "EUR"})  # fmt: skip
    done = post(pos, sid)
    assert [p.amount.amount_minor for p in done.payments] == [35]
