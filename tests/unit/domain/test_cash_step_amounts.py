"""Cash in a currency with a cash step (CHF: 0.05) is tendered in that step, and a total
that the step rounds to nothing is still settled in cash."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CASH, CARD = PaymentMethod.CASH, PaymentMethod.CARD


def sale_of(price: int, currency: str = "CHF") -> Sale:
    s = Sale("s1", "REG-1", "1", currency, NOW)
    s.add_line(Item("A", "A", price, currency, VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    return s


# -- 1. a cash amount off the step cannot be handed over -----------------------------------


def test_a_cash_amount_off_the_step_is_refused_and_changes_nothing() -> None:
    s = sale_of(1743)
    with pytest.raises(DomainError) as err:
        s.add_payment(CASH, 1003, "CHF", rounding_step=5)
    assert err.value.reason == "AMOUNT_NOT_IN_STEP"
    assert [v.field for v in err.value.violations] == ["amount.amount_minor"]
    assert err.value.metadata["step_minor"] == "5"
    assert "0.05 CHF" in err.value.message and "10.03" in err.value.message
    assert (s.payments, s.next_payment_no, s.rounding, s.due) == ([], 1, 0, 1743)


def test_a_cash_refund_off_the_step_is_refused() -> None:
    s = sale_of(1000)
    s.add_fixed_line(LineKind.RETURN, name="R", amount=-2743,
                     vat_category=VatCategory.NORMAL, vat_rate=Decimal("8.1"))  # fmt: skip
    with pytest.raises(DomainError) as err:
        s.add_payment(CASH, -1003, "CHF", rounding_step=5)
    assert err.value.reason == "AMOUNT_NOT_IN_STEP"
    assert s.payments == []
    refund = s.add_payment(CASH, 0, "CHF", rounding_step=5)  # the open amount: -17.45
    assert (refund.amount, s.rounding, s.due) == (-1745, -2, -1745)
    s.post(1, NOW)


def test_an_edit_of_cash_off_the_step_is_refused_and_changes_nothing() -> None:
    s = sale_of(1743)
    cash = s.add_payment(CASH, 2000, "CHF", rounding_step=5)
    with pytest.raises(DomainError) as err:
        s.update_payment(cash.payment_id, amount=1998)
    assert err.value.reason == "AMOUNT_NOT_IN_STEP"
    assert (cash.amount, s.change) == (2000, 255)
    s.update_payment(cash.payment_id, amount=1750)
    assert (s.rounding, s.due, s.change) == (2, 1745, 5)


def test_valid_cash_amounts_give_the_right_change() -> None:
    """17.43 CHF is 17.45 in cash: 20.00 tendered gives 2.55 back, booked as 17.45."""
    s = sale_of(1743)
    s.add_payment(CASH, 2000, "CHF", rounding_step=5)
    assert (s.rounding, s.due, s.change, s.open_amount) == (2, 1745, 255, 0)
    s.post(1, NOW)
    assert [k for _, k in s.kept_amounts()] == [1745]


def test_cash_without_a_step_takes_any_amount() -> None:
    s = sale_of(1743, "EUR")
    s.add_payment(CASH, 1003, "EUR")
    s.add_payment(CASH, 1000, "EUR")
    assert (s.rounding, s.due, s.change) == (0, 1743, 260)
    s.post(1, NOW)


def test_a_card_in_a_cash_rounded_currency_pays_exact_cents() -> None:
    s = sale_of(1743)
    s.add_payment(CARD, 1003, "CHF")
    cash = s.add_payment(CASH, 0, "CHF", rounding_step=5)
    assert (cash.amount, s.rounding, s.due) == (740, 0, 1743)


# -- 2. a total the cash step rounds to nothing ---------------------------------------------


@pytest.mark.parametrize("price", [1, 2])
def test_a_total_that_rounds_to_zero_is_settled_in_cash(price: int) -> None:
    """0.01 or 0.02 CHF rounds to 0.00 in cash: a cash payment of nothing settles it, the
    whole total a rounding difference (as 17.43 paid as 17.45 books +0.02)."""
    s = sale_of(price)
    cash = s.add_payment(CASH, 0, "CHF", rounding_step=5)
    assert (cash.amount, s.rounding, s.due, s.open_amount, s.change) == (0, -price, 0, 0, 0)
    s.post(1, NOW)
    assert [k for _, k in s.kept_amounts()] == [0]


def test_a_tiny_rest_after_a_card_is_settled_in_cash() -> None:
    """17.43 CHF, 17.42 by card: the 0.01 left rounds to 0.00 in cash."""
    s = sale_of(1743)
    s.add_payment(CARD, 1742, "CHF")
    s.add_payment(CASH, 0, "CHF", rounding_step=5)
    assert (s.rounding, s.due, s.paid) == (-1, 1742, 1742)
    s.post(1, NOW)


def test_a_paid_sale_still_has_nothing_left_to_pay_in_cash() -> None:
    s = sale_of(1745)
    s.add_payment(CASH, 0, "CHF", rounding_step=5)
    with pytest.raises(DomainError) as err:
        s.add_payment(CASH, 0, "CHF", rounding_step=5)
    assert err.value.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    assert len(s.payments) == 1


def test_a_refund_that_rounds_to_zero_is_settled_in_cash() -> None:
    """An exchange that gives back 0.02 CHF: nothing in cash, the 0.02 a rounding."""
    s = sale_of(1000)
    s.add_fixed_line(LineKind.RETURN, name="R", amount=-1002,
                     vat_category=VatCategory.NORMAL, vat_rate=Decimal("8.1"))  # fmt: skip
    refund = s.add_payment(CASH, 0, "CHF", rounding_step=5)
    assert (refund.amount, s.rounding, s.due, s.open_amount) == (0, 2, 0, 0)
    s.post(1, NOW)
