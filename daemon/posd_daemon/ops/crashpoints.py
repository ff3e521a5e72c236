"""Fault injection for crash tests: SIGKILL the daemon at a named point.

Off unless ``$POSD_CRASHPOINTS`` is set (read once at start), e.g.
``POSD_CRASHPOINTS=post.in_transaction:3`` kills the process the 3rd time that point
is reached; ``post.in_transaction:1:raise`` instead raises the error a failing write
raises (``sqlite3.OperationalError: disk I/O error``) there, once, and the daemon
goes on. Points: ``tse.after_start`` (TSE transaction started, not recorded),
``post.after_tse_finish`` (TSE finished the receipt, nothing committed),
``reconcile.orphan_journaled`` (orphan journaled at start-up, not yet cancelled),
``post.in_transaction`` (all rows written, not committed),
``post.after_commit`` (committed, answer not sent), ``print.after_device`` (printed,
job not yet marked done), ``outbox.print_queue``/``outbox.drawer_queue`` (an outbox
loop about to read its queue), ``cancel.in_transaction`` (a cancellation written, not
committed), ``transfer.in_transaction`` (a parked sale's hand-over written, not
committed), ``event.after_start`` (the TSE started a cash movement's or a shift
difference's transaction, nothing recorded), ``event.before_finish`` (its pending row
committed, not finished), ``event.after_finish`` (finished at the TSE, the record not
committed), ``event.in_transaction`` (the record written, not committed),
``reconcile.event_journaled`` (a pending Vorgang's cancellation journaled at start-up,
not yet cancelled at the TSE), ``resume.after_transfer`` (another register handed a
parked sale over to this one, not yet imported). Used only by the e2e tests; costs one dict lookup
otherwise.
"""

from __future__ import annotations

import os
import signal
import sqlite3

_armed: dict[str, int] = {}
_raising: set[str] = set()


def arm_from_env(value: str | None = None) -> None:
    text = os.environ.get("POSD_CRASHPOINTS", "") if value is None else value
    _armed.clear()
    _raising.clear()
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, rest = part.partition(":")
        nth, _, action = rest.partition(":")
        _armed[name] = int(nth) if nth.isdigit() else 1
        if action == "raise":
            _raising.add(name)


def armed() -> frozenset[str]:
    """The points still armed (a test checks that its fault was injected)."""
    return frozenset(_armed)


def reached(name: str) -> None:
    if not _armed:
        return
    left = _armed.get(name)
    if left is None:
        return
    if left <= 1:
        if name in _raising:
            del _armed[name]
            raise sqlite3.OperationalError(f"disk I/O error (injected at {name})")
        os.kill(os.getpid(), signal.SIGKILL)
    _armed[name] = left - 1
