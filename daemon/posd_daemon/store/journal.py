"""The append-only, hash-chained journal.

Each record's hash is SHA-256 over a canonical encoding of its fields and the previous
record's hash, so changing, removing or reordering any record breaks the chain from
that record on. The chain alone cannot tell that records were removed from its END:
``journal_head`` (schema 15) holds the last seq and hash, moved by a trigger in the
same transaction as each append and protected like the journal, and :func:`verify`
compares it with the chain's end. It also checks that every posted receipt has its
``SALE_POSTED`` record.
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


#: one encoder for every record: json.dumps with these options builds a new encoder per
#: call, which a post's record (a call per field) paid some 70 times
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The journal's JSON: keys sorted, no spaces, UTF-8 text as is; exactly
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``."""
    return _CANONICAL.encode(value)


def record_hash(
    seq: int, recorded_at: str, kind: str, register_id: str, ref: str, payload: str, prev: str
) -> str:
    material = canonical_json([seq, recorded_at, kind, register_id, ref, payload, prev])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class EncodedPayload:
    """A payload encoded ahead, field by field, for a record whose last fields come later
    (a post's TSE signature): the fields known early are encoded while the caller waits
    for the rest, and :attr:`body` then only joins them. The body is exactly
    :func:`canonical_json` of the whole payload (its keys sorted, as ``sort_keys`` does)."""

    __slots__ = ("_fields",)

    def __init__(self, payload: dict[str, Any]) -> None:
        #: key -> its '"key":value' member, ready to join
        self._fields = {key: _member(key, value) for key, value in payload.items()}

    def set(self, key: str, value: Any) -> None:
        self._fields[key] = _member(key, value)

    @property
    def body(self) -> str:
        fields = self._fields
        return "{" + ",".join([fields[key] for key in sorted(fields)]) + "}"


def _member(key: str, value: Any) -> str:
    return f"{canonical_json(key)}:{canonical_json(value)}"


def append(
    conn: sqlite3.Connection,
    *,
    kind: str,
    register_id: str,
    ref: str,
    payload: dict[str, Any] | EncodedPayload,
    when: datetime,
) -> int:
    """Appends one record inside the caller's transaction; returns its sequence number."""
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (1, GENESIS) if row is None else (int(row[0]) + 1, str(row[1]))
    recorded_at = to_db(when)
    body = payload.body if isinstance(payload, EncodedPayload) else canonical_json(payload)
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
    """Walks the whole chain, then compares its end with the journal head and the posted
    receipts with their records; names the first problem found."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    posted: set[tuple[str, str]] = set()  # (register_id, "receipt:N") of SALE_POSTED
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
        if kind == POSTED_KIND:
            posted.add((register_id, ref))
        prev = stored
        expected_seq += 1
    last = expected_seq - 1
    problem = _head_problem(conn, last, prev)
    if problem:
        return VerifyResult(False, checked, last + 1, problem)
    for register_id, number in conn.execute(
        "SELECT register_id, receipt_number FROM sales WHERE receipt_number IS NOT NULL"
        " ORDER BY register_id, receipt_number"
    ):
        if (register_id, f"receipt:{number}") not in posted:
            return VerifyResult(
                False,
                checked,
                last + 1,
                f"receipt {number} (register {register_id}) is posted but has no"
                f" {POSTED_KIND} record in the journal",
            )
    return VerifyResult(True, checked)


#: The journal record of a posted receipt (services/sales.py), ref "receipt:<number>".
POSTED_KIND = "SALE_POSTED"


def _head_problem(conn: sqlite3.Connection, last: int, last_hash: str) -> str:
    """What is wrong with the end of the chain (record ``last``) against the head."""
    try:
        row = conn.execute("SELECT seq, hash FROM journal_head WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return ""  # a database from before schema 15 (offline verify): no head yet
    if row is None:
        return "the journal head is missing (deleted behind posd's back)"
    head, head_hash = int(row[0]), str(row[1])
    if head > last:
        gone = f"record {last + 1}" if head == last + 1 else f"records {last + 1}..{head}"
        return f"{gone} missing at the end: the chain ends at {last}, its head says {head}"
    if head < last:
        return (
            f"records {head + 1}..{last} are past the journal head ({head}):"
            " appended behind posd's back"
        )
    if head_hash != last_hash:
        return f"record {last} does not match the journal head (hash differs)"
    return ""


def count(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
    return int(row[0])


def seq_by_ref(conn: sqlite3.Connection, kind: str, ref: str) -> int | None:
    """The seq of a record of ``kind`` with ``ref``; None when there is none."""
    row = conn.execute("SELECT seq FROM journal WHERE kind = ? AND ref = ?", (kind, ref)).fetchone()
    return None if row is None else int(row[0])


def page_of_kinds(
    conn: sqlite3.Connection,
    kinds: list[str],
    *,
    sale_id: str,
    operator_id: str,
    before: int,
    limit: int,
) -> list[tuple[Any, ...]]:
    """A page of records of the kinds (of the sale, the operator when given), newest first."""
    sql = (
        "SELECT seq, recorded_at, kind, ref, payload FROM journal WHERE seq < ? AND kind IN ("
        + ",".join("?" * len(kinds))
        + ")"
    )
    args: list[Any] = [before, *kinds]
    if sale_id:
        sql += " AND json_extract(payload, '$.sale_id') = ?"
        args.append(sale_id)
    if operator_id:
        sql += " AND json_extract(payload, '$.operator_id') = ?"
        args.append(operator_id)
    return conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
