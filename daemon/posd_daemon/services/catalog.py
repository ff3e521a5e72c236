"""Catalog use cases: items, stock (lots, serial numbers), vendors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from posd_daemon.domain.catalog import Item, Tracking, Vendor
from posd_daemon.domain.errors import invalid, not_found
from posd_daemon.domain.money import check_currency
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.text import check_code
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.services.imports import claim_record
from posd_daemon.store import catalog as store
from posd_daemon.store import shops as shop_store
from posd_daemon.store import stock as stock_store
from posd_daemon.store.stock import StockKey, StockLevel

MAX_STOCK = Decimal(10) ** 9

StockLevels = list[StockLevel]


@dataclass(frozen=True, slots=True)
class StockEntry:
    location_id: str
    item_id: str
    variant_id: str = ""
    lot: str = ""
    serial: str = ""
    quantity: str = ""
    expiry_date: str = ""


class CatalogCommands:
    def __init__(self, currency: str, clock: Clock, register_id: str = "") -> None:
        self._currency = currency
        self._clock = clock
        self.register_id = register_id

    # -- items ---------------------------------------------------------------------------

    def upsert(self, tx: Tx, operator: Operator, item: Item) -> tuple[Item, bool]:
        operator.require(Permission.CATALOG_EDIT)
        return item, self.put(tx, item)

    def put(self, tx: Tx, item: Item) -> bool:
        """Validates and stores an item; True when it was created."""
        return self.store(tx, self.checked(item))

    def store(self, tx: Tx, item: Item) -> bool:
        """Stores an item :meth:`checked` passed; True when it was created.

        A change of its tracking, of its variants, or to a type without stock (service,
        voucher) is refused while stock is booked under what it drops
        (:func:`_refuse_orphaning`); allowed, the empty books of what it dropped go with
        it."""
        was = store.stock_keys(tx.conn, item.item_id)
        changes = was is not None and (
            was[0].stocked != item.item_type.stocked
            or was[1:] != (item.tracking, _variant_keys(item))
        )
        if changes:
            _refuse_orphaning(tx.conn, item)
        created = store.upsert(tx.conn, item, self._clock())
        if changes:
            store.drop_empty_books(tx.conn, item)
        return created

    def checked(self, item: Item) -> Item:
        """``item`` validated, without the database (an import checks its rows before
        its transaction, off the database thread)."""
        field = f"{item.price_field}.currency_code"
        check_currency(item.currency, field)
        if item.currency != self._currency:
            raise invalid(
                field,
                f"items are priced in the register's currency {self._currency}",
                "CURRENCY_MISMATCH",
            )
        item.validated()
        return item

    def get(self, conn: sqlite3.Connection, item_id: str) -> Item:
        check_code(item_id, "item_id")
        item = store.get(conn, item_id)
        if item is None:
            raise not_found("ITEM_NOT_FOUND", f"no item {item_id!r}", item_id=item_id)
        return item

    def list(self, conn: sqlite3.Connection, size: int, token: str) -> tuple[list[Item], str]:
        n = paging.page_size(size, default=100)
        after = paging.decode(token, "i") if token else ""
        items = store.list_page(conn, after_id=after, limit=n + 1)
        more = len(items) > n
        items = items[:n]
        return items, (paging.encode("i", items[-1].item_id) if more and items else "")

    # -- stock ---------------------------------------------------------------------------

    def _location(self, conn: sqlite3.Connection, location_id: str) -> str:
        if location_id:
            return check_code(location_id, "location_id")
        reg = shop_store.get_register(conn, self.register_id)
        return reg.location_id if reg is not None else shop_store.DEFAULT_LOCATION

    def put_stock(self, tx: Tx, operator: Operator, entry: StockEntry) -> bool:
        """Sets stock on hand of one item/variant/lot (or one serial number) at a location.

        Returns True when it created a stock record (a new lot, serial or location)."""
        conn = tx.conn
        now = self._clock()
        location = self._location(conn, entry.location_id)
        item = self.get(conn, entry.item_id)
        if item.variants:
            if not entry.variant_id:
                raise invalid("variant_id", "the item has variants: name one", "VARIANT_REQUIRED")
            if item.variant(entry.variant_id) is None:
                raise invalid("variant_id", f"no variant {entry.variant_id!r}", "UNKNOWN_VARIANT")
        elif entry.variant_id:
            raise invalid("variant_id", "the item has no variants", "UNKNOWN_VARIANT")
        if not item.item_type.stocked:
            raise invalid("item_id", "services and vouchers have no stock", "NOT_STOCKED")
        qty = _parse_stock_quantity(entry.quantity)
        if entry.expiry_date and item.tracking is not Tracking.LOT:
            # only a lot keeps a date: dropped, the shop believed it checked at the sale
            raise invalid(
                "expiry_date",
                "only a lot has an expiry date: the item is not lot-tracked",
                "NOT_LOT_TRACKED",
            )
        if item.tracking is Tracking.SERIAL:
            if not entry.serial:
                raise invalid("serial_number", "the item is serial-numbered", "SERIAL_REQUIRED")
            check_code(entry.serial, "serial_number")
            if qty not in (0, 1):
                raise invalid(
                    "quantity", "a serial number is 1 (in stock) or 0", "INVALID_QUANTITY"
                )
            existing = [
                s for s in store.serials_by_number(conn, entry.serial) if s.item_id == item.item_id
            ]
            # SOLD without a sale: taken out of stock by an import (quantity 0), never
            # sold, so it may come back
            if existing and existing[0].state == store.SOLD and existing[0].sale_id and qty == 1:
                raise invalid("serial_number", "this serial number was sold", "SERIAL_ALREADY_SOLD")
            # one piece, whatever location or lot number a row of an import gives it
            claim_record(
                f"serial\0{item.item_id}\0{entry.serial}",
                f"serial number {entry.serial!r} of item {item.item_id!r}",
            )
            was = existing[0] if existing and existing[0].state == store.IN_STOCK else None
            store.put_serial(
                conn,
                store.SerialRef(
                    entry.serial,
                    item.item_id,
                    entry.variant_id,
                    location,
                    store.IN_STOCK if qty == 1 else store.SOLD,
                    existing[0].sale_id if existing and not was and qty == 0 else "",
                ),
                now,
            )
            # the piece leaves where it was and (quantity 1) comes in where the row says:
            # a move of location or variant is two stock moves, not none
            key = StockKey(location, item.item_id, entry.variant_id)
            moves: list[tuple[StockKey, Decimal]] = []
            if was is not None:
                moves.append((StockKey(was.location_id, item.item_id, was.variant_id), Decimal(-1)))
            if qty == 1:
                moves.append((key, Decimal(1)))
            if len(moves) == 2 and moves[0][0] == moves[1][0]:
                moves = []  # in stock where it was: no change
            for at, delta in moves:
                stock_store.record_move(
                    conn,
                    at,
                    delta,
                    reason="IMPORT",
                    when=now,
                    serial=entry.serial,
                    operator_id=operator.operator_id,
                )
            return not existing
        if entry.serial:
            raise invalid("serial_number", "the item is not serial-numbered", "NOT_SERIAL_TRACKED")
        if item.tracking is Tracking.LOT:
            if not entry.lot:
                raise invalid("lot_number", "the item is lot-tracked", "LOT_REQUIRED")
            check_code(entry.lot, "lot_number")
            # a lot is one per item and lot number (its variant and expiry date): booked
            # to another variant while it has stock under one, a scan of its label sold
            # it as the other variant, off a (variant, lot) without stock, while the
            # goods stayed on the first one's books. Emptied there, it may move.
            others = [
                v
                for v in stock_store.lot_variants(conn, item.item_id, entry.lot)
                if v != entry.variant_id
            ]
            if others:
                raise invalid(
                    "lot_number",
                    f"lot {entry.lot!r} of item {item.item_id!r} has stock under variant"
                    f" {others[0]!r}: set it to 0 there first",
                    "LOT_OF_OTHER_VARIANT",
                )
            expiry = ""
            if entry.expiry_date:
                try:
                    expiry = date.fromisoformat(entry.expiry_date).isoformat()
                except ValueError:
                    raise invalid("expiry_date", "a date like 2027-03-31") from None
            store.upsert_lot(conn, store.LotRef(entry.lot, item.item_id, entry.variant_id, expiry))
        elif entry.lot:
            raise invalid("lot_number", "the item is not lot-tracked", "NOT_LOT_TRACKED")
        key = StockKey(location, item.item_id, entry.variant_id, entry.lot)
        # the resolved key: a row without a location counts at the register's location
        claim_record(
            "\0".join(("stock", key.location_id, key.item_id, key.variant_id, key.lot)),
            f"the stock of item {item.item_id!r}"
            + (f" variant {key.variant_id!r}" if key.variant_id else "")
            + (f" lot {key.lot!r}" if key.lot else "")
            + f" at location {location!r}",
        )
        existed = stock_store.has_books(conn, key)
        delta = stock_store.set_quantity(conn, key, qty, now)
        if delta:
            stock_store.record_move(
                conn, key, delta, reason="IMPORT", when=now, operator_id=operator.operator_id
            )
        return not existed

    def stock(
        self, conn: sqlite3.Connection, item_id: str, location_id: str
    ) -> tuple[Item, StockLevels]:
        item = self.get(conn, item_id)
        location = self._location(conn, location_id)
        levels = stock_store.levels(
            conn, location, item.item_id, serial_tracked=item.tracking is Tracking.SERIAL
        )
        # an open pick-up line of a variant or lot the item no longer has is refused at
        # the post (SalesCommands._check_lines_fit_items): no claim on the shelf, and no
        # level of its own under a key no sale takes from
        fits = _stock_key_fits(conn, item)
        kept = [lv for lv in levels if lv.on_hand != 0 or fits(lv.variant_id, lv.lot)]
        if not kept:  # as the store answers an item without any books
            kept = [StockLevel(location, item.item_id, "", "", Decimal(0), Decimal(0))]
        return item, kept

    # -- vendors -------------------------------------------------------------------------

    def upsert_vendor(self, tx: Tx, operator: Operator, vendor: Vendor) -> tuple[Vendor, bool]:
        operator.require(Permission.CATALOG_EDIT)
        return vendor, self.put_vendor(tx, vendor)

    def put_vendor(self, tx: Tx, vendor: Vendor) -> bool:
        vendor.validated()
        for i, it in enumerate(vendor.items):
            if store.get(tx.conn, it.item_id) is None:
                raise invalid(
                    f"vendor.items[{i}].item_id", f"no item {it.item_id!r}", "ITEM_NOT_FOUND"
                )
        return store.upsert_vendor(tx.conn, vendor, self._clock())

    def get_vendor(self, conn: sqlite3.Connection, number: str) -> Vendor:
        check_code(number, "vendor_number")
        v = store.get_vendor(conn, number)
        if v is None:
            raise not_found("VENDOR_NOT_FOUND", f"no vendor {number!r}", vendor_number=number)
        return v


def _variant_keys(item: Item) -> frozenset[str]:
    """The variant ids stock of ``item`` is booked under ("" for an item without)."""
    return frozenset(v.variant_id for v in item.variants) or frozenset({""})


def _stock_key_fits(conn: sqlite3.Connection, item: Item) -> Callable[[str, str], bool]:
    """Whether stock of ``item`` (as now stored) is kept under (variant, lot): a variant
    it has ("" without variants) and, lot-tracked, one of its lots of that variant, else
    no lot."""
    variants = _variant_keys(item)
    lots = store.lot_numbers(conn, item.item_id) if item.tracking is Tracking.LOT else {}

    def fits(variant_id: str, lot: str) -> bool:
        if variant_id not in variants:
            return False
        if item.tracking is Tracking.LOT:
            return lots.get(lot) == variant_id
        return not lot

    return fits


def _refuse_orphaning(conn: sqlite3.Connection, item: Item) -> None:
    """Refuses storing ``item`` over its stored self while stock is booked where the new
    one never takes it from: under another tracking (an item without lots counts its
    stock rows without a lot, a lot-tracked one those of its lots, a serial-numbered one
    its pieces in stock) or a variant it no longer has. Stored, that stock stayed on the
    books out of any sale's reach, GetStock listed it, and sales drove the keys the item
    now uses negative. The shop books it to 0 first (a stocktake, ImportStock), then
    changes the item and books the goods again under their new key."""
    stored = store.get(conn, item.item_id)
    if stored is None:
        return
    held = store.held_stock(conn, item.item_id)
    if held and stored.item_type.stocked and not item.item_type.stocked:
        # a service or voucher is never taken from stock: all of it stayed stranded
        raise invalid(
            "item.item_type",
            f"item {item.item_id!r} has stock: {_describe(held)}; book it to 0 before"
            f" making it a {item.item_type.value.lower()}",
            "ITEM_TYPE_CHANGE_WITH_STOCK",
        )
    if stored.tracking is not item.tracking:
        # the stock of the old tracking: serials in stock, else stock rows (a
        # serial-numbered item has none of its own)
        old = [h for h in held if bool(h.serial) == (stored.tracking is Tracking.SERIAL)]
        if old:
            raise invalid(
                "item.tracking",
                f"item {item.item_id!r} has stock under its tracking"
                f" {stored.tracking.value}: {_describe(old)}; book it to 0 before changing"
                f" the tracking to {item.tracking.value}",
                "TRACKING_CHANGE_WITH_STOCK",
            )
    kept = _variant_keys(item)
    gone = [h for h in held if h.variant_id not in kept]
    if gone:
        raise invalid(
            "item.variants",
            f"item {item.item_id!r} has stock under "
            + (f"variant {gone[0].variant_id!r}" if gone[0].variant_id else "no variant")
            + f", which it would no longer have: {_describe(gone)}; book it to 0 first",
            "VARIANT_HAS_STOCK",
        )


def _describe(held: list[store.HeldStock], most: int = 5) -> str:
    """Stock on the books as a shop reads it: "3 of variant 'RED' lot 'L1' at MAIN"."""
    parts = [
        (f"serial number {h.serial!r}" if h.serial else format(h.quantity, "f"))
        + (f" of variant {h.variant_id!r}" if h.variant_id else "")
        + (f" lot {h.lot!r}" if h.lot else "")
        + f" at {h.location_id}"
        for h in held[:most]
    ]
    more = f" and {len(held) - most} more" if len(held) > most else ""
    return ", ".join(parts) + more


def _parse_stock_quantity(text: str) -> Decimal:
    if not text or len(text) > 24:
        raise invalid("quantity", "a decimal quantity is required", "INVALID_QUANTITY")
    try:
        q = Decimal(text)
    except InvalidOperation:
        raise invalid("quantity", f"{text!r} is not a decimal number", "INVALID_QUANTITY") from None
    if not q.is_finite() or abs(q) >= MAX_STOCK or q != q.quantize(Decimal("0.001")):
        raise invalid("quantity", "a finite quantity with at most 3 decimals", "INVALID_QUANTITY")
    return q
