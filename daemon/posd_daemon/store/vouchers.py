"""Persistence of the tracked voucher register (the vouchers table)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from posd_daemon.store.timeutil import from_db, to_db


@dataclass(frozen=True, slots=True)
class Voucher:
    code: str
    item_id: str
    currency: str
    value: int
    state: str
    redeemed: int
    #: the last day it may be redeemed (the register's calendar); None: no expiry
    valid_until: date | None = None

    def expired(self, today: date) -> bool:
        return self.valid_until is not None and today > self.valid_until


def get(conn: sqlite3.Connection, code: str) -> Voucher | None:
    """The voucher with this code; None when no voucher has it."""
    row = conn.execute(
        "SELECT code, item_id, currency, value, state, redeemed, valid_until FROM vouchers"
        " WHERE code = ?",
        (code,),
    ).fetchone()
    if row is None:
        return None
    until = date.fromisoformat(row[6]) if row[6] else None
    return Voucher(row[0], row[1], row[2], int(row[3]), row[4], int(row[5]), until)


def sold_by_and_updated(conn: sqlite3.Connection, code: str) -> tuple[str, datetime] | None:
    """The sale that sold the voucher ('' if none) and when it last changed; None: no voucher."""
    row = conn.execute(
        "SELECT sold_sale_id, updated_at FROM vouchers WHERE code = ?", (code,)
    ).fetchone()
    return None if row is None else (str(row[0] or ""), from_db(row[1]))


def held_redemptions(conn: sqlite3.Connection, code: str) -> list[tuple[int, Decimal, str]]:
    """(amount, VAT rate, price basis) of each open or parked sale's line redeeming it."""
    return [
        (int(amount), Decimal(rate), direction)
        for amount, rate, direction in conn.execute(
            "SELECT l.fixed_amount, l.vat_rate, s.vat_direction FROM sale_lines AS l"
            " JOIN sales AS s ON s.sale_id = l.sale_id"
            " WHERE l.voucher_code = ? AND l.kind = 'VOUCHER_REDEMPTION' AND l.ref_sale_id = ''"
            " AND s.state IN ('OPEN', 'PARKED')",
            (code,),
        )
    ]


def redeeming_sale(conn: sqlite3.Connection, code: str, other_than: str) -> str | None:
    """An open or parked sale other than ``other_than`` that redeems the voucher; None: none."""
    row = conn.execute(
        "SELECT l.sale_id FROM sale_lines AS l JOIN sales AS s ON s.sale_id = l.sale_id"
        " WHERE l.voucher_code = ? AND l.kind = 'VOUCHER_REDEMPTION'"
        " AND s.state IN ('OPEN', 'PARKED') AND s.sale_id != ?",
        (code, other_than),
    ).fetchone()
    return None if row is None else str(row[0])


def sold_vat(conn: sqlite3.Connection, code: str) -> tuple[int, Decimal] | None:
    """The VAT category and rate of the line that sold the voucher; None: no such line."""
    row = conn.execute(
        "SELECT l.vat_category, l.vat_rate FROM vouchers AS v JOIN sale_lines AS l"
        " ON l.sale_id = v.sold_sale_id AND l.voucher_code = v.code AND l.kind = 'GOODS'"
        " WHERE v.code = ?",
        (code,),
    ).fetchone()
    return None if row is None else (int(row[0]), Decimal(row[1]))


def issue(
    conn: sqlite3.Connection,
    code: str,
    *,
    item_id: str,
    currency: str,
    value: int,
    sale_id: str,
    when: datetime,
    valid_until: date | None,
) -> None:
    """Registers a voucher sold by ``sale_id`` as ISSUED."""
    conn.execute(
        "INSERT INTO vouchers (code, item_id, currency, value, state, sold_sale_id,"
        " updated_at, valid_until) VALUES (?, ?, ?, ?, 'ISSUED', ?, ?, ?)",
        (
            code,
            item_id,
            currency,
            value,
            sale_id,
            to_db(when),
            None if valid_until is None else valid_until.isoformat(),
        ),
    )


def void(conn: sqlite3.Connection, code: str, when: datetime) -> None:
    """Voids the voucher whatever its state (a storno of its sale)."""
    conn.execute(
        "UPDATE vouchers SET state = 'VOID', updated_at = ? WHERE code = ?",
        (to_db(when), code),
    )


def redeem(conn: sqlite3.Connection, code: str, taken: int, sale_id: str, when: datetime) -> bool:
    """Takes ``taken`` off an ISSUED voucher holding that much; False when it does not."""
    cur = conn.execute(
        "UPDATE vouchers SET state = CASE WHEN redeemed + ? >= value"
        " THEN 'REDEEMED' ELSE 'ISSUED' END, redeemed = redeemed + ?,"
        " redeemed_sale_id = ?, updated_at = ? WHERE code = ? AND state = 'ISSUED'"
        " AND value - redeemed >= ?",
        (taken, taken, sale_id, to_db(when), code, taken),
    )
    return cur.rowcount == 1


def void_unredeemed(conn: sqlite3.Connection, code: str, when: datetime) -> bool:
    """Voids an ISSUED voucher nothing was redeemed of (taken back); False when it is not one."""
    cur = conn.execute(
        "UPDATE vouchers SET state = 'VOID', updated_at = ? WHERE code = ?"
        " AND state = 'ISSUED' AND redeemed = 0",
        (to_db(when), code),
    )
    return cur.rowcount == 1


def reissue_void(conn: sqlite3.Connection, code: str, when: datetime) -> None:
    """Makes a VOID voucher ISSUED again (a storno of its return)."""
    conn.execute(
        "UPDATE vouchers SET state = 'ISSUED', updated_at = ? WHERE code = ? AND state = 'VOID'",
        (to_db(when), code),
    )


def undo_redemption(conn: sqlite3.Connection, code: str, amount: int, when: datetime) -> None:
    """Takes ``amount`` back off what was redeemed of the voucher, ISSUED again (storno)."""
    conn.execute(
        "UPDATE vouchers SET state = 'ISSUED', redeemed = redeemed - ?,"
        " redeemed_sale_id = NULL, updated_at = ? WHERE code = ?",
        (amount, to_db(when), code),
    )
