"""What a job's outcome is when the network printer is slow, reboots or goes silent.

Real TCP sockets to printers served from threads here (a small receive buffer, a
printer working off its buffer at its own pace, a reset connection). After a job the
printer must neither be called interrupted because it is slow (a false copy), nor
called fine when it lost the receipt (a lost receipt); a job that may be on paper in
part is always retried as a copy (``partly_done``).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

from posd_daemon.devices.errors import (
    PrinterNotReadyError,
    PrintInterruptedError,
    TransportError,
)
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.sim import PrinterSimCore
from posd_daemon.devices.transport import TcpTransport
from posd_daemon.domain.document import Align, Document, QrCode, Text
from tests.support.devices import RECEIPT_MARKER, sample_receipt, tcp_printer

#: bytes per second a slow but healthy printer works off its buffer (~100 mm/s)
RATE = 4000

Handler = Callable[[socket.socket, int, PrinterSimCore], None]


@contextmanager
def printer_server(handler: Handler, *, rcvbuf: int = 4096) -> Iterator[tuple[int, PrinterSimCore]]:
    """A listening socket on 127.0.0.1; each connection is served by ``handler``
    (connection, its number from 1, the shared simulated printer) in a thread."""
    core = PrinterSimCore("ok")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # a printer's buffer
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    count = 0

    def serve(conn: socket.socket, n: int) -> None:
        with conn, suppress(OSError):
            handler(conn, n, core)

    def accept() -> None:
        nonlocal count
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            count += 1
            threading.Thread(target=serve, args=(conn, count), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], core
    finally:
        listener.close()


def reset(conn: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the printer rebooted, its buffer is gone."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def printer_on(port: int, status_timeout: float = 0.5) -> EscPosPrinter:
    return EscPosPrinter(
        TcpTransport("127.0.0.1", port, connect_timeout=1.0),
        get_profile("generic-80mm"),
        status_timeout=status_timeout,
    )


def long_receipt() -> Document:
    lines = tuple(
        Text(f"{i:3d} Artikel Nummer {i:05d}".ljust(40) + "1,99 €".rjust(8)) for i in range(120)
    )
    return Document(
        columns=48, blocks=(Text("Bäckerei", Align.CENTER), *lines, QrCode("x" * 300)), cut=True
    )


def slow_printer(conn: socket.socket, n: int, core: PrinterSimCore) -> None:
    """Answers DLE EOT on reception; once printing, works off its buffer at RATE."""
    while data := conn.recv(256):
        reply = core.feed(data)
        if reply:
            conn.sendall(reply)
        if len(core.received) > 200:
            time.sleep(len(data) / RATE)


def test_a_long_receipt_on_a_slow_healthy_printer_is_not_interrupted() -> None:
    # the DLE EOT sent right after the job waits behind ~1 s of the job's bytes: longer
    # than status_timeout, well within the wait after a job of that size
    with printer_server(slow_printer) as (port, core), printer_on(port, 1.0) as printer:
        doc = long_receipt()
        assert printer.read_status().ready
        started = time.monotonic()
        printer.print_document(doc)
        took = time.monotonic() - started
        assert took > printer.status_timeout  # the replies really came late
        assert printer.last_status is not None and printer.last_status.ready
        assert b"x" * 300 in core.received
        assert printer.statistics.jobs == 1
        assert printer.statistics.errors == 0


def test_the_wait_after_a_job_grows_with_its_size_and_is_bounded() -> None:
    printer = printer_on(1, status_timeout=1.0)
    assert printer.after_job_timeout(0) == 1.0
    assert printer.after_job_timeout(5000) > printer.after_job_timeout(500) > 1.0
    assert printer.after_job_timeout(10**9) <= 61.0  # below the outbox's job timeout


def test_a_printer_silent_after_the_job_counts_as_interrupted() -> None:
    # No reply at all is unknown: the job must not be marked done (the printer may be
    # gone with the receipt), so it is interrupted, partly done: the retry is a copy.
    with tcp_printer(status_timeout=0.2) as (printer, sim):
        sim.core.fault_when_received(RECEIPT_MARKER.encode("cp858"), "unresponsive")
        with pytest.raises(PrintInterruptedError) as info:
            printer.print_document(sample_receipt())
        assert info.value.partly_done
        assert info.value.code == "UNREACHABLE"
        assert "within" in str(info.value)


def test_offline_alone_after_a_job_is_not_an_interruption() -> None:
    # FEED pressed while the receipt prints: offline, but no fault: the receipt is fine
    with tcp_printer(status_timeout=0.2) as (printer, sim):
        sim.core.fault_when_received(RECEIPT_MARKER.encode("cp858"), "offline")
        printer.print_document(sample_receipt())
        assert printer.last_status is not None
        assert not printer.last_status.online
        assert printer.statistics.errors == 0


def rebooting_after_100_job_bytes(conn: socket.socket, n: int, core: PrinterSimCore) -> None:
    """The first connection dies (RST) after 100 bytes of the job; later ones are fine."""
    got = 0
    while data := conn.recv(64):
        if n == 1 and (got or data.startswith(b"\x1b@")):
            core.feed(data[: max(0, 100 - got)])
            got += len(data)
            if got >= 100:
                reset(conn)
                return
            continue
        reply = core.feed(data)
        if reply:
            conn.sendall(reply)


def test_a_connection_lost_right_after_the_job_is_an_interruption_not_a_reconnect() -> None:
    with printer_server(rebooting_after_100_job_bytes) as (port, core), printer_on(port) as printer:
        assert printer.read_status().ready
        with pytest.raises(PrintInterruptedError) as info:
            printer.print_document(sample_receipt())
        assert info.value.partly_done
        assert "connection lost right after the job" in str(info.value)
        assert b"Vielen Dank!" not in core.received  # the end of the receipt is lost
        # the retry (a copy, by the outbox) goes over a new connection and arrives whole
        printer.print_document(sample_receipt())
        assert core.wait_received(b"Vielen Dank!")


def reset_after_2000_job_bytes(conn: socket.socket, n: int, core: PrinterSimCore) -> None:
    got = 0
    while data := conn.recv(64):
        if got or data.startswith(b"\x1b@"):
            got += len(data)
            core.feed(data)
            if got > 2000:  # printed ~2 KB of the receipt, then the printer reboots
                time.sleep(0.3)
                reset(conn)
                return
            continue
        reply = core.feed(data)
        if reply:
            conn.sendall(reply)


def test_a_connection_reset_while_sending_is_partly_done() -> None:
    doc = Document(
        columns=48, blocks=tuple(Text(f"Zeile {i:05d}".ljust(48, ".")) for i in range(150_000))
    )
    with printer_server(reset_after_2000_job_bytes) as (port, core), printer_on(port) as printer:
        with pytest.raises(TransportError) as info:
            printer.print_document(doc)
        assert b"Zeile 00000" in core.received  # part of the receipt is on paper
        assert info.value.partly_done
        assert "may be partly printed" in str(info.value)


def test_a_refused_connection_before_the_job_is_not_partly_done() -> None:
    # nothing was sent: the retry is the original
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    printer = EscPosPrinter(
        TcpTransport("127.0.0.1", port, connect_timeout=0.5),
        get_profile("generic-80mm"),
        check_status=False,
    )
    with pytest.raises(TransportError) as info:
        printer.print_document(sample_receipt())
    assert not info.value.partly_done
    with tcp_printer("unresponsive", status_timeout=0.1) as (checked, _sim):
        with pytest.raises(PrinterNotReadyError) as not_ready:
            checked.print_document(sample_receipt())
        assert not not_ready.value.partly_done
