"""The outbox worker driving a real ESC/POS printer driver over TCP (the simulator).

No device manager here: the worker gets the driver itself as its ``ReceiptPrinter`` and
``CashDrawer`` ports (``EscPosPrinter``, ``PrinterDrawer``), so what a printer fault does
to a queued receipt is seen end to end, on a real socket and a real SQLite file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter, PrinterDrawer
from posd_daemon.devices.sim import TcpPrinterSimulator
from posd_daemon.devices.transport import TcpTransport
from posd_daemon.domain.document import Document, Text
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services import outbox_worker
from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.outbox_worker import OutboxWorker
from posd_daemon.store import outbox
from posd_daemon.store.database import open_database
from posd_daemon.store.outbox import OutboxJob


def receipt(conn: object, job: OutboxJob) -> Document:
    head = ("*** KOPIE ***",) if job.payload.get("copy") else ()
    lines = (*head, f"Beleg-Nr. {job.receipt_number}", "Vielen Dank!")
    return Document(columns=48, blocks=tuple(Text(t) for t in lines), cut=True)


async def until(cond: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.01)
    return cond()


def test_a_wake_ends_the_back_off_so_a_printer_back_from_paper_end_prints_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon wakes the outbox when the printer goes from ERROR back to IDLE
    # (bootstrap.resume_jobs: "retry queued jobs now, not after back-off"). A worker
    # sleeping out its back-off after failed attempts must take that wake: the
    # customer whose receipt waited for a new paper roll should not wait up to
    # MAX_BACKOFF (10 s) more once the roll is in.
    monkeypatch.setattr(outbox_worker, "MIN_BACKOFF", 5.0)
    monkeypatch.setattr(outbox_worker, "MAX_BACKOFF", 5.0)
    now = datetime.now(UTC)
    db = DbExecutor(open_database(tmp_path / "db.sqlite3"))
    with TcpPrinterSimulator("paper_end") as sim:
        printer = EscPosPrinter(
            TcpTransport(sim.host, sim.port, connect_timeout=1.0),
            get_profile("generic-80mm"),
            status_timeout=0.3,
        )
        db.write_sync(
            lambda tx: outbox.enqueue(
                tx.conn, kind="print", ref="s1", receipt_number=7, payload={}, when=now
            )
        )
        worker = OutboxWorker(
            db, printer, PrinterDrawer(printer), receipt, lambda: datetime.now(UTC),
            Metrics.create(),
        )  # fmt: skip

        def attempts() -> int:
            return db.read_sync(lambda c: outbox.pending(c, 10, "print"))[0].attempts

        async def run() -> float:
            worker.start()
            try:
                assert await until(lambda: attempts() >= 1, 5.0)  # held: paper end
                sim.set_state("ok")  # a new roll
                worker.wake()  # what resume_jobs does on ERROR -> IDLE
                started = time.monotonic()
                assert await until(lambda: db.read_sync(outbox.count_pending) == 0, 8.0)
                return time.monotonic() - started
            finally:
                await worker.stop()
                printer.close()

        took = asyncio.run(run())
        assert b"Beleg-Nr. 7" in sim.received
        assert b"KOPIE" not in sim.received  # nothing was sent while held: the original
    db.close()
    assert took < 2.0, f"the receipt printed {took:.1f} s after the wake (back-off not ended)"
