"""A scanner set to send AIM symbology identifiers (``]C0``, ``]E0``...) puts three
characters before every code. They are not part of the code: ``max_length`` limits the
code, so a code of exactly ``max_length`` characters must be accepted with its prefix as
well as without. The line buffer stays bounded all the same: a stuck scanner or noise
without a line end is still cut short."""

from __future__ import annotations

from posd_daemon.devices.scanning import (
    Code,
    KeyboardDecoder,
    Rejected,
    ScanDecoder,
    ScanRules,
    key_events_for,
)

# 64 characters: the default (and largest configurable) scanner.max_length
CODE_64 = "".join(f"{i:02d}" for i in range(32))


def test_a_max_length_code_with_an_aim_prefix_is_accepted_stripped() -> None:
    assert len(CODE_64) == ScanRules().max_length
    d = ScanDecoder()
    assert d.feed(b"]C0" + CODE_64.encode() + b"\r", 0.0) == [Code(CODE_64, "CODE128")]
    # the same, read in pieces as a serial port delivers it
    data = b"]d2" + CODE_64.encode() + b"\r\n"
    out = d.feed(data[:2], 2.0) + d.feed(data[2:40], 2.01) + d.feed(data[40:], 2.02)
    assert out == [Code(CODE_64, "GS1-DATAMATRIX")]


def test_an_ean13_at_max_length_keeps_its_aim_symbology_and_check_digit_test() -> None:
    d = ScanDecoder(ScanRules(min_length=8, max_length=13))
    assert d.feed(b"]E04006381333931\r", 0.0) == [Code("4006381333931", "EAN13")]
    # the check digit is still tested on the code without its prefix
    assert d.feed(b"]E04006381333932\r", 1.0) == [
        Rejected("BAD_CHECK_DIGIT", "4006381333932: wrong check digit (misread)")
    ]


def test_a_keyboard_wedge_scanner_with_aim_ids_and_a_max_length_code() -> None:
    events = key_events_for("]C0" + CODE_64)
    data = KeyboardDecoder("us").feed(events)
    assert ScanDecoder().feed(data, 0.0) == [Code(CODE_64, "CODE128")]


def test_one_character_too_many_after_the_prefix_is_refused_as_too_long() -> None:
    d = ScanDecoder()
    out = d.feed(b"]C0" + CODE_64.encode() + b"X\r", 0.0)
    assert len(out) == 1 and isinstance(out[0], Rejected)
    assert out[0].reason == "TOO_LONG"
    assert out[0].detail.startswith("more than 64 characters without an end of line: ")
    # the overlong line is dropped whole, and the next scan is read as usual
    assert d.feed(b"]E04006381333931\r", 1.0) == [Code("4006381333931", "EAN13")]


def test_a_runaway_line_with_an_aim_prefix_keeps_the_buffer_bounded() -> None:
    d = ScanDecoder()
    out = d.feed(b"]C0", 0.0)
    for i in range(100):  # a stuck scanner: characters and never a line end
        out += d.feed(b"A" * 10, 0.001 * i)
        assert len(d.pending) <= 3 + 64
    assert [r.reason for r in out if isinstance(r, Rejected)] == ["TOO_LONG"]
    assert not any(isinstance(r, Code) for r in out)


def test_a_code_without_a_prefix_is_limited_to_max_length_as_before() -> None:
    # aim_ids on (the default) but no prefix: the three characters are not granted
    d = ScanDecoder()
    assert d.feed(CODE_64.encode() + b"\r", 0.0) == [Code(CODE_64, "UNKNOWN")]
    out = d.feed(CODE_64.encode() + b"X\r", 1.0)
    assert [r.reason for r in out if isinstance(r, Rejected)] == ["TOO_LONG"]
    assert out[0] == Rejected(
        "TOO_LONG",
        f"more than 64 characters without an end of line: "
        f"{(CODE_64 + 'X')[:24].encode().hex(' ')} ...",
    )


def test_without_aim_ids_a_prefix_is_part_of_the_code_and_counts() -> None:
    d = ScanDecoder(ScanRules(aim_ids=False))
    # the bracket is kept as part of the code, so it must fit max_length
    assert d.feed(b"]C0" + CODE_64[3:].encode() + b"\r", 0.0) == [
        Code("]C0" + CODE_64[3:], "UNKNOWN")
    ]
    # and a line longer than max_length is cut while it arrives, as ever
    out = d.feed(b"]C0" + CODE_64.encode() + b"\r", 1.0)
    assert len(out) == 1 and isinstance(out[0], Rejected)
    assert out[0].reason == "TOO_LONG"
    assert out[0].detail.startswith("more than 64 characters without an end of line: ")
    assert d.pending == b""
