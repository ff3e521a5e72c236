"""Price/weight verifier digits worked by hand from the GS1 weighting tables, every UPC-E
zero-suppression rule in both number systems, and UPC-E codes in the catalog's master
data (registered as the 8 digits a supplier lists, found from the UPC-A a scanner sends)."""

from __future__ import annotations

import pytest

from posd_daemon.domain.barcode import (
    LabelKind,
    LabelLayout,
    check_barcode,
    gtin_forms,
    gtin_key,
    price_check_digit,
    upca_to_upce,
    upce_to_upca,
)
from posd_daemon.domain.errors import DomainError


# GS1 General Specifications 7.9.2-7.9.4 (price/weight verifier digit). Weighted values
# of the digits 0-9, worked from the definitions: 2- (2x, tens subtracted from units),
# 3 (units of 3x), 5+ (5x, tens added to units), 5- (5x, tens subtracted from units):
#   2-: 0 2 4 6 8 9 1 3 5 7    3: 0 3 6 9 2 5 8 1 4 7
#   5+: 0 5 1 6 2 7 3 8 4 9    5-: 0 5 9 4 8 3 7 2 6 1
@pytest.mark.parametrize(
    ("value", "check"),
    [
        # 4 digits weighted 2- 2- 3 5-, sum x 3, units digit
        ("2875", 9),  # the specification's example: 4+5+1+3 = 13, 39 -> 9
        ("0000", 0),
        ("1234", 9),  # 2+4+9+8 = 23, 69 -> 9
        ("9999", 6),  # 7+7+7+1 = 22, 66 -> 6
        ("0599", 1),  # 0+9+7+1 = 17, 51 -> 1
        ("5000", 7),  # 9+0+0+0 = 9, 27 -> 7
        # 5 digits weighted 5+ 2- 5- 5+ 2-, subtracted from the next multiple of ten,
        # the digit whose 5- weight is the result
        ("14685", 6),  # the specification's example: 5+8+7+4+9 = 33, 40-33 = 7 = 5-(6)
        ("00000", 0),  # 0: 10-0 -> 0 = 5-(0)
        ("01234", 1),  # 0+2+9+6+8 = 25, 5 = 5-(1)
        ("99999", 6),  # 9+7+1+9+7 = 33, 7 = 5-(6)
        ("00500", 6),  # 0+0+3+0+0 = 3, 7 = 5-(6)
        ("10000", 1),  # 5+0+0+0+0 = 5, 10-5 = 5 = 5-(1)
    ],
)
def test_price_verifier_worked_by_hand(value: str, check: int) -> None:
    assert price_check_digit(value) == check


def test_a_label_with_a_4_digit_price_and_verifier() -> None:
    # 2 + 5 item digits + verifier + 4 price digits + EAN check digit
    layout = LabelLayout(("24",), 5, LabelKind.PRICE, price_check_digit=True)
    assert layout.value_digits == 4
    body = "2412345" + "9" + "2875"  # 28.75 with its verifier 9
    code = body + str(_ean_check(body))
    label = layout.read(code)
    assert label is not None
    # the item code zeroes the verifier with the price: 241234500000 and its check digit
    assert (label.value, label.item_code) == (2875, "2412345000009")
    bad = "2412345" + "8" + "2875"
    misprinted = layout.read(bad + str(_ean_check(bad)))
    assert misprinted is not None
    with pytest.raises(DomainError) as err:
        misprinted.checked()
    assert err.value.reason == "INVALID_PRICE_CHECK_DIGIT"


def _ean_check(body12: str) -> int:
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body12))
    return (10 - total % 10) % 10


# GS1 General Specifications, UPC-E zero-suppression (X1..X6 the six data digits):
#   X6 0-2: manufacturer X1 X2 X6 0 0, item 0 0 X3 X4 X5
#   X6 3:   manufacturer X1 X2 X3 0 0, item 0 0 0 X4 X5
#   X6 4:   manufacturer X1 X2 X3 X4 0, item 0 0 0 0 X5
#   X6 5-9: manufacturer X1 X2 X3 X4 X5, item 0 0 0 0 X6
@pytest.mark.parametrize(
    ("upce", "upca"),
    [
        ("04252614", "042100005264"),  # X6 1
        ("01230004", "012000003004"),  # X6 0
        ("01234523", "012200003453"),  # X6 2: 0 12 2 00 00 345, check 3
        ("06543236", "065400000326"),  # X6 3: 0 654 00 000 32, check 6
        ("07654349", "076540000039"),  # X6 4: 0 7654 0 0000 3, check 9
        ("01234565", "012345000065"),  # X6 5
        ("03456798", "034567000098"),  # X6 9: 0 34567 0000 9, check 8
        ("11234523", None),  # number system 1, same data: its check digit is 0
        ("11234520", "112200003450"),  # X6 2 in number system 1
        ("16543233", "165400000323"),  # X6 3 in number system 1
        ("17654346", "176540000036"),  # X6 4 in number system 1
        ("13456795", "134567000095"),  # X6 9 in number system 1
    ],
)
def test_every_zero_suppression_rule(upce: str, upca: str | None) -> None:
    assert upce_to_upca(upce) == upca
    if upca is not None:
        assert upca_to_upce(upca) == upce
        assert upca_to_upce("0" + upca) == upce  # a scanner set to EAN-13


@pytest.mark.parametrize(
    "upca",
    [
        "036000291452",  # manufacturer 36000 ends in 0 but the item 29145 is too long
        "012345678905",  # no zeros to suppress
        "212345000069",  # number system 2: no UPC-E
    ],
)
def test_upca_without_a_upce(upca: str) -> None:
    assert upca_to_upce(upca) is None


def test_a_supplier_s_upce_can_be_registered() -> None:
    # 04252614 has no valid EAN-8 check digit, but is the UPC-E of 042100005264: a
    # supplier's master data lists it as printed under the bars
    assert check_barcode("04252614", "item.barcodes[0]") == "04252614"
    # an 8-digit code that is neither is still refused
    with pytest.raises(DomainError) as err:
        check_barcode("04252615", "item.barcodes[0]")
    assert err.value.reason == "INVALID_CHECK_DIGIT"
    # its UPC-A forms name the same article (a duplicate on one item)
    assert gtin_key("04252614") == gtin_key("042100005264") == gtin_key("0042100005264")
    # an EAN-8 is an EAN-8 even when its digits are also a valid UPC-E
    assert gtin_key("01234565") == "01234565"
    assert "04252614" not in gtin_forms("01234565")
