"""A drawer kick that waited too long (printer offline) is dropped, not done later."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posd_daemon.domain.document import Document
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services.device_ports import DRAWER_KICK_EXPIRED, DeviceError
from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.outbox_worker import DRAWER_KICK_MAX_AGE_S, OutboxWorker
from posd_daemon.store import outbox
from posd_daemon.store.database import open_database


class Drawer:
    def __init__(self) -> None:
        self.openings = 0
        self.deadlines: list[float | None] = []

    def open(self, not_after: float | None = None) -> None:
        self.deadlines.append(not_after)
        self.openings += 1


class LateDrawer(Drawer):
    """A device that gets to the kick only after its deadline (see DrawerDevice.open)."""

    def open(self, not_after: float | None = None) -> None:
        self.deadlines.append(not_after)
        raise DeviceError(DRAWER_KICK_EXPIRED, "the drawer kick waited past its deadline")


class Printer:
    columns = 42

    def print_document(self, document: Document) -> None:
        pass


NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def kick_queued(db: DbExecutor, ref: str, number: int, when: datetime) -> None:
    db.write_sync(
        lambda tx: outbox.enqueue(
            tx.conn, kind="drawer", ref=ref, receipt_number=number, payload={}, when=when
        )
    )


def run_worker(db: DbExecutor, drawer: Drawer, *, settle: float = 0.0) -> None:
    """The outbox worker until the queue is empty (and ``settle`` seconds more)."""
    worker = OutboxWorker(
        db, Printer(), drawer, lambda c, j: Document(42), lambda: NOW, Metrics.create()
    )

    async def run() -> None:
        worker.start()
        for _ in range(200):
            if db.read_sync(outbox.count_pending) == 0:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(settle)
        await worker.stop()

    asyncio.run(run())


def test_stale_drawer_kicks_are_dropped_fresh_ones_done(tmp_path: Path) -> None:
    db = DbExecutor(open_database(tmp_path / "db.sqlite3"))
    kick_queued(db, "s1", 1, NOW - timedelta(seconds=DRAWER_KICK_MAX_AGE_S + 60))
    kick_queued(db, "s2", 2, NOW)
    drawer = Drawer()
    run_worker(db, drawer)
    assert drawer.openings == 1  # only the fresh kick opened the drawer
    assert db.read_sync(outbox.count_pending) == 0  # the stale one is not left queued
    # the kick carries what is left of its time, for the device's queue to check
    (deadline,) = drawer.deadlines
    assert deadline is not None
    assert 0 < deadline - time.monotonic() <= DRAWER_KICK_MAX_AGE_S
    db.close()


def test_a_kick_the_device_got_to_too_late_is_dropped_not_retried(tmp_path: Path) -> None:
    db = DbExecutor(open_database(tmp_path / "db.sqlite3"))
    kick_queued(db, "s1", 1, NOW)
    drawer = LateDrawer()
    run_worker(db, drawer, settle=0.3)  # a retry would come after MIN_BACKOFF (0.2 s)
    assert db.read_sync(outbox.count_pending) == 0  # done: dropped, not left for a retry
    assert len(drawer.deadlines) == 1  # asked once, never again
    db.close()


def test_a_drawer_job_done_without_a_kick_is_told_from_one_kicked_after_failures() -> None:
    from posd_daemon.services.outbox_worker import kick_not_done

    # OpenDrawer answers kicked=False for these notes (the drawer did not open) ...
    assert kick_not_done("DRAWER_KICK_UNCERTAIN: the kick may have been sent at x: not repeated")
    assert kick_not_done("DRAWER_KICK_EXPIRED: not kicked within 120 s")
    # ... but kicked=True for a kick done after a printer fault (its error stays on the job)
    assert not kick_not_done("NOT_READY: printer offline")
    assert not kick_not_done("")
