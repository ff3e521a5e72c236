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


#: meta keys holding a fingerprint of each operator's PIN hash at the last start
_PIN_KEY = "operator_pin:"


def end_for_changed_pins(conn: sqlite3.Connection, pin_fingerprints: dict[str, str]) -> list[str]:
    """Ends the sessions of every operator whose PIN changed since the last start, or who
    is no longer configured (the fingerprints of the last start are kept in ``meta``).
    Returns their ids. A configured operator seen for the first time keeps any session
    (there is nothing to compare with: the first start after an upgrade ends none of a
    configured operator's)."""
    # Every key beginning with the prefix, and only those: SQLite compares TEXT as UTF-8
    # bytes, so the bound is the prefix with its last character's successor (";" follows
    # ":"). A bound of prefix + U+FFFF left out ids beginning with a character beyond it
    # (an emoji): such an operator was "seen for the first time" at every start, and a
    # changed PIN never ended its sessions.
    stored = {
        str(k)[len(_PIN_KEY) :]: str(v)
        for k, v in conn.execute(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ?",
            (_PIN_KEY, _PIN_KEY[:-1] + chr(ord(_PIN_KEY[-1]) + 1)),
        )
    }
    ended = sorted(
        op for op, seen in stored.items() if pin_fingerprints.get(op) not in (None, seen)
    ) + sorted(op for op in stored if op not in pin_fingerprints)
    # Sessions of an operator not configured now end too, fingerprint or not (one removed
    # before fingerprints were kept): else, once an operator of that id is configured
    # again (a new holder), "seen for the first time" would hand them the old sessions.
    ended += sorted(
        {str(r[0]) for r in conn.execute("SELECT DISTINCT operator_id FROM sessions")}
        - pin_fingerprints.keys()
        - set(ended)
    )
    for op in ended:
        conn.execute("DELETE FROM sessions WHERE operator_id = ?", (op,))
    for op in stored.keys() - pin_fingerprints.keys():
        conn.execute("DELETE FROM meta WHERE key = ?", (_PIN_KEY + op,))
    for op, fingerprint in pin_fingerprints.items():
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_PIN_KEY + op, fingerprint),
        )
    return ended
