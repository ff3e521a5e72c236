"""Every character reaches a pole display as one printable byte, whatever code page the
profile pins (CODE_TABLES), so a name never stops an update nor sends a command."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

import pytest

from posd_daemon.devices.charset import CODE_TABLES
from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES, encode_display_text

#: Latin, Greek, Cyrillic, general punctuation, currency and letterlike symbols
SWEEP = [chr(c) for c in range(0x3000) if not 0xD800 <= c < 0xE000]


@pytest.mark.parametrize("encoding", sorted(CODE_TABLES))
def test_each_character_is_one_printable_byte(encoding: str) -> None:
    profile = replace(
        BUILTIN_DISPLAY_PROFILES["epson-dm-d"], encoding=encoding, code_table=CODE_TABLES[encoding]
    )
    for ch in SWEEP:
        columns = len(unicodedata.normalize("NFC", ch))
        data = encode_display_text(ch, profile)
        assert len(data) == columns, (hex(ord(ch)), data)
        assert all(b >= 0x20 and b != 0x7F for b in data), (hex(ord(ch)), data)


def test_latin2_shows_what_it_lacks_as_a_question_mark() -> None:
    latin2 = replace(BUILTIN_DISPLAY_PROFILES["epson-dm-d"], encoding="cp852", code_table=18)
    assert encode_display_text("ł £ ® Ž", latin2) == b"\x88 ? ? \xa6"
