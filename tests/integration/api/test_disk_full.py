"""A full disk is UNAVAILABLE DISK_FULL, not INTERNAL: a technician sees what is wrong.

The database is really full: SQLite's ``max_page_count`` on the daemon's own write
connection makes it answer SQLITE_FULL ("database or disk is full") exactly as a full
file system does, without needing one.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from posd.client import PosdClient, PosdError

from tests.conftest import Running


def _cap_database(running: Running) -> None:
    def cap(tx: object) -> None:
        conn = tx.conn  # type: ignore[attr-defined]
        conn.execute("PRAGMA max_page_count = 1")  # raised to the current size by SQLite

    asyncio.run_coroutine_threadsafe(running.daemon.db.write(cap), running.loop).result(10)


def test_login_on_a_full_disk_is_unavailable_disk_full(running: Running) -> None:
    with PosdClient(running.target, timeout=10.0, retries=0) as pos:
        pos.login("1", "1234")
        _cap_database(running)
        with pytest.raises(PosdError) as err:  # noqa: PT012 (a login that needs a new page)
            for _ in range(300):
                pos.login("1", "1234")
        assert err.value.code == grpc.StatusCode.UNAVAILABLE, err.value
        assert err.value.reason == "DISK_FULL"
        assert "disk is full" in err.value.message
        # reading still works: the technician can look
        assert pos.status().register_id
