"""The ClosingService next to the in-process daemon.

Until ``add_closing_service`` is wired into bootstrap.py, the fixture serves it from a
second gRPC server on the daemon's own event loop, database thread, fiscal gateway and
outbox (a second unix socket): the code under test is the real one, only the socket
differs. Sessions live in the database, so the daemon's login token works on both.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient
from posd.v1 import operator_pb2_grpc

from posd_daemon.api.closing_servicer import add_closing_service
from posd_daemon.api.runtime import Runtime
from posd_daemon.api.servicers import OperatorServicer
from posd_daemon.bootstrap import operators_from_config
from posd_daemon.services.auth import Authenticator
from posd_daemon.services.clock import system_clock
from posd_daemon.store.database import open_database
from tests.conftest import Running


@dataclass
class Day:
    running: Running
    pos: PosdClient
    day: PosdClient
    socket: Path

    def client(self, operator: str, pin: str) -> tuple[PosdClient, PosdClient]:
        """(sales client, closing client) of another operator."""
        sales = self.running.client(operator, pin, open_shift=False)
        closing = PosdClient(f"unix://{self.socket}", timeout=30.0)
        closing.wait_ready(5)
        closing.token = sales.token
        return sales, closing


def serve_closing(running: Running, socket: Path) -> grpc.aio.Server:
    d = running.daemon
    cfg = running.config

    async def start() -> grpc.aio.Server:
        auth = Authenticator(operators_from_config(cfg), system_clock, cfg.api.session_hours)
        rt = Runtime(d.db, auth, d.metrics, system_clock)
        server = grpc.aio.server()
        add_closing_service(server, rt, d.gateway, cfg, on_outbox=d.outbox.wake)
        # log-in too, so that posctl can talk to this socket alone
        operator_pb2_grpc.add_OperatorServiceServicer_to_server(OperatorServicer(rt), server)
        server.add_insecure_port(f"unix:{socket}")
        await server.start()
        return server

    return asyncio.run_coroutine_threadsafe(start(), running.loop).result(10)


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    """A logged-in client on a register WITHOUT an open shift: these tests open and
    close shifts themselves."""
    with running.client(open_shift=False) as c:
        yield c


@pytest.fixture
def day(running: Running, pos: PosdClient, tmp_path: Path) -> Iterator[Day]:
    socket = tmp_path / "closing.sock"
    server = serve_closing(running, socket)
    client = PosdClient(f"unix://{socket}", timeout=30.0)
    client.wait_ready(5)
    client.token = pos.token
    try:
        yield Day(running, pos, client, socket)
    finally:
        client.close()
        asyncio.run_coroutine_threadsafe(server.stop(0), running.loop).result(10)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh posd database file, migrated (for the day's use cases without a daemon)."""
    c = open_database(tmp_path / "posd.sqlite3")
    yield c
    c.close()
