"""``[[instore_codes]]``: the layouts of in-store price/weight labels. A layout that
cannot be read as configured (a prefix outside 20-29, two layouts for one prefix, a
price check digit on a value it is not defined for) is refused at start, by its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from posd_daemon.domain.barcode import LabelKind, LabelLayout
from posd_daemon.ops.config import ConfigError, load


def problems(tmp_path: Path, layouts: list[dict[str, Any]]) -> str:
    with pytest.raises(ConfigError) as err:
        load(None, {"state": {"dir": str(tmp_path)}, "instore_codes": layouts})
    return str(err.value)


def test_layouts_load(tmp_path: Path) -> None:
    cfg = load(
        None,
        {
            "state": {"dir": str(tmp_path)},
            "instore_codes": [
                {"prefixes": ["21", "22"], "item_digits": 5, "kind": "price"},
                {
                    "prefixes": ["28"],
                    "item_digits": 4,
                    "kind": "weight",
                    "price_check_digit": True,
                },
            ],
        },
    )
    assert cfg.label_layouts() == (
        LabelLayout(("21", "22"), 5, LabelKind.PRICE),
        LabelLayout(("28",), 4, LabelKind.WEIGHT, price_check_digit=True),
    )


def test_none_by_default(tmp_path: Path) -> None:
    assert load(None, {"state": {"dir": str(tmp_path)}}).label_layouts() == ()


@pytest.mark.parametrize(
    ("layouts", "expected"),
    [
        ([{"prefixes": ["19"], "kind": "price"}], "instore_codes[0].prefixes: '19'"),
        ([{"prefixes": ["2"], "kind": "price"}], "instore_codes[0].prefixes: '2'"),
        ([{"prefixes": [], "kind": "price"}], "instore_codes[0].prefixes: give at least one"),
        ([{"prefixes": ["21"], "kind": "volume"}], "instore_codes[0].kind: price or weight"),
        ([{"kind": "price"}], "instore_codes[0].prefixes: is required"),
        (
            [{"prefixes": ["21"], "kind": "price", "item_digits": 6, "price_check_digit": True}],
            "instore_codes[0].item_digits: with a price check digit",
        ),
        ([{"prefixes": ["21"], "kind": "price", "item_digits": 9}], "instore_codes[0].item_digits"),
        (
            [{"prefixes": ["28"], "kind": "weight", "weight_decimals": 4}],
            "instore_codes[0].weight_decimals",
        ),
        (
            [{"prefixes": ["21"], "kind": "price"}, {"prefixes": ["22", "21"], "kind": "weight"}],
            "instore_codes[1].prefixes: '21' is also in instore_codes[0]",
        ),
        ([{"prefixes": ["21"], "kind": "price", "digits": 5}], "instore_codes[0].digits: unknown"),
    ],
)
def test_bad_layouts_are_refused(
    tmp_path: Path, layouts: list[dict[str, Any]], expected: str
) -> None:
    assert expected in problems(tmp_path, layouts)
