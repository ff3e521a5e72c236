"""Persistence of sales (aggregate in, aggregate out) and the receipt counter."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from posd_daemon.domain.catalog import ItemType
from posd_daemon.domain.customer import NO_CUSTOMER, CustomerSnapshot
from posd_daemon.domain.payments import Payment, PaymentMethod
from posd_daemon.domain.sale import DiscountOrigin, LineKind, Sale, SaleLine, SaleState
from posd_daemon.domain.shop import DocumentType, RateSource
from posd_daemon.domain.vat import PriceBasis, VatCategory, VatRounding
from posd_daemon.store.timeutil import from_db, opt_from_db, to_db

_SALE_COLS = (
    "sale_id, register_id, operator_id, currency, state, created_at, posted_at, cancelled_at,"
    " cancel_reason, receipt_number, revision, next_line_no, next_payment_no, seq,"
    " shop_id, location_id, local_currency, exchange_rate, rate_source, rate_date,"
    " vat_direction, vat_rounding, customer_json, customer_discount, discount_percent,"
    " discount_code, discount_origin, pickup_date, document_type, document_forced, warnings,"
    " updated_at, training, change_currency, change_local, parking_code, parked_at, held_by,"
    " origin_register, reverses_sale_id, reverses_receipt, discount_cap, order_number,"
    " change_rounding"
)

_LINE_COLS = (
    "line_id, item_id, name, quantity, unit, unit_price, vat_category, vat_rate,"
    " scanned_code, fractional, variant_id, unit_factor, item_type, list_price, list_basis,"
    " price_overridden, discount_percent, discount_origin, lot, serial, pickup_date,"
    " kind, fixed_amount, ref_sale_id, ref_line_id, ref_receipt, voucher_code, discount_cap,"
    " pack_price, fixed_total, override_price, override_currency, override_rate,"
    " override_basis, note"
)
_PAYMENT_COLS = (
    "payment_id, method, amount, card_institute, authorization_code, contract_number,"
    " reference, rounding_step, down_payment_for"
)


def _opt_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


#: sale_lines.price_overridden: 0 the catalog's price, 1 an operator's (or, written
#: before the label's value existed, a price label's: the two are not told apart
#: there), 2 a price label's. Kept in the one column rather than a new one: a line is
#: overridden whenever it is not 0, as every reader of the column (and a daemon of an
#: earlier version, reading it as a boolean) has always taken it.
_PRICE_BY_OPERATOR = 1
_PRICE_BY_LABEL = 2


def _price_origin(line: SaleLine) -> int:
    if not line.price_overridden:
        return 0
    return _PRICE_BY_LABEL if line.price_from_label else _PRICE_BY_OPERATOR


def _override_columns(line: SaleLine) -> tuple[int | None, str | None, str | None, str | None]:
    """override_price, override_currency, override_rate, override_basis (schema 26)."""
    if line.override_price is None:
        return None, None, None, None
    return (
        line.override_price,
        line.override_currency,
        str(line.override_rate),
        line.override_basis.value,
    )


def _opt_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _opt_doc(text: str | None) -> DocumentType | None:
    return DocumentType(text) if text else None


def _sale_from_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Sale:
    customer = CustomerSnapshot.from_dict(json.loads(row[22])) if row[22] else NO_CUSTOMER
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
        shop_id=row[14] or "",
        location_id=row[15] or "",
        local_currency=row[16] or row[3],
        exchange_rate=Decimal(row[17] or 1),
        rate_source=RateSource(row[18] or "NONE"),
        rate_date=_opt_date(row[19]),
        vat_direction=PriceBasis(row[20] or "GROSS"),
        vat_rounding=VatRounding(row[21] or "DOCUMENT"),
        customer=customer,
        customer_discount_percent=Decimal(row[23] or 0),
        discount_percent=Decimal(row[24] or 0),
        discount_code=row[25] or "",
        discount_origin=DiscountOrigin(row[26] or ""),
        pickup_date=_opt_date(row[27]),
        document_type=_opt_doc(row[28]),
        document_forced=_opt_doc(row[29]),
        warnings=list(json.loads(row[30])) if row[30] else [],
        updated_at=opt_from_db(row[31]),
        training=bool(row[32]),
        change_currency=row[33] or "",
        change_local=int(row[34] or 0),
        parking_code=row[35] or "",
        parked_at=opt_from_db(row[36]),
        held_by=row[37] or "",
        origin_register=row[38] or "",
        reverses_sale_id=row[39] or "",
        reverses_receipt=int(row[40] or 0),
        discount_cap=_opt_decimal(row[41]),
        order_number=row[42] or "",
        change_rounding=None if row[43] is None else int(row[43]),
    )
    for r in conn.execute(
        f"SELECT {_LINE_COLS} FROM sale_lines WHERE sale_id = ? ORDER BY position",
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
                variant_id=r[10],
                unit_factor=Decimal(r[11]),
                item_type=ItemType(r[12]),
                list_price=None if r[13] is None else int(r[13]),
                list_basis=PriceBasis(r[14]),
                price_overridden=bool(r[15]),
                price_from_label=r[15] == _PRICE_BY_LABEL,
                discount_percent=Decimal(r[16]),
                discount_origin=DiscountOrigin(r[17]),
                lot=r[18],
                serial=r[19],
                pickup_date=_opt_date(r[20]),
                kind=LineKind(r[21]),
                fixed_amount=None if r[22] is None else int(r[22]),
                ref_sale_id=r[23],
                ref_line_id=r[24],
                ref_receipt=int(r[25]),
                voucher_code=r[26],
                discount_cap=_opt_decimal(r[27]),
                pack_price=None if r[28] is None else int(r[28]),
                fixed_total=None if r[29] is None else int(r[29]),
                # NULL (a row before schema 26): no price as set, the defaults unused
                override_price=None if r[30] is None else int(r[30]),
                override_currency=r[31] or "",
                override_rate=Decimal(r[32] or 1),
                override_basis=PriceBasis(r[33] or "GROSS"),
                note=r[34],
            )
        )
    for r in conn.execute(
        f"SELECT {_PAYMENT_COLS} FROM sale_payments WHERE sale_id = ? ORDER BY position",
        (sale.sale_id,),
    ):
        sale.payments.append(
            Payment(
                r[0],
                PaymentMethod(r[1]),
                int(r[2]),
                card_institute=r[3],
                authorization_code=r[4],
                contract_number=r[5],
                reference=r[6],
                rounding_step=int(r[7]),
                down_payment_for=r[8],
            )
        )
    inv = conn.execute(
        "SELECT customer FROM sale_invoices WHERE sale_id = ?", (sale.sale_id,)
    ).fetchone()
    if inv is not None:
        sale.invoice_to = CustomerSnapshot.from_dict(json.loads(inv[0]))
    sale.refresh()
    return sale


def get(conn: sqlite3.Connection, sale_id: str) -> Sale | None:
    row = conn.execute(f"SELECT {_SALE_COLS} FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return None if row is None else _sale_from_row(conn, row)


def state_of(conn: sqlite3.Connection, sale_id: str) -> SaleState | None:
    """The state of a sale (None: no such sale): one primary-key lookup."""
    row = conn.execute("SELECT state FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return None if row is None else SaleState(row[0])


def receipt_number_of(conn: sqlite3.Connection, sale_id: str) -> int:
    """The sale's receipt number (0: not posted or no such sale)."""
    row = conn.execute("SELECT receipt_number FROM sales WHERE sale_id = ?", (sale_id,))
    found = row.fetchone()
    return 0 if found is None or found[0] is None else int(found[0])


def vouchers_valid_until(conn: sqlite3.Connection, sale_id: str) -> dict[str, date]:
    """The valid-until dates of the vouchers the sale sold, by code (vouchers that never
    expire, or were sold before vouchers had a validity, are not in it)."""
    rows = conn.execute(
        "SELECT code, valid_until FROM vouchers WHERE sold_sale_id = ? AND valid_until IS NOT NULL",
        (sale_id,),
    )
    return {str(code): date.fromisoformat(until) for code, until in rows}


def serial_in_other_sale(
    conn: sqlite3.Connection, item_id: str, serial: str, except_sale: str = ""
) -> tuple[str, str] | None:
    """(sale id, state) of an OPEN or PARKED sale other than ``except_sale`` holding the
    item's serial number on a line; None when none does."""
    row = conn.execute(
        "SELECT l.sale_id, s.state FROM sale_lines AS l JOIN sales AS s"
        " ON s.sale_id = l.sale_id WHERE s.state IN ('OPEN', 'PARKED') AND l.item_id = ?"
        " AND l.serial = ? AND l.sale_id <> ?",
        (item_id, serial, except_sale),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def has_lines(conn: sqlite3.Connection, sale_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM sale_lines WHERE sale_id = ? LIMIT 1", (sale_id,))
    return row.fetchone() is not None


def version_of(conn: sqlite3.Connection, sale_id: str) -> int | None:
    """How often the sale row was written (None: no such sale)."""
    row = conn.execute("SELECT version FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return None if row is None else int(row[0])


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


def _extra(sale: Sale) -> tuple[Any, ...]:
    """The schema-4 columns of a sale row, in _EXTRA_COLS order."""
    return (
        sale.shop_id or None,
        sale.location_id or None,
        sale.local_currency,
        str(sale.exchange_rate),
        sale.rate_source.value,
        sale.rate_date.isoformat() if sale.rate_date else None,
        sale.vat_direction.value,
        sale.vat_rounding.value,
        sale.customer.number or None,
        json.dumps(sale.customer.to_dict(), sort_keys=True) if sale.customer.number else None,
        str(sale.customer_discount_percent),
        str(sale.discount_percent),
        sale.discount_code,
        sale.discount_origin.value,
        sale.pickup_date.isoformat() if sale.pickup_date else None,
        sale.document_type.value if sale.document_type else None,
        sale.document_forced.value if sale.document_forced else None,
        json.dumps(sale.warnings) if sale.warnings else None,
        to_db(sale.updated_at) if sale.updated_at else None,
        sale.total_local,
        sale.net_total,
        int(sale.training),
        sale.rounding,
        sale.change_currency,
        sale.change_local,
        sale.parking_code or None,
        to_db(sale.parked_at) if sale.parked_at else None,
        sale.held_by,
        sale.origin_register,
        sale.reverses_sale_id or None,
        sale.reverses_receipt,
        None if sale.discount_cap is None else str(sale.discount_cap),
        sale.order_number,
        sale.change_rounding,
    )


_EXTRA_COLS = (
    "shop_id", "location_id", "local_currency", "exchange_rate", "rate_source", "rate_date",
    "vat_direction", "vat_rounding", "customer_number", "customer_json", "customer_discount",
    "discount_percent", "discount_code", "discount_origin", "pickup_date", "document_type",
    "document_forced", "warnings", "updated_at", "total_local", "net_total", "training",
    "rounding", "change_currency", "change_local", "parking_code", "parked_at", "held_by",
    "origin_register", "reverses_sale_id", "reverses_receipt", "discount_cap", "order_number",
    "change_rounding",
)  # fmt: skip

#: The sale row's columns written by :func:`update`, in the order of its values.
_ROW_COLS = (
    "state", "posted_at", "cancelled_at", "cancel_reason", "receipt_number", "revision",
    "next_line_no", "next_payment_no", "total", "currency", *_EXTRA_COLS,
)  # fmt: skip


def insert(conn: sqlite3.Connection, sale: Sale) -> None:
    cols = (
        "sale_id, register_id, operator_id, currency, state, created_at, revision,"
        " next_line_no, next_payment_no, total, " + ", ".join(_EXTRA_COLS)
    )
    values = (
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
        *_extra(sale),
    )
    conn.execute(f"INSERT INTO sales ({cols}) VALUES ({','.join('?' * len(values))})", values)
    _write_children(conn, sale)


def update(
    conn: sqlite3.Connection, sale: Sale, when: datetime | None = None, *, children: bool = True
) -> int:
    """Writes the aggregate back: the sale row, plus all lines and payments unless
    ``children`` is False (a change of the sale row only, such as posting).
    Returns the row's new write version (see :func:`version_of`).

    Only the columns that differ from what this same object's last write put there are
    set (all of them for a freshly loaded sale): a scan changes a few totals, and each
    indexed column left out of the SET spares its index an update and the WAL a page."""
    if when is not None:
        sale.updated_at = when
    values = (
        sale.state.value,
        to_db(sale.posted_at) if sale.posted_at else None,
        to_db(sale.cancelled_at) if sale.cancelled_at else None,
        sale.cancel_reason,
        sale.receipt_number or None,
        sale.revision,
        sale.next_line_no,
        sale.next_payment_no,
        sale.total,
        sale.currency,
        *_extra(sale),
    )
    written = _written(sale)
    old = written.row
    changed = (
        range(len(values))
        if old is None
        else [k for k, (new, was) in enumerate(zip(values, old, strict=True)) if new != was]
    )
    row = conn.execute(
        "UPDATE sales SET "
        + "".join(f"{_ROW_COLS[k]} = ?, " for k in changed)
        + "version = version + 1 WHERE sale_id = ? RETURNING version",
        (*(values[k] for k in changed), sale.sale_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"no sale {sale.sale_id!r} to update")
    sale.persisted = written._replace(row=values)
    version = int(row[0])
    if not children:
        return version
    conn.execute("DELETE FROM sale_lines WHERE sale_id = ?", (sale.sale_id,))
    conn.execute("DELETE FROM sale_payments WHERE sale_id = ?", (sale.sale_id,))
    _write_children(conn, sale)
    return version


def delete_empty(conn: sqlite3.Connection, sale_id: str) -> bool:
    """Deletes an open sale without lines or payments (an abandoned empty sale)."""
    cur = conn.execute(
        "DELETE FROM sales WHERE sale_id = ? AND state = 'OPEN'"
        " AND NOT EXISTS (SELECT 1 FROM sale_lines WHERE sale_id = ?)"
        " AND NOT EXISTS (SELECT 1 FROM sale_payments WHERE sale_id = ?)"
        " AND NOT EXISTS (SELECT 1 FROM sale_tse WHERE sale_id = ?)",
        (sale_id, sale_id, sale_id, sale_id),
    )
    return cur.rowcount == 1


def open_sale_ids(
    conn: sqlite3.Connection,
    *,
    register_id: str,
    idle_since: datetime,
    operator_id: str | None = None,
) -> list[str]:
    """Open sales of the register not changed since ``idle_since`` (oldest first)."""
    sql = (
        "SELECT sale_id FROM sales WHERE state = 'OPEN' AND register_id = ?"
        " AND COALESCE(updated_at, created_at) < ?"
    )
    args: list[str] = [register_id, to_db(idle_since)]
    if operator_id is not None:
        sql += " AND operator_id = ?"
        args.append(operator_id)
    return [r[0] for r in conn.execute(sql + " ORDER BY seq", args)]


def empty_open_sale_ids(
    conn: sqlite3.Connection, *, register_id: str, operator_id: str | None, idle_since: datetime
) -> list[str]:
    """Open sales without lines and payments, idle since ``idle_since``."""
    sql = (
        "SELECT s.sale_id FROM sales AS s WHERE s.state = 'OPEN' AND s.register_id = ?"
        " AND COALESCE(s.updated_at, s.created_at) < ?"
        " AND NOT EXISTS (SELECT 1 FROM sale_lines AS l WHERE l.sale_id = s.sale_id)"
        " AND NOT EXISTS (SELECT 1 FROM sale_payments AS p WHERE p.sale_id = s.sale_id)"
    )
    args: list[str] = [register_id, to_db(idle_since)]
    if operator_id is not None:
        sql += " AND s.operator_id = ?"
        args.append(operator_id)
    return [r[0] for r in conn.execute(sql + " ORDER BY s.seq", args)]


def save_invoice(
    conn: sqlite3.Connection,
    sale_id: str,
    customer: CustomerSnapshot,
    operator_id: str,
    when: datetime,
) -> bool:
    """Records the full invoice of a posted sale; False when one was issued already."""
    cur = conn.execute(
        "INSERT INTO sale_invoices (sale_id, customer, operator_id, issued_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT(sale_id) DO NOTHING",
        (sale_id, json.dumps(customer.to_dict(), sort_keys=True), operator_id, to_db(when)),
    )
    return cur.rowcount == 1


def invoice_issued_at(conn: sqlite3.Connection, sale_id: str) -> datetime | None:
    """When the full invoice of a posted sale was issued (PrintInvoice, or the posting of
    a correction crediting goods returned from an invoice), None when none was: the
    invoice's date of issue, which the sale's own dates do not keep."""
    row = conn.execute(
        "SELECT issued_at FROM sale_invoices WHERE sale_id = ?", (sale_id,)
    ).fetchone()
    return None if row is None else from_db(row[0])


def posted_reversal(conn: sqlite3.Connection, sale_id: str) -> tuple[str, int] | None:
    """The posted storno of a sale (its sale id and receipt number), None when none."""
    row = conn.execute(
        "SELECT sale_id, receipt_number FROM sales WHERE reverses_sale_id = ? AND state = 'POSTED'",
        (sale_id,),
    ).fetchone()
    return None if row is None else (row[0], int(row[1]))


#: a sale's child rows as written: sale_lines rows, sale_payments rows (position order)
ChildRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]

_LINE_INSERT = (
    "INSERT OR REPLACE INTO sale_lines (sale_id, position, " + _LINE_COLS + ", amount, discount)"
    " VALUES (" + ",".join("?" * 39) + ")"
)
_PAYMENT_INSERT = (
    "INSERT OR REPLACE INTO sale_payments (sale_id, position, " + _PAYMENT_COLS + ", kept)"
    " VALUES (" + ",".join("?" * 12) + ")"
)


class Written(NamedTuple):
    """What the store last wrote for one Sale object (kept in its opaque ``persisted``;
    replaced, never changed, so copies of a sale never share a later write)."""

    row: tuple[Any, ...] | None = None
    children: ChildRows | None = None


def _written(sale: Sale) -> Written:
    written = sale.persisted
    return written if isinstance(written, Written) else Written()


def child_rows(sale: Sale) -> ChildRows:
    """The sale_lines and sale_payments rows of a sale, in position order."""
    posted = sale.state is SaleState.POSTED
    return (
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
                ln.variant_id,
                str(ln.unit_factor),
                ln.item_type.value,
                ln.list_price,
                ln.list_basis.value,
                _price_origin(ln),
                str(ln.discount_percent),
                ln.discount_origin.value,
                ln.lot,
                ln.serial,
                ln.pickup_date.isoformat() if ln.pickup_date else None,
                ln.kind.value,
                ln.fixed_amount,
                ln.ref_sale_id,
                ln.ref_line_id,
                ln.ref_receipt,
                ln.voucher_code,
                None if ln.discount_cap is None else str(ln.discount_cap),
                ln.pack_price,
                ln.fixed_total,
                *_override_columns(ln),
                ln.note,
                ln.amount,
                ln.line_discount + ln.doc_discount,
            )
            for i, ln in enumerate(sale.lines)
        ],
        [
            (
                sale.sale_id,
                i,
                p.payment_id,
                p.method.value,
                p.amount,
                p.card_institute,
                p.authorization_code,
                p.contract_number,
                p.reference,
                p.rounding_step,
                p.down_payment_for,
                kept if posted else None,
            )
            for i, (p, kept) in enumerate(sale.kept_amounts())
        ],
    )


def _write_children(conn: sqlite3.Connection, sale: Sale) -> None:
    rows = child_rows(sale)
    conn.executemany(_LINE_INSERT, rows[0])
    conn.executemany(_PAYMENT_INSERT, rows[1])
    sale.persisted = _written(sale)._replace(children=rows)


def save_open(conn: sqlite3.Connection, sale: Sale, when: datetime) -> int:
    """Writes an open sale back: the sale row, and its lines and payments only where
    they differ from what this same object's last save wrote (``sale.persisted``; a
    freshly loaded sale rewrites them all). Returns the row's new write version.

    A save that rolls back leaves ``persisted`` ahead of the database; that is safe
    because such an object is never saved again (the daemon drops it with its failed
    change and loads the sale afresh)."""
    version = update(conn, sale, when, children=False)
    rows = child_rows(sale)
    before = _written(sale)
    written = before.children
    sale.persisted = before._replace(children=rows)
    if written is None:
        written = ([], [])
        conn.execute("DELETE FROM sale_lines WHERE sale_id = ?", (sale.sale_id,))
        conn.execute("DELETE FROM sale_payments WHERE sale_id = ?", (sale.sale_id,))
    for table, sql, new, old in (
        ("sale_lines", _LINE_INSERT, rows[0], written[0]),
        ("sale_payments", _PAYMENT_INSERT, rows[1], written[1]),
    ):
        changed = [r for k, r in enumerate(new) if k >= len(old) or old[k] != r]
        if changed:
            conn.executemany(sql, changed)
        if len(old) > len(new):
            conn.execute(
                f"DELETE FROM {table} WHERE sale_id = ? AND position >= ?",
                (sale.sale_id, len(new)),
            )
    return version


def save_posted_amounts(conn: sqlite3.Connection, sale: Sale) -> None:
    """A posted sale's per-rate totals, each line's gross (schema 6) and each payment's kept
    amount (the change deducted), as on the receipt."""
    with sale.frozen_totals():
        totals = sale.vat_totals()
        gross = sale.line_gross_amounts()
    conn.executemany(
        "INSERT OR REPLACE INTO sale_vat_totals (sale_id, position, vat_category, vat_rate,"
        " gross, net, tax) VALUES (?,?,?,?,?,?,?)",
        [
            (sale.sale_id, i, int(v.category), str(v.percent), v.gross, v.net, v.tax)
            for i, v in enumerate(totals)
        ],
    )
    conn.executemany(
        "UPDATE sale_lines SET gross = ? WHERE sale_id = ? AND line_id = ?",
        [(g, sale.sale_id, line_id) for line_id, g in gross.items()],
    )
    conn.executemany(
        "UPDATE sale_payments SET kept = ? WHERE sale_id = ? AND position = ?",
        [(kept, sale.sale_id, i) for i, (_, kept) in enumerate(sale.kept_amounts())],
    )
    if sale.reverses_sale_id:
        # a storno line is the original line's amount negated, a fixed amount without a
        # discount of its own; it takes back the original's discount too, so the Z books
        # Umsatz -26.97 / Rabatt +2.70 against +26.97 / -2.70, not Umsatz -24.27 alone
        conn.execute(
            "UPDATE sale_lines SET discount = -(SELECT o.discount FROM sale_lines AS o"
            " WHERE o.sale_id = sale_lines.ref_sale_id AND o.line_id = sale_lines.ref_line_id)"
            " WHERE sale_id = ? AND ref_sale_id = ? AND ref_line_id != ''",
            (sale.sale_id, sale.reverses_sale_id),
        )


def next_counter(conn: sqlite3.Connection, name: str, floor: int = 1) -> int:
    """Increments and returns a named counter inside the caller's transaction (gapless
    unless ``floor``, the least value it returns, skips ahead)."""
    row = conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = MAX(value + 1, excluded.value)"
        " RETURNING value",
        (name, floor),
    ).fetchone()
    return int(row[0])


def parking_code_taken(conn: sqlite3.Connection, code: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sales WHERE parking_code = ?", (code,)).fetchone() is not None
    )


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


class PendingImport(NamedTuple):
    """A hand-over this register asked for and has not imported (schema 20)."""

    code: str
    operator_json: str
    request: bytes


def add_pending_import(
    conn: sqlite3.Connection, code: str, operator_json: str, request: bytes, when: datetime
) -> None:
    """Records, before another register is asked, that this register asks for the sale
    of ``code`` (kept as first recorded when asked again before the import)."""
    conn.execute(
        "INSERT INTO pending_imports (code, operator_json, request, recorded_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT(code) DO NOTHING",
        (code, operator_json, request, to_db(when)),
    )


def drop_pending_import(conn: sqlite3.Connection, code: str) -> None:
    conn.execute("DELETE FROM pending_imports WHERE code = ?", (code,))


def pending_imports(conn: sqlite3.Connection) -> list[PendingImport]:
    rows = conn.execute(
        "SELECT code, operator_json, request FROM pending_imports ORDER BY recorded_at, code"
    ).fetchall()
    return [PendingImport(str(r[0]), str(r[1]), bytes(r[2])) for r in rows]


def last_changed_open_sale(conn: sqlite3.Connection) -> Sale | None:
    """The open sale changed last that takes scans (not a storno: it cannot be changed),
    or None. By its last change, not its creation: a sale resumed or scanned into after
    a newer one was created is the one being worked on."""
    row = conn.execute(
        f"SELECT {_SALE_COLS} FROM sales WHERE state = 'OPEN' AND reverses_sale_id IS NULL"
        " ORDER BY COALESCE(updated_at, created_at) DESC, seq DESC LIMIT 1"
    ).fetchone()
    return _sale_from_row(conn, row) if row is not None else None


def lines_taking_back(
    conn: sqlite3.Connection, sale_id: str, line_id: str, *, exclude_sale: str = ""
) -> list[tuple[Decimal, int, Decimal, PriceBasis]]:
    """(quantity, amount, rate, basis) of posted, unreversed return lines taking back the line."""
    return [
        (Decimal(qty), int(amount or 0), Decimal(rate), PriceBasis(direction))
        for qty, amount, rate, direction in conn.execute(
            "SELECT l.quantity, l.fixed_amount, l.vat_rate, s.vat_direction FROM sale_lines AS l"
            " JOIN sales AS s ON s.sale_id = l.sale_id"
            " WHERE l.ref_sale_id = ? AND l.ref_line_id = ? AND l.kind IN ('RETURN', 'GOODS')"
            " AND s.state = 'POSTED' AND s.sale_id != ?"
            " AND NOT EXISTS (SELECT 1 FROM sales AS r"
            " WHERE r.reverses_sale_id = s.sale_id AND r.state = 'POSTED')",
            (sale_id, line_id, exclude_sale),
        )
    ]


def returnable_lines(
    conn: sqlite3.Connection,
    *,
    item_id: str,
    receipt_number: int,
    register_id: str,
    before: int,
    limit: int,
) -> list[tuple[Any, ...]]:
    """A page of the goods lines of the register's posted receipts, of the item or receipt."""
    if item_id:
        where, arg = "l.item_id = ?", item_id
    else:
        where, arg = "s.receipt_number = ?", str(receipt_number)
    return conn.execute(
        "SELECT s.sale_id, s.receipt_number, l.line_id, s.posted_at, l.item_id, l.name,"
        " l.quantity, l.amount, l.unit_price, l.discount_percent, s.currency, s.seq"
        " FROM sale_lines AS l JOIN sales AS s ON s.sale_id = l.sale_id"
        f" WHERE {where} AND s.state = 'POSTED' AND s.register_id = ? AND s.training = 0"
        " AND s.reverses_sale_id IS NULL AND l.kind = 'GOODS' AND s.seq < ?"
        " ORDER BY s.seq DESC, l.position LIMIT ?",
        (arg, register_id, before, limit),
    ).fetchall()


def line_quantity(conn: sqlite3.Connection, sale_id: str, line_id: str) -> Decimal:
    """The quantity of a sale's line (0: no such line)."""
    row = conn.execute(
        "SELECT quantity FROM sale_lines WHERE sale_id = ? AND line_id = ?", (sale_id, line_id)
    ).fetchone()
    return Decimal(row[0]) if row is not None else Decimal(0)


def posted_or_open_reversals(conn: sqlite3.Connection, sale_id: str) -> list[tuple[str, Any, str]]:
    """The posted and open stornos of a sale: (sale id, receipt number, state) each."""
    rows = conn.execute(
        "SELECT sale_id, receipt_number, state FROM sales WHERE reverses_sale_id = ?"
        " AND state IN ('POSTED', 'OPEN')",
        (sale_id,),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def reversal_receipt_numbers(conn: sqlite3.Connection, sale_id: str) -> tuple[Any, Any] | None:
    """The receipt numbers of a sale's posted storno and of the sale; None: not reversed."""
    found: tuple[Any, Any] | None = conn.execute(
        "SELECT r.receipt_number, o.receipt_number FROM sales AS r"
        " JOIN sales AS o ON o.sale_id = r.reverses_sale_id"
        " WHERE r.reverses_sale_id = ? AND r.state = 'POSTED'",
        (sale_id,),
    ).fetchone()
    return found


def sale_with_parking_code(conn: sqlite3.Connection, code: str) -> str | None:
    """The id of the sale parked under ``code`` (as stored); None: no such sale."""
    row = conn.execute("SELECT sale_id FROM sales WHERE parking_code = ?", (code,)).fetchone()
    return None if row is None else str(row[0])


def stored_change_currency(conn: sqlite3.Connection, sale_id: str) -> str:
    """The change currency committed on the sale row ('' when none)."""
    row = conn.execute("SELECT change_currency FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return str(row[0] or "")


#: The rows a post writes with its time before a post run ahead is claimed (see
#: SaleCommands.redate_post); the register transaction and the completed order (a sale
#: loaded from one) come from triggers on the state.
_REDATE_POST = (
    "UPDATE sales SET posted_at = :new, updated_at = :new"
    " WHERE sale_id = :sale AND posted_at = :old",
    "UPDATE register_transactions SET recorded_at = :new"
    " WHERE sale_id = :sale AND recorded_at = :old",
    "UPDATE stock SET updated_at = :new WHERE updated_at = :old"
    " AND (location_id, item_id, variant_id, lot) IN"
    " (SELECT location_id, item_id, variant_id, lot FROM stock_moves WHERE sale_id = :sale)",
    "UPDATE outbox SET created_at = :new WHERE ref = :sale AND created_at = :old",
    "UPDATE orders SET updated_at = :new WHERE sale_id = :sale AND updated_at = :old",
)


def redate_post(conn: sqlite3.Connection, sale_id: str, old: datetime, new: datetime) -> None:
    """Moves the rows the sale's post wrote at ``old`` to ``new``."""
    args = {"old": to_db(old), "new": to_db(new), "sale": sale_id}
    for sql in _REDATE_POST:
        conn.execute(sql, args)


#: meta key of a sale reconciliation posted: its value the request id of the PostSale
#: that claimed it ('' while none did)
_RECOVERED = "recovered_post:"


def mark_recovered(conn: sqlite3.Connection, sale_id: str) -> None:
    """Notes that reconciliation posted the sale, unclaimed (kept if noted already)."""
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '')", (_RECOVERED + sale_id,))


def recovered_unclaimed(conn: sqlite3.Connection, sale_id: str) -> bool:
    """Whether reconciliation posted the sale and no PostSale claimed it yet."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_RECOVERED + sale_id,)).fetchone()
    return row is not None and row[0] == ""


def claim_recovered(conn: sqlite3.Connection, sale_id: str, request_id: str) -> bool:
    """Claims the sale reconciliation posted for the request; False: not unclaimed."""
    cur = conn.execute(
        "UPDATE meta SET value = ? WHERE key = ? AND value = ''",
        (request_id, _RECOVERED + sale_id),
    )
    return cur.rowcount == 1
