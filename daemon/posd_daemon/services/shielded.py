"""Work that runs to its end although the call that started it went away.

A finish that the TSE may already have made (a cancellation, the removal of an abandoned
sale) runs in a task of its own, awaited through ``asyncio.shield``: a caller cancelled
by its deadline stops waiting, the task commits all the same. Its outcome must still be
retrieved, or asyncio reports the task's exception as never retrieved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from posd_daemon.domain.errors import DomainError
from posd_daemon.ops import logging as plog

log = plog.get("posd.shielded")


def log_failure(event: str) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback for such a task: a failure is logged as ``event`` (a refusal, a
    DomainError, is the caller's answer and is not)."""

    def outcome(task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None and not isinstance(failure, DomainError):
            log.error(event, error=f"{type(failure).__name__}: {failure}")

    return outcome
