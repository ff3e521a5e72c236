"""FileTransport: /dev/usb/lp* style device files, here a plain file and a pty."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from posd_daemon.devices.errors import PrinterNotReadyError, TransportError
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.sim import SerialPrinterSim, escpos_to_plain_text
from posd_daemon.devices.transport import FileTransport, open_transport
from tests.support.devices import RECEIPT_MARKER, sample_receipt


def test_print_to_a_plain_file(tmp_path: Path) -> None:
    out = tmp_path / "receipts.bin"
    transport = open_transport(f"file://{out}")
    printer = EscPosPrinter(transport, get_profile("generic-80mm"))
    # a plain file cannot answer status requests: jobs go out unchecked
    assert not printer.check_status
    with printer:
        assert not printer.read_status().known
        first, second = sample_receipt(marker="first"), sample_receipt(marker="second")
        printer.print_document(first)
        printer.print_document(second)
        assert transport.read(16, 0.5) == b""  # write-only: reads come back empty at once
    data = out.read_bytes()
    assert data.startswith(b"\x1b@\x1bt\x13")
    assert b"\x10\x04" not in data  # no status requests into a file
    assert escpos_to_plain_text(data, columns=48) == first.plain_text() + second.plain_text()
    assert printer.statistics.jobs == 2


def test_appends_across_reopens(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    for _ in range(2):
        transport = FileTransport(str(out))
        transport.open()
        transport.write(b"ab")
        transport.close()
    assert out.read_bytes() == b"abab"


def test_missing_device_file_is_not_created() -> None:
    transport = open_transport("file:///dev/usb/lp-posd-test-missing")
    with pytest.raises(TransportError) as info:
        transport.open()
    assert "device file /dev/usb/lp-posd-test-missing" in str(info.value)
    assert "plugged in" in str(info.value)
    assert not os.path.exists("/dev/usb/lp-posd-test-missing")


def test_unwritable_file(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot open device file"):
        FileTransport(str(tmp_path / "no-such-dir" / "x.bin")).open()


def test_bidirectional_character_device_reads_status() -> None:
    """A character device opened read-write (like usblp with a bidirectional printer)
    answers status requests through the same FileTransport."""
    with SerialPrinterSim() as sim:
        assert isinstance(sim, SerialPrinterSim)
        transport = FileTransport(sim.path)
        assert transport.path.startswith("/dev/")
        printer = EscPosPrinter(transport, get_profile("generic-80mm"), status_timeout=0.5)
        with printer:
            printer.open()
            assert transport.supports_read
            assert printer.read_status().ready
            sim.set_state("paper_end")
            with pytest.raises(PrinterNotReadyError) as info:
                printer.print_document(sample_receipt())
            assert info.value.code == "PAPER_END"
            sim.set_state("ok")
            printer.print_document(sample_receipt())
            assert sim.wait_received(RECEIPT_MARKER.encode("cp858"))


def test_device_file_that_cannot_read_back_is_used_write_only() -> None:
    """/dev/null is a character device like /dev/usb/lp0 that reads back nothing (as
    with a unidirectional printer): status is assumed, jobs still go out."""
    transport = FileTransport("/dev/null")
    printer = EscPosPrinter(transport, get_profile("generic-80mm"), status_timeout=5.0)
    assert printer.check_status  # not known before the first read
    with printer:
        status = printer.read_status()
        assert status.ready
        assert not status.known
        assert not transport.supports_read
        printer.print_document(sample_receipt())
    assert printer.statistics.jobs == 1
