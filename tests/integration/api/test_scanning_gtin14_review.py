"""A GTIN is found however many leading zeros it is written with: master data from a GS1
feed lists GTINs in 14 digits (``04006381333931``), the EAN-13 scanner at the counter
sends 13 (``4006381333931``); or the other way round, or a reader set to GTIN-14 output.
All name one article (GS1 General Specifications: GTINs right-justified in 14 digits)."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError

from tests.support.fullsale import import_items, item


def test_a_gtin14_of_the_master_data_is_found_by_the_ean13_scanned(pos: PosdClient) -> None:
    import_items(pos, item("M-1", "Milch", 119, barcodes=["04006381333931"]))
    sid = pos.create_sale().sale_id
    for code in ("4006381333931", "04006381333931"):
        line = pos.scan(sid, code).sale.lines[-1]
        assert (line.item_id, line.scanned_code) == ("M-1", code)
    assert pos.add_line(sid, code="4006381333931").sale.lines[-1].item_id == "M-1"


def test_an_ean13_of_the_master_data_is_found_by_its_14_digit_form(pos: PosdClient) -> None:
    import_items(
        pos,
        item("M-1", "Milch", 119, barcodes=["4006381333931"]),
        item("U-1", "Cola", 199, barcodes=["036000291452"]),
        item("E-1", "Bonbons", 149, barcodes=["40123455"]),
    )
    sid = pos.create_sale().sale_id
    for code, item_id in (
        ("04006381333931", "M-1"),
        ("00036000291452", "U-1"),
        ("00000040123455", "E-1"),
        ("0000040123455", "E-1"),
    ):
        assert pos.scan(sid, code).sale.lines[-1].item_id == item_id


def test_a_case_gtin14_is_its_own_article(pos: PosdClient) -> None:
    import_items(pos, item("M-1", "Milch", 119, barcodes=["4006381333931"]))
    sid = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "14006381333938")  # indicator 1: a case of them, another GTIN
    assert err.value.reason == "UNKNOWN_CODE"


def test_the_13_and_14_digit_forms_on_one_item_are_one_barcode(pos: PosdClient) -> None:
    with pytest.raises(PosdError) as err:
        pos.upsert_item("M-1", "Milch", 119, barcodes=("4006381333931", "04006381333931"))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "duplicate barcode" in err.value.message


def test_two_items_under_one_gtin_in_two_forms_are_a_choice(pos: PosdClient) -> None:
    import_items(
        pos,
        item("M-1", "Milch", 119, barcodes=["4006381333931"]),
        item("M-2", "Milch (Lieferant B)", 125, barcodes=["04006381333931"]),
    )
    sid = pos.create_sale().sale_id
    for code in ("4006381333931", "04006381333931"):
        r = pos.scan(sid, code)
        assert sorted(c.item_id for c in r.candidates) == ["M-1", "M-2"]
    assert not pos.get_sale(sid).lines
