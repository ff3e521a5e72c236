"""Sale use cases. Each runs inside one database transaction on the database thread."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid, not_found, precondition
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.sale import PaymentMethod, Sale, SaleState, parse_quantity
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.domain.vat import VatTable
from posd_daemon.ops import crashpoints
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.services.fiscal import receipt_process_data
from posd_daemon.services.records import sale_record
from posd_daemon.store import catalog as catalog_store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import journal, outbox
from posd_daemon.store import sales as sale_store
from posd_daemon.store.timeutil import to_db


@dataclass(frozen=True, slots=True)
class RegisterSettings:
    register_id: str
    currency: str


@dataclass(frozen=True, slots=True)
class LineAdded:
    sale: Sale
    line_id: str


@dataclass(frozen=True, slots=True)
class PaymentAdded:
    sale: Sale
    payment_id: str


def fiscal_record(row: fstore.SaleTse) -> dict[str, object]:
    return {
        "state": row.state,
        "client_id": row.client_id,
        "transaction_number": row.transaction_number,
        "start_time": to_db(row.start_time) if row.start_time else None,
        "finish_time": to_db(row.finish_time) if row.finish_time else None,
        "signature_counter": row.finish_counter,
        "process_type": row.process_type,
        "process_data": row.process_data,
        "signature": row.signature,
        "tse_serial": row.tse_serial,
        "outage_number": row.outage_number,
    }


def receipt_counter(register_id: str) -> str:
    return f"receipt:{register_id}"


class SaleCommands:
    def __init__(
        self,
        settings: RegisterSettings,
        vat: VatTable,
        clock: Clock,
        on_outbox: Callable[[], None],
    ) -> None:
        self._s = settings
        self._vat = vat
        self._clock = clock
        self._on_outbox = on_outbox
        #: sales between TSE finish and commit; no other change may touch them
        self.posting: set[str] = set()

    # -- queries ----------------------------------------------------------------------

    def get(self, conn: sqlite3.Connection, sale_id: str) -> Sale:
        check_code(sale_id, "sale_id")
        sale = sale_store.get(conn, sale_id)
        if sale is None:
            raise not_found("SALE_NOT_FOUND", f"no sale {sale_id!r}", sale_id=sale_id)
        return sale

    def list(
        self, conn: sqlite3.Connection, state: SaleState | None, page_size: int, page_token: str
    ) -> tuple[list[Sale], str]:
        size = paging.page_size(page_size, default=50)
        before = paging.decode_int(page_token, "s", empty=2**62)
        rows = sale_store.list_page(conn, state=state, before_seq=before, limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        token = paging.encode("s", rows[-1][0]) if more and rows else ""
        return [s for _, s in rows], token

    # -- commands ---------------------------------------------------------------------

    def create(self, tx: Tx, operator: Operator) -> Sale:
        operator.require(Permission.SALE)
        sale = Sale(
            sale_id=uuid.uuid4().hex,
            register_id=self._s.register_id,
            operator_id=operator.operator_id,
            currency=self._s.currency,
            created_at=self._clock(),
        )
        sale_store.insert(tx.conn, sale)
        return sale

    def add_line(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        *,
        item_id: str = "",
        code: str = "",
        quantity: str = "",
    ) -> LineAdded:
        operator.require(Permission.SALE)
        self.check_editable(sale_id)
        sale = self.get(tx.conn, sale_id)
        item, scanned = self._resolve(tx.conn, item_id=item_id, code=code)
        qty = parse_quantity(quantity, fractional=item.fractional_quantity)
        rate = self._vat.rate(item.vat_category, self._clock().date())
        line = sale.add_line(item, qty, rate, scanned_code=scanned)
        sale_store.update(tx.conn, sale)
        return LineAdded(sale, line.line_id)

    def _resolve(self, conn: sqlite3.Connection, *, item_id: str, code: str) -> tuple[Item, str]:
        if item_id:
            check_code(item_id, "item_id")
            item = catalog_store.get(conn, item_id)
            if item is None:
                raise not_found("ITEM_NOT_FOUND", f"no item {item_id!r}", item_id=item_id)
            return item, ""
        if not code:
            raise invalid("item_ref", "give item_id or code")
        check_code(code, "code")
        matches = catalog_store.by_barcode(conn, code)
        if len(matches) > 1:
            raise DomainError(
                ErrorKind.FAILED_PRECONDITION,
                "AMBIGUOUS_CODE",
                f"code {code!r} belongs to {len(matches)} items: add by item_id",
                metadata={"candidates": ",".join(i.item_id for i in matches)},
            )
        if matches:
            return matches[0], code
        item = catalog_store.get(conn, code)
        if item is not None:
            return item, code
        raise not_found("UNKNOWN_CODE", f"code {code!r} matches no barcode or item", code=code)

    def update_line(
        self, tx: Tx, operator: Operator, sale_id: str, line_id: str, quantity: str
    ) -> Sale:
        operator.require(Permission.SALE)
        self.check_editable(sale_id)
        sale = self.get(tx.conn, sale_id)
        check_code(line_id, "line_id")
        if not quantity:
            raise invalid("quantity", "is required", "INVALID_QUANTITY")
        qty = parse_quantity(quantity, fractional=True)
        sale.update_line(line_id, qty)
        sale_store.update(tx.conn, sale)
        return sale

    def remove_line(self, tx: Tx, operator: Operator, sale_id: str, line_id: str) -> Sale:
        operator.require(Permission.SALE)
        self.check_editable(sale_id)
        sale = self.get(tx.conn, sale_id)
        check_code(line_id, "line_id")
        sale.remove_line(line_id)
        sale_store.update(tx.conn, sale)
        return sale

    def add_payment(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        method: PaymentMethod,
        amount: int,
        currency: str,
    ) -> PaymentAdded:
        operator.require(Permission.SALE)
        self.check_editable(sale_id)
        sale = self.get(tx.conn, sale_id)
        payment = sale.add_payment(method, amount, currency)
        sale_store.update(tx.conn, sale)
        return PaymentAdded(sale, payment.payment_id)

    def remove_payment(self, tx: Tx, operator: Operator, sale_id: str, payment_id: str) -> Sale:
        operator.require(Permission.SALE)
        self.check_editable(sale_id)
        sale = self.get(tx.conn, sale_id)
        check_code(payment_id, "payment_id")
        sale.remove_payment(payment_id)
        sale_store.update(tx.conn, sale)
        return sale

    def check_editable(self, sale_id: str) -> None:
        if sale_id in self.posting:
            raise precondition(
                "SALE_BEING_POSTED", f"sale {sale_id} is being posted and cannot change now"
            )

    def post(
        self, tx: Tx, operator: Operator, sale_id: str, fiscal: fstore.SaleTse | None = None
    ) -> Sale:
        """Posts in ONE transaction: receipt number, state, drawer entries, journal, outbox."""
        operator.require(Permission.SALE)
        sale = self.get(tx.conn, sale_id)
        self.post_loaded(tx, sale, fiscal)
        return sale

    def post_loaded(self, tx: Tx, sale: Sale, fiscal: fstore.SaleTse | None) -> None:
        conn = tx.conn
        sale.check_postable()
        now = self._clock()
        if fiscal is not None and fiscal.process_data != receipt_process_data(sale):
            raise precondition(
                "SALE_CHANGED_WHILE_SIGNING", "the sale changed while it was being signed"
            )
        number = sale_store.next_counter(conn, receipt_counter(sale.register_id))
        sale.post(number, now)
        sale_store.update(conn, sale)
        stamp = to_db(now)
        for p in sale.payments:
            sale_store.add_drawer_entry(
                conn,
                register_id=sale.register_id,
                sale_id=sale.sale_id,
                receipt_number=number,
                kind="SALE_PAYMENT",
                method=p.method.value,
                amount=p.amount,
                currency=sale.currency,
                when=stamp,
            )
        if sale.change:
            sale_store.add_drawer_entry(
                conn,
                register_id=sale.register_id,
                sale_id=sale.sale_id,
                receipt_number=number,
                kind="CHANGE",
                method=PaymentMethod.CASH.value,
                amount=-sale.change,
                currency=sale.currency,
                when=stamp,
            )
        record = sale_record(sale)
        if fiscal is not None:
            fstore.save(conn, fiscal)
            record["tse"] = fiscal_record(fiscal)
            if fiscal.state == fstore.OUTAGE and fiscal.outage_number is not None:
                fstore.add_outage_receipt(conn, fiscal.outage_number, number, sale.sale_id, now)
        journal.append(
            conn,
            kind="SALE_POSTED",
            register_id=sale.register_id,
            ref=f"receipt:{number}",
            payload=record,
            when=now,
        )
        if sale.cash_paid:
            outbox.enqueue(
                conn,
                kind="drawer",
                ref=sale.sale_id,
                receipt_number=number,
                payload={"reason": "cash payment"},
                when=now,
            )
        outbox.enqueue(
            conn,
            kind="print",
            ref=sale.sale_id,
            receipt_number=number,
            payload={"document": "receipt", "copy": False},
            when=now,
        )
        crashpoints.reached("post.in_transaction")
        tx.after_commit(lambda: crashpoints.reached("post.after_commit"))
        tx.after_commit(self._on_outbox)

    def cancel(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        reason: str,
        fiscal: fstore.SaleTse | None = None,
    ) -> Sale:
        operator.require(Permission.SALE)
        sale = self.get(tx.conn, sale_id)
        check_text(reason, "reason", max_len=200, required=False)
        self.cancel_loaded(tx, sale, reason, fiscal)
        return sale

    def cancel_loaded(self, tx: Tx, sale: Sale, reason: str, fiscal: fstore.SaleTse | None) -> None:
        now = self._clock()
        sale.cancel(reason, now)
        sale_store.update(tx.conn, sale)
        record = sale_record(sale)
        if fiscal is not None:
            fstore.save(tx.conn, fiscal)
            record["tse"] = fiscal_record(fiscal)
        journal.append(
            tx.conn,
            kind="SALE_CANCELLED",
            register_id=sale.register_id,
            ref=f"sale:{sale.sale_id}",
            payload=record,
            when=now,
        )

    def validate_cancel(
        self, conn: sqlite3.Connection, operator: Operator, sale_id: str, reason: str
    ) -> Sale:
        operator.require(Permission.SALE)
        sale = self.get(conn, sale_id)
        check_text(reason, "reason", max_len=200, required=False)
        if sale.state is not SaleState.OPEN:
            sale.cancel(reason, self._clock())  # raises the precise state error
        return sale

    def validate_post(self, conn: sqlite3.Connection, operator: Operator, sale_id: str) -> Sale:
        operator.require(Permission.SALE)
        sale = self.get(conn, sale_id)
        sale.check_postable()
        return sale
