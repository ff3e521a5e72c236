"""A negative quantity from a client is refused as what it is: not more than zero (it
read "'-1' is not a decimal number", which sends a UI developer looking at the format)."""

from __future__ import annotations

import pytest

from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.sale import parse_quantity


@pytest.mark.parametrize("text", ["-1", "-0.5", "0", "0.000"])
def test_a_quantity_of_zero_or_less_must_be_greater_than_zero(text: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_quantity(text, fractional=True)
    assert err.value.reason == "INVALID_QUANTITY"
    assert "must be greater than zero" in str(err.value)


@pytest.mark.parametrize("text", ["-", "--1", "-1e2", "- 1", "1-"])
def test_a_malformed_quantity_is_no_decimal_number(text: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_quantity(text, fractional=True)
    assert "is not a decimal number" in str(err.value)
