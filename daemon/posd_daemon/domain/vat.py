"""VAT categories, rates with validity dates, and per-rate totals.

Categories are numbered like the DSFinV-K UST_SCHLUESSEL (1 normal, 2 reduced,
3 §24(1) Nr. 3 average rate, 4 §24(1) Nr. 1, 5 zero, 6 not taxable).

Two directions (:class:`PriceBasis`): consumer sales are computed from gross amounts
(the tax is contained in the price), business sales from net amounts (the tax is added).
Two rounding modes (:class:`VatRounding`): the tax of a rate is rounded once on the
document's sum (DOCUMENT), or per line and then summed (LINE).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.money import round_half_up


class PriceBasis(enum.Enum):
    """Whether an amount includes VAT (GROSS, consumer) or not (NET, business)."""

    GROSS = "GROSS"
    NET = "NET"


class VatRounding(enum.Enum):
    """Where the tax is rounded: once per rate on the document, or on every line."""

    DOCUMENT = "DOCUMENT"
    LINE = "LINE"


class VatCategory(enum.IntEnum):
    NORMAL = 1
    REDUCED = 2
    AVERAGE_24_3 = 3
    AVERAGE_24_1 = 4
    ZERO = 5
    NOT_TAXABLE = 6


@dataclass(frozen=True, slots=True)
class VatRate:
    category: VatCategory
    percent: Decimal
    valid_from: date
    valid_until: date | None = None  # inclusive

    def applies(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


class VatTable:
    """The configured rates; one rate per category on any day."""

    def __init__(self, rates: Iterable[VatRate]) -> None:
        self._rates = sorted(rates, key=lambda r: (r.category, r.valid_from))
        for a, b in zip(self._rates, self._rates[1:], strict=False):
            if a.category == b.category and (
                a.valid_until is None or a.valid_until >= b.valid_from
            ):
                raise ValueError(
                    f"VAT rates for {a.category.name} overlap: "
                    f"{a.valid_from}..{a.valid_until} and {b.valid_from}.."
                )

    def rate(self, category: VatCategory, day: date) -> Decimal:
        for r in self._rates:
            if r.category == category and r.applies(day):
                return r.percent
        raise DomainError(
            ErrorKind.FAILED_PRECONDITION,
            "VAT_RATE_NOT_CONFIGURED",
            f"no VAT rate configured for {category.name} on {day.isoformat()}",
        )

    @property
    def rates(self) -> Sequence[VatRate]:
        return tuple(self._rates)


@dataclass(frozen=True, slots=True)
class VatTotal:
    category: VatCategory
    percent: Decimal
    gross: int
    net: int
    tax: int


def tax_from_gross(gross: int, percent: Decimal) -> int:
    """The tax contained in a gross amount, rounded half up: gross * p / (100 + p)."""
    if percent == 0:
        return 0
    return round_half_up(Decimal(gross) * percent / (Decimal(100) + percent))


def totals_from_gross(parts: Iterable[tuple[VatCategory, Decimal, int]]) -> list[VatTotal]:
    """Groups gross amounts by (category, rate) and splits each group into net and tax.

    Tax is computed once per group (per document), not per line, so the group's
    net + tax always equals its gross to the cent.
    """
    groups: dict[tuple[VatCategory, Decimal], int] = {}
    for category, percent, gross in parts:
        key = (category, percent)
        groups[key] = groups.get(key, 0) + gross
    out = []
    for (category, percent), gross in sorted(groups.items()):
        tax = tax_from_gross(gross, percent)
        out.append(VatTotal(category, percent, gross, gross - tax, tax))
    return out


def tax_from_net(net: int, percent: Decimal) -> int:
    """The tax added to a net amount, rounded half up: net * p / 100."""
    if percent == 0:
        return 0
    return round_half_up(Decimal(net) * percent / Decimal(100))


def vat_totals(
    parts: Iterable[tuple[VatCategory, Decimal, int]],
    basis: PriceBasis,
    rounding: VatRounding,
) -> list[VatTotal]:
    """Per-rate totals of line amounts given in ``basis`` (gross or net), rounded as told.

    * GROSS, DOCUMENT: tax = round(sum(gross) * p / (100 + p)) per rate.
    * GROSS, LINE:     tax = sum(round(gross_i * p / (100 + p))).
    * NET, DOCUMENT:   tax = round(sum(net) * p / 100); gross = net + tax.
    * NET, LINE:       tax = sum(round(net_i * p / 100)); gross = net + tax.

    In every mode net + tax == gross for each rate, to the cent.
    """
    if basis is PriceBasis.GROSS and rounding is VatRounding.DOCUMENT:
        return totals_from_gross(parts)
    amounts: dict[tuple[VatCategory, Decimal], int] = {}
    taxes: dict[tuple[VatCategory, Decimal], int] = {}
    for category, percent, amount in parts:
        key = (category, percent)
        amounts[key] = amounts.get(key, 0) + amount
        if rounding is VatRounding.LINE:
            line_tax = (
                tax_from_gross(amount, percent)
                if basis is PriceBasis.GROSS
                else tax_from_net(amount, percent)
            )
            taxes[key] = taxes.get(key, 0) + line_tax
    out = []
    for (category, percent), amount in sorted(amounts.items()):
        if rounding is VatRounding.LINE:
            tax = taxes[(category, percent)]
        else:
            tax = tax_from_net(amount, percent)
        if basis is PriceBasis.GROSS:
            out.append(VatTotal(category, percent, amount, amount - tax, tax))
        else:
            out.append(VatTotal(category, percent, amount + tax, amount, tax))
    return out
