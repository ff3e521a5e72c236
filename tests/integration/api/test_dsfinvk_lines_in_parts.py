"""The DSFinV-K lines pass runs in LINE_PARTS child processes, each over consecutive
closings. Their parts must add up to exactly the files one pass writes: one header line,
every row once and in order, the row counts summed, and the ART_NR report made over all
parts (two ids that share an ART_NR are reported even when they were sold in closings of
different parts)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from posd.client import PosdClient
from posd.v1 import common_pb2

from posd_daemon.exports import dsfinvk
from posd_daemon.store.database import connect
from tests.conftest import Running
from tests.integration.api.test_sale_part2 import pay, post
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, item

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD
STEM = "LIEFERANT-4711-ARTIKELGRUPPE-GETRAENKE-MINERALWAS"  # 49 characters
RED = STEM + "S-ROT-0,7L-GLAS"
GREEN = STEM + "S-GRUEN-0,5L-PE"


def _day(pos: PosdClient, *sales: tuple[str, ...]) -> int:
    """One Z closing with these sales (item ids each), paid in cash or by card."""
    pos.ensure_shift()
    for n, items in enumerate(sales):
        sid = pos.create_sale().sale_id
        for item_id in items:
            pos.add_line(sid, item_id=item_id)
        pay(pos, sid, CASH if n % 2 else CARD, pos.get_sale(sid).total.amount_minor)
        post(pos, sid)
    close_as_expected(pos)
    return int(pos.z_closing().z_nr)


def test_lines_in_parts_equal_one_pass(running: Running, tmp_path: Path) -> None:
    with running.client() as pos:
        import_items(
            pos,
            item(RED, "Wasser rot", 99),
            item(GREEN, "Wasser grün", 79),
            item("brot", "Brot", 349, vat=common_pb2.VAT_CATEGORY_REDUCED),
            item("wein", "Wein", 1299),
        )
        first = _day(pos, (RED, "brot"), ("wein",))
        _day(pos, ("brot", "brot", "wein"))
        last = _day(pos, (GREEN,), ("brot", "wein"), ("wein",))

    conn = connect(running.config.database_path, readonly=True)
    try:
        (register,) = conn.execute(
            "SELECT register_id FROM closings WHERE z_nr = ?", (first,)
        ).fetchone()
        closings = dsfinvk.select_closings(conn, register, z_from=first, z_to=last)
        parts = dsfinvk._line_parts(closings, dsfinvk.LINE_PARTS)
        # the split really happens: RED's closing and GREEN's are in different parts
        assert dsfinvk.LINE_PARTS >= 2 and len(parts) == 2
        assert parts[0][0].z_nr == first and parts[-1][-1].z_nr == last
        assert [c.z_nr for p in parts for c in p] == [c.z_nr for c in closings]
        settings = dsfinvk.ExportSettings(register, "EUR", dsfinvk.Company("Shop"), "test")
        out = {}
        for parallel in (True, False):
            folder = tmp_path / f"out-{parallel}"
            stats = dsfinvk.export(
                conn, settings, closings, folder, as_zip=False, parallel=parallel
            )
            out[parallel] = (stats, {p.name: p.read_bytes() for p in folder.iterdir()})
            # the ids of two parts share an ART_NR: reported all the same
            assert stats.cut_item_ids == sorted([RED, GREEN])
            assert stats.shared_art_nr == {RED[:50]: [GREEN, RED]}
        (par_stats, par_files), (one_stats, one_files) = out[True], out[False]
        assert par_files == one_files
        assert par_stats.rows == one_stats.rows
        lines = par_files["lines.csv"].decode("utf-8").split("\r\n")
        assert lines[0] == dsfinvk.spec.TABLE_BY_FILE["lines.csv"].header.rstrip("\r\n")
        assert sum(1 for line in lines if line.startswith(lines[0][:10])) == 1  # one header
        assert par_stats.rows["lines.csv"] == 2 + 1 + 3 + 1 + 2 + 1 == len(lines) - 2

        # the same in a ZIP, as the RPC writes it
        zips = {}
        for parallel in (True, False):
            path = tmp_path / f"export-{parallel}.zip"
            with open(path, "wb") as f:
                dsfinvk.export(conn, settings, closings, f, as_zip=True, parallel=parallel)
            with zipfile.ZipFile(path) as zf:
                zips[parallel] = {n: zf.read(n) for n in zf.namelist()}
        assert zips[True] == zips[False] == one_files
    finally:
        conn.close()
