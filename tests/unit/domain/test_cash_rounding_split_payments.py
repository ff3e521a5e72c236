"""Split payments in a currency whose cash is rounded (CHF 0.05): a rest that rounds to
nothing is settled by a cash payment of 0.00, and only then; editing or removing the other
payments afterwards moves the rounding with them; refunds and foreign cash keep the steps."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.payments import Payment, PaymentMethod
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CASH, CARD = PaymentMethod.CASH, PaymentMethod.CARD
RATE = Decimal("8.1")


def sale_of(price: int, currency: str = "CHF", **kw: object) -> Sale:
    s = Sale("s1", "REG-1", "1", currency, NOW, **kw)  # type: ignore[arg-type]
    s.add_line(Item("A", "A", price, s.local_currency or currency, VatCategory.NORMAL),
               Decimal(1), RATE)  # fmt: skip
    return s


def with_return(s: Sale, amount: int) -> Sale:
    s.add_fixed_line(LineKind.RETURN, name="R", amount=-amount,
                     vat_category=VatCategory.NORMAL, vat_rate=RATE)  # fmt: skip
    return s


def cash(s: Sale, amount: int = 0) -> Payment:
    return s.add_payment(CASH, amount, "CHF", rounding_step=5)


def refused(reason: str, call: object, *args: object, **kw: object) -> DomainError:
    with pytest.raises(DomainError) as err:
        call(*args, **kw)  # type: ignore[operator]
    assert err.value.reason == reason, err.value
    return err.value


# -- split payments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "cash_amount", "rounding", "due"),
    [
        (1741, 0, -2, 1741),  # 0.02 left: rounds to nothing
        (1742, 0, -1, 1742),  # 0.01 left
        (1740, 5, 2, 1745),  # 0.03 left: rounds up to 0.05
        (1739, 5, 1, 1744),  # 0.04 left
        (1738, 5, 0, 1743),  # 0.05 left: exact
        (1743, None, 0, 1743),  # nothing left: no cash payment at all
    ],
)
def test_card_then_cash_settles_the_rest_in_the_cash_step(
    card: int, cash_amount: int | None, rounding: int, due: int
) -> None:
    s = sale_of(1743)
    s.add_payment(CARD, card, "CHF")
    if cash_amount is None:
        refused("PAYMENT_EXCEEDS_OPEN_AMOUNT", cash, s)
    else:
        p = cash(s)
        assert p.amount == cash_amount
    assert (s.rounding, s.due, s.open_amount, s.change) == (rounding, due, 0, 0)
    s.post(1, NOW)


def test_cash_then_card_the_card_pays_exact_cents() -> None:
    s = sale_of(1743)
    cash(s, 1000)
    card = s.add_payment(CARD, 0, "CHF")
    assert (card.amount, s.rounding, s.due, s.open_amount) == (743, 0, 1743, 0)
    refused("PAYMENT_EXCEEDS_OPEN_AMOUNT", cash, s)  # nothing left, not even a rounding
    s.post(1, NOW)


def test_cash_and_cash_rounds_once() -> None:
    s = sale_of(1743)
    cash(s, 1000)
    second = cash(s)
    assert (second.amount, s.rounding, s.due) == (745, 2, 1745)
    refused("PAYMENT_EXCEEDS_OPEN_AMOUNT", cash, s)
    s.post(1, NOW)


def test_cash_tendered_for_a_rest_that_rounds_away_is_all_change() -> None:
    s = sale_of(1743)
    s.add_payment(CARD, 1741, "CHF")
    cash(s, 100)
    assert (s.rounding, s.due, s.change) == (-2, 1741, 100)
    s.post(1, NOW)
    assert [k for _, k in s.kept_amounts()] == [1741, 0]


def test_a_second_cash_payment_once_the_rest_rounded_away_is_refused() -> None:
    s = sale_of(1743)
    s.add_payment(CARD, 1741, "CHF")
    cash(s)
    refused("PAYMENT_EXCEEDS_OPEN_AMOUNT", cash, s)
    assert len(s.payments) == 2
    # the customer may still pay the 0.02 by card: then nothing is rounded
    card = s.add_payment(CARD, 0, "CHF")
    assert (card.amount, s.rounding, s.due, s.paid) == (2, 0, 1743, 1743)
    s.post(1, NOW)


# -- editing or removing after a cash payment of 0.00 ---------------------------------------


def test_removing_the_card_after_a_zero_cash_payment_leaves_the_sale_unpaid() -> None:
    s = sale_of(1743)
    card = s.add_payment(CARD, 1741, "CHF")
    cash(s)
    s.remove_payment(card.payment_id)
    assert (s.rounding, s.due, s.open_amount) == (2, 1745, 1745)
    refused("SALE_NOT_PAID", s.check_postable)


def test_editing_the_card_down_after_a_zero_cash_payment_reopens_the_rest() -> None:
    s = sale_of(1743)
    card = s.add_payment(CARD, 1741, "CHF")
    cash(s)
    s.update_payment(card.payment_id, amount=1700)
    assert (s.rounding, s.due, s.open_amount) == (2, 1745, 45)
    refused("SALE_NOT_PAID", s.check_postable)
    s.add_payment(CASH, 45, "CHF", rounding_step=5)
    s.post(1, NOW)


def test_editing_the_card_up_to_the_total_after_a_zero_cash_payment_drops_the_rounding() -> None:
    s = sale_of(1743)
    card = s.add_payment(CARD, 1741, "CHF")
    cash(s)
    s.update_payment(card.payment_id, amount=1743)
    assert (s.rounding, s.due, s.open_amount) == (0, 1743, 0)
    refused("PAYMENT_EXCEEDS_OPEN_AMOUNT", s.update_payment, card.payment_id, amount=1745)
    s.post(1, NOW)


def test_a_line_added_after_a_zero_cash_payment_must_be_paid() -> None:
    s = sale_of(1743)
    s.add_payment(CARD, 1741, "CHF")
    cash(s)
    s.add_line(Item("B", "B", 500, "CHF", VatCategory.NORMAL), Decimal(1), RATE)
    assert (s.rounding, s.due, s.open_amount) == (-2, 2241, 500)
    refused("SALE_NOT_PAID", s.check_postable)


def test_a_zero_cash_payment_cannot_be_edited_into_a_refund() -> None:
    s = sale_of(2)
    p = cash(s)
    refused("INVALID_AMOUNT", s.update_payment, p.payment_id, amount=-5)
    refused("AMOUNT_NOT_IN_STEP", s.update_payment, p.payment_id, amount=3)
    s.update_payment(p.payment_id, amount=500)
    assert (s.due, s.change) == (0, 500)


# -- refunds -------------------------------------------------------------------------------


def test_a_refund_off_the_step_is_rounded_and_paid_out_in_the_step() -> None:
    s = with_return(sale_of(1000), 2743)  # 17.43 to give back
    refused("AMOUNT_NOT_IN_STEP", cash, s, -1743)
    first = cash(s, -1000)
    second = cash(s)
    assert (first.amount, second.amount) == (-1000, -745)
    assert (s.rounding, s.due, s.open_amount) == (-2, -1745, 0)
    s.post(1, NOW)


def test_a_card_refund_then_a_refund_rest_that_rounds_away() -> None:
    s = with_return(sale_of(1000), 2743)
    s.add_payment(CARD, -1741, "CHF")
    zero = cash(s)
    assert (zero.amount, s.rounding, s.due, s.open_amount) == (0, 2, -1741, 0)
    s.post(1, NOW)


def test_cash_tendered_in_a_sale_that_gives_money_back_is_refused() -> None:
    """0.02 left to give back rounds away in cash; a cash amount tendered (+5.00) is no
    part of a refund: it was taken, all of it "change", in a sale that pays out."""
    s = with_return(sale_of(1000), 2743)
    s.add_payment(CARD, -1741, "CHF")
    refused("PAYMENT_EXCEEDS_OPEN_AMOUNT", cash, s, 500)
    assert len(s.payments) == 1


def test_a_refund_rest_is_not_rounded_away_in_cash_where_cash_refunds_are_not_allowed() -> None:
    """A shop that refunds by card only: the 0.02 left to give back is refunded by card,
    not kept as a cash rounding."""
    s = with_return(sale_of(1000), 2743)
    s.add_payment(CARD, -1741, "CHF")
    refused("REFUND_METHOD_NOT_ALLOWED", s.add_payment, CASH, 0, "CHF", rounding_step=5,
            refund_methods=frozenset({CARD}))  # fmt: skip
    assert len(s.payments) == 1
    s.add_payment(CARD, 0, "CHF", refund_methods=frozenset({CARD}))
    assert (s.rounding, s.due, s.paid) == (0, -1743, -1743)


def test_a_refund_that_is_only_a_few_rappen_is_settled_by_zero_cash() -> None:
    s = with_return(sale_of(1000), 1001)
    zero = cash(s)
    assert (zero.amount, s.rounding, s.due) == (0, 1, 0)
    s.post(1, NOW)


# -- foreign cash ----------------------------------------------------------------------------


def test_chf_cash_in_a_euro_shop_keeps_the_chf_step_and_gives_euro_change_in_its_step() -> None:
    """A euro shop (EUR cash in 0.05) takes CHF (0.95 CHF per EUR, CHF cash in 0.05)."""
    s = sale_of(10000, "CHF", local_currency="EUR", exchange_rate=Decimal("0.95"),
                cash_step=5, local_cash_step=5)  # fmt: skip
    assert s.total == 9500
    refused("AMOUNT_NOT_IN_STEP", cash, s, 9503)
    s.add_payment(CARD, 9498, "CHF")
    zero = cash(s)
    assert (zero.amount, s.rounding, s.due) == (0, -2, 9498)
    s.set_change_currency("EUR")
    s.post(1, NOW)
    assert (s.change, s.change_local) == (0, 0)


def test_chf_cash_tendered_for_a_rounded_away_rest_comes_back_in_euro() -> None:
    s = sale_of(10000, "CHF", local_currency="EUR", exchange_rate=Decimal("0.95"),
                cash_step=5, local_cash_step=5)  # fmt: skip
    s.add_payment(CARD, 9498, "CHF")
    cash(s, 100)
    s.set_change_currency("EUR")
    s.post(1, NOW)
    # 1.00 CHF = 1.0526 EUR, paid out as 1.05 EUR
    assert (s.change, s.change_local) == (100, 105)


def test_a_euro_sale_in_a_swiss_shop_takes_any_euro_cent() -> None:
    """Euro cash has no step here; the CHF change is rounded to 0.05 CHF."""
    s = Sale("s1", "REG-1", "1", "EUR", NOW, local_currency="CHF",
             exchange_rate=Decimal("0.95"), cash_step=1, local_cash_step=5)  # fmt: skip
    s.add_line(Item("A", "A", 1743, "CHF", VatCategory.NORMAL), Decimal(1), RATE)
    total = s.total
    s.add_payment(CASH, total + 3, "EUR", rounding_step=1)
    s.set_change_currency("CHF")
    s.post(1, NOW)
    assert s.change == 3 and s.change_local % 5 == 0


def test_a_zero_cash_payment_of_a_refund_cannot_be_edited_into_cash_taken() -> None:
    """The 0.00 cash that settled a refund's last rappen, edited to +5.00: money taken in
    a sale that gives money back (AddPayment refuses it)."""
    s = with_return(sale_of(1000), 2743)
    s.add_payment(CARD, -1741, "CHF")
    zero = cash(s)
    refused("INVALID_AMOUNT", s.update_payment, zero.payment_id, amount=500)
    assert (zero.amount, s.due, s.paid) == (0, -1741, -1741)
    s.post(1, NOW)
