"""An outage open across a restart while the TSE still does not answer: the receipts and
cash movements recorded after the restart carry the TSE's serial number as those before
it did (KassenSichV § 6 Nr. 6: the serial number of the TSE, when it is known, is on
every receipt, an outage receipt too; the outage record names that TSE). Real daemon
in-process, real SQLite files, the fiskaly contract server over real HTTP."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.v1 import closing_pb2, fiscal_pb2

from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import printed, seed, wait_for
from tests.integration.fiscal.test_outage_edge_cases import config, sell
from tests.support.fake_fiskaly import FakeFiskaly


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def test_receipts_after_a_restart_in_an_outage_keep_the_tse_serial(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    state = tmp_path / "state"
    running = start_in_thread(state, config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            serial = sell(pos).tse.tse_serial
            assert serial
            fake.fail_all(status=503)
            before = sell(pos)
            assert (before.tse.state, before.tse.tse_serial) == ("OUTAGE", serial)
    finally:
        running.stop()
    running = start_in_thread(state, config(fake))  # the TSE still does not answer
    try:
        with running.client() as pos:
            assert running.daemon.gateway.outage == 1
            after = sell(pos)
            assert (after.tse.state, after.tse.outage_number) == ("OUTAGE", 1)
            assert after.tse.tse_serial == serial
            moved = pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 500, "Wechsel")
            assert (moved.tse.state, moved.tse.tse_serial) == ("OUTAGE", serial)
            (o,) = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages
            assert o.tse_serial == serial
            head = f"Beleg-Nr. {after.receipt_number} "
            wait_for(lambda: head in printed(running))
            (receipt,) = [c for c in printed(running).split("== cut ==") if head in c]
            # the serial wraps on the 42-column paper
            assert f"TSE-Seriennummer:{serial}" in receipt.replace("\n", "")
        conn = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
        try:
            stored = conn.execute(
                "SELECT t.tse_serial FROM sale_tse t JOIN sales s ON s.sale_id = t.sale_id"
                " WHERE s.receipt_number = ?",
                (after.receipt_number,),
            ).fetchone()
        finally:
            conn.close()
        assert stored == (serial,)
    finally:
        running.stop()
