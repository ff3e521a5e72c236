"""A printer and a pole display on real serial ports (pty pairs) through pyserial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES
from posd_daemon.devices.errors import PrinterNotReadyError, TransportError
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.pole_display import PoleDisplay
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.sim import PtyDevice, SerialDisplaySim, SerialPrinterSim
from posd_daemon.devices.transport import SerialTransport, open_transport
from tests.support.devices import RECEIPT_MARKER, sample_receipt

MARKER = RECEIPT_MARKER.encode("cp858")


@pytest.fixture
def pty_printer() -> Iterator[SerialPrinterSim]:
    sim = SerialPrinterSim()
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def test_print_and_status_over_a_serial_port(pty_printer: SerialPrinterSim) -> None:
    printer = EscPosPrinter(
        open_transport(pty_printer.url(baud=19200)),
        get_profile("generic-58mm"),
        status_timeout=0.5,
    )
    with printer:
        assert printer.read_status().ready
        receipt = sample_receipt(32)
        printer.print_document(receipt)
        assert pty_printer.wait_received(b"Vielen Dank!\n\x1bd\x04")  # 58 mm: tear-off feed
        assert pty_printer.core.text_lines(columns=32)[0].strip() == RECEIPT_MARKER


@pytest.mark.parametrize("state", ["paper_end", "cover_open", "offline"])
def test_serial_faults_and_recovery(pty_printer: SerialPrinterSim, state: str) -> None:
    printer = EscPosPrinter(
        SerialTransport(pty_printer.path), get_profile("generic-80mm"), status_timeout=0.5
    )
    with printer:
        pty_printer.set_state(state)
        with pytest.raises(PrinterNotReadyError):
            printer.print_document(sample_receipt())
        assert MARKER not in pty_printer.received
        pty_printer.set_state("ok")
        printer.print_document(sample_receipt())
        assert pty_printer.wait_received(MARKER)


def test_unplugged_serial_printer(pty_printer: SerialPrinterSim) -> None:
    printer = EscPosPrinter(
        SerialTransport(pty_printer.path), get_profile("generic-80mm"), status_timeout=0.3
    )
    with printer:
        assert printer.read_status().ready
        pty_printer.unplug()
        status = printer.read_status()
        assert status.fault_code() == "UNREACHABLE"
        assert pty_printer.path in status.detail
        with pytest.raises(PrinterNotReadyError, match="UNREACHABLE"):
            printer.print_document(sample_receipt())


def test_missing_serial_port_is_explained() -> None:
    transport = SerialTransport("/dev/ttyUSB-does-not-exist")
    with pytest.raises(TransportError) as info:
        transport.open()
    message = str(info.value)
    assert "cannot open serial port /dev/ttyUSB-does-not-exist (9600 baud)" in message
    assert "plugged in" in message


def test_serial_port_held_by_another_program(pty_printer: SerialPrinterSim) -> None:
    first = SerialTransport(pty_printer.path)
    first.open()
    try:
        with pytest.raises(TransportError, match="busy"):
            SerialTransport(pty_printer.path).open()
    finally:
        first.close()


def test_serial_transport_reads_what_the_device_sends() -> None:
    with PtyDevice() as scanner:
        transport = SerialTransport(scanner.path)
        transport.open()
        try:
            assert transport.read(16, 0.01) == b""
            scanner.write(b"4006381333931\r\n")
            got = b""
            while not got.endswith(b"\r\n"):
                chunk = transport.read(64, 1.0)
                assert chunk, "scanner data did not arrive"
                got += chunk
            assert got == b"4006381333931\r\n"  # raw mode: no CR/LF translation
        finally:
            transport.close()


@pytest.mark.parametrize("name", ["epson-dm-d", "cd5220"])
def test_pole_display_over_a_serial_port(name: str) -> None:
    profile = BUILTIN_DISPLAY_PROFILES[name]
    with SerialDisplaySim(profile) as sim:
        assert isinstance(sim, SerialDisplaySim)
        display = PoleDisplay(SerialTransport(sim.path), profile)
        try:
            display.show("Brötchen      1,20 €", "Summe 3,70 € - Grüße")
            assert sim.display.wait_for_lines(("Brötchen      1,20 €", "Summe 3,70 € - Grüße"))
            display.clear()
            assert sim.display.wait_for_lines(("", ""))
            assert display.writes == 2
        finally:
            display.close()
