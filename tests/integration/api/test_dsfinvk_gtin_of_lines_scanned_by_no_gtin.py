"""DSFinV-K lines.csv GTIN of a line scanned by a code that is no GTIN: an in-store price
or weight label (a GS1 restricted circulation number, its zeroed form names the item), a
lot or serial number (even one that looks like a GTIN-13), a shop's internal code. The
article sold is known, so its GTIN is the one the catalog registers for it, as for a line
added by item number; empty when the article has only restricted circulation or internal
codes. A restricted circulation number (RCN-13 prefixes 02, 04, 20-29, RCN-8 prefixes 0
and 2) is never written as a GTIN, scanned or from the catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2

from tests.conftest import Running, running_daemon
from tests.integration.api.test_instore_label_sale_flows import LAYOUTS, PRICE_LABEL, WEIGHT_LABEL
from tests.integration.api.test_sale_part2 import pay, post
from tests.integration.day.test_full_day import read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, import_stock, item, money

REDUCED = common_pb2.VAT_CATEGORY_REDUCED
CASH = common_pb2.PAYMENT_METHOD_CASH

#: a price label (5.00) of Brot, whose only barcode is the label's zeroed code
BROT_LABEL = "2112346005002"
#: a lot and a serial number that are 13 digits with a right check digit: still no GTIN
GTIN_SHAPED_LOT = "1234567890128"
GTIN_SHAPED_SERIAL = "9876543210982"
#: an RCN-8 (GS1-8 prefix 2): the shop's own short number, no GTIN
RCN8 = "20123451"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"instore_codes": LAYOUTS}) as r:
        yield r


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    with running.client() as c:
        import_items(
            c,
            # in-store labels (zeroed code) and a GTIN-13 of the article
            item(
                "K-1",
                "Käseaufschnitt",
                1990,
                vat=REDUCED,
                barcodes=["2112345000008", "4006381333931"],
            ),
            item(
                "A-1",
                "Äpfel",
                299,
                vat=REDUCED,
                unit="kg",
                fractional_quantity=True,
                barcodes=["2954321000004", "5901234123457"],
            ),
            # the in-store code only
            item("B-1", "Brot", 350, vat=REDUCED, barcodes=["2112346000007"]),
            item(
                "L-1",
                "Milch",
                119,
                vat=REDUCED,
                tracking=catalog_pb2.TRACKING_LOT,
                barcodes=["4012345678901"],
            ),
            item(
                "T-1",
                "Telefon",
                4900,
                tracking=catalog_pb2.TRACKING_SERIAL,
                barcodes=["96385074"],
            ),
            item("N-1", "Tüte", 10, barcodes=["INT-7", "4000000000020"]),
            # a case scanned by its internal code: the case has no GTIN of its own, and
            # the bottle's is another trade item's
            item(
                "W-1",
                "Wasser",
                49,
                vat=REDUCED,
                barcodes=["4000000000037"],
                units=[
                    catalog_pb2.ItemUnit(
                        unit="Kiste", quantity_per_unit="6", price=money(259), barcodes=["KISTE-9"]
                    )
                ],
            ),
            item("R-1", "Hausmarke", 99, vat=REDUCED, barcodes=[RCN8]),
        )
        import_stock(
            c,
            catalog_pb2.StockEntry(item_id="L-1", lot_number="L-47", quantity="10"),
            catalog_pb2.StockEntry(item_id="L-1", lot_number=GTIN_SHAPED_LOT, quantity="10"),
            catalog_pb2.StockEntry(item_id="T-1", serial_number="SN-1", quantity="1"),
            catalog_pb2.StockEntry(item_id="T-1", serial_number=GTIN_SHAPED_SERIAL, quantity="1"),
        )
        yield c


def export_lines(pos: PosdClient, sid: str) -> list[tuple[str, str]]:
    sale = pos.get_sale(sid)
    pay(pos, sid, CASH, sale.total.amount_minor)
    post(pos, sid)
    close_as_expected(pos)
    z = pos.z_closing()
    lines = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]["lines.csv"]
    return [(r["ART_NR"], r["GTIN"]) for r in lines if r["ART_NR"]]


def test_a_line_scanned_by_an_instore_label_gets_the_items_gtin(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    pos.scan(sid, PRICE_LABEL)
    pos.scan(sid, WEIGHT_LABEL)
    line = pos.get_sale(sid).lines
    assert [(ln.item_id, ln.scanned_code) for ln in line] == [
        ("K-1", PRICE_LABEL),
        ("A-1", WEIGHT_LABEL),
    ]
    assert export_lines(pos, sid) == [("K-1", "4006381333931"), ("A-1", "5901234123457")]


def test_an_item_with_only_its_instore_code_has_no_gtin(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    pos.scan(sid, BROT_LABEL)
    # its zeroed code scanned, and the item added by its number: no GTIN either
    pos.scan(sid, "2112346000007")
    pos.add_line(sid, item_id="B-1")
    assert [ln.total.amount_minor for ln in pos.get_sale(sid).lines] == [500, 350, 350]
    assert export_lines(pos, sid) == [("B-1", ""), ("B-1", ""), ("B-1", "")]


def test_lines_scanned_by_lot_serial_or_internal_code_get_the_items_gtin(
    pos: PosdClient,
) -> None:
    sid = pos.create_sale().sale_id
    for code in ("L-47", GTIN_SHAPED_LOT, "SN-1", GTIN_SHAPED_SERIAL, "INT-7", "KISTE-9"):
        pos.scan(sid, code)
    sale = pos.get_sale(sid)
    assert [(ln.item_id, ln.lot_number, ln.serial_number, ln.unit) for ln in sale.lines] == [
        ("L-1", "L-47", "", "pcs"),
        ("L-1", GTIN_SHAPED_LOT, "", "pcs"),
        ("T-1", "", "SN-1", "pcs"),
        ("T-1", "", GTIN_SHAPED_SERIAL, "pcs"),
        ("N-1", "", "", "pcs"),
        ("W-1", "", "", "Kiste"),
    ]
    assert export_lines(pos, sid) == [
        ("L-1", "4012345678901"),
        ("L-1", "4012345678901"),
        ("T-1", "96385074"),
        ("T-1", "96385074"),
        ("N-1", "4000000000020"),
        ("W-1", ""),
    ]


def test_an_rcn8_is_no_gtin(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    pos.scan(sid, RCN8)
    pos.add_line(sid, item_id="R-1")
    assert export_lines(pos, sid) == [("R-1", ""), ("R-1", "")]
