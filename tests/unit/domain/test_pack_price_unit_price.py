"""The unit price of a weighed pack whose label prints its price: times the weight, as a
line rounds it, the printed price exactly whenever a price in cents can make it, and
never more than printed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from posd_daemon.domain.money import round_half_up
from posd_daemon.domain.sale import unit_price_for_amount


@pytest.mark.parametrize(
    ("amount", "weight", "price"),
    [
        (1234, "0.62", 1990),  # 19.90/kg x 0.620 kg = 12.338
        (1000, "0.503", 1988),  # 19.88 x 0.503 = 9.99964; 19.90 would make 10.01
        (5002, "2.514", 1989),  # nothing makes 50.02: 19.89 makes 50.00, 19.90 50.03
        (0, "0.5", 0),
        (1, "0.001", 1000),
    ],
)
def test_known_packs(amount: int, weight: str, price: int) -> None:
    assert unit_price_for_amount(amount, Decimal(weight)) == price


def test_below_a_unit_always_the_printed_price_above_never_more() -> None:
    for grams in range(1, 5000, 7):
        weight = Decimal(grams).scaleb(-3)
        for amount in (1, 99, 1234, 5002, 99999):
            price = unit_price_for_amount(amount, weight)
            made = round_half_up(price * weight)
            assert made <= amount
            if weight <= 1:
                assert made == amount
            else:
                # the highest such price: a cent more is above the printed price
                assert round_half_up((price + 1) * weight) > amount
