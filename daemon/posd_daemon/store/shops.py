"""Persistence of shops, registers and daily exchange rates."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from posd_daemon.domain.customer import Customer
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.shop import (
    DocumentType,
    ParkingBarcode,
    Register,
    Shop,
    ShopDiscount,
    VatPolicy,
)
from posd_daemon.domain.vat import VatRounding
from posd_daemon.store import customers as customer_store
from posd_daemon.store.timeutil import to_db

DEFAULT_SHOP_ID = "SHOP-1"
DEFAULT_LOCATION = "MAIN"
ANONYMOUS_NUMBER = "0"

_SHOP_COLS = (
    "shop_id, name, currency, default_customer_number, vat_policy, vat_rounding,"
    " simplified_invoice_limit, allow_negative_stock, price_edit_allowed, vendor_scan_allowed,"
    " empty_sale_timeout_s, sale_rules"
)


def _shop(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Shop:
    shop_id = row[0]
    rates = tuple(
        (r[0], Decimal(r[1]))
        for r in conn.execute(
            "SELECT currency, rate FROM shop_rates WHERE shop_id = ? ORDER BY currency", (shop_id,)
        )
    )
    rounding = tuple(
        (r[0], int(r[1]))
        for r in conn.execute(
            "SELECT currency, increment FROM shop_cash_rounding WHERE shop_id = ?"
            " ORDER BY currency",
            (shop_id,),
        )
    )
    discounts = tuple(
        ShopDiscount(r[0], r[1], Decimal(r[2]))
        for r in conn.execute(
            "SELECT code, name, percent FROM shop_discounts WHERE shop_id = ? ORDER BY code",
            (shop_id,),
        )
    )
    limits = conn.execute(
        "SELECT kind, key, percent FROM discount_limits WHERE shop_id = ? ORDER BY kind, key",
        (shop_id,),
    ).fetchall()
    rules = json.loads(row[11] or "{}")
    extra: dict[str, Any] = {}
    if rules:
        extra = {
            "card_authorization_required": bool(rules.get("card_authorization_required")),
            "refund_methods": frozenset(PaymentMethod(m) for m in rules["refund_methods"]),
            "balancing_account": rules["balancing_account"],
            "payment_rounding": tuple(
                (c, PaymentMethod(m), int(step)) for c, m, step in rules["payment_rounding"]
            ),
            "parking_barcode": ParkingBarcode(rules["parking_barcode"]),
            "parking_prefix": rules["parking_prefix"],
        }
    return Shop(
        **extra,
        shop_id=shop_id,
        name=row[1],
        currency=row[2],
        default_customer_number=row[3],
        vat_policy=VatPolicy(row[4]),
        vat_rounding=VatRounding(row[5]),
        simplified_invoice_limit=int(row[6]),
        allow_negative_stock=bool(row[7]),
        price_edit_allowed=bool(row[8]),
        vendor_scan_allowed=bool(row[9]),
        empty_sale_timeout_seconds=int(row[10]),
        fixed_rates=rates,
        cash_rounding=rounding,
        discounts=discounts,
        role_discount_limits=tuple((k, Decimal(p)) for kind, k, p in limits if kind == "ROLE"),
        operator_discount_limits=tuple(
            (k, Decimal(p)) for kind, k, p in limits if kind == "OPERATOR"
        ),
    )


def get_shop(conn: sqlite3.Connection, shop_id: str) -> Shop | None:
    row = conn.execute(f"SELECT {_SHOP_COLS} FROM shops WHERE shop_id = ?", (shop_id,)).fetchone()
    return None if row is None else _shop(conn, row)


def list_shops(conn: sqlite3.Connection, *, after: str, limit: int) -> list[Shop]:
    rows = conn.execute(
        f"SELECT {_SHOP_COLS} FROM shops WHERE shop_id > ? ORDER BY shop_id LIMIT ?",
        (after, limit),
    ).fetchall()
    return [_shop(conn, r) for r in rows]


def upsert_shop(conn: sqlite3.Connection, shop: Shop, when: datetime) -> bool:
    existed = conn.execute("SELECT 1 FROM shops WHERE shop_id = ?", (shop.shop_id,)).fetchone()
    conn.execute(
        "INSERT INTO shops (shop_id, name, currency, default_customer_number, vat_policy,"
        " vat_rounding, simplified_invoice_limit, allow_negative_stock, price_edit_allowed,"
        " vendor_scan_allowed, empty_sale_timeout_s, updated_at, sale_rules)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(shop_id) DO UPDATE SET name = excluded.name, currency = excluded.currency,"
        " default_customer_number = excluded.default_customer_number,"
        " vat_policy = excluded.vat_policy, vat_rounding = excluded.vat_rounding,"
        " simplified_invoice_limit = excluded.simplified_invoice_limit,"
        " allow_negative_stock = excluded.allow_negative_stock,"
        " price_edit_allowed = excluded.price_edit_allowed,"
        " vendor_scan_allowed = excluded.vendor_scan_allowed,"
        " empty_sale_timeout_s = excluded.empty_sale_timeout_s, updated_at = excluded.updated_at,"
        " sale_rules = excluded.sale_rules",
        (
            shop.shop_id,
            shop.name,
            shop.currency,
            shop.default_customer_number,
            shop.vat_policy.value,
            shop.vat_rounding.value,
            shop.simplified_invoice_limit,
            int(shop.allow_negative_stock),
            int(shop.price_edit_allowed),
            int(shop.vendor_scan_allowed),
            shop.empty_sale_timeout_seconds,
            to_db(when),
            json.dumps(
                {
                    "card_authorization_required": shop.card_authorization_required,
                    "refund_methods": sorted(m.value for m in shop.refund_methods),
                    "balancing_account": shop.balancing_account,
                    "payment_rounding": [
                        [c, m.value, step] for c, m, step in shop.payment_rounding
                    ],
                    "parking_barcode": shop.parking_barcode.value,
                    "parking_prefix": shop.parking_prefix,
                },
                sort_keys=True,
            ),
        ),
    )
    sid = shop.shop_id
    for table in ("shop_rates", "shop_cash_rounding", "shop_discounts", "discount_limits"):
        conn.execute(f"DELETE FROM {table} WHERE shop_id = ?", (sid,))
    conn.executemany(
        "INSERT INTO shop_rates (shop_id, currency, rate) VALUES (?, ?, ?)",
        [(sid, c, str(r)) for c, r in shop.fixed_rates],
    )
    conn.executemany(
        "INSERT INTO shop_cash_rounding (shop_id, currency, increment) VALUES (?, ?, ?)",
        [(sid, c, step) for c, step in shop.cash_rounding],
    )
    conn.executemany(
        "INSERT INTO shop_discounts (shop_id, code, name, percent) VALUES (?, ?, ?, ?)",
        [(sid, d.code, d.name, str(d.percent)) for d in shop.discounts],
    )
    conn.executemany(
        "INSERT INTO discount_limits (shop_id, kind, key, percent) VALUES (?, ?, ?, ?)",
        [(sid, "ROLE", k, str(p)) for k, p in shop.role_discount_limits]
        + [(sid, "OPERATOR", k, str(p)) for k, p in shop.operator_discount_limits],
    )
    return existed is None


# -- registers ---------------------------------------------------------------------------------


#: The number stored for a register that created itself at its first start: nobody gave
#: it one yet. It reads as the lowest number no other register of its shop has, and
#: blocks no other register (the back office then sends the store's registers in any
#: order: register 1 first, this one later).
UNASSIGNED_NUMBER = 0


def _register(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Register:
    docs = frozenset(DocumentType(d) for d in row[3].split(",") if d)
    reqs = []
    for part in row[4].split(","):
        if part:
            doc, _, attr = part.partition(":")
            reqs.append((DocumentType(doc), attr))
    number = int(row[7])
    if number == UNASSIGNED_NUMBER:
        number = _unassigned_number(conn, row[1], row[0])
    return Register(
        register_id=row[0],
        shop_id=row[1],
        location_id=row[2],
        document_types=docs,
        requirements=tuple(reqs),
        price_edit_allowed=bool(row[5]),
        orders_only=bool(row[6]),
        register_number=number,
    )


def _unassigned_number(conn: sqlite3.Connection, shop_id: str, register_id: str) -> int:
    """The number a register without one goes by: the lowest its shop's registers with a
    number leave free, each register without one (by id) taking the next; 1 when all
    99 are taken (its slips are then ambiguous until it is given a number)."""
    taken = {
        int(r[0])
        for r in conn.execute(
            "SELECT register_number FROM registers WHERE shop_id = ? AND register_number != ?",
            (shop_id, UNASSIGNED_NUMBER),
        )
    }
    waiting = [
        r[0]
        for r in conn.execute(
            "SELECT register_id FROM registers WHERE shop_id = ? AND register_number = ?"
            " ORDER BY register_id",
            (shop_id, UNASSIGNED_NUMBER),
        )
    ]
    free = (n for n in range(1, 100) if n not in taken)
    for rid in waiting:
        number = next(free, 1)
        if rid == register_id:
            return number
    return 1


_REG_COLS = (
    "register_id, shop_id, location_id, document_types, requirements, price_edit_allowed,"
    " orders_only, register_number"
)


def get_register(conn: sqlite3.Connection, register_id: str) -> Register | None:
    row = conn.execute(
        f"SELECT {_REG_COLS} FROM registers WHERE register_id = ?", (register_id,)
    ).fetchone()
    return None if row is None else _register(conn, row)


def list_registers(conn: sqlite3.Connection, *, after: str, limit: int) -> list[Register]:
    rows = conn.execute(
        f"SELECT {_REG_COLS} FROM registers WHERE register_id > ? ORDER BY register_id LIMIT ?",
        (after, limit),
    ).fetchall()
    return [_register(conn, r) for r in rows]


def registers_numbered(
    conn: sqlite3.Connection, shop_id: str, number: int, *, besides: str
) -> list[str]:
    """The registers of ``shop_id`` other than ``besides`` that were given ``number``
    (one without a number blocks none: see UNASSIGNED_NUMBER)."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT register_id FROM registers WHERE shop_id = ? AND register_number = ?"
            " AND register_id != ? ORDER BY register_id",
            (shop_id, number, besides),
        )
    ]


def upsert_register(
    conn: sqlite3.Connection, reg: Register, when: datetime, *, numbered: bool = True
) -> bool:
    """Creates or replaces ``reg``; ``numbered`` False stores it without a number of its
    own (UNASSIGNED_NUMBER)."""
    existed = conn.execute(
        "SELECT 1 FROM registers WHERE register_id = ?", (reg.register_id,)
    ).fetchone()
    docs = ",".join(sorted(d.value for d in reg.document_types))
    reqs = ",".join(f"{d.value}:{a}" for d, a in reg.requirements)
    conn.execute(
        "INSERT INTO registers (register_id, shop_id, location_id, document_types, requirements,"
        " price_edit_allowed, updated_at, orders_only, register_number)"
        " VALUES (?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(register_id) DO UPDATE SET shop_id = excluded.shop_id,"
        " location_id = excluded.location_id, document_types = excluded.document_types,"
        " requirements = excluded.requirements, price_edit_allowed = excluded.price_edit_allowed,"
        " updated_at = excluded.updated_at, orders_only = excluded.orders_only,"
        " register_number = excluded.register_number",
        (
            reg.register_id,
            reg.shop_id,
            reg.location_id,
            docs,
            reqs,
            int(reg.price_edit_allowed),
            to_db(when),
            int(reg.orders_only),
            reg.register_number if numbered else UNASSIGNED_NUMBER,
        ),
    )
    return existed is None


# -- daily rates ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DailyRate:
    base_currency: str
    currency: str
    day: date
    rate: Decimal


def put_daily_rate(conn: sqlite3.Connection, r: DailyRate) -> None:
    conn.execute(
        "INSERT INTO exchange_rates (base_currency, currency, day, rate) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(base_currency, currency, day) DO UPDATE SET rate = excluded.rate",
        (r.base_currency, r.currency, r.day.isoformat(), str(r.rate)),
    )


def daily_rate(conn: sqlite3.Connection, base: str, currency: str, day: date) -> DailyRate | None:
    """The rate of ``day`` or, failing that, the latest one before it."""
    row = conn.execute(
        "SELECT day, rate FROM exchange_rates WHERE base_currency = ? AND currency = ?"
        " AND day <= ? ORDER BY day DESC LIMIT 1",
        (base, currency, day.isoformat()),
    ).fetchone()
    if row is None:
        return None
    return DailyRate(base, currency, date.fromisoformat(row[0]), Decimal(row[1]))


# -- defaults ---------------------------------------------------------------------------------


def ensure_defaults(
    conn: sqlite3.Connection, register_id: str, currency: str, when: datetime
) -> Register:
    """The register's master data, created on first start: one shop in the register's
    currency with an anonymous walk-in customer, the register at location MAIN."""
    reg = get_register(conn, register_id)
    if reg is not None:
        return reg
    if get_shop(conn, DEFAULT_SHOP_ID) is None:
        upsert_shop(
            conn,
            Shop(
                shop_id=DEFAULT_SHOP_ID,
                name="Shop",
                currency=currency,
                default_customer_number=ANONYMOUS_NUMBER,
                # the embedded demo has no stock data: sell anyway, with a warning
                allow_negative_stock=True,
            ),
            when,
        )
    if customer_store.get(conn, ANONYMOUS_NUMBER) is None:
        customer_store.upsert(
            conn, Customer(number=ANONYMOUS_NUMBER, name="Laufkunde", anonymous=True), when
        )
    reg = Register(register_id=register_id, shop_id=DEFAULT_SHOP_ID, location_id=DEFAULT_LOCATION)
    # no number yet: the back office gives it one (see UNASSIGNED_NUMBER)
    upsert_register(conn, reg, when, numbered=False)
    return get_register(conn, register_id) or reg
