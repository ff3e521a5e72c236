"""Parking codes: the barcode on a parking slip that takes a parked sale up again (pure).

Two forms, chosen per shop:

- EAN-13: ``PP RR NNNNNNNN C`` — a two-digit prefix (an in-store range such as 20-29,
  so it never collides with a manufacturer's EAN), the register's number (2 digits),
  the parking number (8 digits) and the EAN check digit.
- Code128 (code set B): ``P RR NNNNNNNN`` — a literal "P", the register's number
  (2 digits) and the parking number (8 digits).

:func:`parse_parking_code` reads either form back to ``(register_number, number)``;
:func:`canonical_parking_code` turns a scanned one into the stored form (for lookups).
"""

from __future__ import annotations

from datetime import UTC, datetime

#: The symbology names the printer codec understands (``document.Barcode.symbology``).
EAN13 = "EAN13"
CODE128 = "CODE128"

MAX_REGISTER_NUMBER = 99
MAX_PARKING_NUMBER = 99_999_999

_CODE128_LETTER = "P"

#: Parking numbers are at least the minutes since this instant (parking_number_floor).
_NUMBER_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def parking_number_floor(now: datetime) -> int:
    """The least parking number a register issues at ``now`` (timezone-aware): the whole
    minutes since 2024-01-01 UTC (0 before it). A register numbers its slips from its
    own counter, but never below this: a register whose database is new (a replaced
    computer, a reinstall) does not start at 1 again and print the codes of its earlier
    slips, which other registers still hold on the sales they took over (a code is then
    that old sale there, and the new slip is refused or resolves to the wrong sale).
    Eight digits of minutes last until the year 2214.
    """
    return max(int((now - _NUMBER_EPOCH).total_seconds()) // 60, 0)


def ean13_check_digit(first12: str) -> int:
    """The EAN-13 check digit of 12 digits: weights 1, 3, 1, 3 … from the left, the
    digit that brings the weighted sum to a multiple of 10.

    ``ean13_check_digit("400638133393") == 1``. Raises ValueError unless ``first12`` is
    exactly 12 ASCII digits.
    """
    if len(first12) != 12 or not _digits(first12):
        raise ValueError(f"an EAN-13 check digit needs 12 digits, got {first12!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def _digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts '²' or Arabic-Indic digits)."""
    return text.isascii() and text.isdigit()


def _scanned_text(code: str) -> str:
    """``code`` as a wedge scanner may type it, without its line end and its symbology
    identifier ("]", a symbology letter, a modifier; ISO/IEC 15424): a UI passes the
    slip's scan to ResumeSale as read, as it passes other codes to Scan, which drops the
    identifier too (domain/barcode.py strip_aim; that module imports this one, so the
    three characters are checked here). Before, such a slip was "not a parking code"."""
    text = code.strip()
    aim = text[:3]
    if (
        len(text) > 3
        and aim[0] == "]"
        and aim[1:].isascii()
        and aim[1].isalpha()
        and aim[2].isalnum()
    ):
        return text[3:].strip()
    return text


def _check_numbers(register_number: int, number: int) -> None:
    if not 1 <= register_number <= MAX_REGISTER_NUMBER:
        raise ValueError(f"register number must be 1..99, got {register_number!r}")
    if not 0 <= number <= MAX_PARKING_NUMBER:
        raise ValueError(f"parking number must be 0..{MAX_PARKING_NUMBER}, got {number!r}")


def parking_code_ean13(prefix: str, register_number: int, number: int) -> str:
    """The 13-digit parking code: ``prefix`` (2 digits) + register number (2 digits) +
    parking number (8 digits) + check digit.

    ``parking_code_ean13("29", 3, 42) == "2903000000422"``. Raises ValueError for a
    prefix that is not two digits, a register number outside 1..99 or a parking number
    outside 0..99,999,999.
    """
    if len(prefix) != 2 or not _digits(prefix):
        raise ValueError(f"parking code prefix must be two digits, got {prefix!r}")
    _check_numbers(register_number, number)
    first12 = f"{prefix}{register_number:02d}{number:08d}"
    return first12 + str(ean13_check_digit(first12))


def parking_code_code128(register_number: int, number: int) -> str:
    """The Code128 parking code: "P" + register number (2 digits) + parking number
    (8 digits), e.g. ``parking_code_code128(3, 42) == "P0300000042"``."""
    _check_numbers(register_number, number)
    return f"{_CODE128_LETTER}{register_number:02d}{number:08d}"


def parse_parking_code(code: str, prefix: str | None = None) -> tuple[int, int] | None:
    """``(register_number, parking number)`` of a parking code in either form, or None
    for anything else (a wrong EAN check digit, a register number 00, other lengths or
    characters, an ordinary product EAN when ``prefix`` is given and differs).

    Surrounding whitespace (a scanner's line end) is ignored, and so is the symbology
    identifier a scanner set to transmit one puts before the data (``]E0``, ``]C0``;
    ISO/IEC 15424); the Code128 letter may be lower case (a keyboard-wedge scanner with
    caps lock).
    """
    text = _scanned_text(code)
    if len(text) == 13 and _digits(text):
        if int(text[12]) != ean13_check_digit(text[:12]):
            return None
        if prefix is not None and text[:2] != prefix:
            return None
        register_number, number = int(text[2:4]), int(text[4:12])
    elif len(text) == 11 and text[0] in "Pp" and _digits(text[1:]):
        register_number, number = int(text[1:3]), int(text[3:])
    else:
        return None
    if register_number < 1:
        return None
    return register_number, number


def canonical_parking_code(code: str) -> str:
    """A parking code as it was printed and stored, for looking it up: surrounding
    whitespace and a scanner's symbology identifier dropped and the Code128 letter upper
    case (what :func:`parse_parking_code` also accepts). Anything that is not a parking
    code is returned unchanged, so the caller's validation still sees (and refuses) what
    was sent.

    ``canonical_parking_code("p0100000001") == "P0100000001"``,
    ``canonical_parking_code("]E02901000000015") == "2901000000015"``.
    """
    if parse_parking_code(code) is None:
        return code
    text = _scanned_text(code)
    return text.upper() if text[0] == "p" else text


def parking_symbology(code: str) -> str:
    """The barcode symbology a parking code prints as: EAN13 for 13 digits, else CODE128."""
    return EAN13 if len(code) == 13 and _digits(code) else CODE128
