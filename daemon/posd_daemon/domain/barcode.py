"""GS1 barcodes (EAN-8, UPC-A, EAN-13): check digits and the forms one GTIN takes.

A UPC-A code (GTIN-12) is the EAN-13 with a leading 0: a scanner set to EAN-13 (the
usual setting in Europe) sends ``0036000291452`` for the ``036000291452`` printed under
the bars, another scanner sends the 12 digits, and a supplier's master data may hold
either. Both name the same article, so a lookup tries both forms.
"""

from __future__ import annotations

from posd_daemon.domain.errors import invalid
from posd_daemon.domain.parking import ean13_check_digit
from posd_daemon.domain.text import check_code, is_digits


def gtin_valid(digits: str) -> bool:
    """The GS1 check digit of an EAN-8, UPC-A (12) or EAN-13 code (False for anything
    but 8 to 13 ASCII digits: ``str.isdigit`` also accepts '²', which ``int`` refuses)."""
    if not (is_digits(digits) and 8 <= len(digits) <= 13):
        return False
    body, check = digits[:-1], int(digits[-1])
    padded = body.rjust(12, "0")
    return ean13_check_digit(padded) == check


def gtin_forms(code: str) -> tuple[str, ...]:
    """``code`` and, for a UPC-A code, its other form (12 digits, or 13 with a leading 0)."""
    if is_digits(code):
        if len(code) == 12:
            return (code, "0" + code)
        if len(code) == 13 and code[0] == "0":
            return (code, code[1:])
    return (code,)


def gtin_key(code: str) -> str:
    """One form per article: a UPC-A code as its EAN-13 (for telling duplicates apart)."""
    return "0" + code if is_digits(code) and len(code) == 12 else code


def check_barcode(code: str, field: str) -> str:
    """A barcode of the catalog: a code (domain/text.py) and, when it is all digits of an
    EAN-8, UPC-A or EAN-13 length, a GTIN with the right check digit. A mistyped one
    could never be scanned: the label carries the right code, and the scanner refuses
    a code whose check digit is wrong (devices/scanning.py)."""
    check_code(code, field)
    if is_digits(code) and len(code) in (8, 12, 13) and not gtin_valid(code):
        raise invalid(
            field,
            f"{code} is no EAN-8/UPC-A/EAN-13: its check digit is wrong",
            "INVALID_CHECK_DIGIT",
        )
    return code
