"""Relaxed open-sale edits are made durable in the background once the writer is quiet:
one fdatasync of the WAL per burst, none when an fsync'd commit came first."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from posd_daemon.services.executor import DbExecutor, Tx, WalFlusher
from posd_daemon.store.database import open_database


def insert(n: int) -> Callable[[Tx], None]:
    def write(tx: Tx) -> None:
        tx.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, 'x')"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (f"flush-test-{n}",),
        )

    return write


def run(tmp_path: Path, quiet_s: float, body: Callable[[DbExecutor], Awaitable[None]]) -> None:
    """``body`` on an event loop, with an executor whose relaxed edits flush when quiet."""

    async def main() -> None:
        path = tmp_path / "posd.sqlite3"
        db = DbExecutor(open_database(path))
        db.relaxed_edits = True
        db.flush_relaxed_when_quiet(quiet_s)
        try:
            await body(db)
        finally:
            db.close()

    asyncio.run(main())


def flushes(db: DbExecutor) -> int:
    assert db._flusher is not None
    return db._flusher.flushes


async def settle(db: DbExecutor, want: int) -> int:
    """The flush count once it reached ``want``, or after 5 s (polled: no event exists)."""
    for _ in range(500):
        if flushes(db) >= want:
            break
        await asyncio.sleep(0.01)
    return flushes(db)


def test_a_burst_of_relaxed_edits_is_synced_once_after_it_ends(tmp_path: Path) -> None:
    async def body(db: DbExecutor) -> None:
        for n in range(10):
            await db.write(insert(n), durable=False)
            await asyncio.sleep(0.01)  # closer together than the quiet time
        assert flushes(db) == 0, "synced during the burst: it would compete with the edits"
        wal_size = os.stat(f"{db._conn.execute('PRAGMA database_list').fetchone()[2]}-wal")
        assert wal_size.st_size > 0, "the relaxed edits are in the WAL"
        assert await settle(db, 1) == 1, "the quiet writer never synced the edits"
        await asyncio.sleep(0.5)
        assert flushes(db) == 1, "one burst, one fdatasync"
        await db.write(insert(99), durable=False)  # a new burst: a new flush
        assert await settle(db, 2) == 2

    run(tmp_path, 0.3, body)


def test_an_fsyncd_commit_cancels_the_pending_flush(tmp_path: Path) -> None:
    async def body(db: DbExecutor) -> None:
        await db.write(insert(1), durable=False)
        await db.write(insert(2))  # fsync'd: the WAL, and so the edit, is on disk
        await asyncio.sleep(1.0)
        assert flushes(db) == 0

    run(tmp_path, 0.5, body)


def test_a_relaxed_commit_on_the_database_thread_arms_the_flush_too(tmp_path: Path) -> None:
    async def body(db: DbExecutor) -> None:
        holding = threading.Event()

        def hold(conn: object) -> None:
            holding.set()
            time.sleep(0.05)

        # the database thread holds the writer lock: the relaxed edit queues behind it and
        # commits there, not inline on the loop
        busy = asyncio.get_running_loop().run_in_executor(None, db.read_sync, hold)
        await asyncio.get_running_loop().run_in_executor(None, holding.wait, 5)
        edit = asyncio.ensure_future(db.write(insert(1), durable=False))
        await busy
        await edit
        assert await settle(db, 1) == 1

    run(tmp_path, 0.05, body)


def test_a_durable_commit_that_wrote_nothing_leaves_the_flush_pending(tmp_path: Path) -> None:
    # e.g. a retried RPC answered from its stored answer: SQLite fsyncs nothing then
    async def body(db: DbExecutor) -> None:
        await db.write(insert(1), durable=False)
        await db.write(lambda tx: tx.conn.execute("SELECT 1").fetchone())
        assert await settle(db, 1) == 1

    run(tmp_path, 0.05, body)


def test_edits_that_never_pause_are_flushed_within_the_longest_delay(tmp_path: Path) -> None:
    quiet = 0.02  # longest delay: 20 quiet times, 0.4 s

    async def body(db: DbExecutor) -> None:
        end = time.monotonic() + 1.0
        n = 0
        while time.monotonic() < end:
            await db.write(insert(n % 50), durable=False)
            n += 1
            await asyncio.sleep(0.005)  # never quiet for 20 ms
        assert flushes(db) >= 1, "a steady stream of edits put the flush off for good"

    run(tmp_path, quiet, body)


def test_closing_runs_the_pending_flush(tmp_path: Path) -> None:
    seen: list[WalFlusher] = []

    async def body(db: DbExecutor) -> None:
        await db.write(insert(1), durable=False)
        assert db._flusher is not None
        seen.append(db._flusher)
        assert flushes(db) == 0  # the quiet time is far away; close() comes first

    run(tmp_path, 60.0, body)
    assert seen[0].flushes == 1


def test_without_a_wal_file_nothing_is_synced_and_close_stops_the_thread(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        flusher = WalFlusher(str(tmp_path / "absent-wal"), 0.01, asyncio.get_running_loop())
        flusher.unsynced()
        await asyncio.sleep(0.1)
        assert flusher.flushes == 0
        flusher.close()

    asyncio.run(body())
    assert not any(t.name.startswith("posd-walsync") for t in threading.enumerate())
