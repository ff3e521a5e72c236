"""A post during a long TSE outage costs what one in a short outage does.

The outage marking is checked inside the post's transaction (is the outage the signer
marks with still the open one?). That check read the whole outage record: every receipt
of the outage and a scan of all cash movements, inside the post's write transaction on
the database thread. An outage can last a weekend (selling never stops), so each post
cost more than the one before (44 ms per post at 10,000 outage receipts and 20,000 cash
movements, measured on the store functions). Measured here in SQLite VM steps on the
daemon's own writer connection (deterministic, unlike a clock). Real daemon in-process,
real SQLite files, the fiskaly contract server over real HTTP."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import closing_pb2

from tests.conftest import Running, start_in_thread
from tests.integration.fiscal.test_fiscal_api import seed
from tests.integration.fiscal.test_outage_edge_cases import config, sell
from tests.support.fake_fiskaly import FakeFiskaly

#: progress handler granularity (VM instructions per call)
STEP = 100


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def steps_of(running: Running, action: object) -> int:
    """SQLite VM steps the daemon's writer connection runs during ``action()``."""
    conn: sqlite3.Connection = running.daemon.db._conn
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    conn.set_progress_handler(tick, STEP)
    try:
        action()  # type: ignore[operator]
    finally:
        conn.set_progress_handler(None, STEP)
    return count[0] * STEP


def pad_outage(running: Running, number: int, receipts: int) -> None:
    """Makes outage ``number`` a long one: ``receipts`` more receipts recorded in it (rows
    of the outage journal only, numbers far above the register's)."""
    conn = sqlite3.connect(str(running.config.database_path), timeout=10)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO tse_outage_receipts (outage_number, receipt_number, sale_id,"
                " recorded_at) VALUES (?, ?, ?, '2026-01-01T00:00:00.000000Z')",
                [(number, 10_000_000 + i, f"padding-{i}") for i in range(receipts)],
            )
    finally:
        conn.close()


def test_a_post_and_a_cash_movement_in_a_long_outage_cost_what_they_do_in_a_short_one(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            fake.fail_all(status=503)
            assert sell(pos).tse.outage_number == 1
            # warm: the statements prepared, the pages cached
            sell(pos)
            pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 100, "Wechsel")

            def movement(p: PosdClient = pos) -> None:
                moved = p.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 100, "W")
                assert moved.tse.outage_number == 1

            short_post = steps_of(running, lambda: sell(pos))
            short_movement = steps_of(running, movement)
            pad_outage(running, 1, 20_000)
            long_post = steps_of(running, lambda: sell(pos))
            long_movement = steps_of(running, movement)
            # 20,000 receipts read once are far more than 50,000 steps
            assert long_post < short_post + 50_000, (short_post, long_post)
            assert long_movement < short_movement + 50_000, (short_movement, long_movement)
    finally:
        running.stop()
