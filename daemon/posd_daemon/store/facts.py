"""The Vorgänge of a closing period read back as facts (a posted sale's per-rate
totals, its lines that make business cases of their own, its payments; an aborted or
training sale; a cash movement): what ``domain.closing.ClosingBuilder`` sums into the Z,
and what the DSFinV-K export replays to split a closing's business cases by rate."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from posd_daemon.domain.closing import CashMovementKind, ClosingBuilder, LineAmount
from posd_daemon.domain.money import round_half_up
from posd_daemon.domain.vat import (
    VatCategory,
    VatTotal,
    tax_from_gross,
    tax_from_net,
    totals_from_gross,
)


@dataclass(frozen=True, slots=True)
class SaleFact:
    bon_id: int
    operator_id: str
    currency: str
    #: the receipt's per-rate totals as posted (discounts and net pricing included)
    vat: tuple[VatTotal, ...]
    payments: tuple[tuple[str, int], ...]
    change: int
    late: bool
    shift_id: int | None
    #: discounts granted on the receipt, per rate (gross/net/tax, positive)
    discounts: tuple[VatTotal, ...] = ()
    #: the lines that are no plain goods sold (returns, shop discounts, vouchers sold
    #: and redeemed, balancing): they make business cases of their own
    lines: tuple[LineAmount, ...] = ()
    #: cash rounding difference (schema 8: sales.rounding)
    rounding: int = 0
    #: a reversal (storno) receipt
    reversal: bool = False
    #: booked amount per payment (schema 8: sale_payments.kept); None: computed
    kept: tuple[tuple[str, int], ...] | None = None
    #: units of ``currency`` per register-currency unit
    rate: Decimal = Decimal(1)
    #: change of a foreign-cash sale paid out in the register currency
    change_local: int = 0
    #: the change went back in the register currency (sales.change_currency)
    change_in_local: bool = False
    #: its cash rounding (schema 19: sales.change_rounding; None before)
    change_rounding: int | None = None


@dataclass(frozen=True, slots=True)
class TrainingFact:
    bon_id: int
    late: bool
    shift_id: int | None


@dataclass(frozen=True, slots=True)
class AbortFact:
    bon_id: int
    late: bool
    shift_id: int | None


@dataclass(frozen=True, slots=True)
class MovementFact:
    bon_id: int
    kind: CashMovementKind
    amount: int
    currency: str
    operator_id: str
    shift_id: int | None
    #: the amount in the register currency (foreign cash: at the rate it was signed at)
    base: int | None = None


Fact = SaleFact | AbortFact | TrainingFact | MovementFact


def period_facts(
    conn: sqlite3.Connection, register_id: str, z_nr: int | None = None
) -> Iterator[Fact]:
    """The Vorgänge of the open period (``z_nr`` None) or of closing ``z_nr`` as facts,
    streamed: cursors in BON_ID order (headers, lines, payments, ...) merged here, so
    memory stays flat."""
    period = "t.z_nr IS NULL" if z_nr is None else "t.z_nr = ?"
    args: tuple[object, ...] = (register_id,) if z_nr is None else (z_nr, register_id)
    heads = conn.execute(
        "SELECT t.bon_id, t.kind, t.late, t.shift_id, s.operator_id, s.currency,"
        " m.kind, m.amount, m.currency, m.operator_id, COALESCE(s.training, 0),"
        " COALESCE(s.rounding, 0), s.reverses_sale_id, s.exchange_rate,"
        " COALESCE(s.change_local, 0), s.change_currency NOT IN ('', s.currency),"
        " s.change_rounding, COALESCE(m.amount_local, m.amount)"
        " FROM register_transactions t"
        " LEFT JOIN sales s ON s.sale_id = t.sale_id"
        " LEFT JOIN cash_movements m ON m.movement_id = t.movement_id"
        f" WHERE {period} AND t.register_id = ? ORDER BY t.bon_id",
        args,
    )
    lines = _grouped(
        conn.execute(
            "SELECT t.bon_id, l.vat_category, l.vat_rate, l.unit_price, l.quantity"
            " FROM register_transactions t JOIN sale_lines l ON l.sale_id = t.sale_id"
            f" WHERE {period} AND t.register_id = ? AND t.kind = 'SALE'"
            " AND NOT EXISTS (SELECT 1 FROM sale_vat_totals v WHERE v.sale_id = t.sale_id)"
            " ORDER BY t.bon_id, l.position",
            args,
        )
    )
    rebates = _grouped(
        conn.execute(
            "SELECT t.bon_id, l.vat_category, l.vat_rate, l.discount, s.vat_direction"
            " FROM register_transactions t JOIN sale_lines l ON l.sale_id = t.sale_id"
            " JOIN sales s ON s.sale_id = t.sale_id"
            f" WHERE {period} AND t.register_id = ? AND t.kind = 'SALE'"
            " AND l.discount <> 0 ORDER BY t.bon_id, l.position",
            args,
        )
    )
    posted_vat = _grouped(
        conn.execute(
            "SELECT t.bon_id, v.vat_category, v.vat_rate, v.gross, v.net, v.tax"
            " FROM register_transactions t JOIN sale_vat_totals v ON v.sale_id = t.sale_id"
            f" WHERE {period} AND t.register_id = ? AND t.kind = 'SALE'"
            " ORDER BY t.bon_id, v.position",
            args,
        )
    )
    kinds = _grouped(
        conn.execute(
            "SELECT t.bon_id, l.kind, l.vat_category, l.vat_rate, l.item_type, l.gross,"
            " l.fixed_amount, l.unit_price, l.quantity"
            " FROM register_transactions t JOIN sale_lines l ON l.sale_id = t.sale_id"
            f" WHERE {period} AND t.register_id = ? AND t.kind = 'SALE'"
            " AND (l.kind <> 'GOODS' OR l.item_type = 'VOUCHER')"
            " ORDER BY t.bon_id, l.position",
            args,
        )
    )
    pays = _grouped(
        conn.execute(
            "SELECT t.bon_id, p.method, p.amount, p.kept"
            " FROM register_transactions t JOIN sale_payments p ON p.sale_id = t.sale_id"
            f" WHERE {period} AND t.register_id = ? AND t.kind = 'SALE'"
            " ORDER BY t.bon_id, p.position",
            args,
        )
    )
    for (
        bon_id, kind, late, shift_id, s_op, s_cur, m_kind, m_amount, m_cur, m_op, tr,
        rounding, reverses, rate, change_local, change_in_local, change_rounding, m_local,
    ) in heads:  # fmt: skip
        if kind == "SALE" and tr:
            yield TrainingFact(bon_id, bool(late), shift_id)
        elif kind == "SALE":
            vat = tuple(
                VatTotal(VatCategory(int(cat)), Decimal(rate), int(g), int(n), int(t))
                for cat, rate, g, n, t in posted_vat.take(bon_id)
            )
            legacy = lines.take(bon_id)  # sales posted before schema 6 have no totals
            if not vat:
                vat = tuple(
                    totals_from_gross(
                        (
                            VatCategory(int(cat)),
                            Decimal(rate),
                            round_half_up(Decimal(int(price)) * Decimal(qty)),
                        )
                        for cat, rate, price, qty in legacy
                    )
                )
            paid_rows = pays.take(bon_id)
            payments = tuple((str(m), int(a)) for m, a, _ in paid_rows)
            kept = (
                tuple((str(m), int(k)) for m, _, k in paid_rows)
                if paid_rows and all(k is not None for _, _, k in paid_rows)
                else None
            )
            total = sum(v.gross for v in vat)
            paid = sum(a for _, a in payments)
            yield SaleFact(
                bon_id,
                s_op,
                s_cur,
                vat,
                payments,
                max(0, paid - total - int(rounding)) if total + int(rounding) >= 0 else 0,
                bool(late),
                shift_id,
                _discounts(rebates.take(bon_id)),
                lines=tuple(_line_amount(r) for r in kinds.take(bon_id)),
                rounding=int(rounding),
                reversal=bool(reverses),
                kept=kept,
                rate=Decimal(rate or 1),
                change_local=int(change_local),
                change_in_local=bool(change_in_local),
                change_rounding=None if change_rounding is None else int(change_rounding),
            )
        elif kind == "ABORT":
            yield AbortFact(bon_id, bool(late), shift_id)
        else:
            yield MovementFact(
                bon_id,
                CashMovementKind(m_kind),
                int(m_amount),
                m_cur,
                m_op,
                shift_id,
                int(m_local),
            )


def _line_amount(r: tuple[Any, ...]) -> LineAmount:
    """A stored line as the closing needs it: its gross as posted (schema 6), else the
    fixed amount or unit price times quantity (gross-priced sales before schema 6)."""
    kind, cat, rate, item_type, gross, fixed, price, qty = r
    if gross is None:
        gross = fixed if fixed is not None else round_half_up(Decimal(int(price)) * Decimal(qty))
    return LineAmount(str(kind), int(cat), Decimal(rate), int(gross), item_type == "VOUCHER")


def _discounts(rows: list[tuple[Any, ...]]) -> tuple[VatTotal, ...]:
    """Discount amounts (in the sale's price basis) as gross/net/tax per rate."""
    by_rate: dict[tuple[int, str], list[int]] = {}
    for cat, rate, amount, direction in rows:
        d = int(amount)
        pct = Decimal(rate)
        if direction == "NET":
            tax = tax_from_net(d, pct)
            gross, net = d + tax, d
        else:
            tax = tax_from_gross(d, pct)
            gross, net = d, d - tax
        acc = by_rate.setdefault((int(cat), str(rate)), [0, 0, 0])
        acc[0] += gross
        acc[1] += net
        acc[2] += tax
    return tuple(
        VatTotal(VatCategory(cat), Decimal(rate), g, n, t)
        for (cat, rate), (g, n, t) in sorted(by_rate.items())
    )


class _grouped:
    """Rows ``(key, *values)`` of a cursor ordered by key, taken group by group."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._it = iter(cursor)
        self._head: tuple[Any, ...] | None = next(self._it, None)

    def take(self, key: int) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        while self._head is not None and int(self._head[0]) <= key:
            if self._head[0] == key:
                out.append(tuple(self._head[1:]))
            self._head = next(self._it, None)
        return out


def book_fact(builder: ClosingBuilder, fact: Fact) -> None:
    """Books one Vorgang read back (``period_facts``) into ``builder``."""
    if isinstance(fact, SaleFact):
        builder.add_sale(
            bon_id=fact.bon_id,
            operator_id=fact.operator_id,
            currency=fact.currency,
            vat=fact.vat,
            payments=fact.payments,
            change=fact.change,
            late=fact.late,
            shift_id=fact.shift_id,
            discounts=fact.discounts,
            lines=fact.lines,
            rounding=fact.rounding,
            reversal=fact.reversal,
            kept=fact.kept,
            rate=fact.rate,
            change_local=fact.change_local,
            change_in_local=fact.change_in_local,
            change_rounding=fact.change_rounding,
        )
    elif isinstance(fact, AbortFact):
        builder.add_abort(bon_id=fact.bon_id, late=fact.late, shift_id=fact.shift_id)
    elif isinstance(fact, TrainingFact):
        builder.add_training(bon_id=fact.bon_id, late=fact.late, shift_id=fact.shift_id)
    else:
        builder.add_movement(
            bon_id=fact.bon_id,
            kind=fact.kind,
            amount=fact.amount,
            currency=fact.currency,
            operator_id=fact.operator_id,
            shift_id=fact.shift_id,
            base=fact.base,
        )
