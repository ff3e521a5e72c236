"""Persistence of items (variants, units, barcodes), vendors, lots and serial numbers."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from posd_daemon.domain.barcode import gtin_forms, gtin_valid, upca_to_upce, upce_to_upca
from posd_daemon.domain.catalog import (
    Item,
    ItemType,
    Tracking,
    UnitOfMeasure,
    Variant,
    Vendor,
    VendorItem,
)
from posd_daemon.domain.vat import PriceBasis, VatCategory
from posd_daemon.store import orders as order_store
from posd_daemon.store.timeutil import to_db

_COLS = (
    "item_id, name, gross_price, currency, vat_category, unit, fractional, price_basis,"
    " item_type, tracking"
)


@dataclass(frozen=True, slots=True)
class BarcodeMatch:
    item: Item
    variant_id: str
    unit: str


def _item(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Item:
    item_id = row[0]
    barcodes = conn.execute(
        "SELECT code, variant_id, unit FROM barcodes WHERE item_id = ? ORDER BY code", (item_id,)
    ).fetchall()
    variants = tuple(
        Variant(
            variant_id=r[0],
            name=r[1],
            price=None if r[2] is None else int(r[2]),
            barcodes=tuple(c for c, v, u in barcodes if v == r[0] and not u),
        )
        for r in conn.execute(
            "SELECT variant_id, name, price FROM item_variants WHERE item_id = ? ORDER BY position",
            (item_id,),
        )
    )
    units = tuple(
        UnitOfMeasure(
            unit=r[0],
            quantity_per_unit=Decimal(r[1]),
            price=None if r[2] is None else int(r[2]),
            fractional_quantity=bool(r[3]),
            barcodes=tuple(c for c, v, u in barcodes if u == r[0] and not v),
        )
        for r in conn.execute(
            "SELECT unit, quantity_per_unit, price, fractional FROM item_units WHERE item_id = ?"
            " ORDER BY position",
            (item_id,),
        )
    )
    return Item(
        item_id=item_id,
        name=row[1],
        price=int(row[2]),
        currency=row[3],
        vat_category=VatCategory(int(row[4])),
        barcodes=tuple(c for c, v, u in barcodes if not v and not u),
        unit=row[5],
        fractional_quantity=bool(row[6]),
        price_basis=PriceBasis(row[7]),
        item_type=ItemType(row[8]),
        tracking=Tracking(row[9]),
        variants=variants,
        units=units,
    )


def generation(conn: sqlite3.Connection) -> int:
    """The catalog's write counter: any change of any item advances it (schema 10)."""
    return int(conn.execute("SELECT n FROM catalog_generation WHERE id = 1").fetchone()[0])


def get(conn: sqlite3.Connection, item_id: str) -> Item | None:
    row = conn.execute(f"SELECT {_COLS} FROM items WHERE item_id = ?", (item_id,)).fetchone()
    return None if row is None else _item(conn, row)


def by_barcode(conn: sqlite3.Connection, code: str) -> list[Item]:
    return [m.item for m in barcode_matches(conn, code)]


def barcode_matches(conn: sqlite3.Connection, code: str) -> list[BarcodeMatch]:
    """Every (item, variant, unit) the code names, ordered by item id; a GTIN is found
    in each of its forms (its digits with as many leading zeros as make 8, 12, 13 or
    14 digits: an EAN-13 scanner sends a UPC-A with a leading 0, GS1 master data lists
    GTINs in 14 digits; domain/barcode.py).
    A UPC-E (8 digits that are no valid EAN-8) and its UPC-A are one GTIN: each is
    found in all three forms at once (a supplier lists the UPC-E as printed, a scanner
    set to expand UPC-E sends the UPC-A), so two items under one GTIN are a choice, not
    whichever form the scanner sent. 8 digits valid as both EAN-8 and UPC-E are the
    EAN-8 when the catalog has it, else the UPC-A they stand for."""
    forms = _gtin_forms(code)
    rows = _barcode_rows(conn, forms)
    if not rows and gtin_valid(code) and (upca := upce_to_upca(code)) is not None:
        # an EAN-8 the catalog does not have, also a valid UPC-E
        rows = _barcode_rows(conn, gtin_forms(upca))
    out = []
    for item_id, variant_id, unit in rows:
        item = get(conn, item_id)
        if item is not None:
            out.append(BarcodeMatch(item, variant_id, unit))
    return out


def _gtin_forms(code: str) -> tuple[str, ...]:
    """Every form of the GTIN ``code`` names: :func:`gtin_forms` (its digits with as
    many leading zeros as make 8, 12, 13 or 14), and a UPC-E that is no EAN-8 together
    with its UPC-A (the EAN-8 reading of 8 digits comes first)."""
    if len(code) == 8 and not gtin_valid(code) and (upca := upce_to_upca(code)) is not None:
        return (code, *gtin_forms(upca))
    forms = gtin_forms(code)
    # a UPC-A in any of its forms (12, 13 or 14 digits) is also found as its UPC-E
    upca = next((f for f in forms if len(f) == 12), None)
    upce = None if upca is None else upca_to_upce(upca)
    if upce is not None and not gtin_valid(upce):
        return (*forms, upce)
    return forms


def _barcode_rows(conn: sqlite3.Connection, forms: tuple[str, ...]) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT DISTINCT item_id, variant_id, unit FROM barcodes"
            f" WHERE code IN ({', '.join('?' * len(forms))}) ORDER BY item_id, variant_id, unit",
            forms,
        )
    ]


def _stored_form(item: Item) -> tuple[Any, ...]:
    """What :func:`upsert` writes of ``item``, in a form two items compare by: barcodes
    have no order in the database, a unit's factor is stored as its text."""
    return (
        item.name,
        item.price,
        item.currency,
        int(item.vat_category),
        item.unit,
        item.fractional_quantity,
        item.price_basis,
        item.item_type,
        item.tracking,
        tuple((v.variant_id, v.name, v.price) for v in item.variants),
        tuple(
            (u.unit, str(u.quantity_per_unit), u.price, u.fractional_quantity) for u in item.units
        ),
        sorted(item.all_barcodes()),
    )


def upsert(conn: sqlite3.Connection, item: Item, when: datetime) -> bool:
    """Creates or replaces the item; returns True when it was created.

    An item stored exactly as given is left alone: back offices push their whole
    catalog again and again, and rewriting every unchanged row (its barcodes, variants
    and units deleted and inserted, each bumping the catalog's write counter) held the
    one database thread, which every sale's scan waits for, as long as loading the
    catalog did, and stamped every item as changed."""
    stored = get(conn, item.item_id)
    if stored is not None and _stored_form(stored) == _stored_form(item):
        return False
    conn.execute(
        "INSERT INTO items (item_id, name, gross_price, currency, vat_category, unit, fractional,"
        " updated_at, price_basis, item_type, tracking) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(item_id) DO UPDATE SET"
        " name = excluded.name, gross_price = excluded.gross_price, currency = excluded.currency,"
        " vat_category = excluded.vat_category, unit = excluded.unit,"
        " fractional = excluded.fractional, updated_at = excluded.updated_at,"
        " price_basis = excluded.price_basis, item_type = excluded.item_type,"
        " tracking = excluded.tracking",
        (
            item.item_id,
            item.name,
            item.price,
            item.currency,
            int(item.vat_category),
            item.unit,
            int(item.fractional_quantity),
            to_db(when),
            item.price_basis.value,
            item.item_type.value,
            item.tracking.value,
        ),
    )
    if stored is not None:  # a new item has none of these rows yet
        conn.execute("DELETE FROM barcodes WHERE item_id = ?", (item.item_id,))
        conn.execute("DELETE FROM item_variants WHERE item_id = ?", (item.item_id,))
        conn.execute("DELETE FROM item_units WHERE item_id = ?", (item.item_id,))
    conn.executemany(
        "INSERT INTO barcodes (code, item_id, variant_id, unit) VALUES (?, ?, ?, ?)",
        [(code, item.item_id, v, u) for code, v, u in item.all_barcodes()],
    )
    conn.executemany(
        "INSERT INTO item_variants (item_id, variant_id, position, name, price)"
        " VALUES (?, ?, ?, ?, ?)",
        [(item.item_id, v.variant_id, i, v.name, v.price) for i, v in enumerate(item.variants)],
    )
    conn.executemany(
        "INSERT INTO item_units (item_id, unit, position, quantity_per_unit, price, fractional)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                item.item_id,
                u.unit,
                i,
                str(u.quantity_per_unit),
                u.price,
                int(u.fractional_quantity),
            )
            for i, u in enumerate(item.units)
        ],
    )
    return stored is None


def stock_keys(
    conn: sqlite3.Connection, item_id: str
) -> tuple[ItemType, Tracking, frozenset[str]] | None:
    """The stored item's type, tracking and the variant ids its stock is booked under
    ("" for an item without variants): what decides where it keeps stock. None when
    there is no such item. Cheaper than :func:`get` for a catalog pushed again
    unchanged."""
    row = conn.execute(
        "SELECT item_type, tracking FROM items WHERE item_id = ?", (item_id,)
    ).fetchone()
    if row is None:
        return None
    variants = frozenset(
        r[0]
        for r in conn.execute("SELECT variant_id FROM item_variants WHERE item_id = ?", (item_id,))
    )
    return ItemType(row[0]), Tracking(row[1]), variants or frozenset({""})


def lot_numbers(conn: sqlite3.Connection, item_id: str) -> dict[str, str]:
    """The item's lots: lot number -> the variant id it is (a lot is one per item)."""
    return {
        lot: variant
        for lot, variant in conn.execute(
            "SELECT lot, variant_id FROM lots WHERE item_id = ?", (item_id,)
        )
    }


def list_page(conn: sqlite3.Connection, *, after_id: str, limit: int) -> list[Item]:
    rows = conn.execute(
        f"SELECT {_COLS} FROM items WHERE item_id > ? ORDER BY item_id LIMIT ?", (after_id, limit)
    ).fetchall()
    return [_item(conn, r) for r in rows]


# -- vendors ------------------------------------------------------------------------------


def get_vendor(conn: sqlite3.Connection, number: str) -> Vendor | None:
    row = conn.execute(
        "SELECT vendor_number, name FROM vendors WHERE vendor_number = ?", (number,)
    ).fetchone()
    if row is None:
        return None
    items = tuple(
        VendorItem(r[0], r[1])
        for r in conn.execute(
            "SELECT item_id, vendor_item_number FROM vendor_items WHERE vendor_number = ?"
            " ORDER BY position",
            (number,),
        )
    )
    return Vendor(row[0], row[1], items)


def upsert_vendor(conn: sqlite3.Connection, vendor: Vendor, when: datetime) -> bool:
    existed = conn.execute(
        "SELECT 1 FROM vendors WHERE vendor_number = ?", (vendor.vendor_number,)
    ).fetchone()
    conn.execute(
        "INSERT INTO vendors (vendor_number, name, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(vendor_number) DO UPDATE SET name = excluded.name,"
        " updated_at = excluded.updated_at",
        (vendor.vendor_number, vendor.name, to_db(when)),
    )
    conn.execute("DELETE FROM vendor_items WHERE vendor_number = ?", (vendor.vendor_number,))
    conn.executemany(
        "INSERT INTO vendor_items (vendor_number, item_id, vendor_item_number, position)"
        " VALUES (?, ?, ?, ?)",
        [
            (vendor.vendor_number, it.item_id, it.vendor_item_number, i)
            for i, it in enumerate(vendor.items)
        ],
    )
    return existed is None


# -- lots and serial numbers ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LotRef:
    lot: str
    item_id: str
    variant_id: str
    expires_on: str


@dataclass(frozen=True, slots=True)
class SerialRef:
    serial: str
    item_id: str
    variant_id: str
    location_id: str
    state: str
    sale_id: str


IN_STOCK = "IN_STOCK"
SOLD = "SOLD"


def lots_by_number(conn: sqlite3.Connection, lot: str) -> list[LotRef]:
    return [
        LotRef(*r)
        for r in conn.execute(
            "SELECT lot, item_id, variant_id, expires_on FROM lots WHERE lot = ? ORDER BY item_id",
            (lot,),
        )
    ]


def upsert_lot(conn: sqlite3.Connection, ref: LotRef) -> None:
    conn.execute(
        "INSERT INTO lots (lot, item_id, variant_id, expires_on) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(lot, item_id) DO UPDATE SET variant_id = excluded.variant_id,"
        # no date given (a stocktake of quantities): the lot keeps the date it has, else
        # an expired lot would sell without a word
        " expires_on = CASE WHEN excluded.expires_on = '' THEN lots.expires_on"
        " ELSE excluded.expires_on END",
        (ref.lot, ref.item_id, ref.variant_id, ref.expires_on),
    )


def serials_by_number(conn: sqlite3.Connection, serial: str) -> list[SerialRef]:
    return [
        SerialRef(r[0], r[1], r[2], r[3], r[4], r[5] or "")
        for r in conn.execute(
            "SELECT serial, item_id, variant_id, location_id, state, sale_id FROM serials"
            " WHERE serial = ? ORDER BY item_id",
            (serial,),
        )
    ]


def serial_not_here(
    conn: sqlite3.Connection, item_id: str, serial: str, location_id: str, order_number: str = ""
) -> tuple[str, str, dict[str, str]] | None:
    """Why the item's serial number cannot be sold at ``location_id`` for order
    ``order_number`` ("": for no order): (reason, message, metadata naming what holds it),
    or None when it is in stock there and no other order reserved it. The one rule for
    AddLine, the post and an order's reservation: a piece another order (OPEN or LOADED)
    reserved is promised to that order's customer (SERIAL_RESERVED), sold only in the
    sale of that order."""
    refs = [r for r in serials_by_number(conn, serial) if r.item_id == item_id]
    if not refs:
        return (
            "SERIAL_NOT_IN_STOCK",
            f"serial number {serial} of item {item_id} is not in stock",
            {},
        )
    ref = refs[0]
    if ref.state == SOLD:
        return (
            "SERIAL_ALREADY_SOLD",
            f"serial number {serial} of item {item_id} was sold (sale {ref.sale_id})",
            {"sale_id": ref.sale_id} if ref.sale_id else {},
        )
    if ref.location_id != location_id:
        return (
            "SERIAL_NOT_IN_STOCK",
            f"serial number {serial} is at location {ref.location_id}, not {location_id}",
            {},
        )
    holder = order_store.reserving(conn, item_id, serial, except_order=order_number)
    if holder:
        return (
            "SERIAL_RESERVED",
            f"serial number {serial} of item {item_id} is reserved for order {holder}",
            {"order_number": holder},
        )
    return None


def put_serial(conn: sqlite3.Connection, ref: SerialRef, when: datetime) -> None:
    conn.execute(
        "INSERT INTO serials (serial, item_id, variant_id, location_id, state, sale_id,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(serial, item_id) DO UPDATE SET"
        " variant_id = excluded.variant_id, location_id = excluded.location_id,"
        " state = excluded.state, sale_id = excluded.sale_id, updated_at = excluded.updated_at",
        (
            ref.serial,
            ref.item_id,
            ref.variant_id,
            ref.location_id,
            ref.state,
            ref.sale_id or None,
            to_db(when),
        ),
    )


# -- books an item change would orphan ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldStock:
    """Stock on the books of an item: a ``stock`` row that is not zero (its lot "" for an
    item without lots) or a serial-numbered piece in stock (``serial``, quantity 1)."""

    location_id: str
    variant_id: str
    lot: str
    serial: str
    quantity: Decimal


def held_stock(conn: sqlite3.Connection, item_id: str) -> list[HeldStock]:
    """Everything the item holds, at any location: its stock rows that are not zero
    (negative ones too: a correction is owed there) and its serials in stock."""
    held = [
        HeldStock(loc, variant, lot, "", Decimal(q))
        for loc, variant, lot, q in conn.execute(
            "SELECT location_id, variant_id, lot, quantity FROM stock WHERE item_id = ?"
            " ORDER BY location_id, variant_id, lot",
            (item_id,),
        )
        if Decimal(q) != 0
    ]
    held += [
        HeldStock(loc, variant, "", serial, Decimal(1))
        for loc, variant, serial in conn.execute(
            "SELECT location_id, variant_id, serial FROM serials WHERE item_id = ?"
            f" AND state = '{IN_STOCK}' ORDER BY location_id, variant_id, serial",
            (item_id,),
        )
    ]
    return held


def drop_empty_books(conn: sqlite3.Connection, item: Item) -> None:
    """Deletes the item's empty stock rows and its lots that ``item`` (as now stored) no
    longer sells from: of a removed variant, under a tracking it dropped, all of them
    when it became a service or voucher. GetStock
    listed them, and a scan of such a lot's label found a variant the item no longer
    has. Only empty rows: the caller refused the change while stock was on them. The
    stock moves keep their history; sold serial numbers stay (a return checks them)."""
    variants = {v.variant_id for v in item.variants} or {""}
    stocked = item.item_type.stocked
    stale = [
        (loc, variant, lot)
        for loc, variant, lot, q in conn.execute(
            "SELECT location_id, variant_id, lot, quantity FROM stock WHERE item_id = ?",
            (item.item_id,),
        )
        if Decimal(q) == 0
        and (
            not stocked  # a service or voucher has no stock
            or variant not in variants
            or item.tracking is Tracking.SERIAL  # counted by its serials, never stock rows
            or (item.tracking is Tracking.LOT) != bool(lot)
        )
    ]
    conn.executemany(
        "DELETE FROM stock WHERE location_id = ? AND item_id = ? AND variant_id = ? AND lot = ?",
        [(loc, item.item_id, variant, lot) for loc, variant, lot in stale],
    )
    lots = [
        lot
        for lot, variant in conn.execute(
            "SELECT lot, variant_id FROM lots WHERE item_id = ?", (item.item_id,)
        )
        if not stocked or item.tracking is not Tracking.LOT or variant not in variants
    ]
    conn.executemany(
        "DELETE FROM lots WHERE lot = ? AND item_id = ?", [(lot, item.item_id) for lot in lots]
    )
