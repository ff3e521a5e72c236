"""The receipt archive's queries: posted receipts filtered and paged, a receipt by number.

Receipt numbers are per register: every query names the register, and the
(register_id, receipt_number) index then serves the order.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from posd_daemon.domain.pricing import local_amount
from posd_daemon.store.timeutil import from_db, to_db


@dataclass(frozen=True, slots=True)
class ReceiptSummary:
    sale_id: str
    receipt_number: int
    register_id: str
    operator_id: str
    posted_at: datetime
    currency: str
    total: int
    methods: tuple[str, ...]
    bon_id: int
    z_nr: int | None
    tse_state: str


@dataclass(frozen=True, slots=True)
class ReceiptQuery:
    """One page's query, checked: receipt numbers ``lo``..``hi`` of ``register_id``;
    with ``start``/``end`` (either None: open) posted in that period; amount bounds in
    the register currency; ``method``, ``customer_number`` and ``operator_id`` empty:
    any."""

    register_id: str
    lo: int
    hi: int
    start: datetime | None = None
    end: datetime | None = None
    gross_min: int | None = None
    gross_max: int | None = None
    method: str = ""
    net_min: int | None = None
    net_max: int | None = None
    customer_number: str = ""
    operator_id: str = ""


#: the SQL function converting an amount of a sale's currency into the local currency
_TO_LOCAL = "posd_to_local"

#: a receipt's gross total in the local (register) currency: ``total_local``, written
#: with every sale since schema 4; NULL in older rows, which are all in the local
#: currency (migration 004). No index serves it: the receipt-number range drives the
#: query and this only tests the rows it yields.
_GROSS_LOCAL = "COALESCE(s.total_local, s.total)"

#: a receipt's net total in the local currency. A foreign-currency receipt: its gross
#: in the local currency less its VAT converted at the sale's rate, as the closing and
#: the DSFinV-K export book it (domain.closing: net = local gross - converted tax, per
#: rate; with several rates their sum may differ from this by the rounding of a cent).
#: Local receipts never call the Python function.
_NET_LOCAL = (
    "(CASE WHEN s.local_currency IS NULL OR s.currency = s.local_currency THEN s.net_total"
    f" ELSE s.total_local - {_TO_LOCAL}(s.total - s.net_total, s.currency,"
    " s.local_currency, s.exchange_rate) END)"
)


def _register_to_local(conn: sqlite3.Connection) -> None:
    """Defines the conversion function on ``conn`` once: SQLite refuses to redefine a
    function while a statement of the connection is still active (a cursor not read to
    its end), which defining it anew on every call would run into."""
    try:
        conn.execute(f"SELECT {_TO_LOCAL}(0, '', '', '1')").fetchone()
    except sqlite3.OperationalError:  # no such function yet
        conn.create_function(_TO_LOCAL, 4, _to_local, deterministic=True)


def _to_local(
    amount: int | None, currency: str, local_currency: str, rate: str | None
) -> int | None:
    if amount is None:
        return None
    return local_amount(
        int(amount), currency=currency, local_currency=local_currency, rate=Decimal(rate or 1)
    )


def _period(start: datetime | None, end: datetime | None) -> tuple[str, str]:
    """The period's bounds as ``posted_at`` compares them ("" and "~" leave a side open)."""
    return (to_db(start) if start is not None else "", to_db(end) if end is not None else "~")


def numbers_posted_between(
    conn: sqlite3.Connection, register_id: str, start: datetime | None, end: datetime | None
) -> tuple[int, int] | None:
    """The lowest and highest receipt number of the register posted in [start, end)
    (None: open), or None when it posted none then."""
    # from the covering index (robust to a clock that went backwards: MIN/MAX over the
    # period's rows, not its first/last row)
    row = conn.execute(
        "SELECT MIN(receipt_number), MAX(receipt_number) FROM sales"
        " WHERE register_id = ? AND posted_at >= ? AND posted_at < ?"
        " AND receipt_number IS NOT NULL",
        (register_id, *_period(start, end)),
    ).fetchone()
    return None if row[0] is None else (int(row[0]), int(row[1]))


def page(conn: sqlite3.Connection, q: ReceiptQuery, size: int) -> tuple[list[ReceiptSummary], bool]:
    """Up to ``size`` receipts matching ``q``, newest first, and whether more follow."""
    # One receipt-number range [lo, hi] drives the (register_id, receipt_number) index;
    # the other filters only test the rows it yields (unary + keeps SQLite from choosing
    # another index and sorting).
    where = [
        "s.register_id = ?",
        "s.receipt_number IS NOT NULL",
        "s.receipt_number BETWEEN ? AND ?",
    ]
    args: list[object] = [q.register_id, q.lo, q.hi]
    if q.start is not None or q.end is not None:
        where += ["+s.posted_at >= ?", "+s.posted_at < ?"]
        args += _period(q.start, q.end)
    # Amount bounds are in the register currency (the API refuses others): a receipt in
    # a foreign currency is compared by its value in it, never by its own amount.
    gross_bounds = ((q.gross_min, ">="), (q.gross_max, "<="))
    net_bounds = ((q.net_min, ">="), (q.net_max, "<="))
    for expr, bounds in ((_GROSS_LOCAL, gross_bounds), (_NET_LOCAL, net_bounds)):
        for bound, op in bounds:
            if bound is not None:
                where.append(f"{expr} {op} ?")
                args.append(bound)
    if q.method:
        where.append(
            "EXISTS (SELECT 1 FROM sale_payments p WHERE p.sale_id = s.sale_id AND p.method = ?)"
        )
        args.append(q.method)
    if q.net_min is not None or q.net_max is not None:
        _register_to_local(conn)
    if q.customer_number:
        where.append("+s.customer_number = ?")
        args.append(q.customer_number)
    if q.operator_id:
        where.append("+s.operator_id = ?")
        args.append(q.operator_id)
    rows = conn.execute(
        "SELECT s.sale_id, s.receipt_number, s.register_id, s.operator_id, s.posted_at,"
        " s.currency, s.total, t.bon_id, t.z_nr, COALESCE(st.state, '')"
        " FROM sales s"
        " LEFT JOIN register_transactions t ON t.sale_id = s.sale_id"
        " LEFT JOIN sale_tse st ON st.sale_id = s.sale_id"
        f" WHERE {' AND '.join(where)} ORDER BY s.receipt_number DESC LIMIT ?",
        (*args, size + 1),
    ).fetchall()
    more = len(rows) > size
    out = [
        ReceiptSummary(
            sale_id=r[0],
            receipt_number=int(r[1]),
            register_id=r[2],
            operator_id=r[3],
            posted_at=from_db(r[4]),
            currency=r[5],
            total=int(r[6]),
            methods=_methods(conn, r[0]),
            bon_id=int(r[7] or 0),
            z_nr=r[8],
            tse_state=r[9],
        )
        for r in rows[:size]
    ]
    return out, more


def _methods(conn: sqlite3.Connection, sale_id: str) -> tuple[str, ...]:
    """The payment methods of a sale, each once, in name order."""
    return tuple(
        str(m[0])
        for m in conn.execute(
            "SELECT DISTINCT method FROM sale_payments WHERE sale_id = ? ORDER BY method",
            (sale_id,),
        )
    )


def sale_of_receipt(conn: sqlite3.Connection, register_id: str, receipt_number: int) -> str | None:
    """The sale id of the register's receipt ``receipt_number``, or None."""
    row = conn.execute(
        "SELECT sale_id FROM sales WHERE register_id = ? AND receipt_number = ?",
        (register_id, receipt_number),
    ).fetchone()
    return None if row is None else str(row[0])
