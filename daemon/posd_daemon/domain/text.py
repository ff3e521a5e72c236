"""Validation of identifiers and printable text coming from clients and scanners."""

from __future__ import annotations

import re
import unicodedata

from posd_daemon.domain.errors import invalid

#: Ids, item numbers, barcodes: printable ASCII without spaces, 1..64 characters.
_CODE = re.compile(r"[\x21-\x7e]{1,64}")


def is_digits(value: str) -> bool:
    """Only ASCII 0-9 (``str.isdigit`` also takes "²" and "٣", which ``int`` refuses or
    reads as another number): the check before ``int()`` of outside text."""
    return value.isascii() and value.isdigit()


def check_code(value: str, field: str) -> str:
    if not _CODE.fullmatch(value):
        if not value:
            raise invalid(field, "is required")
        raise invalid(field, "must be 1..64 printable ASCII characters without spaces")
    return value


#: A scanned code: a code, or a GS1 element string, which may hold group separators (GS,
#: FNC1 ending a variable-length field) and run longer (GTIN, serial, lot and expiry of a
#: medicine pack: 70 characters and more; AI 10 and 21 take 20 each).
_SCANNED = re.compile(r"[\x1d\x21-\x7e]{1,128}")
MAX_CODE = 64


def check_scanned_code(value: str, field: str) -> str:
    """A code as a scanner reads it (see :data:`_SCANNED`). Whether one with a GS or
    over :data:`MAX_CODE` characters is a GS1 element string is the caller's to check."""
    if not _SCANNED.fullmatch(value):
        if not value:
            raise invalid(field, "is required")
        raise invalid(
            field,
            "must be 1..64 printable ASCII characters without spaces (a GS1 element string:"
            " up to 128, with GS between its fields)",
        )
    return value


def check_text(value: str, field: str, *, max_len: int, required: bool = True) -> str:
    if required and not value.strip():
        raise invalid(field, "is required")
    if len(value) > max_len:
        raise invalid(field, f"at most {max_len} characters")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise invalid(field, "contains control or unassigned characters")
    return value
