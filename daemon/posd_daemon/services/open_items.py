"""Open items: the back office's invoices (import, upsert, get, list) and paying them on
account in a sale (AddInvoicePayment, and what posting does with it).

:class:`OpenItemCommands` is the master data side. :class:`InvoicePayments` is a mixin
of :class:`posd_daemon.services.sales.SaleCommands` (same transaction rules: each
command runs in one database transaction and checks everything before it changes
anything):

* ``add_invoice_payment``: a line of kind INVOICE_PAYMENT (item_id = invoice number,
  VAT category NOT_TAXABLE, fixed positive amount) of at most what is open less what
  other open or parked sales hold; the invoice's customer becomes the sale's when it
  has none (anonymous), another customer is refused; the currencies must match.
* ``check_invoice_payments`` (before the TSE signs) and ``book_invoice_payments`` (in
  the post's own transaction, a conditional UPDATE: never below 0, so no concurrent
  post can overpay an invoice): the open amount follows the receipt; a storno line
  (negative) gives back what its receipt took off (less what it overpaid). Training
  sales never touch open items.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from posd_daemon.domain.catalog import ItemType
from posd_daemon.domain.customer import Customer
from posd_daemon.domain.errors import invalid, not_found, precondition
from posd_daemon.domain.money import MAX_MINOR, amount_out_of_range
from posd_daemon.domain.open_items import OpenItem, OpenItemState, payment_line_name
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.text import check_code
from posd_daemon.domain.vat import VatCategory
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.store import customers as customer_store
from posd_daemon.store import open_items as store
from posd_daemon.store import sales as sale_store


@dataclass(frozen=True, slots=True)
class OpenItemView:
    """An open item with what open sales hold of it (not yet posted)."""

    item: OpenItem
    held: int


@dataclass(frozen=True, slots=True)
class InvoicePaymentAdded:
    sale: Sale
    line_id: str


def _unknown(invoice_number: str) -> Exception:
    return not_found(
        "INVOICE_NOT_FOUND",
        f"no open item with invoice number {invoice_number!r}",
        invoice_number=invoice_number,
    )


def check_transferable(sale: Sale, code: str, here: str, to: str) -> None:
    """Before a parked sale is handed over to register ``to`` (nothing changed yet, its
    TSE transaction not ended): not when it pays an open invoice.

    Open items are each register's own ledger (the back office imports them into each
    register; nothing reports a payment from one register to another). Handed over,
    the sale would no longer hold the invoice here (only OPEN and PARKED sales do), so
    this register would take the same invoice again while ``to`` posts it against its
    own ledger: paid twice; or ``to`` does not know the invoice and refuses the post
    (INVOICE_NOT_FOUND) after this register's TSE ended the transaction as a hand-over.
    Training sales never touch open items and go over as any other."""
    numbers = sorted({ln.item_id for ln in sale.invoice_payments()})
    if sale.training or not numbers:
        return
    listed = ", ".join(numbers)
    raise precondition(
        "OPEN_ITEMS_NOT_TRANSFERABLE",
        f"the sale of parking code {code} pays invoice{'s' if len(numbers) > 1 else ''}"
        f" {listed}: open items are each register's own, so it is paid at register"
        f" {here}, where it was parked; resume and post it there, or remove the invoice"
        f" payment there and park it again to continue it at register {to}",
        invoice_numbers=listed,
        register_id=here,
    )


class OpenItemCommands:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def put(self, tx: Tx, item: OpenItem) -> bool:
        """Creates or replaces an open item by invoice number (import and upsert): the
        back office's open amount replaces the register's, but never above the invoice
        less what this register's receipts took on it (net of their stornos).

        The back office learns of the register's payments late (the DATEV or DSFinV-K
        export, days later): an export made before that still shows the invoice open by
        what the customer paid at the register, and taken as it is, that amount could
        be paid a second time. When the back office does know of them, its amount is
        at most the invoice less them and stands as it is. Its customer must exist."""
        item.validated()
        if customer_store.get(tx.conn, item.customer_number) is None:
            raise not_found(
                "CUSTOMER_NOT_FOUND",
                f"no customer {item.customer_number!r}: import the customer first",
                customer_number=item.customer_number,
            )
        paid = store.paid_here(tx.conn, item.invoice_number, item.currency)
        if paid > 0 and item.amount_open > item.original_amount - paid:
            item = replace(item, amount_open=max(item.original_amount - paid, 0))
        return store.upsert(tx.conn, item, self._clock())

    def upsert(self, tx: Tx, op: Operator, item: OpenItem) -> tuple[OpenItemView, bool]:
        op.require(Permission.CATALOG_EDIT)
        created = self.put(tx, item)
        # what the register now has (put may have kept its own payments off it)
        return self.get(tx.conn, item.invoice_number), created

    def get(self, conn: sqlite3.Connection, invoice_number: str) -> OpenItemView:
        check_code(invoice_number, "invoice_number")
        item = store.get(conn, invoice_number)
        if item is None:
            raise _unknown(invoice_number)
        return OpenItemView(item, store.held(conn, invoice_number))

    def list(
        self,
        conn: sqlite3.Connection,
        *,
        customer_number: str,
        state: OpenItemState | None,
        page_size: int,
        page_token: str,
    ) -> tuple[list[OpenItemView], str]:
        if customer_number:
            check_code(customer_number, "customer_number")
        size = paging.page_size(page_size, default=50)
        scope = (customer_number, state)
        after = paging.decode(page_token, "oi", scope) if page_token else ""
        rows = store.page(
            conn, customer_number=customer_number, state=state, after=after, limit=size + 1
        )
        more = len(rows) > size
        views = [OpenItemView(item, held) for item, held in rows[:size]]
        token = paging.encode("oi", views[-1].item.invoice_number, scope) if more and views else ""
        return views, token


class InvoicePayments(ABC):
    """Mixin: needs the helpers SaleCommands defines (declared abstract below)."""

    _clock: Clock

    @abstractmethod
    def _open_sale(self, tx: Tx, operator: Operator, sale_id: str) -> Sale: ...

    @abstractmethod
    def save_sale(self, tx: Tx, sale: Sale) -> None: ...

    @abstractmethod
    def _customer(self, conn: sqlite3.Connection, number: str) -> Customer: ...

    @abstractmethod
    def _set_customer(
        self, tx: Tx, sale: Sale, customer: Customer, recalculate: bool | None
    ) -> None: ...

    @abstractmethod
    def set_currency(self, tx: Tx, operator: Operator, sale_id: str, currency: str) -> Sale: ...

    def add_invoice_payment(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        invoice_number: str,
        *,
        amount: int,
        currency: str,
    ) -> InvoicePaymentAdded:
        """Pays ``amount`` (0: all that is still available) of an open invoice."""
        sale = self._open_sale(tx, operator, sale_id)
        check_code(invoice_number, "invoice_number")
        if amount < 0:
            raise invalid("amount.amount_minor", "must be 0 (all) or more", "INVALID_AMOUNT")
        if amount > MAX_MINOR:
            raise amount_out_of_range("amount.amount_minor")
        conn = tx.conn
        item = store.get(conn, invoice_number)
        if item is None:
            raise _unknown(invoice_number)
        # checked against the sale as the cashier set it, before the customer is taken
        if item.currency != sale.currency:
            raise precondition(
                "CURRENCY_MISMATCH",
                f"invoice {invoice_number} is in {item.currency}, the sale in {sale.currency}",
                invoice_number=invoice_number,
                invoice_currency=item.currency,
                sale_currency=sale.currency,
            )
        if sale.customer.anonymous:
            # the invoice's customer pays it: a sale without a customer takes it (a change
            # of terms with lines on the sale asks first: RECALCULATION_CHOICE_REQUIRED)
            self._set_customer(tx, sale, self._customer(conn, item.customer_number), None)
            if sale.currency != item.currency:
                # taking the customer moved the sale to the customer's default currency
                # (a Swiss customer's francs), but this invoice is owed in the currency
                # the sale was in: it stays there, else the invoice could not be paid
                sale = self.set_currency(tx, operator, sale_id, item.currency)
        elif sale.customer.number != item.customer_number:
            raise precondition(
                "INVOICE_CUSTOMER_MISMATCH",
                f"invoice {invoice_number} is customer {item.customer_number}'s, the sale is"
                f" customer {sale.customer.number}'s",
                invoice_number=invoice_number,
                customer_number=item.customer_number,
            )
        if amount and currency != sale.currency:
            raise invalid(
                "amount.currency_code", f"the sale is in {sale.currency}", "CURRENCY_MISMATCH"
            )
        # what is open less what other open sales hold (training sales hold nothing)
        # and what this sale pays of it already
        others = 0 if sale.training else store.held(conn, invoice_number, except_sale=sale_id)
        own = sum(ln.amount for ln in sale.invoice_payments() if ln.item_id == invoice_number)
        available = item.amount_open - others - own
        # who holds the rest: a second tap on "pay" for this very sale must not send the
        # cashier looking for another register's sale
        holders = "; ".join(
            part
            for part in (
                f"sale {sale_id} pays {own} of it already" if own else "",
                f"{others} held by other open sales" if others else "",
            )
            if part
        )
        if available <= 0:
            raise precondition(
                "INVOICE_NOT_OPEN",
                f"nothing of invoice {invoice_number} is open"
                + (f" ({holders})" if holders else ""),
                invoice_number=invoice_number,
                available_minor="0",
            )
        take = amount or available
        if take > available:
            raise precondition(
                "INVOICE_AMOUNT_EXCEEDED",
                f"invoice {invoice_number} has {available} open"
                + (f" ({holders})" if holders else "")
                + f", not {take}",
                invoice_number=invoice_number,
                available_minor=str(available),
            )
        line = sale.add_fixed_line(
            LineKind.INVOICE_PAYMENT,
            name=payment_line_name(invoice_number),
            amount=take,
            vat_category=VatCategory.NOT_TAXABLE,
            vat_rate=Decimal(0),
            item_id=invoice_number,
            item_type=ItemType.SERVICE,
        )
        self.save_sale(tx, sale)
        return InvoicePaymentAdded(sale, line.line_id)

    @staticmethod
    def _owed(sale: Sale) -> dict[str, int]:
        """Per invoice what posting the sale takes off its open amount (negative for a
        storno: given back)."""
        out: dict[str, int] = {}
        if sale.training:
            return out
        for ln in sale.invoice_payments():
            out[ln.item_id] = out.get(ln.item_id, 0) + ln.amount
        return out

    def check_invoice_payments(self, conn: sqlite3.Connection, sale: Sale) -> None:
        """Before the TSE signs: every invoice paid still has that much open (another
        sale may have paid it meanwhile, or the back office lowered it)."""
        for number, amount in self._owed(sale).items():
            if amount <= 0:
                continue
            item = store.get(conn, number)
            if item is None:
                raise _unknown(number)
            # the back office may have corrected the invoice since the line was added
            if item.currency != sale.currency:
                raise precondition(
                    "CURRENCY_MISMATCH",
                    f"invoice {number} is in {item.currency} now, the sale in"
                    f" {sale.currency}: remove the line",
                    invoice_number=number,
                    invoice_currency=item.currency,
                    sale_currency=sale.currency,
                )
            if item.customer_number != sale.customer.number:
                raise precondition(
                    "INVOICE_CUSTOMER_MISMATCH",
                    f"invoice {number} is customer {item.customer_number}'s now, the sale"
                    f" customer {sale.customer.number}'s: remove the line",
                    invoice_number=number,
                    customer_number=item.customer_number,
                )
            if item.amount_open < amount:
                raise precondition(
                    "INVOICE_AMOUNT_EXCEEDED",
                    f"invoice {number} has {item.amount_open} open, not {amount}: it was"
                    " paid meanwhile; change the line",
                    invoice_number=number,
                    available_minor=str(item.amount_open),
                )

    def book_invoice_payments(
        self, conn: sqlite3.Connection, sale: Sale, when: datetime
    ) -> list[dict[str, Any]]:
        """Inside the post transaction: the open amounts follow the receipt. Returns what
        was booked, for the journal record.

        A usual post checked the amounts in this very transaction (check_invoice_payments)
        before the TSE signed. A post completing a receipt the TSE signed already (its
        first post failed to save, or the register stopped) is not checked again and
        must not be refused: the TSE's finish cannot be taken back and the customer has
        paid. When the back office settled the invoice meanwhile, what is left of it is
        taken (never below 0) and the rest is recorded as overpaid, on the receipt's
        warnings and in its journal record, for the back office to refund or credit."""
        booked: list[dict[str, Any]] = []
        warned = False
        owed = self._owed(sale)
        # a storno gives back what its receipt took off each invoice, which is less than
        # the receipt paid when that one was overpaid (the part over what was open never
        # came off the invoice: given back, the invoice would be owed more than before)
        kept = _overpaid_by(conn, sale.reverses_sale_id) if owed and sale.reverses_sale_id else {}
        for number, amount in owed.items():
            overpaid = 0
            not_restored = min(kept.get(number, 0), -amount) if amount < 0 else 0
            if not store.book_payment(conn, number, amount + not_restored, when) and amount > 0:
                item = store.get(conn, number)
                left = 0 if item is None else item.amount_open
                if left > 0:
                    store.book_payment(conn, number, left, when)
                overpaid = amount - left
                sale.add_warning(_overpaid_warning(number, left, overpaid, amount))
                warned = True
            item = store.get(conn, number)
            entry: dict[str, Any] = {
                "invoice_number": number,
                "amount": amount,
                "currency": sale.currency,
                "amount_open_after": None if item is None else item.amount_open,
            }
            if overpaid:
                entry["overpaid"] = overpaid
            if not_restored:
                entry["overpaid_not_restored"] = not_restored
            booked.append(entry)
        if warned:
            sale_store.update(conn, sale, children=False)  # the warnings, with the post
        return booked


def _overpaid_warning(number: str, left: int, overpaid: int, amount: int) -> str:
    """The receipt's warning of an overpaid invoice."""
    return (
        f"INVOICE_OVERPAID: invoice {number} had {left} open when the signed receipt was"
        f" posted, {overpaid} of the {amount} paid are more than was owed"
    )


def _overpaid_by(conn: sqlite3.Connection, sale_id: str) -> dict[str, int]:
    """Per invoice what the posted sale ``sale_id`` paid over what was open: the
    ``overpaid`` of its post's journal record (``invoice_payments``)."""
    original = sale_store.get(conn, sale_id)
    if original is None or not original.receipt_number:
        return {}
    payload = store.post_record(conn, original.register_id, original.receipt_number)
    out: dict[str, int] = {}
    for entry in [] if payload is None else payload.get("invoice_payments", []):
        if entry.get("overpaid"):
            number = str(entry["invoice_number"])
            out[number] = out.get(number, 0) + int(entry["overpaid"])
    return out
