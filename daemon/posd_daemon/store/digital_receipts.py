"""Digital receipt tokens (schema 14): token -> posted sale, with an expiry."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from posd_daemon.store.timeutil import from_db, to_db


def add(
    conn: sqlite3.Connection,
    token: str,
    sale_id: str,
    now: datetime,
    expires: datetime,
    delivery: str = "PAPER",
) -> None:
    conn.execute(
        "INSERT INTO digital_receipts (token, sale_id, created_at, expires_at, delivery)"
        " VALUES (?, ?, ?, ?, ?)",
        (token, sale_id, to_db(now), to_db(expires), delivery),
    )


def sale_of(conn: sqlite3.Connection, token: str, now: datetime) -> str | None:
    """The sale of a token not yet expired at ``now`` (a primary-key lookup)."""
    row = conn.execute(
        "SELECT sale_id FROM digital_receipts WHERE token = ? AND expires_at > ?",
        (token, to_db(now)),
    ).fetchone()
    return None if row is None else str(row[0])


def token_of(conn: sqlite3.Connection, sale_id: str, now: datetime) -> tuple[str, datetime] | None:
    """The sale's token and its expiry while it is valid at ``now``."""
    found = link_of(conn, sale_id, now)
    return None if found is None else (found[0], found[1])


def link_of(
    conn: sqlite3.Connection, sale_id: str, now: datetime
) -> tuple[str, datetime, str] | None:
    """The sale's token, its expiry and its delivery while it is valid at ``now``."""
    row = conn.execute(
        "SELECT token, expires_at, delivery FROM digital_receipts"
        " WHERE sale_id = ? AND expires_at > ?",
        (sale_id, to_db(now)),
    ).fetchone()
    return None if row is None else (str(row[0]), from_db(row[1]), str(row[2]))


def prune(conn: sqlite3.Connection, now: datetime) -> int:
    """Deletes the tokens expired at ``now``; returns how many."""
    return conn.execute(
        "DELETE FROM digital_receipts WHERE expires_at <= ?", (to_db(now),)
    ).rowcount
