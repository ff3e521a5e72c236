"""DSFinV-K of a sale cancelled before its post (AVBelegabbruch) in net prices (a business
customer): its lines are listed gross (POS_BRUTTO, lines_vat.csv) like every other line
of the export, with their tax, not their net amount as if it were the gross. A weighed
pack printed 50.02 (net 46.75 at 7 %) is 50.02 gross, 46.75 net, 3.27 tax there, as its
unit price per kg (STK_BR) is gross already."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.conftest import running_daemon
from tests.integration.api import test_kg_price_label_over_a_kilogram as kg
from tests.integration.day.test_full_day import read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import customer, import_customers, import_items, item


@pytest.fixture
def pos(tmp_path: Path) -> Iterator[PosdClient]:
    with running_daemon(tmp_path / "state", {"instore_codes": kg.LAYOUTS}) as r, r.client() as c:
        import_items(
            c,
            item(
                "KG", "Gouda", 1990, vat=kg.REDUCED, unit="kg", fractional_quantity=True,
                barcodes=["2112346000007"],
            ),
            item("B", "Brot", 349, vat=kg.REDUCED),
        )  # fmt: skip
        import_customers(
            c,
            customer("B1", "Bau GmbH", price_entry=common_pb2.PRICE_BASIS_NET,
                     street="Hauptstr. 1", postal_code="10115", city="Berlin",
                     country_code="DE", vat_id="DE999999999"),
        )  # fmt: skip
        yield c


def test_an_aborted_net_priced_sale_lists_its_lines_gross(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    pos.set_customer(sid, "B1", recalculate_lines=False)
    pos.scan(sid, kg.PACK_50_02)  # 50.02 gross printed: 46.75 net
    pos.add_line(sid, item_id="B", quantity="1")  # 3.49 gross: 3.26 net
    pos.cancel_sale(sid)
    close_as_expected(pos)
    z = pos.z_closing()
    tables = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]
    lines = {r["ART_NR"]: r for r in tables["lines.csv"] if r["ART_NR"] in ("KG", "B")}
    vat = {(r["BON_ID"], r["POS_ZEILE"]): r for r in tables["lines_vat.csv"]}
    got = {}
    for art, r in lines.items():
        v = vat[r["BON_ID"], r["POS_ZEILE"]]
        got[art] = (v["POS_BRUTTO"], v["POS_NETTO"], v["POS_UST"], r["STK_BR"])
    assert got == {
        "KG": ("50,02000", "46,75000", "3,27000", "19,90000"),
        "B": ("3,49000", "3,26000", "0,23000", "3,49000"),
    }
