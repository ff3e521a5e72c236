"""A TSE that broke (the outage) and was replaced by a new one: the new TSE's transaction
numbers start again and must not take the old TSE's receipts' fiscal rows. Real daemon
in-process, real SQLite files, two fiskaly contract servers (two TSSs) over real HTTP."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import Running, start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.integration.fiscal.test_outage_recovery_races import started_sale
from tests.support.fake_fiskaly import FakeFiskaly


def rows(running: Running, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def outage_receipt_of_an_old_tse(state: Path) -> tuple[str, int]:
    """A register on TSE A (a fiskaly TSS of its own, gone afterwards) posts receipt X
    while A fails: X is an outage receipt holding A's transaction n. Returns (X, n)."""
    with FakeFiskaly() as old:
        running = start_in_thread(state, fiskaly_config(old, timeout_ms=1500))
        try:
            with running.client() as pos:
                seed(pos)
                x, number, total = started_sale(pos, old)
                old.fail_all(status=503)  # the TSE breaks
                pos.add_payment(x, CASH, total)
                posted = pos.post_sale(x)
                assert (posted.tse.state, posted.tse.transaction_number) == ("OUTAGE", number)
        finally:
            running.stop()
    return x, number


def test_a_replaced_tses_transactions_keep_the_old_tses_receipts(tmp_path: Path) -> None:
    """Receipt X is posted in an outage of TSE A (its transaction n started at A). A is
    replaced by TSE B, whose transaction numbers count from 1 again. A sale Y's start
    at B gets number n, and storing it (INSERT OR REPLACE against the unique index on
    client and transaction number) deleted X's fiscal row: the outage receipt lost its
    marking, transaction and processData (a signed receipt its signature) without a
    trace. A transaction number names a transaction of one TSE only (BSI TR-03151)."""
    state = tmp_path / "state"
    x, number = outage_receipt_of_an_old_tse(state)
    with FakeFiskaly() as new:
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        try:
            with running.client() as pos:
                assert running.daemon.gateway.outage is None
                _, y_number, _ = started_sale(pos, new)
                assert y_number == number  # the new TSE's numbers meet the old ones
                got = rows(
                    running,
                    "SELECT state, transaction_number, outage_number FROM sale_tse"
                    " WHERE sale_id = ?",
                    x,
                )
                assert got == [("OUTAGE", number, 1)]
                assert pos.get_sale(x).tse.outage_number == 1
        finally:
            running.stop()
