"""The software TSE's state file (tse.sqlite3) deleted while its key is kept: the TSE
comes back with the same serial and its counters restarted at 1, so it would hand out
signature counters and transaction numbers the register's receipts already carry. The
daemon must not sign with it: it compares what it recorded from that TSE with what the
TSE reports at start, opens an outage naming both counters, and selling goes on in
outage mode (AEAO zu §146a Nr. 7, fiscal-de.md: a TSE that cannot be used is an
outage). Real daemon, real state directory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from posd.v1 import fiscal_pb2

from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import seed, sell


def test_a_lost_tse_state_file_opens_an_outage_instead_of_repeating_counters(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    running = start_in_thread(state)
    try:
        with running.client() as pos:
            seed(pos)
            signed = [sell(pos) for _ in range(3)]
    finally:
        running.stop()
    assert [s.tse.state for s in signed] == ["SIGNED"] * 3
    last_counter = signed[-1].tse.signature_counter
    last_tx = signed[-1].tse.transaction_number
    serial = signed[-1].tse.tse_serial
    tse_dir = state / "tse"
    assert (tse_dir / "tse-key.pem").exists()
    for name in ("tse.sqlite3", "tse.sqlite3-wal", "tse.sqlite3-shm"):
        (tse_dir / name).unlink(missing_ok=True)

    running = start_in_thread(state)
    try:
        assert running.daemon.gateway.outage == 1
        with running.client() as pos:
            outages = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages
            assert len(outages) == 1
            o = outages[0]
            assert o.error_code == "TSE_COUNTERS_BEHIND"
            assert o.tse_serial == serial
            # both counters, the TSE's and the register's, are named
            assert f"signature counter {last_counter}" in o.error_message, o.error_message
            assert f"transaction number {last_tx}" in o.error_message, o.error_message
            assert "signature counter 1" in o.error_message, o.error_message
            after = sell(pos)
            assert after.tse.state == "OUTAGE"
            assert after.tse.outage_number == 1
            assert not pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest()).recovered
            assert running.daemon.gateway.outage == 1
    finally:
        running.stop()
    # the reset TSE signed no transaction (its numbers would repeat the receipts')
    conn = sqlite3.connect(f"file:{tse_dir / 'tse.sqlite3'}?mode=ro", uri=True)
    try:
        signed_tx = "SELECT COUNT(*) FROM log_messages WHERE kind = 'Tra'"
        assert conn.execute("SELECT COUNT(*) FROM transactions").fetchone() == (0,)
        assert conn.execute(signed_tx).fetchone() == (0,)
    finally:
        conn.close()
