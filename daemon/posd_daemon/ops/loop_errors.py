"""Errors no caller handled, as the event loop reports them.

asyncio's default handler writes them through the standard ``logging`` module, which the
daemon does not configure: a failing timer callback (or a task whose exception nobody
retrieved) would go to stderr as plain text, uncounted. Here each becomes one JSON line
(``loop_error``, with the traceback) and one count of ``posd_loop_errors_total``; the
daemon keeps running, as it would with the default handler. The test harnesses fail a
test whose daemon reported any.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from prometheus_client import Counter

from posd_daemon.ops import logging as plog

#: how much of the failing handle's or task's repr goes into the log line
_WHERE_CHARS = 300


class LoopErrors:
    """The loop's exception handler of one daemon: logs, counts, remembers the latest."""

    def __init__(self, counter: Counter, *, keep: int = 10) -> None:
        self._counter = counter
        self._log = plog.get("posd.loop")
        #: how many were reported since the start
        self.count = 0
        #: the latest messages (tests show them when they fail)
        self.recent: deque[str] = deque(maxlen=keep)

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(self.handle)

    def handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.count += 1
        self._counter.inc()
        exc = context.get("exception")
        where = context.get("handle") or context.get("task") or context.get("future") or ""
        message = str(context.get("message") or "unhandled error in the event loop")
        if isinstance(exc, BaseException):
            message = f"{message}: {type(exc).__name__}: {exc}"
        self.recent.append(message)
        self._log.error(
            "loop_error",
            message=message,
            where=repr(where)[:_WHERE_CHARS] if where else "",
            exc_info=exc if isinstance(exc, BaseException) else False,
        )
