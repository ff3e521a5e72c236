"""The durable outbox of side effects (print jobs, drawer kicks)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from posd_daemon.store.timeutil import from_db, to_db

PENDING = "PENDING"
DONE = "DONE"
#: removed without being done (DiscardPrintJob), its reason kept as the last error
DISCARDED = "DISCARDED"


@dataclass(frozen=True, slots=True)
class OutboxJob:
    job_id: int
    kind: str
    ref: str
    receipt_number: int
    payload: dict[str, Any]
    state: str
    attempts: int
    last_error: str
    created_at: datetime


def enqueue(
    conn: sqlite3.Connection,
    *,
    kind: str,
    ref: str,
    receipt_number: int | None,
    payload: dict[str, Any],
    when: datetime,
) -> int:
    cur = conn.execute(
        "INSERT INTO outbox (kind, ref, receipt_number, payload, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (kind, ref, receipt_number, json.dumps(payload, sort_keys=True), PENDING, to_db(when)),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _job(row: tuple[Any, ...]) -> OutboxJob:
    return OutboxJob(
        job_id=int(row[0]),
        kind=str(row[1]),
        ref=str(row[2]),
        receipt_number=int(row[3] or 0),
        payload=json.loads(row[4]),
        state=str(row[5]),
        attempts=int(row[6]),
        last_error=str(row[7]),
        created_at=from_db(row[8]),
    )


_COLS = "job_id, kind, ref, receipt_number, payload, state, attempts, last_error, created_at"


def pending(
    conn: sqlite3.Connection, limit: int = 50, kind: str = "", after_id: int = 0
) -> list[OutboxJob]:
    """Pending jobs in queue order (of one ``kind`` when given), from after ``after_id``."""
    if kind:
        rows = conn.execute(
            f"SELECT {_COLS} FROM outbox WHERE state = ? AND kind = ? AND job_id > ?"
            " ORDER BY job_id LIMIT ?",
            (PENDING, kind, after_id, limit),
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {_COLS} FROM outbox WHERE state = ? AND job_id > ? ORDER BY job_id LIMIT ?",
            (PENDING, after_id, limit),
        ).fetchall()
    return [_job(r) for r in rows]


def list_jobs(
    conn: sqlite3.Connection, *, include_done: bool, after_id: int, limit: int
) -> list[OutboxJob]:
    if include_done:
        rows = conn.execute(
            f"SELECT {_COLS} FROM outbox WHERE job_id > ? ORDER BY job_id LIMIT ?",
            (after_id, limit),
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {_COLS} FROM outbox WHERE state = ? AND job_id > ? ORDER BY job_id LIMIT ?",
            (PENDING, after_id, limit),
        ).fetchall()
    return [_job(r) for r in rows]


def jobs_of(conn: sqlite3.Connection, ref: str) -> list[OutboxJob]:
    """Every job of ``ref`` (a sale's receipt prints and copies, a kick), done or not,
    in queue order."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM outbox WHERE ref = ? ORDER BY job_id", (ref,)
    ).fetchall()
    return [_job(r) for r in rows]


def mark_synced(conn: sqlite3.Connection, when: datetime) -> None:
    """Notes ``when`` the outbox last made its relaxed commits durable: a write of its
    own, so that the fsync'd commit carrying it covers every earlier relaxed one."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('outbox_synced_at', ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (when.isoformat(),),
    )


def mark_done(conn: sqlite3.Connection, job_id: int, when: datetime, note: str = "") -> None:
    """Mark a pending job done (a discarded one stays so: DiscardPrintJob's journal
    record speaks for it); ``note`` (kept as its last error) says when it ended without
    the device doing it (a drawer kick expired, or not repeated after a restart)."""
    if not note:
        conn.execute(
            "UPDATE outbox SET state = ?, done_at = ?, attempts = attempts + 1"
            " WHERE job_id = ? AND state = ?",
            (DONE, to_db(when), job_id, PENDING),
        )
        return
    conn.execute(
        "UPDATE outbox SET state = ?, done_at = ?, attempts = attempts + 1, last_error = ?"
        " WHERE job_id = ? AND state = ?",
        (DONE, to_db(when), note[:500], job_id, PENDING),
    )


def mark_failed(
    conn: sqlite3.Connection, job_id: int, error: str, payload: dict[str, Any] | None = None
) -> None:
    """Count a failed attempt; ``payload`` replaces the job's (a print cut short is
    retried as a copy)."""
    if payload is None:
        conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?"
            " WHERE job_id = ? AND state = ?",
            (error[:500], job_id, PENDING),
        )
        return
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, payload = ?"
        " WHERE job_id = ? AND state = ?",
        (error[:500], json.dumps(payload, sort_keys=True), job_id, PENDING),
    )


def set_payload(conn: sqlite3.Connection, job_id: int, payload: dict[str, Any]) -> bool:
    """Replace a pending job's payload (the outbox worker's "in flight" mark before a
    print or a kick). False: the job is no longer pending (discarded meanwhile)."""
    cur = conn.execute(
        "UPDATE outbox SET payload = ? WHERE job_id = ? AND state = ?",
        (json.dumps(payload, sort_keys=True), job_id, PENDING),
    )
    return cur.rowcount == 1


def get_job(conn: sqlite3.Connection, job_id: int) -> OutboxJob | None:
    row = conn.execute(f"SELECT {_COLS} FROM outbox WHERE job_id = ?", (job_id,)).fetchone()
    return None if row is None else _job(row)


def discard(conn: sqlite3.Connection, job_id: int, when: datetime, note: str) -> bool:
    """Marks a pending job DISCARDED, ``note`` kept as its last error. False: it is not
    pending (done or discarded already)."""
    cur = conn.execute(
        "UPDATE outbox SET state = ?, done_at = ?, last_error = ? WHERE job_id = ? AND state = ?",
        (DISCARDED, to_db(when), note[:500], job_id, PENDING),
    )
    return cur.rowcount == 1


def count_pending(conn: sqlite3.Connection) -> int:
    return int(
        conn.execute("SELECT COUNT(*) FROM outbox WHERE state = ?", (PENDING,)).fetchone()[0]
    )
