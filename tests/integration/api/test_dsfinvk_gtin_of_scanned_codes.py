"""DSFinV-K lines.csv GTIN: the article's Global Trade Item Number, never a code that is
none. An in-store price or weight label (a GS1 restricted circulation number, prefixes
20-29) carries the price or weight and names no article worldwide; a UPC-E is the short
form of a GTIN-12, given as its GTIN-13; a shop's own item code is no GTIN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.conftest import Running, running_daemon
from tests.integration.api.test_instore_label_sale_flows import LAYOUTS, PRICE_LABEL, WEIGHT_LABEL
from tests.integration.api.test_sale_part2 import pay, post
from tests.integration.day.test_full_day import read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, item

REDUCED = common_pb2.VAT_CATEGORY_REDUCED
CASH = common_pb2.PAYMENT_METHOD_CASH

#: (item, name, barcode in the catalog, code scanned, GTIN expected in lines.csv)
CASES = [
    ("K-1", "Käseaufschnitt", "2112345000008", PRICE_LABEL, ""),
    ("A-1", "Äpfel", "2954321000004", WEIGHT_LABEL, ""),
    ("E-1", "Bleistift", "4006381333931", "4006381333931", "4006381333931"),
    # a UPC-A scanned as its 12 digits: the same GTIN, in its 13-digit form
    ("U-1", "Cola", "036000291452", "036000291452", "0036000291452"),
    # a UPC-E: the GTIN-12 it stands for (042100005264), as a GTIN-13
    ("C-1", "Kaugummi", "04252614", "04252614", "0042100005264"),
    # the shop's own codes: a restricted circulation number (no label layout) and an
    # internal item code
    ("S-1", "Brötchen", "2400001000005", "2400001000005", ""),
    ("R-1", "Wurst", "0212345000007", "0212345000007", ""),
    ("N-1", "Tüte", "INT-4711", "INT-4711", ""),
]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"instore_codes": LAYOUTS}) as r:
        yield r


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    with running.client() as c:
        import_items(
            c,
            *(
                item(
                    item_id,
                    name,
                    199,
                    vat=REDUCED,
                    barcodes=[barcode],
                    **({"unit": "kg", "fractional_quantity": True} if item_id == "A-1" else {}),
                )
                for item_id, name, barcode, _, _ in CASES
            ),
        )
        yield c


def test_the_gtin_column_holds_only_gtins(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    for _, _, _, scanned, _ in CASES:
        pos.scan(sid, scanned)
    sale = pos.get_sale(sid)
    assert len(sale.lines) == len(CASES)
    pay(pos, sid, CASH, sale.total.amount_minor)
    post(pos, sid)
    close_as_expected(pos)
    z = pos.z_closing()
    lines = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]["lines.csv"]
    got = {r["ART_NR"]: r["GTIN"] for r in lines if r["ART_NR"]}
    assert got == {item_id: gtin for item_id, _, _, _, gtin in CASES}
