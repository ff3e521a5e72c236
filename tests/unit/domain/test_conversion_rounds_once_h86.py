"""Price conversions (VAT basis, currency) are rounded once, half up, on the exact value.

A division computed before a multiplication (gross to net, then times the rate; or an
amount divided by the old rate, then times the new one) rounds its endless quotient at
the context's precision first: a value that is exactly half a minor unit then lands a
hair below the half and was rounded down (123.25 EUR gross at 19 % is 93.235 CHF net at
0.9002: it gave 93.23, not 93.24).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.domain.pricing import convert_price
from posd_daemon.domain.sale import Terms, convert_between_terms
from posd_daemon.domain.vat import PriceBasis


def _half_up(value: Fraction) -> int:
    sign = -1 if value < 0 else 1
    return sign * int(abs(value) + Fraction(1, 2))


def test_gross_list_price_in_a_net_foreign_sale_rounds_the_exact_half_up() -> None:
    # 12325 * 100 / 119 * 0.9002 = 9323.5 exactly
    got = convert_price(
        12325,
        vat_rate=Decimal(19),
        from_basis=PriceBasis.GROSS,
        to_basis=PriceBasis.NET,
        from_currency="EUR",
        to_currency="CHF",
        rate=Decimal("0.9002"),
    )
    assert got == 9324


def test_overridden_price_from_one_foreign_currency_to_another_rounds_the_half_up() -> None:
    # 96.67 CHF at 0.8792 CHF per EUR is worth 0.5652 USD per EUR * 9667 / 0.8792 =
    # 6214.5 US cents exactly
    old = Terms("CHF", "EUR", Decimal("0.8792"))
    new = Terms("USD", "EUR", Decimal("0.5652"))
    assert convert_between_terms(9667, Decimal(19), old, new) == 6215


_RATES = st.integers(1, 10**9).map(lambda n: Decimal(n).scaleb(-6))
_PERCENTS = st.sampled_from([Decimal(0), Decimal(7), Decimal(19), Decimal("10.7"), Decimal("8.1")])


@given(
    amount=st.integers(-(10**9), 10**9),
    percent=_PERCENTS,
    rate=_RATES,
    to_net=st.booleans(),
)
def test_convert_price_is_the_exact_value_rounded_once(
    amount: int, percent: Decimal, rate: Decimal, to_net: bool
) -> None:
    exact = Fraction(amount) * Fraction(rate)
    if to_net:
        exact = exact * 100 / (100 + Fraction(percent))
    else:
        exact = exact * (100 + Fraction(percent)) / 100
    got = convert_price(
        amount,
        vat_rate=percent,
        from_basis=PriceBasis.GROSS if to_net else PriceBasis.NET,
        to_basis=PriceBasis.NET if to_net else PriceBasis.GROSS,
        from_currency="EUR",
        to_currency="USD",
        rate=rate,
    )
    assert got == _half_up(exact)


@given(
    amount=st.integers(-(10**9), 10**9),
    percent=_PERCENTS,
    old_rate=_RATES,
    new_rate=_RATES,
    to_net=st.booleans(),
)
def test_convert_between_terms_is_the_exact_value_rounded_once(
    amount: int, percent: Decimal, old_rate: Decimal, new_rate: Decimal, to_net: bool
) -> None:
    old_basis, new_basis = (
        (PriceBasis.GROSS, PriceBasis.NET) if to_net else (PriceBasis.NET, PriceBasis.GROSS)
    )
    old = Terms("CHF", "EUR", old_rate, direction=old_basis)
    new = Terms("JPY", "EUR", new_rate, direction=new_basis)
    exact = Fraction(amount) * Fraction(new_rate) / Fraction(old_rate) / 100  # JPY: no cents
    if to_net:
        exact = exact * 100 / (100 + Fraction(percent))
    else:
        exact = exact * (100 + Fraction(percent)) / 100
    assert convert_between_terms(amount, percent, old, new) == _half_up(exact)
