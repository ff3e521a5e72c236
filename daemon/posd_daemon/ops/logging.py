"""structlog setup: JSON lines on stdout, a console renderer on a tty; RPC summary lines
written in batches (:class:`Summaries`)."""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
import time
import weakref
from datetime import UTC, datetime
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def iso_utc(when: float) -> str:
    """A POSIX time as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes it."""
    return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


def _timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The time of the line, unless it brings its own (a summary written later)."""
    if "timestamp" not in event_dict:
        event_dict["timestamp"] = iso_utc(time.time())
    return event_dict


def _summaries_first(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Before any other line: the summary lines still waiting, so the output stays in
    the order things happened. A batch another thread is writing ends first; the lines
    of a batch itself pass straight through (a summary added meanwhile waits for the
    next batch instead of cutting into this one)."""
    if getattr(_flushing, "on", False):
        return event_dict
    with _WRITING:
        while True:  # and those added while it wrote them
            with _ALL_LOCK:
                waiting = [s for s in _ALL if s.pending]
            if not waiting:
                return event_dict
            for summaries in waiting:
                summaries.flush()


def configure(level: str = "info", fmt: str = "auto") -> None:
    console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=True)
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            _summaries_first,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _timestamp,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        # the daemon configures once, at start: each logger resolves its configuration
        # on first use instead of on every line (one summary line per RPC)
        cache_logger_on_first_use=True,
    )


def get(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger


#: the longest a summary line waits to be written, and the most that wait at once
SUMMARY_DELAY_S = 0.025
SUMMARY_BATCH = 256

_ALL: weakref.WeakSet[Summaries] = weakref.WeakSet()
_ALL_LOCK = threading.Lock()
#: held while a batch is written: a line of another thread waits for its end
_WRITING = threading.RLock()
#: set on the thread writing a batch, for the batch's own lines
_flushing = threading.local()


@atexit.register
def _flush_all() -> None:
    """At exit (also when the event loop died without the daemon's stop): what waits."""
    with _ALL_LOCK:
        waiting = list(_ALL)
    for summaries in waiting:
        summaries.flush()


class Summaries:
    """Info lines that are written a little later, many at once: the one summary line
    per RPC. Each keeps the time it was added at and is written before any other line
    of the process (a processor of :func:`configure` sees to it), at the latest
    SUMMARY_DELAY_S after it was added, at once when SUMMARY_BATCH wait, and by
    :meth:`flush` (the daemon flushes when it stops).

    Why: a line rendered on its own, between two RPCs, costs the daemon about seven
    times what it costs in a loop of lines (its code and data have left the CPU's caches
    by then); rendered in a batch it costs the sale about 0.3 ms less per 8 RPCs (A/B,
    bench/sale_latency.py foundation, 2 cores). The price: a crash (SIGKILL, power loss)
    takes the last SUMMARY_DELAY_S of summary lines with it, as any buffered log would;
    nothing else is logged late."""

    def __init__(
        self, logger: structlog.typing.FilteringBoundLogger, delay: float = SUMMARY_DELAY_S
    ) -> None:
        self._logger = logger
        self._delay = delay
        self._lock = threading.Lock()
        self._pending: list[tuple[float, str, dict[str, Any]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        with _ALL_LOCK:
            _ALL.add(self)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, event: str, **fields: Any) -> None:
        """On the event loop (elsewhere the line is written at once)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._logger.info(event, **fields)
            return
        with self._lock:
            self._pending.append((time.time(), event, fields))
            full = len(self._pending) >= SUMMARY_BATCH
        if full:
            self.flush()
        elif self._timer is None or self._timer_loop is not loop:
            self._timer = loop.call_later(self._delay, self._due)
            self._timer_loop = loop

    def _due(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Writes the waiting lines now, in one piece (any thread). A line that fails
        (stdout gone) does not take the others with it; its error is raised after."""
        failure: Exception | None = None
        with _WRITING:
            with self._lock:
                pending, self._pending = self._pending, []
            _flushing.on = True
            try:
                for when, event, fields in pending:
                    try:
                        self._logger.info(event, timestamp=iso_utc(when), **fields)
                    except Exception as exc:
                        failure = failure or exc
            finally:
                _flushing.on = False
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Writes what waits now (on the loop, when the daemon stops); a summary added
        later is written within the delay as before."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
