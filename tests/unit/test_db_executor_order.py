"""Reads on the database thread keep the thread's order: a read sees every write queued
before it, even one still running (the empty-sale cleanup and a shift's cash plan rely
on that; a reader thread of its own once broke them)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from posd_daemon.services.executor import DbExecutor, Tx
from posd_daemon.store.database import connect, open_database


def test_a_read_sees_a_write_queued_before_it(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "posd.sqlite3"
        db = DbExecutor(
            open_database(path), connect(path, readonly=True), connect(path, readonly=True)
        )
        try:

            def slow_write(tx: Tx) -> None:
                tx.conn.execute("INSERT INTO meta (key, value) VALUES ('order', 'written')")
                time.sleep(0.2)  # still running when the read is asked for

            write = asyncio.ensure_future(db.write(slow_write))
            await asyncio.sleep(0.05)  # the write is on the database thread now
            assert not write.done()
            seen = await db.read(
                lambda c: c.execute("SELECT value FROM meta WHERE key = 'order'").fetchone()
            )
            assert seen == ("written",)
            await write
        finally:
            db.close()

    asyncio.run(main())
