"""Device test helpers: sample documents and simulated printers ready to use.

The simulators themselves live in ``posd_daemon.devices.sim`` (the demo uses them too);
this module re-exports them and adds what only tests need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from posd_daemon.devices.escpos.profile import PrinterProfile, get_profile
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.sim import (
    FakeUsbBackend,
    FakeUsbPrinter,
    LoopbackTransport,
    PrinterSimCore,
    SerialPrinterSim,
    TcpPrinterSimulator,
    escpos_to_plain_text,
    escpos_to_text,
)
from posd_daemon.devices.transport import TcpTransport
from posd_daemon.domain.document import Align, Barcode, Document, Feed, QrCode, Text

__all__ = [
    "FakeUsbBackend",
    "FakeUsbPrinter",
    "LoopbackTransport",
    "PrinterSimCore",
    "SerialPrinterSim",
    "TcpPrinterSimulator",
    "escpos_to_plain_text",
    "escpos_to_text",
    "loopback_printer",
    "sample_receipt",
    "tcp_printer",
]

#: Marker text that only appears in the sample receipt, to tell whether it was sent.
RECEIPT_MARKER = "Bäckerei Müßig"


def sample_receipt(columns: int = 48, *, marker: str = RECEIPT_MARKER) -> Document:
    """A German receipt using every block kind the printer codec handles natively."""
    return Document(
        columns=columns,
        blocks=(
            Text(marker, Align.CENTER, bold=True, large=True),
            Text("Hauptstraße 5, 80331 München", Align.CENTER),
            Feed(1),
            Text("2x Brötchen".ljust(columns - 8) + "1,20 €".rjust(8)),
            Text("1x Süßes Teilchen".ljust(columns - 8) + "2,50 €".rjust(8)),
            Text("SUMME".ljust(columns - 8) + "3,70 €".rjust(8), bold=True),
            Feed(1),
            QrCode("V0;kasse-1;Kassenbeleg-V1;Beleg^3.70_0.00_0.00_0.00_0.00^3.70:Bar"),
            Barcode("4006381333931", "EAN13"),
            Text("Vielen Dank!", Align.CENTER),
        ),
        cut=True,
    )


def loopback_printer(
    state: str = "ok",
    profile: PrinterProfile | None = None,
    *,
    check_status: bool | None = None,
    status_timeout: float = 0.3,
) -> tuple[EscPosPrinter, PrinterSimCore]:
    """An EscPosPrinter wired in memory to a simulated printer."""
    core = PrinterSimCore(state)
    printer = EscPosPrinter(
        LoopbackTransport(core),
        profile or get_profile("generic-80mm"),
        check_status=check_status,
        status_timeout=status_timeout,
    )
    return printer, core


@contextmanager
def tcp_printer(
    state: str = "ok", profile: PrinterProfile | None = None, status_timeout: float = 0.3
) -> Iterator[tuple[EscPosPrinter, TcpPrinterSimulator]]:
    """A TCP printer simulator and an EscPosPrinter connected to it."""
    with TcpPrinterSimulator(state) as sim:
        printer = EscPosPrinter(
            TcpTransport(sim.host, sim.port, connect_timeout=1.0),
            profile or get_profile("generic-80mm"),
            status_timeout=status_timeout,
        )
        try:
            yield printer, sim
        finally:
            printer.close()
