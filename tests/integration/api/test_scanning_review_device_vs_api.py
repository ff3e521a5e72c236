"""Scanner review: a code resolves the same from the scanner device as through Scan,
and a bad scan changes nothing, says why (a SCAN event with its reason, or
SCAN_REJECTED) and leaves the scanner working."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, device_pb2

from tests.conftest import Running
from tests.integration.api.test_devices_api import Stream, scan, wait_for
from tests.support.fullsale import (
    customer,
    import_customers,
    import_items,
    import_stock,
    item,
)


@pytest.fixture
def events(pos: PosdClient) -> Iterator[Stream]:
    stream = Stream(pos)
    time.sleep(0.05)
    yield stream
    stream.close()


def seed(pos: PosdClient) -> None:
    import_customers(pos, customer("2001", "Kundin"))
    import_items(
        pos,
        item("2001", "Also an item number", 100),
        item("M-1", "Milch", 119, barcodes=["4006381333931"]),
        item("T-1", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL),
        item("J-1", "Joghurt", 89, tracking=catalog_pb2.TRACKING_LOT),
    )
    import_stock(
        pos,
        # a lot number equal to a barcode: the barcode wins
        catalog_pb2.StockEntry(item_id="J-1", lot_number="4006381333931", quantity="5"),
        catalog_pb2.StockEntry(item_id="T-1", serial_number="SN-77", quantity="1"),
        catalog_pb2.StockEntry(
            item_id="J-1", lot_number="OLD-1", quantity="5", expiry_date="2001-01-01"
        ),
    )


def device_scan(running: Running, events: Stream, data: bytes) -> device_pb2.Event:
    before = len(events.of("scan")) + len(events.of("scan_rejected"))
    scan(running, data)
    wait_for(lambda: len(events.of("scan")) + len(events.of("scan_rejected")) > before)
    time.sleep(0.05)
    return [e for e in events.events if e.WhichOneof("payload") in ("scan", "scan_rejected")][-1]


def test_device_and_api_agree_on_double_meanings_and_refusals(
    running: Running, pos: PosdClient, events: Stream
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    # customer number before item number
    ev = device_scan(running, events, b"2001\r\n")
    assert ev.scan.error_reason == ""
    sale = pos.get_sale(sid)
    assert sale.customer.customer_number == "2001" and not sale.lines
    # the barcode before the lot of the same digits
    ev = device_scan(running, events, b"4006381333931\r\n")
    assert ev.scan.error_reason == ""
    sale = pos.get_sale(sid)
    assert [(ln.item_id, ln.lot_number) for ln in sale.lines] == [("M-1", "")]
    # serial twice: the second is refused, nothing changes
    assert device_scan(running, events, b"SN-77\r\n").scan.error_reason == ""
    rev = pos.get_sale(sid).revision
    ev = device_scan(running, events, b"SN-77\r\n")
    with pytest.raises(PosdError) as api:
        pos.scan(sid, "SN-77")
    assert ev.scan.error_reason == api.value.reason != ""
    assert pos.get_sale(sid).revision == rev
    # an expired lot: the demo operator may sell it (SELL_EXPIRED_LOT), from the
    # scanner as through Scan: a line with the warning
    ev = device_scan(running, events, b"OLD-1\r\n")
    assert ev.scan.error_reason == ""
    pos.scan(sid, "OLD-1")
    sale = pos.get_sale(sid)
    assert [ln.lot_number for ln in sale.lines if ln.item_id == "J-1"] == ["OLD-1", "OLD-1"]
    rev = sale.revision
    # noise: rejected, nothing changes, the scanner keeps working
    for bad in (b"\x01\x02abc\r\n", b"x" * 10240 + b"\r\n", b"4006381333932\r\n", b"\xc3\xa4\r\n"):
        ev = device_scan(running, events, bad)
        assert ev.WhichOneof("payload") == "scan_rejected", bad[:20]
    assert pos.get_sale(sid).revision == rev
    ev = device_scan(running, events, b"]E04006381333931\r\n")
    assert ev.scan.error_reason == ""
    assert [ln.item_id for ln in pos.get_sale(sid).lines][-1] == "M-1"
