"""Pure codecs for 2x20 customer pole displays. No I/O here.

Two command sets (shared/reference/devices.md):

* Epson DM-D in ESC/POS mode: ``ESC @`` init, ``0C`` clear, ``US MD1`` (1F 01)
  overwrite mode, ``US $ x y`` (1F 24) cursor, ``ESC t n`` code table. Daisy-chained
  between host and printer, ``ESC = n`` picks the target (bit 0 printer, bit 1 display).
* CD5220 (9600 8N1): ``ESC @`` init, ``0C`` clear, ``ESC DC1`` (1B 11) overwrite mode,
  ``ESC l x y`` cursor, ``ESC f n`` international character set.

Which code page a display shows in its upper half (where ä ö ü ß and € live) is
model-dependent, so it is data in :class:`DisplayProfile`: the default is CP858 (€ at
0xD5, the DM-D's table 19); ``euro_byte`` moves the euro sign for clones that put it
elsewhere.
"""

from __future__ import annotations

import codecs
import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from posd_daemon.devices.charset import char_in_code_page, nfc
from posd_daemon.devices.errors import ProfileError

ESC, US = 0x1B, 0x1F
INIT = b"\x1b@"
CLEAR = b"\x0c"


class DisplayCommandSet(enum.Enum):
    EPSON = "epson"
    CD5220 = "cd5220"


@dataclass(frozen=True, slots=True)
class DisplayProfile:
    name: str
    command_set: DisplayCommandSet
    columns: int = 20
    rows: int = 2
    #: Epson: ``ESC t n`` code table (19 = PC858); None sends none.
    code_table: int | None = 19
    #: CD5220: ``ESC f n`` international character set (e.g. ord("A") USA, "G"
    #: Germany); None sends none. USA keeps 0x20..0x7F plain ASCII.
    charset: int | None = ord("A")
    #: Python codec for the display's upper half code page.
    encoding: str = "cp858"
    #: Byte that shows the euro sign, where the code page has none or another one.
    euro_byte: int | None = None
    #: Epson daisy chain: wrap output in ``ESC = 2`` ... ``ESC = 1`` (display, printer).
    daisy_chain: bool = False

    def __post_init__(self) -> None:
        where = f"display profile {self.name!r}"
        if not isinstance(self.command_set, DisplayCommandSet):
            choices = ", ".join(repr(c.value) for c in DisplayCommandSet)
            raise ProfileError(f"{where}: command_set must be one of {choices}")
        for field, lo, hi in (("columns", 1, 80), ("rows", 1, 4)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ProfileError(f"{where}: {field} must be {lo}..{hi}, got {value!r}")
        for field in ("code_table", "charset", "euro_byte"):
            value = getattr(self, field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255
            ):
                raise ProfileError(f"{where}: {field} must be 0..255 or unset, got {value!r}")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ProfileError(f"{where}: unknown encoding {self.encoding!r}") from None


BUILTIN_DISPLAY_PROFILES: Mapping[str, DisplayProfile] = {
    p.name: p
    for p in (
        DisplayProfile(name="epson-dm-d", command_set=DisplayCommandSet.EPSON),
        DisplayProfile(name="cd5220", command_set=DisplayCommandSet.CD5220),
    )
}


def display_profile_from_mapping(data: Mapping[str, Any]) -> DisplayProfile:
    """``{"base": "cd5220", "euro_byte": 0x80, ...}`` from the configuration."""
    values = dict(data)
    base_name = values.pop("base", "epson-dm-d")
    base = BUILTIN_DISPLAY_PROFILES.get(str(base_name))
    if base is None:
        known = ", ".join(sorted(BUILTIN_DISPLAY_PROFILES))
        raise ProfileError(f"unknown display profile {base_name!r} (known: {known})")
    allowed = set(DisplayProfile.__dataclass_fields__)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ProfileError(
            f"display profile: unknown setting(s) {', '.join(unknown)} "
            f"(known: base, {', '.join(sorted(allowed))})"
        )
    if "command_set" in values:
        try:
            values["command_set"] = DisplayCommandSet(values["command_set"])
        except ValueError:
            raise ProfileError(
                f"display profile: command_set must be 'epson' or 'cd5220', "
                f"got {values['command_set']!r}"
            ) from None
    if isinstance(values.get("charset"), str) and len(values["charset"]) == 1:
        values["charset"] = ord(values["charset"])
    return replace(base, **values)


def fit_line(text: str, columns: int = 20) -> str:
    """Exactly ``columns`` characters: truncated or padded with spaces. NFC first: a
    decomposed "a" + U+0308 is one column, not two (and is not cut between them)."""
    return nfc(text)[:columns].ljust(columns)


def encode_display_text(text: str, profile: DisplayProfile) -> bytes:
    """Characters as display bytes (NFC), one byte per character: a letter the code page
    lacks shows as its base letter ("ł" -> "l"), other unmappable or control characters
    as '?' (never as a raw byte the display would take as a command)."""
    encoding, euro = profile.encoding, profile.euro_byte
    return b"".join(_char_bytes(ch, encoding, euro) for ch in nfc(text))


#: control characters (C0, DEL, C1) show as '?': to a display they are commands
_CONTROLS = frozenset((*range(0x20), 0x7F, *range(0x80, 0xA0)))


def can_show(text: str, profile: DisplayProfile) -> bool:
    """Whether every character of ``text`` shows as itself (no base letter, no '?')."""
    return all(_showable(ch, profile.encoding, profile.euro_byte) for ch in nfc(text))


def _showable(ch: str, encoding: str, euro_byte: int | None) -> bool:
    if ord(ch) in _CONTROLS:
        return False
    if ch == "€" and euro_byte is not None:
        return True
    try:
        encoded = ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    # the euro byte shows "€", not what the code page has there (£ at 0x9C in CP437)
    return euro_byte is None or encoded != bytes((euro_byte,))


@functools.lru_cache(maxsize=4096)
def _char_bytes(ch: str, encoding: str, euro_byte: int | None) -> bytes:
    # one byte per character: a control character (a command to the display) as '?',
    # the euro sign as the profile's byte, anything else as the printer's text is
    # (charset.char_in_code_page: itself, its base letter, else '?'), never as the euro
    # byte: the display shows "€" there, whatever the code page has at that position
    if ord(ch) in _CONTROLS:
        return b"?"
    if ch == "€" and euro_byte is not None:
        return bytes((euro_byte,))
    return char_in_code_page(ch, encoding, euro_byte)


def _cursor(profile: DisplayProfile, x: int, y: int) -> bytes:
    if profile.command_set is DisplayCommandSet.EPSON:
        return bytes((US, 0x24, x, y))  # US $ x y (1-based)
    return bytes((ESC, 0x6C, x, y))  # ESC l x y (1-based)


def encode_init(profile: DisplayProfile) -> bytes:
    """Initialise, pick the character table, overwrite mode (no scrolling), clear."""
    return _wrap(profile, _init_body(profile))


def _init_body(profile: DisplayProfile) -> bytes:
    out = bytearray(INIT)
    if profile.command_set is DisplayCommandSet.EPSON:
        if profile.code_table is not None:
            out += bytes((ESC, 0x74, profile.code_table))  # ESC t n
        out += bytes((US, 0x01))  # US MD1: overwrite mode
    else:
        if profile.charset is not None:
            out += bytes((ESC, 0x66, profile.charset))  # ESC f n
        out += bytes((ESC, 0x11))  # ESC DC1: overwrite mode
    out += CLEAR
    return bytes(out)


def encode_clear(profile: DisplayProfile) -> bytes:
    return _wrap(profile, CLEAR)


def encode_lines(
    lines: tuple[str, ...] | list[str], profile: DisplayProfile, *, init: bool = True
) -> bytes:
    """Bytes that show ``lines`` (one per row, missing rows blank), each row written
    completely at its own cursor position so nothing scrolls. With ``init`` the
    display is re-initialised first (survives a display power cycle)."""
    if len(lines) > profile.rows:
        raise ValueError(f"the display has {profile.rows} rows, got {len(lines)} lines")
    out = bytearray(_init_body(profile) if init else b"")
    for row in range(profile.rows):
        text = lines[row] if row < len(lines) else ""
        out += _cursor(profile, 1, row + 1)
        out += encode_display_text(fit_line(text, profile.columns), profile)
    return _wrap(profile, bytes(out))


def encode_two_lines(line1: str, line2: str, profile: DisplayProfile) -> bytes:
    """The common case: two 20-character lines."""
    return encode_lines((line1, line2), profile)


def _wrap(profile: DisplayProfile, data: bytes) -> bytes:
    if not profile.daisy_chain:
        return data
    # ESC = n: select peripheral (bit 1 display, bit 0 printer)
    return bytes((ESC, 0x3D, 2)) + data + bytes((ESC, 0x3D, 1))
