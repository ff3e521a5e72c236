"""Sale use cases. Each runs inside one database transaction on the database thread.

Every command loads the register's master data (shop, register) in its transaction, so
a change of master data applies to the next command without a restart.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from posd_daemon.domain.barcode import (
    GS,
    ElementString,
    Label,
    LabelKind,
    LabelLayout,
    kg_in_unit,
    parse_element_string,
    read_label,
    strip_aim,
    weight_label,
)
from posd_daemon.domain.business_day import business_day
from posd_daemon.domain.catalog import Item, ItemType, Tracking, UnitOfMeasure, Variant
from posd_daemon.domain.customer import Customer, CustomerSnapshot
from posd_daemon.domain.digital_receipt import Delivery
from posd_daemon.domain.errors import (
    DomainError,
    ErrorKind,
    FieldViolation,
    invalid,
    not_found,
    precondition,
)
from posd_daemon.domain.money import MAX_MINOR, amount_out_of_range, check_currency
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.parking import canonical_parking_code, parse_parking_code
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.pricing import exponent, fmt_decimal, parse_percent, parse_rate
from posd_daemon.domain.sale import (
    DiscountOrigin,
    LineKind,
    Sale,
    SaleLine,
    SaleState,
    Terms,
    check_note,
    expired_lot,
    expired_lots,
    format_quantity,
    lot_expired_warning,
    parse_quantity,
)
from posd_daemon.domain.shop import (
    DocumentType,
    RateSource,
    Shop,
    check_rate_age,
    missing_attributes,
)
from posd_daemon.domain.text import MAX_CODE, check_code, check_scanned_code, check_text
from posd_daemon.domain.vat import PriceBasis, VatCategory, VatTable
from posd_daemon.fiscal import process_data as pd
from posd_daemon.ops import crashpoints
from posd_daemon.ops import logging as plog
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.day import shift_guard
from posd_daemon.services.documents import credited_invoices, invoice_recipient
from posd_daemon.services.executor import Abandoned, Tx
from posd_daemon.services.fiscal import Signer, no_tse, receipt_process_data
from posd_daemon.services.ids import new_sale_id
from posd_daemon.services.open_items import InvoicePayments
from posd_daemon.services.records import sale_record
from posd_daemon.services.sale_ops import SaleOps
from posd_daemon.services.shops import CachedContext, MasterVersion, ShopContext, terms_for
from posd_daemon.store import catalog as catalog_store
from posd_daemon.store import customers as customer_store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import journal, outbox
from posd_daemon.store import orders as order_store
from posd_daemon.store import sales as sale_store
from posd_daemon.store import stock as stock_store
from posd_daemon.store.stock import StockKey
from posd_daemon.store.timeutil import to_db


@dataclass(frozen=True, slots=True)
class RegisterSettings:
    register_id: str
    currency: str
    #: the register's time zone: its calendar is the business day (``register.timezone``)
    zone: tzinfo
    #: ``register.exchange_rate_max_age_days``: the oldest daily rate a sale may use
    exchange_rate_max_age_days: int = 7
    #: ``instore_codes``: layouts of in-store labels with a price or a weight
    label_layouts: tuple[LabelLayout, ...] = ()
    #: the shop has a Steuernummer or USt-IdNr. to print (``register.tax_number`` /
    #: ``vat_id``): an invoice must name one (§ 14 (4) Nr. 2 UStG)
    supplier_tax_id: bool = True
    #: ``vouchers.validity_years``: a voucher sold is valid to the end of this many years
    #: after its year of issue (§§ 195, 199 BGB); 0: it never expires
    voucher_validity_years: int = 3


@dataclass(frozen=True, slots=True)
class LineAdded:
    sale: Sale
    line_id: str


@dataclass(frozen=True, slots=True)
class PaymentAdded:
    sale: Sale
    payment_id: str


class ScanMatch(enum.Enum):
    CUSTOMER = "CUSTOMER"
    BARCODE = "BARCODE"
    LOT = "LOT"
    SERIAL = "SERIAL"
    ITEM_NUMBER = "ITEM_NUMBER"
    SHOP_DISCOUNT = "SHOP_DISCOUNT"
    VENDOR = "VENDOR"


class ScanChoice(enum.Enum):
    NONE = ""
    AMBIGUOUS_BARCODE = "AMBIGUOUS_BARCODE"
    VARIANT_REQUIRED = "VARIANT_REQUIRED"
    AMBIGUOUS_LOT = "AMBIGUOUS_LOT"
    VENDOR_ITEMS = "VENDOR_ITEMS"
    AMBIGUOUS_SERIAL = "AMBIGUOUS_SERIAL"


@dataclass(frozen=True, slots=True)
class Candidate:
    """Something the client may choose after a scan (AddLine with these fields)."""

    item_id: str
    name: str
    unit_price: int
    variant_id: str = ""
    unit: str = ""
    vendor_item_number: str = ""
    lot: str = ""
    serial: str = ""


@dataclass(frozen=True, slots=True)
class ScanResult:
    sale: Sale
    match: ScanMatch
    line_id: str = ""
    choice: ScanChoice = ScanChoice.NONE
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True, slots=True)
class InvoiceIssued:
    sale: Sale
    copy: bool


@dataclass(slots=True)
class StockPlan:
    """What posting a sale does to stock."""

    moves: list[tuple[StockKey, Decimal, str]] = field(default_factory=list)  # key, delta, serial
    negative: list[str] = field(default_factory=list)
    serial_problems: list[DomainError] = field(default_factory=list)
    # goods taken back that the catalog, changed since the sale, has no one place for
    unbooked: list[str] = field(default_factory=list)


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


@dataclass(frozen=True, slots=True)
class _Kept:
    """An open sale as its last committed save wrote it."""

    sale: Sale
    version: int  # the sale row's write version after that save
    revision: int  # the sale's revision then (a later change in memory voids the copy)


log = plog.get("posd.sales")

#: open sales kept in memory between their edits (a few registers' worth of parked work)
OPEN_SALES_KEPT = 32
#: sale lines per ListSales page (at least one sale, however large): a page of up to 1,000
#: sales of up to 500 lines each would be past gRPC's default 4 MiB message limit
MAX_PAGE_LINES = 5000
#: items kept in memory (cleared when full or when the catalog changes)
ITEMS_KEPT = 4096


def receipt_counter(register_id: str) -> str:
    return f"receipt:{register_id}"


def terms_record(sale: Sale) -> dict[str, Any]:
    """What schema 4 adds to a sale's journal record."""
    return {
        "shop_id": sale.shop_id,
        "location_id": sale.location_id,
        "customer": sale.customer.to_dict(),
        "local_currency": sale.local_currency,
        "exchange_rate": fmt_decimal(sale.exchange_rate),
        "rate_source": sale.rate_source.value,
        "total_local": sale.total_local,
        "vat_direction": sale.vat_direction.value,
        "vat_rounding": sale.vat_rounding.value,
        "discount_percent": fmt_decimal(sale.discount_percent),
        "discount_code": sale.discount_code,
        "document_type": sale.document_type.value if sale.document_type else None,
        "pickup_date": sale.pickup_date.isoformat() if sale.pickup_date else None,
        "line_details": [
            {
                "line_id": ln.line_id,
                "variant_id": ln.variant_id,
                "unit_factor": str(ln.unit_factor),
                "amount": ln.amount,
                "discount": ln.line_discount + ln.doc_discount,
                "discount_percent": fmt_decimal(ln.discount_percent),
                "price_overridden": ln.price_overridden,
                "lot": ln.lot,
                "serial": ln.serial,
                # only when there is one: the records of lines without (every line before
                # the note existed) stay as they were
                **({"note": ln.note} if ln.note else {}),
            }
            for ln in sale.lines
        ],
        "warnings": list(sale.warnings),
    }


def parse_day(text: str, field_name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(field_name, "a date like 2026-12-24", "INVALID_DATE") from None


class SaleCommands(SaleOps, InvoicePayments):
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
        #: what finish runs for a sale in :attr:`posting` ("post", "cancel" or
        #: "transfer") and, for a hand-over, the register it goes to: the refusal of a
        #: change names it (see :meth:`start_finish`)
        self._finishing: dict[str, tuple[str, str]] = {}
        #: sales whose receipt the TSE signed (its transaction is finished), with the
        #: processData it signed, while their post then failed to commit (an I/O error, a
        #: full disk): they stay as signed, locked against every change but posting them
        #: again with that data, which gets the same signature from the TSE (a finish
        #: repeated with the same data) and skips the checks that passed before signing.
        #: Any committed post of the sale ends the lock (also one by reconciliation after
        #: a TSE recovery); after a restart, start-up reconciliation posts such a sale
        #: from the TSE's record.
        self.signed_unposted: dict[str, str] = {}
        #: open sales whose transaction the TSE holds finished as a receipt that their
        #: post refuses, left as they were by start-up reconciliation (journaled
        #: TSE_SALE_UNRESOLVED): any change, post, cancellation or hand-over would ask
        #: the TSE to finish that transaction again with other data, which it refuses,
        #: so they are locked for a person to settle. Followed from the journal
        #: (:meth:`follow_unresolved`), so the lock holds over restarts.
        self.unresolved: dict[str, fstore.Unresolved] = {}
        self._unresolved_seen = 0
        #: items read by _item, valid for one catalog generation
        self._items: dict[str, Item] = {}
        self._items_generation = -1
        #: open sales as last saved, with their row's write version (see _take)
        self._open: OrderedDict[str, _Kept] = OrderedDict()
        #: bumped by ShopCommands when shops or registers change (see master_servicers)
        self.master_version = MasterVersion()
        self._context = CachedContext(settings.register_id, self.master_version)
        #: called inside every post's transaction with the posted sale and its time
        #: (bootstrap: digital receipt tokens); an exception rolls the post back
        self.post_hooks: list[Callable[[sqlite3.Connection, Sale, datetime, Delivery], None]] = []

    @property
    def register_id(self) -> str:
        return self._s.register_id

    @property
    def zone(self) -> tzinfo:
        """The register's time zone (``register.timezone``)."""
        return self._s.zone

    def today(self) -> date:
        """The register's business day now: the date on its calendar, not UTC's. The VAT
        rate, the daily exchange rate and "today" for pickup dates are taken for it."""
        return business_day(self._clock(), self._s.zone)

    def voucher_valid_until(self, issued: datetime) -> date | None:
        """The last day a voucher issued at ``issued`` may be redeemed: the end of the
        ``vouchers.validity_years``-th year after its year of issue on the register's
        calendar (the regular limitation period runs from the end of that year, § 199 (1)
        BGB); None when vouchers never expire."""
        years = self._s.voucher_validity_years
        if not years:
            return None
        return date(business_day(issued, self._s.zone).year + years, 12, 31)

    # -- queries ----------------------------------------------------------------------

    def get(self, conn: sqlite3.Connection, sale_id: str) -> Sale:
        check_code(sale_id, "sale_id")
        sale = sale_store.get(conn, sale_id)
        if sale is None:
            raise not_found("SALE_NOT_FOUND", f"no sale {sale_id!r}", sale_id=sale_id)
        self._attach_limit(conn, [sale])
        return sale

    def stored(self, conn: sqlite3.Connection, sale_id: str) -> Sale | None:
        """The stored sale with the shop's settings it is posted with (None: no such
        sale); for crash reconciliation, which signs its processData again."""
        sale = sale_store.get(conn, sale_id)
        if sale is not None:
            self._attach_limit(conn, [sale])
        return sale

    def post_outlook(self, conn: sqlite3.Connection, sale_id: str) -> tuple[bool, bool]:
        """Before PostSale asks the TSE for anything: (posted by crash reconciliation
        and not yet claimed, may need a signature: open and not empty). SALE_NOT_FOUND
        (or a bad id) at once."""
        check_code(sale_id, "sale_id")
        state = sale_store.state_of(conn, sale_id)
        if state is None:
            raise not_found("SALE_NOT_FOUND", f"no sale {sale_id!r}", sale_id=sale_id)
        if state is not SaleState.OPEN:
            return sale_store.recovered_unclaimed(conn, sale_id), False
        if sale_id in self.unresolved:
            raise self._unresolved_lock(sale_id)
        return False, sale_store.has_lines(conn, sale_id)

    def _attach_limit(self, conn: sqlite3.Connection, sales: list[Sale]) -> None:
        try:
            shop = self.context(conn).shop
        except DomainError:
            return
        for sale in sales:
            sale.invoice_limit = shop.simplified_invoice_limit
            sale.cash_step = shop.cash_increment(sale.currency)
            sale.local_cash_step = shop.cash_increment(sale.local_currency)

    def list(
        self, conn: sqlite3.Connection, state: SaleState | None, page_size: int, page_token: str
    ) -> tuple[list[Sale], str]:
        size = paging.page_size(page_size, default=50)
        scope = (state,)
        before = paging.decode_int(page_token, "s", empty=2**62, scope=scope)
        rows = sale_store.list_page(conn, state=state, before_seq=before, limit=size + 1)
        more = len(rows) > size
        rows, cut = paging.within_budget(rows[:size], lambda r: len(r[1].lines), MAX_PAGE_LINES)
        more = more or cut
        token = paging.encode("s", rows[-1][0], scope) if more and rows else ""
        sales = [s for _, s in rows]
        self._attach_limit(conn, sales)
        return sales, token

    def context(self, conn: sqlite3.Connection) -> ShopContext:
        return self._context.get(conn)

    # -- helpers ----------------------------------------------------------------------

    def _open_sale(self, tx: Tx, operator: Operator, sale_id: str) -> Sale:
        operator.require(Permission.SALE)
        self.check_editable(sale_id)
        sale = self._take(tx, sale_id)
        if sale.reverses_sale_id:
            # a storno is the original negated, nothing else: ReverseReceipt posts it
            # (again), CancelSale drops it
            raise precondition(
                "REVERSAL_NOT_EDITABLE",
                f"sale {sale_id} is the storno of receipt {sale.reverses_receipt}: it cannot"
                " be changed; post it with ReverseReceipt or cancel it",
                sale_id=sale_id,
            )
        self.apply_vat_rates(tx, operator, sale)
        return sale

    # VAT rates follow the business day (README, "VAT rate changes while a sale is
    # open"). The rate of the time of supply applies (§ 13 (1) Nr. 1a UStG; BMF letter
    # of 30 June 2020 on the H2-2020 reduction): for a counter sale that is the post, not
    # the scan. So every change of an open sale first gives its lines the rates of the
    # change's business day: a payment is always taken on the total at today's rates
    # ("recalculate before payment"). A sale open across midnight into a new rate is
    # checked again at the post (check_vat_rates): gross-priced, its gross stays and
    # only the split changes, committed on its own before the TSE signs (PostSale);
    # net-priced, the gross would change under the customer's payment, so the post is
    # refused (VAT_RATE_CHANGED) and the cashier's next change recalculates it.

    def check_rate_age(self, sale: Sale) -> None:
        """EXCHANGE_RATE_TOO_OLD when the sale's daily rate is now older than allowed
        (domain.shop.check_rate_age). A storno keeps its original's rate, whatever its
        age: it reverses that receipt exactly."""
        if not sale.reverses_sale_id:
            check_rate_age(
                sale.rate_source, sale.rate_date, self.today(), self._s.exchange_rate_max_age_days
            )

    def _rates_on(self, day: date) -> Callable[[VatCategory], Decimal]:
        return lambda category: self._vat.rate(category, day)

    def apply_vat_rates(self, tx: Tx, operator: Operator, sale: Sale) -> None:
        """Gives the open sale's lines the VAT rates of today (journaled when any
        changed; see above)."""
        day = self.today()
        changed = sale.apply_vat_rates(self._rates_on(day))
        if changed:
            self.journal_sale(
                tx,
                "VAT_RATES_APPLIED",
                sale,
                {
                    "operator_id": operator.operator_id,
                    "business_day": day.isoformat(),
                    "lines": [
                        {
                            "line_id": ln.line_id,
                            "vat_category": ln.vat_category.name,
                            "old_rate": fmt_decimal(old),
                            "new_rate": fmt_decimal(ln.vat_rate),
                        }
                        for ln, old in changed
                    ],
                    "total": sale.total,
                },
            )

    def apply_vat_rates_for_post(self, tx: Tx, operator: Operator, sale_id: str) -> Sale:
        """PostSale refused with VAT_RATES_OUTDATED (a gross-priced sale open across a
        rate change): the new rates, committed on their own before the post is tried
        again, so that a post whose TSE finish survives a crash before its commit finds
        the rates it signed (like the balancing line of REFUND_REQUIRED)."""
        operator.require(Permission.SALE)
        self.check_editable(sale_id)
        sale = self._take(tx, sale_id)
        self.apply_vat_rates(tx, operator, sale)
        self.save_sale(tx, sale)
        return sale

    def check_vat_rates(self, sale: Sale, day: date) -> None:
        """Before the TSE signs a post on ``day``: are the lines' rates that day's?
        Raises VAT_RATES_OUTDATED when the total stays (PostSale applies them and posts
        again) and VAT_RATE_CHANGED when the gross would change (net-priced sales)."""
        rate_of = self._rates_on(day)
        changes = sale.current_vat_rates(rate_of)
        if not changes:
            return
        what = ", ".join(
            sorted(
                {
                    f"{ln.vat_category.name} {fmt_decimal(ln.vat_rate)} % -> {fmt_decimal(r)} %"
                    for ln, r in changes
                }
            )
        )
        old_total = sale.total
        new_total = sale.total_with_rates(rate_of)
        if new_total == old_total:
            raise precondition(
                "VAT_RATES_OUTDATED",
                f"the VAT rates changed on {day.isoformat()} ({what}): the sale's gross"
                " stays, its VAT is split at the new rates",
                sale_id=sale.sale_id,
            )
        raise precondition(
            "VAT_RATE_CHANGED",
            f"the VAT rates changed on {day.isoformat()} ({what}) while sale {sale.sale_id}"
            f" was open: its net prices now give a total of {new_total} instead of"
            f" {old_total} (minor units): recalculate the sale (any change of it, e.g."
            " removing the payment, applies the new rates), take the new total, then post",
            sale_id=sale.sale_id,
            business_day=day.isoformat(),
            old_total_minor=str(old_total),
            new_total_minor=str(new_total),
        )

    def day_of(self, when: datetime) -> date:
        """The register's business day at ``when``."""
        return business_day(when, self._s.zone)

    def build_checked_reversal(self, tx: Tx, operator: Operator, sale_id: str, reason: str) -> Sale:
        """The storno of a posted receipt, built and checked in ONE transaction: when its
        post would be refused (a voucher redeemed since, …), nothing of it is left behind
        (before, the refused storno stayed as an open sale that blocked the Z)."""
        reversal = self.build_reversal(tx, operator, sale_id, reason)
        self._validate_post(tx.conn, reversal)
        return reversal

    # Open sales stay in memory between the edits of a sale (a cashier scans line after
    # line): loading a sale with its lines costs more than the edit itself. An entry is
    # taken out for a change and put back only once that change committed, so a change
    # that fails never leaves its half-applied state behind; it is used only while the
    # row's write version is still the one this copy was saved with, so any other write
    # of the sale (another code path, a repair) makes the next change load it afresh.

    def _take(self, tx: Tx, sale_id: str) -> Sale:
        """The sale for a change in ``tx``: the kept copy when current, else loaded."""
        kept = self._open.pop(sale_id, None)
        if kept is not None and sale_store.version_of(tx.conn, sale_id) == kept.version:
            sale = kept.sale
            self._attach_limit(tx.conn, [sale])  # the shop's settings may have changed
            return sale
        return self.get(tx.conn, sale_id)

    def save_sale(self, tx: Tx, sale: Sale) -> None:
        """Writes an open sale back: the sale row, and of its lines and payments only
        those that differ from what its last save wrote (when that is known)."""
        with sale.frozen_totals():  # the row reads the totals many times
            version = sale_store.save_open(tx.conn, sale, self._clock())
        tx.after_commit(functools.partial(self._keep, _Kept(sale, version, sale.revision)))

    def _keep(self, kept: _Kept) -> None:
        """After the commit: keeps an open sale exactly as it was saved."""
        sale = kept.sale
        self._open.pop(sale.sale_id, None)
        if sale.state is SaleState.OPEN and sale.revision == kept.revision:
            self._open[sale.sale_id] = kept
            while len(self._open) > OPEN_SALES_KEPT:
                self._open.popitem(last=False)

    def _on_post_outbox(self, tx: Tx) -> None:
        tx.after_commit(self._on_outbox)

    def journal_sale(self, tx: Tx, kind: str, sale: Sale, payload: dict[str, Any]) -> None:
        journal.append(
            tx.conn,
            kind=kind,
            register_id=sale.register_id,
            ref=f"sale:{sale.sale_id}",
            payload={"sale_id": sale.sale_id, **payload},
            when=self._clock(),
        )

    def _customer(self, conn: sqlite3.Connection, number: str) -> Customer:
        customer = customer_store.get(conn, number)
        if customer is None:
            raise not_found("CUSTOMER_NOT_FOUND", f"no customer {number!r}", customer_number=number)
        return customer

    def _item(self, conn: sqlite3.Connection, item_id: str) -> Item:
        """An item as the catalog holds it now. Items read before are reused while the
        catalog's write counter says nothing in it changed since (one small read instead
        of four; the items a register sells are few and sold again and again)."""
        generation = catalog_store.generation(conn)
        if generation != self._items_generation:
            self._items.clear()
            self._items_generation = generation
        item = self._items.get(item_id)
        if item is None:
            item = catalog_store.get(conn, item_id)
            if item is None:
                raise not_found("ITEM_NOT_FOUND", f"no item {item_id!r}", item_id=item_id)
            if len(self._items) >= ITEMS_KEPT:
                self._items.clear()
            self._items[item_id] = item
        return item

    # -- commands ---------------------------------------------------------------------

    def create(self, tx: Tx, operator: Operator, *, training: bool = False) -> Sale:
        operator.require(Permission.SALE)
        shift_guard(tx.conn)  # a register sells only within an open shift (NO_OPEN_SHIFT)
        ctx = self.context(tx.conn)
        customer = customer_store.get(tx.conn, ctx.shop.default_customer_number)
        now = self._clock()
        terms = terms_for(
            tx.conn,
            ctx.shop,
            customer,
            business_day(now, self._s.zone),
            max_age_days=self._s.exchange_rate_max_age_days,
        )
        sale = Sale(
            sale_id=new_sale_id(now),
            register_id=self._s.register_id,
            operator_id=operator.operator_id,
            currency=terms.currency,
            created_at=now,
            shop_id=ctx.shop.shop_id,
            location_id=ctx.register.location_id,
            local_currency=terms.local_currency,
            exchange_rate=terms.exchange_rate,
            rate_source=terms.rate_source,
            rate_date=terms.rate_date,
            vat_direction=terms.direction,
            vat_rounding=terms.rounding,
            updated_at=now,
        )
        if customer is not None:
            sale.customer = customer.snapshot()
            sale.customer_discount_percent = customer.discount_percent
        sale.training = training
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
        variant_id: str = "",
        unit: str = "",
        lot: str = "",
        serial: str = "",
        note: str = "",
    ) -> LineAdded:
        sale = self._open_sale(tx, operator, sale_id)
        check_note(note)  # before anything is looked up: a bad note changes nothing
        scanned = ""
        barcode_variant = barcode_unit = ""
        label: Label | None = None

        def by_element_string(es: ElementString) -> LineAdded:
            """A GS1 element string given as the code: its GTIN, lot, serial, weight."""
            line_id = self._add_element_string(
                tx, operator, sale, es, code, quantity, variant_id, unit, lot, serial, note=note
            )
            return LineAdded(sale, line_id)

        if item_id:
            check_code(item_id, "item_id")
            item = self._item(tx.conn, item_id)
        elif code:
            check_scanned_code(code, "code")
            code = strip_aim(code)
            separated = self._separated_element_string(code)
            if separated is not None:  # nothing else has a GS or runs so long
                return by_element_string(separated)
            # a code given here is scanned or typed as into Scan: a slip is refused alike
            self._refuse_parking_slip(tx.conn, code)
            matches = catalog_store.barcode_matches(tx.conn, code)
            if len(matches) > 1:
                raise _ambiguous(f"code {code!r}", matches)
            if matches:
                item = matches[0].item
                barcode_variant, barcode_unit = matches[0].variant_id, matches[0].unit
            elif (labelled := self._label(tx.conn, code)) is not None:
                label, m = labelled
                item, barcode_variant, barcode_unit = m.item, m.variant_id, m.unit
            else:
                found = catalog_store.get(tx.conn, code)
                es = parse_element_string(code, self.today()) if found is None else None
                if es is not None:  # matched nothing as it is: a GS1 element string
                    return by_element_string(es)
                if found is None:
                    raise not_found(
                        "UNKNOWN_CODE", f"code {code!r} matches no barcode or item", code=code
                    )
                item = found
            scanned = code
        else:
            raise invalid("item_ref", "give item_id or code")
        line_id = self._add(
            tx,
            operator,
            sale,
            item,
            quantity=quantity,
            variant_id=variant_id or barcode_variant,
            unit=unit or barcode_unit,
            lot=lot,
            serial=serial,
            scanned=scanned,
            label=label,
            note=note,
        )
        return LineAdded(sale, line_id)

    def _refuse_parking_slip(self, conn: sqlite3.Connection, code: str) -> None:
        """A parking slip is no article: refused, the slip is resumed with ResumeSale. Its
        EAN is in an in-store range (29 by default) a shop's scale labels and own articles
        may use too: read as a label it added whatever item its digits named. A code of
        both kinds is the slip when a sale here has it, else the article when it names
        one, as a barcode or a label (an article's or a label's digits also make
        well-formed slips of registers that do not exist: every in-store article code
        was refused as such a slip)."""
        slip = parse_parking_code(code, self.context(conn).shop.parking_prefix)
        if slip is not None and (
            sale_store.parking_code_taken(conn, canonical_parking_code(code))
            or (not catalog_store.barcode_matches(conn, code) and self._label(conn, code) is None)
        ):
            raise precondition(
                "PARKING_SLIP_SCANNED",
                f"{code} is the parking slip of a sale parked at register {slip[0]}:"
                " finish or park this sale, then resume the slip (ResumeSale)",
                register_number=str(slip[0]),
            )

    def _check_supplier_tax_id(self) -> None:
        """An invoice names the shop's Steuernummer or USt-IdNr. (§ 14 (4) Nr. 2 UStG):
        without either configured, none is issued (a receipt up to the simplified-invoice
        limit needs neither, § 33 UStDV)."""
        if not self._s.supplier_tax_id:
            raise precondition(
                "SUPPLIER_TAX_ID_MISSING",
                "an invoice must name the shop's Steuernummer or USt-IdNr. (§ 14 (4) Nr. 2"
                " UStG): set register.tax_number or register.vat_id",
                document_type=DocumentType.INVOICE.value,
            )

    def _separated_element_string(self, code: str) -> ElementString | None:
        """The GS1 element string a code with a group separator (GS) or over
        ``MAX_CODE`` characters must be; None for any other code. Such a code that is no
        element string is refused: a GS is a control character anywhere else."""
        if GS not in code and len(code) <= MAX_CODE:
            return None
        es = parse_element_string(code, self.today())
        if es is None:
            raise invalid(
                "code",
                f"{code!r}: a group separator (GS) or more than {MAX_CODE} characters is only"
                " in a GS1 element string (AI 01 and a GTIN first)",
            )
        return es

    def _add_element_string(
        self,
        tx: Tx,
        operator: Operator,
        sale: Sale,
        es: ElementString,
        code: str,
        quantity: str,
        variant_id: str,
        unit: str,
        lot: str,
        serial: str,
        *,
        note: str = "",
    ) -> str:
        """A line for the GS1 element string ``es`` (a GS1 DataMatrix or GS1-128 on the
        pack): the item of its GTIN; its lot (10) or serial number (21) when the item is
        tracked so (a pack may carry them for a shop that tracks neither); its expiry
        date (17) checked as a lot's (LOT_EXPIRED unless SELL_EXPIRED_LOT); its net
        weight (310n, kg) or price (392n, the register's currency) taken as an in-store
        label's. Before, a code with anything after the GTIN matched nothing."""
        matches = catalog_store.barcode_matches(tx.conn, es.gtin)
        if len(matches) > 1:
            raise _ambiguous(f"GTIN {es.gtin} of code {code!r}", matches)
        if not matches:
            raise not_found(
                "UNKNOWN_CODE", f"code {code!r}: no item has its GTIN {es.gtin}", code=code
            )
        item = matches[0].item
        variant = variant_id or matches[0].variant_id
        if item.tracking is Tracking.LOT:
            lot = _one_of(lot, es.lot, "lot_number", code)
        if item.tracking is Tracking.SERIAL:
            serial = _one_of(serial, es.serial, "serial_number", code)
        if es.expiry is not None:
            ref = catalog_store.LotRef(es.lot, item.item_id, variant, es.expiry.isoformat())
            self._check_lot_expiry(tx, operator, sale, item.item_id, item.name, ref)
        return self._add(
            tx,
            operator,
            sale,
            item,
            quantity=quantity,
            variant_id=variant,
            unit=unit or matches[0].unit,
            lot=lot,
            serial=serial,
            scanned=code,
            label=_element_label(es, code, sale.local_currency, item),
            note=note,
        )

    def _label(
        self, conn: sqlite3.Connection, code: str
    ) -> tuple[Label, catalog_store.BarcodeMatch] | None:
        """``code`` as an in-store label of the configured layouts (``instore_codes``),
        with the item registered under its zeroed form, or None when it is no label or
        the zeroed code names no item (the code then goes on as any other). A label must
        name one item: a choice of candidates would add by item id, without the label's
        price or weight."""
        label = read_label(code, self._s.label_layouts)
        if label is None:
            return None
        matches = catalog_store.barcode_matches(conn, label.item_code)
        if not matches:
            return None
        label.checked()  # a label of the catalog: its verifier digit must be right
        if len(matches) > 1:
            raise DomainError(
                ErrorKind.FAILED_PRECONDITION,
                "AMBIGUOUS_CODE",
                f"label {code}: its item code {label.item_code} belongs to {len(matches)}"
                " items: register it for one item only",
                metadata={"candidates": ",".join(m.item.item_id for m in matches)},
            )
        return label, matches[0]

    @staticmethod
    def _label_terms(
        item: Item, uom: UnitOfMeasure, label: Label, quantity: str, catalog_price: int
    ) -> tuple[str, int | None, int | None]:
        """(quantity, price per unit or None, price of the whole quantity or None) of a
        line for ``label``: a price label's price (local currency, the item's price
        basis) instead of the catalog's; a weight label's weight as the quantity, in the
        unit its item code names.

        A price label of an item sold by weight is a weighed pack's price (a deli
        scale's): its quantity is the pack's weight, the price over ``catalog_price``
        (the catalog's per unit) to the thousandth, and the customer pays the printed
        price for it, not the weight times the catalog price, which may differ by a cent
        or two (10.00 at 19.90/kg: 0.503 kg, 10.01 at the catalog price)."""
        if label.kind is LabelKind.PRICE and not uom.fractional_quantity:
            return quantity, label.value, None
        if quantity:
            raise invalid(
                "quantity",
                f"label {label.code} carries the quantity"
                + (
                    f" ({label.quantity} {uom.unit})"
                    if label.kind is LabelKind.WEIGHT
                    else f" (the weight of a pack of {label.value} minor units)"
                )
                + ": scan it without one",
                "QUANTITY_ON_LABEL",
            )
        if label.kind is LabelKind.PRICE and label.weight is not None:
            # the code states the pack's weight beside its price (GS1 310n and 392n): that
            # weight is the quantity, the printed price what the customer pays
            return _weight_in_unit(item, uom, label, label.weight), None, label.value
        if label.kind is LabelKind.PRICE:
            if catalog_price <= 0:
                raise precondition(
                    "NO_PRICE_PER_UNIT",
                    f"label {label.code} prints the price of a pack of {item.name}"
                    f" ({item.item_id}), which has no price per {uom.unit} to tell its"
                    f" weight by: give it a price per {uom.unit}",
                    item_id=item.item_id,
                )
            weight = label.pack_weight(catalog_price)
            if weight <= 0:
                raise invalid(
                    "code",
                    f"label {label.code}: its price is less than a thousandth of {uom.unit}"
                    f" of {item.name} at {catalog_price} minor units per {uom.unit}",
                    "INVALID_QUANTITY",
                )
            return fmt_decimal(weight), None, label.value
        if quantity:
            raise invalid(
                "quantity",
                f"label {label.code} carries the quantity ({label.quantity} {uom.unit}):"
                " scan it without one",
                "QUANTITY_ON_LABEL",
            )
        if not uom.fractional_quantity:
            raise invalid(
                "code",
                f"label {label.code} is a weight label, but {item.name} ({item.item_id}) is"
                f" sold in whole {uom.unit}: register its item code on an item sold by weight",
                "NOT_SOLD_BY_WEIGHT",
            )
        return _weight_in_unit(item, uom, label, label.quantity), None, None

    def _add(
        self,
        tx: Tx,
        operator: Operator,
        sale: Sale,
        item: Item,
        *,
        quantity: str,
        variant_id: str = "",
        unit: str = "",
        lot: str = "",
        serial: str = "",
        scanned: str = "",
        label: Label | None = None,
        note: str = "",
    ) -> str:
        if item.item_type is ItemType.VOUCHER:
            # a voucher is sold with its own code (AddVoucherLine), or the register never
            # knows it and it can never be redeemed
            raise precondition(
                "VOUCHER_ACTION_REQUIRED",
                f"{item.name} is a voucher: sell it with its code or redeem one"
                " (AddVoucherLine, action SELL or REDEEM)",
                item_id=item.item_id,
            )
        variant: Variant | None = None
        if variant_id:
            check_code(variant_id, "variant_id")
            variant = item.variant(variant_id)
            if variant is None:
                raise not_found(
                    "VARIANT_NOT_FOUND",
                    f"item {item.item_id} has no variant {variant_id!r}",
                    item_id=item.item_id,
                )
        uom: UnitOfMeasure | None = item.unit_of(unit)
        if uom is None:
            raise invalid(
                "unit",
                f"item {item.item_id} is sold in "
                + ", ".join([item.unit, *(u.unit for u in item.units)]),
                "UNKNOWN_UNIT",
            )
        if lot:
            check_code(lot, "lot_number")
            if item.tracking is not Tracking.LOT:
                raise invalid("lot_number", "the item is not lot-tracked", "NOT_LOT_TRACKED")
            refs = [
                r for r in catalog_store.lots_by_number(tx.conn, lot) if r.item_id == item.item_id
            ]
            if not refs:
                raise not_found(
                    "LOT_NOT_FOUND",
                    f"item {item.item_id} has no lot {lot!r}",
                    item_id=item.item_id,
                    lot_number=lot,
                )
            held_by = refs[0].variant_id  # a lot is one per item: it names its variant
            if variant_id and held_by and held_by != variant_id:
                # the line would take its stock off (variant, lot) where there is none,
                # while the lot's goods stay on the other variant's books
                raise precondition(
                    "LOT_OF_OTHER_VARIANT",
                    f"lot {lot!r} of item {item.item_id} is variant {held_by!r},"
                    f" not {variant_id!r}",
                    lot_number=lot,
                    variant_id=held_by,
                )
            self._check_lot_expiry(tx, operator, sale, item.item_id, item.name, refs[0])
        if serial:
            check_code(serial, "serial_number")
            if item.tracking is not Tracking.SERIAL:
                raise invalid(
                    "serial_number", "the item is not serial-numbered", "NOT_SERIAL_TRACKED"
                )
            self._check_serial(tx.conn, sale, item.item_id, serial)
        label_price: int | None = None
        pack_price: int | None = None
        if label is not None:
            quantity, label_price, pack_price = self._label_terms(
                item, uom, label, quantity, item.unit_price(variant, uom)
            )
        qty = parse_quantity(quantity, fractional=uom.fractional_quantity)
        rate = self._vat.rate(item.vat_category, self.today())
        line = sale.add_line(
            item,
            qty,
            rate,
            scanned_code=scanned,
            variant=variant,
            # a price label: its price is the unit's, converted like a catalog price into
            # the sale's currency and VAT direction
            unit=uom if label_price is None else replace(uom, price=label_price),
            lot=lot,
            serial=serial,
            pack_price=pack_price,
            note=note,
        )
        if label_price is not None or pack_price is not None:
            # the label's price, not the catalog's: a customer's recalculation or a new
            # currency keeps it (converted), as any overridden price; the receipt says
            # it is the label's, not an operator's
            line.price_overridden = line.price_from_label = True
        self.save_sale(tx, sale)
        return line.line_id

    def _check_lot_expiry(
        self,
        tx: Tx,
        operator: Operator,
        sale: Sale,
        item_id: str,
        item_name: str,
        ref: catalog_store.LotRef,
        *,
        line_id: str = "",
        refuse: bool = True,
    ) -> None:
        """An expired lot (its expiry date before today's business day; the expiry day
        itself is still good) is refused, LOT_EXPIRED, unless the operator holds
        SELL_EXPIRED_LOT: then the line is added with a warning on the sale (in the
        answer, on the receipt under the line) and the sale is journaled.

        Why refuse rather than only warn: the register does not know whether the date is
        a best-before date (Mindesthaltbarkeitsdatum: the goods may still be sold, on the
        seller's own responsibility, usually reduced) or a use-by date (Verbrauchsdatum,
        Art. 24 LMIV: the food counts as unsafe after it and must not be sold, Art. 14
        VO (EG) 178/2002; likewise expired medicines, § 8 (3) AMG). A warning a cashier
        clicks away sells unsafe food; the refusal makes someone entitled decide, and the
        journal says who.

        ``line_id``: the check at the post (:meth:`_check_lots_at_post`) of a line
        added earlier; the refusal names it. ``refuse`` False: the TSE signed the post
        already; the lot is sold, with the warning and the journal, whoever posts."""
        if not ref.expires_on:
            return
        expires = date.fromisoformat(ref.expires_on)
        today = self.today()
        if expires >= today:
            return
        if refuse and Permission.SELL_EXPIRED_LOT not in operator.permissions:
            where = f"line {line_id}: " if line_id else ""
            what = "remove the line or take another lot" if line_id else "take another lot"
            raise precondition(
                "LOT_EXPIRED",
                f"{where}lot {ref.lot} of {item_name} expired on {expires.isoformat()}"
                f" (today is {today.isoformat()}): {what}, or an operator with permission"
                " SELL_EXPIRED_LOT may sell it",
                item_id=item_id,
                lot_number=ref.lot,
                expiry_date=expires.isoformat(),
                **({"line_id": line_id} if line_id else {}),
            )
        sale.add_warning(lot_expired_warning(item_name, item_id, ref.lot, expires))
        self.journal_sale(
            tx,
            "EXPIRED_LOT_SOLD",
            sale,
            {
                "operator_id": operator.operator_id,
                "item_id": item_id,
                "lot_number": ref.lot,
                "expiry_date": expires.isoformat(),
                "business_day": today.isoformat(),
                **({"line_id": line_id, "at": "post"} if line_id else {}),
            },
        )

    def _check_lots_at_post(
        self, tx: Tx, operator: Operator, sale: Sale, *, refuse: bool = True
    ) -> None:
        """The lots of the sale's goods checked again on the post's business day: a lot
        may have expired since its line was added (a sale open across midnight, a parked
        sale resumed days later, an order loaded into the register), and the receipt's
        day is the day it is sold. The rule of :meth:`_check_lot_expiry`, for the
        operator who posts; a lot already sold past its expiry on this sale (it has the
        warning) is not asked again. Returns and a storno give goods back: not checked."""
        if sale.reverses_sale_id:
            return
        allowed = expired_lots(sale)
        for ln in sale.lines:
            if ln.quantity <= 0 or ln.kind is not LineKind.GOODS:
                continue
            pack = self._pack_expiry(sale, ln)
            if pack is not None and expired_lot(sale, ln.item_id, pack.lot, allowed) is None:
                # the pack's own expiry date (AI 17), as it was scanned: checked as at
                # the scan, for the post's business day
                self._check_lot_expiry(
                    tx, operator, sale, ln.item_id, ln.name, pack, line_id=ln.line_id, refuse=refuse
                )
                allowed = expired_lots(sale)
            if not ln.lot or expired_lot(sale, ln.item_id, ln.lot, allowed) is not None:
                continue
            refs = [
                r for r in catalog_store.lots_by_number(tx.conn, ln.lot) if r.item_id == ln.item_id
            ]
            if refs:  # a lot since deleted from the catalog has no date left to check
                self._check_lot_expiry(
                    tx,
                    operator,
                    sale,
                    ln.item_id,
                    ln.name,
                    refs[0],
                    line_id=ln.line_id,
                    refuse=refuse,
                )
                allowed = expired_lots(sale)

    def _pack_expiry(self, sale: Sale, ln: SaleLine) -> catalog_store.LotRef | None:
        """The expiry date (AI 17) of the GS1 element string a line was scanned from, as
        :meth:`_add_element_string` checked it: the line keeps the code it was scanned
        with, so the date is read from it again (with the sale's day for the century
        of YYMMDD, GS1 General Specifications 7.12). None for a line not scanned from
        an element string with an expiry date."""
        if not ln.scanned_code:
            return None
        try:
            es = parse_element_string(ln.scanned_code, self.day_of(sale.created_at))
        except DomainError:  # some other code that only starts like one (a barcode)
            return None
        if es is None or es.expiry is None:
            return None
        return catalog_store.LotRef(es.lot, ln.item_id, ln.variant_id, es.expiry.isoformat())

    def _check_serial(
        self, conn: sqlite3.Connection, sale: Sale, item_id: str, serial: str
    ) -> None:
        self._check_serial_for_post(conn, sale, item_id, serial)
        # a parked sale keeps its serial too: sold meanwhile in another sale, the parked
        # one was resumed with it and refused at its post, after the customer had paid
        other = sale_store.serial_in_other_sale(conn, item_id, serial, sale.sale_id)
        if other is not None:
            raise precondition(
                "SERIAL_IN_OTHER_SALE",
                f"serial number {serial} is on another {other[1].lower()} sale ({other[0]})",
                serial=serial,
                sale_id=other[0],
            )

    # -- scanning ---------------------------------------------------------------------

    def _candidate(
        self, sale: Sale, item: Item, variant: Variant | None, **extra: str
    ) -> Candidate:
        uom = item.unit_of(extra.get("unit", ""))
        assert uom is not None
        rate = self._vat.rate(item.vat_category, self.today())
        price = sale.price_for(item.unit_price(variant, uom), item.price_basis, rate)
        name = item.name if variant is None else f"{item.name}, {variant.name}"
        return Candidate(
            item_id=item.item_id,
            name=name,
            unit_price=price,
            variant_id=variant.variant_id if variant else "",
            unit=extra.get("unit", ""),
            vendor_item_number=extra.get("vendor_item_number", ""),
            lot=extra.get("lot", ""),
            serial=extra.get("serial", ""),
        )

    def _variant_choice(self, sale: Sale, item: Item, match: ScanMatch, **extra: str) -> ScanResult:
        return ScanResult(
            sale,
            match,
            choice=ScanChoice.VARIANT_REQUIRED,
            candidates=tuple(self._candidate(sale, item, v, **extra) for v in item.variants),
        )

    def scan(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        code: str,
        *,
        quantity: str = "",
        recalculate_lines: bool | None = None,
    ) -> ScanResult:
        """Resolves one code in the fixed order (see the ``Scan`` RPC); nothing changes
        when the client has to choose or the code is unknown."""
        sale = self._open_sale(tx, operator, sale_id)
        check_scanned_code(code, "code")
        code = strip_aim(code)
        conn = tx.conn
        separated = self._separated_element_string(code)
        if separated is not None:  # nothing else has a GS or runs so long
            line_id = self._add_element_string(
                tx, operator, sale, separated, code, quantity, "", "", "", ""
            )
            return ScanResult(sale, ScanMatch.BARCODE, line_id)
        # (1) customer number
        customer = customer_store.get(conn, code)
        if customer is not None:
            self._set_customer(tx, sale, customer, recalculate_lines)
            return ScanResult(sale, ScanMatch.CUSTOMER)
        self._refuse_parking_slip(conn, code)
        # (2) barcode cross-reference
        matches = catalog_store.barcode_matches(conn, code)
        if len(matches) > 1:
            return ScanResult(
                sale,
                ScanMatch.BARCODE,
                choice=ScanChoice.AMBIGUOUS_BARCODE,
                candidates=tuple(
                    self._candidate(sale, m.item, m.item.variant(m.variant_id), unit=m.unit)
                    for m in matches
                ),
            )
        label: Label | None = None
        if matches:
            m = matches[0]
            if m.item.variants and not m.variant_id:
                return self._variant_choice(sale, m.item, ScanMatch.BARCODE, unit=m.unit)
        # (2b) an in-store label with a price or a weight (instore_codes)
        elif (labelled := self._label(conn, code)) is not None:
            label, m = labelled
        if matches or label is not None:
            line_id = self._add(
                tx,
                operator,
                sale,
                m.item,
                quantity=quantity,
                variant_id=m.variant_id,
                unit=m.unit,
                scanned=code,
                label=label,
            )
            return ScanResult(sale, ScanMatch.BARCODE, line_id)
        # (3) lot number
        lots = catalog_store.lots_by_number(conn, code)
        if len(lots) > 1:
            return ScanResult(
                sale,
                ScanMatch.LOT,
                choice=ScanChoice.AMBIGUOUS_LOT,
                candidates=tuple(
                    self._candidate(
                        sale,
                        item,
                        item.variant(ref.variant_id),
                        lot=ref.lot,
                    )
                    for ref in lots
                    if (item := catalog_store.get(conn, ref.item_id)) is not None
                ),
            )
        if lots:
            ref = lots[0]
            item = self._item(conn, ref.item_id)
            line_id = self._add(
                tx,
                operator,
                sale,
                item,
                quantity=quantity,
                variant_id=ref.variant_id,
                lot=ref.lot,
                scanned=code,
            )
            return ScanResult(sale, ScanMatch.LOT, line_id)
        # (4) serial number
        serials = catalog_store.serials_by_number(conn, code)
        if len(serials) > 1:
            return ScanResult(
                sale,
                ScanMatch.SERIAL,
                choice=ScanChoice.AMBIGUOUS_SERIAL,
                candidates=tuple(
                    self._candidate(sale, item, item.variant(s.variant_id), serial=s.serial)
                    for s in serials
                    if (item := catalog_store.get(conn, s.item_id)) is not None
                ),
            )
        if serials:
            s = serials[0]
            item = self._item(conn, s.item_id)
            if quantity not in ("", "1"):
                raise invalid("quantity", "a serial number is one piece", "SERIAL_QUANTITY_IS_ONE")
            line_id = self._add(
                tx,
                operator,
                sale,
                item,
                quantity="",
                variant_id=s.variant_id,
                serial=s.serial,
                scanned=code,
            )
            return ScanResult(sale, ScanMatch.SERIAL, line_id)
        # (5) item number
        found = catalog_store.get(conn, code)
        if found is not None:
            if found.variants:
                return self._variant_choice(sale, found, ScanMatch.ITEM_NUMBER)
            line_id = self._add(tx, operator, sale, found, quantity=quantity, scanned=code)
            return ScanResult(sale, ScanMatch.ITEM_NUMBER, line_id)
        ctx = self.context(conn)
        # (6) shop discount code
        discount = ctx.shop.discount(code)
        if discount is not None:
            old = sale.set_discount(
                discount.percent, code=discount.code, origin=DiscountOrigin.SHOP
            )
            self.save_sale(tx, sale)
            self.journal_sale(
                tx,
                "SHOP_DISCOUNT",
                sale,
                {
                    "code": discount.code,
                    "name": discount.name,
                    "old_percent": fmt_decimal(old),
                    "new_percent": fmt_decimal(discount.percent),
                    "operator_id": operator.operator_id,
                },
            )
            return ScanResult(sale, ScanMatch.SHOP_DISCOUNT)
        # (7) vendor number
        if ctx.shop.vendor_scan_allowed:
            vendor = catalog_store.get_vendor(conn, code)
            if vendor is not None:
                candidates = []
                for vi in vendor.items:
                    item = catalog_store.get(conn, vi.item_id)
                    if item is not None:
                        candidates.append(
                            self._candidate(
                                sale, item, None, vendor_item_number=vi.vendor_item_number
                            )
                        )
                return ScanResult(
                    sale,
                    ScanMatch.VENDOR,
                    choice=ScanChoice.VENDOR_ITEMS,
                    candidates=tuple(candidates),
                )
        es = parse_element_string(code, self.today())
        if es is not None and es == ElementString(es.gtin):
            # matched nothing as it is: the GTIN alone, scanned as its barcode
            return self.scan(
                tx,
                operator,
                sale_id,
                es.gtin,
                quantity=quantity,
                recalculate_lines=recalculate_lines,
            )
        if es is not None:  # with a lot, serial, date, weight or price
            line_id = self._add_element_string(
                tx, operator, sale, es, code, quantity, "", "", "", ""
            )
            return ScanResult(sale, ScanMatch.BARCODE, line_id)
        raise not_found("UNKNOWN_CODE", f"code {code!r} matches nothing", code=code)

    # -- customer, currency, rate -------------------------------------------------------

    def set_customer(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        customer_number: str,
        recalculate_lines: bool | None,
        currency: str | None = None,
    ) -> Sale:
        """``currency``: the sale's currency with that customer (None: the customer's
        default; a back-office order is in its own, see services/orders.py)."""
        sale = self._open_sale(tx, operator, sale_id)
        if customer_number:
            check_code(customer_number, "customer_number")
            customer = self._customer(tx.conn, customer_number)
        else:
            customer = self._customer(tx.conn, self.context(tx.conn).shop.default_customer_number)
        self._set_customer(tx, sale, customer, recalculate_lines, currency)
        return sale

    def _terms(
        self,
        conn: sqlite3.Connection,
        shop: Shop,
        customer: Customer | None,
        current: Terms,
        currency: str | None = None,
    ) -> Terms:
        """terms_for today, with the register's maximum daily rate age."""
        return terms_for(
            conn,
            shop,
            customer,
            self.today(),
            current,
            currency=currency,
            max_age_days=self._s.exchange_rate_max_age_days,
        )

    def _set_customer(
        self,
        tx: Tx,
        sale: Sale,
        customer: Customer,
        recalculate: bool | None,
        currency: str | None = None,
    ) -> None:
        ctx = self.context(tx.conn)
        sale.check_currency_change(currency or ctx.shop.currency_for(customer))
        terms = self._terms(tx.conn, ctx.shop, customer, sale.terms, currency)
        changes = terms != sale.terms or customer.discount_percent != sale.customer_discount_percent
        if sale.lines and changes and recalculate is None:
            raise precondition(
                "RECALCULATION_CHOICE_REQUIRED",
                f"customer {customer.number} changes the sale's terms: say whether its lines"
                " are recalculated (recalculate_lines)",
                customer_number=customer.number,
                currency=terms.currency,
                vat_direction=terms.direction.value,
            )
        list_prices: dict[str, tuple[int, PriceBasis]] = {}
        if recalculate:
            for line in sale.lines:
                item = catalog_store.get(tx.conn, line.item_id)
                if item is None:
                    continue  # removed from the catalog: the line keeps its price
                uom = item.unit_of(line.unit)
                variant = item.variant(line.variant_id) if line.variant_id else None
                if uom is None or (line.variant_id and variant is None):
                    # gone from the catalog (a unit, a variant): the line keeps its
                    # price, not the base item's
                    continue
                list_prices[line.line_id] = (item.unit_price(variant, uom), item.price_basis)
        sale.set_customer(
            customer.snapshot(),
            customer.discount_percent,
            terms,
            recalculate=bool(recalculate),
            list_prices=list_prices,
        )
        self.save_sale(tx, sale)

    def set_currency(self, tx: Tx, operator: Operator, sale_id: str, currency: str) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        check_currency(currency, "currency_code")
        sale.check_currency_change(currency)
        ctx = self.context(tx.conn)
        customer = (
            customer_store.get(tx.conn, sale.customer.number) if sale.customer.number else None
        )
        terms = self._terms(tx.conn, ctx.shop, customer, sale.terms, currency)
        # the VAT direction stays what the sale has (the customer decided it)
        terms = Terms(
            terms.currency,
            terms.local_currency,
            terms.exchange_rate,
            terms.rate_source,
            terms.rate_date,
            sale.vat_direction,
            sale.vat_rounding,
        )
        sale.change_terms(terms)
        self.save_sale(tx, sale)
        return sale

    def set_exchange_rate(self, tx: Tx, operator: Operator, sale_id: str, rate_text: str) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        operator.require(Permission.PRICE_OVERRIDE)
        rate = parse_rate(rate_text, "exchange_rate")
        if sale.currency == sale.local_currency:
            raise precondition(
                "NOT_A_FOREIGN_CURRENCY_SALE",
                f"sale {sale.sale_id} is in the shop's currency {sale.currency}: no rate",
            )
        old = sale.exchange_rate
        t = sale.terms
        sale.change_terms(
            Terms(
                t.currency, t.local_currency, rate, RateSource.MANUAL, None, t.direction, t.rounding
            )
        )
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "EXCHANGE_RATE_SET",
            sale,
            {
                "currency": sale.currency,
                "local_currency": sale.local_currency,
                "old_rate": fmt_decimal(old),
                "new_rate": fmt_decimal(rate),
                "operator_id": operator.operator_id,
            },
        )
        return sale

    # -- prices and discounts -----------------------------------------------------------

    def set_line_price(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        line_id: str,
        unit_price: int,
        currency: str,
    ) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        check_code(line_id, "line_id")
        ctx = self.context(tx.conn)
        for allowed, scope in (
            (ctx.shop.price_edit_allowed, f"shop {ctx.shop.shop_id}"),
            (ctx.register.price_edit_allowed, f"register {ctx.register.register_id}"),
        ):
            if not allowed:
                raise DomainError(
                    ErrorKind.PERMISSION_DENIED,
                    "PRICE_EDIT_NOT_ALLOWED",
                    f"{scope} does not allow price edits ({Permission.PRICE_OVERRIDE.value})",
                    metadata={"permission": Permission.PRICE_OVERRIDE.value, "scope": scope},
                )
        operator.require(Permission.PRICE_OVERRIDE)
        if currency != sale.currency:
            raise invalid(
                "unit_price.currency_code",
                f"the sale is in {sale.currency}, not {currency[:8]}",
                "CURRENCY_MISMATCH",
            )
        if unit_price > MAX_MINOR:  # Sale.override_price would say "must be 0 or more"
            raise amount_out_of_range("unit_price.amount_minor")
        line, old = sale.override_price(line_id, unit_price)
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "PRICE_OVERRIDE",
            sale,
            {
                "line_id": line.line_id,
                "item_id": line.item_id,
                "variant_id": line.variant_id,
                "old_unit_price": old,
                "new_unit_price": unit_price,
                "list_price": line.list_price,
                "currency": sale.currency,
                "vat_direction": sale.vat_direction.value,
                "operator_id": operator.operator_id,
            },
        )
        return sale

    def _check_discount(
        self, tx: Tx, operator: Operator, percent: Decimal, recorded: Decimal | None = None
    ) -> None:
        """Within the operator's limit. A resumed sale is not recomputed: its recorded
        discount stays unless the operator has DISCOUNT, and then it may change between
        zero and the recorded value (or their own limit, whichever is higher)."""
        if recorded is None and percent == 0:
            return
        operator.require(Permission.DISCOUNT)
        limit = self.context(tx.conn).shop.discount_limit(operator)
        if recorded is not None:
            limit = max(limit, recorded)
        if percent > limit:
            raise DomainError(
                ErrorKind.PERMISSION_DENIED,
                "DISCOUNT_LIMIT_EXCEEDED",
                f"operator {operator.operator_id} may give at most {fmt_decimal(limit)} %"
                f" discount ({Permission.DISCOUNT.value}), not {fmt_decimal(percent)} %",
                metadata={
                    "permission": Permission.DISCOUNT.value,
                    "operator_id": operator.operator_id,
                    "limit_percent": fmt_decimal(limit),
                    "requested_percent": fmt_decimal(percent),
                },
            )

    def set_line_discount(
        self, tx: Tx, operator: Operator, sale_id: str, line_id: str, percent_text: str
    ) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        check_code(line_id, "line_id")
        percent = parse_percent(percent_text, "discount_percent")
        self._check_discount(tx, operator, percent, sale.line(line_id).discount_cap)
        before = sale.operator_discount_percents()
        line, old = sale.set_line_discount(line_id, percent)
        self.check_discount_total(tx, operator, sale, before)
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "LINE_DISCOUNT",
            sale,
            {
                "line_id": line.line_id,
                "item_id": line.item_id,
                "old_percent": fmt_decimal(old),
                "new_percent": fmt_decimal(percent),
                "discount": line.line_discount,
                "currency": sale.currency,
                "operator_id": operator.operator_id,
            },
        )
        return sale

    def set_sale_discount(
        self, tx: Tx, operator: Operator, sale_id: str, percent_text: str
    ) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        percent = parse_percent(percent_text, "discount_percent")
        self._check_discount(tx, operator, percent, sale.discount_cap)
        before = sale.operator_discount_percents()
        old = sale.set_discount(percent)
        self.check_discount_total(tx, operator, sale, before)
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "SALE_DISCOUNT",
            sale,
            {
                "old_percent": fmt_decimal(old),
                "new_percent": fmt_decimal(percent),
                "discount_total": sale.discount_total,
                "currency": sale.currency,
                "operator_id": operator.operator_id,
            },
        )
        return sale

    # -- pick-up date, document type -------------------------------------------------------

    def set_pickup_date(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        day_text: str,
        *,
        confirm_past: bool,
        lines_follow: bool | None,
    ) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        day = parse_day(day_text, "pickup_date")
        sale.set_pickup_date(
            day, today=self.today(), confirm_past=confirm_past, lines_follow=lines_follow
        )
        self.save_sale(tx, sale)
        return sale

    def set_document_type(
        self, tx: Tx, operator: Operator, sale_id: str, doc: DocumentType | None
    ) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        if doc is not None:
            reg = self.context(tx.conn).register
            if doc not in reg.document_types:
                raise precondition(
                    "DOCUMENT_TYPE_NOT_ALLOWED",
                    f"register {reg.register_id} does not issue {doc.value.lower()}s",
                    document_type=doc.value,
                )
        sale.force_document(doc)
        self.save_sale(tx, sale)
        return sale

    def print_invoice(
        self, tx: Tx, operator: Operator, sale_id: str, customer_number: str
    ) -> InvoiceIssued:
        operator.require(Permission.SALE)
        sale = self.get(tx.conn, sale_id)
        if sale.state is not SaleState.POSTED:
            raise precondition(
                "SALE_NOT_POSTED", f"sale {sale.sale_id} is not posted: post it first"
            )
        # an invoice for a receipt that no longer stands would show tax owed (§14c UStG)
        if sale.reverses_sale_id:
            raise precondition(
                "RECEIPT_IS_REVERSAL",
                f"receipt {sale.receipt_number} is a reversal (storno) receipt: it gets no invoice",
                sale_id=sale.sale_id,
            )
        reversal = sale_store.posted_reversal(tx.conn, sale.sale_id)
        if reversal is not None:
            raise precondition(
                "RECEIPT_ALREADY_REVERSED",
                f"receipt {sale.receipt_number} was reversed by receipt {reversal[1]}:"
                " it gets no invoice",
                reversal_sale_id=reversal[0],
            )
        # an invoice's recipient is part of it under its number (§ 14 (4) Nr. 1 and 4
        # UStG): once issued (or posted as one) a repeat prints a copy to that recipient,
        # and a return from an invoice is credited to that invoice's recipient. Another
        # customer named was silently given a copy addressed to the first one.
        fixed = invoice_recipient(sale) or self.credit_recipient(tx.conn, sale)
        if customer_number:
            check_code(customer_number, "customer_number")
            if fixed is not None and fixed.number != customer_number:
                raise precondition(
                    "INVOICE_RECIPIENT_FIXED",
                    f"receipt {sale.receipt_number} was invoiced to customer"
                    f" {fixed.number or fixed.name}: its invoice cannot go to customer"
                    f" {customer_number} (print it without a customer for a copy)",
                    customer_number=fixed.number,
                )
        if fixed is not None:
            recipient = fixed
        elif customer_number:
            recipient = self._customer(tx.conn, customer_number).snapshot()
        else:
            recipient = sale.customer
        missing = missing_attributes(("customer", "customer_address"), recipient, False)
        if missing:
            raise precondition(
                "DOCUMENT_ATTRIBUTE_MISSING",
                f"an invoice needs the customer's name and address (missing: {', '.join(missing)})",
                document_type=DocumentType.INVOICE.value,
                missing=",".join(missing),
            )
        self._check_supplier_tax_id()
        now = self._clock()
        first = sale.document_type is not DocumentType.INVOICE and self._record_invoice(
            tx.conn, sale, recipient, operator.operator_id, now
        )
        outbox.enqueue(
            tx.conn,
            kind="print",
            ref=sale.sale_id,
            receipt_number=sale.receipt_number,
            payload={"document": "receipt", "copy": not first, "invoice": True},
            when=now,
        )
        tx.after_commit(self._on_outbox)
        return InvoiceIssued(sale, copy=not first)

    def _record_invoice(
        self,
        conn: sqlite3.Connection,
        sale: Sale,
        recipient: CustomerSnapshot,
        operator_id: str,
        now: datetime,
    ) -> bool:
        """Records the full invoice of a posted sale to ``recipient`` (and journals it);
        False when one was issued already."""
        if not sale_store.save_invoice(conn, sale.sale_id, recipient, operator_id, now):
            return False
        sale.invoice_to = recipient
        journal.append(
            conn,
            kind="INVOICE_ISSUED",
            register_id=sale.register_id,
            ref=f"receipt:{sale.receipt_number}",
            payload={
                "sale_id": sale.sale_id,
                "receipt_number": sale.receipt_number,
                "customer": recipient.to_dict(),
                "operator_id": operator_id,
            },
            when=now,
        )
        return True

    def credit_recipient(
        self, conn: sqlite3.Connection, sale: Sale, *, refuse: bool = True
    ) -> CustomerSnapshot | None:
        """Whom a sale returning goods of invoiced sales credits: their recipient (None:
        it returns none). One correction names one recipient: goods returned from
        invoices to different recipients are returned by a sale each (refused, or None
        when not ``refuse``: a post completed after a crash never refuses)."""
        recipients = {
            r for r in map(invoice_recipient, credited_invoices(conn, sale)) if r is not None
        }
        if len(recipients) > 1 and not refuse:
            return None
        if len(recipients) > 1:
            raise precondition(
                "RETURN_INVOICE_RECIPIENTS_DIFFER",
                "the sale returns goods invoiced to "
                + " and ".join(sorted(r.number or r.name for r in recipients))
                + ": return each invoice's goods in a sale of its own",
            )
        return next(iter(recipients), None)

    # -- lines and payments ---------------------------------------------------------------

    def update_line(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        line_id: str,
        quantity: str,
        note: str | None = None,
    ) -> Sale:
        """A new quantity and/or note (None: unchanged, "": cleared); the quantity may be
        left empty when a note is given."""
        sale = self._open_sale(tx, operator, sale_id)
        check_code(line_id, "line_id")
        if note is not None:
            check_note(note)  # before the quantity changes: a bad note changes nothing
        if quantity:
            qty = parse_quantity(quantity, fractional=True)
            sale.update_line(line_id, qty)
        elif note is None:
            raise invalid("quantity", "is required", "INVALID_QUANTITY")
        if note is not None:
            sale.set_note(line_id, note)
        self.save_sale(tx, sale)
        return sale

    def start_finish(self, sale_id: str, kind: str, to: str = "") -> None:
        """The TSE is about to finish the sale's transaction as ``kind`` ("post",
        "cancel" or "transfer" to register ``to``): no other change may touch it until
        :meth:`end_finish`."""
        self.posting.add(sale_id)
        self._finishing[sale_id] = (kind, to)

    def end_finish(self, sale_id: str) -> None:
        """The finish begun by :meth:`start_finish` is over (saved or failed)."""
        self.posting.discard(sale_id)
        self._finishing.pop(sale_id, None)

    def check_not_posting(self, sale_id: str) -> None:
        if sale_id not in self.posting:
            return
        kind, to = self._finishing.get(sale_id, ("post", ""))
        if kind == "transfer":
            # a hand-over is no post: the cashier must learn the sale is going to
            # another register (resumed there), not that it was paid and posted here
            where = f"register {to}" if to else "another register"
            raise precondition(
                "SALE_BEING_HANDED_OVER",
                f"sale {sale_id} is being handed over to {where} and cannot change here;"
                " it is continued there",
                sale_id=sale_id,
                to_register_id=to,
            )
        if kind == "cancel":
            raise precondition(
                "SALE_BEING_CANCELLED",
                f"sale {sale_id} is being cancelled and cannot change now",
                sale_id=sale_id,
            )
        raise precondition(
            "SALE_BEING_POSTED", f"sale {sale_id} is being posted and cannot change now"
        )

    def check_editable(self, sale_id: str) -> None:
        self.check_not_posting(sale_id)
        if sale_id in self.unresolved:
            raise self._unresolved_lock(sale_id)
        if sale_id in self.signed_unposted:
            raise self._signed_lock(sale_id)

    def follow_unresolved(self, conn: sqlite3.Connection) -> None:
        """Locks (:attr:`unresolved`) the sales journaled TSE_SALE_UNRESOLVED since the
        last look (at start-up: those of earlier runs, still as they were left). While
        the register serves, reconciliation (after a TSE outage) locks the ones it
        journals itself, at their commit (:meth:`lock_unresolved`)."""
        found, self._unresolved_seen = fstore.unresolved_since(conn, self._unresolved_seen)
        for u in found:
            self.unresolved[u.sale_id] = u

    def lock_unresolved(self, u: fstore.Unresolved) -> None:
        """The hook of FiscalGateway.unresolved_recorded (after its commit)."""
        self.unresolved[u.sale_id] = u

    def _unresolved_lock(self, sale_id: str) -> DomainError:
        u = self.unresolved[sale_id]
        return precondition(
            "SALE_UNRESOLVED",
            f"sale {sale_id}: the TSE holds a receipt it signed for the sale's transaction"
            f" {u.transaction_number}, but the sale's post is refused ({u.reason}:"
            f" {u.message}); changing, posting, cancelling or handing over the sale would"
            " ask the TSE to finish that transaction again, which it refuses, so the sale"
            " is locked: report it to whoever keeps the register's fiscal records (journal"
            " TSE_SALE_UNRESOLVED, the TSE export holds the signed receipt), and go on"
            " with a new sale",
            sale_id=sale_id,
            transaction_number=str(u.transaction_number),
            post_refused=u.reason,
        )

    def _lock_kind(self, sale_id: str) -> str | None:
        """How the TSE finished a sale locked in :attr:`signed_unposted` (None: not)."""
        data = self.signed_unposted.get(sale_id)
        if data is None:
            return None
        if data == pd.AVBELEGABBRUCH:
            return "cancel"
        return "transfer" if data.startswith("AVTransfer^") else "post"

    def check_may_finish(self, sale_id: str, kind: str) -> None:
        """Before the TSE finishes the sale's transaction as ``kind`` ("post", "cancel"
        or "transfer"): not while another finish is under way, and a sale locked in
        :attr:`signed_unposted` only as the kind of finish the TSE already made (it is
        made again: a post posted, a cancellation cancelled, a hand-over handed over)."""
        self.check_not_posting(sale_id)
        if sale_id in self.unresolved:
            raise self._unresolved_lock(sale_id)
        if self._lock_kind(sale_id) not in (None, kind):
            raise self._signed_lock(sale_id)

    def may_finish(self, sale_id: str, kind: str) -> bool:
        """:meth:`check_may_finish` as a question (housekeeping skips such sales)."""
        return (
            sale_id not in self.posting
            and sale_id not in self.unresolved
            and self._lock_kind(sale_id) in (None, kind)
        )

    def lock_finished(self, sale_id: str, fiscal: fstore.SaleTse | None) -> None:
        """Right after the TSE finished the sale's transaction as AVBelegabbruch or
        AVTransfer, before that is written: should the write fail, the sale stays as the
        TSE finished it and can only be cancelled (handed over) again; the committed
        cancellation (hand-over) unlocks it."""
        if (
            fiscal is not None
            and fiscal.state in (fstore.CANCELLED, fstore.TRANSFERRED)
            and fiscal.signature
            and fiscal.process_data
        ):
            self.signed_unposted[sale_id] = fiscal.process_data

    def lock_refused(self, sale_id: str, data: str) -> None:
        """The hook of FiscalGateway.refused_locked: the TSE may hold the sale's
        transaction finished with ``data`` (a receipt, an AVBelegabbruch, an AVTransfer)
        and refused for good to say so; the sale is locked as if that finish had been
        made here and its saving failed (:attr:`signed_unposted`): only that ending, with
        that data, is allowed. Not over a restart: reconciliation asks the TSE again."""
        self.signed_unposted[sale_id] = data

    def transfer_recovered(self, tx: Tx, sale: Sale, fiscal: fstore.SaleTse) -> None:
        """Reconciliation found the parked sale's transaction finished as AVTransfer (a
        hand-over the TSE finished whose saving did not commit): the sale stays parked,
        its row is stored as the TSE finished it, and it is locked so that only the
        hand-over completes it (it takes this row, the TSE is not asked again). The
        stored row keeps the lock over restarts (:meth:`restore_finished_locks`)."""
        if sale_store.state_of(tx.conn, sale.sale_id) is not SaleState.PARKED:
            return  # handed over (or changed) meanwhile: that commit ended the lock
        self.lock_finished(sale.sale_id, fiscal)  # first: should the write fail
        fstore.save(tx.conn, fiscal)

    def restore_finished_locks(self, conn: sqlite3.Connection) -> None:
        """At start-up, before any call: the locks of :attr:`signed_unposted` that the
        database records (a parked sale the TSE finished as a hand-over, see
        :meth:`transfer_recovered`); the others end with the restart (reconciliation
        completes those sales)."""
        for row in fstore.transferred_still_parked(conn):
            self.lock_finished(row.sale_id, row)
        self.follow_unresolved(conn)  # and those left unresolved, still as they were

    def _signed_lock(self, sale_id: str) -> DomainError:
        kind = self._lock_kind(sale_id)
        if kind == "cancel":
            what = "finished it as cancelled but saving the cancellation failed: cancel it again"
        elif kind == "transfer":
            what = (
                "finished it as handed to another register but saving the hand-over failed:"
                " the other register takes it over again"
            )
        else:
            what = "signed it but saving its post failed: post it again (with the same data)"
        return precondition(
            "SALE_SIGNED_NOT_POSTED",
            f"sale {sale_id}: the TSE {what}; until then it cannot change",
            sale_id=sale_id,
        )

    @contextlib.contextmanager
    def failures_after_signing(self, sale_id: str) -> Iterator[None]:
        """Around a signed post or cancellation: a failure after the TSE finished the
        sale's transaction (the sale is then in :attr:`signed_unposted`) becomes
        POST_NOT_SAVED / CANCEL_NOT_SAVED, telling the client what happened and what to
        do; any other error passes unchanged."""
        try:
            yield
        except DomainError:
            raise
        except Exception as exc:
            action = self._lock_kind(sale_id)
            if action is None:
                raise
            log.exception(f"{action}_not_saved_after_signing", sale_id=sale_id)
            raise DomainError(
                ErrorKind.UNAVAILABLE,
                f"{action.upper()}_NOT_SAVED",
                f"the TSE finished sale {sale_id}'s transaction but saving the {action}"
                f" failed ({type(exc).__name__}: {exc}); {action} it again: the TSE answers"
                " with the same signature, and the sale cannot change until then",
                metadata={"sale_id": sale_id},
            ) from exc

    def _unlock_signed(self, sale_id: str) -> None:
        self.signed_unposted.pop(sale_id, None)

    # -- posting ---------------------------------------------------------------------------

    def stock_plan(self, conn: sqlite3.Connection, sale: Sale) -> StockPlan:
        """The stock moves posting ``sale`` makes, and what would go wrong."""
        plan = StockPlan()
        location = sale.location_id or "MAIN"
        totals: dict[StockKey, Decimal] = {}
        items: dict[str, Item | None] = {}
        for ln in sale.lines:
            if not ln.stocked:
                continue
            key = StockKey(location, ln.item_id, ln.variant_id, ln.lot)
            if ln.quantity < 0:  # returned or reversed: back where the item keeps stock
                if ln.item_id not in items:
                    items[ln.item_id] = catalog_store.get(conn, ln.item_id)
                back = _taken_back(conn, items[ln.item_id], ln, key)
                if isinstance(back, str):
                    plan.unbooked.append(back)
                    continue
                key, serial = back
                if serial:
                    plan.moves.append((key, Decimal(1), serial))
                else:
                    totals[key] = totals.get(key, Decimal(0)) + ln.base_quantity
                continue
            if ln.serial:
                plan.moves.append((key, Decimal(-1), ln.serial))
                try:
                    self._check_serial_for_post(conn, sale, ln.item_id, ln.serial)
                except DomainError as exc:
                    plan.serial_problems.append(exc)
                continue
            totals[key] = totals.get(key, Decimal(0)) + ln.base_quantity
        for key, qty in totals.items():
            plan.moves.append((key, -qty, ""))
            after = stock_store.quantity(conn, key) - qty
            # only what the sale takes from: a return to a stock below zero (after an
            # import, or the shop forbidding negative stock since) raises it
            if qty > 0 and after < 0:
                what = key.item_id + (f"/{key.variant_id}" if key.variant_id else "")
                what += f" lot {key.lot}" if key.lot else ""
                plan.negative.append(f"{what} at {key.location_id}: {format_quantity(after)}")
        return plan

    def _check_lines_fit_items(self, conn: sqlite3.Connection, sale: Sale) -> None:
        """Every goods line the sale takes from stock must still fit its item as the
        catalog now has it: a re-import since the line was added may have made it
        serial-numbered or lot-tracked (a line without its serial number posted, and no
        piece left stock), taken its lots away, or removed the line's variant (the line
        took stock off keys no sale uses any more). Refused naming the line, the reason
        the add would have given, so the cashier replaces the line."""
        items: dict[str, Item | None] = {}
        for ln in sale.lines:
            if ln.kind is not LineKind.GOODS or not ln.stocked or ln.quantity <= 0:
                continue
            if ln.item_id not in items:
                items[ln.item_id] = catalog_store.get(conn, ln.item_id)
            item = items[ln.item_id]
            if item is None:
                continue
            what = f"line {ln.line_id} ({item.name}): "
            fix = ": remove the line and add it again"
            problem: tuple[str, str] | None = None
            if ln.variant_id and item.variant(ln.variant_id) is None:
                problem = (
                    "VARIANT_NOT_FOUND",
                    f"item {item.item_id} has no variant {ln.variant_id!r} any more",
                )
            elif not ln.variant_id and item.variants:
                problem = (
                    "VARIANT_REQUIRED",
                    f"item {item.item_id} is sold as one of its variants now",
                )
            elif item.tracking is Tracking.SERIAL and not ln.serial:
                problem = ("SERIAL_REQUIRED", f"item {item.item_id} is serial-numbered now")
                fix = ": remove the line and scan the piece's serial number"
            elif item.tracking is Tracking.LOT and not ln.lot:
                problem = ("LOT_REQUIRED", f"item {item.item_id} is lot-tracked now")
                fix = ": remove the line and scan or give the lot number"
            elif ln.serial and item.tracking is not Tracking.SERIAL:
                problem = (
                    "NOT_SERIAL_TRACKED",
                    f"item {item.item_id} is no longer serial-numbered",
                )
                fix = ": remove the line and add it without a serial number"
            elif ln.lot and item.tracking is not Tracking.LOT:
                problem = ("NOT_LOT_TRACKED", f"item {item.item_id} is no longer lot-tracked")
                fix = ": remove the line and add it without a lot number"
            if problem is not None:
                raise precondition(
                    problem[0],
                    what + problem[1] + fix,
                    line_id=ln.line_id,
                    item_id=item.item_id,
                )

    def _check_serial_for_post(
        self, conn: sqlite3.Connection, sale: Sale, item_id: str, serial: str
    ) -> None:
        # the sale's order may sell what it reserved (LoadOrder adds its lines so)
        problem = catalog_store.serial_not_here(
            conn, item_id, serial, sale.location_id, sale.order_number
        )
        if problem is not None:
            reason, message, held_by = problem
            raise precondition(reason, message, serial=serial, item_id=item_id, **held_by)

    def post_signed(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        sign: Signer,
        *,
        change_currency: str = "",
        reversal_reason: str = "",
        while_signing: Callable[[Sale], None] | None = None,
        ahead: Callable[[Sale], datetime] | None = None,
        delivery: Delivery = Delivery.PAPER,
    ) -> tuple[Sale, fstore.SaleTse | None]:
        """PostSale in ONE transaction: everything that could refuse the post is checked,
        then the TSE is handed the receipt and signs while the post's rows are written,
        and the transaction commits only with the signature (or outage marking) in it.

        A negative total without its refund is refused (REFUND_REQUIRED) before anything
        is signed; balancing it is a change of its own, committed before the post.
        ``while_signing`` gets the posted sale (final but for its fiscal row) right before
        the wait for the signature: work for the answer done while the TSE signs.

        ``ahead``: the post runs ahead of its PostSale (SaleServicer.post_ahead): once the
        receipt number and the sale row are written, ``ahead(sale)`` waits for the call
        and returns its time, which the post then takes (see :meth:`redate_post`).

        ``delivery`` DIGITAL: the customer takes the receipt only electronically (the
        caller checked that digital receipts are on): no print job; the journal record
        says so."""
        operator.require(Permission.SALE)
        self.follow_unresolved(tx.conn)
        if sale_id in self.unresolved:
            raise self._unresolved_lock(sale_id)
        sale = self._take(tx, sale_id)
        if self._lock_kind(sale_id) not in (None, "post"):
            raise self._signed_lock(sale_id)  # finished as a cancellation or hand-over
        signed_data = self.signed_unposted.get(sale_id)
        self._attach_limit(tx.conn, [sale])  # the cash step of its currency
        if sale.settle_rest_in_cash():
            # in the post's transaction, and again by a post retried after its signature
            # (it signed the rounding this payment makes)
            self.save_sale(tx, sale)
        with sale.frozen_totals():
            if signed_data is None:
                # its cash must be expected in a shift's drawer: a sale paid in a shift
                # closed before its post waits for the next shift (then posted into it)
                shift_guard(tx.conn)
                plan = self._validate_post(tx.conn, sale)
                sold_expired = expired_lots(sale)
                self._check_lots_at_post(tx, operator, sale)
                if ahead is not None and expired_lots(sale) != sold_expired:
                    # its journal record takes the time it is written, which a run-ahead
                    # would not re-date (see redate_post): it gives way to the usual post
                    raise Abandoned(f"sale {sale_id}: an expired lot is sold at the post")
            else:
                # signed already: the checks passed then, and the TSE's finish cannot be
                # taken back, so nothing that changed since (stock sold elsewhere) refuses
                # it now; only the data must be what was signed
                sale.check_postable()
                plan = self.stock_plan(tx.conn, sale)
                # its warning and journal were rolled back with the failed post
                self._check_lots_at_post(tx, operator, sale, refuse=False)
        sale.set_change_currency(change_currency)  # refused before the TSE signs
        if signed_data is not None and receipt_process_data(sale) != signed_data:
            raise self._signed_lock(sale_id)  # e.g. another change currency
        if signed_data is None and sign is not no_tse:
            self._store_change_currency(tx, sale, running_ahead=ahead is not None)
        with sale.frozen_totals():
            fiscal = self._post_loaded(
                tx,
                sale,
                None,
                sign,
                plan,
                while_signing,
                ahead,
                delivery,
                check_rates=signed_data is None,
            )
        if sale.reverses_sale_id:
            self.journal_reversal(tx, operator, sale, reversal_reason)
        return sale, fiscal

    def _store_change_currency(self, tx: Tx, sale: Sale, *, running_ahead: bool) -> None:
        """The change currency is part of the signed processData (change paid out in the
        local currency for foreign cash, and its rounding): when it changes that, it is
        committed on the sale row before the TSE is asked to sign, so that a post
        completed after a crash (FiscalGateway reconciliation, from the stored sale)
        asks the TSE for the very data it signed. A run-ahead post commits nothing before
        it is claimed: it gives way to the usual post."""
        stored = sale_store.stored_change_currency(tx.conn, sale.sale_id)
        was_local = bool(sale.change) and stored not in ("", sale.currency)
        if was_local == sale.change_in_local:
            return
        if running_ahead:
            raise Abandoned(f"sale {sale.sale_id}: its change currency is to be stored first")
        sale_store.update(tx.conn, sale, children=False)
        tx.commit_so_far()

    def post_loaded(self, tx: Tx, sale: Sale, fiscal: fstore.SaleTse | None) -> None:
        """The post itself. Never refuses for stock: it also completes posts whose TSE
        transaction was finished before a crash (post_signed checked stock before the
        TSE was asked to sign)."""
        with sale.frozen_totals():
            self._post_loaded(tx, sale, fiscal)

    def _post_loaded(
        self,
        tx: Tx,
        sale: Sale,
        fiscal: fstore.SaleTse | None,
        sign: Signer | None = None,
        plan: StockPlan | None = None,
        while_signing: Callable[[Sale], None] | None = None,
        ahead: Callable[[Sale], datetime] | None = None,
        delivery: Delivery = Delivery.PAPER,
        *,
        check_rates: bool = False,
    ) -> fstore.SaleTse | None:
        conn = tx.conn
        sale.check_postable()
        now = self._clock()
        if check_rates:  # on the post's own business day, before the TSE signs
            self.check_vat_rates(sale, business_day(now, self._s.zone))
        # the TSE signs on its own thread while the rows below are written
        if sign is None:
            signed = None
        else:  # a register without a TSE signs nothing: no processData to compute
            signed = sign(conn, "" if sign is no_tse else receipt_process_data(sale))
        if fiscal is not None and fiscal.process_data != receipt_process_data(sale):
            raise precondition(
                "SALE_CHANGED_WHILE_SIGNING", "the sale changed while it was being signed"
            )
        self._attach_limit(conn, [sale])
        document = sale.document
        if plan is None:
            plan = self.stock_plan(conn, sale)
        number = sale_store.next_counter(conn, receipt_counter(sale.register_id))
        sale.post(number, now, document)
        for text in plan.negative:
            sale.add_warning(f"NEGATIVE_STOCK: {text}")
        for problem in plan.serial_problems:
            sale.add_warning(f"{problem.reason}: {problem.message}")
        for text in plan.unbooked:
            sale.add_warning(f"STOCK_NOT_BOOKED: {text}")
        # posting changes the sale row only; its lines and payments were written by the
        # edits (save_posted_amounts adds what is fixed at posting)
        sale_store.update(conn, sale, now, children=False)
        sale_store.save_posted_amounts(conn, sale)
        # a training sale is never turnover: no stock, no money in the drawer, no kick
        moves = [] if sale.training else plan.moves
        for key, delta, serial in moves:
            if serial:
                catalog_store.put_serial(
                    conn,
                    catalog_store.SerialRef(
                        serial,
                        key.item_id,
                        key.variant_id,
                        key.location_id,
                        catalog_store.SOLD if delta < 0 else catalog_store.IN_STOCK,
                        sale.sale_id,
                    ),
                    now,
                )
            else:
                stock_store.add(conn, key, delta, now)
        if not sale.training:
            self.book_vouchers(conn, sale, now)
        invoices_paid = self.book_invoice_payments(conn, sale, now)  # none when training
        reopened = (
            order_store.reopen_reversed(conn, sale.reverses_sale_id, now)
            if sale.reverses_sale_id
            else ""
        )
        if sale.cash_paid and not sale.training:
            outbox.enqueue(
                conn,
                kind="drawer",
                ref=sale.sale_id,
                receipt_number=number,
                payload={"reason": "cash payment"},
                when=now,
            )
        if delivery is Delivery.PAPER:
            outbox.enqueue(
                conn,
                kind="print",
                ref=sale.sale_id,
                receipt_number=number,
                payload={"document": "receipt", "copy": False},
                when=now,
            )
        record = sale_record(sale)
        record.update(terms_record(sale))
        record["receipt_delivery"] = delivery.value
        if invoices_paid:
            record["invoice_payments"] = invoices_paid
        if reopened:
            record["order_reopened"] = reopened
        # the record is complete but for its TSE part (and, run ahead, its time): encoded
        # while the TSE signs, or before the claim
        payload = journal.EncodedPayload(record)
        if signed is not None and while_signing is not None:
            while_signing(sale)
        ran_at = now
        if ahead is not None:
            # run ahead: the PostSale that claims it dates the post; the append-only rows
            # below are written with its time, the rows above are re-dated after them
            now = ahead(sale)
        for key, delta, serial in moves:
            stock_store.record_move(
                conn,
                key,
                delta,
                reason="SALE" if delta < 0 else "RETURN",
                when=now,
                serial=serial,
                sale_id=sale.sale_id,
                operator_id=sale.operator_id,
            )
        if not sale.training:
            self._drawer_entries(conn, sale, number, to_db(now))
        if now != ran_at:
            self.redate_post(conn, sale, now)
            payload.set("posted_at", to_db(now))
        for hook in self.post_hooks:
            hook(conn, sale, now, delivery)
        if signed is not None:
            fiscal = signed()  # waits for the signature: the commit needs it stored
            if fiscal is not None and fiscal.state == fstore.SIGNED:
                # from here on the TSE has finished the receipt: should this transaction
                # not commit, the sale stays exactly as signed until a post commits
                self.signed_unposted[sale.sale_id] = fiscal.process_data
        if fiscal is not None:
            fstore.save(conn, fiscal)
            payload.set("tse", fiscal_record(fiscal))
            if fiscal.state == fstore.OUTAGE and fiscal.outage_number is not None:
                fstore.add_outage_receipt(conn, fiscal.outage_number, number, sale.sale_id, now)
        journal.append(
            conn,
            kind="SALE_POSTED",
            register_id=sale.register_id,
            ref=f"receipt:{number}",
            payload=payload,
            when=now,
        )
        # goods returned from an invoice: the return is that invoice's correction, to
        # its recipient whoever brought the goods back (the document names the invoice)
        credited = self.credit_recipient(conn, sale, refuse=False)
        if credited is not None:
            self._record_invoice(conn, sale, credited, sale.operator_id, now)
        crashpoints.reached("post.in_transaction")
        # whoever posted it (a retry, reconciliation), a posted sale is locked no more
        tx.after_commit(functools.partial(self._unlock_signed, sale.sale_id))
        tx.after_commit(lambda: crashpoints.reached("post.after_commit"))
        tx.after_commit(self._on_outbox)
        return fiscal

    def redate_post(self, conn: sqlite3.Connection, sale: Sale, when: datetime) -> None:
        """A post run ahead of its PostSale wrote the sale row (and, by trigger, its
        register transaction and completed order), the stock levels and its print and
        drawer jobs with the time it ran; they take ``when``, the time of the call,
        instead. Its append-only rows (stock moves, drawer entries, the journal) are
        written after the claim with ``when`` already; call it after the stock moves
        (they find the stock rows)."""
        if sale.posted_at is None or sale.posted_at == when:
            return
        sale_store.redate_post(conn, sale.sale_id, sale.posted_at, when)
        sale.posted_at = when
        sale.updated_at = when

    def _drawer_entries(
        self, conn: sqlite3.Connection, sale: Sale, number: int, stamp: str
    ) -> None:
        """One entry per payment; cash change as CHANGE. Foreign cash whose change goes
        back in the local currency makes exactly three entries: the amount kept (foreign),
        the surplus deposited (foreign) and its equivalent paid out (local)."""

        def entry(kind: str, method: PaymentMethod, amount: int, currency: str) -> None:
            sale_store.add_drawer_entry(
                conn,
                register_id=sale.register_id,
                sale_id=sale.sale_id,
                receipt_number=number,
                kind=kind,
                method=method.value,
                amount=amount,
                currency=currency,
                when=stamp,
            )

        local = sale.change_in_local
        for p, kept in sale.kept_amounts():
            entry("SALE_PAYMENT", p.method, kept if local else p.amount, sale.currency)
        if local:
            entry("CHANGE_DEPOSIT", PaymentMethod.CASH, sale.change, sale.currency)
            entry("CHANGE_PAYOUT", PaymentMethod.CASH, -sale.change_local, sale.local_currency)
        elif sale.change:
            entry("CHANGE", PaymentMethod.CASH, -sale.change, sale.currency)

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
        tx.after_commit(functools.partial(self._unlock_signed, sale.sale_id))
        now = self._clock()
        sale.cancel(reason, now)
        sale_store.update(tx.conn, sale, now)
        record = sale_record(sale)
        record.update(terms_record(sale))
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
        crashpoints.reached("cancel.in_transaction")

    def validate_cancel(
        self, conn: sqlite3.Connection, operator: Operator, sale_id: str, reason: str
    ) -> Sale:
        operator.require(Permission.SALE)
        sale = self.get(conn, sale_id)
        check_text(reason, "reason", max_len=200, required=False)
        self.follow_unresolved(conn)
        if sale_id in self.unresolved:
            raise self._unresolved_lock(sale_id)
        if sale.state is not SaleState.OPEN:
            sale.cancel(reason, self._clock())  # raises the precise state error
        return sale

    # -- posts completed by crash reconciliation ------------------------------------------
    # After a crash between the TSE finish and the commit, start-up reconciliation posts
    # the sale (the TSE signed it). The client never got its answer; its retry of
    # PostSale (with a request id the daemon never stored) must get the posted sale, not
    # SALE_ALREADY_POSTED. The first retry claims the recovered post.

    def post_recovered(self, tx: Tx, sale: Sale, fiscal: fstore.SaleTse | None) -> None:
        """Reconciliation's post of a sale whose receipt the TSE finished. While the
        daemon runs (a TSE recovery) a PostSale of the same sale may be under way: that
        one posts it, and a sale posted meanwhile is not posted twice."""
        if sale.sale_id in self.posting or (
            sale_store.state_of(tx.conn, sale.sale_id) is not SaleState.OPEN
        ):
            return
        # the warning and journal record of a lot sold past its expiry were rolled back
        # with the post; signed, it is sold whatever the dates, by the sale's operator
        seller = Operator(sale.operator_id, "", "", frozenset())
        self._check_lots_at_post(tx, seller, sale, refuse=False)
        self.post_loaded(tx, sale, fiscal)
        sale_store.mark_recovered(tx.conn, sale.sale_id)

    def claim_recovered(
        self, tx: Tx, operator: Operator, sale_id: str, request_id: str
    ) -> tuple[Sale, fstore.SaleTse | None]:
        operator.require(Permission.SALE)
        claimed = sale_store.claim_recovered(tx.conn, sale_id, request_id)
        sale = self.get(tx.conn, sale_id)
        if not claimed:
            sale.check_postable()  # raises SALE_ALREADY_POSTED
        return sale, fstore.get(tx.conn, sale_id)

    def _validate_post(self, conn: sqlite3.Connection, sale: Sale) -> StockPlan:
        """Everything that could refuse the post; the stock moves it will make.

        A storno inherits its original's document: the register's document types and
        required attributes (perhaps changed since) do not refuse it."""
        ctx = self.context(conn)
        if ctx.register.orders_only:
            raise precondition(
                "REGISTER_ORDERS_ONLY",
                f"register {ctx.register.register_id} takes orders only: park the sale and"
                " post it at a payment register",
                register_id=ctx.register.register_id,
            )
        sale.check_postable()
        self.check_rate_age(sale)
        if ctx.shop.card_authorization_required:
            missing_auth = sale.missing_authorizations()
            if missing_auth:
                raise DomainError(
                    ErrorKind.FAILED_PRECONDITION,
                    "CARD_AUTHORIZATION_MISSING",
                    "card payments without an authorization code: "
                    + ", ".join(f"payment {pid}" for pid in missing_auth),
                    metadata={"payment_ids": ",".join(missing_auth)[:400]},
                    violations=tuple(
                        FieldViolation(
                            f"payments[{pid}].authorization_code", "is required by the shop"
                        )
                        for pid in missing_auth
                    ),
                )
        self.check_vouchers(conn, sale)
        self.check_returns(conn, sale)
        self.credit_recipient(conn, sale)  # refused before the TSE signs
        self.check_invoice_payments(conn, sale)
        doc = sale.document
        if sale.reverses_sale_id:
            pass  # the original's document, see above
        elif doc not in ctx.register.document_types:
            raise precondition(
                "DOCUMENT_TYPE_NOT_ALLOWED",
                f"the sale needs a {doc.value.lower()} (total {sale.total_local} above the"
                f" limit {ctx.shop.simplified_invoice_limit}) but register"
                f" {ctx.register.register_id} does not issue them",
                document_type=doc.value,
            )
        missing = missing_attributes(
            ctx.register.required_attributes(doc), sale.customer, sale.pickup_date is not None
        )
        if missing and not sale.reverses_sale_id:
            raise precondition(
                "DOCUMENT_ATTRIBUTE_MISSING",
                f"a {doc.value.lower()} needs: {', '.join(missing)} (set a customer with"
                " these, or force the document type with SetDocumentType)",
                document_type=doc.value,
                missing=",".join(missing),
            )
        if doc is DocumentType.INVOICE and not sale.reverses_sale_id:
            self._check_supplier_tax_id()
        self._check_lines_fit_items(conn, sale)
        plan = self.stock_plan(conn, sale)
        if plan.serial_problems:
            raise plan.serial_problems[0]
        if plan.negative and not ctx.shop.allow_negative_stock:
            raise precondition(
                "INSUFFICIENT_STOCK",
                "posting would take stock below zero: " + "; ".join(plan.negative),
                items="; ".join(plan.negative)[:480],
            )
        return plan

    # -- abandoned sales ---------------------------------------------------------------------

    def remove_abandoned(self, tx: Tx, sale_id: str, fiscal: fstore.SaleTse | None) -> str:
        """Removes an abandoned sale: DELETED when it never had a TSE transaction and is
        empty, else CANCELLED (its TSE transaction finished as AVBelegabbruch); KEPT when
        it is no longer open."""
        sale = sale_store.get(tx.conn, sale_id)
        if sale is None or sale.state is not SaleState.OPEN:
            return "KEPT"
        if fiscal is None and sale.is_empty and sale_store.delete_empty(tx.conn, sale_id):
            return "DELETED"
        reason = "empty sale abandoned" if sale.is_empty else "abandoned open sale purged"
        row = fiscal if fiscal is not None else fstore.get(tx.conn, sale_id)
        self.cancel_loaded(tx, sale, reason, row)
        return "CANCELLED"


def _taken_back(
    conn: sqlite3.Connection, item: Item | None, ln: SaleLine, key: StockKey
) -> tuple[StockKey, str] | str:
    """Where goods a line takes back (a return, a reversal, a negative line) go: under
    the key the item keeps its stock under now, with the serial number it is counted by
    ("" for a stock row). A re-import may have changed the item's tracking or removed
    the line's variant since the sale (CatalogCommands.store): booked under the line's
    own key, the piece came back where no sale takes it from (GetStock listed it, a
    scan of its serial number found a variant the item no longer has). Without one
    such place (which variant, lot or piece it is now, only the shop can tell), the
    text saying why: the refund posts all the same, the goods are not booked."""
    serial = ln.serial
    if item is None:  # not in the catalog (any more): as sold
        return key, serial
    what = f"line {ln.line_id} ({item.name}): "
    undone = "; it is not booked back: book it with a stock import where it belongs now"
    if not item.item_type.stocked:
        return what + f"item {item.item_id} keeps no stock any more" + undone
    variant = ln.variant_id
    if not item.variants:
        variant = ""  # the item lost its variants: one stock, whatever variant it was
    elif item.variant(variant) is None:
        why = (
            f"item {item.item_id} has no variant {variant!r} any more"
            if variant
            else f"item {item.item_id} is sold as one of its variants now"
        )
        return what + why + undone
    lot = ""
    if item.tracking is Tracking.SERIAL:
        if not serial:
            return what + f"item {item.item_id} is serial-numbered now" + undone
    elif item.tracking is Tracking.LOT:
        serial = ""
        lots = catalog_store.lot_numbers(conn, item.item_id)
        if not ln.lot or lots.get(ln.lot) != variant:
            return (
                what
                + (
                    f"item {item.item_id} has no lot {ln.lot!r} of this variant any more"
                    if ln.lot
                    else f"item {item.item_id} is lot-tracked now"
                )
                + undone
            )
        lot = ln.lot
    else:
        serial = ""  # counted as a quantity now: its stock row takes the piece
    return StockKey(key.location_id, key.item_id, variant, lot), serial


def _one_of(given: str, in_code: str, field: str, code: str) -> str:
    """The lot or serial number of a line: the request's or the code's; both, they must
    be the same."""
    if given and in_code and given != in_code:
        raise invalid(
            field,
            f"{given!r} is not the {in_code!r} that code {code!r} carries",
            "CODE_MISMATCH",
        )
    return given or in_code


def _weight_in_unit(item: Item, uom: UnitOfMeasure, label: Label, weight: Decimal) -> str:
    """A label's ``weight`` (in the item's base unit, e.g. kg) as the quantity of ``uom``,
    as text without an exponent (``normalize`` alone made 10.000 kg "1E+1", a quantity
    the sale refused). A unit barcode ("100g", 0.1 kg) sells that weight in its own unit:
    1.234 kg = 12.34 x 100 g."""
    quantity_in_unit = weight / uom.quantity_per_unit
    if quantity_in_unit != quantity_in_unit.quantize(Decimal("0.001")):
        raise invalid(
            "code",
            f"label {label.code}: {weight} {item.unit} is no whole number of"
            f" thousandths of {uom.unit}: register its item code on the base unit",
            "NOT_SOLD_BY_WEIGHT",
        )
    return fmt_decimal(quantity_in_unit)


def _element_label(es: ElementString, code: str, currency: str, item: Item) -> Label | None:
    """An element string's price (392n, preferred: what the pack costs) or net weight
    (310n) as an in-store label, so that it is sold as one (label price, pack price,
    weight as the quantity). The net weight is kilograms (GS1 General Specifications,
    "Trade measures": AI 310n, net weight, kg): a quantity of ``item`` only when its base
    unit is a weight (kg, g); a metre or a litre it is not."""
    weight = None if es.net_weight_kg is None else kg_in_unit(es.net_weight_kg, item.unit)
    if es.price is not None:
        minor = es.price.scaleb(exponent(currency))
        if minor != minor.to_integral_value():
            raise invalid(
                "code",
                f"{code!r}: its price {es.price} has more decimals than {currency} has",
                "INVALID_ELEMENT_STRING",
            )
        return Label(code, es.gtin, LabelKind.PRICE, int(minor), weight=weight)
    if es.net_weight_kg is not None:
        if weight is None:
            raise invalid(
                "code",
                f"{code!r}: its net weight (AI 310n) is {fmt_decimal(es.net_weight_kg)} kg, but"
                f" {item.name} ({item.item_id}) is sold in {item.unit}: register its GTIN on"
                " an item sold by weight",
                "NOT_SOLD_BY_WEIGHT",
            )
        return weight_label(code, es.gtin, weight)
    return None


def _ambiguous(what: str, matches: list[catalog_store.BarcodeMatch]) -> DomainError:
    return DomainError(
        ErrorKind.FAILED_PRECONDITION,
        "AMBIGUOUS_CODE",
        f"{what} belongs to {len(matches)} items: add by item_id",
        metadata={"candidates": ",".join(m.item.item_id for m in matches)},
    )
