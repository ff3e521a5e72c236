"""A USB printer's write timeout bounds a stall, not how long a job takes to send.

A printer takes a bulk transfer only as fast as its receive buffer empties onto the
paper; a job larger than that buffer takes as long to send as the printer needs to print
most of it. Sent as one transfer with the write timeout, a long job (a report, a raster
QR code) timed out though the printer kept taking bytes: printed in part, and its retry
cut off the same way.
"""

from __future__ import annotations

import array
import errno
import time

import usb.core

from posd_daemon.devices.sim import FakeUsbBackend, FakeUsbPrinter, _Handle
from posd_daemon.devices.transport import open_transport


class SlowUsbBackend(FakeUsbBackend):
    """A printer that takes ``rate`` bytes per second; a transfer it cannot take within
    its timeout fails as libusb's does (LIBUSB_ERROR_TIMEOUT)."""

    def __init__(self, printer: FakeUsbPrinter, rate: float) -> None:
        super().__init__(printer)
        self.rate = rate

    def bulk_write(
        self, handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        needed = len(data) / self.rate
        if timeout and needed > timeout / 1000:
            time.sleep(timeout / 1000)
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        time.sleep(needed)
        return super().bulk_write(handle, ep, intf, data, timeout)


def test_a_job_the_printer_keeps_taking_is_not_cut_off_by_the_timeout() -> None:
    printer = FakeUsbPrinter()
    backend = SlowUsbBackend(printer, rate=4000)
    transport = open_transport("usb://04b8:0e15?serial=SIM0001&timeout=1", usb_backend=backend)
    transport.open()
    try:
        # 6 KB of text lines: 1.5 s at the printer's pace, longer than the 1 s timeout
        job = b"".join(b"line %04d ..................................\n" % i for i in range(128))
        assert len(job) > 4000
        started = time.monotonic()
        transport.write(job)  # before the fix: TransportError (USB timeout) after 1 s
        assert time.monotonic() - started > 1.0
        assert job in bytes(printer.core.received)
    finally:
        transport.close()
