"""EscPosPrinter's logic over an in-memory simulated printer (no sockets, no threads)."""

from __future__ import annotations

import time

import pytest

from posd_daemon.devices.errors import (
    DeviceError,
    PrinterJobError,
    PrinterNotReadyError,
    TransportError,
)
from posd_daemon.devices.escpos.codec import STATUS_REQUEST_ALL, enable_asb
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter, PrinterDrawer
from posd_daemon.devices.sim import LoopbackTransport, PrinterSimCore
from posd_daemon.domain.document import Document, Text
from posd_daemon.services import device_ports
from tests.support.devices import RECEIPT_MARKER, loopback_printer, sample_receipt

MARKER = RECEIPT_MARKER.encode("cp858")


def test_print_checks_status_then_sends_the_job() -> None:
    printer, core = loopback_printer()
    printer.print_document(sample_receipt())
    assert core.received.startswith(STATUS_REQUEST_ALL + b"\x1b@\x1bt\x13")
    assert core.text_lines()[0].strip() == RECEIPT_MARKER
    assert printer.last_status is not None
    assert printer.last_status.ready
    assert printer.columns == 48


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("paper_end", "PAPER_END"),
        ("cover_open", "COVER_OPEN"),
        ("offline", "OFFLINE"),
        ("cutter_error", "CUTTER_ERROR"),
        ("unrecoverable_error", "PRINTER_ERROR"),
        ("unresponsive", "UNREACHABLE"),
    ],
)
def test_not_ready_is_raised_before_any_job_byte_and_printing_resumes(
    state: str, code: str
) -> None:
    printer, core = loopback_printer(state, status_timeout=0.1)
    with pytest.raises(PrinterNotReadyError) as info:
        printer.print_document(sample_receipt())
    assert info.value.code == code
    assert isinstance(info.value, device_ports.DeviceError)  # the outbox keeps the job
    assert MARKER not in core.received
    assert printer.statistics.jobs == 0
    assert printer.statistics.errors == 1

    core.set_state("ok")
    printer.print_document(sample_receipt())
    assert MARKER in core.received
    assert printer.statistics.jobs == 1


def test_paper_near_end_still_prints_and_is_reported() -> None:
    printer, core = loopback_printer("paper_near_end")
    printer.print_document(sample_receipt())
    assert MARKER in core.received
    assert printer.last_status is not None
    assert printer.last_status.paper_near_end


def test_silent_printer_times_out_quickly_as_unreachable() -> None:
    printer, _ = loopback_printer("unresponsive", status_timeout=0.15)
    started = time.monotonic()
    status = printer.read_status()
    assert time.monotonic() - started < 1.0
    assert not status.reachable
    assert "no status reply from simulated printer within 0.15 s (got 0 of 4)" in status.detail


def test_garbage_instead_of_replies_hints_at_the_baud_rate() -> None:
    class Garbled(LoopbackTransport):
        def write(self, data: bytes) -> None:
            self._on_output(b"\xff\xfe\x80")

    printer = EscPosPrinter(Garbled(), get_profile("generic-80mm"), status_timeout=0.1)
    status = printer.read_status()
    assert not status.reachable
    assert "unexpected byte(s) (ff fe 80)" in status.detail
    assert "wrong baud rate" in status.detail


def test_stale_replies_and_asb_packets_do_not_confuse_the_next_read() -> None:
    printer, core = loopback_printer()
    printer.write_raw(enable_asb())  # the printer answers with an ASB packet at once
    printer.transport.write(b"\x10\x04\x04")  # a stray late reply (0x12)
    core.set_state("cover_open")  # another ASB packet
    status = printer.read_status()
    assert status.cover_open
    assert status.fault_code() == "COVER_OPEN"
    assert printer.last_asb is not None
    assert printer.last_asb.cover_open


def test_asb_between_replies_is_set_aside() -> None:
    class Interleaving(LoopbackTransport):
        def write(self, data: bytes) -> None:
            reply = self.core.feed(data)
            # an ASB packet arrives between the 2nd and 3rd reply
            self._on_output(reply[:2] + b"\x18\x00\x0c\x00" + reply[2:])

    core = PrinterSimCore("paper_near_end")
    printer = EscPosPrinter(Interleaving(core), get_profile("generic-80mm"))
    status = printer.read_status()
    assert status.ready
    assert status.paper_near_end
    assert printer.last_asb is not None
    assert printer.last_asb.paper_end


def test_drawer_kick_and_sensor() -> None:
    printer, core = loopback_printer()
    assert printer.kick_drawer() is not None  # the status read before the kick
    assert core.received.endswith(b"\x1bp\x00\x32\x64")  # profile defaults: pin 2, 100/200 ms
    assert core.drawer_open
    assert printer.read_status().drawer_open is True
    core.close_drawer()
    assert printer.read_status().drawer_open is False
    printer.kick_drawer(pin=5, on_ms=60, off_ms=120)
    assert core.received.endswith(b"\x1bp\x01\x1e\x3c")
    assert printer.statistics.drawer_kicks == 2


def test_drawer_kick_refused_while_offline_so_it_cannot_pop_open_later() -> None:
    printer, core = loopback_printer("paper_end")
    with pytest.raises(PrinterNotReadyError, match="open the drawer") as info:
        printer.kick_drawer()
    assert info.value.code == "PAPER_END"
    assert b"\x1bp" not in core.received
    # paper near end does not stop a kick
    core.set_state("paper_near_end")
    printer.kick_drawer()
    assert core.drawer_open


def test_realtime_kick_works_while_offline() -> None:
    profile = get_profile("generic-80mm").with_overrides({"realtime_drawer_kick": True})
    printer, core = loopback_printer("paper_end", profile)
    assert printer.kick_drawer() is None
    assert core.received == b"\x10\x14\x01\x00\x01"  # no status read, DLE DC4 1 0 1
    assert core.drawer_open


def test_read_status_after_kick_quirk() -> None:
    profile = get_profile("generic-80mm").with_overrides({"read_status_after_kick": True})
    printer, core = loopback_printer(profile=profile)
    status = printer.kick_drawer()
    assert status is not None
    assert status.drawer_open is True  # read after the kick
    assert core.received.endswith(b"\x1bp\x00\x32\x64" + STATUS_REQUEST_ALL)


def test_drawer_port_adapter() -> None:
    printer, core = loopback_printer()
    drawer = PrinterDrawer(printer, pin=5)
    drawer.open()
    assert b"\x1bp\x01" in core.received
    assert drawer.is_open() is True


def test_statistics() -> None:
    printer, _ = loopback_printer()
    receipt = sample_receipt()
    printer.print_document(receipt)
    printer.print_document(Document(48, (Text("x"),), cut=False))
    stats = printer.statistics
    assert stats.jobs == 2
    assert stats.lines == 6 + 2 + 1  # 6 text lines + 2 fed lines, then 1 text line
    assert stats.cuts == 1
    assert stats.status_reads == 4  # before and after each job
    assert stats.errors == 0
    assert stats.bytes_written > 0


def test_without_status_support_jobs_go_out_unchecked() -> None:
    printer, core = loopback_printer("paper_end", check_status=False)
    status = printer.read_status()
    assert status.ready
    assert not status.known
    printer.print_document(sample_receipt())
    assert STATUS_REQUEST_ALL not in core.received
    assert MARKER in core.received


def test_profile_without_realtime_status_is_not_asked() -> None:
    profile = get_profile("generic-80mm").with_overrides({"realtime_status": False})
    printer, core = loopback_printer("paper_end", profile)
    assert not printer.check_status
    printer.print_document(sample_receipt())
    assert STATUS_REQUEST_ALL not in core.received


def test_document_too_wide_is_a_device_error_not_a_crash() -> None:
    printer, core = loopback_printer(profile=get_profile("epson-tm-t88"))
    with pytest.raises(PrinterJobError, match="48 columns") as info:
        printer.print_document(sample_receipt(48))
    assert info.value.code == "BAD_DOCUMENT"
    assert core.received == b""
    assert printer.statistics.errors == 1


def test_lost_connection_reconnects_on_the_next_operation() -> None:
    transport = LoopbackTransport()
    printer = EscPosPrinter(transport, get_profile("generic-80mm"), status_timeout=0.1)
    printer.print_document(sample_receipt())
    transport.connected = False  # cable pulled
    status = printer.read_status()
    assert status.fault_code() == "UNREACHABLE"
    assert "simulated printer is unplugged" in status.detail
    with pytest.raises(PrinterNotReadyError):
        printer.print_document(sample_receipt())
    with pytest.raises(TransportError):
        printer.write_raw(b"x")
    transport.connected = True  # plugged back in
    printer.print_document(sample_receipt())
    assert printer.statistics.jobs == 2


def test_errors_are_device_errors_with_codes() -> None:
    printer, _ = loopback_printer("cover_open")
    with pytest.raises(DeviceError) as info:
        printer.print_document(sample_receipt())
    assert str(info.value).startswith("COVER_OPEN: printer not ready to print: cover open")
