"""Edge cases of ``[[instore_codes]]`` a shop's configuration may hold: each refused at
start with the key at fault, so that no label is ever read with digits the shop did not
mean (a price read from the item number, a weight with a wrong decimal point)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from posd_daemon.ops.config import ConfigError, load


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ({"prefixes": [21], "kind": "price"}, "instore_codes[0].prefixes[0]: must be a string"),
        ({"prefixes": "21", "kind": "price"}, "instore_codes[0].prefixes: must be a list"),
        ({"prefixes": [], "kind": "price"}, "instore_codes[0].prefixes: give at least one"),
        ({"prefixes": ["02"], "kind": "price"}, "'02' is no restricted circulation prefix"),
        ({"prefixes": ["2"], "kind": "price"}, "'2' is no restricted circulation prefix"),
        ({"prefixes": ["21", "21"], "kind": "price"}, "a prefix is listed twice"),
        ({"prefixes": ["21"]}, "instore_codes[0].kind: is required"),
        ({"prefixes": ["21"], "kind": "Price"}, "price or weight, got 'Price'"),
        ({"prefixes": ["21"], "kind": "price", "item_digits": True}, "must be a whole number"),
        ({"prefixes": ["21"], "kind": "price", "item_digits": "5"}, "must be a whole number"),
        ({"prefixes": ["21"], "kind": "price", "item_digits": 3}, "between 4 and 7"),
        ({"prefixes": ["21"], "kind": "price", "item_digits": 8}, "between 4 and 7"),
        ({"prefixes": ["21"], "kind": "price", "item_digits": -1}, "between 4 and 7"),
        (
            {"prefixes": ["21"], "kind": "price", "item_digits": 3, "price_check_digit": True},
            "with a price check digit the value has 4 or 5",
        ),
        (
            {"prefixes": ["21"], "kind": "price", "price_check_digit": "yes"},
            "must be true or false",
        ),
        ({"prefixes": ["21"], "kind": "weight", "weight_decimals": 4}, "between 0 and 3"),
        ({"prefixes": ["21"], "kind": "weight", "weight_decimals": -1}, "between 0 and 3"),
        ({"prefixes": ["21"], "kind": "weight", "weight_decimals": 2.5}, "must be a whole"),
        ({"prefixes": ["21"], "kind": "price", "decimals": 2}, "decimals: unknown key"),
    ],
)
def test_a_bad_layout_is_refused_by_its_key(
    tmp_path: Path, layout: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, {"state": {"dir": str(tmp_path)}, "instore_codes": [layout]})
    assert problem in str(err.value)


def test_a_prefix_in_two_layouts_is_refused(tmp_path: Path) -> None:
    layouts = [
        {"prefixes": ["21", "22"], "kind": "price"},
        {"prefixes": ["22"], "kind": "weight"},
    ]
    with pytest.raises(ConfigError) as err:
        load(None, {"state": {"dir": str(tmp_path)}, "instore_codes": layouts})
    assert "instore_codes[1].prefixes: '22' is also in instore_codes[0]" in str(err.value)
