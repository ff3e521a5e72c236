from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.money import Money, format_minor, round_half_up
from posd_daemon.domain.vat import (
    VatCategory,
    VatRate,
    VatTable,
    tax_from_gross,
    totals_from_gross,
)

RATES = st.sampled_from(
    [Decimal(0), Decimal(5), Decimal(7), Decimal("7.8"), Decimal(16), Decimal(19), Decimal("10.7")]
)


def test_round_half_up_is_commercial_rounding() -> None:
    assert round_half_up(Decimal("2.5")) == 3
    assert round_half_up(Decimal("-2.5")) == -3
    assert round_half_up(Decimal("2.4999")) == 2
    assert round_half_up(Decimal("0.5")) == 1


def test_format_minor() -> None:
    assert format_minor(1234, "EUR") == "12.34"
    assert format_minor(-5, "EUR") == "-0.05"
    assert format_minor(1234, "EUR", sep=",") == "12,34"
    assert format_minor(1234, "JPY") == "1234"


def test_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(DomainError) as err:
        Money(1, "EUR") + Money(1, "CHF")
    assert err.value.reason == "CURRENCY_MISMATCH"


@given(st.integers(-(10**9), 10**9), st.integers(-(10**9), 10**9))
def test_money_addition_is_exact(a: int, b: int) -> None:
    assert (Money(a, "EUR") + Money(b, "EUR")).minor == a + b
    assert (Money(a, "EUR") - Money(b, "EUR") + Money(b, "EUR")).minor == a


@given(st.integers(0, 10**10), RATES)
def test_tax_from_gross_net_plus_tax_is_gross(gross: int, rate: Decimal) -> None:
    tax = tax_from_gross(gross, rate)
    net = gross - tax
    # the tax is the rounded exact share, so net * rate is within half a cent of tax
    exact = Decimal(gross) * rate / (100 + rate)
    assert abs(Decimal(tax) - exact) <= Decimal("0.5")
    assert net + tax == gross


def test_pinned_vat_cents() -> None:
    # 19 %: 100.00 gross -> 15.97 tax (100 * 19/119 = 15.966…)
    assert tax_from_gross(10000, Decimal(19)) == 1597
    # 7 %: 3.49 gross -> 0.23 tax (0.2283…)
    assert tax_from_gross(349, Decimal(7)) == 23
    # half-cent case at 19 %: 0.25 gross -> 0.0399 -> 0.04
    assert tax_from_gross(25, Decimal(19)) == 4


@given(
    st.lists(
        st.tuples(
            st.sampled_from([VatCategory.NORMAL, VatCategory.REDUCED]), st.integers(0, 10**6)
        ),
        max_size=40,
    )
)
def test_totals_group_by_rate_and_sum_to_gross(parts: list[tuple[VatCategory, int]]) -> None:
    rate = {VatCategory.NORMAL: Decimal(19), VatCategory.REDUCED: Decimal(7)}
    totals = totals_from_gross((c, rate[c], g) for c, g in parts)
    assert sum(t.gross for t in totals) == sum(g for _, g in parts)
    assert all(t.net + t.tax == t.gross for t in totals)
    assert len({(t.category, t.percent) for t in totals}) == len(totals)


def test_vat_table_uses_validity_dates() -> None:
    table = VatTable(
        [
            VatRate(VatCategory.NORMAL, Decimal(19), date(2007, 1, 1), date(2020, 6, 30)),
            VatRate(VatCategory.NORMAL, Decimal(16), date(2020, 7, 1), date(2020, 12, 31)),
            VatRate(VatCategory.NORMAL, Decimal(19), date(2021, 1, 1)),
        ]
    )
    assert table.rate(VatCategory.NORMAL, date(2020, 6, 30)) == 19
    assert table.rate(VatCategory.NORMAL, date(2020, 7, 1)) == 16
    assert table.rate(VatCategory.NORMAL, date(2026, 11, 22)) == 19
    with pytest.raises(DomainError) as err:
        table.rate(VatCategory.REDUCED, date(2026, 1, 1))
    assert err.value.reason == "VAT_RATE_NOT_CONFIGURED"


def test_overlapping_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        VatTable(
            [
                VatRate(VatCategory.NORMAL, Decimal(19), date(2007, 1, 1)),
                VatRate(VatCategory.NORMAL, Decimal(16), date(2020, 7, 1)),
            ]
        )
