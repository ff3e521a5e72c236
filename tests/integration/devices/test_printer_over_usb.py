"""UsbTransport through real pyusb code paths, on a fake pyusb backend."""

from __future__ import annotations

import pytest
import usb.core
import usb.util

from posd_daemon.devices.errors import PrinterNotReadyError, TransportError
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.sim import FakeUsbBackend, FakeUsbPrinter
from posd_daemon.devices.transport import UsbTransport, open_transport
from tests.support.devices import RECEIPT_MARKER, sample_receipt

MARKER = RECEIPT_MARKER.encode("cp858")


def usb_printer(
    backend: FakeUsbBackend, url: str = "usb://04b8:0e15?serial=SIM0001"
) -> EscPosPrinter:
    return EscPosPrinter(
        open_transport(url, usb_backend=backend), get_profile("epson-tm-t20"), status_timeout=0.3
    )


def test_the_fake_backend_works_with_plain_pyusb() -> None:
    backend = FakeUsbBackend(FakeUsbPrinter(serial="ABC123"))
    dev = usb.core.find(idVendor=0x04B8, idProduct=0x0E15, backend=backend)
    assert dev is not None
    assert dev.serial_number == "ABC123"
    assert dev.manufacturer == "EPSON"
    intf = dev[0][(0, 0)]
    assert intf.bInterfaceClass == 7
    addresses = sorted(e.bEndpointAddress for e in intf)
    assert addresses == [0x01, 0x82]
    usb.util.dispose_resources(dev)


def test_print_and_status_over_usb() -> None:
    device = FakeUsbPrinter()
    printer = usb_printer(FakeUsbBackend(device))
    with printer:
        assert printer.read_status().ready
        # usblp was detached and the printer interface claimed
        assert device.detach_count == 1
        assert not device.kernel_driver_active
        assert device.claimed == {0}
        receipt = sample_receipt()
        printer.print_document(receipt)
        assert MARKER in device.core.received
        assert device.core.text_lines()[0].strip() == RECEIPT_MARKER
    assert device.claimed == set()  # released on close


def test_usb_faults_and_recovery() -> None:
    device = FakeUsbPrinter()
    printer = usb_printer(FakeUsbBackend(device))
    with printer:
        for state, code in (("paper_end", "PAPER_END"), ("cover_open", "COVER_OPEN")):
            device.core.set_state(state)
            with pytest.raises(PrinterNotReadyError) as info:
                printer.print_document(sample_receipt())
            assert info.value.code == code
        assert MARKER not in device.core.received
        device.core.set_state("ok")
        printer.print_document(sample_receipt())
        assert MARKER in device.core.received


def test_unplug_and_replug() -> None:
    device = FakeUsbPrinter()
    printer = usb_printer(FakeUsbBackend(device))
    with printer:
        printer.print_document(sample_receipt(marker="first"))
        device.unplug()
        status = printer.read_status()
        assert status.fault_code() == "UNREACHABLE"
        assert "not found" in status.detail
        with pytest.raises(PrinterNotReadyError, match="UNREACHABLE"):
            printer.print_document(sample_receipt(marker="second"))
        device.plug()  # usblp grabs it again; the transport detaches it again
        printer.print_document(sample_receipt(marker="third"))
        assert b"third" in device.core.received
        assert b"second" not in device.core.received
        assert device.detach_count == 2


def test_unplugged_mid_write() -> None:
    device = FakeUsbPrinter()
    printer = usb_printer(FakeUsbBackend(device))
    with printer:
        printer.read_status()
        device.unplug()
        with pytest.raises(TransportError, match=r"gone while writing to.*unplugged"):
            printer.write_raw(b"x")
        assert printer.statistics.errors == 1


def test_busy_device_names_usblp_and_cups() -> None:
    backend = FakeUsbBackend(FakeUsbPrinter(busy=True))
    transport = open_transport("usb://04b8:0e15", usb_backend=backend)
    with pytest.raises(TransportError) as info:
        transport.open()
    message = str(info.value)
    assert "Resource busy" in message
    assert "usblp" in message
    assert "CUPS" in message
    printer = usb_printer(backend)
    assert "usblp" in printer.read_status().detail


def test_device_selection_by_serial_and_bus_path() -> None:
    a = FakeUsbPrinter(serial="AAA", port_numbers=(1,), address=3)
    b = FakeUsbPrinter(serial="BBB", port_numbers=(2, 1), address=4)
    backend = FakeUsbBackend(a, b)

    ambiguous = open_transport("usb://04b8:0e15", usb_backend=backend)
    with pytest.raises(TransportError, match=r"2 devices match .*add \?serial=\.\.\."):
        ambiguous.open()

    wrong = open_transport("usb://04b8:0e15?serial=CCC", usb_backend=backend)
    with pytest.raises(TransportError, match=r"not found \(found: serial AAA, serial BBB\)"):
        wrong.open()

    by_path = usb_printer(backend, "usb://04b8:0e15?path=1-2.1")
    by_path.print_document(sample_receipt())
    assert MARKER in b.core.received
    assert MARKER not in a.core.received
    by_path.close()


def test_wrong_ids_and_interface() -> None:
    backend = FakeUsbBackend(FakeUsbPrinter())
    with pytest.raises(TransportError, match="USB printer 0519:0001 not found"):
        UsbTransport(0x0519, 0x0001, backend=backend).open()
    with pytest.raises(TransportError, match="has no interface 1"):
        UsbTransport(0x04B8, 0x0E15, interface=1, backend=backend).open()


def test_usb_reads_time_out_cleanly() -> None:
    backend = FakeUsbBackend(FakeUsbPrinter())
    transport = UsbTransport(0x04B8, 0x0E15, backend=backend)
    transport.open()
    try:
        assert transport.read(4, 0.01) == b""
        transport.write(b"\x10\x04\x01\x10\x04\x04")
        assert transport.read(1, 0.5) == b"\x12"  # the rest stays buffered
        assert transport.read(4, 0.5) == b"\x12"
    finally:
        transport.close()
