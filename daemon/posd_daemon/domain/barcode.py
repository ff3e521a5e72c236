"""GS1 barcodes (EAN-8, UPC-A, EAN-13): check digits and the forms one GTIN takes.

A UPC-A code (GTIN-12) is the EAN-13 with a leading 0: a scanner set to EAN-13 (the
usual setting in Europe) sends ``0036000291452`` for the ``036000291452`` printed under
the bars, another scanner sends the 12 digits, and a supplier's master data may hold
either. Both name the same article, so a lookup tries both forms. Likewise a GTIN in
14 digits (``04006381333931``, as GS1 master data and GS1-128/ITF-14 readers write every
GTIN, right-justified with leading zeros) is the EAN-13, UPC-A or EAN-8 it pads; a
GTIN-14 whose first digit is no 0 (an indicator digit: a case of the article) is an
article of its own.

A UPC-E code is a UPC-A with zeros left out, 8 digits like an EAN-8 (:func:`upce_to_upca`,
:func:`upca_to_upce`): the catalog may list either, a scanner may send either, and a
lookup tries both; 8 digits that are a valid EAN-8 are an EAN-8 first.

In-store labels (restricted circulation numbers, prefixes 20-29) carry a price or a
weight in their last digits; the shop configures their layouts (:class:`LabelLayout`).

A GS1 element string led by AI (01) (GS1-128, GS1 DataMatrix, GS1 DataBar) may carry
the lot, serial number, dates, net weight or price of the one item it marks
(:func:`parse_element_string`).
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from posd_daemon.domain.errors import DomainError, invalid
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


#: ISO/IEC 15424 symbology identifier: "]", a code character (a letter) and a modifier
_AIM_LENGTH = 3


def strip_aim(code: str) -> str:
    """``code`` without the symbology identifier a scanner set to transmit it puts before
    the data (``]E0``, ``]C1``, ``]d2``; ISO/IEC 15424), as a keyboard-wedge scanner at a
    UI types it; anything else as it is."""
    if (
        len(code) > _AIM_LENGTH
        and code[0] == "]"
        and code[1].isascii()
        and code[1].isalpha()
        and code[2].isascii()
        and code[2].isalnum()
    ):
        return code[_AIM_LENGTH:]
    return code


def _gtin14(code: str) -> str | None:
    """``code`` right-justified in 14 digits, when it is a GTIN written in one of the
    lengths a GTIN takes (GS1 General Specifications: GTIN-8, -12 and -13 are padded with
    leading zeros to 14 digits in GS1 element strings and master data, and stay the same
    GTIN): a valid EAN-8, any 12 or 13 digits (the catalog checks them), 14 digits with a
    leading 0 and a valid check digit. None for anything else (a UPC-E, a GTIN-14 with
    an indicator digit, which is an article of its own, other codes)."""
    if not is_digits(code):
        return None
    n = len(code)
    if (
        (n == 8 and gtin_valid(code))
        or n in (12, 13)
        or (n == 14 and code[0] == "0" and gtin_valid(code[1:]))
    ):
        return code.rjust(14, "0")
    return None


def gtin_forms(code: str) -> tuple[str, ...]:
    """``code`` first, then the other forms of its GTIN: the same digits with as many
    leading zeros as make an EAN-8, UPC-A, EAN-13 or GTIN-14 (``4006381333931`` and
    ``04006381333931``; ``036000291452``, ``0036000291452`` and ``00036000291452``)."""
    padded = _gtin14(code)
    if padded is None:
        return (code,)
    forms = [code]
    for length in (13, 12, 14, 8):
        form = padded[14 - length :]
        if (
            padded[: 14 - length].strip("0") == ""
            and form not in forms
            and (length != 8 or gtin_valid(form))
        ):
            forms.append(form)
    return tuple(forms)


def gtin_key(code: str) -> str:
    """One form per article (for telling duplicates apart): a GTIN-12/-13, or one
    written in 14 digits, as its EAN-13; an EAN-8 however padded as the EAN-8; a UPC-E
    (8 digits that are no EAN-8) as the EAN-13 of its UPC-A."""
    if is_digits(code) and len(code) == 8 and not gtin_valid(code):
        upca = upce_to_upca(code)
        if upca is not None:
            return "0" + upca
    padded = _gtin14(code)
    if padded is None:
        return code
    if padded.startswith("000000") and gtin_valid(padded[6:]):
        return padded[6:]
    return padded[1:]


def check_barcode(code: str, field: str) -> str:
    """A barcode of the catalog: a code (domain/text.py) and, when it is all digits of an
    EAN-8, UPC-A or EAN-13 length, a GTIN with the right check digit. A mistyped one
    could never be scanned: the label carries the right code, and the scanner refuses
    a code whose check digit is wrong (devices/scanning.py). 8 digits may also be a
    UPC-E, as a supplier's master data lists it (printed under the bars), checked by the
    check digit of its UPC-A."""
    check_code(code, field)
    if (
        is_digits(code)
        and len(code) in (8, 12, 13)
        and not gtin_valid(code)
        and not (len(code) == 8 and upce_to_upca(code) is not None)
    ):
        raise invalid(
            field,
            f"{code} is no EAN-8/UPC-E/UPC-A/EAN-13: its check digit is wrong",
            "INVALID_CHECK_DIGIT",
        )
    return code


# -- UPC-E ------------------------------------------------------------------------------


def upce_to_upca(code: str) -> str | None:
    """The UPC-A (GTIN-12) a UPC-E code stands for, or None when ``code`` is no valid
    UPC-E: 8 digits, number system 0 or 1, and its last digit the UPC-A's check digit.

    The zero-suppression rules of the GS1 General Specifications (UPC-E, "Rules for
    zero-suppression": the sixth data digit says where the zeros of the manufacturer and
    item numbers were left out), from data digits d1..d6 of ``N d1 d2 d3 d4 d5 d6 C``:

    * d6 0-2: ``N d1 d2 d6 0 0 0 0 d3 d4 d5 C``
    * d6 3:   ``N d1 d2 d3 0 0 0 0 0 d4 d5 C``
    * d6 4:   ``N d1 d2 d3 d4 0 0 0 0 0 d5 C``
    * d6 5-9: ``N d1 d2 d3 d4 d5 0 0 0 0 d6 C``
    """
    if not (is_digits(code) and len(code) == 8 and code[0] in "01"):
        return None
    n, d, check = code[0], code[1:7], code[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    upca = n + body + check
    return upca if gtin_valid(upca) else None


# -- restricted circulation numbers: in-store codes with a price or a weight --------------


class LabelKind(enum.Enum):
    #: the variable part is the label's price in minor units (Preis-EAN)
    PRICE = "price"
    #: the variable part is the weight (a quantity of the item's unit; Gewichts-EAN)
    WEIGHT = "weight"


#: GS1 prefixes 20-29 of an EAN-13: restricted circulation numbers, for use within a
#: company or a geographic region, e.g. variable measure trade items (GS1 General
#: Specifications, "GS1 Prefixes" and "Restricted circulation numbers").
RCN_PREFIXES = tuple(str(p) for p in range(20, 30))

# Price/weight verifier digit (GS1 General Specifications, 7.9, "Check digit calculation
# for price/weight fields"): every digit is weighted by a factor whose products are kept
# to their units digit in a special way: 2- (the product by 2, its tens digit subtracted
# from its units digit), 3 (the units digit of the product), 5+ (the tens digit added),
# 5- (the tens digit subtracted). These are the weighted values of the digits 0-9.
_W2_MINUS = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)
_W3 = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)
_W5_PLUS = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)
_W5_MINUS = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)


def price_check_digit(value: str) -> int:
    """The verifier digit of a 4- or 5-digit price/weight field (GS1 General
    Specifications 7.9): 4 digits weighted 2-, 2-, 3, 5-, the sum times 3, its units
    digit; 5 digits weighted 5+, 2-, 5-, 5+, 2-, the sum taken from the next multiple of
    ten, and the digit whose 5- weight is that result. The specification's examples:
    2875 -> 9, 14685 -> 6."""
    if not (is_digits(value) and len(value) in (4, 5)):
        raise ValueError(f"a price check digit is for 4 or 5 digits, not {value!r}")
    d = [int(c) for c in value]
    if len(d) == 4:
        total = _W2_MINUS[d[0]] + _W2_MINUS[d[1]] + _W3[d[2]] + _W5_MINUS[d[3]]
        return (total * 3) % 10
    total = _W5_PLUS[d[0]] + _W2_MINUS[d[1]] + _W5_MINUS[d[2]] + _W5_PLUS[d[3]] + _W2_MINUS[d[4]]
    return _W5_MINUS.index((10 - total % 10) % 10)


@dataclass(frozen=True, slots=True)
class LabelLayout:
    """One in-store layout of an EAN-13 with a variable part (shop configuration):
    ``PP I…I [V] W…W C`` = a prefix (20-29), ``item_digits`` of item number, optionally
    a price/weight verifier digit, the value, the EAN check digit."""

    prefixes: tuple[str, ...]
    item_digits: int
    kind: LabelKind
    price_check_digit: bool = False
    #: weight: decimal places of the value in the item's unit (3: grams of a kg item)
    weight_decimals: int = 3

    @property
    def value_digits(self) -> int:
        return 13 - 2 - self.item_digits - int(self.price_check_digit) - 1

    def problems(self, where: str) -> list[str]:
        """What is wrong with the layout, each with ``where`` (a config path)."""
        out = []
        if not self.prefixes:
            out.append(f"{where}.prefixes: give at least one prefix (20 to 29)")
        for p in self.prefixes:
            if p not in RCN_PREFIXES:
                out.append(
                    f"{where}.prefixes: {p!r} is no restricted circulation prefix"
                    " (two digits, 20 to 29)"
                )
        if len(set(self.prefixes)) != len(self.prefixes):
            out.append(f"{where}.prefixes: a prefix is listed twice")
        if self.price_check_digit:
            if self.value_digits not in (4, 5):
                out.append(
                    f"{where}.item_digits: with a price check digit the value has 4 or 5"
                    f" digits (item_digits 5 or 4), not {self.value_digits}"
                )
        elif not 3 <= self.value_digits <= 6:
            out.append(
                f"{where}.item_digits: between 4 and 7 (the value has the remaining 3 to 6"
                f" digits), not {self.item_digits}"
            )
        if self.kind is LabelKind.WEIGHT and not 0 <= self.weight_decimals <= 3:
            out.append(
                f"{where}.weight_decimals: between 0 and 3 (quantities have at most 3 decimals)"
            )
        return out

    def read(self, code: str) -> Label | None:
        """The label ``code`` is in this layout, or None when it is not (another prefix,
        not an EAN-13 with the right check digit). A wrong verifier digit is noted on the
        label (:meth:`Label.checked` refuses it): whether the code is a label at all is
        known only once its zeroed code names an item, and a code of the prefix that is
        no label (a shop's own item number) goes on through the scan order."""
        if not (is_digits(code) and len(code) == 13 and code[:2] in self.prefixes):
            return None
        if not gtin_valid(code):
            return None
        start = 2 + self.item_digits
        value = code[12 - self.value_digits : 12]
        misprint = ""
        if self.price_check_digit and int(code[start]) != price_check_digit(value):
            misprint = (
                f"{code}: the check digit of its {self.kind.value} {value} is"
                f" {code[start]}, not {price_check_digit(value)}: the label is misprinted"
            )
        body = code[:start] + "0" * (12 - start)
        item_code = body + str(ean13_check_digit(body))
        return Label(code, item_code, self.kind, int(value), self.weight_decimals, misprint)


@dataclass(frozen=True, slots=True)
class Label:
    """A scanned in-store label: ``item_code`` is the label with its variable part (and
    verifier digit) zeroed and the EAN check digit computed anew, the barcode the item
    is registered under."""

    code: str
    item_code: str
    kind: LabelKind
    #: price: minor units; weight: the raw digits (see ``quantity``)
    value: int
    weight_decimals: int = 3
    #: why its verifier digit is wrong ("" when right or there is none)
    misprint: str = ""
    #: a price label's pack weight in the item's base unit when its code states it too
    #: (a GS1 element string with AI 310n beside 392n); None: told by the price
    weight: Decimal | None = None

    @property
    def quantity(self) -> Decimal:
        """A weight label's quantity in the item's base unit (e.g. 1234 g: 1.234 kg)."""
        return Decimal(self.value).scaleb(-self.weight_decimals)

    def pack_weight(self, price_per_unit: int) -> Decimal:
        """A price label's pack weight, in the unit ``price_per_unit`` is the price of
        (the catalog's, local currency): the price over it, to the thousandth (the
        register's quantity precision; a deli scale weighs to the gram). 0 when the price
        is less than half a thousandth's worth."""
        assert self.kind is LabelKind.PRICE
        assert price_per_unit > 0
        weight = Decimal(self.value) / Decimal(price_per_unit)
        return weight.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)

    def checked(self) -> Label:
        """The label, refused when its verifier digit is wrong: the EAN check digit is
        right, so the label was printed wrong, and its value cannot be trusted."""
        if self.misprint:
            raise invalid("code", self.misprint, "INVALID_PRICE_CHECK_DIGIT")
        return self


def weight_label(code: str, item_code: str, quantity: Decimal) -> Label:
    """A weight label for ``quantity`` of the item's base unit (as a GS1 element string's
    net weight gives it), with as many decimals as it has, at least the register's 3."""
    decimals = max(3, -int(quantity.as_tuple().exponent))
    return Label(code, item_code, LabelKind.WEIGHT, int(quantity.scaleb(decimals)), decimals)


def read_label(code: str, layouts: Sequence[LabelLayout]) -> Label | None:
    """The in-store label ``code`` is in one of ``layouts`` (prefixes do not overlap),
    or None."""
    for layout in layouts:
        label = layout.read(code)
        if label is not None:
            return label
    return None


def upca_to_upce(code: str) -> str | None:
    """The UPC-E a UPC-A code (12 digits, or 13 with a leading 0) is printed as, or None
    when it has none: the inverse of :func:`upce_to_upca`, with the first rule that fits
    (GS1 General Specifications, UPC-E: a manufacturer number ending in 000, 100 or 200
    with an item number up to 999, then one ending in 00 (300-900) with up to 99, one
    ending in 0 with up to 9, and any with an item number 5 to 9). A scanner set to
    send UPC-E as UPC-A delivers the 12 digits of a code the catalog lists as printed."""
    if is_digits(code) and len(code) == 13 and code[0] == "0":
        code = code[1:]
    if not (is_digits(code) and len(code) == 12 and code[0] in "01" and gtin_valid(code)):
        return None
    n, m, i, check = code[0], code[1:6], code[6:11], code[11]
    if m[2:] in ("000", "100", "200") and i[:2] == "00":
        data = m[:2] + i[2:] + m[2]
    elif m[3:] == "00" and i[:3] == "000":
        data = m[:3] + i[3:] + "3"
    elif m[4] == "0" and i[:4] == "0000":
        data = m[:4] + i[4] + "4"
    elif i[:4] == "0000" and i[4] in "56789":
        data = m + i[4]
    else:
        return None
    return n + data + check


# -- GS1 element strings: the GTIN with lot, serial, dates, weight, price -----------------

#: The group separator a scanner transmits for FNC1 in a GS1-128, GS1 DataMatrix or GS1
#: DataBar symbol: it ends a variable-length field that is not the last (GS1 General
#: Specifications 7.8.6; the GS1 DataMatrix Guideline, "FNC1 as GS").
GS = "\x1d"

#: GS1 AI encodable character set 82 (GS1 General Specifications 7.11, Figure 7.11-1):
#: the characters a lot or serial number may hold.
_CSET82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)


@dataclass(frozen=True, slots=True)
class ElementString:
    """What a GS1 element string led by AI (01) says of the one trade item it marks."""

    #: AI (01), 14 digits (the GTIN-8/-12/-13 it pads, or a GTIN-14)
    gtin: str
    #: AI (10) batch/lot number
    lot: str = ""
    #: AI (21) serial number
    serial: str = ""
    #: AI (17) expiration date
    expiry: date | None = None
    #: AI (15) best before date
    best_before: date | None = None
    #: AI (310n) net weight in kilograms, n decimals
    net_weight_kg: Decimal | None = None
    #: AI (392n) amount payable in the local currency, n decimals
    price: Decimal | None = None


#: The base units a net weight in kilograms (AI 310n) is a quantity of, with their factor
#: from kilograms. The catalog's units are the shop's own words: these are the usual ones
#: for a weight, and the codes of UN/ECE Recommendation 20 (KGM, GRM).
_KG_FACTORS: dict[str, Decimal] = {
    "kg": Decimal(1),
    "kilogramm": Decimal(1),
    "kilogram": Decimal(1),
    "kilo": Decimal(1),
    "kgm": Decimal(1),
    "g": Decimal(1000),
    "gramm": Decimal(1000),
    "gram": Decimal(1000),
    "grm": Decimal(1000),
}


def kg_in_unit(kg: Decimal, unit: str) -> Decimal | None:
    """``kg`` kilograms in the base unit ``unit`` (kg or g), or None when ``unit`` is no
    weight (pieces, metres, litres): a net weight is no quantity of such an item."""
    factor = _KG_FACTORS.get(unit.strip().casefold())
    return None if factor is None else kg * factor


def _bad(code: str, why: str) -> DomainError:
    return invalid(
        "code", f"{code!r} is no valid GS1 element string: {why}", "INVALID_ELEMENT_STRING"
    )


def _gs1_date(code: str, ai: str, value: str, today: date) -> date:
    """YYMMDD of a date AI (GS1 General Specifications 7.12): the century puts the year
    at most 49 years before or 50 after the current one; day 00 is the month's last day
    (only year and month known)."""
    yy, mm, dd = int(value[0:2]), int(value[2:4]), int(value[4:6])
    diff = yy - today.year % 100
    century = today.year - today.year % 100
    if diff >= 51:
        century -= 100
    elif diff <= -50:
        century += 100
    year = century + yy
    if not 1 <= mm <= 12:
        raise _bad(code, f"AI ({ai}) date {value}: no month {mm:02d}")
    last = calendar.monthrange(year, mm)[1]
    if dd > last:
        raise _bad(code, f"AI ({ai}) date {value}: {year}-{mm:02d} has no day {dd}")
    return date(year, mm, dd or last)


def parse_element_string(code: str, today: date) -> ElementString | None:
    """The GS1 element string ``code`` (after a scanner's AIM identifier; a leading GS is
    the symbol's first FNC1), led by AI (01) with a GTIN whose check digit is right; None
    for a code that does not start so (it is some other code). After the GTIN only the
    AIs a sale can use are accepted: (10), (21), (11)/(13)/(15)/(16)/(17) dates, (310n)
    net weight, (392n) price; anything else (an unknown AI, a field cut short or too
    long, a bad date, characters outside the GS1 set, a stray GS) is refused with the
    reason INVALID_ELEMENT_STRING, as the item cannot be sold from a label misread."""
    s = code[1:] if code.startswith(GS) else code
    if not (len(s) >= 16 and s.startswith("01") and is_digits(s[2:16])):
        return None
    gtin = s[2:16]
    if not _gtin14_valid(gtin):
        return None
    lot = serial = ""
    expiry = best_before = None
    weight = price = None
    seen = {"01"}
    i = 16
    while i < len(s):
        if s[i] == GS:
            # a GS ends a variable-length field; one right after a fixed-length field is
            # allowed (GS1 General Specifications 7.8.6), two in a row or one at the end is not
            i += 1
            if i >= len(s) or s[i] == GS:
                raise _bad(code, "a separator (GS) with no field after it")
        ai2 = s[i : i + 2]
        ai4 = s[i : i + 4]
        if ai2 in ("10", "21"):
            end = s.find(GS, i + 2)
            end = len(s) if end < 0 else end
            value = s[i + 2 : end]
            name = "lot" if ai2 == "10" else "serial"
            if not 1 <= len(value) <= 20:
                raise _bad(code, f"AI ({ai2}) {name} number of {len(value)} characters (1 to 20)")
            if not set(value) <= _CSET82:
                raise _bad(
                    code, f"AI ({ai2}) {name} number {value!r} has characters outside GS1's set"
                )
            ai, i = ai2, end
            if ai2 == "10":
                lot = value
            else:
                serial = value
        elif ai2 in ("11", "13", "15", "16", "17"):
            value = s[i + 2 : i + 8]
            if len(value) != 6 or not is_digits(value):
                raise _bad(code, f"AI ({ai2}) date {value!r}: six digits YYMMDD")
            day = _gs1_date(code, ai2, value, today)
            ai, i = ai2, i + 8
            if ai2 == "17":
                expiry = day
            elif ai2 == "15":
                best_before = day
        elif ai4[:3] == "310" and len(ai4) == 4:
            value = s[i + 4 : i + 10]
            if not ("0" <= ai4[3] <= "5") or len(value) != 6 or not is_digits(value):
                raise _bad(code, f"AI ({ai4}) net weight {value!r}: AI 3100-3105 and six digits")
            weight = Decimal(value).scaleb(-int(ai4[3]))
            ai, i = "310", i + 10
        elif ai4[:3] == "392" and len(ai4) == 4 and is_digits(ai4[3]):
            end = s.find(GS, i + 4)
            end = len(s) if end < 0 else end
            value = s[i + 4 : end]
            if not (1 <= len(value) <= 15 and is_digits(value)):
                raise _bad(code, f"AI ({ai4}) price {value!r}: 1 to 15 digits")
            price = Decimal(value).scaleb(-int(ai4[3]))
            ai, i = "392", end
        else:
            raise _bad(code, f"AI {s[i : i + 4]!r}... is not one a sale can use here")
        if ai in seen:
            raise _bad(code, f"AI ({ai}) twice")
        seen.add(ai)
    return ElementString(gtin, lot, serial, expiry, best_before, weight, price)


def _gtin14_valid(gtin: str) -> bool:
    """The GS1 check digit of a GTIN-14 (weights 3, 1, 3, ... from the digit next to the
    check digit; GS1 General Specifications 7.9.1)."""
    total = sum(int(d) * (3 if k % 2 == 0 else 1) for k, d in enumerate(reversed(gtin[:-1])))
    return (10 - total % 10) % 10 == int(gtin[-1])
