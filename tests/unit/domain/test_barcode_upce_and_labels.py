"""UPC-E codes (8 digits like an EAN-8) expand to their UPC-A; in-store labels (GS1
restricted circulation numbers 20-29) carry a price or a weight in a shop's layout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from posd_daemon.domain.barcode import (
    LabelKind,
    LabelLayout,
    gtin_valid,
    price_check_digit,
    read_label,
    upce_to_upca,
)
from posd_daemon.domain.errors import DomainError


@pytest.mark.parametrize(
    ("upce", "upca"),
    [
        # the four zero-suppression cases of the GS1 General Specifications (UPC-E)
        ("04252614", "042100005264"),  # d6 0-2: N d1 d2 d6 0000 d3 d4 d5
        ("01230004", "012000003004"),  # d6 0
        ("01234565", "012345000065"),  # d6 5-9: N d1..d5 0000 d6
    ],
)
def test_upce_expands_to_its_upca(upce: str, upca: str) -> None:
    assert upce_to_upca(upce) == upca
    assert gtin_valid(upca)


def test_upce_rules_for_3_and_4() -> None:
    # d6 3: N d1 d2 d3 00000 d4 d5; d6 4: N d1 d2 d3 d4 00000 d5 (check digit the UPC-A's)
    for data, body in (("123453", "1230000045"), ("123454", "1234000005")):
        upca = next("0" + body + str(c) for c in range(10) if gtin_valid("0" + body + str(c)))
        assert upce_to_upca("0" + data + upca[-1]) == upca


@pytest.mark.parametrize(
    "code",
    [
        "04252615",  # wrong check digit
        "24252614",  # number system 2 is no UPC-E
        "0425261",  # 7 digits
        "0425261x",
        "",
    ],
)
def test_no_upce(code: str) -> None:
    assert upce_to_upca(code) is None


def test_price_check_digit_examples_of_the_specification() -> None:
    # GS1 General Specifications 7.9: 4-digit field 2875 -> 9, 5-digit field 14685 -> 6
    assert price_check_digit("2875") == 9
    assert price_check_digit("14685") == 6
    with pytest.raises(ValueError):
        price_check_digit("123")


PRICE = LabelLayout(("21",), 5, LabelKind.PRICE)
PRICE_CHECKED = LabelLayout(("22",), 4, LabelKind.PRICE, price_check_digit=True)
WEIGHT = LabelLayout(("28", "29"), 5, LabelKind.WEIGHT)


def test_price_label() -> None:
    label = read_label("2112345012346", [WEIGHT, PRICE])
    assert label is not None
    assert (label.kind, label.value, label.item_code) == (LabelKind.PRICE, 1234, "2112345000008")
    assert gtin_valid(label.item_code)


def test_price_label_with_a_verifier_digit() -> None:
    label = read_label("2212346146856", [PRICE_CHECKED])
    assert label is not None
    assert (label.value, label.item_code) == (14685, "2212340000000")
    misprinted = read_label("2212345146857", [PRICE_CHECKED])  # verifier 5, not 6
    assert misprinted is not None and misprinted.item_code == "2212340000000"
    with pytest.raises(DomainError) as err:
        misprinted.checked()  # refused once the catalog knows the label's item
    assert err.value.reason == "INVALID_PRICE_CHECK_DIGIT"


def test_weight_label() -> None:
    label = read_label("2954321012342", [PRICE, WEIGHT])
    assert label is not None
    assert (label.kind, label.quantity, label.item_code) == (
        LabelKind.WEIGHT,
        Decimal("1.234"),
        "2954321000004",
    )


@pytest.mark.parametrize(
    "code",
    [
        "2312345012340",  # prefix of no layout
        "2112345012347",  # wrong EAN check digit: a misread, no label
        "211234501234",  # 12 digits
        "4006381333931",  # an ordinary GTIN
    ],
)
def test_not_a_label(code: str) -> None:
    assert read_label(code, [PRICE, PRICE_CHECKED, WEIGHT]) is None


def test_layout_problems() -> None:
    assert PRICE.problems("x") == [] and PRICE_CHECKED.problems("x") == []
    assert LabelLayout(("19",), 5, LabelKind.PRICE).problems("l")[0].startswith("l.prefixes")
    assert LabelLayout((), 5, LabelKind.PRICE).problems("l")
    assert LabelLayout(("21", "21"), 5, LabelKind.PRICE).problems("l")
    assert LabelLayout(("21",), 6, LabelKind.PRICE, price_check_digit=True).problems("l")
    assert LabelLayout(("21",), 8, LabelKind.PRICE).problems("l")
    assert LabelLayout(("21",), 5, LabelKind.WEIGHT, weight_decimals=4).problems("l")
