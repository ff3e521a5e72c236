"""Conversions at rates of up to 12 decimals (pricing.RATE_DECIMALS) are the exact
value rounded once, half away from zero: compared with exact rational arithmetic."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.domain.money import CURRENCY_EXPONENTS, MAX_MINOR
from posd_daemon.domain.pricing import convert_price, local_amount, parse_rate
from posd_daemon.domain.vat import PriceBasis

RATES = st.integers(1, 10**18 - 1).map(lambda n: Decimal(n).scaleb(-12))
CURRENCIES = st.sampled_from(sorted(CURRENCY_EXPONENTS))
PERCENTS = st.sampled_from([Decimal(0), Decimal(19), Decimal(7), Decimal("10.7"), Decimal(21)])


def half_up(value: Fraction) -> int:
    whole = int(abs(value) + Fraction(1, 2))
    return whole if value >= 0 else -whole


def shift(to: str, frm: str) -> Fraction:
    return Fraction(10) ** (CURRENCY_EXPONENTS[to] - CURRENCY_EXPONENTS[frm])


@given(st.integers(-MAX_MINOR, MAX_MINOR), RATES, PERCENTS, CURRENCIES, CURRENCIES, st.booleans())
def test_convert_price_is_the_exact_value_rounded_once(
    amount: int, rate: Decimal, pct: Decimal, frm: str, to: str, to_net: bool
) -> None:
    exact = Fraction(amount)
    exact = exact * 100 / (100 + Fraction(pct)) if to_net else exact
    if frm != to:
        exact = exact * Fraction(rate) * shift(to, frm)
    got = convert_price(
        amount,
        vat_rate=pct,
        from_basis=PriceBasis.GROSS,
        to_basis=PriceBasis.NET if to_net else PriceBasis.GROSS,
        from_currency=frm,
        to_currency=to,
        rate=rate,
    )
    assert got == half_up(exact)


@given(st.integers(-MAX_MINOR, MAX_MINOR), RATES, CURRENCIES, CURRENCIES)
def test_local_amount_is_the_exact_value_rounded_once(
    amount: int, rate: Decimal, cur: str, local: str
) -> None:
    exact = Fraction(amount) / Fraction(rate) * shift(local, cur) if cur != local else amount
    assert local_amount(amount, currency=cur, local_currency=local, rate=rate) == half_up(
        Fraction(exact)
    )


def test_the_inverse_of_a_banks_quote_books_the_quoted_amount() -> None:
    """24.315 CZK per EUR kept as EUR per CZK: 100.00 EUR are 2431.50 CZK, and the
    2431.50 CZK price is 100.00 EUR (at 6 decimals, 0.041127: 2431.49 CZK)."""
    rate = parse_rate("0.041126876414", "rate")
    assert local_amount(10000, currency="EUR", local_currency="CZK", rate=rate) == 243150
    assert (
        convert_price(
            243150,
            vat_rate=Decimal(21),
            from_basis=PriceBasis.GROSS,
            to_basis=PriceBasis.GROSS,
            from_currency="CZK",
            to_currency="EUR",
            rate=rate,
        )
        == 10000
    )
    assert local_amount(10000, currency="EUR", local_currency="CZK", rate=Decimal("0.041127")) == (
        243149
    )
