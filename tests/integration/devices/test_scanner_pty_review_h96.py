"""The scanner's line decoder and the scan router over a real serial port (a pty pair),
reviewed (helper h96).

* The decoder stripped whitespace at both ends of a line, and Python counts the GS1 group
  separator (GS, 0x1D, FNC1) as whitespace: a GS at the end of an element string was
  silently dropped, so the register sold a code the ``Scan`` RPC refuses
  (INVALID_ELEMENT_STRING: a separator with no field after it, a field cut short). Only
  the line's blanks go: spaces, and a TAB suffix (a scanner set to send TAB, or TAB and
  Enter, after each code), which was refused as a control character.
* A scan that arrives while the active sale is being posted (the TSE signing its
  receipt) is the next customer's: it goes to the UI, as one arriving just after the
  post, not refused by the sale as SALE_BEING_POSTED and lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, device_pb2

from posd_daemon.devices.scanning import Code
from posd_daemon.devices.sim import PtyDevice
from tests.conftest import Running, running_daemon
from tests.integration.api.test_devices_api import Stream, seed, wait_for
from tests.integration.devices.test_bad_device_input import _pty_scanner

GS = b"\x1d"
#: AI (01) GTIN of the EAN-13 4006381333931, then AI (10) lot ABC
ELEMENT = b"0104006381333931" + b"10ABC"


def test_group_separators_at_the_ends_of_a_line_are_kept() -> None:
    with _pty_scanner() as (pty, _scanner, got, events):
        # a GS1 DataMatrix with its AIM identifier, and a GS after the last field
        pty.write(b"]d2" + ELEMENT + GS + b"\r\n")
        assert got.get(timeout=2) == Code(ELEMENT.decode() + "\x1d", "GS1-DATAMATRIX")
        # the symbol's first FNC1 sent as GS (no AIM identifier)
        pty.write(GS + ELEMENT + b"\r\n")
        assert got.get(timeout=2).code == "\x1d" + ELEMENT.decode()
        assert not events.rejected()


def test_blanks_and_a_tab_suffix_around_a_code_are_stripped() -> None:
    with _pty_scanner() as (pty, _scanner, got, events):
        pty.write(b"4006381333931\t\r\n")  # suffix TAB + CR LF
        assert got.get(timeout=2) == Code("4006381333931", "EAN13")
        pty.write(b"  ]E04006381333931 \r")
        assert got.get(timeout=2) == Code("4006381333931", "EAN13")
        pty.write(b"40063\t81333931\r")  # a TAB inside a code is no suffix
        assert wait_for_rejected(events, 1)
        assert events.rejected()[0].reason == "CONTROL_CHARACTERS"
        assert got.empty()


def wait_for_rejected(events: Any, n: int) -> bool:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if len(events.rejected()) >= n:
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def pty_register(tmp_path: Path) -> Iterator[tuple[Running, PtyDevice, PosdClient]]:
    """The real daemon with its scanner on a pty pair (serial://)."""
    with (
        PtyDevice() as pty,
        running_daemon(tmp_path / "state", {"scanner": {"url": pty.url(9600)}}) as r,
        r.client() as pos,
    ):
        wait_for(lambda: pos.get_device("scanner").online)
        yield r, pty, pos


def _scans(stream: Stream) -> list[device_pb2.ScanData]:
    return [e.scan for e in stream.of("scan")]


def test_a_scanned_element_string_ending_in_gs_is_refused_as_the_scan_rpc_refuses_it(
    pty_register: tuple[Running, PtyDevice, PosdClient],
) -> None:
    _running, pty, pos = pty_register
    seed(pos)
    sale = pos.create_sale()
    stream = Stream(pos)
    time.sleep(0.05)  # subscribed before the scan
    try:
        pty.write(b"]d2" + ELEMENT + GS + b"\r\n")
        wait_for(lambda: _scans(stream))
        got = _scans(stream)[0]
        assert got.code == ELEMENT.decode() + "\x1d"
        assert (got.route, got.error_reason) == (
            device_pb2.SCAN_ROUTE_SALE,
            "INVALID_ELEMENT_STRING",
        )
        assert not pos.get_sale(sale.sale_id).lines
        # the same code typed into the UI is refused alike
        with pytest.raises(PosdError) as refused:
            pos.scan(sale.sale_id, ELEMENT.decode() + "\x1d")
        assert refused.value.reason == "INVALID_ELEMENT_STRING"
        # without the stray GS the element string sells
        pty.write(b"]d2" + ELEMENT + b"\r\n")
        wait_for(lambda: len(_scans(stream)) == 2)
        assert _scans(stream)[1].error_reason == ""
        assert len(pos.get_sale(sale.sale_id).lines) == 1
    finally:
        stream.close()


def test_a_scan_while_the_sale_is_being_posted_goes_to_the_ui(
    pty_register: tuple[Running, PtyDevice, PosdClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, pty, pos = pty_register
    seed(pos)
    gateway = running.daemon.gateway
    assert gateway.tse is not None
    start = gateway.tse.start_transaction
    starting = threading.Event()
    release = threading.Event()

    def slow_start(*args: Any, **kwargs: Any) -> Any:
        starting.set()
        release.wait(2)  # a slow TSE (within its 3 s): the post waits for the start
        return start(*args, **kwargs)

    monkeypatch.setattr(gateway.tse, "start_transaction", slow_start)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="2002")  # its TSE transaction starts, slowly
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CARD, 1599)
    assert starting.wait(5)
    stream = Stream(pos)
    time.sleep(0.05)
    posted: list[object] = []
    poster = threading.Thread(target=lambda: posted.append(pos.post_sale(sale.sale_id)))
    poster.start()
    try:
        time.sleep(0.2)  # the post is under way, waiting for the TSE
        pty.write(b"4006381333931\r\n")  # the next customer's first item
        wait_for(lambda: pos.get_device("scanner").statistics.scans == 1)
        time.sleep(0.5)  # routed meanwhile (its event follows the post's answer)
        release.set()
        poster.join(10)
        assert posted, "the post did not complete"
        wait_for(lambda: _scans(stream))
        got = _scans(stream)[0]
        assert (got.route, got.error_reason) == (device_pb2.SCAN_ROUTE_UI, ""), (
            f"the next customer's scan was refused by the sale being posted: {got}"
        )
    finally:
        release.set()
        poster.join(10)
        stream.close()
    assert len(pos.get_sale(sale.sale_id).lines) == 1
