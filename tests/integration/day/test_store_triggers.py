"""Migration 003 on a real SQLite file: Vorgänge from the sales trigger, and the one
change a closed sale still accepts (an outage receipt signed after TSE recovery)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.database import open_database, transaction

NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)
MANAGER = Operator("1", "M", "manager", frozenset(Permission))


def _posted_sale(conn: sqlite3.Connection, sale_id: str, number: int) -> None:
    conn.execute(
        "INSERT INTO sales (sale_id, register_id, operator_id, currency, state, created_at,"
        " posted_at, receipt_number, revision, next_line_no, next_payment_no, total)"
        " VALUES (?, 'REG-1', '1', 'EUR', 'POSTED', ?, ?, ?, 1, 2, 2, 100)",
        (sale_id, "2024-05-31T11:00:00.000000Z", "2024-05-31T11:01:00.000000Z", number),
    )


def test_outage_receipt_of_a_closed_period_can_only_gain_its_late_signature(
    tmp_path: Path,
) -> None:
    conn = open_database(tmp_path / "posd.sqlite3")
    day = DayCommands(DaySettings("REG-1", "EUR", UTC), lambda: NOW, lambda: None)
    outage = fstore.SaleTse(
        "s1",
        "REG-1",
        7,
        fstore.OUTAGE,
        process_type="Kassenbeleg-V1",
        process_data="Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar",
        outage_number=1,
    )
    with transaction(conn):
        _posted_sale(conn, "s1", 1)
        fstore.save(conn, outage)
    (bon, kind, shift) = conn.execute(
        "SELECT bon_id, kind, shift_id FROM register_transactions WHERE sale_id = 's1'"
    ).fetchone()
    assert (bon, kind, shift) == (1, "SALE", None)
    with transaction(conn):
        day.z_closing(Tx(conn), MANAGER)
    late = replace(outage, state=fstore.SIGNED_LATE, signature="c2ln", finish_counter=9)
    with transaction(conn):
        fstore.save(conn, late)  # INSERT OR REPLACE, as services/fiscal._sign_late does
    assert fstore.get(conn, "s1") == late
    for changed in (
        replace(late, process_data="Beleg^2.00_0.00_0.00_0.00_0.00^2.00:Bar"),
        replace(late, signature="other"),
    ):
        with pytest.raises(sqlite3.IntegrityError), transaction(conn):
            fstore.save(conn, changed)
    conn.close()
