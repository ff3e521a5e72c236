"""Persistence of back-office orders (schema 12). Their lines are one JSON column: an
order is read and written whole, so a line's ``unit``, ``lot`` and ``serial`` are keys
of it and no columns: a line stored without a unit is in the item's base unit, one
stored without a lot or serial reserved none. The one query by line, who reserved a
serial number (``reserving``), reads them with SQLite's JSON functions.

TRANSFERRED is read, not stored: an order LOADED into a sale this register handed over
to another one (the sale row is TRANSFERRED, written in the hand-over's transaction) is
TRANSFERRED to the sale's ``held_by``. The row itself stays LOADED, so the back office
still cannot replace it and the triggers of schema 12 leave it alone."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from typing import Any

from posd_daemon.domain.order import Order, OrderLine, OrderState
from posd_daemon.store.timeutil import from_db, to_db

_HANDED_OVER = "o.state = 'LOADED' AND s.state = 'TRANSFERRED'"
_COLS = (
    "o.order_number, o.customer_number, o.currency, o.lines_json,"
    f" CASE WHEN {_HANDED_OVER} THEN 'TRANSFERRED' ELSE o.state END, o.sale_id,"
    f" o.created_at, CASE WHEN {_HANDED_OVER} THEN s.updated_at ELSE o.updated_at END,"
    f" CASE WHEN {_HANDED_OVER} THEN s.held_by ELSE '' END"
)
_FROM = "orders o LEFT JOIN sales s ON s.sale_id = o.sale_id"


def _lines_json(lines: list[OrderLine]) -> str:
    return json.dumps(
        [
            {
                "item_id": ln.item_id,
                "variant_id": ln.variant_id,
                "quantity": str(ln.quantity),
                "unit_price": ln.unit_price,
                "text": ln.text,
                "unit": ln.unit,
                "lot": ln.lot,
                "serial": ln.serial,
            }
            for ln in lines
        ],
        sort_keys=True,
        ensure_ascii=False,
    )


def _order(row: tuple[Any, ...]) -> Order:
    lines = [
        OrderLine(
            item_id=d["item_id"],
            quantity=Decimal(d["quantity"]),
            variant_id=d["variant_id"],
            unit_price=None if d["unit_price"] is None else int(d["unit_price"]),
            text=d["text"],
            # lines stored before order lines had units have none: the base unit
            unit=d.get("unit", ""),
            # lines stored before order lines could reserve one have neither
            lot=d.get("lot", ""),
            serial=d.get("serial", ""),
        )
        for d in json.loads(row[3])
    ]
    return Order(
        order_number=row[0],
        customer_number=row[1],
        currency=row[2],
        lines=lines,
        state=OrderState(row[4]),
        sale_id=row[5] or "",
        created_at=from_db(row[6]),
        updated_at=from_db(row[7]),
        transferred_to=row[8] or "",
    )


def get(conn: sqlite3.Connection, order_number: str) -> Order | None:
    row = conn.execute(
        f"SELECT {_COLS} FROM {_FROM} WHERE o.order_number = ?", (order_number,)
    ).fetchone()
    return None if row is None else _order(row)


def put(conn: sqlite3.Connection, order: Order, when: datetime) -> None:
    """Creates or replaces an OPEN order (a LOADED or COMPLETED one is never touched:
    LookupError; the service refuses it clearly before)."""
    cur = conn.execute(
        "INSERT INTO orders (order_number, customer_number, currency, lines_json, state,"
        " sale_id, created_at, updated_at) VALUES (?, ?, ?, ?, 'OPEN', NULL, ?, ?)"
        " ON CONFLICT(order_number) DO UPDATE SET customer_number = excluded.customer_number,"
        " currency = excluded.currency, lines_json = excluded.lines_json,"
        " updated_at = excluded.updated_at WHERE orders.state = 'OPEN'",
        (
            order.order_number,
            order.customer_number,
            order.currency,
            _lines_json(order.lines),
            to_db(when),
            to_db(when),
        ),
    )
    if cur.rowcount != 1:
        raise LookupError(f"order {order.order_number} is not OPEN")


def mark_loaded(conn: sqlite3.Connection, order_number: str, sale_id: str, when: datetime) -> None:
    if not load_if_open(conn, order_number, sale_id, when):
        raise LookupError(f"order {order_number} is not OPEN")


def load_if_open(conn: sqlite3.Connection, order_number: str, sale_id: str, when: datetime) -> bool:
    """The order LOADED into ``sale_id`` if it is here and OPEN (True), else nothing."""
    cur = conn.execute(
        "UPDATE orders SET state = 'LOADED', sale_id = ?, updated_at = ?"
        " WHERE order_number = ? AND state = 'OPEN'",
        (sale_id, to_db(when), order_number),
    )
    return cur.rowcount == 1


def reopen_reversed(conn: sqlite3.Connection, reversed_sale_id: str, when: datetime) -> str:
    """A storno of the sale that completed an order was posted: the order is OPEN again
    (its goods were taken back). Returns its number ("" when that sale completed none)."""
    row = conn.execute(
        "UPDATE orders SET state = 'OPEN', sale_id = NULL, updated_at = ?"
        " WHERE sale_id = ? AND state = 'COMPLETED' RETURNING order_number",
        (to_db(when), reversed_sale_id),
    ).fetchone()
    return "" if row is None else str(row[0])


def list_page(
    conn: sqlite3.Connection,
    *,
    state: OrderState | None,
    customer_number: str,
    after: str,
    limit: int,
) -> list[Order]:
    """Orders by number after ``after`` (keyset pagination)."""
    sql = f"SELECT {_COLS} FROM {_FROM} WHERE o.order_number > ?"
    args: list[Any] = [after]
    if state is OrderState.TRANSFERRED:
        sql += f" AND {_HANDED_OVER}"
    elif state is OrderState.LOADED:
        sql += " AND o.state = 'LOADED' AND s.state IS NOT 'TRANSFERRED'"
    elif state is not None:
        sql += " AND o.state = ?"
        args.append(state.value)
    if customer_number:
        sql += " AND o.customer_number = ?"
        args.append(customer_number)
    sql += " ORDER BY o.order_number LIMIT ?"
    args.append(limit)
    return [_order(r) for r in conn.execute(sql, args)]


def loaded_numbers(conn: sqlite3.Connection, limit: int) -> list[str]:
    """Orders LOADED into a sale of this register (open, parked or handed over from
    here): the ones another register must not hand a sale of over to this one (it would
    be the order's second sale here). The most recently loaded first, at most ``limit``."""
    rows = conn.execute(
        "SELECT order_number FROM orders WHERE state = 'LOADED'"
        " ORDER BY updated_at DESC, order_number LIMIT ?",
        (limit,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def reserving(conn: sqlite3.Connection, item_id: str, serial: str, except_order: str = "") -> str:
    """The number of an order other than ``except_order`` that holds the item's serial
    number for its customer ("" when none): one OPEN, or LOADED into a sale of this
    register. An order whose sale was handed over to another register (TRANSFERRED) holds
    nothing here: the piece went with the sale, which that register sells, cancels or
    parks, and this row never changes again. Only those rows are read (index
    orders_state)."""
    row = conn.execute(
        f"SELECT o.order_number FROM {_FROM}, json_each(o.lines_json) AS j"
        " WHERE o.state IN ('OPEN', 'LOADED')"
        " AND NOT (o.state = 'LOADED' AND s.state IS 'TRANSFERRED')"
        " AND o.order_number <> ?"
        " AND json_extract(j.value, '$.item_id') = ?"
        " AND json_extract(j.value, '$.serial') = ?"
        " ORDER BY o.order_number LIMIT 1",
        (except_order, item_id, serial),
    ).fetchone()
    return "" if row is None else str(row[0])
