"""Operator sessions. Only a SHA-256 of each token is stored."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from posd_daemon.store.timeutil import from_db, to_db


def create(
    conn: sqlite3.Connection, token_hash: str, operator_id: str, now: datetime, expires: datetime
) -> None:
    conn.execute(
        "INSERT INTO sessions (token_hash, operator_id, created_at, expires_at) VALUES (?,?,?,?)",
        (token_hash, operator_id, to_db(now), to_db(expires)),
    )


def find(conn: sqlite3.Connection, token_hash: str) -> tuple[str, datetime] | None:
    row = conn.execute(
        "SELECT operator_id, expires_at FROM sessions WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    return None if row is None else (str(row[0]), from_db(row[1]))


def delete(conn: sqlite3.Connection, token_hash: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def purge_expired(conn: sqlite3.Connection, now: datetime) -> None:
    conn.execute("DELETE FROM sessions WHERE expires_at < ?", (to_db(now),))
