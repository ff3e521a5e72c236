"""Rounding per payment method: any method the shop gives a step rounds to it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.shop import Shop
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SHOP = Shop("S1", "Laden", "CHF", payment_rounding=(("CHF", PaymentMethod.BENEFIT, 5),))


def chf_sale() -> Sale:
    s = Sale("s1", "REG-1", "1", "CHF", NOW)
    s.add_line(Item("A", "A", 1743, "CHF", VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    return s


def test_a_benefit_card_with_a_step_settles_the_rounded_amount() -> None:
    s = chf_sale()
    step = SHOP.rounding_step("CHF", PaymentMethod.BENEFIT)
    p = s.add_payment(PaymentMethod.BENEFIT, 0, "CHF", rounding_step=step)
    assert (p.rounding_step, p.amount, s.rounding, s.open_amount) == (5, 1745, 2, 0)
    s.post(1, NOW)
    assert s.due == 1745


def test_a_method_without_a_step_pays_exactly() -> None:
    s = chf_sale()
    step = SHOP.rounding_step("CHF", PaymentMethod.CARD)
    p = s.add_payment(PaymentMethod.CARD, 0, "CHF", rounding_step=step)
    assert (p.rounding_step, p.amount, s.rounding) == (1, 1743, 0)
