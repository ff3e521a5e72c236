"""Scanner input: line decoding with noise rejection, HID key layouts, the evdev reader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from posd_daemon.devices.errors import TransportError
from posd_daemon.devices.scanning import (
    EV_KEY,
    EVIOCGRAB,
    Code,
    EvdevSource,
    KeyboardDecoder,
    Rejected,
    ScanDecoder,
    ScanRules,
    input_event,
    key_events_for,
)


def codes(results: list[Code | Rejected]) -> list[str]:
    return [r.code for r in results if isinstance(r, Code)]


def reasons(results: list[Code | Rejected]) -> list[str]:
    return [r.reason for r in results if isinstance(r, Rejected)]


def test_lines_with_any_terminator_and_split_reads() -> None:
    d = ScanDecoder()
    out = d.feed(b"40063813", 0.0) + d.feed(b"33931\r\n", 0.01)
    out += d.feed(b"ABC-123\n4006381333931\r", 0.02)
    assert out == [
        Code("4006381333931", "EAN13"),
        Code("ABC-123", "UNKNOWN"),
        Code("4006381333931", "EAN13"),
    ]
    # CR LF counts once: no empty code, nothing rejected
    assert d.feed(b"\n", 0.03) == []


def test_noise_is_rejected_with_a_reason() -> None:
    d = ScanDecoder(ScanRules(min_length=4, max_length=20))
    out = d.feed(b"12\r", 0.0)  # too short
    out += d.feed(b"40\x1b06381333931\r", 0.1)  # control character inside
    out += d.feed(b"\xff\xfe\x80abc\r", 0.2)  # line noise / wrong baud rate
    out += d.feed(b"4006381333932\r", 0.3)  # EAN-13 with a wrong check digit
    out += d.feed(b"AB CD\r", 0.4)  # spaces
    out += d.feed(b"X" * 30 + b"4006381333931\r", 0.5)  # endless garbage, then a code
    assert reasons(out) == [
        "TOO_SHORT",
        "CONTROL_CHARACTERS",
        "NOT_ASCII",
        "BAD_CHECK_DIGIT",
        "INVALID_CHARACTERS",
        "TOO_LONG",
    ]
    assert codes(out) == []  # the tail after the overflow is dropped up to the line end
    assert codes(d.feed(b"96385074\r", 0.6)) == ["96385074"]  # EAN-8 with a good check digit


def test_partial_code_times_out_and_bursts_are_cut() -> None:
    d = ScanDecoder(ScanRules(fragment_timeout=0.5, max_per_second=3))
    assert d.feed(b"40063", 0.0) == []
    assert reasons(d.tick(0.6)) == ["PARTIAL_CODE"]
    assert d.pending == b""
    burst = d.feed(b"4006381333931\r" * 5, 1.0)
    assert len(codes(burst)) == 3
    assert reasons(burst) == ["BURST", "BURST"]
    assert codes(d.feed(b"4006381333931\r", 2.5)) == ["4006381333931"]


def test_an_overlong_line_without_its_end_does_not_swallow_the_next_scan() -> None:
    d = ScanDecoder(ScanRules(fragment_timeout=0.5))
    assert reasons(d.feed(b"x" * 70, 0.0)) == ["TOO_LONG"]
    assert d.feed(b"x" * 10, 0.3) == []  # the rest of the same line: still discarded
    assert d.tick(0.7) == []  # quiet for only 0.4 s since its last byte
    # the line end never came: after the partial-code timeout the next scan counts
    assert d.feed(b"4006381333931\r", 5.0) == [Code("4006381333931", "EAN13")]


def test_aim_symbology_identifier() -> None:
    d = ScanDecoder()
    assert d.feed(b"]C1(01)0400638133393\r", 0.0) == [Code("(01)0400638133393", "GS1-128")]


@pytest.mark.parametrize("layout", ["us", "de"])
def test_keyboard_wedge_layouts_round_trip(layout: str) -> None:
    text = "ABC-123/xyz"
    kb = KeyboardDecoder(layout)
    assert kb.feed(key_events_for(text, layout)) == text.encode() + b"\r"


def test_layout_mismatch_garbles_the_code() -> None:
    # a scanner set to German sends the key code of "y" for "z": a US decoder reads "y"
    events = key_events_for("Z9", "de")
    assert KeyboardDecoder("us").feed(events) == b"Y9\r"
    assert KeyboardDecoder("de").feed(events) == b"Z9\r"


def test_unknown_keys_become_noise_the_decoder_rejects() -> None:
    kb = KeyboardDecoder("us")
    data = kb.feed([(EV_KEY, 2, 1), (EV_KEY, 59, 1), (EV_KEY, 3, 1), (EV_KEY, 28, 1)])  # 1 F1 2
    assert data == b"1\x002\r"
    assert reasons(ScanDecoder(ScanRules(min_length=1)).feed(data, 0)) == ["CONTROL_CHARACTERS"]
    with pytest.raises(ValueError, match="unknown keyboard layout"):
        KeyboardDecoder("fr")


def test_evdev_source_reads_input_events_and_grabs(tmp_path: Path) -> None:
    fifo = tmp_path / "event0"
    os.mkfifo(fifo)
    calls: list[tuple[int, int]] = []
    source = EvdevSource(str(fifo), grab=True, ioctl=lambda fd, req, arg: calls.append((req, arg)))
    source.open()
    writer = os.open(fifo, os.O_WRONLY)
    try:
        raw = b"".join(input_event(t, c, v) for t, c, v in key_events_for("4006381333931"))
        os.write(writer, raw[:37])  # a torn struct: kept until the rest arrives
        first = source.read(1.0)
        os.write(writer, raw[37:])
        events = first + source.read(1.0)
        while len(events) < len(key_events_for("4006381333931")):
            events += source.read(0.5)
    finally:
        os.close(writer)
    assert events == key_events_for("4006381333931")
    assert KeyboardDecoder().feed(events) == b"4006381333931\r"
    source.close()
    assert calls == [(EVIOCGRAB, 1), (EVIOCGRAB, 0)]


def test_evdev_grab_refused_is_a_clear_error(tmp_path: Path) -> None:
    fifo = tmp_path / "event1"
    os.mkfifo(fifo)
    with pytest.raises(TransportError, match=r"cannot grab .* exclusively"):
        EvdevSource(str(fifo), grab=True).open()  # a FIFO refuses EVIOCGRAB like a busy device
    with pytest.raises(TransportError, match="not found"):
        EvdevSource(str(tmp_path / "missing")).open()
