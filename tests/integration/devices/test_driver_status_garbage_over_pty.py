"""A device on the printer's serial port that is no ESC/POS printer (a pty pair).

Serial port names move between boots (ttyUSB0 and ttyUSB1 swap), so the printer's port
may carry a scale or another device that answers with ASCII. Some ASCII bytes happen to
be shaped like ``DLE EOT`` replies ('2' 0x32, '6' 0x36, ':' 0x3A, '>' 0x3E: 0xx1xx10),
and the rest of the answer is not: the technician must read that the device is not an
ESC/POS printer, not "paper end; cover open" decoded from a weight.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from posd_daemon.devices.errors import PrinterNotReadyError
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.sim import PtyDevice
from posd_daemon.devices.transport import SerialTransport
from tests.support.devices import RECEIPT_MARKER, sample_receipt

WEIGHT = b"ST,GS,+  0.26kg\r\n"


@contextmanager
def streaming(device: PtyDevice) -> Iterator[None]:
    """The scale in continuous mode: its weight line every 20 ms."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.02):
            with suppress(OSError):
                device.write(WEIGHT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(2)


def test_a_scale_on_the_printer_port_is_not_read_as_a_printer_status() -> None:
    with PtyDevice() as device, streaming(device):
        printer = EscPosPrinter(
            SerialTransport(device.path), get_profile("generic-80mm"), status_timeout=0.5
        )
        with printer:
            status = printer.read_status()
            assert not status.reachable, status.summary()
            assert status.fault_code() == "UNREACHABLE"
            assert "unexpected byte" in status.detail
            assert "not an ESC/POS printer" in status.detail
            with pytest.raises(PrinterNotReadyError) as info:
                printer.print_document(sample_receipt())
            assert info.value.code == "UNREACHABLE"
            assert not info.value.partly_done
            assert RECEIPT_MARKER.encode("cp858") not in device.received
