"""Shared fixtures: an in-process daemon on a real unix socket and real SQLite files."""

from __future__ import annotations

import asyncio
import atexit
import base64
import hashlib
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from posd.client import PosdClient

from posd_daemon.bootstrap import Daemon, start
from posd_daemon.ops import eventloop
from posd_daemon.ops.config import Config, default_document, load
from posd_daemon.services.clock import Clock, system_clock
from posd_daemon.store.database import connect, migrate

settings.register_profile(
    "posd", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile("posd")


@dataclass
class Running:
    config: Config
    daemon: Daemon
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def target(self) -> str:
        return f"unix://{self.config.socket_path}"

    def client(
        self, operator: str = "1", pin: str = "1234", *, open_shift: bool = True
    ) -> PosdClient:
        c = PosdClient(self.target, timeout=10.0)
        c.wait_ready(5)
        if operator:
            c.login(operator, pin)
            if open_shift:
                c.ensure_shift()
        return c

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.daemon.stop(0), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()  # its file descriptors: uvloop frees them only here
        # an error no caller handled (a failing callback, a lost task exception) is a
        # defect even when every answer the test looked at was right
        errors = self.daemon.loop_errors
        assert errors is not None and errors.count == 0, (
            f"the daemon's event loop reported errors: {list(errors.recent) if errors else ''}"
        )


#: the demo operators' PINs (default_config.toml)
DEMO_PINS = {"1": "1234", "2": "0000"}


def _quick_hash(pin: str) -> str:
    """A scrypt hash of ``pin`` at the cheapest cost the daemon accepts (N=2**12, r=1):
    a log-in checks it in about a millisecond instead of the demo hashes' ~45 ms, which
    every in-process test pays once or more (the hash's cost is not what they test; the
    e2e tests run the real daemon on the embedded defaults)."""
    salt = b"posd-test-salt-" + pin.encode()
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**12, r=1, p=1, dklen=32)
    return f"scrypt$4096$1$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


#: the embedded default operators, their PINs hashed cheaply (see _quick_hash)
QUICK_OPERATORS = [
    {**op, "pin_scrypt": _quick_hash(DEMO_PINS[op["id"]])} for op in default_document()["operators"]
]

_schema: list[Path] = []


def _migrated_database() -> Path:
    """A database with every shipped migration applied (by the daemon's own migrate),
    made once per test process: copied into a test's new state directory, the daemon
    starts on it as on a register's second start, without the ~50 ms of a new
    register's schema (tests/unit/test_migrate_all_or_nothing.py and every e2e daemon
    make one)."""
    if not _schema:
        path = Path(tempfile.mkdtemp(prefix="posd-schema-")) / "posd.sqlite3"
        # removed when this process ends (each xdist worker makes and removes its own),
        # not when a test or the session does: every later test copies it
        atexit.register(shutil.rmtree, path.parent, ignore_errors=True)
        conn = connect(path)
        try:
            migrate(conn)
        finally:
            conn.close()
        # one file: the WAL was checkpointed into it at the close
        assert not path.with_name(path.name + "-wal").exists()
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA user_version").fetchone()[0] > 0
        _schema.append(path)
    return _schema[0]


def start_in_thread(
    state_dir: Path, overrides: dict[str, Any] | None = None, *, clock: Clock = system_clock
) -> Running:
    # register.timezone UTC unless a test says otherwise: printed times and business days
    # are then the same on every machine the tests run on
    doc: dict[str, Any] = {
        "state": {"dir": str(state_dir)},
        "metrics": {"listen": ""},
        "register": {"timezone": "UTC"},
        "operators": QUICK_OPERATORS,
    }
    if not state_dir.exists():  # a new register
        state_dir.mkdir(parents=True)
        shutil.copyfile(_migrated_database(), state_dir / "posd.sqlite3")
    for key, value in (overrides or {}).items():
        doc.setdefault(key, {}).update(value) if isinstance(value, dict) else doc.update(
            {key: value}
        )
    config = load(None, doc)
    loop = eventloop.new_event_loop()  # production's loop (uvloop)
    thread = threading.Thread(target=loop.run_forever, name="posd-test-loop", daemon=True)
    thread.start()
    daemon = asyncio.run_coroutine_threadsafe(start(config, clock=clock), loop).result(20)
    return Running(config, daemon, loop, thread)


@contextmanager
def running_daemon(
    state_dir: Path, overrides: dict[str, Any] | None = None, *, clock: Clock = system_clock
) -> Iterator[Running]:
    """The daemon of :func:`start_in_thread`, stopped when the block ends."""
    r = start_in_thread(state_dir, overrides, clock=clock)
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state") as r:
        yield r


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    with running.client() as c:
        yield c
