"""Editing a payment keeps the bounds AddPayment gives its method, and payments balance."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CASH, CARD = PaymentMethod.CASH, PaymentMethod.CARD


def chf_sale(price: int) -> Sale:
    s = Sale("s1", "REG-1", "1", "CHF", NOW)
    s.add_line(Item("A", "A", price, "CHF", VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    return s


def test_an_edited_card_cannot_take_over_the_cash_rounding() -> None:
    """10.03 CHF, 5.00 in cash (0.05 steps): the card pays the exact rest, 5.03. AddPayment
    refuses 5.05, but UpdatePayment let a card edited up to 5.05 through (it checked the
    open amount rounded for cash): with the 5.00 cash already taken, the card was charged
    0.02 more than the goods and the sale booked a cash rounding of +0.02."""
    s = chf_sale(1003)
    s.add_payment(CASH, 500, "CHF", rounding_step=5)
    card = s.add_payment(CARD, 100, "CHF")
    with pytest.raises(DomainError) as err:
        s.update_payment(card.payment_id, amount=505)
    assert err.value.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    assert (card.amount, s.rounding, s.due) == (100, 2, 1005)  # nothing changed
    s.update_payment(card.payment_id, amount=503)
    assert (s.rounding, s.due, s.open_amount) == (0, 1003, 0)
    s.post(1, NOW)


def test_an_edited_card_may_go_down_to_any_amount_while_cash_rounds_down() -> None:
    """10.02 CHF, 5.00 in cash, the card took the exact rest 5.02. Editing the card down to
    5.01 was refused as "exceeds the open amount 500" (the open amount rounded for cash,
    not what a card pays)."""
    s = chf_sale(1002)
    s.add_payment(CASH, 500, "CHF", rounding_step=5)
    card = s.add_payment(CARD, 0, "CHF")
    assert card.amount == 502
    s.update_payment(card.payment_id, amount=501)
    assert (s.rounding, s.due, s.paid, s.open_amount) == (-1, 1001, 1001, 0)
    s.post(1, NOW)


_STEPS = {CASH: 5, PaymentMethod.BENEFIT: 10}
_METHODS = [CASH, CARD, PaymentMethod.BENEFIT, PaymentMethod.BANK_TRANSFER]
_OPS = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(_METHODS), st.integers(-1500, 1500)),
    # an edit to near what is left for the payment (where the rules bite) or anywhere
    st.tuples(st.just("update"), st.integers(0, 7), st.integers(-6, 6)),
    st.tuples(st.just("edit"), st.integers(0, 7), st.integers(-1500, 1500)),
    st.tuples(st.just("remove"), st.integers(0, 7), st.just(0)),
)


@settings(max_examples=400)
@example(price=1003, returned=0, ops=[("add", CASH, 500), ("add", CARD, 100), ("update", 1, 2)])
@example(  # an edit to the card's own amount after cash overpaid: a no-op, not a check
    price=144,
    returned=0,
    ops=[("add", CASH, 1), ("add", CARD, 1), ("add", CASH, 0), ("update", 1, 2)],
)
@given(
    price=st.integers(1, 1200),
    returned=st.integers(0, 2400),
    ops=st.lists(_OPS, max_size=8),
)
def test_payments_balance_to_the_cent_whatever_the_cashier_does(
    price: int, returned: int, ops: list[tuple[str, Any, int]]
) -> None:
    """Any sequence of payments added, edited and removed (cash in 0.05, a benefit card in
    0.10, exact methods; goods less a return, so refunds too): an unrounded non-cash
    payment never pays beyond the exact rest of the others (AddPayment and UpdatePayment
    alike), the rounding is at most half a step, and a postable sale's kept payments add
    up to what is due, change coming from cash only."""
    s = chf_sale(price)
    if returned:
        s.add_fixed_line(LineKind.RETURN, name="R", amount=-returned,
                         vat_category=VatCategory.NORMAL, vat_rate=Decimal("8.1"))  # fmt: skip
    for kind, which, amount in ops:
        payment = None
        try:
            if kind == "add":
                method = which
                payment = s.add_payment(method, amount, "CHF", rounding_step=_STEPS.get(method, 1))
            elif s.payments:
                chosen = s.payments[which % len(s.payments)]
                before = chosen.amount
                if kind == "update":
                    near = s.total - (s.paid - chosen.amount) + amount
                    payment = s.update_payment(chosen.payment_id, amount=near)
                elif kind == "edit":
                    payment = s.update_payment(chosen.payment_id, amount=amount)
                else:
                    s.remove_payment(chosen.payment_id)
        except DomainError:
            continue
        if kind != "add" and payment is not None and payment.amount == before:
            # an edit to the amount it has changes nothing (and checks nothing): a card
            # set when the rest allowed it may exceed it now that cash overpays
            payment = None
        if payment is not None and payment.rounding_step == 1 and not payment.method.is_cash:
            others = s.paid - payment.amount
            rest = s.total - others
            assert abs(payment.amount) <= abs(rest) and (payment.amount > 0) == (rest > 0)
        assert abs(s.rounding) <= 5
    try:
        s.check_postable()
    except DomainError:
        return
    kept = s.kept_amounts()
    assert sum(k for _, k in kept) == s.due == s.total + s.rounding
    assert 0 <= s.change <= max(0, s.cash_paid)
    assert all(k == p.amount for p, k in kept if not p.method.is_cash)
