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
from posd_daemon.domain.payments import PaymentMethod, round_to_step
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


_METHODS = [CASH, CARD, PaymentMethod.BENEFIT, PaymentMethod.BANK_TRANSFER]
_OPS = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(_METHODS), st.integers(-1500, 1500)),
    # amounts in the method's step (k steps; 0 is the open amount), which the step check
    # lets through: the rounding rules bite only on these
    st.tuples(st.just("add_k"), st.sampled_from(_METHODS), st.integers(-60, 60)),
    st.tuples(st.just("edit_k"), st.integers(0, 7), st.integers(-60, 60)),
    # goods come and go after paying (a line added, the last one taken off)
    st.tuples(st.just("line"), st.just(None), st.integers(-400, 400)),
    # an edit to near what is left for the payment (where the rules bite) or anywhere
    st.tuples(st.just("update"), st.integers(0, 7), st.integers(-6, 6)),
    st.tuples(st.just("edit"), st.integers(0, 7), st.integers(-1500, 1500)),
    st.tuples(st.just("remove"), st.integers(0, 7), st.just(0)),
)


@settings(max_examples=400)
@example(
    price=1003,
    returned=0,
    ops=[("add", CASH, 500), ("add", CARD, 100), ("update", 1, 2)],
    cash_refunds=True,
    cash_step=5,
)
# 0.02 left to give back rounds away in cash: cash "tendered" then, or the 0.00 cash edited
# up, was money taken in a refund; a 0.00 cash refund where the shop refunds by card only
@example(price=1000, returned=2743, ops=[("add", CARD, -1741), ("add", CASH, 500)],
         cash_refunds=True, cash_step=5)  # fmt: skip
@example(price=1000, returned=2743,
         ops=[("add", CARD, -1741), ("add", CASH, 0), ("edit", 1, 500)],
         cash_refunds=True, cash_step=5)  # fmt: skip
@example(price=1000, returned=2743, ops=[("add", CARD, -1741), ("add", CASH, 0)],
         cash_refunds=False, cash_step=5)  # fmt: skip
@example(  # an edit to the card's own amount after cash overpaid: a no-op, not a check
    price=144,
    returned=0,
    ops=[("add", CASH, 1), ("add", CARD, 1), ("add", CASH, 0), ("update", 1, 2)],
    cash_refunds=True,
    cash_step=5,
)
# goods taken off after paying: a cash payment is not edited to take money in a sale
# that has nothing to pay (the cashier removes it)
@example(price=1, returned=1, ops=[("line", None, 8), ("add", CASH, 0), ("line", None, 0),
         ("edit_k", 0, 1)], cash_refunds=False, cash_step=5)  # fmt: skip
# a card refund lowered after the return line went (the sale now takes 0.01): refused,
# as a payment set to take money in a sale that gives money back is
@example(price=1, returned=3, ops=[("add", CARD, 0), ("line", None, 0), ("edit_k", 0, -1)],
         cash_refunds=False, cash_step=5)  # fmt: skip
@given(
    price=st.integers(1, 1200),
    returned=st.integers(0, 2400),
    ops=st.lists(_OPS, max_size=8),
    cash_refunds=st.booleans(),
    # CHF 0.05, a 0.10 step, whole koruna (CZK 1.00), none
    cash_step=st.sampled_from([5, 10, 100, 1]),
)
def test_payments_balance_to_the_cent_whatever_the_cashier_does(
    price: int, returned: int, ops: list[tuple[str, Any, int]], cash_refunds: bool, cash_step: int
) -> None:
    """Any sequence of payments added, edited and removed (cash in 0.05, 0.10, 1.00 or
    exact cents, a benefit card in 0.10, exact methods; goods added and taken off after
    paying; goods less a return, so refunds too, in a shop that refunds by any method or
    by card and transfer only): an unrounded non-cash payment never pays beyond the exact
    rest of the others (AddPayment and UpdatePayment alike), money only goes the sale's
    way, the rounding is at most half a step and that of the rest the rounded methods
    settle (a cash payment of 0.00 rounds away only a rest its step rounds to nothing),
    and a postable sale's kept payments add up to what is due, change coming from cash
    only."""
    s = chf_sale(price)
    if returned:
        s.add_fixed_line(LineKind.RETURN, name="R", amount=-returned,
                         vat_category=VatCategory.NORMAL, vat_rate=Decimal("8.1"))  # fmt: skip
    # a shop that refunds by any method, or by card and transfer only
    refunds = None if cash_refunds else frozenset({CARD, PaymentMethod.BANK_TRANSFER})
    step_of = {CASH: cash_step, PaymentMethod.BENEFIT: 10}
    for op, which, n in ops:
        kind, amount = op, n
        payment = None
        try:
            if kind == "line":
                if amount > 0:
                    s.add_line(Item("B", "B", amount, "CHF", VatCategory.NORMAL),
                               Decimal(1), Decimal("8.1"))  # fmt: skip
                elif len(s.lines) > 1:
                    s.remove_line(s.lines[-1].line_id)
                continue
            if kind == "add_k":
                kind, amount = "add", n * step_of.get(which, 1)
            if kind == "add":
                method = which
                payment = s.add_payment(method, amount, "CHF", rounding_step=step_of.get(method, 1),
                                        refund_methods=refunds)  # fmt: skip
            elif s.payments:
                chosen = s.payments[which % len(s.payments)]
                before = chosen.amount
                if kind == "update":
                    near = s.total - (s.paid - chosen.amount) + amount
                    payment = s.update_payment(chosen.payment_id, amount=near)
                elif kind == "edit":
                    payment = s.update_payment(chosen.payment_id, amount=amount)
                elif kind == "edit_k":
                    step = max(chosen.rounding_step, 1)
                    payment = s.update_payment(chosen.payment_id, amount=amount * step)
                else:
                    s.remove_payment(chosen.payment_id)
        except DomainError:
            continue
        if kind != "add" and payment is not None and payment.amount == before:
            # an edit to the amount it has changes nothing (and checks nothing): a card
            # set when the rest allowed it may exceed it now that cash overpays
            payment = None
        if payment is not None:
            # money goes the sale's way: nothing is taken in a sale that gives money back
            # (not even cash "tendered" beyond a rest that rounds away), nothing paid out
            # in one that takes money, and a refund (a rest of one rounded away included)
            # only by a method the shop refunds by
            assert payment.amount <= 0 or s.total > 0
            assert payment.amount >= 0 or s.total < 0
            if kind == "add" and s.total < 0 and payment.amount <= 0 and refunds is not None:
                assert payment.method in refunds
        if payment is not None and payment.rounding_step == 1 and not payment.method.is_cash:
            others = s.paid - payment.amount
            rest = s.total - others
            if kind == "add" or abs(payment.amount) > abs(before):
                assert abs(payment.amount) <= abs(rest) and (payment.amount > 0) == (rest > 0)
            else:
                # lowered: it takes less than it did, a state AddPayment reaches in the
                # other order (a card edited down while cash covers the sale, h89)
                assert 0 < abs(payment.amount) < abs(before)
                assert (payment.amount > 0) == (before > 0)
        steps = [p.rounding_step for p in s.payments if p.rounding_step > 1]
        assert abs(s.rounding) <= max(steps, default=1) // 2
    try:
        s.check_postable()
    except DomainError:
        return
    kept = s.kept_amounts()
    assert sum(k for _, k in kept) == s.due == s.total + s.rounding
    # the rounding is that of the rest the rounded payments settle, nothing else: a cash
    # payment of 0.00 settles only a rest its step rounds to nothing
    exact = s.total - sum(p.amount for p in s.payments if p.rounding_step <= 1)
    steps = [p.rounding_step for p in s.payments if p.rounding_step > 1]
    if steps:
        assert s.rounding == round_to_step(exact, max(steps)) - exact
    else:
        assert s.rounding == 0 and s.paid - s.change == s.total
    assert 0 <= s.change <= max(0, s.cash_paid)
    assert all(k == p.amount for p, k in kept if not p.method.is_cash)
