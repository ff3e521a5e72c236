"""A keyboard-wedge scanner set to the German layout types the characters that layout
has only on the third level with AltGr (right Alt): ``]`` (AltGr+9) of every AIM
symbology identifier (ISO/IEC 15424), ``[ { } \\ | ~ @`` of Code 128 / QR data. Before,
AltGr was an unknown key: with AIM identifiers on, every scan of such a scanner was
rejected as CONTROL_CHARACTERS."""

from __future__ import annotations

from posd_daemon.devices.scanning import (
    EV_KEY,
    KEY_ENTER,
    KEY_LEFTSHIFT,
    Code,
    KeyboardDecoder,
    ScanDecoder,
    key_events_for,
)

KEY_RIGHTALT = 100


def press(code: int) -> list[tuple[int, int, int]]:
    return [(EV_KEY, code, 1), (EV_KEY, code, 0)]


def altgr(code: int) -> list[tuple[int, int, int]]:
    return [(EV_KEY, KEY_RIGHTALT, 1), *press(code), (EV_KEY, KEY_RIGHTALT, 0)]


def test_an_aim_identifier_from_a_german_layout_scanner() -> None:
    # "]E0" + EAN-13 as a scanner in German keyboard mode sends it: AltGr+9, Shift+E, 0
    events = [
        *altgr(10),
        (EV_KEY, KEY_LEFTSHIFT, 1),
        *press(18),
        (EV_KEY, KEY_LEFTSHIFT, 0),
        *press(11),
        *[e for ch in "4006381333931" for e in press(11 if ch == "0" else int(ch) + 1)],
        *press(KEY_ENTER),
    ]
    data = KeyboardDecoder("de").feed(events)
    assert data == b"]E04006381333931\r"
    assert ScanDecoder().feed(data, 0.0) == [Code("4006381333931", "EAN13")]


def test_third_level_characters_round_trip_and_altgr_is_released() -> None:
    text = "]C1[A]{b}\\|~@x"
    kb = KeyboardDecoder("de")
    assert kb.feed(key_events_for(text, "de")) == text.encode() + b"\r"
    # AltGr released: the next key is its plain character again
    assert kb.feed(press(10) + press(KEY_ENTER)) == b"9\r"


def test_altgr_on_a_layout_without_a_third_level_is_noise() -> None:
    # US: no AltGr characters; the key is not mangled into its plain one
    assert KeyboardDecoder("us").feed(altgr(10) + press(KEY_ENTER)) == b"\x00\r"
