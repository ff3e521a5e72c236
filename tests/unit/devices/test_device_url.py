from __future__ import annotations

import pytest

from posd_daemon.devices.errors import DeviceUrlError, TransportError
from posd_daemon.devices.transport import (
    FileTransport,
    FileUrl,
    SerialTransport,
    SerialUrl,
    TcpTransport,
    TcpUrl,
    Transport,
    UsbTransport,
    UsbUrl,
    open_transport,
    parse_device_url,
)


def test_serial_url() -> None:
    assert parse_device_url("serial:///dev/ttyUSB0?baud=9600") == SerialUrl("/dev/ttyUSB0")
    url = parse_device_url("serial:///dev/ttyS1?baud=19200&parity=e&stopbits=2&rtscts=1")
    assert url == SerialUrl("/dev/ttyS1", baudrate=19200, parity="E", stopbits=2.0, rtscts=True)


def test_tcp_url() -> None:
    assert parse_device_url("tcp://192.168.1.50:9100") == TcpUrl("192.168.1.50", 9100)
    assert parse_device_url("tcp://printer.local") == TcpUrl("printer.local", 9100)
    assert parse_device_url("tcp://[::1]:9101?timeout=1.5") == TcpUrl(
        "::1", 9101, connect_timeout=1.5
    )


def test_file_url() -> None:
    assert parse_device_url("file:///dev/usb/lp0") == FileUrl("/dev/usb/lp0")


def test_usb_url() -> None:
    assert parse_device_url("usb://04b8:0e15?serial=X5GF012345") == UsbUrl(
        0x04B8, 0x0E15, serial="X5GF012345"
    )
    assert parse_device_url("usb://04B8:0E15?path=1-1.4&interface=0&timeout=2") == UsbUrl(
        0x04B8, 0x0E15, port_path="1-1.4", interface=0, timeout=2.0
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/dev/ttyUSB0", "expected scheme://"),
        ("lpt://1", "unknown scheme 'lpt'"),
        ("serial://dev/ttyUSB0", "write serial:///dev/... (3 slashes)"),
        ("serial:///", "missing the device path"),
        ("serial:///dev/ttyUSB0?baudrate=9600", "unknown parameter 'baudrate'"),
        ("serial:///dev/ttyUSB0?baud=fast", "baud must be an integer, got 'fast'"),
        ("serial:///dev/ttyUSB0?baud=9600&baud=19200", "parameter 'baud' given twice"),
        ("serial:///dev/ttyUSB0?parity=X", "parity must be N, E, O, M or S"),
        ("serial:///dev/ttyUSB0?bytesize=9", "bytesize must be one of 5, 6, 7, 8"),
        ("serial:///dev/ttyUSB0?rtscts=maybe", "rtscts must be 0 or 1"),
        ("tcp://:9100", "missing the host"),
        ("tcp://printer:port", "the port must be a number"),
        ("tcp://printer:0", "the port must be a number"),
        ("tcp://printer:9100/queue", "unexpected path '/queue'"),
        ("tcp://printer?timeout=-1", "timeout must be positive"),
        ("file://dev/usb/lp0", "write file:///dev/... (3 slashes)"),
        ("file:///dev/usb/", "missing the file path"),
        ("usb://04b8", "expected VID:PID in hex"),
        ("usb://4b8:0e15", "the vendor id must be 4 hex digits, got '4b8'"),
        ("usb://04b8:zzzz", "the product id must be 4 hex digits"),
        ("usb://04b8:0e15?serial=", "serial is empty"),
        ("usb://04b8:0e15?interface=300", "interface must be 0..255"),
        ("tcp://printer#frag", "fragment"),
    ],
)
def test_bad_urls_are_explained(url: str, message: str) -> None:
    with pytest.raises(DeviceUrlError) as info:
        parse_device_url(url)
    assert message in str(info.value)
    assert url in str(info.value)
    # a configuration error is both a ValueError and a (non-retryable) device error
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TransportError)
    assert info.value.code == "BAD_DEVICE_URL"


def test_open_transport_picks_the_class() -> None:
    expected = {
        "serial:///dev/ttyUSB0": SerialTransport,
        "tcp://127.0.0.1:9100": TcpTransport,
        "file:///tmp/receipts.bin": FileTransport,
        "usb://04b8:0e15": UsbTransport,
    }
    for url, cls in expected.items():
        transport = open_transport(url)
        assert isinstance(transport, cls)
        assert isinstance(transport, Transport)
    assert open_transport("usb://04b8:0e15?serial=A").describe() == (
        "USB printer 04b8:0e15 serial A"
    )
