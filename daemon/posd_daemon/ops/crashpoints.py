"""Fault injection for crash tests: SIGKILL the daemon at a named point.

Off unless ``$POSD_CRASHPOINTS`` is set (read once at start), e.g.
``POSD_CRASHPOINTS=post.in_transaction:3`` kills the process the 3rd time that point
is reached. Points: ``tse.after_start`` (TSE transaction started, not recorded),
``post.after_tse_finish`` (TSE finished the receipt, nothing committed),
``reconcile.orphan_journaled`` (orphan journaled at start-up, not yet cancelled),
``post.in_transaction`` (all rows written, not committed),
``post.after_commit`` (committed, answer not sent), ``print.after_device`` (printed,
job not yet marked done). Used only by the e2e tests; costs one dict lookup otherwise.
"""

from __future__ import annotations

import os
import signal

_armed: dict[str, int] = {}


def arm_from_env(value: str | None = None) -> None:
    text = os.environ.get("POSD_CRASHPOINTS", "") if value is None else value
    _armed.clear()
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, nth = part.partition(":")
        _armed[name] = int(nth) if nth.isdigit() else 1


def reached(name: str) -> None:
    if not _armed:
        return
    left = _armed.get(name)
    if left is None:
        return
    if left <= 1:
        os.kill(os.getpid(), signal.SIGKILL)
    _armed[name] = left - 1
