"""The append-only, hash-chained journal.

Each record's hash is SHA-256 over a canonical encoding of its fields and the previous
record's hash, so changing, removing or reordering any record breaks the chain from
that record on.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from posd_daemon.store.timeutil import to_db

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(
    seq: int, recorded_at: str, kind: str, register_id: str, ref: str, payload: str, prev: str
) -> str:
    material = canonical_json([seq, recorded_at, kind, register_id, ref, payload, prev])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def append(
    conn: sqlite3.Connection,
    *,
    kind: str,
    register_id: str,
    ref: str,
    payload: dict[str, Any],
    when: datetime,
) -> int:
    """Appends one record inside the caller's transaction; returns its sequence number."""
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (1, GENESIS) if row is None else (int(row[0]) + 1, str(row[1]))
    recorded_at = to_db(when)
    body = canonical_json(payload)
    digest = record_hash(seq, recorded_at, kind, register_id, ref, body, prev)
    conn.execute(
        "INSERT INTO journal (seq, recorded_at, kind, register_id, ref, payload, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, recorded_at, kind, register_id, ref, body, prev, digest),
    )
    return seq


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records_checked: int
    first_bad_sequence: int = 0
    problem: str = ""


def verify(conn: sqlite3.Connection) -> VerifyResult:
    """Walks the whole chain; names the first record that does not verify."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    cur = conn.execute(
        "SELECT seq, recorded_at, kind, register_id, ref, payload, prev_hash, hash"
        " FROM journal ORDER BY seq"
    )
    for seq, recorded_at, kind, register_id, ref, payload, prev_hash, stored in cur:
        checked += 1
        if seq != expected_seq:
            return VerifyResult(
                False, checked, expected_seq, f"record {expected_seq} is missing (next is {seq})"
            )
        if prev_hash != prev:
            return VerifyResult(
                False, checked, seq, f"record {seq} does not link to record {seq - 1}"
            )
        digest = record_hash(seq, recorded_at, kind, register_id, ref, payload, prev_hash)
        if digest != stored:
            return VerifyResult(
                False, checked, seq, f"record {seq} ({kind} {ref}) was altered: hash mismatch"
            )
        try:
            json.loads(payload)
        except ValueError:
            return VerifyResult(False, checked, seq, f"record {seq} payload is not JSON")
        prev = stored
        expected_seq += 1
    return VerifyResult(True, checked)


def count(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
    return int(row[0])
