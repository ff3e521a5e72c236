"""EscPosPrinter over a real TCP socket to the network printer simulator."""

from __future__ import annotations

import socket

import pytest

from posd_daemon.devices.errors import (
    PrinterNotReadyError,
    PrintInterruptedError,
    TransportError,
)
from posd_daemon.devices.escpos.codec import enable_asb
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter, open_printer
from posd_daemon.devices.sim import TcpPrinterSimulator, escpos_to_plain_text
from posd_daemon.devices.transport import TcpTransport, open_transport
from tests.support.devices import RECEIPT_MARKER, sample_receipt, tcp_printer

MARKER = RECEIPT_MARKER.encode("cp858")


def test_receipt_arrives_byte_exact_and_reads_back_as_text() -> None:
    with tcp_printer() as (printer, sim):
        receipt = sample_receipt()
        printer.print_document(receipt)
        assert sim.core.wait_received(b"\x1dVB\x00")
        job = sim.received[sim.received.index(b"\x1b@") :]
        assert escpos_to_plain_text(job, columns=48) == receipt.plain_text()
        assert sim.connections == 1


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("paper_end", "PAPER_END"),
        ("cover_open", "COVER_OPEN"),
        ("offline", "OFFLINE"),
        ("unresponsive", "UNREACHABLE"),
    ],
)
def test_faults_hold_the_job_and_printing_resumes_after(state: str, code: str) -> None:
    with tcp_printer(state, status_timeout=0.2) as (printer, sim):
        with pytest.raises(PrinterNotReadyError) as info:
            printer.print_document(sample_receipt())
        assert info.value.code == code
        assert MARKER not in sim.received

        sim.set_state("ok")
        printer.print_document(sample_receipt())
        assert sim.core.wait_received(MARKER)


@pytest.mark.parametrize(
    ("state", "code"), [("paper_end", "PAPER_END"), ("cover_open", "COVER_OPEN")]
)
def test_a_fault_during_the_job_is_reported_after_it(state: str, code: str) -> None:
    with tcp_printer() as (printer, sim):
        # the roll ends (or the cover is opened) while the receipt is being printed
        sim.core.fault_when_received("Brötchen".encode("cp858"), state)
        with pytest.raises(PrintInterruptedError) as info:
            printer.print_document(sample_receipt())
        assert info.value.code == code
        assert info.value.partly_done
        assert "may be partly printed" in str(info.value)
        assert MARKER in sim.received  # sent: the status before the job was fine
        assert printer.statistics.errors == 1

        sim.set_state("ok")
        sim.core.clear()
        printer.print_document(sample_receipt())
        assert sim.core.wait_received(MARKER)


def test_printer_switched_off_then_on_again() -> None:
    with tcp_printer() as (printer, sim):
        printer.print_document(sample_receipt(marker="first"))
        sim.stop()  # switched off: connections cut, port closed
        status = printer.read_status()
        assert status.fault_code() == "UNREACHABLE"
        assert f"connection refused by network printer 127.0.0.1:{sim.port}" in status.detail
        with pytest.raises(PrinterNotReadyError, match="connection refused"):
            printer.print_document(sample_receipt(marker="second"))

        sim.start()  # back on the same port
        printer.print_document(sample_receipt(marker="third"))
        assert sim.core.wait_received(b"third")
        assert b"second" not in sim.received
        assert printer.statistics.jobs == 2


def test_a_dropped_idle_connection_is_reopened_transparently() -> None:
    with tcp_printer() as (printer, sim):
        printer.print_document(sample_receipt(marker="first"))
        sim.drop_connections()  # the printer closed our idle connection
        printer.print_document(sample_receipt(marker="second"))
        assert sim.core.wait_received(b"second")
        assert sim.connections == 2


def test_automatic_status_back_packets_are_recognised() -> None:
    with tcp_printer() as (printer, sim):
        printer.write_raw(enable_asb())
        assert sim.core.wait_for(lambda: sim.core.asb_mask == 0x0F)
        sim.set_state("paper_near_end")  # pushes an ASB packet
        status = printer.read_status()
        assert status.paper_near_end
        assert printer.last_asb is not None
        assert printer.last_asb.paper_near_end


def test_drawer_kick_over_tcp() -> None:
    with tcp_printer() as (printer, sim):
        printer.kick_drawer()
        assert sim.core.wait_for(lambda: sim.core.drawer_open)
        assert printer.read_status().drawer_open is True


def test_connection_refused_is_a_clear_transport_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = open_transport(f"tcp://127.0.0.1:{port}?timeout=1")
    with pytest.raises(TransportError) as info:
        transport.open()
    assert info.value.code == "UNREACHABLE"
    assert f"connection refused by network printer 127.0.0.1:{port}" in str(info.value)


def test_transport_read_semantics() -> None:
    with TcpPrinterSimulator() as sim:
        transport = TcpTransport(sim.host, sim.port)
        transport.open()
        transport.open()  # idempotent
        assert transport.read(4, 0.01) == b""  # nothing pending: timeout, not an error
        transport.write(b"\x10\x04\x01")
        assert transport.read(4, 1.0) == b"\x12"
        sim.stop()
        with pytest.raises(TransportError, match=r"closed the connection|connection to"):
            transport.read(4, 1.0)
        transport.close()
        transport.close()  # idempotent


def test_printer_from_a_url() -> None:
    with TcpPrinterSimulator() as sim:
        printer = EscPosPrinter(open_transport(sim.url), get_profile("epson-tm-t20"))
        with printer:
            printer.print_document(sample_receipt())
        assert sim.core.wait_received(MARKER)


def test_open_printer_from_configuration_values() -> None:
    with TcpPrinterSimulator() as sim:
        printer = open_printer(sim.url, {"base": "epson-tm-t88", "drawer_pin": 5})
        with printer:
            assert printer.columns == 42
            printer.kick_drawer()
        assert sim.core.wait_received(b"\x1bp\x01")
