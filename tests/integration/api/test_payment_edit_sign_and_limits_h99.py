"""Through the gRPC API: UpdatePayment keeps a payment's sign (a payment taken is not
turned into a refund, nor a refund into money taken), holds an edit to the bounds
AddPayment gives (a card at most the open amount, a refund at most what is given back, a
method with a rounding step in its steps), refuses with a reason and, where the amount
is wrong, a field violation, and changes nothing when it refuses; a repeated request_id
gets the first answer and changes nothing."""

from __future__ import annotations

import grpc
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import sale_pb2, shop_pb2

from tests.integration.api.test_sale_part2 import (
    BENEFIT,
    CARD,
    CASH,
    CREDIT,
    call,
    error,
    money,
    pay,
    post,
    sale_of,
    seed,
    sold_receipt,
)
from tests.support.fullsale import update_shop


def _amounts(pos: PosdClient, sid: str) -> list[int]:
    return [p.amount.amount_minor for p in pos.get_sale(sid).payments]


def _edit(pos: PosdClient, sid: str, pid: str, minor: int, currency: str = "EUR") -> PosdError:
    return error(call, pos, "UpdatePayment", sale_id=sid, payment_id=pid,
                 amount=money(minor, currency))  # fmt: skip


def _refused_amount(e: PosdError, reason: str = "INVALID_AMOUNT") -> None:
    assert (e.code, e.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert [f for f, _ in e.field_violations] == ["amount.amount_minor"]


def _exchange_giving_back(pos: PosdClient) -> str:
    """A sale that gives 15.83 back: 2 coffees of 24.27 returned (-16.18), a roll bought."""
    original = sold_receipt(pos)
    sid = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
         original_line_id="1", quantity="2")  # fmt: skip
    pos.add_line(sid, item_id="ROLL")
    return sid


def test_a_payment_taken_is_not_edited_into_a_refund(pos: PosdClient) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"))  # 100.00
    card = pay(pos, sid, CARD, 6000, card_institute="VISA").payment_id
    cash = pay(pos, sid, CASH, 5000).payment_id
    for pid in (card, cash):
        _refused_amount(_edit(pos, sid, pid, -6000))
        _refused_amount(_edit(pos, sid, pid, 0))
    assert _amounts(pos, sid) == [6000, 5000]
    # a card raised beyond the open amount (40.00 beside the cash's 50.00 here: 10.00
    # of the cash is change) is refused; cash may exceed it
    e = _edit(pos, sid, card, 10001)
    assert (e.code, e.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_EXCEEDS_OPEN_AMOUNT",
    )
    assert e.metadata["open_amount_minor"] == "5000"
    assert _amounts(pos, sid) == [6000, 5000]
    s = call(pos, "UpdatePayment", sale_id=sid, payment_id=cash, amount=money(20000)).sale
    assert s.change.amount_minor == 16000
    done = post(pos, sid)
    assert [p.amount.amount_minor for p in done.payments] == [6000, 20000]


def test_a_refund_is_not_edited_into_money_taken_nor_beyond_what_is_given_back(
    pos: PosdClient,
) -> None:
    seed(pos)
    sid = _exchange_giving_back(pos)
    refund = pay(pos, sid, CASH).sale.payments[0]  # no amount: all that is given back
    assert refund.amount.amount_minor == -1583
    _refused_amount(_edit(pos, sid, refund.payment_id, 1583))
    e = _edit(pos, sid, refund.payment_id, -1584)
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REFUND_EXCEEDS_OPEN_AMOUNT")
    assert _amounts(pos, sid) == [-1583]
    # made smaller, the rest is given back by another method the shop refunds by
    call(pos, "UpdatePayment", sale_id=sid, payment_id=refund.payment_id, amount=money(-1000))
    s = pay(pos, sid, CASH).sale
    assert [p.amount.amount_minor for p in s.payments] == [-1000, -583]
    done = post(pos, sid)
    assert done.state == sale_pb2.SALE_STATE_POSTED
    assert [p.amount.amount_minor for p in done.payments] == [-1000, -583]


def test_a_benefit_card_with_a_step_is_edited_only_in_its_steps(pos: PosdClient) -> None:
    seed(pos)
    update_shop(
        pos,
        payment_rounding=[
            shop_pb2.PaymentRounding(currency_code="EUR", payment_method=BENEFIT, increment_minor=5)
        ],
    )
    sid = sale_of(pos, ("COFFEE", "1"), ("ROLL", "1"))  # 9.34
    benefit = pay(pos, sid, BENEFIT, 500, reference="MEAL-1").payment_id
    _refused_amount(_edit(pos, sid, benefit, 503), "AMOUNT_NOT_IN_STEP")
    # the open amount in its steps is 9.35: 9.40 would take more than the goods
    e = _edit(pos, sid, benefit, 940)
    assert e.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    assert _amounts(pos, sid) == [500]
    s = call(pos, "UpdatePayment", sale_id=sid, payment_id=benefit, amount=money(935)).sale
    assert (s.payments[0].amount.amount_minor, s.open_amount.amount_minor) == (935, 0)


def test_an_update_payment_repeated_with_its_request_id_changes_nothing(
    pos: PosdClient,
) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"))
    card = pay(pos, sid, CARD, card_institute="VISA").payment_id
    first = sale_pb2.UpdatePaymentRequest(
        request_id=new_request_id(), sale_id=sid, payment_id=card, amount=money(6000)
    )
    answer = pos.call(pos.sales.UpdatePayment, first)
    assert answer.sale.payments[0].amount.amount_minor == 6000
    call(pos, "UpdatePayment", sale_id=sid, payment_id=card, amount=money(7000))
    again = pos.call(pos.sales.UpdatePayment, first)
    assert again == answer  # the first answer, not the payment set back to 60.00
    assert _amounts(pos, sid) == [7000]
    # the same request_id for another edit is refused, and changes nothing
    other = sale_pb2.UpdatePaymentRequest(
        request_id=first.request_id, sale_id=sid, payment_id=card, amount=money(5000)
    )
    e = error(pos.call, pos.sales.UpdatePayment, other)
    assert e.reason == "REQUEST_ID_REUSED"
    assert _amounts(pos, sid) == [7000]
    # a refused edit repeated is refused again, and still changes nothing
    bad = sale_pb2.UpdatePaymentRequest(
        request_id=new_request_id(), sale_id=sid, payment_id=card, amount=money(-7000)
    )
    for _ in range(2):
        assert error(pos.call, pos.sales.UpdatePayment, bad).reason == "INVALID_AMOUNT"
    assert _amounts(pos, sid) == [7000]


def test_an_edit_refused_for_its_contract_number_keeps_the_amount(pos: PosdClient) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"))
    credit = pay(pos, sid, CREDIT, 8000, contract_number="K-1").payment_id
    e = error(call, pos, "UpdatePayment", sale_id=sid, payment_id=credit,
              amount=money(6000), contract_number="")  # fmt: skip
    assert (e.code, e.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONTRACT_NUMBER_REQUIRED")
    assert _amounts(pos, sid) == [8000]
    # the next edit (of the reference only) starts from the stored payment
    s = call(pos, "UpdatePayment", sale_id=sid, payment_id=credit, reference="R-1").sale
    assert [(p.amount.amount_minor, p.contract_number) for p in s.payments] == [(8000, "K-1")]
