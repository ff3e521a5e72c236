"""First answers to mutation request ids, stored in the mutation's own transaction."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from posd_daemon.store.timeutil import to_db


def lookup(conn: sqlite3.Connection, request_id: str) -> tuple[str, str, bytes] | None:
    row = conn.execute(
        "SELECT method, request_digest, response FROM idempotency WHERE request_id = ?",
        (request_id,),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), bytes(row[2]))


def store(
    conn: sqlite3.Connection,
    request_id: str,
    method: str,
    digest: str,
    response: bytes,
    when: datetime,
) -> None:
    conn.execute(
        "INSERT INTO idempotency (request_id, method, request_digest, response, created_at)"
        " VALUES (?,?,?,?,?)",
        (request_id, method, digest, response, to_db(when)),
    )


def prune(conn: sqlite3.Connection, older_than: datetime, *, limit: int = 10_000) -> int:
    """Deletes up to ``limit`` answers stored before ``older_than`` (a backlog goes in
    several short transactions, never one that holds the writer for seconds)."""
    cur = conn.execute(
        "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency"
        " WHERE created_at < ? LIMIT ?)",
        (to_db(older_than), limit),
    )
    return cur.rowcount
