"""Money: integer minor units plus an ISO-4217 code. Never a float.

Rounding is explicit and named: :func:`round_half_up` is the commercial rounding used
for line totals and VAT (kaufmännisches Runden).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from posd_daemon.domain.errors import DomainError, invalid

#: Minor-unit exponents (ISO 4217) of the currencies a register may meet.
CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "CHF": 2,
    "CZK": 2,
    "PLN": 2,
    "HUF": 2,
    "GBP": 2,
    "USD": 2,
    "DKK": 2,
    "SEK": 2,
    "NOK": 2,
    "JPY": 0,
}

#: Largest absolute amount in minor units accepted anywhere (10^13 = 100 billion EUR).
MAX_MINOR = 10**13


def amount_out_of_range(field: str) -> DomainError:
    """An amount above MAX_MINOR (said as such, not as "must be 0 or more")."""
    return invalid(field, f"out of range (at most {MAX_MINOR})", "AMOUNT_OUT_OF_RANGE")


def check_currency(code: str, field: str = "currency_code") -> str:
    if code not in CURRENCY_EXPONENTS:
        raise invalid(field, f"unknown or unsupported currency {code[:8]!r}", "UNKNOWN_CURRENCY")
    return code


def round_half_up(value: Decimal) -> int:
    """Rounds to a whole number of minor units, halves away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money.minor must be an int")
        if abs(self.minor) > MAX_MINOR:
            raise invalid("amount_minor", "amount out of range", "AMOUNT_OUT_OF_RANGE")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise invalid(
                "currency_code",
                f"cannot combine {self.currency} and {other.currency}",
                "CURRENCY_MISMATCH",
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def format(self) -> str:
        """Decimal text with the currency's exponent, e.g. ``12.30``."""
        return format_minor(self.minor, self.currency)


def format_minor(minor: int, currency: str, sep: str = ".") -> str:
    exp = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    a = abs(minor)
    if exp == 0:
        return f"{sign}{a}"
    q, r = divmod(a, 10**exp)
    return f"{sign}{q}{sep}{r:0{exp}d}"
