"""DSFinV-K ART_NR is A50, posd item ids up to 64 characters: a longer id is cut to 50 in
lines.csv. Two items whose ids differ only after character 50 then share an ART_NR. The
export must not merge them silently: its result (ExportStats) and its index.xml (the
DataSet comment an auditor's import shows) name every cut id and the ids that became
one ART_NR."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from posd_daemon.exports import dsfinvk
from posd_daemon.store.database import connect
from tests.conftest import Running, running_daemon
from tests.integration.api.test_sale_part2 import pay, post
from tests.integration.day.test_full_day import read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, item

CASH = common_pb2.PAYMENT_METHOD_CASH
STEM = "LIEFERANT-4711-ARTIKELGRUPPE-GETRAENKE-MINERALWAS"  # 49 characters
RED = STEM + "S-ROT-0,7L-GLAS"
GREEN = STEM + "S-GRUEN-0,5L-PE"
LONE = "Z" * 55  # cut too, but alone with its prefix
SHORT = "A-1"
# an id of exactly 50 characters is not cut, but a longer one cut to it equals it
EXACT = "Y" * 50
EXACT_LONGER = "Y" * 52


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state") as r:
        yield r


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    assert len(RED) <= 64 and len(GREEN) <= 64
    assert RED[:50] == GREEN[:50] and RED != GREEN
    with running.client() as c:
        import_items(
            c,
            item(RED, "Wasser rot", 99),
            item(GREEN, "Wasser grün", 79),
            item(LONE, "Lang", 10),
            item(SHORT, "Kurz", 10),
            item(EXACT, "Genau", 10),
            item(EXACT_LONGER, "Länger", 10),
        )
        yield c


def _closed_sale(pos: PosdClient) -> int:
    sid = pos.create_sale().sale_id
    for item_id in (RED, GREEN, LONE, SHORT, EXACT, EXACT_LONGER):
        pos.add_line(sid, item_id=item_id)
    pay(pos, sid, CASH, pos.get_sale(sid).total.amount_minor)
    post(pos, sid)
    close_as_expected(pos)
    return int(pos.z_closing().z_nr)


def test_the_export_names_item_ids_that_share_an_art_nr(
    pos: PosdClient, running: Running, tmp_path: Path
) -> None:
    z_nr = _closed_sale(pos)
    tables, raw = read_export(pos.export_dsfinvk(z_from=z_nr, z_to=z_nr))
    # the column stays as index.xml declares it (A50)
    art = [r["ART_NR"] for r in tables["lines.csv"] if r["ART_NR"]]
    assert art == [RED[:50], GREEN[:50], LONE[:50], SHORT, EXACT, EXACT]
    comment = ET.fromstring(raw["index.xml"]).findtext("./DataSupplier/Comment") or ""
    assert f"{GREEN} and {RED} share ART_NR {RED[:50]}" in comment
    assert f"{EXACT} and {EXACT_LONGER} share ART_NR {EXACT}" in comment
    assert LONE in comment
    assert f"{LONE} and" not in comment
    assert SHORT not in comment

    # the result of the export says the same (with and without the lines child process)
    conn = connect(running.config.database_path, readonly=True)
    try:
        (register,) = conn.execute(
            "SELECT register_id FROM closings WHERE z_nr = ?", (z_nr,)
        ).fetchone()
        for parallel in (True, False):
            closings = dsfinvk.select_closings(conn, register, z_from=z_nr, z_to=z_nr)
            settings = dsfinvk.ExportSettings(register, "EUR", dsfinvk.Company("Shop"), "test")
            stats = dsfinvk.export(
                conn,
                settings,
                closings,
                tmp_path / f"out-{parallel}",
                as_zip=False,
                parallel=parallel,
            )
            assert stats.cut_item_ids == sorted([RED, GREEN, LONE, EXACT_LONGER])
            assert stats.shared_art_nr == {
                RED[:50]: [GREEN, RED],
                EXACT: [EXACT, EXACT_LONGER],
            }
    finally:
        conn.close()
