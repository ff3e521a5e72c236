"""Persistence of items and their barcodes."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.vat import VatCategory
from posd_daemon.store.timeutil import to_db

_COLS = "item_id, name, gross_price, currency, vat_category, unit, fractional"


def _item(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Item:
    codes = tuple(
        r[0]
        for r in conn.execute(
            "SELECT code FROM barcodes WHERE item_id = ? ORDER BY code", (row[0],)
        )
    )
    return Item(
        item_id=row[0],
        name=row[1],
        gross_price=int(row[2]),
        currency=row[3],
        vat_category=VatCategory(int(row[4])),
        barcodes=codes,
        unit=row[5],
        fractional_quantity=bool(row[6]),
    )


def get(conn: sqlite3.Connection, item_id: str) -> Item | None:
    row = conn.execute(f"SELECT {_COLS} FROM items WHERE item_id = ?", (item_id,)).fetchone()
    return None if row is None else _item(conn, row)


def by_barcode(conn: sqlite3.Connection, code: str) -> list[Item]:
    rows = conn.execute(
        f"SELECT {_COLS} FROM items WHERE item_id IN (SELECT item_id FROM barcodes WHERE code = ?)"
        " ORDER BY item_id",
        (code,),
    ).fetchall()
    return [_item(conn, r) for r in rows]


def upsert(conn: sqlite3.Connection, item: Item, when: datetime) -> bool:
    """Creates or replaces the item; returns True when it was created."""
    existed = conn.execute("SELECT 1 FROM items WHERE item_id = ?", (item.item_id,)).fetchone()
    conn.execute(
        "INSERT INTO items (item_id, name, gross_price, currency, vat_category, unit, fractional,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(item_id) DO UPDATE SET"
        " name = excluded.name, gross_price = excluded.gross_price, currency = excluded.currency,"
        " vat_category = excluded.vat_category, unit = excluded.unit,"
        " fractional = excluded.fractional, updated_at = excluded.updated_at",
        (
            item.item_id,
            item.name,
            item.gross_price,
            item.currency,
            int(item.vat_category),
            item.unit,
            int(item.fractional_quantity),
            to_db(when),
        ),
    )
    conn.execute("DELETE FROM barcodes WHERE item_id = ?", (item.item_id,))
    conn.executemany(
        "INSERT INTO barcodes (code, item_id) VALUES (?, ?)",
        [(code, item.item_id) for code in item.barcodes],
    )
    return existed is None


def list_page(conn: sqlite3.Connection, *, after_id: str, limit: int) -> list[Item]:
    rows = conn.execute(
        f"SELECT {_COLS} FROM items WHERE item_id > ? ORDER BY item_id LIMIT ?", (after_id, limit)
    ).fetchall()
    return [_item(conn, r) for r in rows]
