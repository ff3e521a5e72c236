"""Rounding per payment method with more than one rounded method in a currency.

``Sale.rounding`` rounds the part of the total the rounded payments settle to the
largest step among them. That is right while every rounded method of a currency has the
same step (CHF cash and a benefit card both in 0.05), and wrong as soon as two steps
differ: with CHF cash in 0.05 and a benefit card in 0.10, a sale of 27.05 paid exactly in
cash still took a benefit payment of 0.05 (its due went up to 27.10 for nothing); with
SEK cash in whole kronor and a benefit card in 0.05, cash took 0.15 from a sale the card
had settled, and cash was asked for amounts no coins make (1.65 in 0.10 steps). So a shop
may give a currency one rounding step only: the configuration with two is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.shop import Shop
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CASH, BENEFIT, GATEWAY, CARD = (
    PaymentMethod.CASH,
    PaymentMethod.BENEFIT,
    PaymentMethod.GATEWAY,
    PaymentMethod.CARD,
)


def refused(shop: Shop) -> DomainError:
    with pytest.raises(DomainError) as err:
        shop.validated()
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert "payment_rounding" in str(err.value) or "cash_rounding" in str(err.value)
    return err.value


def test_a_benefit_step_other_than_the_cash_step_of_the_currency_is_refused() -> None:
    refused(
        Shop(
            "S1",
            "Laden",
            "CHF",
            cash_rounding=(("CHF", 5),),
            payment_rounding=(("CHF", BENEFIT, 10),),
        )
    )
    refused(
        Shop(
            "S1",
            "Butik",
            "SEK",
            cash_rounding=(("SEK", 100),),
            payment_rounding=(("SEK", BENEFIT, 5),),
        )
    )


def test_two_non_cash_methods_with_different_steps_in_one_currency_are_refused() -> None:
    # EUR cash exact, but a benefit card in 0.05 and a gateway in 0.10: the same mix
    refused(
        Shop(
            "S1",
            "Laden",
            "EUR",
            payment_rounding=(("EUR", BENEFIT, 5), ("EUR", GATEWAY, 10)),
        )
    )


def test_a_second_step_for_the_same_currency_or_method_is_refused() -> None:
    # only the first entry was ever used: the second was ignored without a word
    refused(Shop("S1", "Laden", "CHF", cash_rounding=(("CHF", 5), ("CHF", 10))))
    refused(
        Shop(
            "S1",
            "Laden",
            "CHF",
            payment_rounding=(("CHF", BENEFIT, 5), ("CHF", BENEFIT, 10)),
        )
    )


def test_one_step_per_currency_is_accepted() -> None:
    shop = Shop(
        "S1",
        "Laden",
        "CHF",
        cash_rounding=(("CHF", 5), ("SEK", 100)),
        payment_rounding=(
            ("CHF", BENEFIT, 5),  # the cash's step
            ("CHF", CARD, 1),  # exact: no step at all
            ("SEK", GATEWAY, 100),
            ("EUR", BENEFIT, 5),  # another currency has its own step
        ),
    ).validated()
    assert shop.rounding_step("CHF", BENEFIT) == 5
    assert shop.rounding_step("SEK", GATEWAY) == 100


def test_a_benefit_card_with_the_cash_step_never_takes_money_from_a_settled_sale() -> None:
    """The configuration kept: a sale paid in cash takes no more on the card, and the cash
    after a card payment is in the cash step."""
    shop = Shop(
        "S1",
        "Laden",
        "CHF",
        cash_rounding=(("CHF", 5),),
        payment_rounding=(("CHF", BENEFIT, 5),),
    ).validated()
    s = Sale("s1", "REG-1", "1", "CHF", NOW)
    s.add_line(Item("A", "A", 2705, "CHF", VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    s.add_payment(CASH, 0, "CHF", rounding_step=shop.rounding_step("CHF", CASH))
    with pytest.raises(DomainError) as err:
        s.add_payment(BENEFIT, 0, "CHF", rounding_step=shop.rounding_step("CHF", BENEFIT))
    assert err.value.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    assert ([p.amount for p in s.payments], s.due, s.rounding) == ([2705], 2705, 0)

    s = Sale("s2", "REG-1", "1", "CHF", NOW)
    s.add_line(Item("A", "A", 1743, "CHF", VatCategory.NORMAL), Decimal(1), Decimal("8.1"))
    s.add_payment(BENEFIT, 1000, "CHF", rounding_step=shop.rounding_step("CHF", BENEFIT))
    cash = s.add_payment(CASH, 0, "CHF", rounding_step=shop.rounding_step("CHF", CASH))
    assert (cash.amount, s.rounding, s.due, s.open_amount) == (745, 2, 1745, 0)
    s.check_postable()
