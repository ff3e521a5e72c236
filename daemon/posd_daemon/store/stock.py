"""Stock per location in base units, serial-numbered pieces, reservations, stock moves.

Quantities are decimal TEXT (never REAL). Serial-numbered items count their IN_STOCK
serials; every other item its ``stock`` rows. Reservations are the goods lines of open
and parked sales that carry a pick-up date.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from posd_daemon.store.timeutil import to_db


@dataclass(frozen=True, slots=True)
class StockKey:
    location_id: str
    item_id: str
    variant_id: str = ""
    lot: str = ""


@dataclass(frozen=True, slots=True)
class StockLevel:
    location_id: str
    item_id: str
    variant_id: str
    lot: str
    on_hand: Decimal
    reserved: Decimal

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved


def quantity(conn: sqlite3.Connection, key: StockKey) -> Decimal:
    row = conn.execute(
        "SELECT quantity FROM stock WHERE location_id = ? AND item_id = ? AND variant_id = ?"
        " AND lot = ?",
        (key.location_id, key.item_id, key.variant_id, key.lot),
    ).fetchone()
    return Decimal(0) if row is None else Decimal(row[0])


def has_books(conn: sqlite3.Connection, key: StockKey) -> bool:
    """Whether ``key`` has a stock row (at any quantity, 0 too)."""
    row = conn.execute(
        "SELECT 1 FROM stock WHERE location_id = ? AND item_id = ? AND variant_id = ? AND lot = ?",
        (key.location_id, key.item_id, key.variant_id, key.lot),
    ).fetchone()
    return row is not None


def serial_count(conn: sqlite3.Connection, location_id: str, item_id: str, variant_id: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM serials WHERE location_id = ? AND item_id = ? AND variant_id = ?"
        " AND state = 'IN_STOCK'",
        (location_id, item_id, variant_id),
    ).fetchone()
    return int(row[0])


def lot_variants(conn: sqlite3.Connection, item_id: str, lot: str) -> list[str]:
    """The variants of the item with stock (not zero, at any location) under ``lot``."""
    held = {
        v
        for v, q in conn.execute(
            "SELECT variant_id, quantity FROM stock WHERE item_id = ? AND lot = ?",
            (item_id, lot),
        )
        if Decimal(q) != 0
    }
    return sorted(held)


def set_quantity(conn: sqlite3.Connection, key: StockKey, qty: Decimal, when: datetime) -> Decimal:
    """Sets the quantity on hand; returns the change."""
    before = quantity(conn, key)
    _put(conn, key, qty, when)
    return qty - before


def _put(conn: sqlite3.Connection, key: StockKey, qty: Decimal, when: datetime) -> None:
    conn.execute(
        "INSERT INTO stock (location_id, item_id, variant_id, lot, quantity, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(location_id, item_id, variant_id, lot)"
        " DO UPDATE SET quantity = excluded.quantity, updated_at = excluded.updated_at",
        (key.location_id, key.item_id, key.variant_id, key.lot, _text(qty), to_db(when)),
    )


def add(conn: sqlite3.Connection, key: StockKey, delta: Decimal, when: datetime) -> Decimal:
    """Adds ``delta`` (negative: takes away); returns the new quantity on hand."""
    after = quantity(conn, key) + delta
    _put(conn, key, after, when)
    return after


def record_move(
    conn: sqlite3.Connection,
    key: StockKey,
    delta: Decimal,
    *,
    reason: str,
    when: datetime,
    serial: str = "",
    sale_id: str | None = None,
    operator_id: str = "",
) -> None:
    conn.execute(
        "INSERT INTO stock_moves (recorded_at, location_id, item_id, variant_id, lot, serial,"
        " delta, reason, sale_id, operator_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            to_db(when),
            key.location_id,
            key.item_id,
            key.variant_id,
            key.lot,
            serial,
            _text(delta),
            reason,
            sale_id,
            operator_id,
        ),
    )


def reserved(
    conn: sqlite3.Connection, location_id: str, item_id: str, variant_id: str | None = None
) -> dict[tuple[str, str], Decimal]:
    """Reserved base quantities by (variant, lot): goods lines with a pick-up date of open
    sales and of parked ones (a pick-up sale waits parked for its customer, the slip
    being the claim on the goods). A sale handed over to another register reserves there.
    Goods taken back (RETURN lines, which follow the sale's pick-up date too) are no
    claim on the shelf: counted, they made the reservation negative and the available
    stock more than is on hand."""
    sql = (
        "SELECT l.variant_id, l.lot, l.quantity, l.unit_factor FROM sale_lines AS l"
        " JOIN sales AS s ON s.sale_id = l.sale_id"
        " WHERE s.state IN ('OPEN', 'PARKED') AND l.pickup_date IS NOT NULL"
        " AND l.kind = 'GOODS' AND l.item_id = ?"
        " AND l.item_type = 'INVENTORY' AND COALESCE(s.location_id, '') = ?"
    )
    args: list[str] = [item_id, location_id]
    if variant_id is not None:
        sql += " AND l.variant_id = ?"
        args.append(variant_id)
    out: dict[tuple[str, str], Decimal] = {}
    for v, lot, qty, factor in conn.execute(sql, args):
        base = Decimal(qty) * Decimal(factor)
        if base > 0:
            out[(v, lot)] = out.get((v, lot), Decimal(0)) + base
    return out


def levels(
    conn: sqlite3.Connection, location_id: str, item_id: str, *, serial_tracked: bool
) -> list[StockLevel]:
    """Every (variant, lot) of the item at the location, with its reservations."""
    res = reserved(conn, location_id, item_id)
    on_hand: dict[tuple[str, str], Decimal] = {}
    if serial_tracked:
        for v, n in conn.execute(
            "SELECT variant_id, COUNT(*) FROM serials WHERE location_id = ? AND item_id = ?"
            " AND state = 'IN_STOCK' GROUP BY variant_id",
            (location_id, item_id),
        ):
            on_hand[(v, "")] = Decimal(n)
    else:
        for v, lot, q in conn.execute(
            "SELECT variant_id, lot, quantity FROM stock WHERE location_id = ? AND item_id = ?",
            (location_id, item_id),
        ):
            on_hand[(v, lot)] = Decimal(q)
    keys = sorted(set(on_hand) | set(res))
    if not keys:
        keys = [("", "")]
    return [
        StockLevel(
            location_id,
            item_id,
            v,
            lot,
            on_hand.get((v, lot), Decimal(0)),
            res.get((v, lot), Decimal(0)),
        )
        for v, lot in keys
    ]


def _text(q: Decimal) -> str:
    if q == q.to_integral_value():
        return str(q.quantize(Decimal(1)))
    return format(q.normalize(), "f")
