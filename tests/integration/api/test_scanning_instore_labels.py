"""In-store labels from the scale or the back office (GS1 restricted circulation numbers,
prefixes 20-29: Preis-/Gewichts-EAN) sell their item at the printed price or weight, in
the layouts the shop configures; a UPC-E code (8 digits, like an EAN-8) finds the item
registered under its UPC-A. Through Scan, AddLine(code) and the hardware scanner."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, common_pb2, device_pb2

from tests.conftest import Running, running_daemon
from tests.integration.api.test_devices_api import Stream, scan, wait_for
from tests.support.fullsale import import_items, item

REDUCED = common_pb2.VAT_CATEGORY_REDUCED

LAYOUTS = [
    # 21 IIIII PPPPP C: price in cents
    {"prefixes": ["21"], "item_digits": 5, "kind": "price"},
    # 22 IIII V PPPPP C: price with its verifier digit
    {"prefixes": ["22"], "item_digits": 4, "kind": "price", "price_check_digit": True},
    # 28/29 IIIII WWWWW C: weight in grams of a kg item
    {"prefixes": ["28", "29"], "item_digits": 5, "kind": "weight", "weight_decimals": 3},
]


@pytest.fixture
def labelled(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"instore_codes": LAYOUTS}) as r:
        yield r


@pytest.fixture
def lpos(labelled: Running) -> Iterator[PosdClient]:
    with labelled.client() as c:
        import_items(
            c,
            # registered under the label code with its variable part zeroed
            item("K-1", "Käseaufschnitt", 1990, vat=REDUCED, barcodes=["2112345000008"]),
            item("W-1", "Wurst", 999, vat=REDUCED, barcodes=["2212340000000"]),
            item(
                "A-1",
                "Äpfel",
                299,
                vat=REDUCED,
                unit="kg",
                fractional_quantity=True,
                barcodes=["2954321000004"],
            ),
            item("P-1", "Brötchen", 45, vat=REDUCED, barcodes=["2854322000006"]),
        )
        yield c


def test_price_label_sells_at_the_printed_price(lpos: PosdClient) -> None:
    sid = lpos.create_sale().sale_id
    r = lpos.scan(sid, "2112345012346")  # 12.34 on the label
    line = r.sale.lines[-1]
    assert (line.item_id, line.quantity, line.unit_price.amount_minor) == ("K-1", "1", 1234)
    assert line.total.amount_minor == 1234
    assert line.price_overridden and line.scanned_code == "2112345012346"
    # the same through AddLine(code)
    added = lpos.add_line(sid, code="2112345000503")
    assert added.sale.lines[-1].total.amount_minor == 50
    # the sale as stored keeps the label's price
    assert lpos.get_sale(sid).lines[0].unit_price.amount_minor == 1234


def test_price_label_with_verifier_digit(lpos: PosdClient) -> None:
    sid = lpos.create_sale().sale_id
    r = lpos.scan(sid, "2212346146856")  # 146.85, verifier 6
    assert (r.sale.lines[-1].item_id, r.sale.lines[-1].total.amount_minor) == ("W-1", 14685)
    before = lpos.get_sale(sid)
    with pytest.raises(PosdError) as err:
        lpos.scan(sid, "2212345146857")  # verifier 5 is wrong for 14685
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PRICE_CHECK_DIGIT",
    )
    assert lpos.get_sale(sid).revision == before.revision


def test_weight_label_sells_the_weight(lpos: PosdClient) -> None:
    sid = lpos.create_sale().sale_id
    r = lpos.scan(sid, "2954321012342")  # 1.234 kg at 2.99/kg
    line = r.sale.lines[-1]
    assert (line.item_id, line.quantity, line.unit) == ("A-1", "1.234", "kg")
    assert line.total.amount_minor == 369  # 1.234 x 299 = 368.966
    assert not line.price_overridden
    # a weight label of an item sold by the piece is refused, nothing changes
    with pytest.raises(PosdError) as err:
        lpos.scan(sid, "2854322005001")
    assert err.value.reason == "NOT_SOLD_BY_WEIGHT"
    # the label carries the quantity: a second one is refused
    with pytest.raises(PosdError) as err:
        lpos.scan(sid, "2954321012342", quantity="2")
    assert err.value.reason == "QUANTITY_ON_LABEL"
    assert len(lpos.get_sale(sid).lines) == 1


def test_codes_outside_the_layouts_behave_as_before(lpos: PosdClient) -> None:
    sid = lpos.create_sale().sale_id
    # a layout's prefix, but no item is registered under the zeroed code
    with pytest.raises(PosdError) as err:
        lpos.scan(sid, "2199999012342")
    assert err.value.reason == "UNKNOWN_CODE"
    # a prefix of no layout
    with pytest.raises(PosdError) as err:
        lpos.scan(sid, "2312345012340")
    assert err.value.reason == "UNKNOWN_CODE"
    # the zeroed code itself is the item's barcode: sold at the catalog price
    r = lpos.scan(sid, "2112345000008")
    assert (r.sale.lines[-1].total.amount_minor, r.sale.lines[-1].price_overridden) == (
        1990,
        False,
    )


def test_upce_finds_the_upca(pos: PosdClient) -> None:
    import_items(
        pos,
        item("U-1", "Kaugummi", 99, barcodes=["042100005264"]),  # UPC-A, 12 digits
        item("U-3", "Pfefferminz", 129, barcodes=["0012000003004"]),  # UPC-A as EAN-13
        # "01234565" is an EAN-8 and also the UPC-E of 012345000065
        item("E-1", "Bonbons", 149, barcodes=["01234565"]),
        item("U-2", "Lakritz", 199, barcodes=["012345000065"]),
    )
    lpos = pos
    sid = lpos.create_sale().sale_id
    r = lpos.scan(sid, "04252614")  # UPC-E of 042100005264
    assert r.sale.lines[-1].item_id == "U-1"
    assert r.sale.lines[-1].scanned_code == "04252614"
    assert lpos.add_line(sid, code="04252614").sale.lines[-1].item_id == "U-1"
    assert lpos.scan(sid, "01230004").sale.lines[-1].item_id == "U-3"
    # an EAN-8 of the catalog wins over the UPC-A the same digits stand for as UPC-E
    assert lpos.scan(sid, "01234565").sale.lines[-1].item_id == "E-1"


def test_labels_not_configured_are_unknown(pos: PosdClient) -> None:
    import_items(pos, item("K-1", "Käseaufschnitt", 1990, barcodes=["2112345000008"]))
    sid = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "2112345012346")
    assert err.value.reason == "UNKNOWN_CODE"


def test_a_label_must_name_one_item(lpos: PosdClient) -> None:
    # two items under one item code: a choice would add by item id, without the
    # label's price, so the label is refused and nothing changes
    import_items(
        lpos,
        item("K-2", "Käse am Stück", 2490, barcodes=["2112399000009"]),
        item("K-3", "Käse gerieben", 1290, barcodes=["2112399000009"]),
    )
    sid = lpos.create_sale().sale_id
    before = lpos.get_sale(sid)
    with pytest.raises(PosdError) as err:
        lpos.scan(sid, "2112399012347")
    assert (err.value.reason, err.value.metadata["candidates"]) == ("AMBIGUOUS_CODE", "K-2,K-3")
    with pytest.raises(PosdError) as err:
        lpos.add_line(sid, code="2112399012347")
    assert err.value.reason == "AMBIGUOUS_CODE"
    assert lpos.get_sale(sid).revision == before.revision


def test_a_price_label_of_a_variant_or_unit(lpos: PosdClient) -> None:
    import_items(
        lpos,
        item(
            "T-1",
            "Torte",
            2900,
            variants=[
                catalog_pb2.ItemVariant(variant_id="S", name="Sahne", barcodes=["2154321000008"])
            ],
        ),
    )
    sid = lpos.create_sale().sale_id
    line = lpos.scan(sid, "2154321004501").sale.lines[-1]
    assert (line.item_id, line.variant_id, line.total.amount_minor) == ("T-1", "S", 450)


def test_the_hardware_scanner_sells_labels(labelled: Running, lpos: PosdClient) -> None:
    stream = Stream(lpos)
    time.sleep(0.05)  # subscribed before the test acts
    try:
        sid = lpos.create_sale().sale_id
        scan(labelled, b"2954321012342\r\n")
        wait_for(lambda: len(stream.of("scan")) >= 1)
        data = stream.of("scan")[-1].scan
        assert (data.route, data.error_reason) == (device_pb2.SCAN_ROUTE_SALE, "")
        line = lpos.get_sale(sid).lines[-1]
        assert (line.item_id, line.quantity) == ("A-1", "1.234")
    finally:
        stream.close()
