"""A serial printer's write timeout bounds a stall, not how long a job takes to send.

At 9600 baud a port moves about 960 bytes/s, and a printer that prints more slowly than
that holds the line with hardware flow control while it works: a job of some 10 KB (a
58 mm receipt with its QR code as a raster image) takes longer to send than the write
timeout even though every byte is accepted. Such a job must go out whole; only a line
that accepts nothing for the write timeout is a fault. And the wait for the last bytes
to leave (tcdrain) must be bounded too: a printer holding CTS low for good (paper out
mid-job) must not hang the device's thread for ever.
"""

from __future__ import annotations

import os
import termios
import threading
import time
import tty
from collections.abc import Iterator

import pytest
import serial

from posd_daemon.devices.errors import TransportError
from posd_daemon.devices.transport import SerialTransport


class SlowReader:
    """The printer's end of a pty pair, taking bytes at a limited rate."""

    def __init__(self, rate_bytes_per_s: float) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.rate = rate_bytes_per_s
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        chunk = 256
        while not self._stop.is_set():
            try:
                data = os.read(self.master, chunk)
            except OSError:
                return
            self.received += data
            time.sleep(len(data) / self.rate)

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.received) >= n

    def stop(self) -> None:
        self._stop.set()
        os.close(self._slave)
        os.close(self.master)
        self._thread.join(2)


@pytest.fixture
def slow_printer() -> Iterator[SlowReader]:
    reader = SlowReader(rate_bytes_per_s=32000)
    reader.start()
    try:
        yield reader
    finally:
        reader.stop()


def test_a_job_that_keeps_flowing_is_not_cut_off_by_the_write_timeout(
    slow_printer: SlowReader,
) -> None:
    transport = SerialTransport(slow_printer.path, write_timeout=1.0)
    transport.open()
    try:
        # 64 KB: well beyond what the pty buffers (about 17 KB; a pty lets the writer go on
        # only once the reader has taken all of it, here every 0.5 s), some 1.5 s in all
        job = bytes(range(256)) * 256
        started = time.monotonic()
        transport.write(job)  # before the fix: TransportError after 1 s
        assert time.monotonic() - started > 1.0  # it did take longer than the timeout
        assert slow_printer.wait_for(len(job), 5.0)
        assert bytes(slow_printer.received[: len(job)]) == job
    finally:
        transport.close()


def test_a_line_held_for_good_after_the_last_byte_fails_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the kernel does while the printer holds CTS low (paper out mid-job): the last
    # bytes stay in the port's output queue, and tcdrain() waits for them for ever.
    def tcdrain_held(fd: int) -> None:
        time.sleep(30)

    monkeypatch.setattr(termios, "tcdrain", tcdrain_held)
    monkeypatch.setattr(serial.Serial, "out_waiting", property(lambda self: 120))
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    transport = SerialTransport(os.ttyname(slave), write_timeout=0.5)
    transport.open()
    outcome: list[BaseException | None] = []

    def send() -> None:
        try:
            transport.write(b"receipt")
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    try:
        worker = threading.Thread(target=send, daemon=True)
        worker.start()
        worker.join(3.0)
        assert outcome, "the write hung on a line held by the printer"
        assert isinstance(outcome[0], TransportError)
        assert "did not accept data within 0.5 s" in str(outcome[0])
    finally:
        transport.close()
        os.close(slave)
        os.close(master)
