"""Persistence of TSE-signed Vorgänge that are no sale, between start and record
(schema 18, ``tse_pending_events``; see services/fiscal.py ``FiscalGateway.event_signer``)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from posd_daemon.store.timeutil import opt_from_db, to_db

PENDING = "PENDING"
DONE = "DONE"
OUTAGE = "OUTAGE"
CANCELLED = "CANCELLED"

MOVEMENT = "MOVEMENT"
SHIFT_CLOSE = "SHIFT_CLOSE"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    event_id: int
    kind: str
    state: str
    client_id: str
    transaction_number: int
    start_time: datetime | None
    start_counter: int | None
    process_data: str
    payload: dict[str, Any]
    method: str
    request_id: str
    digest: str
    created_at: datetime | None
    #: the TSE that started the transaction (schema 28); None: written before, unknown
    tse_serial: str | None = None


_COLS = (
    "event_id, kind, state, client_id, transaction_number, start_time, start_counter,"
    " process_data, payload, method, request_id, digest, created_at, tse_serial"
)


def _row(r: tuple[Any, ...]) -> PendingEvent:
    return PendingEvent(
        event_id=int(r[0]),
        kind=str(r[1]),
        state=str(r[2]),
        client_id=str(r[3]),
        transaction_number=int(r[4]),
        start_time=opt_from_db(r[5]),
        start_counter=None if r[6] is None else int(r[6]),
        process_data=str(r[7]),
        payload=json.loads(str(r[8])),
        method=str(r[9]),
        request_id=str(r[10]),
        digest=str(r[11]),
        created_at=opt_from_db(r[12]),
        tse_serial=None if r[13] is None else str(r[13]),
    )


def insert(
    conn: sqlite3.Connection,
    *,
    kind: str,
    client_id: str,
    transaction_number: int,
    start_time: datetime | None,
    start_counter: int | None,
    process_data: str,
    payload: dict[str, Any],
    method: str,
    request_id: str,
    digest: str,
    when: datetime,
    tse_serial: str,
) -> int:
    cur = conn.execute(
        "INSERT INTO tse_pending_events (kind, state, client_id, transaction_number,"
        " start_time, start_counter, process_data, payload, method, request_id, digest,"
        " created_at, tse_serial) VALUES (?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            client_id,
            transaction_number,
            to_db(start_time) if start_time else None,
            start_counter,
            process_data,
            json.dumps(payload, sort_keys=True, separators=(",", ":")),
            method,
            request_id,
            digest,
            to_db(when),
            tse_serial,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def get(conn: sqlite3.Connection, event_id: int) -> PendingEvent | None:
    r = conn.execute(
        f"SELECT {_COLS} FROM tse_pending_events WHERE event_id = ?", (event_id,)
    ).fetchone()
    return None if r is None else _row(r)


def by_state(conn: sqlite3.Connection, state: str) -> list[PendingEvent]:
    rows = conn.execute(
        f"SELECT {_COLS} FROM tse_pending_events WHERE state = ? ORDER BY event_id", (state,)
    )
    return [_row(r) for r in rows]


def pending_for_request(
    conn: sqlite3.Connection, method: str, request_id: str, process_data: str, tse_serial: str
) -> PendingEvent | None:
    """The call's transaction for ``process_data`` still PENDING (its finish failed in
    an earlier attempt). By its data: a call may sign several Vorgänge (a close's
    differences per currency), and each retry must take over its own transaction. Only
    one of the TSE ``tse_serial`` (schema 28): a replaced TSE's transaction n is not this
    TSE's n (a row left PENDING for a person, or written before schema 28, is not taken
    over: the retry starts a transaction of its own)."""
    r = conn.execute(
        f"SELECT {_COLS} FROM tse_pending_events WHERE request_id = ? AND method = ?"
        " AND process_data = ? AND state = 'PENDING' AND tse_serial = ?"
        " ORDER BY event_id DESC LIMIT 1",
        (request_id, method, process_data, tse_serial),
    ).fetchone()
    return None if r is None else _row(r)


def resolve(conn: sqlite3.Connection, event_id: int, state: str, when: datetime) -> bool:
    """PENDING -> ``state``; False when it was no longer PENDING."""
    cur = conn.execute(
        "UPDATE tse_pending_events SET state = ?, resolved_at = ?"
        " WHERE event_id = ? AND state = 'PENDING'",
        (state, to_db(when), event_id),
    )
    return cur.rowcount == 1


def set_state(conn: sqlite3.Connection, event_id: int, state: str, when: datetime) -> None:
    conn.execute(
        "UPDATE tse_pending_events SET state = ?, resolved_at = ? WHERE event_id = ?",
        (state, to_db(when), event_id),
    )
