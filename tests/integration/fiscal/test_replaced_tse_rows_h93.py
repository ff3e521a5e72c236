"""A replaced TSE (a new fiskaly TSS, a fresh software TSE) numbers its transactions from
1 again: its transactions must neither take the old TSE's receipts' fiscal rows nor be
finished with an old receipt's data. Real daemon in-process, real SQLite files, two
fiskaly contract servers (two TSSs) over real HTTP; the migration on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.fiscal.process_data import PROCESS_TYPE_KASSENBELEG
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.database import _migrations, migrate
from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed, wait_for
from tests.integration.fiscal.test_outage_recovery import finished_as, fiskaly_config, recover
from tests.integration.fiscal.test_outage_recovery_races import started_sale
from tests.integration.fiscal.test_outage_replaced_tse_h92 import (
    outage_receipt_of_an_old_tse,
    rows,
)
from tests.support.fake_fiskaly import FakeFiskaly


def orphan_at(fake: FakeFiskaly, state_dir: Path) -> int:
    """A transaction started at the fake TSE by another client process, never recorded
    by the register (its row lost with the power): its number."""
    other = FiskalyTse(
        fake.base_url, fake.api_key, fake.api_secret, fake.tss_id, timeout_s=5,
        state_dir=state_dir,
    )  # fmt: skip
    other.register_client("REG-1")
    number = other.start_transaction("REG-1", PROCESS_TYPE_KASSENBELEG, b"").transaction_number
    other.close()
    return number


def test_a_signed_receipt_of_a_replaced_tse_keeps_its_signature(tmp_path: Path) -> None:
    """Receipt X is signed by TSE A as transaction n. A is replaced by B, whose
    transaction n is a new sale's: X keeps its signature, serial and processData."""
    state = tmp_path / "state"
    with FakeFiskaly() as old:
        running = start_in_thread(state, fiskaly_config(old, timeout_ms=1500))
        try:
            with running.client() as pos:
                seed(pos)
                x, number, total = started_sale(pos, old)
                pos.add_payment(x, CASH, total)
                signed = pos.post_sale(x).tse
                assert (signed.state, signed.transaction_number) == ("SIGNED", number)
                before = rows(
                    running,
                    "SELECT state, transaction_number, signature, tse_serial, process_data"
                    " FROM sale_tse WHERE sale_id = ?",
                    x,
                )
                assert before[0][2] and before[0][3]
        finally:
            running.stop()
    with FakeFiskaly() as new:
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        try:
            with running.client() as pos:
                y, y_number, y_total = started_sale(pos, new)
                assert y_number == number
                after = rows(
                    running,
                    "SELECT state, transaction_number, signature, tse_serial, process_data"
                    " FROM sale_tse WHERE sale_id = ?",
                    x,
                )
                assert after == before
                assert pos.get_sale(x).tse.signature == signed.signature
                # the new sale is signed by the new TSE as its own transaction n
                pos.add_payment(y, CASH, y_total)
                got = pos.post_sale(y).tse
                assert (got.state, got.transaction_number) == ("SIGNED", number)
                assert got.tse_serial != before[0][3]
        finally:
            running.stop()


def test_recovery_at_a_new_tse_does_not_finish_its_transaction_with_an_old_receipt(
    tmp_path: Path,
) -> None:
    """Outage receipt X of TSE A holds transaction n. At the replacing TSE B, sale Y's
    transaction is n too; B fails and recovers: late signing must not finish B's
    transaction n with X's processData (X belongs to A's transaction n), so Y's stays
    open for Y's own receipt and X keeps its outage marking."""
    state = tmp_path / "state"
    x, number = outage_receipt_of_an_old_tse(state)
    with FakeFiskaly() as new:
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        try:
            with running.client() as pos:
                y, y_number, y_total = started_sale(pos, new)
                assert y_number == number
                new.fail_all(status=503)
                pos.add_line(pos.create_sale().sale_id, item_id="1002")
                wait_for(lambda: running.daemon.gateway.outage is not None)
                new.clear_faults()
                recover(pos)
                assert finished_as(new, number) == ("ACTIVE", "")
                assert rows(running, "SELECT state FROM sale_tse WHERE sale_id = ?", x) == [
                    ("OUTAGE",)
                ]
                pos.add_payment(y, CASH, y_total)
                got = pos.post_sale(y).tse
                assert (got.state, got.transaction_number) == ("SIGNED", number)
        finally:
            running.stop()


def test_an_orphan_at_a_new_tse_is_cancelled_though_an_old_receipt_has_its_number(
    tmp_path: Path,
) -> None:
    """The replacing TSE B holds an open transaction n that the register never recorded
    (its row lost with the power); outage receipt X of the old TSE A has A's number n.
    Start-up reconciliation cancels B's n as an orphan: A's numbers are no B's (before,
    X's n hid it, and late signing then finished it with X's receipt)."""
    state = tmp_path / "state"
    x, number = outage_receipt_of_an_old_tse(state)
    with FakeFiskaly() as new:
        orphan = orphan_at(new, tmp_path / "other")
        assert orphan == number
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        try:
            assert running.daemon.gateway.outage is None
            assert finished_as(new, orphan)[0] == "CANCELLED"
            assert rows(running, "SELECT state FROM sale_tse WHERE sale_id = ?", x) == [("OUTAGE",)]
        finally:
            running.stop()


def test_a_sale_open_across_the_replacement_is_signed_by_a_transaction_of_the_new_tse(
    tmp_path: Path,
) -> None:
    """Sale Y was started at TSE A (transaction n) and is still open when A is replaced
    by B, where sale Z then starts B's transaction n. Y's post starts a transaction of
    its own at B and is signed with it: it neither finishes Z's transaction n with Y's
    receipt nor takes Z's row."""
    state = tmp_path / "state"
    with FakeFiskaly() as old:
        running = start_in_thread(state, fiskaly_config(old, timeout_ms=1500))
        try:
            with running.client() as pos:
                seed(pos)
                y, number, y_total = started_sale(pos, old)
        finally:
            running.stop()
    with FakeFiskaly() as new:
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        try:
            with running.client() as pos:
                assert running.daemon.gateway.outage is None
                z, z_number, _ = started_sale(pos, new)
                assert z_number == number
                pos.add_payment(y, CASH, y_total)
                got = pos.post_sale(y).tse
                assert got.state == "SIGNED"
                assert got.transaction_number != number
                assert finished_as(new, number) == ("ACTIVE", "")
                assert rows(
                    running, "SELECT state, transaction_number FROM sale_tse WHERE sale_id = ?", z
                ) == [("STARTED", number)]
        finally:
            running.stop()


def _schema_26(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, [(v, sql) for v, sql in _migrations() if v <= 26]) == 26
    return conn


def test_a_schema_26_database_keeps_its_fiscal_rows_and_numbers_per_tse(tmp_path: Path) -> None:
    """A register's database at schema 26 is migrated: every sale_tse row stays as it
    was (its serial too: a started row that carried none keeps none), and from then on
    a transaction number is unique per TSE only, so a replaced TSE's number n can be
    stored next to the old TSE's n (without taking its row)."""
    conn = _schema_26(tmp_path / "posd.sqlite3")
    cols = "sale_id, client_id, transaction_number, state, tse_serial, signature, process_data"
    old = [
        ("S1", "C1", 1, "SIGNED", "aa", "sig1", "Beleg^1"),
        ("S2", "C1", 2, "OUTAGE", "aa", "", "Beleg^2"),
        ("S3", "C1", 3, "STARTED", "", "", ""),
        ("S4", "C1", None, "OUTAGE", "", "", "Beleg^4"),
    ]
    conn.executemany(f"INSERT INTO sale_tse ({cols}) VALUES (?,?,?,?,?,?,?)", old)
    assert migrate(conn) == len(_migrations())
    assert conn.execute(f"SELECT {cols} FROM sale_tse ORDER BY sale_id").fetchall() == old
    # the new TSE "bb" numbers from 1 again: stored beside the old TSE's 1 and 2
    fstore.save(conn, fstore.SaleTse("S5", "C1", 1, fstore.STARTED, tse_serial="bb"))
    fstore.save(conn, fstore.SaleTse("S6", "C1", 2, fstore.SIGNED, tse_serial="bb"))
    assert conn.execute(f"SELECT {cols} FROM sale_tse WHERE sale_id < 'S5'").fetchall() == old
    # the same TSE's number twice is another sale's row: refused, never replaced
    with pytest.raises(sqlite3.IntegrityError):
        fstore.save(conn, fstore.SaleTse("S7", "C1", 1, fstore.STARTED, tse_serial="aa"))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            f"INSERT INTO sale_tse ({cols}) VALUES ('S8', 'C1', 2, 'STARTED', 'bb', '', '')"
        )
    assert conn.execute("SELECT sale_id FROM sale_tse ORDER BY sale_id").fetchall() == [
        (s,) for s in ("S1", "S2", "S3", "S4", "S5", "S6")
    ]
    # a sale's own row is saved again as it goes on (started, then signed)
    fstore.save(conn, fstore.SaleTse("S5", "C1", 1, fstore.SIGNED, tse_serial="bb"))
    assert conn.execute("SELECT state FROM sale_tse WHERE sale_id = 'S5'").fetchone() == ("SIGNED",)
    conn.close()
