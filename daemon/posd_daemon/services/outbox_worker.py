"""Runs the durable outbox after commits: drawer kicks and prints, each on its own queue.

A job is marked done only after the device accepted it; a device fault leaves it
pending (visible in ``posctl``/ListPrintJobs) and it is retried with back-off, so no
job is lost across faults or restarts. A wake (a device back from a fault, a new job)
ends the back-off at once. Any other error of one job (a database error marking it, a
device that did not answer within the job timeout, a renderer bug) is logged and
recorded on the job the same way: it stays pending with the error and the loop carries
on. Each loop is supervised: should it end anyway, it is logged and
started again; :meth:`OutboxWorker.stop` never raises a loop's error.

A print may repeat (at-least-once), but never as a second original: a receipt the
printer may have printed in part (paper end or cover open reported right after the
job, a connection lost while sending: ``DeviceError.partly_done``) is retried as a copy,
and so is a receipt whose bytes may have reached the printer before a crash or a power
loss: before a print's bytes are sent, an "in flight" mark is committed on the job (the
payload key ``sent_at``) and made durable. Its commit is a relaxed one (no fsync, so it
never holds the writer lock through a disk flush ahead of the next sale's edits); an
fdatasync of the WAL off the writer's lock (``DbExecutor.make_durable``) then puts it on
disk before the first byte goes out, so a power loss cannot take the mark back while the
receipt is on paper. A job picked up with that mark is printed as a
copy ("*** KOPIE ***"; the worker puts it on any document its renderer does not mark).
A fault that certainly sent nothing (the printer was not ready) clears the mark again;
any other failure keeps it, since the bytes may be on paper. The mark lives in the
payload rather than a new column: no migration, and the payload is already what a
retry is rendered from.

A drawer kick is the other way round, at-most-once: it gets the same mark before the
kick, and a kick picked up again with it is not repeated (a drawer popping open twice is
a cash-control problem) but marked done with a note, as is a kick dropped for being too
late (see ``_kick``).

A job that fails by its own fault (``JOB_FAULTS``, a renderer error) does not hold up
the jobs behind it: it stays pending with its error and is tried again next round. A
device fault stops the round; the jobs wait in order. A round works off the whole queue,
a batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from posd_daemon.domain.document import Align, Document, Text
from posd_daemon.ops import crashpoints
from posd_daemon.ops import logging as plog
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services.clock import Clock
from posd_daemon.services.device_ports import (
    DRAWER_KICK_EXPIRED,
    CashDrawer,
    DeviceError,
    ReceiptPrinter,
)
from posd_daemon.services.executor import DbExecutor, Tx
from posd_daemon.store import outbox
from posd_daemon.store.outbox import OutboxJob

log = plog.get("posd.outbox")

Renderer = Callable[[sqlite3.Connection, OutboxJob], Document]

#: A drawer kick that could not be done within this time is dropped (logged), not
#: done later: nobody stands at the drawer any more.
DRAWER_KICK_MAX_AGE_S = 120.0

#: how long a print waits after the commit that queued it (see _run)
PRINT_DEFER_S = 0.02
DRAWER_DEFER_S = 0.003

#: jobs are marked done without an fsync; at most this long after, one fsync'd commit
#: makes the marks durable (unless a post did so meanwhile)
SYNC_AFTER_S = 2.0

MIN_BACKOFF = 0.2
MAX_BACKOFF = 10.0

#: the payload key of the "in flight" mark: when a print's bytes (or a drawer kick) were
#: about to be sent
IN_FLIGHT = "sent_at"

#: the note on a drawer job done without a kick: it may have been sent before a crash
#: (not repeated), or came too late (DRAWER_KICK_EXPIRED); see OutboxWorker._kick
DRAWER_KICK_UNCERTAIN = "DRAWER_KICK_UNCERTAIN"


def kick_not_done(last_error: str) -> bool:
    """Whether a drawer job marked done ended without the drawer being kicked (its note);
    a kick done after earlier failures keeps their error, which is not such a note."""
    return last_error.startswith((DRAWER_KICK_UNCERTAIN, DRAWER_KICK_EXPIRED))


#: how many jobs of one queue a round reads; a longer backlog takes further rounds
BATCH = 200

#: Device error codes that belong to the job, not to the device: the document cannot be
#: rendered (its sale, movement or report is missing, an unknown document) or the printer
#: cannot take it (``BAD_DOCUMENT``: wider than the paper). Retrying does not help, so
#: such a job must not hold up the jobs behind it: it stays pending with its error
#: (visible in ListPrintJobs, GetStatus and ``posd_outbox_pending_jobs``) and the round
#: goes on with the next job. A device fault (offline, paper end...) stops the round
#: instead: the jobs wait, in order, for the device.
JOB_FAULTS = frozenset({"NO_DOCUMENT", "BAD_DOCUMENT"})


class RenderError(Exception):
    """The renderer failed on a job (a bug, or data it cannot handle): the job's own
    fault, like ``JOB_FAULTS``; nothing was sent."""


def is_job_fault(exc: Exception) -> bool:
    """Whether ``exc`` concerns this one job only (the next job may well print)."""
    if isinstance(exc, RenderError):
        return True
    return isinstance(exc, DeviceError) and exc.code in JOB_FAULTS


def retry_payload(job: OutboxJob) -> dict[str, Any]:
    """The payload a print is rendered from now: a job that was in flight before (its
    bytes may be on paper) is a copy; the mark itself is left out."""
    payload = {k: v for k, v in job.payload.items() if k != IN_FLIGHT}
    if IN_FLIGHT in job.payload:
        payload["copy"] = True
    return payload


#: The mark of a document printed again (as render_receipt puts it on a receipt copy).
COPY_MARK = "*** KOPIE ***"


def as_copy(document: Document, payload: dict[str, Any]) -> Document:
    """``document`` marked as a copy when the job's payload says it is one.

    Receipts and parking slips are marked by their renderer (``Document.copy``); any
    other document (a deposit or withdrawal slip with its Beleg number and TSE data, a
    shift or Z report, an outage notice) that a job prints again after its bytes may
    have reached the paper gets the mark here: never a second original.
    """
    if not payload.get("copy") or document.copy:
        return document
    mark = Text(COPY_MARK, Align.CENTER, bold=True)
    return dataclasses.replace(document, blocks=(mark, *document.blocks), copy=True)


class OutboxWorker:
    def __init__(
        self,
        db: DbExecutor,
        printer: ReceiptPrinter,
        drawer: CashDrawer,
        render: Renderer,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._db = db
        self._printer = printer
        self._drawer = drawer
        self._render = render
        self._clock = clock
        self._metrics = metrics
        self._wakeups: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._sync: asyncio.TimerHandle | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._pools = {
            "drawer": ThreadPoolExecutor(1, thread_name_prefix="posd-drawer"),
            "print": ThreadPoolExecutor(1, thread_name_prefix="posd-printer"),
        }

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for kind in self._pools:
            self._wakeups[kind] = asyncio.Event()
            self._wakeups[kind].set()
            self._spawn(kind)

    def _spawn(self, kind: str) -> None:
        if self._stopping:
            return
        task = asyncio.create_task(self._run(kind), name=f"outbox-{kind}")
        task.add_done_callback(lambda t: self._supervise(kind, t))
        self._tasks[kind] = task
        self._wakeups[kind].set()

    def _supervise(self, kind: str, task: asyncio.Task[None]) -> None:
        """A loop that ended on its own (an error outside a job, e.g. reading the queue)
        is logged and started again after a pause; jobs stay pending meanwhile."""
        if self._stopping or task.cancelled() or self._loop is None or self._loop.is_closed():
            return
        exc = task.exception()
        self._metrics.outbox_failures.labels(kind).inc()
        log.error(
            "outbox_loop_died",
            kind=kind,
            error=f"{type(exc).__name__}: {exc}" if exc else "returned",
            exc_info=exc,
        )
        self._loop.call_later(MIN_BACKOFF, self._spawn, kind)

    def wake(self) -> None:
        """Thread-safe: called after a commit that queued jobs."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for event in self._wakeups.values():
            loop.call_soon_threadsafe(event.set)

    async def stop(self) -> None:
        """Stops the loops and makes the last done-marks durable. Never raises a loop's
        own error (logged when it happened): the rest of the daemon's stop must run."""
        self._stopping = True
        if self._sync is not None:
            self._sync.cancel()
            self._sync = None
            await self._make_durable()  # the last done-marks, before the database closes
        if self._sync_task is not None:
            await self._settle(self._sync_task)
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            await self._settle(task)
        for pool in self._pools.values():
            pool.shutdown(wait=True)

    @staticmethod
    async def _settle(task: asyncio.Task[None]) -> None:
        """Waits for a task at stop; its own error was logged when it happened."""
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception as exc:  # the daemon's stop must go on
                log.warning("outbox_task_error_at_stop", task=task.get_name(), error=str(exc))

    async def _run(self, kind: str) -> None:
        event = self._wakeups[kind]
        backoff = MIN_BACKOFF
        while True:
            await event.wait()
            # let the answer to the PostSale that queued the job go out first: rendering
            # and encoding a receipt (and even a kick's status round trip) compete with it
            # for the interpreter; a drawer or a printer takes far longer to move anyway
            await asyncio.sleep(PRINT_DEFER_S if kind == "print" else DRAWER_DEFER_S)
            event.clear()
            crashpoints.reached(f"outbox.{kind}_queue")
            failed = await self._round(kind)
            pending = self._db.read_now(outbox.count_pending)
            self._metrics.outbox_pending.set(pending)
            if failed:
                # back off, but a wake ends the pause at once: the daemon wakes the outbox
                # when a device is back from a fault (or a new job was queued), and the
                # receipt held by a paper end must come out when the roll is in, not up to
                # MAX_BACKOFF later
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                event.set()
            else:
                backoff = MIN_BACKOFF

    async def _round(self, kind: str) -> bool:
        """Works off the queue to its end, in order, a batch at a time (the backlog of a
        long outage may be longer than a batch: it must not wait for the next job to be
        queued); True when a device fault stopped it. A job that fails by its own fault
        (``is_job_fault``) is passed over: it stays pending and is tried again next round.
        """
        after = 0
        while True:
            # a small indexed read: on the reader connection, not the database thread
            batch = functools.partial(outbox.pending, limit=BATCH, kind=kind, after_id=after)
            jobs = self._db.read_now(batch)
            for job in jobs:
                try:
                    note = await self._execute(kind, job)
                    if note is None:
                        continue  # discarded before it began
                    # not fsync'd (like an open-sale edit), so that it never holds up the
                    # next sale's scans; the next fsync'd commit (a post, or _make_durable
                    # within SYNC_AFTER_S) makes it durable. Only a power loss before that
                    # brings the job back, which then repeats the print (at-least-once,
                    # as after a crash before this write; a copy, see IN_FLIGHT) but not
                    # a drawer kick (at-most-once, see _kick).
                    await self._db.write(self._done(job, note), durable=False, background=True)
                except Exception as exc:  # one job's failure, kept on the job
                    await self._record_failure(kind, job, exc)
                    if is_job_fault(exc):
                        continue  # it fails alone: the jobs behind it go on
                    return True
                self._durable_soon()
            if len(jobs) < BATCH:
                return False
            after = jobs[-1].job_id

    async def _record_failure(self, kind: str, job: OutboxJob, exc: Exception) -> None:
        """Logs a job's failure and records it on the job, which stays pending.

        A DeviceError is a device fault (expected: a warning). Anything else is a bug or
        a failing disk: logged with its traceback; whether a print's bytes went out is
        unknown then, so its in-flight mark stays (the retry is a copy)."""
        self._metrics.outbox_failures.labels(kind).inc()
        if isinstance(exc, DeviceError):
            error = str(exc)
            log.warning("job_failed", job_id=job.job_id, kind=kind, error=error)
            payload: dict[str, Any] | None = None
            if kind == "print":
                payload = retry_payload(job)
                if exc.partly_done:
                    # a receipt cut short may already be in the customer's hands: the
                    # retry is a copy ("*** KOPIE ***", as a reprint), never an original
                    payload["copy"] = True
                # else: nothing was sent, the mark goes (a copy only if one was earned)
            elif not exc.partly_done:
                # a drawer that certainly did not kick (not ready, expired): the mark goes,
                # so that the retry kicks. (A kick whose fate is unknown keeps it and is
                # not repeated: see _kick.)
                payload = {k: v for k, v in job.payload.items() if k != IN_FLIGHT}
        else:
            error = f"{type(exc).__name__}: {exc}"
            log.error("job_error", job_id=job.job_id, kind=kind, error=error, exc_info=exc)
            payload = None
        try:
            await self._db.write(
                lambda tx: outbox.mark_failed(tx.conn, job.job_id, error, payload),
                durable=False,
                background=True,
            )
        except Exception as write_exc:  # the job stays pending anyway
            log.error(
                "job_failure_not_recorded",
                job_id=job.job_id,
                kind=kind,
                error=f"{type(write_exc).__name__}: {write_exc}",
            )

    def _durable_soon(self) -> None:
        if self._sync is None and self._loop is not None:
            self._sync = self._loop.call_later(SYNC_AFTER_S, self._start_sync)

    def _start_sync(self) -> None:
        self._sync = None
        self._sync_task = asyncio.create_task(self._make_durable(), name="outbox-sync")

    async def _make_durable(self) -> None:
        """One small fsync'd commit: every earlier relaxed commit is durable with it."""
        stamp = self._clock()
        try:
            await self._db.write(
                lambda tx: outbox.mark_synced(tx.conn, stamp),
                background=True,
            )
        except Exception as exc:  # the next post's commit makes them durable
            log.warning("outbox_sync_failed", error=f"{type(exc).__name__}: {exc}")

    async def _mark_durable(self, job: OutboxJob, mark: Callable[[Tx], object]) -> None:
        """Makes the in-flight mark just committed durable against power loss.

        The mark's commit was relaxed (not fsync'd; with relaxed edits off it was fsync'd
        and this is free): one fdatasync of the WAL, off the writer's lock, covers it, so
        the next sale's edits never wait behind this print's disk flush. Should that
        sync fail, the mark is committed again fsync'd (SQLite syncs the WAL with it).
        Should that fail too (the disk is failing), the error fails the job before
        anything is printed; its mark stays, as after any error that is not a device's,
        so its retry is a copy: never a second original."""
        try:
            await self._db.make_durable()
        except OSError as exc:
            log.warning(
                "print_mark_sync_failed",
                job_id=job.job_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            await self._db.write(mark, durable=True, background=True)

    def _done(self, job: OutboxJob, note: str = "") -> Callable[[Tx], None]:
        return lambda tx: outbox.mark_done(tx.conn, job.job_id, self._clock(), note)

    async def _execute(self, kind: str, job: OutboxJob) -> str | None:
        """Does one job; returns "" or the note its done-mark keeps (a drawer kick that
        ended without the drawer opening), None when it was discarded before it began."""
        if kind == "drawer":
            return await self._kick(job)
        return await self._print(job)

    async def _kick(self, job: OutboxJob) -> str | None:
        """A drawer kick is at-most-once, unlike a print: a drawer popping open a second
        time for one sale, with nobody expecting it, is a cash-control problem, while a
        kick that did not happen is seen at once by the cashier (and a no-sale open is
        journaled). So before the kick an "in flight" mark is committed on the job and
        made durable, as for a print; a job picked up again with that mark (after a
        crash or power loss between the kick and its done-mark, or a done-mark that
        failed) is not kicked again but marked done with a note. A device error that
        certainly kicked nothing (not ``partly_done``) clears the mark, so a kick held
        by a printer fault is done when the printer is back."""
        loop = asyncio.get_running_loop()
        if IN_FLIGHT in job.payload:
            note = (
                f"{DRAWER_KICK_UNCERTAIN}: the kick may have been sent at"
                f" {job.payload[IN_FLIGHT]}: not repeated"
            )
            log.warning(
                "drawer_kick_not_repeated",
                job_id=job.job_id,
                receipt_number=job.receipt_number,
                sent_at=job.payload[IN_FLIGHT],
            )
            return note
        # a job time ahead of the clock: the clock was stepped back since, which gives
        # the kick no more time (its deadline ran an hour long after a 1 h step)
        age = max((self._clock() - job.created_at).total_seconds(), 0.0)
        expired = f"{DRAWER_KICK_EXPIRED}: not kicked within {DRAWER_KICK_MAX_AGE_S:.0f} s"
        if age > DRAWER_KICK_MAX_AGE_S:
            # the printer (and so the drawer) was unavailable for a long time: popping
            # the drawer now, with no cashier expecting it, would be a cash risk
            log.warning(
                "drawer_kick_expired",
                job_id=job.job_id,
                age_s=round(age),
                receipt_number=job.receipt_number,
            )
            return expired
        marked = {**job.payload, IN_FLIGHT: self._clock().isoformat()}

        def mark(tx: Tx) -> bool:
            return outbox.set_payload(tx.conn, job.job_id, marked)

        if not await self._db.write(mark, durable=False, background=True):
            return None  # discarded meanwhile (DiscardPrintJob): not done, not marked
        await self._mark_durable(job, mark)
        # the deadline goes with the kick: queued behind a long print on the printer's
        # thread it must not pop the drawer minutes later either
        age = max((self._clock() - job.created_at).total_seconds(), 0.0)
        not_after = time.monotonic() + (DRAWER_KICK_MAX_AGE_S - age)
        try:
            await loop.run_in_executor(
                self._pools["drawer"], functools.partial(self._drawer.open, not_after)
            )
        except DeviceError as exc:
            if exc.code != DRAWER_KICK_EXPIRED:
                raise
            log.warning("drawer_kick_expired", job_id=job.job_id, receipt_number=job.receipt_number)
            return expired
        log.info("drawer_kicked", job_id=job.job_id, receipt_number=job.receipt_number)
        return ""

    async def _print(self, job: OutboxJob) -> str | None:
        loop = asyncio.get_running_loop()
        payload = retry_payload(job)
        now = dataclasses.replace(job, payload=payload)

        def render(c: sqlite3.Connection) -> Document:
            try:
                return self._render(c, now)
            except DeviceError:
                raise
            except sqlite3.Error:
                raise  # the database's trouble, not the job's: the round stops
            except Exception as exc:
                raise RenderError(f"{type(exc).__name__}: {exc}") from exc

        document = as_copy(await self._db.read(render, background=True), payload)
        # in flight, on disk before a byte leaves: after a crash or a power loss from here
        # on the receipt may be on paper, and the job's retry is a copy
        marked = {**payload, IN_FLIGHT: self._clock().isoformat()}

        def mark(tx: Tx) -> bool:
            return outbox.set_payload(tx.conn, job.job_id, marked)

        if not await self._db.write(mark, durable=False, background=True):
            return None  # discarded meanwhile (DiscardPrintJob): not done, not marked
        await self._mark_durable(job, mark)
        await loop.run_in_executor(self._pools["print"], self._printer.print_document, document)
        crashpoints.reached("print.after_device")
        log.info("printed", job_id=job.job_id, receipt_number=job.receipt_number)
        return ""
