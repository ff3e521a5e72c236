"""The receipt archive: posted receipts filtered and paged, one receipt in full."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import datetime

from posd_daemon.domain.errors import invalid, not_found
from posd_daemon.domain.money import MAX_MINOR
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.text import check_code
from posd_daemon.services import paging
from posd_daemon.store import day as day_store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import outbox as outbox_store
from posd_daemon.store import receipts as receipt_store
from posd_daemon.store import sales as sale_store
from posd_daemon.store.outbox import OutboxJob
from posd_daemon.store.receipts import ReceiptSummary


@dataclass(frozen=True, slots=True)
class ReceiptFilter:
    number_from: int = 0
    number_to: int = 0
    start: datetime | None = None
    end: datetime | None = None
    gross_min: int | None = None
    gross_max: int | None = None
    method: str = ""
    operator_id: str = ""
    register_id: str = ""
    net_min: int | None = None
    net_max: int | None = None
    customer_number: str = ""


@dataclass(frozen=True, slots=True)
class ReceiptDetail:
    sale: Sale
    tse: fstore.SaleTse | None
    bon_id: int
    z_nr: int | None
    shift_id: int | None
    late: bool
    prints: tuple[OutboxJob, ...] = field(default_factory=tuple)


def list_receipts(
    conn: sqlite3.Connection,
    f: ReceiptFilter,
    page_size: int,
    page_token: str,
    *,
    default_register: str = "",
) -> tuple[list[ReceiptSummary], str]:
    """Posted receipts, newest first (keyset on the receipt number).

    The register is always part of the query (``f.register_id`` or
    ``default_register``): receipt numbers are per register, and the (register_id,
    receipt_number) index then serves the order, so a page reads ~page_size rows."""
    size = paging.page_size(page_size, default=50, maximum=500)
    register = f.register_id or default_register
    # the filters as the query reads them: the register the request named or defaulted to
    scope = (replace(f, register_id=register),)
    before = paging.decode_int(page_token, "r", empty=2**62, scope=scope)
    check_code(register, "register_id")
    if f.number_from < 0 or f.number_to < 0:
        raise invalid("receipt_number_from", "must not be negative")
    if f.number_to and f.number_to < f.number_from:
        raise invalid("receipt_number_to", "must not be below receipt_number_from")
    if f.start is not None and f.end is not None and f.end <= f.start:
        raise invalid("end_time", "must be after start_time")
    for value, name in (
        (f.gross_min, "gross_min"),
        (f.gross_max, "gross_max"),
        (f.net_min, "net_min"),
        (f.net_max, "net_max"),
    ):
        if value is not None and abs(value) > MAX_MINOR:
            raise invalid(name, "out of range")
    if f.gross_min is not None and f.gross_max is not None and f.gross_max < f.gross_min:
        raise invalid("gross_max", "must not be below gross_min")
    lo = max(f.number_from, 1)
    hi = min(before - 1, f.number_to or 2**62)
    if f.start is not None or f.end is not None:
        span = receipt_store.numbers_posted_between(conn, register, f.start, f.end)
        if span is None:
            return [], ""
        lo, hi = max(lo, span[0]), min(hi, span[1])
    if hi < lo:
        return [], ""
    if f.net_min is not None and f.net_max is not None and f.net_max < f.net_min:
        raise invalid("net_max", "must not be below net_min")
    if f.customer_number:
        check_code(f.customer_number, "customer_number")
    if f.operator_id:
        check_code(f.operator_id, "operator_id")
    query = receipt_store.ReceiptQuery(
        register_id=register,
        lo=lo,
        hi=hi,
        start=f.start,
        end=f.end,
        gross_min=f.gross_min,
        gross_max=f.gross_max,
        method=f.method,
        net_min=f.net_min,
        net_max=f.net_max,
        customer_number=f.customer_number,
        operator_id=f.operator_id,
    )
    out, more = receipt_store.page(conn, query, size)
    token = paging.encode("r", out[-1].receipt_number, scope) if more and out else ""
    return out, token


def get_receipt(
    conn: sqlite3.Connection, *, sale_id: str = "", receipt_number: int = 0, register_id: str
) -> ReceiptDetail:
    if sale_id:
        check_code(sale_id, "sale_id")
    elif receipt_number > 0:
        found = receipt_store.sale_of_receipt(conn, register_id, receipt_number)
        if found is None:
            raise not_found("RECEIPT_NOT_FOUND", f"no receipt {receipt_number}")
        sale_id = found
    else:
        raise invalid("receipt_ref", "give sale_id or receipt_number")
    sale = sale_store.get(conn, sale_id)
    if sale is None or sale.receipt_number == 0:
        raise not_found("RECEIPT_NOT_FOUND", f"no posted receipt for sale {sale_id!r}")
    v = day_store.vorgang_of_sale(conn, sale_id)
    prints = tuple(outbox_store.jobs_of(conn, sale_id))
    return ReceiptDetail(
        sale=sale,
        tse=fstore.get(conn, sale_id),
        bon_id=v.bon_id if v else 0,
        z_nr=v.z_nr if v else None,
        shift_id=v.shift_id if v else None,
        late=v.late if v else False,
        prints=prints,
    )
