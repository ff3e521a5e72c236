"""A print's "in flight" mark is on disk (power-loss safe) before the printer gets a byte.

After a power loss the job is picked up again; only a mark that reached the disk makes
that retry a copy ("*** KOPIE ***") instead of a second original. With relaxed edits the
mark's commit is not fsync'd, so an fdatasync of the WAL must come between it and the
first byte to the printer.

The real executor on a real SQLite file, the real outbox worker and renderer, the real
ESC/POS printer driver over a real TCP socket to a printer served from a thread here.
``os.fdatasync`` (the standard library's, not project code) is wrapped to see which
syncs of the WAL ran and whether the mark was committed when each began.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.sim import PrinterSimCore, escpos_to_plain_text
from posd_daemon.devices.transport import TcpTransport
from posd_daemon.domain.receipt import ShopHeader
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services.documents import DocumentRenderer
from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.outbox_worker import IN_FLIGHT, OutboxWorker
from posd_daemon.store import outbox
from posd_daemon.store.database import open_database
from tests.unit.test_parking_slip_job import queue_parking_slip as queue_slip_of
from tests.unit.test_parking_slip_job import sale as parked_sale

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@dataclass
class Timeline:
    """What happened, in order, across the threads involved."""

    db_path: Path
    events: list[tuple[str, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: the WAL's fdatasync fails (EIO) when set
    failing: bool = False

    def add(self, what: str, marked: bool = False) -> None:
        with self.lock:
            self.events.append((what, marked))

    def mark_committed(self) -> bool:
        """The print job's in-flight mark is committed (seen by a fresh reader)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT payload FROM outbox WHERE kind = 'print'").fetchone()
        finally:
            conn.close()
        return row is not None and IN_FLIGHT in json.loads(row[0])

    def first_byte(self) -> int:
        names = [what for what, _ in self.events]
        assert "first_byte" in names, f"the printer got nothing: {self.events}"
        return names.index("first_byte")


@pytest.fixture
def timeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Timeline:
    tl = Timeline(tmp_path / "db.sqlite3")
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        if not os.readlink(f"/proc/self/fd/{fd}").endswith("-wal"):
            real(fd)
            return
        # the mark must be in the WAL when the sync begins for the sync to cover it
        marked = tl.mark_committed()
        if tl.failing:
            tl.add("wal_sync_failed", marked)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)
        tl.add("wal_sync", marked)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return tl


@contextmanager
def printer_server(tl: Timeline) -> Iterator[tuple[int, PrinterSimCore]]:
    """A healthy ESC/POS printer on 127.0.0.1 (status answers from the simulator) that
    notes in ``tl`` when the first byte of a connection arrived."""
    core = PrinterSimCore("ok")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve(conn: socket.socket) -> None:
        first = True
        with conn, suppress(OSError):
            while data := conn.recv(4096):
                if first:
                    tl.add("first_byte")
                    first = False
                if reply := core.feed(data):
                    conn.sendall(reply)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], core
    finally:
        listener.close()


class NoDrawer:
    def open(self, not_after: float | None = None) -> None:
        raise AssertionError("a parking slip opens no drawer")


def queue_parking_slip(db: DbExecutor) -> None:
    queue_slip_of(db, parked_sale("s1", park=True))


def print_one_job(tl: Timeline, setup: Callable[[DbExecutor], None]) -> bytes:
    """Runs the outbox worker until its one print job is done; the printer's paper."""
    db = DbExecutor(open_database(tl.db_path))
    queue_parking_slip(db)
    paper: list[bytes] = []

    async def run() -> None:
        setup(db)
        with printer_server(tl) as (port, core):
            printer = EscPosPrinter(
                TcpTransport("127.0.0.1", port, connect_timeout=1.0),
                get_profile("generic-80mm"),
                status_timeout=0.5,
            )
            render = DocumentRenderer(ShopHeader("Laden"), 48, tse_certified=True)
            worker = OutboxWorker(db, printer, NoDrawer(), render, lambda: NOW, Metrics.create())
            worker.start()
            try:
                for _ in range(500):
                    if db.read_now(outbox.count_pending) == 0:
                        break
                    await asyncio.sleep(0.01)
            finally:
                await worker.stop()
                printer.close()
            paper.append(bytes(core.received))
        db.close()

    asyncio.run(run())
    return paper[0]


def printed_once_as_the_original(paper: bytes) -> bool:
    text = escpos_to_plain_text(paper, columns=48)
    return text.count("PARKBELEG") == 1 and "KOPIE" not in text


def relaxed_with_flusher(db: DbExecutor) -> None:
    # the background flush far away: only a sync the print path asks for can come
    db.relaxed_edits = True
    db.flush_relaxed_when_quiet(60.0)


def relaxed_without_flusher(db: DbExecutor) -> None:
    # store.open_sale_flush_ms = 0: relaxed commits, and no background flush at all
    db.relaxed_edits = True


def job_state(tl: Timeline) -> tuple[str, dict[str, object]]:
    with sqlite3.connect(tl.db_path) as conn:
        state, payload = conn.execute(
            "SELECT state, payload FROM outbox WHERE kind = 'print'"
        ).fetchone()
    return str(state), json.loads(payload)


@pytest.mark.parametrize(
    "setup", [relaxed_with_flusher, relaxed_without_flusher], ids=["flusher", "no-flusher"]
)
def test_the_in_flight_mark_is_synced_before_the_printer_gets_a_byte(
    timeline: Timeline, setup: Callable[[DbExecutor], None]
) -> None:
    assert printed_once_as_the_original(print_one_job(timeline, setup))
    before = timeline.events[: timeline.first_byte()]
    assert ("wal_sync", True) in before, (
        "no fdatasync of the WAL with the in-flight mark in it completed before the "
        f"printer got its first byte: a power loss could print a second original "
        f"({timeline.events})"
    )
    state, payload = job_state(timeline)
    assert state == outbox.DONE
    assert IN_FLIGHT in payload


def test_with_every_commit_fsyncd_no_extra_sync_is_made(timeline: Timeline) -> None:
    # store.open_sale_sync = "full": the mark's own commit was fsync'd by SQLite
    assert printed_once_as_the_original(print_one_job(timeline, lambda db: None))
    timeline.first_byte()
    assert [e for e in timeline.events if e[0] != "first_byte"] == []
    state, payload = job_state(timeline)
    assert state == outbox.DONE
    assert IN_FLIGHT in payload


def test_a_failing_wal_sync_falls_back_to_an_fsyncd_commit_and_prints(
    timeline: Timeline,
) -> None:
    # the disk refused the fdatasync: the mark is committed again with SQLite's fsync
    # (which fails loudly itself if the disk is gone) and the receipt still prints once,
    # as the original
    timeline.failing = True
    assert printed_once_as_the_original(print_one_job(timeline, relaxed_with_flusher))
    first = timeline.first_byte()
    assert ("wal_sync_failed", True) in timeline.events[:first]
    state, payload = job_state(timeline)
    assert state == outbox.DONE
    assert IN_FLIGHT in payload
