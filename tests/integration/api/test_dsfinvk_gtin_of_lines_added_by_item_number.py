"""DSFinV-K lines.csv GTIN of a line added by item number (nothing scanned): the GTIN
the catalog registers for the article sold (its variant's, its unit's), as a scanned
code's would be (13 digits for a UPC-A or UPC-E); empty when the article has no GTIN
(only an in-store code or an internal one). Of several GTINs the lowest is given, so
that every export of the period says the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2

from tests.conftest import Running, running_daemon
from tests.integration.api.test_sale_part2 import pay, post
from tests.integration.day.test_full_day import read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, item, money

REDUCED = common_pb2.VAT_CATEGORY_REDUCED
CASH = common_pb2.PAYMENT_METHOD_CASH


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state") as r:
        yield r


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    with running.client() as c:
        import_items(
            c,
            item("E-2", "Bleistift", 199, vat=REDUCED, barcodes=["4006381333931"]),
            item("U-2", "Cola", 199, vat=REDUCED, barcodes=["036000291452"]),
            item("C-2", "Kaugummi", 199, vat=REDUCED, barcodes=["04252614"]),
            # the shop's own codes only: no GTIN
            item("S-2", "Brötchen", 199, vat=REDUCED, barcodes=["2400001000005", "INT-1"]),
            # several GTINs (and an internal code): the lowest GTIN
            item(
                "M-2",
                "Radiergummi",
                199,
                vat=REDUCED,
                barcodes=["INT-9", "5901234123457", "4006381333931"],
            ),
            item(
                "V-2",
                "Shirt",
                999,
                vat=REDUCED,
                barcodes=["5901234123457"],
                variants=[
                    catalog_pb2.ItemVariant(variant_id="rot", name="rot", barcodes=["96385074"]),
                    catalog_pb2.ItemVariant(variant_id="blau", name="blau"),
                ],
            ),
            item(
                "P-2",
                "Wasser",
                99,
                vat=REDUCED,
                barcodes=["5901234123457"],
                units=[
                    catalog_pb2.ItemUnit(
                        unit="Kiste",
                        quantity_per_unit="6",
                        price=money(594),
                        barcodes=["4012345678901"],
                    )
                ],
            ),
        )
        yield c


def test_a_line_added_by_item_number_gets_the_catalogs_gtin(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    # (item, variant, unit, GTIN expected)
    added = [
        ("E-2", "", "", "4006381333931"),
        ("U-2", "", "", "0036000291452"),
        ("C-2", "", "", "0042100005264"),
        ("S-2", "", "", ""),
        ("M-2", "", "", "4006381333931"),
        ("V-2", "rot", "", "96385074"),
        # a variant without a GTIN of its own: not the item's (another trade item)
        ("V-2", "blau", "", ""),
        ("P-2", "", "", "5901234123457"),
        ("P-2", "", "Kiste", "4012345678901"),
    ]
    for item_id, variant, unit, _ in added:
        pos.add_line(sid, item_id=item_id, variant_id=variant, unit=unit)
    sale = pos.get_sale(sid)
    assert len(sale.lines) == len(added)
    pay(pos, sid, CASH, sale.total.amount_minor)
    post(pos, sid)
    close_as_expected(pos)
    z = pos.z_closing()
    lines = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]["lines.csv"]
    got = [(r["ART_NR"], r["GTIN"]) for r in lines if r["ART_NR"]]
    assert got == [(item_id, gtin) for item_id, _, _, gtin in added]
