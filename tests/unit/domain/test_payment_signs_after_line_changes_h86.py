"""A posted sale moves money one way: a sale that takes money has no refund among its
payments, and one that gives money back takes none in.

AddPayment checks the sign against the open amount when the payment is added, but lines
changed afterwards can turn a refund sale into one that takes money (and back), and the
payments left from before were posted as they were: a sale of 7.70 posted with a card
refund of 2.34 and a benefit payment of 10.04 (the customer's card credited while another
method paid more than the goods), or a refund of -11.81 posted as 3.00 cash taken in and
14.81 credited to a benefit card (cash turned into card money beyond the return).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _item(item_id: str, price: int) -> Item:
    return Item(item_id, item_id, price, "EUR", VatCategory.NORMAL)


def test_a_refund_left_from_before_the_sale_took_money_is_not_posted() -> None:
    s = Sale("s1", "REG-1", "1", "EUR", NOW)
    s.add_line(_item("A", 1941), Decimal(1), Decimal(19))
    back = s.add_line(_item("B", 2175), Decimal(-1), Decimal(19))
    card = s.add_payment(PaymentMethod.CARD, 0, "EUR")
    assert card.amount == -234  # the exchange gives 2.34 back: refunded on the card
    s.remove_line(back.line_id)  # the customer keeps B after all
    benefit = s.add_payment(PaymentMethod.BENEFIT, 0, "EUR")
    assert (s.total, benefit.amount) == (1941, 2175)
    with pytest.raises(DomainError) as err:
        s.check_postable()
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert err.value.reason == "REFUND_EXCEEDS_OPEN_AMOUNT"
    s.remove_payment(card.payment_id)
    s.update_payment(benefit.payment_id, amount=1941)
    s.check_postable()


def test_money_taken_in_before_the_sale_gave_money_back_is_not_posted() -> None:
    s = Sale("s1", "REG-1", "1", "EUR", NOW)
    s.add_line(_item("A", 300), Decimal(1), Decimal(19))
    cash = s.add_payment(PaymentMethod.CASH, 0, "EUR")
    s.add_line(_item("B", 1481), Decimal(-1), Decimal(19))
    refund = s.add_payment(PaymentMethod.BENEFIT, 0, "EUR")
    assert (s.total, cash.amount, refund.amount) == (-1181, 300, -1481)
    with pytest.raises(DomainError) as err:
        s.check_postable()
    assert err.value.kind is ErrorKind.FAILED_PRECONDITION
    assert err.value.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    s.remove_payment(cash.payment_id)
    s.update_payment(refund.payment_id, amount=-1181)
    s.check_postable()


def test_a_card_left_above_the_total_is_not_covered_by_a_cash_rounding() -> None:
    """Goods taken off after a card and cash paid (CHF, cash in 0.05): the card's 16.09
    for goods of 16.08 was posted, the cent booked as a cash rounding of a cash payment
    that is all change. A card never pays more than the goods."""
    s = Sale("s1", "REG-1", "1", "CHF", NOW)
    s.cash_step = 5
    s.add_line(Item("A", "A", 1608, "CHF", VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    b = s.add_line(Item("B", "B", 2759, "CHF", VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    card = s.add_payment(PaymentMethod.CARD, 1609, "CHF")
    cash = s.add_payment(PaymentMethod.CASH, 0, "CHF", rounding_step=5)
    assert cash.amount == 2760
    s.remove_line(b.line_id)
    assert (s.total, s.rounding) == (1608, 1)
    with pytest.raises(DomainError) as err:
        s.check_postable()
    assert err.value.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    s.remove_payment(cash.payment_id)  # cash tendered counts as paid: taken back first
    s.update_payment(card.payment_id, amount=1608)
    s.check_postable()
    assert (s.rounding, s.change, s.paid) == (0, 0, 1608)
