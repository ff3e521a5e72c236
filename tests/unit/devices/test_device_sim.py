"""The simulated printer's answers and the ESC/POS-to-text decoder."""

from __future__ import annotations

import pytest

from posd_daemon.devices import sim
from posd_daemon.devices.escpos.codec import STATUS_REQUEST_ALL
from posd_daemon.devices.escpos.profile import DrawerSensor
from posd_daemon.devices.escpos.status import decode_asb, decode_status
from posd_daemon.devices.sim import PrinterSimCore, escpos_to_text


@pytest.mark.parametrize(
    ("state", "replies"),
    [
        ("ok", "12 12 12 12"),
        ("paper_near_end", "12 12 12 1e"),
        ("paper_end", "1a 32 12 7e"),
        ("cover_open", "1a 16 12 12"),
        ("offline", "1a 12 12 12"),
        ("cutter_error", "1a 52 1a 12"),
        ("unrecoverable_error", "1a 52 32 12"),
        ("unresponsive", ""),
    ],
)
def test_status_replies_per_state(state: str, replies: str) -> None:
    core = PrinterSimCore(state)
    assert core.feed(STATUS_REQUEST_ALL) == bytes.fromhex(replies)
    assert core.status_requests == 4


def test_requests_split_across_chunks_are_answered_once() -> None:
    core = PrinterSimCore()
    answers = b"".join(core.feed(bytes((b,))) for b in STATUS_REQUEST_ALL)
    assert answers == b"\x12" * 4


def test_drawer_follows_kicks_and_sensor_polarity() -> None:
    core = PrinterSimCore(drawer_sensor=DrawerSensor.OPEN_LOW)
    assert decode_status(core.feed(STATUS_REQUEST_ALL), DrawerSensor.OPEN_LOW).drawer_open is False
    core.feed(b"\x1bp\x00\x32\x64")
    assert core.drawer_kicks == 1
    assert decode_status(core.feed(STATUS_REQUEST_ALL), DrawerSensor.OPEN_LOW).drawer_open is True


def test_asb_is_sent_when_enabled_and_on_every_change() -> None:
    core = PrinterSimCore()
    pushed: list[bytes] = []
    core.listeners.append(pushed.append)
    assert core.feed(b"\x1da\x0f") == b"\x10\x00\x00\x00"  # GS a: first packet at once
    core.set_state("paper_end")
    core.open_drawer()
    assert [decode_asb(p).paper_end for p in pushed] == [True, True]
    assert decode_asb(pushed[1]).drawer_open is True
    core.feed(b"\x1da\x00")
    core.set_state("ok")
    assert len(pushed) == 2


def test_unknown_state_name() -> None:
    with pytest.raises(ValueError, match="unknown simulated printer state 'jammed'"):
        PrinterSimCore("jammed")


def test_decoder_handles_feeds_cuts_and_code_tables() -> None:
    data = (
        b"\x1b@abc\x1bd\x02"  # pending text + ESC d 2: the line and one more
        b"\x1bt\x10\x80\n"  # CP1252: euro at 0x80
        b"\x1bt\x13\xd5\n"  # CP858: euro at 0xD5
        b"\x1dVA\x00"  # cut
        b"\x1dk\x02400638133393\x00"  # GS k function A (NUL-terminated) EAN13
        b"tail"
    )
    assert escpos_to_text(data, columns=20, show_cuts=True) == [
        "abc",
        "",
        "€",
        "€",
        "-------- cut --------",
        "[EAN13 4006381333931]",
        "tail",
    ]


def test_decoder_ignores_realtime_commands_and_styles() -> None:
    data = b"\x10\x04\x01\x1b!\x38\x1dh\x50\x1ba\x02x\n\x10\x14\x01\x00\x01"
    assert escpos_to_text(data, columns=10) == ["         x"]


def test_a_long_running_simulated_printer_keeps_only_its_latest_output() -> None:
    """The embedded defaults print to a simulated printer for months: what it keeps for
    inspection is bounded, and it still answers and counts commands after dropping."""
    core = sim.PrinterSimCore()
    receipt = b"Roggenbrot 3,49\n" * 200 + b"\x1dV\x00"  # ~3 KB and a cut
    for _ in range(2 * sim.KEEP_RECEIVED // len(receipt)):
        core.feed(receipt)
    assert len(core.received) <= sim.KEEP_RECEIVED
    assert core.received.endswith(receipt)  # the latest output is all there
    core.feed(b"\x1bp\x00\x19\xfa")  # ESC p: a drawer kick after the drop
    assert core.drawer_kicks == 1
    assert core.feed(b"\x10\x04\x01") != b""  # a status request is still answered
