"""A malformed item in fiskaly's list of active transactions (a number that is no
number, a missing revision) must not block reconciliation: that item is skipped with a
logged warning, and the other active transactions are reconciled as usual. Before, one
bad item made every list fail (BAD_RESPONSE): the daemon started in an outage and no
recovery could ever end it."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.fiscal.process_data import PROCESS_TYPE_KASSENBELEG
from tests.conftest import start_in_thread
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly


def test_a_malformed_active_item_is_skipped_and_the_rest_reconciled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeFiskaly() as fake:
        # an orphan: a transaction of REG-1 that the register never recorded (another
        # process started it), open at fiskaly; start-up reconciliation cancels it
        other = FiskalyTse(
            fake.base_url,
            fake.api_key,
            fake.api_secret,
            fake.tss_id,
            timeout_s=5,
            state_dir=tmp_path / "other",
        )
        other.register_client("REG-1")
        orphan = other.start_transaction("REG-1", PROCESS_TYPE_KASSENBELEG, b"").transaction_number
        other.close()
        bad_id = str(uuid.uuid4())
        fake.extra_list_items = [
            {"_id": bad_id, "state": "ACTIVE", "number": "seven", "latest_revision": 1},
            {"_id": str(uuid.uuid4()), "state": "ACTIVE", "number": 99},  # no revision
        ]
        caplog.set_level(logging.WARNING, logger="posd_daemon.fiscal.fiskaly")
        running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
        try:
            assert running.daemon.gateway.outage is None, "the bad item opened an outage"
            assert fake.transaction_by_number(orphan).state == "CANCELLED"
            conn = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
            try:
                assert conn.execute(
                    "SELECT ref FROM journal WHERE kind = 'TSE_ORPHAN_CANCELLED'"
                ).fetchall() == [(f"tse-tx:{orphan}",)]
                assert conn.execute("SELECT COUNT(*) FROM tse_outages").fetchone() == (0,)
            finally:
                conn.close()
        finally:
            running.stop()
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "posd_daemon.fiscal.fiskaly" and r.levelno == logging.WARNING
    ]
    assert any(bad_id in w and "seven" in w for w in warnings), warnings
