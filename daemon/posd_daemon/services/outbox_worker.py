"""Runs the durable outbox after commits: drawer kicks and prints, each on its own queue.

A job is marked done only after the device accepted it; a device fault leaves it
pending (visible in ``posctl``/ListPrintJobs) and it is retried with back-off, so no
job is lost across faults or restarts. A print may repeat after a crash between the
device accepting it and the job being marked done (at-least-once). A print the printer
cut short (paper end or cover open reported right after the job) stays pending too, and
its retry is marked as a copy: part of the original may be in the customer's hands.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from posd_daemon.domain.document import Document
from posd_daemon.ops import crashpoints
from posd_daemon.ops import logging as plog
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services.clock import Clock
from posd_daemon.services.device_ports import CashDrawer, DeviceError, ReceiptPrinter
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
        self._tasks: list[asyncio.Task[None]] = []
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
            self._tasks.append(asyncio.create_task(self._run(kind), name=f"outbox-{kind}"))

    def wake(self) -> None:
        """Thread-safe: called after a commit that queued jobs."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for event in self._wakeups.values():
            loop.call_soon_threadsafe(event.set)

    async def stop(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            self._sync = None
            await self._make_durable()  # the last done-marks, before the database closes
        if self._sync_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pool in self._pools.values():
            pool.shutdown(wait=True)

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
            # the queue and its count are small indexed reads: done right here, on the
            # reader connection, instead of a round trip to the database thread each
            jobs = self._db.read_now(lambda c: outbox.pending(c, 200, kind))
            failed = False
            for job in jobs:
                try:
                    await self._execute(kind, job)
                except DeviceError as exc:
                    failed = True
                    self._metrics.outbox_failures.labels(kind).inc()
                    log.warning("job_failed", job_id=job.job_id, kind=kind, error=str(exc))
                    await self._db.write(
                        self._failed(job, str(exc), partly_done=exc.partly_done),
                        durable=False,
                        background=True,
                    )
                    break
                # not fsync'd (like an open-sale edit), so that it never holds up the next
                # sale's scans; the next fsync'd commit (a post, or _make_durable within
                # SYNC_AFTER_S) makes it durable. Only a power loss before that brings
                # the job back, which then repeats the print (at-least-once, as after a
                # crash before this write).
                await self._db.write(self._done(job), durable=False, background=True)
                self._durable_soon()
            pending = self._db.read_now(outbox.count_pending)
            self._metrics.outbox_pending.set(pending)
            if failed:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                event.set()
            else:
                backoff = MIN_BACKOFF

    def _durable_soon(self) -> None:
        if self._sync is None and self._loop is not None:
            self._sync = self._loop.call_later(SYNC_AFTER_S, self._start_sync)

    def _start_sync(self) -> None:
        self._sync = None
        self._sync_task = asyncio.create_task(self._make_durable(), name="outbox-sync")

    async def _make_durable(self) -> None:
        """One small fsync'd commit: every earlier relaxed commit is durable with it."""
        stamp = self._clock().isoformat()
        try:
            await self._db.write(
                lambda tx: tx.conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('outbox_synced_at', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (stamp,),
                ),
                background=True,
            )
        except sqlite3.Error as exc:  # the next post's commit makes them durable anyway
            log.warning("outbox_sync_failed", error=str(exc))

    def _done(self, job: OutboxJob) -> Callable[[Tx], None]:
        return lambda tx: outbox.mark_done(tx.conn, job.job_id, self._clock())

    @staticmethod
    def _failed(job: OutboxJob, error: str, *, partly_done: bool) -> Callable[[Tx], None]:
        # a receipt cut short may already be in the customer's hands: the retry is a
        # copy ("*** KOPIE ***", as a reprint), never a second original
        payload = {**job.payload, "copy": True} if partly_done else None
        return lambda tx: outbox.mark_failed(tx.conn, job.job_id, error, payload)

    async def _execute(self, kind: str, job: OutboxJob) -> None:
        loop = asyncio.get_running_loop()
        if kind == "drawer":
            age = (self._clock() - job.created_at).total_seconds()
            if age > DRAWER_KICK_MAX_AGE_S:
                # the printer (and so the drawer) was unavailable for a long time: popping
                # the drawer now, with no cashier expecting it, would be a cash risk
                log.warning(
                    "drawer_kick_expired",
                    job_id=job.job_id,
                    age_s=round(age),
                    receipt_number=job.receipt_number,
                )
                return
            await loop.run_in_executor(self._pools[kind], self._drawer.open)
            log.info("drawer_kicked", job_id=job.job_id, receipt_number=job.receipt_number)
            return
        document = await self._db.read(lambda c: self._render(c, job), background=True)
        await loop.run_in_executor(self._pools[kind], self._printer.print_document, document)
        crashpoints.reached("print.after_device")
        log.info("printed", job_id=job.job_id, receipt_number=job.receipt_number)
