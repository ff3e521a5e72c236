"""processData builders for the DSFinV-K process types ``Kassenbeleg-V1`` and ``Bestellung-V1``.

Source: DSFinV-K annex "processData" (summarised in fiscal-de.md, "processData").
Money is never a float here: amounts are ``int`` minor units (cents); quantities are
``int`` or ``Decimal``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from posd_daemon.domain.money import CURRENCY_EXPONENTS

PROCESS_TYPE_KASSENBELEG = "Kassenbeleg-V1"
PROCESS_TYPE_BESTELLUNG = "Bestellung-V1"
PROCESS_TYPE_SONSTIGER_VORGANG = "SonstigerVorgang"

# DSFinV-K BON_TYP values allowed as the Kassenbeleg-V1 <type> (fiscal-de.md; the
# former AVBelegstorno is not allowed any more: a cancellation is a normal Beleg with
# negative amounts, an aborted sale is AVBelegabbruch).
RECEIPT_TYPES = frozenset(
    {
        "Beleg",
        "AVRechnung",
        "AVTransfer",
        "AVBestellung",
        "AVTraining",
        "AVBelegabbruch",
        "AVSachbezug",
        "AVSonstige",
    }
)


class VatSlot(enum.IntEnum):
    """Position of a VAT rate in the Kassenbeleg-V1 amount list (DSFinV-K fixed order).

    The rates behind the slots change over time (e.g. the §24(1) Nr. 3 average rate went
    10.7 → 9.5 → 9.0 → 8.4 %), so the slot, not the percentage, is the key here.
    """

    NORMAL = 0  # Regelsteuersatz, 19 %
    REDUCED = 1  # ermäßigter Steuersatz, 7 %
    AVERAGE_24_1_NR3 = 2  # Durchschnittssatz §24(1) Nr. 3 UStG
    AVERAGE_24_1_NR1 = 3  # Durchschnittssatz §24(1) Nr. 1 UStG, 5.5 %
    ZERO = 4  # 0 %


class PaymentKind(enum.Enum):
    """Kassenbeleg-V1 only knows cash and non-cash (DSFinV-K)."""

    CASH = "Bar"
    NON_CASH = "Unbar"


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment; ``amount`` in minor units of ``currency`` (ISO 4217)."""

    amount: int
    kind: PaymentKind
    currency: str = "EUR"


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One Bestellung-V1 line; ``unit_price`` in cents (gross)."""

    quantity: int | Decimal
    text: str
    unit_price: int


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int in minor units (cents), got {type(value).__name__}")
    return value


def format_amount(minor_units: int) -> str:
    """Cents to the DSFinV-K form: exactly 2 decimals, '.' separator, '-' for negatives.

    >>> format_amount(7533), format_amount(-5), format_amount(0)
    ('75.33', '-0.05', '0.00')
    """
    minor_units = _check_int(minor_units, "amount")
    sign = "-" if minor_units < 0 else ""
    whole, cents = divmod(abs(minor_units), 100)
    return f"{sign}{whole}.{cents:02d}"


def format_quantity(quantity: int | Decimal) -> str:
    """Quantity with '.' as separator, no exponent, no trailing zeros (``2``, ``0.5``)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal):
        raise TypeError(f"quantity must be int or Decimal, got {type(quantity).__name__}")
    if isinstance(quantity, int):
        return str(quantity)
    if not quantity.is_finite():
        raise ValueError("quantity must be finite")
    text = format(quantity, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _gross_slots(gross_by_vat: Sequence[int] | Mapping[VatSlot, int]) -> list[int]:
    if isinstance(gross_by_vat, Mapping):
        slots = [0] * len(VatSlot)
        for slot, amount in gross_by_vat.items():
            slots[VatSlot(slot)] = _check_int(amount, "gross amount")
        return slots
    amounts = list(gross_by_vat)
    if len(amounts) != len(VatSlot):
        raise ValueError(f"need exactly {len(VatSlot)} gross amounts, got {len(amounts)}")
    return [_check_int(a, "gross amount") for a in amounts]


def _payment_key(kind: PaymentKind, currency: str) -> tuple[int, str]:
    # Bar before Unbar, EUR (no currency given) before foreign currencies, then by code:
    # the order of the DSFinV-K example "10.00:Bar_5.00:Bar:CHF_64.30:Unbar".
    return (0 if kind is PaymentKind.CASH else 1, "" if currency == "EUR" else currency)


def _to_cents(currency: str) -> int:
    """Factor from the currency's minor units to hundredths (the 2 decimals of the
    processData format): 100 for JPY (no minor unit), 1 for EUR."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    if exponent > 2:
        raise ValueError(f"{currency} has {exponent} decimals; processData amounts have 2")
    return int(10 ** (2 - exponent))


def format_payments(payments: Iterable[Payment]) -> str:
    """Payments summed per kind and currency, zero sums left out, sorted, joined by '_'."""
    totals: dict[tuple[PaymentKind, str], int] = {}
    for payment in payments:
        currency = payment.currency.upper()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            raise ValueError(f"bad ISO 4217 currency code {payment.currency!r}")
        key = (PaymentKind(payment.kind), currency)
        totals[key] = totals.get(key, 0) + _check_int(payment.amount, "payment amount")
    items = []
    for kind, currency in sorted(totals, key=lambda k: _payment_key(*k)):
        amount = totals[(kind, currency)]
        if amount == 0:
            continue
        # in the payment's own currency: 16000 JPY (no minor unit) is "16000.00"
        text = f"{format_amount(amount * _to_cents(currency))}:{kind.value}"
        if currency != "EUR":  # currency only when not EUR (DSFinV-K)
            text += f":{currency}"
        items.append(text)
    return "_".join(items)


def kassenbeleg_v1(
    receipt_type: str,
    gross_by_vat: Sequence[int] | Mapping[VatSlot, int],
    payments: Iterable[Payment] = (),
) -> str:
    """``<type>^<5 gross amounts>^<payments>`` (DSFinV-K, processType Kassenbeleg-V1).

    ``gross_by_vat``: five gross amounts in cents in :class:`VatSlot` order, or a mapping
    slot → cents (missing slots are 0.00). An empty payment list keeps the trailing '^'.
    """
    if receipt_type not in RECEIPT_TYPES:
        raise ValueError(
            f"receipt type {receipt_type!r} not allowed; one of {sorted(RECEIPT_TYPES)}"
        )
    amounts = "_".join(format_amount(a) for a in _gross_slots(gross_by_vat))
    return f"{receipt_type}^{amounts}^{format_payments(payments)}"


#: processData of an aborted sale (fiscal-de.md: "A cancelled sale finishes as ...").
AVBELEGABBRUCH = "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"


def avbelegabbruch() -> str:
    """processData that finishes an aborted sale: all amounts zero, no payments."""
    return kassenbeleg_v1("AVBelegabbruch", [0, 0, 0, 0, 0])


def bestellung_v1(lines: Iterable[OrderLine]) -> str:
    """One line per item ``<qty>;"<text>";<unit price>``, joined by CR, '"' doubled.

    Source: DSFinV-K, processType Bestellung-V1 (fiscal-de.md). Line breaks inside a text
    would split the item, so CR/LF in texts become spaces.
    """
    out = []
    for line in lines:
        text = line.text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
        text = text.replace('"', '""')
        out.append(f'{format_quantity(line.quantity)};"{text}";{format_amount(line.unit_price)}')
    return "\r".join(out)


def encode(process_data: str) -> bytes:
    """processData as the bytes handed to the TSE (UTF-8)."""
    return process_data.encode("utf-8")
