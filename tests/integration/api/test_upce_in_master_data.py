"""UPC-E codes in a supplier's master data: registered as the 8 digits printed under the
bars (their check digit is the UPC-A's, not an EAN-8's), and found whichever form the
scanner sends (the 8 digits, or the UPC-A when it is set to expand UPC-E, with or
without the leading 0 of an EAN-13). An EAN-8 stays an EAN-8."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from tests.support.fullsale import import_items, item

UPCE = "04252614"  # UPC-E of the UPC-A 042100005264 (GS1 zero suppression, X6 = 1)


def test_a_upce_of_the_master_data_is_found_in_every_form(pos: PosdClient) -> None:
    pos.upsert_item("U-1", "Kaugummi", 99, barcodes=(UPCE,))
    sid = pos.create_sale().sale_id
    for code in (UPCE, "042100005264", "0042100005264"):
        line = pos.scan(sid, code).sale.lines[-1]
        assert (line.item_id, line.scanned_code) == ("U-1", code)
    assert pos.add_line(sid, code="042100005264").sale.lines[-1].item_id == "U-1"


def test_a_upce_and_its_upca_on_one_item_are_one_barcode(pos: PosdClient) -> None:
    with pytest.raises(PosdError) as err:
        pos.upsert_item("U-1", "Kaugummi", 99, barcodes=(UPCE, "042100005264"))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "duplicate barcode" in err.value.message


def test_a_misprinted_8_digit_code_is_still_refused(pos: PosdClient) -> None:
    with pytest.raises(PosdError) as err:
        pos.upsert_item("U-1", "Kaugummi", 99, barcodes=("04252615",))
    assert err.value.reason == "INVALID_CHECK_DIGIT"


def test_an_ean8_is_not_found_by_the_upca_its_digits_stand_for(pos: PosdClient) -> None:
    # 01234565 is a valid EAN-8 (and its digits a valid UPC-E of 012345000065): as master
    # data it is the EAN-8, another article than the UPC-A
    import_items(pos, item("E-1", "Bonbons", 149, barcodes=["01234565"]))
    sid = pos.create_sale().sale_id
    assert pos.scan(sid, "01234565").sale.lines[-1].item_id == "E-1"
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "012345000065")
    assert err.value.reason == "UNKNOWN_CODE"


def test_a_upce_and_its_upca_on_two_items_are_one_ambiguous_code(pos: PosdClient) -> None:
    # one GTIN, two articles of the master data (a supplier's UPC-E, another's UPC-A):
    # every form the scanner may send offers both, it never silently picks one
    import_items(
        pos,
        item("U-1", "Kaugummi", 99, barcodes=[UPCE]),
        item("U-2", "Kaugummi (Import)", 109, barcodes=["042100005264"]),
    )
    sid = pos.create_sale().sale_id
    for code in (UPCE, "042100005264", "0042100005264"):
        r = pos.scan(sid, code)
        assert r.choice == sale_pb2.SCAN_CHOICE_AMBIGUOUS_BARCODE, code
        assert [c.item_id for c in r.candidates] == ["U-1", "U-2"], code
