"""A hardware scan that needs the cashier to choose (several items share the barcode,
the item has variants) carries what to choose from in its SCAN event, the same list the
Scan RPC gives: the UI shows it at once, without scanning again through the API. Real
scanner FIFO, real daemon, real event stream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from posd.client import PosdClient
from posd.v1 import device_pb2

from tests.conftest import Running
from tests.integration.api.test_devices_api import Stream, scan, wait_for
from tests.integration.api.test_scanning import seed


@pytest.fixture
def events(pos: PosdClient) -> Iterator[Stream]:
    stream = Stream(pos)
    time.sleep(0.05)  # subscribed before the test acts
    yield stream
    stream.close()


def scanned(running: Running, events: Stream, code: str) -> device_pb2.ScanData:
    before = len(events.of("scan"))
    scan(running, f"{code}\r\n".encode())
    wait_for(lambda: len(events.of("scan")) > before)
    data: device_pb2.ScanData = events.of("scan")[-1].scan
    assert (data.code, data.route) == (code, device_pb2.SCAN_ROUTE_SALE)
    return data


def test_a_scanned_barcode_of_several_items_lists_them_in_its_event(
    running: Running, pos: PosdClient, events: Stream
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    data = scanned(running, events, "5000112999")
    assert (data.sale_id, data.error_reason) == (sid, "AMBIGUOUS_BARCODE")
    listed = [(c.item_id, c.name, c.unit_price.amount_minor) for c in data.candidates]
    assert listed == [("5000112", "Cola", 129), ("5000113", "Cola Zero", 139)]
    assert all(c.unit_price.currency_code == "EUR" for c in data.candidates)
    # the same list as the Scan RPC; nothing was added
    assert listed == [
        (c.item_id, c.name, c.unit_price.amount_minor)
        for c in pos.scan(sid, "5000112999").candidates
    ]
    assert len(pos.get_sale(sid).lines) == 0


def test_a_scanned_item_with_variants_lists_them_in_its_event(
    running: Running, pos: PosdClient, events: Stream
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    data = scanned(running, events, "1005")
    assert (data.sale_id, data.error_reason) == (sid, "VARIANT_REQUIRED")
    assert [(c.variant_id, c.name, c.unit_price.amount_minor) for c in data.candidates] == [
        ("M", "T-Shirt, M", 1999),
        ("XL", "T-Shirt, XL", 2199),
    ]


def test_a_scan_that_adds_a_line_lists_nothing(
    running: Running, pos: PosdClient, events: Stream
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    data = scanned(running, events, "SN-1")
    assert (data.sale_id, data.error_reason) == (sid, "")
    assert len(data.candidates) == 0
