"""Network and device-file printers: a stalled peer fails the job, a slow one does not.

Real transports only: a TCP server that accepts and then reads slowly or never, and a
FIFO standing for ``/dev/usb/lp0`` whose reader reads slowly, never, or is not there.
As for serial and USB (``test_serial_write_stall_not_duration``), the write timeout
bounds a stall (no byte taken for that long), not a job: a long receipt to a slow
printer goes out whole, and a printer that takes nothing fails the job with a device
error instead of holding the device's thread for ever. A job that failed that way stays
in the outbox and is printed (as a copy) once the printer reads again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.devices.errors import DeviceError, TransportError
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.manager import DeviceManager, build_printer
from posd_daemon.devices.model import DeviceState
from posd_daemon.devices.printer import EscPosPrinter, PrinterDrawer
from posd_daemon.devices.sim import TcpPrinterSimulator, wait_until
from posd_daemon.devices.transport import (
    FileTransport,
    FileUrl,
    TcpTransport,
    open_transport,
    parse_device_url,
)
from posd_daemon.domain.document import Document, Text
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.outbox_worker import OutboxWorker
from posd_daemon.store import outbox
from posd_daemon.store.database import open_database
from posd_daemon.store.outbox import OutboxJob
from tests.support.devices import RECEIPT_MARKER, sample_receipt

#: A job far beyond what the kernel buffers between us and the peer (socket buffers on
#: loopback, 64 KB of pipe), so sending it takes as long as the peer takes to read it.
BIG_JOB = bytes(range(256)) * (16 * 1024)  # 4 MB


def run_bounded(action: Callable[[], object], within: float) -> BaseException | None:
    """Run ``action`` in a thread; its exception (None: it returned). Fails the test
    when it is still blocked after ``within`` seconds (the thread is left behind)."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(within)
    assert outcome, f"still blocked after {within} s: the stalled peer holds the thread"
    return outcome[0]


# --- TCP ------------------------------------------------------------------------------


@contextmanager
def tcp_peer(rate: float | None) -> Iterator[tuple[int, bytearray, threading.Event]]:
    """A printer on 127.0.0.1 reading at ``rate`` bytes/s (None: never reads until the
    event is set, then at full speed). Yields its port, what it received, the event."""
    received = bytearray()
    resume = threading.Event()
    stop = threading.Event()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a printer's buffer
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve(conn: socket.socket) -> None:
        with conn, suppress(OSError):
            if rate is None:
                while not resume.wait(0.05):
                    if stop.is_set():
                        return
            while not stop.is_set():
                data = conn.recv(64 * 1024)
                if not data:
                    return
                received.extend(data)
                if rate is not None:
                    time.sleep(len(data) / rate)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], received, resume
    finally:
        stop.set()
        listener.close()


def test_tcp_a_job_that_keeps_flowing_is_not_cut_off_by_the_write_timeout() -> None:
    with tcp_peer(rate=2_000_000) as (port, received, _):
        transport = TcpTransport("127.0.0.1", port, connect_timeout=1.0, write_timeout=0.5)
        transport.open()
        try:
            # about 2 s at the printer's pace: four times the write timeout
            error = run_bounded(lambda: transport.write(BIG_JOB), 20.0)
            assert error is None, f"a flowing job was cut off: {error}"
            assert wait_until(lambda: len(received) >= len(BIG_JOB), 10.0)
            assert bytes(received) == BIG_JOB
        finally:
            transport.close()


def test_tcp_a_printer_that_reads_nothing_fails_the_write_after_the_timeout() -> None:
    with tcp_peer(rate=None) as (port, _, resume):
        transport = TcpTransport("127.0.0.1", port, connect_timeout=1.0, write_timeout=0.5)
        transport.open()
        try:
            error = run_bounded(lambda: transport.write(BIG_JOB), 10.0)
            assert isinstance(error, TransportError)
            assert "did not accept data within 0.5 s" in str(error)
        finally:
            transport.close()
            resume.set()


# --- device files (a FIFO for /dev/usb/lp0) ---------------------------------------------


@contextmanager
def fifo_reader(path: Path, rate: float | None) -> Iterator[tuple[bytearray, threading.Event]]:
    """The printer's end of a FIFO at ``path``: open for reading, reading at ``rate``
    bytes/s (None: nothing until the event is set, then at full speed)."""
    received = bytearray()
    resume = threading.Event()
    stop = threading.Event()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def run() -> None:
        if rate is None:
            while not resume.wait(0.05):
                if stop.is_set():
                    return
        while not stop.is_set():
            try:
                data = os.read(fd, 64 * 1024)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except OSError:
                return
            received.extend(data)
            if rate is not None and data:
                time.sleep(len(data) / rate)
            elif not data:
                time.sleep(0.01)  # no writer right now (between two opens)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield received, resume
    finally:
        stop.set()
        resume.set()
        thread.join(2.0)
        os.close(fd)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "lp0"
    os.mkfifo(path)
    return path


def test_file_url_takes_a_write_timeout() -> None:
    assert parse_device_url("file:///dev/usb/lp0?write_timeout=2.5") == FileUrl(
        "/dev/usb/lp0", write_timeout=2.5
    )
    transport = open_transport("file:///dev/usb/lp0?write_timeout=2.5")
    assert isinstance(transport, FileTransport)
    assert transport.write_timeout == 2.5


def test_file_a_device_that_reads_nothing_fails_the_write_after_the_timeout(
    fifo: Path,
) -> None:
    with fifo_reader(fifo, rate=None):
        transport = FileTransport(str(fifo), write_timeout=0.5)
        transport.open()
        try:
            error = run_bounded(lambda: transport.write(BIG_JOB), 10.0)
            assert isinstance(error, TransportError)
            assert "did not accept data within 0.5 s" in str(error)
        finally:
            transport.close()


def test_file_a_job_that_keeps_flowing_is_not_cut_off_by_the_write_timeout(
    fifo: Path,
) -> None:
    with fifo_reader(fifo, rate=2_000_000) as (received, _):
        transport = FileTransport(str(fifo), write_timeout=0.5)
        transport.open()
        try:
            error = run_bounded(lambda: transport.write(BIG_JOB), 20.0)
            assert error is None, f"a flowing job was cut off: {error}"
            assert wait_until(lambda: len(received) >= len(BIG_JOB), 10.0)
            assert bytes(received) == BIG_JOB
        finally:
            transport.close()


def test_file_a_device_nobody_reads_fails_to_open_instead_of_blocking(fifo: Path) -> None:
    transport = FileTransport(str(fifo), write_timeout=0.5)
    try:
        error = run_bounded(transport.open, 5.0)
    finally:
        # release an open() still blocked in the kernel, so the test leaves no thread
        with suppress(OSError):
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        transport.close()
    assert isinstance(error, TransportError)
    assert "cannot open" in str(error)
    assert not transport.is_open


# --- through the outbox: the job waits, the device recovers ------------------------------


def receipt_of(lines: int) -> Callable[[object, OutboxJob], Document]:
    """Receipts of ``lines`` lines: more than the buffers between us and the printer."""

    def receipt(conn: object, job: OutboxJob) -> Document:
        head = ("*** KOPIE ***",) if job.payload.get("copy") else ()
        body = (f"Artikel {i:06d}  ................  1,00 EUR" for i in range(lines))
        texts = (*head, f"Beleg-Nr. {job.receipt_number}", *body, "Vielen Dank!")
        return Document(columns=48, blocks=tuple(Text(t) for t in texts), cut=True)

    return receipt


def outbox_stall_then_recover(
    tmp_path: Path,
    printer: EscPosPrinter,
    resume: threading.Event,
    received: bytearray,
    lines: int,
) -> None:
    """A job to a printer that reads nothing fails with a device error and stays
    pending; once the printer reads again (over a new connection: the printer object
    dropped the stalled one) the job is printed, marked as a copy (it may be on paper
    in part)."""
    db = DbExecutor(open_database(tmp_path / "db.sqlite3"))
    now = datetime.now(UTC)
    db.write_sync(
        lambda tx: outbox.enqueue(
            tx.conn, kind="print", ref="s1", receipt_number=7, payload={}, when=now
        )
    )
    worker = OutboxWorker(
        db, printer, PrinterDrawer(printer), receipt_of(lines), lambda: datetime.now(UTC),
        Metrics.create(),
    )  # fmt: skip

    def first() -> OutboxJob | None:
        jobs = db.read_sync(lambda c: outbox.pending(c, 10, "print"))
        return jobs[0] if jobs else None

    async def until(cond: Callable[[], bool], within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if cond():
                return True
            await asyncio.sleep(0.02)
        return cond()

    async def run() -> None:
        worker.start()
        try:
            # the stall fails the attempt within the write timeout, not never
            assert await until(lambda: (j := first()) is not None and j.attempts >= 1, 10.0)
            job = first()
            assert job is not None  # still queued: nothing lost
            assert "did not accept data within" in job.last_error
            resume.set()  # the printer reads again
            worker.wake()
            assert await until(lambda: db.read_sync(outbox.count_pending) == 0, 20.0)
        finally:
            await worker.stop()
            printer.close()

    try:
        asyncio.run(run())
    finally:
        db.close()
    assert b"Beleg-Nr. 7" in received
    assert b"*** KOPIE ***" in received  # the retry after a cut-off job is a copy


def test_tcp_outbox_job_to_a_stalled_printer_waits_and_prints_when_it_reads_again(
    tmp_path: Path,
) -> None:
    with tcp_peer(rate=None) as (port, received, resume):
        printer = EscPosPrinter(
            TcpTransport("127.0.0.1", port, connect_timeout=1.0, write_timeout=0.5),
            get_profile("generic-80mm"),
            check_status=False,
        )
        # some 4 MB: more than loopback's socket buffers take from a peer not reading
        outbox_stall_then_recover(tmp_path, printer, resume, received, lines=100_000)


def test_file_outbox_job_to_a_stalled_printer_waits_and_prints_when_it_reads_again(
    tmp_path: Path, fifo: Path
) -> None:
    with fifo_reader(fifo, rate=None) as (received, resume):
        printer = EscPosPrinter(
            FileTransport(str(fifo), write_timeout=0.5),
            get_profile("generic-80mm"),
            check_status=False,
        )
        outbox_stall_then_recover(tmp_path, printer, resume, received, lines=5_000)


# --- through the device manager: the error state, the other devices go on ----------------


def test_manager_a_stalled_file_printer_is_in_error_and_other_devices_keep_working(
    fifo: Path,
) -> None:
    events: list[object] = []
    manager = DeviceManager(emit=lambda payload, device_id: events.append(payload))
    with fifo_reader(fifo, rate=None) as (received, resume), TcpPrinterSimulator("ok") as sim:
        stalled = build_printer(
            "lp0", f"file://{fifo}?write_timeout=0.5", get_profile("generic-80mm"),
            poll_interval=0.05, status_timeout=0.3,
        )  # fmt: skip
        other = build_printer(
            "net", sim.url, get_profile("generic-80mm"), poll_interval=0.05, status_timeout=0.3
        )
        manager.add(stalled)
        manager.add(other)
        manager.start()
        try:
            assert wait_until(lambda: other.state is DeviceState.IDLE)
            big = Document(
                columns=48,
                blocks=tuple(Text(f"Artikel {i:06d}  ......  1,00 EUR") for i in range(5_000)),
                cut=True,
            )
            job = stalled.print_document(big)
            with pytest.raises(DeviceError, match=r"did not accept data within 0\.5 s") as err:
                job.result(10)
            assert err.value.partly_done  # the retry is a copy
            assert wait_until(lambda: stalled.state is DeviceState.ERROR)
            # the other printer (its own thread) prints meanwhile
            other.print_document(sample_receipt()).result(5)
            assert sim.core.wait_received(RECEIPT_MARKER.encode("cp858"))
            resume.set()  # the printer reads again: the next job reopens the file
            stalled.print_document(sample_receipt()).result(10)
            assert wait_until(lambda: RECEIPT_MARKER.encode("cp858") in received, 5)
            assert wait_until(lambda: stalled.state is DeviceState.IDLE)
        finally:
            manager.stop()
