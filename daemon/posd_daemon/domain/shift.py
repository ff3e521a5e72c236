"""Shifts and cash counts (pure).

A shift opens with a counted float per currency and closes with cash counted per
currency and denomination. The difference between what the drawer should hold
(expected) and what was counted is booked (DSFinV-K GV_TYP ``DifferenzSollIst``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from posd_daemon.domain.errors import invalid
from posd_daemon.domain.money import MAX_MINOR, amount_out_of_range, check_currency

MAX_COUNT_LINES = 200
MAX_PIECES = 1_000_000


class ShiftState(enum.Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class CountPhase(enum.Enum):
    OPEN = "OPEN"
    CLOSE = "CLOSE"


@dataclass(frozen=True, slots=True)
class CountLine:
    """``pieces`` of ``denomination`` (minor units of one coin/note) in ``currency``.

    ``denomination == 0`` is a total given without denominations: ``pieces`` is then 1
    and ``amount`` the total.
    """

    currency: str
    denomination: int
    pieces: int
    amount: int


def count_line(currency: str, denomination: int, pieces: int, total: int = 0) -> CountLine:
    """Validates one count line from a client (``total`` only for denomination 0)."""
    check_currency(currency, "counts.currency_code")
    if denomination > MAX_MINOR:
        raise amount_out_of_range("counts.denomination_minor")
    if denomination < 0:
        raise invalid("counts.denomination_minor", "must be 0 (a total) or a positive value")
    if denomination == 0:
        if total > MAX_MINOR:
            raise amount_out_of_range("counts.total")
        if total < 0:
            raise invalid("counts.total", "must be 0 or more")
        return CountLine(currency, 0, 1, total)
    if pieces < 0 or pieces > MAX_PIECES:
        raise invalid("counts.pieces", f"must be between 0 and {MAX_PIECES}")
    if total not in (0, denomination * pieces):
        raise invalid("counts.total", "must be empty or pieces x denomination")
    return CountLine(currency, denomination, pieces, denomination * pieces)


def _checked(line: CountLine) -> CountLine:
    """``line`` checked as :func:`count_line` checks a client's: a CountLine built
    elsewhere (a caller of the use cases, a recovered payload) cannot bring a negative
    count or a total that is no pieces x denomination. A total line's pieces are 1."""
    if line.denomination == 0:
        return count_line(line.currency, 0, 1, line.amount)
    checked = count_line(line.currency, line.denomination, line.pieces, line.amount)
    if checked != line:
        raise invalid("counts.total", "must be pieces x denomination")
    return checked


def merge_counts(lines: Iterable[CountLine]) -> list[CountLine]:
    """Checks the lines and sums those of the same currency and denomination; sorted
    for storage."""
    merged: dict[tuple[str, int], CountLine] = {}
    for n, given in enumerate(lines, 1):
        if n > MAX_COUNT_LINES:
            raise invalid("counts", f"at most {MAX_COUNT_LINES} lines")
        line = _checked(given)
        key = (line.currency, line.denomination)
        old = merged.get(key)
        if old is None:
            merged[key] = line
        else:
            merged[key] = CountLine(
                line.currency,
                line.denomination,
                # a total stays one total line
                old.pieces + line.pieces if line.denomination else 1,
                old.amount + line.amount,
            )
    # the currency's total, not each merged line: every line in range, 10^13 as a total
    # and 500.00 x 1,000,000 beside it still counted more than any amount, and the
    # difference booked (and signed) for it was one too
    for total in totals_by_currency(merged.values()).values():
        if total > MAX_MINOR:
            raise invalid("counts", "counted amount out of range")
    return [merged[k] for k in sorted(merged)]


def totals_by_currency(lines: Iterable[CountLine]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines:
        out[line.currency] = out.get(line.currency, 0) + line.amount
    return out


@dataclass(frozen=True, slots=True)
class CashBalance:
    """Expected vs counted cash of one currency at the close of a shift."""

    currency: str
    opening: int
    expected: int
    counted: int

    @property
    def difference(self) -> int:
        """Counted minus expected: positive is a surplus, negative a shortage."""
        return self.counted - self.expected


def balances(
    opening: Mapping[str, int], movements: Mapping[str, int], counted: Mapping[str, int]
) -> list[CashBalance]:
    """One balance per currency that was in the float, moved, or was counted.

    ``movements``: the net cash per currency that went through the drawer during the
    shift (payments kept, change given, cash movements).
    """
    currencies = sorted(set(opening) | set(movements) | set(counted))
    return [
        CashBalance(
            currency=c,
            opening=opening.get(c, 0),
            expected=opening.get(c, 0) + movements.get(c, 0),
            counted=counted.get(c, 0),
        )
        for c in currencies
    ]


def uncounted(balances: Iterable[CashBalance], counted: Mapping[str, int]) -> list[str]:
    """The currencies the drawer is expected to hold (a non-zero expected amount) that
    the count has no line for, sorted. Left out, such a currency would be booked as if
    counted at 0: its whole expected amount a shortage for cash nobody looked at. A
    line with a total of 0 is the explicit "none there"."""
    return sorted(b.currency for b in balances if b.expected and b.currency not in counted)
