"""The outage log (ListOutages, the outage CSV) is read in time linear in what it holds.

It runs on the database thread, so every post waits behind it. Read outage by outage,
each outage scanned all cash movements (nothing indexes their outage number): 300
outages (a flapping TSE numbers each flap) and 10,000 movements cost 0.34 s. Counted
here in SQLite VM steps (deterministic) on a real database file with the shipped
schema; and the log it reads is the one each outage's own record gives."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posd_daemon.store import fiscal as fstore
from posd_daemon.store.database import open_database
from posd_daemon.store.timeutil import to_db

OUTAGES = 300
MOVEMENTS = 5_000
STEP = 1_000


def steps(conn: sqlite3.Connection) -> tuple[list[fstore.Outage], int]:
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    conn.set_progress_handler(tick, STEP)
    try:
        return fstore.list_outages(conn), count[0] * STEP
    finally:
        conn.set_progress_handler(None, STEP)


def fill(conn: sqlite3.Connection) -> None:
    t0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
    conn.execute("BEGIN")
    for n in range(1, OUTAGES + 1):
        began = t0 + timedelta(hours=n)
        record = fstore.Outage(
            n, began, None, "HTTP_503", "down", "fiskaly", "ab" * 32, "REG-1", "REG-1", "1", "p"
        )
        number = fstore.insert_outage(conn, record)
        assert number == n
        fstore.close_outage(conn, n, began + timedelta(minutes=30))
        for i in range(3):
            fstore.add_outage_receipt(
                conn, n, n * 10 + i, f"sale-{n}-{i}", began + timedelta(minutes=i)
            )
    rows = [
        (
            i + 1,
            to_db(t0 + timedelta(minutes=i)),
            # every 50th movement was recorded in an outage
            (i // 50) + 1 if i % 50 == 0 else None,
        )
        for i in range(MOVEMENTS)
    ]
    conn.executemany(
        "INSERT INTO cash_movements (register_id, number, kind, amount, currency, reason,"
        " operator_id, created_at, tse_state, outage_number)"
        " VALUES ('REG-1', ?, 'DEPOSIT', 100, 'EUR', 'Wechsel', '1', ?, 'OUTAGE', ?)",
        rows,
    )
    conn.execute("COMMIT")


def test_the_outage_log_is_read_in_time_linear_in_its_size(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "posd.sqlite3")
    try:
        fill(conn)
        listed, cost = steps(conn)
        # the log is what each outage's own record says, oldest first
        assert [o.outage_number for o in listed] == list(range(1, OUTAGES + 1))
        assert listed == [fstore.get_outage(conn, n) for n in range(1, OUTAGES + 1)]
        assert listed[0].movements and listed[0].movements[0].label == "K1"
        assert listed[0].vorgaenge == ("K1", "10", "11", "12")
        assert listed[-1].movements == ()
        # outages x movements = 1,500,000 rows visited when read outage by outage;
        # a few hundred thousand steps when each table is read once
        assert cost < 1_000_000, cost
    finally:
        conn.close()
