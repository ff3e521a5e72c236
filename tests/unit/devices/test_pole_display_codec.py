from __future__ import annotations

import unicodedata
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posd_daemon.devices.charset import base_letter
from posd_daemon.devices.display import (
    BUILTIN_DISPLAY_PROFILES,
    DisplayCommandSet,
    DisplayProfile,
    display_profile_from_mapping,
    encode_clear,
    encode_display_text,
    encode_init,
    encode_lines,
    encode_two_lines,
    fit_line,
)
from posd_daemon.devices.errors import ProfileError
from posd_daemon.devices.sim import PoleDisplayEmulator

EPSON = BUILTIN_DISPLAY_PROFILES["epson-dm-d"]
CD5220 = BUILTIN_DISPLAY_PROFILES["cd5220"]


def test_fit_line_truncates_and_pads() -> None:
    assert fit_line("Brötchen") == "Brötchen" + " " * 12
    assert fit_line("x" * 25) == "x" * 20
    assert len(fit_line("")) == 20


def test_epson_dm_d_bytes() -> None:
    data = encode_two_lines("Brötchen      1,20 €", "Summe 3,70 €", EPSON)
    assert data == (
        b"\x1b@"  # ESC @
        b"\x1bt\x13"  # ESC t 19: PC858
        b"\x1f\x01"  # US MD1: overwrite mode
        b"\x0c"  # clear
        b"\x1f\x24\x01\x01"  # US $ 1 1
        + b"Br\x94tchen      1,20 \xd5"
        + b"\x1f\x24\x01\x02"  # US $ 1 2
        + b"Summe 3,70 \xd5"
        + b" " * 8
    )


def test_cd5220_bytes() -> None:
    data = encode_two_lines("Grüße", "Straße", CD5220)
    assert data == (
        b"\x1b@"  # ESC @
        b"\x1bfA"  # ESC f 'A': international set USA (plain ASCII below 0x80)
        b"\x1b\x11"  # ESC DC1: overwrite mode
        b"\x0c"
        b"\x1bl\x01\x01"  # ESC l 1 1
        + b"Gr\x81\xe1e"
        + b" " * 15
        + b"\x1bl\x01\x02"  # ESC l 1 2
        + b"Stra\xe1e"
        + b" " * 14
    )


def test_decomposed_umlauts_take_one_column() -> None:
    nfd = unicodedata.normalize("NFD", "Käse 4,49 €")
    assert fit_line(nfd) == "Käse 4,49 €".ljust(20)
    assert fit_line("x" * 19 + "a\u0308") == "x" * 19 + "ä"  # not cut between a and ¨
    screen = PoleDisplayEmulator(EPSON)
    screen.feed(encode_two_lines(nfd, "", EPSON))
    assert screen.lines == ("Käse 4,49 €".ljust(20), " " * 20)


def test_letters_missing_from_the_code_page_show_as_their_base_letter() -> None:
    screen = PoleDisplayEmulator(EPSON)
    screen.feed(encode_two_lines("Żurek śląski", "Příliš žluťoučký kůň", EPSON))
    assert screen.lines == ("Zurek slaski".ljust(20), "Prílis zlutoucký kun")


def test_cp852_display_for_central_european_shops() -> None:
    latin2 = display_profile_from_mapping({"code_table": 18, "encoding": "cp852"})
    assert encode_init(latin2).startswith(b"\x1b@\x1bt\x12")  # ESC t 18: PC852
    screen = PoleDisplayEmulator(latin2)
    screen.feed(encode_two_lines("Żurek śląski", "Příliš žluťoučký kůň", latin2))
    assert screen.lines == ("Żurek śląski".ljust(20), "Příliš žluťoučký kůň")


def test_text_is_safe_and_never_fails() -> None:
    assert encode_display_text("a\x1bb\nΩ", EPSON) == b"a?b??"


def test_euro_position_override_for_clones() -> None:
    clone = DisplayProfile(name="clone", command_set=DisplayCommandSet.CD5220, euro_byte=0x80)
    assert encode_display_text("5 €", clone) == b"5 \x80"


def test_without_init_only_positions_and_text() -> None:
    data = encode_lines(("a",), EPSON, init=False)
    assert data == b"\x1f\x24\x01\x01a" + b" " * 19 + b"\x1f\x24\x01\x02" + b" " * 20


def test_daisy_chain_selects_the_display_and_gives_the_printer_back() -> None:
    chained = DisplayProfile(name="c", command_set=DisplayCommandSet.EPSON, daisy_chain=True)
    assert encode_clear(chained) == b"\x1b=\x02\x0c\x1b=\x01"
    assert encode_init(chained).startswith(b"\x1b=\x02\x1b@")


def test_too_many_lines() -> None:
    with pytest.raises(ValueError, match="2 rows"):
        encode_lines(("a", "b", "c"), EPSON)


@pytest.mark.parametrize("profile", [EPSON, CD5220], ids=["epson", "cd5220"])
def test_emulated_display_shows_what_was_encoded(profile: DisplayProfile) -> None:
    screen = PoleDisplayEmulator(profile)
    screen.feed(encode_two_lines("Käse 100g    2,49 €", "Zu zahlen: 12,34 €  und mehr", profile))
    assert screen.lines == ("Käse 100g    2,49 € ", "Zu zahlen: 12,34 €  ")
    screen.feed(encode_two_lines("Danke!", "", profile))
    assert screen.lines == ("Danke!".ljust(20), " " * 20)


def test_profiles_from_config() -> None:
    p = display_profile_from_mapping({"base": "cd5220", "charset": "G", "euro_byte": 0x80})
    assert p.command_set is DisplayCommandSet.CD5220
    assert p.charset == ord("G")
    assert p.euro_byte == 0x80
    with pytest.raises(ProfileError, match="unknown display profile 'vfd'"):
        display_profile_from_mapping({"base": "vfd"})
    with pytest.raises(ProfileError, match="unknown setting"):
        display_profile_from_mapping({"colour": "green"})
    with pytest.raises(ProfileError, match="command_set must be 'epson' or 'cd5220'"):
        display_profile_from_mapping({"command_set": "star"})
    with pytest.raises(ProfileError, match=r"euro_byte must be 0\.\.255"):
        display_profile_from_mapping({"euro_byte": 300})
    with pytest.raises(ProfileError, match="unknown encoding"):
        display_profile_from_mapping({"encoding": "nope"})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_text_bytes_are_those_of_one_character_at_a_time(text: str) -> None:
    """The one-pass encoding gives exactly the bytes of encoding each character on its
    own (of the NFC text): controls '?', the euro byte for €, a letter the code page
    cannot show as its base letter, '?' for anything else it cannot show."""
    for profile in (EPSON, CD5220, replace(EPSON, euro_byte=None)):
        expected = bytearray()
        for ch in unicodedata.normalize("NFC", text):
            code = ord(ch)
            if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
                expected += b"?"
            elif ch == "€" and profile.euro_byte is not None:
                expected.append(profile.euro_byte)
            else:
                for candidate in (ch, base_letter(ch), "?"):
                    try:
                        expected += candidate.encode(profile.encoding)
                        break
                    except UnicodeEncodeError:
                        continue
        assert encode_display_text(text, profile) == bytes(expected)
