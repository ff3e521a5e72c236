"""Bad input from devices over real transports (a pty pair, a TCP socket): it is
reported, changes nothing, and the next good input still works.

* A scanner line that is only an AIM symbology identifier (``]E0`` and the line end: a
  scanner configured to prefix identifiers that lost or never read the code) carries no
  code; it must not reach the sale as the "code" ``]E0``.
* A printer that answers ``DLE EOT`` too late: the replies that arrive after the wait
  gave up belong to the old question, and must not be taken as the answer to the next.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from posd_daemon.devices.escpos.codec import STATUS_REQUEST_ALL
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.manager import DeviceManager, ScannerDevice, build_scanner
from posd_daemon.devices.model import ScanRejected
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.scanning import Code
from posd_daemon.devices.sim import PtyDevice
from posd_daemon.devices.transport import TcpTransport


def _wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class _Events:
    def __init__(self) -> None:
        self.items: list[object] = []
        self._lock = threading.Lock()

    def __call__(self, payload: object, device_id: str) -> None:
        with self._lock:
            self.items.append(payload)

    def rejected(self) -> list[ScanRejected]:
        with self._lock:
            return [e for e in self.items if isinstance(e, ScanRejected)]


@contextmanager
def _pty_scanner() -> Iterator[tuple[PtyDevice, ScannerDevice, queue.Queue[Code], _Events]]:
    """A scanner on a pty pair, run by a real DeviceManager: (the pty to type into, the
    scanner, the codes it read, the events it sent)."""
    with PtyDevice() as pty:
        events = _Events()
        manager = DeviceManager(emit=events)
        scanner = build_scanner("scanner", pty.url(9600))
        assert isinstance(scanner, ScannerDevice)
        got: queue.Queue[Code] = queue.Queue()
        scanner.on_code = lambda device_id, code: got.put(code)
        manager.add(scanner)
        manager.start()
        try:
            assert _wait_until(lambda: scanner.online)
            yield pty, scanner, got, events
        finally:
            manager.stop()


def test_a_scanner_line_with_only_an_aim_identifier_is_rejected_not_a_code() -> None:
    with _pty_scanner() as (pty, scanner, got, events):
        # the identifier alone, then one cut short to two characters, then a good scan
        pty.write(b"]E0\r\n")
        pty.write(b"]E\r\n")
        pty.write(b"]E04006381333931\r\n")
        assert got.get(timeout=2) == Code("4006381333931", "EAN13")
        assert got.empty(), "an AIM identifier without a code was taken as a code"
        assert _wait_until(lambda: len(events.rejected()) == 2)
        rejected = events.rejected()
        assert [e.reason for e in rejected] == ["TOO_SHORT", "TOO_SHORT"]
        assert "]E0" in rejected[0].detail and "no code" in rejected[0].detail
        stats = scanner.snapshot().statistics
        assert (stats.scans, stats.scans_rejected) == (1, 2)
        assert scanner.online  # the reader keeps running


# DLE EOT n replies (bits 0, 1, 4, 7 fixed to 0, 1, 1, 0; Epson ESC/POS reference,
# DLE EOT): all clear, and paper end (DLE EOT 2 bit 5, DLE EOT 4 bits 5+6).
READY = bytes([0x12, 0x12, 0x12, 0x12])
PAPER_END = bytes([0x12, 0x12 | 0x20, 0x12, 0x12 | 0x60])


@contextmanager
def late_first_answer(delay: float) -> Iterator[tuple[int, list[int]]]:
    """A network printer (a real TCP socket) whose answer to the first status question
    comes ``delay`` seconds late and says paper end; every later question is answered at
    once with "ready" (the roll was changed meanwhile). Yields (port, connection count)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    questions = 0
    connections: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        nonlocal questions
        buf = b""
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while STATUS_REQUEST_ALL in buf:
                    buf = buf.split(STATUS_REQUEST_ALL, 1)[1]
                    with lock:
                        questions += 1
                        first = questions == 1
                    if first:
                        time.sleep(delay)
                    with suppress(OSError):
                        conn.sendall(PAPER_END if first else READY)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            connections.append(1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port, connections
    finally:
        stop.set()
        server.close()
        thread.join(2)


def test_a_late_status_reply_is_not_the_answer_to_the_next_question() -> None:
    with late_first_answer(delay=0.6) as (port, _connections):
        printer = EscPosPrinter(
            TcpTransport("127.0.0.1", port), get_profile("generic-80mm"), status_timeout=0.3
        )
        with printer:
            first = printer.read_status()
            assert not first.reachable
            assert "got 0 of 4" in first.detail
            # asked again at once: the old question's paper-end answer arrives while this
            # one waits, and is not this question's answer
            second = printer.read_status()
            assert second.ready, second.summary()
            assert not second.paper_end


def test_megabytes_without_a_line_end_are_one_rejection_and_the_next_scan_works() -> None:
    """A stuck scanner (or a baud rate mismatch) sends a megabyte with no line end: one
    TOO_LONG, a bounded line buffer, and the next scan after a pause is read."""
    with _pty_scanner() as (pty, scanner, got, events):
        for _ in range(16):
            pty.write(b"\xff\x00A" * 21846)  # 64 KiB of noise per write, 1 MiB in all
            assert len(scanner.decoder.pending) <= 67
        time.sleep(1.0)  # longer than the partial-code timeout
        pty.write(b"4006381333931\r\n")
        assert got.get(timeout=3) == Code("4006381333931", "EAN13")
        assert [e.reason for e in events.rejected()] == ["TOO_LONG"]
        assert scanner.online
