"""Digital receipt tokens (schema 14): token -> posted sale, with an expiry; revoked
before it (schema 29)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class StoredLink:
    """A token not yet expired, revoked or not."""

    token: str
    sale_id: str
    expires: datetime
    delivery: str
    #: None: not revoked
    revoked: datetime | None
    revoke_reason: str


_LINK = (
    "SELECT token, sale_id, expires_at, delivery, revoked_at, revoke_reason FROM digital_receipts"
)


def _stored(row: tuple[object, ...] | None) -> StoredLink | None:
    if row is None:
        return None
    token, sale_id, expires, delivery, revoked, reason = row
    return StoredLink(
        str(token),
        str(sale_id),
        from_db(str(expires)),
        str(delivery),
        None if revoked is None else from_db(str(revoked)),
        str(reason),
    )


def by_token(conn: sqlite3.Connection, token: str, now: datetime) -> StoredLink | None:
    """A token not yet expired at ``now``, revoked or not (a primary-key lookup)."""
    row = conn.execute(f"{_LINK} WHERE token = ? AND expires_at > ?", (token, to_db(now)))
    return _stored(row.fetchone())


def by_sale(conn: sqlite3.Connection, sale_id: str, now: datetime) -> StoredLink | None:
    """The sale's token not yet expired at ``now``, revoked or not."""
    row = conn.execute(f"{_LINK} WHERE sale_id = ? AND expires_at > ?", (sale_id, to_db(now)))
    return _stored(row.fetchone())


def revoke(conn: sqlite3.Connection, sale_id: str, now: datetime, reason: str) -> bool:
    """Revokes the sale's link not yet expired nor revoked; False: there is none."""
    return (
        conn.execute(
            "UPDATE digital_receipts SET revoked_at = ?, revoke_reason = ?"
            " WHERE sale_id = ? AND expires_at > ? AND revoked_at IS NULL",
            (to_db(now), reason, sale_id, to_db(now)),
        ).rowcount
        == 1
    )


def token_of(conn: sqlite3.Connection, sale_id: str, now: datetime) -> tuple[str, datetime] | None:
    """The sale's token and its expiry while it is valid at ``now`` (not revoked)."""
    found = link_of(conn, sale_id, now)
    return None if found is None else (found[0], found[1])


def link_of(
    conn: sqlite3.Connection, sale_id: str, now: datetime
) -> tuple[str, datetime, str] | None:
    """The sale's token, its expiry and its delivery while it is valid at ``now`` (not
    revoked: a reprint does not print a link that no longer works)."""
    row = conn.execute(
        "SELECT token, expires_at, delivery FROM digital_receipts"
        " WHERE sale_id = ? AND expires_at > ? AND revoked_at IS NULL",
        (sale_id, to_db(now)),
    ).fetchone()
    return None if row is None else (str(row[0]), from_db(row[1]), str(row[2]))


def prune(conn: sqlite3.Connection, now: datetime) -> int:
    """Deletes the tokens expired at ``now``; returns how many."""
    return conn.execute(
        "DELETE FROM digital_receipts WHERE expires_at <= ?", (to_db(now),)
    ).rowcount
