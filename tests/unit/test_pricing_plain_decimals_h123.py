"""Exchange rates and percentages are plain ASCII decimals, as quantities are (h123):
Decimal() alone also took "1_000", " 2", "+2", "2.", "1e2" and non-ASCII digits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.pricing import parse_percent, parse_rate

NOT_PLAIN = [
    "1_0",
    "\u0661\u0660",  # Arabic-Indic 10
    "\uff11\uff10",  # full-width 10
    " 10",
    "10 ",
    "\t10",
    "+10",
    "10.",
    ".5",
    "1e1",
    "1E1",
    "NaN",
    "Infinity",
    "-Infinity",
    "sNaN",
]


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_a_rate_that_is_not_a_plain_decimal_is_refused(text: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_rate(text, "rate")
    assert err.value.reason == "INVALID_EXCHANGE_RATE"
    assert "decimal number" in err.value.message or "greater than 0" in err.value.message


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_a_percent_that_is_not_a_plain_decimal_is_refused(text: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_percent(text, "percent")
    assert err.value.reason == "INVALID_PERCENT"


def test_a_negative_rate_or_percent_is_refused_as_out_of_range() -> None:
    with pytest.raises(DomainError) as err:
        parse_rate("-1", "rate")
    assert "greater than 0" in err.value.message
    with pytest.raises(DomainError) as err:
        parse_percent("-5", "percent")
    assert "between 0 and 100" in err.value.message


def test_plain_decimals_still_parse() -> None:
    assert parse_rate("0.9412", "rate") == Decimal("0.9412")
    assert parse_rate("24.315", "rate") == Decimal("24.315")
    assert parse_rate("1", "rate") == 1
    assert parse_percent("10", "percent") == 10
    assert parse_percent("12.5", "percent") == Decimal("12.5")
    assert parse_percent("", "percent", empty=Decimal(0)) == 0
