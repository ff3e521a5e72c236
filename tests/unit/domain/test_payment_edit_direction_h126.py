"""UpdatePayment keeps money going the sale's way after lines changed: a refund left in a
sale that now takes money is not edited (lowered) into a smaller refund, as a payment left
in a sale that now gives money back is not edited to take money in."""

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


def _sale_with_a_return(price: int, returned: int) -> Sale:
    s = Sale("s1", "REG-1", "1", "CHF", NOW)
    s.add_line(Item("A", "A", price, "CHF", VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    s.add_fixed_line(LineKind.RETURN, name="R", amount=-returned,
                     vat_category=VatCategory.NORMAL, vat_rate=Decimal("8.1"))  # fmt: skip
    return s


@pytest.mark.parametrize("amount", [-1, -150])
def test_a_refund_is_not_edited_once_the_sale_takes_money(amount: int) -> None:
    """2.00 of goods less a 5.00 return: 3.00 refunded to the card. The return line is
    taken off (the sale now takes 2.00); lowering the card refund to 0.01 or 1.50 was
    accepted, a refund in a sale where the customer owes money."""
    s = _sale_with_a_return(200, 500)
    card = s.add_payment(PaymentMethod.CARD, 0, "CHF")
    assert card.amount == -300
    s.remove_line(s.lines[-1].line_id)
    assert s.total == 200
    with pytest.raises(DomainError) as err:
        s.update_payment(card.payment_id, amount=amount)
    assert err.value.reason == "INVALID_AMOUNT"
    assert card.amount == -300  # nothing changed: the cashier removes the refund
    s.remove_payment(card.payment_id)
    s.add_payment(PaymentMethod.CARD, 0, "CHF")
    s.post(1, NOW)


def test_a_refund_is_not_edited_in_a_sale_with_nothing_to_pay() -> None:
    s = _sale_with_a_return(300, 500)
    card = s.add_payment(PaymentMethod.CARD, 0, "CHF")
    s.add_line(Item("B", "B", 200, "CHF", VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    assert s.total == 0
    with pytest.raises(DomainError) as err:
        s.update_payment(card.payment_id, amount=-100)
    assert err.value.reason == "INVALID_AMOUNT"
    assert card.amount == -200


def test_a_refund_may_still_be_lowered_while_the_sale_gives_money_back() -> None:
    s = _sale_with_a_return(200, 500)
    card = s.add_payment(PaymentMethod.CARD, 0, "CHF")
    s.update_payment(card.payment_id, amount=-100)
    assert (card.amount, s.open_amount) == (-100, -200)
