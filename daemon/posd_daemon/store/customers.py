"""Persistence of customers."""

from __future__ import annotations

import sqlite3
import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Any

from posd_daemon.domain.customer import Customer, normalize_email
from posd_daemon.domain.vat import PriceBasis
from posd_daemon.store.timeutil import to_db

_COLS = (
    "number, name, company, email, street, postal_code, city, country, vat_id,"
    " default_currency, price_entry, discount_percent, anonymous"
)


def _customer(row: tuple[Any, ...]) -> Customer:
    return Customer(
        number=row[0],
        name=row[1],
        company=row[2],
        email=row[3],
        street=row[4],
        postal_code=row[5],
        city=row[6],
        country=row[7],
        vat_id=row[8],
        default_currency=row[9],
        price_entry=PriceBasis(row[10]),
        discount_percent=Decimal(row[11]),
        anonymous=bool(row[12]),
    )


def get(conn: sqlite3.Connection, number: str) -> Customer | None:
    row = conn.execute(f"SELECT {_COLS} FROM customers WHERE number = ?", (number,)).fetchone()
    return None if row is None else _customer(row)


def by_email(
    conn: sqlite3.Connection, email: str, *, limit: int, except_number: str = ""
) -> list[Customer]:
    """The first ``limit`` customers (by number, but ``except_number``) with the address."""
    norm = normalize_email(email)
    if not norm:
        return []
    rows = conn.execute(
        f"SELECT {_COLS} FROM customers WHERE email_norm = ? AND number != ?"
        " ORDER BY number LIMIT ?",
        (norm, except_number, limit),
    ).fetchall()
    return [_customer(r) for r in rows]


def count_by_email(conn: sqlite3.Connection, email: str, *, except_number: str = "") -> int:
    """How many customers (but ``except_number``) have the address."""
    norm = normalize_email(email)
    if not norm:
        return 0
    row = conn.execute(
        "SELECT COUNT(*) FROM customers WHERE email_norm = ? AND number != ?",
        (norm, except_number),
    ).fetchone()
    return int(row[0])


def search_form(text: str) -> str:
    """Text as search compares it: composed (NFC) and lower case. Keyboards of macOS and
    iOS send an umlaut decomposed ("u" and a combining diaeresis, NFD), back offices
    mostly write it composed (one "ü"): compared as sent, the two spellings of the same
    name would not find each other."""
    return unicodedata.normalize("NFC", text).lower()


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(conn: sqlite3.Connection, query: str, *, after: str, limit: int) -> list[Customer]:
    """Customers whose name, company or e-mail contains every word of ``query``.

    Every word counts (the query is at most 200 characters, so at most 100 words; the
    first eight alone let a ninth narrow nothing). A word is looked for composed and
    decomposed: rows written before search_text was composed (:func:`search_form`) may
    hold a name as an NFD keyboard sent it."""
    words = list(dict.fromkeys(w for w in search_form(query).split() if w))
    where = (
        " AND ".join(
            "(search_text LIKE ? ESCAPE '\\' OR search_text LIKE ? ESCAPE '\\')" for _ in words
        )
        or "1"
    )
    patterns = [_like(f) for w in words for f in (w, unicodedata.normalize("NFD", w))]
    rows = conn.execute(
        f"SELECT {_COLS} FROM customers WHERE ({where}) AND number > ? ORDER BY number LIMIT ?",
        (*patterns, after, limit),
    ).fetchall()
    return [_customer(r) for r in rows]


def upsert(conn: sqlite3.Connection, c: Customer, when: datetime) -> bool:
    existed = conn.execute("SELECT 1 FROM customers WHERE number = ?", (c.number,)).fetchone()
    search_text = " ".join(search_form(p) for p in (c.name, c.company, c.email) if p)
    conn.execute(
        "INSERT INTO customers (number, name, company, email, email_norm, street, postal_code,"
        " city, country, vat_id, default_currency, price_entry, discount_percent, anonymous,"
        " search_text, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(number) DO UPDATE SET name = excluded.name, company = excluded.company,"
        " email = excluded.email, email_norm = excluded.email_norm, street = excluded.street,"
        " postal_code = excluded.postal_code, city = excluded.city, country = excluded.country,"
        " vat_id = excluded.vat_id, default_currency = excluded.default_currency,"
        " price_entry = excluded.price_entry, discount_percent = excluded.discount_percent,"
        " anonymous = excluded.anonymous, search_text = excluded.search_text,"
        " updated_at = excluded.updated_at",
        (
            c.number,
            c.name,
            c.company,
            c.email.strip(),
            normalize_email(c.email),
            c.street,
            c.postal_code,
            c.city,
            c.country,
            c.vat_id,
            c.default_currency,
            c.price_entry.value,
            str(c.discount_percent),
            int(c.anonymous),
            search_text,
            to_db(when),
        ),
    )
    return existed is None
