"""An outbox print job {"document": "parking_slip"} with ref = sale id prints the slip
(real SQLite, the real renderer and outbox worker, the real ESC/POS codec)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from posd_daemon.devices.escpos.codec import encode_document
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.sim import escpos_to_plain_text
from posd_daemon.domain.catalog import Item
from posd_daemon.domain.document import Document
from posd_daemon.domain.parking import parking_code_ean13
from posd_daemon.domain.receipt import ShopHeader
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.vat import VatCategory
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services.device_ports import DeviceError
from posd_daemon.services.documents import DocumentRenderer
from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.outbox_worker import OutboxWorker
from posd_daemon.store import outbox
from posd_daemon.store import sales as sale_store
from posd_daemon.store.database import open_database

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
P80 = get_profile("generic-80mm")


class RecordingPrinter:
    """A receipt printer port that keeps the bytes the codec makes for a generic 80 mm."""

    columns = 48

    def __init__(self) -> None:
        self.jobs: list[bytes] = []

    def print_document(self, document: Document) -> None:
        self.jobs.append(encode_document(document, P80))


class NoDrawer:
    def open(self, not_after: float | None = None) -> None:
        raise AssertionError("a parking slip opens no drawer")


def queue_parking_slip(db: DbExecutor, s: Sale) -> None:
    """The parked sale ``s`` stored, and a print job of its slip queued."""
    db.write_sync(lambda tx: sale_store.insert(tx.conn, s))
    db.write_sync(
        lambda tx: outbox.enqueue(
            tx.conn,
            kind="print",
            ref=s.sale_id,
            receipt_number=None,
            payload={"document": "parking_slip"},
            when=NOW,
        )
    )


def sale(sale_id: str, *, park: bool) -> Sale:
    s = Sale(sale_id, "REG-1", "7", "EUR", NOW)
    s.add_line(Item("c", "Kaffee", 899, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    if park:
        s.park(parking_code_ean13("29", 1, 7), NOW)
    return s


def test_parking_slip_job_prints_the_slip_with_its_barcode(tmp_path: Path) -> None:
    db = DbExecutor(open_database(tmp_path / "db.sqlite3"))
    queue_parking_slip(db, sale("s1", park=True))
    printer = RecordingPrinter()
    render = DocumentRenderer(ShopHeader("Laden"), 48, tse_certified=True)
    worker = OutboxWorker(db, printer, NoDrawer(), render, lambda: NOW, Metrics.create())

    async def run() -> None:
        worker.start()
        for _ in range(300):
            if db.read_sync(outbox.count_pending) == 0:
                break
            await asyncio.sleep(0.01)
        await worker.stop()

    asyncio.run(run())
    assert db.read_sync(outbox.count_pending) == 0
    assert len(printer.jobs) == 1
    data = printer.jobs[0]
    assert b"\x1dk\x43\x0c290100000007" in data  # GS k 67, 12 digits: 2+27+3+21=53, check 7
    text = escpos_to_plain_text(data, columns=48)
    assert "PARKBELEG" in text
    assert "Vorgang s1" in text
    assert "[EAN13 2901000000077]" in text
    db.close()


def test_parking_slip_of_a_missing_or_never_parked_sale_is_an_error(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    sale_store.insert(conn, sale("open", park=False))
    render = DocumentRenderer(ShopHeader("Laden"), 48, tse_certified=True)
    for ref, message in (("gone", "missing"), ("open", "never parked")):
        job = outbox.OutboxJob(
            1, "print", ref, 0, {"document": "parking_slip"}, "PENDING", 0, "", NOW
        )
        with pytest.raises(DeviceError, match=message):
            render(conn, job)
    # a reprint is marked as a copy
    sale_store.insert(conn, sale("p", park=True))
    job = outbox.OutboxJob(2, "print", "p", 0, {"document": "parking_slip", "copy": True},
                           "PENDING", 0, "", NOW)  # fmt: skip
    doc = render(conn, job)
    assert doc.copy
    assert "*** KOPIE ***" in doc.plain_text()
    conn.close()
