"""Pending migrations apply together: a failing one leaves the database as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from posd_daemon.store.database import StoreError, _migrations, connect, migrate

STEPS = [
    (1, "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);"),
    (2, "CREATE TABLE b (y INTEGER);"),
    (3, "ALTER TABLE a ADD COLUMN z TEXT;\nINSERT INTO nowhere VALUES (2);"),
]


def tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [name for (name,) in rows]


def test_a_failing_migration_leaves_the_database_at_its_old_version(tmp_path: Path) -> None:
    conn = connect(tmp_path / "posd.db")
    assert migrate(conn, STEPS[:1]) == 1
    with pytest.raises(StoreError, match="migration 3 failed: no such table: nowhere"):
        migrate(conn, STEPS)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert tables(conn) == ["a"]  # 2's table and 3's column rolled back with 3
    assert [c[1] for c in conn.execute("PRAGMA table_info(a)")] == ["x"]
    assert not conn.in_transaction
    # the fixed migration applies on the next start, from where the database is
    fixed = [*STEPS[:2], (3, "ALTER TABLE a ADD COLUMN z TEXT;")]
    assert migrate(conn, fixed) == 3
    assert tables(conn) == ["a", "b"]
    assert conn.execute("SELECT x, z FROM a").fetchall() == [(1, None)]


def test_the_shipped_schema_comes_in_one_transaction_and_stays(tmp_path: Path) -> None:
    conn = connect(tmp_path / "posd.db")
    commits: list[str] = []
    conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    latest = migrate(conn)
    assert latest == len(_migrations()) and commits == ["COMMIT"]
    assert migrate(conn) == latest and commits == ["COMMIT"]  # nothing pending: no write
    conn.close()
    again = connect(tmp_path / "posd.db")
    assert again.execute("PRAGMA user_version").fetchone()[0] == latest
