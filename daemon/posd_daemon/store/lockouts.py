"""Operators' failed log-ins and lock-outs, kept across restarts (see services/auth).

Times are wall-clock UTC (timeutil form): the monotonic clock the daemon counts with in
memory starts anew with each boot."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from posd_daemon.store.timeutil import from_db, opt_from_db, to_db


@dataclass(frozen=True, slots=True)
class LockoutState:
    operator_id: str
    #: the failed tries that still count, oldest first
    failures: tuple[datetime, ...]
    #: when the last lock-out of the run ends (None: no lock-out in this run)
    locked_until: datetime | None
    #: lock-outs in a row so far
    streak: int
    #: after this the state means nothing any more
    expires_at: datetime


def save(conn: sqlite3.Connection, state: LockoutState) -> None:
    conn.execute(
        "INSERT INTO operator_lockouts (operator_id, failures, locked_until, streak, expires_at)"
        " VALUES (?,?,?,?,?) ON CONFLICT(operator_id) DO UPDATE SET"
        " failures = excluded.failures, locked_until = excluded.locked_until,"
        " streak = excluded.streak, expires_at = excluded.expires_at",
        (
            state.operator_id,
            json.dumps([to_db(t) for t in state.failures]),
            None if state.locked_until is None else to_db(state.locked_until),
            state.streak,
            to_db(state.expires_at),
        ),
    )


def delete(conn: sqlite3.Connection, operator_id: str) -> None:
    conn.execute("DELETE FROM operator_lockouts WHERE operator_id = ?", (operator_id,))


def prune(conn: sqlite3.Connection, now: datetime) -> None:
    conn.execute("DELETE FROM operator_lockouts WHERE expires_at < ?", (to_db(now),))


def load_all(conn: sqlite3.Connection) -> tuple[list[LockoutState], list[str]]:
    """Every row that can be read, and the operator ids of those that cannot (a damaged
    row: the caller drops it rather than guess at what it meant)."""
    states: list[LockoutState] = []
    unreadable: list[str] = []
    for operator_id, failures, until, streak, expires in conn.execute(
        "SELECT operator_id, failures, locked_until, streak, expires_at FROM operator_lockouts"
    ):
        try:
            times = json.loads(failures)
            if not isinstance(times, list) or not all(isinstance(t, str) for t in times):
                raise ValueError("failures: not a list of times")
            if type(streak) is not int or streak < 0:
                raise ValueError("streak: not a count")
            states.append(
                LockoutState(
                    str(operator_id),
                    tuple(sorted(from_db(t) for t in times)),
                    opt_from_db(until),
                    streak,
                    from_db(expires),
                )
            )
        except (TypeError, ValueError):  # json.JSONDecodeError is a ValueError
            unreadable.append(str(operator_id))
    return states, unreadable
