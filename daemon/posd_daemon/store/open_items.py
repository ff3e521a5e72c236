"""Persistence of open items (back-office invoices paid at the register)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from posd_daemon.domain.open_items import OpenItem, OpenItemState
from posd_daemon.store.timeutil import to_db

_COLS = (
    "invoice_number, customer_number, currency, amount_open, original_amount, invoice_date,"
    " due_date, text"
)

#: what open or parked sales hold of an invoice (their INVOICE_PAYMENT lines; training
#: sales hold nothing). Payments only: a storno's negative line gives the amount back
#: when the storno posts, not while it is open (signed but not saved, or interrupted),
#: else the invoice would look open again before the storno is a receipt.
_HELD = (
    "SELECT COALESCE(SUM(l.fixed_amount), 0) FROM sale_lines AS l"
    " JOIN sales AS s ON s.sale_id = l.sale_id"
    " WHERE l.item_id = ? AND l.kind = 'INVOICE_PAYMENT' AND s.state IN ('OPEN', 'PARKED')"
    " AND s.training = 0 AND s.sale_id != ? AND l.fixed_amount > 0"
)

#: what posted receipts of this register took on an invoice, net of their stornos
_PAID_HERE = (
    "SELECT COALESCE(SUM(l.fixed_amount), 0) FROM sale_lines AS l"
    " JOIN sales AS s ON s.sale_id = l.sale_id"
    " WHERE l.item_id = ? AND l.kind = 'INVOICE_PAYMENT' AND s.state = 'POSTED'"
    " AND s.training = 0 AND s.currency = ?"
)


def _item(row: tuple[Any, ...]) -> OpenItem:
    return OpenItem(
        invoice_number=row[0],
        customer_number=row[1],
        currency=row[2],
        amount_open=int(row[3]),
        original_amount=int(row[4]),
        invoice_date=row[5],
        due_date=row[6],
        text=row[7],
    )


def get(conn: sqlite3.Connection, invoice_number: str) -> OpenItem | None:
    row = conn.execute(
        f"SELECT {_COLS} FROM open_items WHERE invoice_number = ?", (invoice_number,)
    ).fetchone()
    return None if row is None else _item(row)


def held(conn: sqlite3.Connection, invoice_number: str, *, except_sale: str = "") -> int:
    """What open or parked sales (but ``except_sale``) hold of the invoice."""
    return int(conn.execute(_HELD, (invoice_number, except_sale)).fetchone()[0])


def paid_here(conn: sqlite3.Connection, invoice_number: str, currency: str) -> int:
    """What this register's posted receipts (not training) paid of the invoice, in
    ``currency``, less what stornos of them gave back."""
    return int(conn.execute(_PAID_HERE, (invoice_number, currency)).fetchone()[0])


def post_record(
    conn: sqlite3.Connection, register_id: str, receipt_number: int
) -> dict[str, Any] | None:
    """The journal record of the post of the register's receipt ``receipt_number`` (its
    latest, should a receipt's post have been recorded twice), None when there is none."""
    row = conn.execute(
        "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' AND register_id = ?"
        " AND ref = ? ORDER BY seq DESC LIMIT 1",
        (register_id, f"receipt:{receipt_number}"),
    ).fetchone()
    if row is None:
        return None
    record: dict[str, Any] = json.loads(row[0])
    return record


def upsert(conn: sqlite3.Connection, item: OpenItem, when: datetime) -> bool:
    """Creates or replaces the item; True when it was new."""
    existed = conn.execute(
        "SELECT 1 FROM open_items WHERE invoice_number = ?", (item.invoice_number,)
    ).fetchone()
    conn.execute(
        f"INSERT INTO open_items ({_COLS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(invoice_number) DO UPDATE SET customer_number = excluded.customer_number,"
        " currency = excluded.currency, amount_open = excluded.amount_open,"
        " original_amount = excluded.original_amount, invoice_date = excluded.invoice_date,"
        " due_date = excluded.due_date, text = excluded.text, updated_at = excluded.updated_at",
        (
            item.invoice_number,
            item.customer_number,
            item.currency,
            item.amount_open,
            item.original_amount,
            item.invoice_date,
            item.due_date,
            item.text,
            to_db(when),
        ),
    )
    return existed is None


def book_payment(
    conn: sqlite3.Connection, invoice_number: str, amount: int, when: datetime
) -> bool:
    """Takes ``amount`` off (negative: gives it back to) the open amount, never below 0
    and never above the invoice's original amount: a storno after the back office
    already re-imported the invoice as open must not make it payable twice.
    False when the invoice is unknown or less than ``amount`` is open."""
    cur = conn.execute(
        "UPDATE open_items SET amount_open = MIN(original_amount, amount_open - ?),"
        " updated_at = ? WHERE invoice_number = ? AND amount_open >= ?",
        (amount, to_db(when), invoice_number, amount),
    )
    return cur.rowcount == 1


def page(
    conn: sqlite3.Connection,
    *,
    customer_number: str,
    state: OpenItemState | None,
    after: str,
    limit: int,
) -> list[tuple[OpenItem, int]]:
    """Items ordered by invoice number after ``after``, each with what open sales hold."""
    where = ["invoice_number > ?"]
    args: list[Any] = [after]
    if customer_number:
        where.append("customer_number = ?")
        args.append(customer_number)
    if state is OpenItemState.OPEN:
        where.append("amount_open > 0")
    elif state is OpenItemState.PAID:
        where.append("amount_open = 0")
    rows = conn.execute(
        f"SELECT {_COLS} FROM open_items WHERE {' AND '.join(where)}"
        " ORDER BY invoice_number LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [(_item(r), held(conn, r[0])) for r in rows]
