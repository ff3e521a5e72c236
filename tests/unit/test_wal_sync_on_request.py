"""``DbExecutor.make_durable``: an fdatasync of the WAL on request, off the writer's lock,
that covers every commit made before the request; concurrent requests share one.

A real SQLite file and the real executor; ``os.fdatasync`` (the standard library's) is
wrapped to count the syncs and to hold one while the test makes requests meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from posd_daemon.services.executor import DbExecutor, Tx
from posd_daemon.store.database import open_database


def insert(n: int) -> Callable[[Tx], None]:
    def write(tx: Tx) -> None:
        tx.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, 'x')"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (f"sync-test-{n}",),
        )

    return write


class Syncs:
    """The WAL fdatasyncs made; ``hold`` keeps the next one from finishing until let go."""

    def __init__(self) -> None:
        self.started = 0
        self.done = 0
        self.hold = threading.Event()
        self.hold.set()
        self.holding = threading.Event()


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Syncs:
    s = Syncs()
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("-wal"):
            s.started += 1
            s.holding.set()
            s.hold.wait(5)
            real(fd)
            s.done += 1
        else:
            real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return s


def run(
    tmp_path: Path,
    setup: Callable[[DbExecutor], None],
    body: Callable[[DbExecutor], Awaitable[None]],
) -> None:
    async def main() -> None:
        db = DbExecutor(open_database(tmp_path / "posd.sqlite3"))
        setup(db)
        try:
            await body(db)
        finally:
            db.close()

    asyncio.run(main())


def with_flusher(db: DbExecutor) -> None:
    db.relaxed_edits = True
    db.flush_relaxed_when_quiet(60.0)  # never on its own within a test


def without_flusher(db: DbExecutor) -> None:
    db.relaxed_edits = True


@pytest.mark.parametrize("setup", [with_flusher, without_flusher], ids=["flusher", "no-flusher"])
def test_a_request_returns_once_a_sync_of_the_wal_has_ended(
    tmp_path: Path, syncs: Syncs, setup: Callable[[DbExecutor], None]
) -> None:
    async def body(db: DbExecutor) -> None:
        await db.write(insert(1), durable=False)
        assert syncs.started == 0
        await db.make_durable()
        assert syncs.done == 1
        await db.make_durable()  # each request its own sync: a commit may come between
        assert syncs.done == 2

    run(tmp_path, setup, body)


@pytest.mark.parametrize("setup", [with_flusher, without_flusher], ids=["flusher", "no-flusher"])
def test_a_request_during_a_sync_waits_for_the_next_one_and_shares_it(
    tmp_path: Path, syncs: Syncs, setup: Callable[[DbExecutor], None]
) -> None:
    # a sync under way may have begun before the commit the request is about; requests
    # made while it runs share the one after it
    async def body(db: DbExecutor) -> None:
        loop = asyncio.get_running_loop()
        await db.write(insert(1), durable=False)
        syncs.hold.clear()
        first = asyncio.ensure_future(db.make_durable())
        await loop.run_in_executor(None, syncs.holding.wait, 5)
        await db.write(insert(2), durable=False)  # while the first sync is running
        later = [asyncio.ensure_future(db.make_durable()) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert not first.done()
        syncs.hold.set()
        await first
        await asyncio.gather(*later)
        assert syncs.started == 2, "the later requests share one sync after the first"
        assert syncs.done == 2

    run(tmp_path, setup, body)


def test_a_request_does_not_wait_for_the_writer(tmp_path: Path, syncs: Syncs) -> None:
    # the sync takes no SQLite lock: it completes while the database thread is busy
    async def body(db: DbExecutor) -> None:
        loop = asyncio.get_running_loop()
        await db.write(insert(1), durable=False)
        busy = threading.Event()
        release = threading.Event()

        def hold(tx: Tx) -> None:
            busy.set()
            release.wait(5)

        writer = asyncio.ensure_future(db.write(hold))
        await loop.run_in_executor(None, busy.wait, 5)
        await asyncio.wait_for(db.make_durable(), 5)
        assert syncs.done == 1
        release.set()
        await writer

    run(tmp_path, with_flusher, body)


def test_with_every_commit_fsyncd_a_request_syncs_nothing(tmp_path: Path, syncs: Syncs) -> None:
    async def body(db: DbExecutor) -> None:
        await db.write(insert(1), durable=False)  # fsync'd by SQLite: relaxed edits off
        await db.make_durable()
        assert syncs.started == 0

    run(tmp_path, lambda db: None, body)


def test_a_failed_sync_raises_for_every_request_that_shared_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)

    async def body(db: DbExecutor) -> None:
        await db.write(insert(1), durable=False)
        results = await asyncio.gather(
            *(db.make_durable() for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, OSError) for r in results), results

    run(tmp_path, with_flusher, body)
