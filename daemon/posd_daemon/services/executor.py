"""The single database thread: every read and write runs here, one at a time.

One writer thread means transactions never contend and a sale is never changed by two
calls at once; the asyncio loop never blocks on SQLite or fsync.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from posd_daemon.store.database import transaction

T = TypeVar("T")


class Tx:
    """A transaction in progress: the connection plus work to do after COMMIT."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._after: list[Callable[[], None]] = []

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after.append(fn)


class DbExecutor:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posd-db")
        self._lock = threading.Lock()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, self._conn)

    async def write(self, fn: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.write_sync, fn)

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        """Runs ``fn`` in one transaction (call only on the database thread or before start)."""
        with self._lock:
            tx = Tx(self._conn)
            with transaction(self._conn):
                result = fn(tx)
            for hook in tx._after:
                hook()
            return result

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return fn(self._conn)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._conn.close()
