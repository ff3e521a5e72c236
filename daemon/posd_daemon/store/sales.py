"""Persistence of sales (aggregate in, aggregate out) and the receipt counter."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from posd_daemon.domain.sale import Payment, PaymentMethod, Sale, SaleLine, SaleState
from posd_daemon.domain.vat import VatCategory
from posd_daemon.store.timeutil import from_db, opt_from_db, to_db

_SALE_COLS = (
    "sale_id, register_id, operator_id, currency, state, created_at, posted_at, cancelled_at,"
    " cancel_reason, receipt_number, revision, next_line_no, next_payment_no, seq"
)


def _sale_from_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Sale:
    sale = Sale(
        sale_id=row[0],
        register_id=row[1],
        operator_id=row[2],
        currency=row[3],
        state=SaleState(row[4]),
        created_at=from_db(row[5]),
        posted_at=opt_from_db(row[6]),
        cancelled_at=opt_from_db(row[7]),
        cancel_reason=row[8],
        receipt_number=int(row[9] or 0),
        revision=int(row[10]),
        next_line_no=int(row[11]),
        next_payment_no=int(row[12]),
    )
    for r in conn.execute(
        "SELECT line_id, item_id, name, quantity, unit, unit_price, vat_category, vat_rate,"
        " scanned_code, fractional FROM sale_lines WHERE sale_id = ? ORDER BY position",
        (sale.sale_id,),
    ):
        sale.lines.append(
            SaleLine(
                line_id=r[0],
                item_id=r[1],
                name=r[2],
                quantity=Decimal(r[3]),
                unit=r[4],
                unit_price=int(r[5]),
                vat_category=VatCategory(int(r[6])),
                vat_rate=Decimal(r[7]),
                scanned_code=r[8],
                fractional=bool(r[9]),
            )
        )
    for r in conn.execute(
        "SELECT payment_id, method, amount FROM sale_payments WHERE sale_id = ? ORDER BY position",
        (sale.sale_id,),
    ):
        sale.payments.append(Payment(r[0], PaymentMethod(r[1]), int(r[2])))
    return sale


def get(conn: sqlite3.Connection, sale_id: str) -> Sale | None:
    row = conn.execute(f"SELECT {_SALE_COLS} FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return None if row is None else _sale_from_row(conn, row)


def seq_of(conn: sqlite3.Connection, sale_id: str) -> int:
    row = conn.execute("SELECT seq FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return 0 if row is None else int(row[0])


def list_page(
    conn: sqlite3.Connection, *, state: SaleState | None, before_seq: int, limit: int
) -> list[tuple[int, Sale]]:
    """Sales newest first with seq < before_seq (keyset pagination)."""
    if state is None:
        rows = conn.execute(
            f"SELECT {_SALE_COLS} FROM sales WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before_seq, limit),
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {_SALE_COLS} FROM sales WHERE state = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (state.value, before_seq, limit),
        ).fetchall()
    return [(int(r[13]), _sale_from_row(conn, r)) for r in rows]


def insert(conn: sqlite3.Connection, sale: Sale) -> None:
    conn.execute(
        "INSERT INTO sales (sale_id, register_id, operator_id, currency, state, created_at,"
        " revision, next_line_no, next_payment_no, total) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            sale.sale_id,
            sale.register_id,
            sale.operator_id,
            sale.currency,
            sale.state.value,
            to_db(sale.created_at),
            sale.revision,
            sale.next_line_no,
            sale.next_payment_no,
            sale.total,
        ),
    )
    _write_children(conn, sale)


def update(conn: sqlite3.Connection, sale: Sale) -> None:
    """Writes the aggregate back (sale row plus all lines and payments)."""
    conn.execute(
        "UPDATE sales SET state = ?, posted_at = ?, cancelled_at = ?, cancel_reason = ?,"
        " receipt_number = ?, revision = ?, next_line_no = ?, next_payment_no = ?, total = ?"
        " WHERE sale_id = ?",
        (
            sale.state.value,
            to_db(sale.posted_at) if sale.posted_at else None,
            to_db(sale.cancelled_at) if sale.cancelled_at else None,
            sale.cancel_reason,
            sale.receipt_number or None,
            sale.revision,
            sale.next_line_no,
            sale.next_payment_no,
            sale.total,
            sale.sale_id,
        ),
    )
    conn.execute("DELETE FROM sale_lines WHERE sale_id = ?", (sale.sale_id,))
    conn.execute("DELETE FROM sale_payments WHERE sale_id = ?", (sale.sale_id,))
    _write_children(conn, sale)


def _write_children(conn: sqlite3.Connection, sale: Sale) -> None:
    conn.executemany(
        "INSERT INTO sale_lines (sale_id, position, line_id, item_id, name, quantity, unit,"
        " unit_price, vat_category, vat_rate, scanned_code, fractional)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                sale.sale_id,
                i,
                ln.line_id,
                ln.item_id,
                ln.name,
                str(ln.quantity),
                ln.unit,
                ln.unit_price,
                int(ln.vat_category),
                str(ln.vat_rate),
                ln.scanned_code,
                int(ln.fractional),
            )
            for i, ln in enumerate(sale.lines)
        ],
    )
    conn.executemany(
        "INSERT INTO sale_payments (sale_id, position, payment_id, method, amount)"
        " VALUES (?,?,?,?,?)",
        [
            (sale.sale_id, i, p.payment_id, p.method.value, p.amount)
            for i, p in enumerate(sale.payments)
        ],
    )


def next_counter(conn: sqlite3.Connection, name: str) -> int:
    """Increments and returns a named counter inside the caller's transaction (gapless)."""
    row = conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1)"
        " ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
        (name,),
    ).fetchone()
    return int(row[0])


def counter(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return 0 if row is None else int(row[0])


def count_by_state(conn: sqlite3.Connection, state: SaleState) -> int:
    return int(
        conn.execute("SELECT COUNT(*) FROM sales WHERE state = ?", (state.value,)).fetchone()[0]
    )


def add_drawer_entry(
    conn: sqlite3.Connection,
    *,
    register_id: str,
    sale_id: str | None,
    receipt_number: int | None,
    kind: str,
    method: str,
    amount: int,
    currency: str,
    when: str,
) -> None:
    conn.execute(
        "INSERT INTO drawer_entries (register_id, sale_id, receipt_number, kind, method, amount,"
        " currency, recorded_at) VALUES (?,?,?,?,?,?,?,?)",
        (register_id, sale_id, receipt_number, kind, method, amount, currency, when),
    )
