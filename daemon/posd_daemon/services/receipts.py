"""The receipt archive: posted receipts filtered and paged, one receipt in full."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from posd_daemon.domain.errors import invalid, not_found
from posd_daemon.domain.money import MAX_MINOR
from posd_daemon.domain.pricing import local_amount
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.text import check_code
from posd_daemon.services import paging
from posd_daemon.store import day as day_store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import sales as sale_store
from posd_daemon.store.outbox import OutboxJob, _job
from posd_daemon.store.timeutil import from_db, to_db


@dataclass(frozen=True, slots=True)
class ReceiptFilter:
    number_from: int = 0
    number_to: int = 0
    start: datetime | None = None
    end: datetime | None = None
    gross_min: int | None = None
    gross_max: int | None = None
    method: str = ""
    operator_id: str = ""
    register_id: str = ""
    net_min: int | None = None
    net_max: int | None = None
    customer_number: str = ""


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
class ReceiptDetail:
    sale: Sale
    tse: fstore.SaleTse | None
    bon_id: int
    z_nr: int | None
    shift_id: int | None
    late: bool
    prints: tuple[OutboxJob, ...] = field(default_factory=tuple)


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


def list_receipts(
    conn: sqlite3.Connection,
    f: ReceiptFilter,
    page_size: int,
    page_token: str,
    *,
    default_register: str = "",
) -> tuple[list[ReceiptSummary], str]:
    """Posted receipts, newest first (keyset on the receipt number).

    The register is always part of the query (``f.register_id`` or
    ``default_register``): receipt numbers are per register, and the (register_id,
    receipt_number) index then serves the order, so a page reads ~page_size rows."""
    size = paging.page_size(page_size, default=50, maximum=500)
    register = f.register_id or default_register
    # the filters as the query reads them: the register the request named or defaulted to
    scope = (replace(f, register_id=register),)
    before = paging.decode_int(page_token, "r", empty=2**62, scope=scope)
    check_code(register, "register_id")
    if f.number_from < 0 or f.number_to < 0:
        raise invalid("receipt_number_from", "must not be negative")
    if f.number_to and f.number_to < f.number_from:
        raise invalid("receipt_number_to", "must not be below receipt_number_from")
    if f.start is not None and f.end is not None and f.end <= f.start:
        raise invalid("end_time", "must be after start_time")
    for value, name in (
        (f.gross_min, "gross_min"),
        (f.gross_max, "gross_max"),
        (f.net_min, "net_min"),
        (f.net_max, "net_max"),
    ):
        if value is not None and abs(value) > MAX_MINOR:
            raise invalid(name, "out of range")
    if f.gross_min is not None and f.gross_max is not None and f.gross_max < f.gross_min:
        raise invalid("gross_max", "must not be below gross_min")
    # One receipt-number range [lo, hi] drives the (register_id, receipt_number) index;
    # the other filters only test the rows it yields (unary + keeps SQLite from choosing
    # another index and sorting).
    lo = max(f.number_from, 1)
    hi = min(before - 1, f.number_to or 2**62)
    args: list[object] = []
    time_terms: list[str] = []
    if f.start is not None or f.end is not None:
        start = to_db(f.start) if f.start is not None else ""
        end = to_db(f.end) if f.end is not None else "~"
        # receipt numbers in the period, from the covering index (robust to a clock that
        # went backwards: MIN/MAX over the period's rows, not its first/last row)
        row = conn.execute(
            "SELECT MIN(receipt_number), MAX(receipt_number) FROM sales"
            " WHERE register_id = ? AND posted_at >= ? AND posted_at < ?"
            " AND receipt_number IS NOT NULL",
            (register, start, end),
        ).fetchone()
        if row[0] is None:
            return [], ""
        lo, hi = max(lo, int(row[0])), min(hi, int(row[1]))
        time_terms = ["+s.posted_at >= ?", "+s.posted_at < ?"]
        args += [start, end]
    if hi < lo:
        return [], ""
    where = [
        "s.register_id = ?",
        "s.receipt_number IS NOT NULL",
        "s.receipt_number BETWEEN ? AND ?",
        *time_terms,
    ]
    args = [register, lo, hi, *args]
    # Amount bounds are in the register currency (the API refuses others): a receipt in
    # a foreign currency is compared by its value in it, never by its own amount.
    if f.gross_min is not None:
        where.append(f"{_GROSS_LOCAL} >= ?")
        args.append(f.gross_min)
    if f.gross_max is not None:
        where.append(f"{_GROSS_LOCAL} <= ?")
        args.append(f.gross_max)
    if f.method:
        where.append(
            "EXISTS (SELECT 1 FROM sale_payments p WHERE p.sale_id = s.sale_id AND p.method = ?)"
        )
        args.append(f.method)
    if f.net_min is not None and f.net_max is not None and f.net_max < f.net_min:
        raise invalid("net_max", "must not be below net_min")
    if f.net_min is not None or f.net_max is not None:
        _register_to_local(conn)
    if f.net_min is not None:
        where.append(f"{_NET_LOCAL} >= ?")
        args.append(f.net_min)
    if f.net_max is not None:
        where.append(f"{_NET_LOCAL} <= ?")
        args.append(f.net_max)
    if f.customer_number:
        check_code(f.customer_number, "customer_number")
        where.append("+s.customer_number = ?")
        args.append(f.customer_number)
    if f.operator_id:
        check_code(f.operator_id, "operator_id")
        where.append("+s.operator_id = ?")
        args.append(f.operator_id)
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
    rows = rows[:size]
    out = []
    for r in rows:
        methods = tuple(
            str(m[0])
            for m in conn.execute(
                "SELECT DISTINCT method FROM sale_payments WHERE sale_id = ? ORDER BY method",
                (r[0],),
            )
        )
        out.append(
            ReceiptSummary(
                sale_id=r[0],
                receipt_number=int(r[1]),
                register_id=r[2],
                operator_id=r[3],
                posted_at=from_db(r[4]),
                currency=r[5],
                total=int(r[6]),
                methods=methods,
                bon_id=int(r[7] or 0),
                z_nr=r[8],
                tse_state=r[9],
            )
        )
    token = paging.encode("r", out[-1].receipt_number, scope) if more and out else ""
    return out, token


def get_receipt(
    conn: sqlite3.Connection, *, sale_id: str = "", receipt_number: int = 0, register_id: str
) -> ReceiptDetail:
    if sale_id:
        check_code(sale_id, "sale_id")
    elif receipt_number > 0:
        row = conn.execute(
            "SELECT sale_id FROM sales WHERE register_id = ? AND receipt_number = ?",
            (register_id, receipt_number),
        ).fetchone()
        if row is None:
            raise not_found("RECEIPT_NOT_FOUND", f"no receipt {receipt_number}")
        sale_id = str(row[0])
    else:
        raise invalid("receipt_ref", "give sale_id or receipt_number")
    sale = sale_store.get(conn, sale_id)
    if sale is None or sale.receipt_number == 0:
        raise not_found("RECEIPT_NOT_FOUND", f"no posted receipt for sale {sale_id!r}")
    v = day_store.vorgang_of_sale(conn, sale_id)
    prints = tuple(
        _job(r)
        for r in conn.execute(
            "SELECT job_id, kind, ref, receipt_number, payload, state, attempts, last_error,"
            " created_at FROM outbox WHERE ref = ? ORDER BY job_id",
            (sale_id,),
        )
    )
    return ReceiptDetail(
        sale=sale,
        tse=fstore.get(conn, sale_id),
        bon_id=v.bon_id if v else 0,
        z_nr=v.z_nr if v else None,
        shift_id=v.shift_id if v else None,
        late=v.late if v else False,
        prints=prints,
    )
