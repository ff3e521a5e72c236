"""Unicode text to the bytes of a device's 8-bit code page (printer and pole display).

Text reaches the devices from article names typed or imported anywhere, so the same
letter may arrive composed ("ä", U+00E4) or decomposed ("a" + U+0308, e.g. from macOS
or some PIM exports). Code pages only know composed letters, so text is normalised to
NFC first (and a line is fitted to its columns after that, one character per column).

A letter the active code page lacks ("ł", "ž", "ů" on CP858) prints as its base letter
("l", "z", "u"), which a reader still understands, instead of "?"; only what has no
one-character base letter in the page becomes "?". Central European shops can pin
CP852 (Latin-2) instead, which has these letters (see :data:`CODE_TABLES`).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping

#: ``ESC t n`` table numbers of the code pages posd knows, by Python codec name.
#: 0, 2, 16 and 19 from shared/reference/devices.md; 18 (PC852, Latin-2) is not listed
#: there: it comes from escpos-printer-db (one of that page's sources; python-escpos
#: 3.1's capabilities.json gives 18 = CP852 for the TM-T20II, TM-T88IV/V and its
#: default profile).
CODE_TABLES: Mapping[str, int] = {
    "cp437": 0,
    "cp850": 2,
    "cp1252": 16,
    "cp852": 18,
    "cp858": 19,
}

#: Letters with a stroke have no Unicode decomposition, so NFKD keeps them as they are.
_STROKED = {
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O",
    "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T",
}  # fmt: skip


def base_letter(ch: str) -> str:
    """``ch`` without its diacritics (NFKD without combining marks), or ``ch`` itself
    when that is not exactly one character (a ligature or fraction would shift the
    columns of a fitted line)."""
    if ch in _STROKED:
        return _STROKED[ch]
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base if len(base) == 1 else ch


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def encode_in_code_page(text: str, encoding: str) -> bytes:
    """``text`` (NFC) in ``encoding``; a missing letter becomes its base letter, else '?'.
    Never raises for text (control characters are the caller's business).

    Character by character once the whole text does not encode: a codec error handler
    cannot do it, as it learns only "charmap" for these code pages, and a replacement it
    checked against that (Latin-1) may still be missing from the page (® and £ in CP852,
    © in CP437), which fails the whole text."""
    text = nfc(text)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return b"".join(char_in_code_page(ch, encoding) for ch in text)


@functools.lru_cache(maxsize=4096)
def char_in_code_page(ch: str, encoding: str, taken: int | None = None) -> bytes:
    """One character in ``encoding``: itself, else its base letter, else '?'.

    ``taken`` is a byte the device shows as another character than the page has there
    (a pole display clone's euro sign at 0x80, where CP437 has "Ç"): a character
    encoding to it is missing from the page, else the customer would read "€ay" for
    "Çay"."""
    for candidate in (ch, base_letter(ch)):
        try:
            encoded = candidate.encode(encoding)
        except UnicodeEncodeError:
            continue
        if taken is None or encoded != bytes((taken,)):
            return encoded
    return b"?"
