"""The sale aggregate: lines, payments, totals and its state machine.

States: OPEN -> POSTED, OPEN -> CANCELLED. Every other transition is refused with a
clear error and changes nothing (each mutator checks everything before it changes
anything).

Terms of a sale: one currency (the shop's local currency, or a foreign one at an
exchange rate), one VAT direction (GROSS: consumer, line amounts include VAT; NET:
business customer, line amounts exclude VAT) and one VAT rounding mode. A line keeps
its list price (local currency, the item's price basis) and derives its unit price in
the sale's terms from it, so a change of terms converts with a single rounding. A
manually overridden price is converted from the old terms instead.

Amounts of a line, in the sale's direction::

    base     = round(unit_price * quantity)
    discount = round(base * line_discount% / 100)             (customer or manual)
    doc      = round((base - discount) * document_discount% / 100)
    amount   = base - discount - doc

:meth:`Sale.vat_totals` groups the line amounts per rate; :attr:`Sale.total` is the sum
of the gross amounts of those groups (what the customer pays).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from posd_daemon.domain.catalog import Item, ItemType, Tracking, UnitOfMeasure, Variant
from posd_daemon.domain.customer import NO_CUSTOMER, CustomerSnapshot
from posd_daemon.domain.errors import (
    DomainError,
    ErrorKind,
    invalid,
    not_found,
    precondition,
)
from posd_daemon.domain.money import MAX_MINOR, round_half_up
from posd_daemon.domain.pricing import (
    convert_price,
    exponent,
    fmt_decimal,
    local_amount,
    percent_of,
)
from posd_daemon.domain.shop import (
    DEFAULT_SIMPLIFIED_INVOICE_LIMIT,
    DocumentType,
    RateSource,
    choose_document,
)
from posd_daemon.domain.vat import (
    PriceBasis,
    VatCategory,
    VatRounding,
    VatTotal,
    tax_from_gross,
    tax_from_net,
    vat_totals,
)

MAX_LINES = 500
MAX_PAYMENTS = 20
MAX_QUANTITY = Decimal(100_000)
QUANTITY_DECIMALS = 3
MAX_WARNINGS = 50


class SaleState(enum.Enum):
    OPEN = "OPEN"
    POSTED = "POSTED"
    CANCELLED = "CANCELLED"


class PaymentMethod(enum.Enum):
    CASH = "CASH"
    CARD = "CARD"

    @property
    def is_cash(self) -> bool:
        return self is PaymentMethod.CASH


class DiscountOrigin(enum.Enum):
    NONE = ""
    CUSTOMER = "CUSTOMER"  # the customer's discount, applied automatically
    MANUAL = "MANUAL"  # given by an operator (permission DISCOUNT, limited)
    SHOP = "SHOP"  # a shop discount code (document discount)


def parse_quantity(text: str, *, fractional: bool, field_name: str = "quantity") -> Decimal:
    """Parses a client's decimal quantity: > 0, at most 3 decimals, whole unless allowed."""
    if text == "":
        return Decimal(1)
    if len(text) > 20:
        raise invalid(field_name, "is too long", "INVALID_QUANTITY")
    try:
        q = Decimal(text)
    except InvalidOperation:
        raise invalid(field_name, f"{text!r} is not a decimal number", "INVALID_QUANTITY") from None
    if not q.is_finite() or q <= 0:
        raise invalid(field_name, "must be greater than zero", "INVALID_QUANTITY")
    if q > MAX_QUANTITY:
        raise invalid(field_name, f"must be at most {MAX_QUANTITY}", "INVALID_QUANTITY")
    exponent = q.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > QUANTITY_DECIMALS and q != q.quantize(Decimal(1).scaleb(-QUANTITY_DECIMALS)):
        raise invalid(field_name, f"at most {QUANTITY_DECIMALS} decimal places", "INVALID_QUANTITY")
    if not fractional and q != q.to_integral_value():
        raise invalid(
            field_name, "this item is sold in whole units only", "FRACTIONAL_QUANTITY_NOT_ALLOWED"
        )
    return q.normalize() if q == q.to_integral_value() else q


def format_quantity(q: Decimal) -> str:
    if q == q.to_integral_value():
        return str(q.quantize(Decimal(1)))
    return format(q.normalize(), "f")


@dataclass(frozen=True, slots=True)
class Terms:
    """Currency and VAT terms of a sale."""

    currency: str
    local_currency: str
    exchange_rate: Decimal = Decimal(1)
    rate_source: RateSource = RateSource.NONE
    rate_date: date | None = None
    direction: PriceBasis = PriceBasis.GROSS
    rounding: VatRounding = VatRounding.DOCUMENT


@dataclass(slots=True)
class SaleLine:
    line_id: str
    item_id: str
    name: str
    quantity: Decimal
    unit: str
    #: unit price in the sale's currency and VAT direction (minor units)
    unit_price: int
    vat_category: VatCategory
    vat_rate: Decimal
    scanned_code: str = ""
    fractional: bool = False
    variant_id: str = ""
    #: base units per unit of this line (stock is kept in base units)
    unit_factor: Decimal = Decimal(1)
    item_type: ItemType = ItemType.INVENTORY
    #: catalog price per unit (local currency, ``list_basis``); None for old rows
    list_price: int | None = None
    list_basis: PriceBasis = PriceBasis.GROSS
    price_overridden: bool = False
    discount_percent: Decimal = Decimal(0)
    discount_origin: DiscountOrigin = DiscountOrigin.NONE
    lot: str = ""
    serial: str = ""
    pickup_date: date | None = None
    #: derived by the sale (not stored): its direction and this line's document discount
    basis: PriceBasis = PriceBasis.GROSS
    doc_discount: int = 0

    @property
    def base_amount(self) -> int:
        return round_half_up(Decimal(self.unit_price) * self.quantity)

    @property
    def line_discount(self) -> int:
        return percent_of(self.base_amount, self.discount_percent)

    @property
    def discounted(self) -> int:
        """Amount after the line discount, before the document discount."""
        base = self.base_amount
        return base - percent_of(base, self.discount_percent)

    @property
    def amount(self) -> int:
        """Line amount in the sale's direction (gross or net) after all discounts."""
        return self.discounted - self.doc_discount

    @property
    def total(self) -> int:
        """Gross line total (for NET sales: net plus the line's own tax, informational)."""
        if self.basis is PriceBasis.GROSS:
            return self.amount
        return self.amount + tax_from_net(self.amount, self.vat_rate)

    @property
    def net(self) -> int:
        if self.basis is PriceBasis.NET:
            return self.amount
        return self.amount - tax_from_gross(self.amount, self.vat_rate)

    @property
    def base_quantity(self) -> Decimal:
        return self.quantity * self.unit_factor

    @property
    def stocked(self) -> bool:
        return self.item_type.stocked


@dataclass(slots=True)
class Payment:
    payment_id: str
    method: PaymentMethod
    amount: int


@dataclass(slots=True)
class Sale:
    sale_id: str
    register_id: str
    operator_id: str
    currency: str
    created_at: datetime
    state: SaleState = SaleState.OPEN
    lines: list[SaleLine] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    receipt_number: int = 0
    posted_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    revision: int = 0
    next_line_no: int = 1
    next_payment_no: int = 1
    shop_id: str = ""
    location_id: str = ""
    #: the shop's currency ("" = same as ``currency``)
    local_currency: str = ""
    #: units of ``currency`` per one unit of the local currency
    exchange_rate: Decimal = Decimal(1)
    rate_source: RateSource = RateSource.NONE
    rate_date: date | None = None
    vat_direction: PriceBasis = PriceBasis.GROSS
    vat_rounding: VatRounding = VatRounding.DOCUMENT
    customer: CustomerSnapshot = NO_CUSTOMER
    #: the customer's discount, applied to lines as they are added
    customer_discount_percent: Decimal = Decimal(0)
    #: document discount (manual or a shop discount code)
    discount_percent: Decimal = Decimal(0)
    discount_code: str = ""
    discount_origin: DiscountOrigin = DiscountOrigin.NONE
    pickup_date: date | None = None
    #: the document the sale was posted as (None while open)
    document_type: DocumentType | None = None
    #: the document type the client forced (None: by the simplified-invoice limit)
    document_forced: DocumentType | None = None
    warnings: list[str] = field(default_factory=list)
    updated_at: datetime | None = None
    #: recipient of a full invoice issued after posting (None: none issued)
    invoice_to: CustomerSnapshot | None = None
    #: the shop's simplified-invoice limit (local currency; not stored: master data)
    invoice_limit: int = DEFAULT_SIMPLIFIED_INVOICE_LIMIT

    #: a training sale (Schulungsmodus): AVTraining, never turnover
    training: bool = False
    #: totals computed once for a block that reads them often and changes no line
    #: (see :meth:`frozen_totals`); never persisted, never compared
    frozen: list[VatTotal] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.local_currency:
            self.local_currency = self.currency
        self.refresh()

    # -- derived values -------------------------------------------------------------

    def refresh(self) -> None:
        """Re-derives what lines compute from the sale (direction, document discount)."""
        for line in self.lines:
            line.basis = self.vat_direction
            line.doc_discount = percent_of(line.discounted, self.discount_percent)

    @property
    def terms(self) -> Terms:
        return Terms(
            self.currency,
            self.local_currency,
            self.exchange_rate,
            self.rate_source,
            self.rate_date,
            self.vat_direction,
            self.vat_rounding,
        )

    def line_gross_amounts(self) -> dict[str, int]:
        """Each line's gross amount after all discounts, adding up per rate to the
        receipt's gross exactly: gross-priced lines are their amount; in net-priced sales
        each rate's tax is allocated to its lines in proportion to their net amounts
        (largest remainder), so no cent is lost or invented."""
        if self.vat_direction is PriceBasis.GROSS:
            return {ln.line_id: ln.amount for ln in self.lines}
        out: dict[str, int] = {}
        for vt in self.vat_totals():
            group = [
                ln for ln in self.lines
                if ln.vat_category == vt.category and ln.vat_rate == vt.percent
            ]  # fmt: skip
            net = sum(ln.amount for ln in group)
            shares = [(vt.tax * ln.amount // net) if net else 0 for ln in group]
            rest = vt.tax - sum(shares)
            order = sorted(
                range(len(group)),
                key=lambda i: (-((vt.tax * group[i].amount) % net) if net else 0, i),
            )
            step = 1 if rest >= 0 else -1
            k = 0
            while rest and group:
                shares[order[k % len(group)]] += step
                rest -= step
                k += 1
            for ln, share in zip(group, shares, strict=True):
                out[ln.line_id] = ln.amount + share
        return out

    @contextmanager
    def frozen_totals(self) -> Iterator[None]:
        """Computes the VAT totals once for a block that reads ``total``, ``change``,
        ``open_amount`` … many times and does not change lines or terms (posting,
        rendering). Nested blocks reuse the outer computation."""
        if self.frozen is not None:
            yield
            return
        self.frozen = self.vat_totals()
        try:
            yield
        finally:
            self.frozen = None

    def vat_totals(self) -> list[VatTotal]:
        if self.frozen is not None:
            return list(self.frozen)
        return vat_totals(
            ((ln.vat_category, ln.vat_rate, ln.amount) for ln in self.lines),
            self.vat_direction,
            self.vat_rounding,
        )

    @property
    def total(self) -> int:
        """Gross total the customer pays, in the sale's currency."""
        return sum(vt.gross for vt in self.vat_totals())

    @property
    def net_total(self) -> int:
        return sum(vt.net for vt in self.vat_totals())

    @property
    def tax_total(self) -> int:
        return sum(vt.tax for vt in self.vat_totals())

    @property
    def discount_total(self) -> int:
        """All discounts in the sale's direction (line and document discounts)."""
        return sum(ln.line_discount + ln.doc_discount for ln in self.lines)

    @property
    def total_local(self) -> int:
        """The gross total in the shop's local currency."""
        return self.to_local(self.total)

    def to_local(self, amount: int) -> int:
        return local_amount(
            amount,
            currency=self.currency,
            local_currency=self.local_currency,
            rate=self.exchange_rate,
        )

    @property
    def paid(self) -> int:
        return sum(p.amount for p in self.payments)

    @property
    def cash_paid(self) -> int:
        return sum(p.amount for p in self.payments if p.method.is_cash)

    @property
    def open_amount(self) -> int:
        return max(0, self.total - self.paid)

    @property
    def change(self) -> int:
        """Cash to hand back: what was tendered beyond the total (only ever from cash)."""
        return max(0, self.paid - self.total)

    @property
    def document(self) -> DocumentType:
        """The document as posted, or (while open) what posting would issue now."""
        if self.document_type is not None:
            return self.document_type
        return self.document_for_total(self.total)

    def document_for_total(self, total: int) -> DocumentType:
        return choose_document(self.to_local(total), self.invoice_limit, self.document_forced)

    @property
    def is_empty(self) -> bool:
        return not self.lines and not self.payments

    # -- guards ---------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.state is SaleState.POSTED:
            raise precondition(
                "SALE_ALREADY_POSTED",
                f"sale {self.sale_id} is posted (receipt {self.receipt_number}) and cannot change",
                sale_id=self.sale_id,
            )
        if self.state is SaleState.CANCELLED:
            raise precondition(
                "SALE_ALREADY_CANCELLED",
                f"sale {self.sale_id} is cancelled and cannot change",
                sale_id=self.sale_id,
            )

    def line(self, line_id: str) -> SaleLine:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise not_found("LINE_NOT_FOUND", f"sale {self.sale_id} has no line {line_id[:64]!r}")

    _line = line

    def _touch(self) -> None:
        self.refresh()
        self.revision += 1

    def _check_total(self) -> None:
        if self.total > MAX_MINOR:
            raise invalid("quantity", "the sale total would be out of range", "AMOUNT_OUT_OF_RANGE")

    def price_for(self, list_price: int, list_basis: PriceBasis, vat_rate: Decimal) -> int:
        return convert_price(
            list_price,
            vat_rate=vat_rate,
            from_basis=list_basis,
            to_basis=self.vat_direction,
            from_currency=self.local_currency,
            to_currency=self.currency,
            rate=self.exchange_rate,
        )

    # -- commands -------------------------------------------------------------------

    def add_line(
        self,
        item: Item,
        quantity: Decimal,
        vat_rate: Decimal,
        *,
        scanned_code: str = "",
        variant: Variant | None = None,
        unit: UnitOfMeasure | None = None,
        lot: str = "",
        serial: str = "",
    ) -> SaleLine:
        self._require_open()
        if item.currency != self.local_currency:
            raise precondition(
                "CURRENCY_MISMATCH",
                f"item {item.item_id} is priced in {item.currency}, the shop in"
                f" {self.local_currency}",
            )
        if item.variants and variant is None:
            raise precondition(
                "VARIANT_REQUIRED",
                f"item {item.item_id} is sold as one of its variants: choose one",
                item_id=item.item_id,
                variants=",".join(v.variant_id for v in item.variants),
            )
        if item.tracking is Tracking.SERIAL:
            if not serial:
                raise precondition(
                    "SERIAL_REQUIRED",
                    f"item {item.item_id} is serial-numbered: scan the serial number",
                    item_id=item.item_id,
                )
            if quantity != 1:
                raise invalid("quantity", "a serial number is one piece", "SERIAL_QUANTITY_IS_ONE")
            for ln in self.lines:
                if ln.item_id == item.item_id and ln.serial == serial:
                    raise precondition(
                        "SERIAL_ALREADY_IN_SALE",
                        f"serial {serial} of item {item.item_id} is already on line {ln.line_id}",
                        serial=serial,
                    )
        if item.tracking is Tracking.LOT and not lot:
            raise precondition(
                "LOT_REQUIRED",
                f"item {item.item_id} is lot-tracked: scan or give the lot number",
                item_id=item.item_id,
            )
        if len(self.lines) >= MAX_LINES:
            raise DomainError(
                ErrorKind.RESOURCE_EXHAUSTED, "TOO_MANY_LINES", f"at most {MAX_LINES} lines"
            )
        uom = unit if unit is not None else item.unit_of("")
        assert uom is not None
        list_price = item.unit_price(variant, uom)
        name = item.name if variant is None else f"{item.name}, {variant.name}"
        discount = self.customer_discount_percent
        line = SaleLine(
            line_id=str(self.next_line_no),
            item_id=item.item_id,
            name=name[:120],
            quantity=quantity,
            unit=uom.unit,
            unit_price=self.price_for(list_price, item.price_basis, vat_rate),
            vat_category=item.vat_category,
            vat_rate=vat_rate,
            scanned_code=scanned_code,
            fractional=uom.fractional_quantity,
            variant_id=variant.variant_id if variant is not None else "",
            unit_factor=uom.quantity_per_unit,
            item_type=item.item_type,
            list_price=list_price,
            list_basis=item.price_basis,
            discount_percent=discount,
            discount_origin=DiscountOrigin.CUSTOMER if discount else DiscountOrigin.NONE,
            lot=lot,
            serial=serial,
            pickup_date=self.pickup_date,
        )
        self.lines.append(line)
        self.refresh()
        try:
            self._check_total()
        except DomainError:
            self.lines.pop()
            self.refresh()
            raise
        self.next_line_no += 1
        self._touch()
        return line

    def update_line(self, line_id: str, quantity: Decimal) -> SaleLine:
        self._require_open()
        line = self.line(line_id)
        if not line.fractional and quantity != quantity.to_integral_value():
            raise invalid(
                "quantity",
                "this item is sold in whole units only",
                "FRACTIONAL_QUANTITY_NOT_ALLOWED",
            )
        if line.serial and quantity != 1:
            raise invalid("quantity", "a serial number is one piece", "SERIAL_QUANTITY_IS_ONE")
        old = line.quantity
        line.quantity = quantity
        self.refresh()
        try:
            self._check_total()
        except DomainError:
            line.quantity = old
            self.refresh()
            raise
        self._touch()
        return line

    def remove_line(self, line_id: str) -> SaleLine:
        self._require_open()
        line = self.line(line_id)
        self.lines.remove(line)
        self._touch()
        return line

    def override_price(self, line_id: str, unit_price: int) -> tuple[SaleLine, int]:
        """Sets a line's unit price (sale currency and direction); returns the old one."""
        self._require_open()
        line = self.line(line_id)
        if not 0 <= unit_price <= MAX_MINOR:
            raise invalid("unit_price.amount_minor", "must be 0 or more", "INVALID_AMOUNT")
        old = line.unit_price
        line.unit_price = unit_price
        line.price_overridden = True
        self.refresh()
        try:
            self._check_total()
        except DomainError:
            line.unit_price = old
            self.refresh()
            raise
        self._touch()
        return line, old

    def set_line_discount(self, line_id: str, percent: Decimal) -> tuple[SaleLine, Decimal]:
        self._require_open()
        line = self.line(line_id)
        old = line.discount_percent
        line.discount_percent = percent
        line.discount_origin = DiscountOrigin.MANUAL if percent else DiscountOrigin.NONE
        self._touch()
        return line, old

    def set_discount(
        self, percent: Decimal, *, code: str = "", origin: DiscountOrigin = DiscountOrigin.MANUAL
    ) -> Decimal:
        """Sets the document discount; returns the previous percent."""
        self._require_open()
        old = self.discount_percent
        self.discount_percent = percent
        self.discount_code = code if percent else ""
        self.discount_origin = origin if percent else DiscountOrigin.NONE
        self._touch()
        return old

    def check_currency_change(self, currency: str) -> None:
        if currency != self.currency and self.payments:
            raise precondition(
                "CURRENCY_MISMATCH",
                f"sale {self.sale_id} has payments in {self.currency}: remove them before"
                f" changing its currency to {currency}",
                sale_currency=self.currency,
                requested_currency=currency,
            )

    def change_terms(self, terms: Terms) -> None:
        """New currency/rate/direction/rounding; every line's unit price follows.

        Lines priced from the catalog are re-derived from their list price (one
        rounding); overridden prices are converted from the old terms."""
        self._require_open()
        self.check_currency_change(terms.currency)
        old = self.terms
        self.currency = terms.currency
        self.local_currency = terms.local_currency
        self.exchange_rate = terms.exchange_rate
        self.rate_source = terms.rate_source
        self.rate_date = terms.rate_date
        self.vat_direction = terms.direction
        self.vat_rounding = terms.rounding
        for line in self.lines:
            if line.list_price is not None and not line.price_overridden:
                line.unit_price = self.price_for(line.list_price, line.list_basis, line.vat_rate)
            elif old != self.terms:
                line.unit_price = convert_between_terms(
                    line.unit_price, line.vat_rate, old, self.terms
                )
        self.refresh()
        self._check_total()
        self._touch()

    def set_customer(
        self,
        customer: CustomerSnapshot,
        customer_discount: Decimal,
        terms: Terms,
        *,
        recalculate: bool,
        list_prices: dict[str, tuple[int, PriceBasis]] | None = None,
    ) -> None:
        """Sets the customer; currency and direction follow (``terms``).

        ``recalculate``: existing lines take the current catalog prices (``list_prices``
        by line id) and the new customer's discount; otherwise they keep their list
        prices and discounts and are only converted into the new terms."""
        self._require_open()
        self.check_currency_change(terms.currency)
        self.customer = customer
        self.customer_discount_percent = customer_discount
        if recalculate:
            for line in self.lines:
                if list_prices and line.line_id in list_prices:
                    line.list_price, line.list_basis = list_prices[line.line_id]
                if line.discount_origin in (DiscountOrigin.NONE, DiscountOrigin.CUSTOMER):
                    line.discount_percent = customer_discount
                    line.discount_origin = (
                        DiscountOrigin.CUSTOMER if customer_discount else DiscountOrigin.NONE
                    )
        self.change_terms(terms)

    def set_pickup_date(
        self, day: date | None, *, today: date, confirm_past: bool, lines_follow: bool | None
    ) -> None:
        self._require_open()
        if day is not None and day < today and not confirm_past:
            raise precondition(
                "PICKUP_DATE_IN_PAST",
                f"pick-up date {day.isoformat()} is in the past: confirm it to keep it",
                pickup_date=day.isoformat(),
            )
        differing = [ln for ln in self.lines if ln.pickup_date != day]
        if differing and lines_follow is None:
            raise precondition(
                "LINES_FOLLOW_CHOICE_REQUIRED",
                f"sale {self.sale_id} has lines: say whether they follow the new pick-up date",
                lines=",".join(ln.line_id for ln in differing)[:400],
            )
        self.pickup_date = day
        if lines_follow:
            for ln in self.lines:
                ln.pickup_date = day
        self._touch()

    def force_document(self, doc: DocumentType | None) -> None:
        self._require_open()
        self.document_forced = doc
        self._touch()

    def add_warning(self, text: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(text[:300])

    def add_payment(self, method: PaymentMethod, amount: int, currency: str) -> Payment:
        self._require_open()
        if currency != self.currency:
            raise invalid(
                "amount.currency_code",
                f"the sale is in {self.currency}, not {currency[:8]}",
                "CURRENCY_MISMATCH",
            )
        if amount <= 0:
            raise invalid("amount.amount_minor", "must be greater than zero", "INVALID_AMOUNT")
        if amount > MAX_MINOR:
            raise invalid("amount.amount_minor", "out of range", "AMOUNT_OUT_OF_RANGE")
        if len(self.payments) >= MAX_PAYMENTS:
            raise DomainError(
                ErrorKind.RESOURCE_EXHAUSTED, "TOO_MANY_PAYMENTS", f"at most {MAX_PAYMENTS}"
            )
        open_amount = self.open_amount
        if open_amount == 0:
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT", f"sale {self.sale_id} has nothing left to pay"
            )
        if not method.is_cash and amount > open_amount:
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT",
                f"a {method.value.lower()} payment of {amount} exceeds the open amount"
                f" {open_amount} (only cash may exceed it)",
                open_amount_minor=str(open_amount),
            )
        payment = Payment(str(self.next_payment_no), method, amount)
        self.payments.append(payment)
        self.next_payment_no += 1
        self._touch()
        return payment

    def remove_payment(self, payment_id: str) -> Payment:
        self._require_open()
        for p in self.payments:
            if p.payment_id == payment_id:
                self.payments.remove(p)
                self._touch()
                return p
        raise not_found(
            "PAYMENT_NOT_FOUND", f"sale {self.sale_id} has no payment {payment_id[:64]!r}"
        )

    def check_postable(self) -> None:
        """Everything PostSale needs, checked before a receipt number is drawn."""
        self._require_open()
        if not self.lines:
            raise precondition("SALE_EMPTY", f"sale {self.sale_id} has no lines")
        total = self.total
        if total < 0:
            raise precondition("NEGATIVE_TOTAL", "a sale with a negative total needs a refund")
        if self.paid < total:
            raise precondition(
                "SALE_NOT_PAID",
                f"sale {self.sale_id} still has {total - self.paid} to pay",
                open_amount_minor=str(total - self.paid),
            )
        non_cash = self.paid - self.cash_paid
        if non_cash > total:
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT",
                "non-cash payments exceed the total (lines were removed after paying):"
                " remove a payment",
            )
        if self.change > self.cash_paid:
            raise precondition("CHANGE_EXCEEDS_CASH", "change can only be given from cash")

    def post(
        self, receipt_number: int, when: datetime, document: DocumentType | None = None
    ) -> None:
        self.check_postable()
        self.state = SaleState.POSTED
        self.receipt_number = receipt_number
        self.posted_at = when
        self.document_type = document or self.document
        self._touch()

    def cancel(self, reason: str, when: datetime) -> None:
        self._require_open()
        self.state = SaleState.CANCELLED
        self.cancel_reason = reason
        self.cancelled_at = when
        self._touch()


def convert_between_terms(amount: int, vat_rate: Decimal, old: Terms, new: Terms) -> int:
    """An amount in ``old`` terms (currency, direction) in ``new`` terms, rounded once."""
    value = Decimal(amount)
    if old.direction is not new.direction:
        if new.direction is PriceBasis.NET:
            value = value * 100 / (100 + vat_rate)
        else:
            value = value * (100 + vat_rate) / 100
    if old.currency != new.currency:
        if old.currency != old.local_currency:
            value = value / old.exchange_rate
            value = value.scaleb(exponent(old.local_currency) - exponent(old.currency))
        if new.currency != new.local_currency:
            value = value * new.exchange_rate
            value = value.scaleb(exponent(new.currency) - exponent(new.local_currency))
    return round_half_up(value)


def describe_rate(sale: Sale) -> str:
    """ "1 EUR = 0.9412 CHF (FIXED)" or "" for a sale in the local currency."""
    if sale.currency == sale.local_currency:
        return ""
    return (
        f"1 {sale.local_currency} = {fmt_decimal(sale.exchange_rate)} {sale.currency}"
        f" ({sale.rate_source.value})"
    )
