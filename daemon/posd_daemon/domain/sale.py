"""The sale aggregate: lines, payments, totals and its state machine.

States: OPEN -> POSTED, OPEN -> CANCELLED. Every other transition is refused with a
clear error and changes nothing (each mutator checks everything before it changes
anything).

Terms of a sale: one currency (the shop's local currency, or a foreign one at an
exchange rate), one VAT direction (GROSS: consumer, line amounts include VAT; NET:
business customer, line amounts exclude VAT) and one VAT rounding mode. A line keeps
its list price (local currency, the item's price basis) and derives its unit price in
the sale's terms from it, so a change of terms converts with a single rounding. A
price label's price is its list price (as printed) and is derived the same way. A
manually overridden price is converted from the old terms instead.

Amounts of a line, in the sale's direction::

    base     = round(unit_price * quantity)   (a weighed pack's label: its printed price)
    discount = round(base * line_discount% / 100)             (customer or manual)
    doc      = round((base - discount) * document_discount% / 100)
    amount   = base - discount - doc

:meth:`Sale.vat_totals` groups the line amounts per rate; :attr:`Sale.total` is the sum
of the gross amounts of those groups (what the customer pays).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

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
from posd_daemon.domain.payments import (
    Payment,
    PaymentMethod,
    check_in_step,
    round_to_step,
    split_evenly,
)
from posd_daemon.domain.pricing import (
    convert_exact,
    convert_price,
    exponent,
    fmt_decimal,
    local_amount,
    percent_of,
    plain_decimal,
)
from posd_daemon.domain.shop import (
    DEFAULT_SIMPLIFIED_INVOICE_LIMIT,
    DocumentType,
    RateSource,
    choose_document,
)
from posd_daemon.domain.text import check_text
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
#: a line's note ("Gravur: Anna", a repair order's description): two lines of 42-column
#: paper after the indent of a line's details (2 x 40), so a receipt stays short
MAX_NOTE = 80


def check_note(note: str) -> str:
    """A line's note: printable text of at most :data:`MAX_NOTE` characters, "" = none."""
    return check_text(note, "note", max_len=MAX_NOTE, required=False)


class SaleState(enum.Enum):
    OPEN = "OPEN"
    POSTED = "POSTED"
    CANCELLED = "CANCELLED"
    #: parked: kept with all lines and payments, held by no register until resumed
    PARKED = "PARKED"
    #: handed over to another register of the store (which continues it as its own)
    TRANSFERRED = "TRANSFERRED"


class LineKind(enum.Enum):
    """What a line is. Lines other than GOODS have a fixed (signed) amount."""

    GOODS = "GOODS"  # an item sold, including a voucher sold (positive)
    RETURN = "RETURN"  # an item returned: references the original receipt line (negative)
    DISCOUNT = "DISCOUNT"  # an untracked shop discount by amount or percent (negative)
    VOUCHER_REDEMPTION = "VOUCHER_REDEMPTION"  # a tracked voucher redeemed (negative)
    BALANCING = "BALANCING"  # the shop's balancing account brings the total to zero
    #: an open invoice paid on account (positive, not taxable); item_id is the invoice
    #: number, as a balancing line's item_id is the account (domain/open_items.py)
    INVOICE_PAYMENT = "INVOICE_PAYMENT"


class DiscountOrigin(enum.Enum):
    NONE = ""
    CUSTOMER = "CUSTOMER"  # the customer's discount, applied automatically
    MANUAL = "MANUAL"  # given by an operator (permission DISCOUNT, limited)
    SHOP = "SHOP"  # a shop discount code (document discount)
    #: a price agreed with the customer (a back-office order's): what the customer pays,
    #: no customer's discount on top, not even after a recalculation
    AGREED = "AGREED"


def parse_quantity(text: str, *, fractional: bool, field_name: str = "quantity") -> Decimal:
    """Parses a client's decimal quantity: > 0, at most 3 decimals, whole unless allowed."""
    if text == "":
        return Decimal(1)
    if len(text) > 20:
        raise invalid(field_name, "is too long", "INVALID_QUANTITY")
    # digits and one decimal point only (a negative one: said to be out of range)
    q = plain_decimal(text, field_name, "INVALID_QUANTITY", "must be greater than zero")
    if q <= 0:
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
    #: the unit price is not the catalog's (an operator's or a price label's): a
    #: customer's recalculation keeps it; a new currency converts an operator's, and
    #: derives a label's from its printed price (``list_price``)
    price_overridden: bool = False
    #: that price is a price label's (an in-store code with the price in it), not one an
    #: operator set: the receipt says where it comes from, not that it was changed
    price_from_label: bool = False
    #: an operator's price as set (``unit_price`` then) and the sale's currency, exchange
    #: rate and VAT direction then: a new currency or direction converts it from these
    #: once, as a catalog price from ``list_price``, never from the last terms' rounded
    #: price (in a CZK shop 100.01 CZK went to 4.11 EUR and back to 99.93 CZK); None: no
    #: operator's price, or one set before schema 26 (converted from the last terms, as
    #: it always was). Plain fields, not a Terms: a parked sale's snapshot carries them
    override_price: int | None = None
    override_currency: str = ""
    override_rate: Decimal = Decimal(1)
    override_basis: PriceBasis = PriceBasis.GROSS
    discount_percent: Decimal = Decimal(0)
    discount_origin: DiscountOrigin = DiscountOrigin.NONE
    lot: str = ""
    serial: str = ""
    #: free text printed under the line (a cashier's, a loaded order line's text);
    #: "" = none. Not in the TSE's processData: Kassenbeleg-V1 has no line texts
    note: str = ""
    pickup_date: date | None = None
    kind: LineKind = LineKind.GOODS
    #: the line's amount when it is not unit price times quantity (returns, discount,
    #: voucher and balancing lines, storno lines): signed, sale currency and direction
    fixed_amount: int | None = None
    #: a weighed pack's printed price (a price label of an item sold by weight; local
    #: currency, ``list_basis``): the scale's legal-for-trade price is what the customer
    #: pays for the pack, whatever its weight times a price per unit in whole cents
    #: makes; None: priced by unit price and quantity
    pack_price: int | None = None
    #: ``pack_price`` in the sale's currency and direction (converted once from it):
    #: the line's base amount in place of unit price times quantity; None without one
    fixed_total: int | None = None
    #: the line this one refers to: a returned/reversed receipt line, a discounted line
    ref_sale_id: str = ""
    ref_line_id: str = ""
    ref_receipt: int = 0
    #: a tracked voucher's code (sold or redeemed on this line)
    voucher_code: str = ""
    #: the discount recorded when the sale was parked: an operator resuming it may give
    #: up to this (or their own limit, whichever is higher); None: never parked
    discount_cap: Decimal | None = None
    #: derived by the sale (not stored): its direction and this line's document discount
    basis: PriceBasis = PriceBasis.GROSS
    doc_discount: int = 0
    #: (fields, base amount, discounted amount): the two amounts every total reads many
    #: times, kept for as long as the fields they derive from stay the same (not stored)
    memo: tuple[Any, ...] = field(default=(), init=False, compare=False, repr=False)

    def _amounts(self) -> tuple[int, int]:
        fixed_total = self.fixed_total
        key = (
            self.unit_price,
            self.quantity,
            self.discount_percent,
            self.fixed_amount,
            fixed_total,
        )
        memo = self.memo
        if memo and memo[0] == key:
            return memo[1], memo[2]
        if self.fixed_amount is not None:
            base = discounted = self.fixed_amount
        else:
            if fixed_total is None:
                base = round_half_up(Decimal(self.unit_price) * self.quantity)
            else:
                base = fixed_total
            discounted = base - percent_of(base, self.discount_percent)
        self.memo = (key, base, discounted)
        return base, discounted

    @property
    def base_amount(self) -> int:
        return self._amounts()[0]

    @property
    def line_discount(self) -> int:
        base, discounted = self._amounts()
        return base - discounted

    @property
    def discounted(self) -> int:
        """Amount after the line discount, before the document discount."""
        return self._amounts()[1]

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
    def invoice_number(self) -> str:
        """The open invoice this line pays ("" for other kinds)."""
        return self.item_id if self.kind is LineKind.INVOICE_PAYMENT else ""

    @property
    def discountable(self) -> bool:
        """Goods a shop discount may reduce: not a voucher sold (it is worth its value
        when redeemed, so it is sold at that value)."""
        return self.kind is LineKind.GOODS and self.item_type is not ItemType.VOUCHER

    @property
    def base_quantity(self) -> Decimal:
        return self.quantity * self.unit_factor

    @property
    def stocked(self) -> bool:
        return self.item_type.stocked and self.kind in (LineKind.GOODS, LineKind.RETURN)


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
    #: the shop's cash rounding step for the sale's currency (not stored: master data;
    #: only for showing what cash would settle; the payments carry their own step)
    cash_step: int = 1
    #: the shop's cash rounding step for the local currency (not stored: master data):
    #: change paid out in the local currency is cash, rounded to it
    local_cash_step: int = 1
    #: the currency change goes back in: the sale's, or (foreign cash) the local one
    change_currency: str = ""
    #: change paid out in the local currency (set when posting a foreign-currency sale)
    change_local: int = 0
    #: the cash rounding of that change (local currency, set when posting; see
    #: :meth:`local_change_rounding`); None: posted before it was kept (schema 19)
    change_rounding: int | None = None
    #: parking: the slip's barcode, when, and the register now holding the sale
    parking_code: str = ""
    parked_at: datetime | None = None
    held_by: str = ""
    #: the register the sale came from when it was transferred here ("" = this one)
    origin_register: str = ""
    #: a reversal (storno) receipt: the posted sale it reverses
    reverses_sale_id: str = ""
    reverses_receipt: int = 0
    #: the document discount recorded when parked (see SaleLine.discount_cap)
    discount_cap: Decimal | None = None

    #: a training sale (Schulungsmodus): AVTraining, never turnover
    training: bool = False
    #: the back-office order this sale was loaded from ("" = none; services/orders.py)
    order_number: str = ""
    #: totals computed once for a block that reads them often and changes no line
    #: (see :meth:`frozen_totals`); never persisted, never compared
    frozen: list[VatTotal] | None = field(default=None, repr=False, compare=False)
    #: opaque to the domain: what the store last wrote for this object (lets it write
    #: only the rows that changed); never persisted, never compared
    persisted: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.local_currency:
            self.local_currency = self.currency
        self.refresh()

    # -- derived values -------------------------------------------------------------

    def refresh(self) -> None:
        """Re-derives what lines compute from the sale: direction, document discount,
        and (open sales) the shop discounts given by percent on a line.

        The document discount applies to goods priced from unit price and quantity only.
        It is the percent of each VAT rate's goods, rounded once per rate and allocated
        to the rate's lines (largest remainder): 10 % of 5 x 1.05 is 0.53, as the receipt's
        "Rabatt 10 %" says, not 5 x 0.11; per rate, so each rate's tax is reduced by
        exactly its share (§ 17 UStG)."""
        percent = self.discount_percent
        groups: dict[tuple[VatCategory, Decimal], list[SaleLine]] = {}
        shop_discounts = False
        for line in self.lines:
            line.basis = self.vat_direction
            line.doc_discount = 0
            if line.fixed_amount is not None:
                shop_discounts = shop_discounts or line.kind is LineKind.DISCOUNT
            elif percent:
                groups.setdefault((line.vat_category, line.vat_rate), []).append(line)
        for group in groups.values():
            weights = [max(ln.discounted, 0) for ln in group]
            ties = [_line_key(ln.line_id) for ln in group]
            shares = allocate(percent_of(sum(weights), percent), weights, ties)
            for ln, share in zip(group, shares, strict=True):
                ln.doc_discount = share
        if shop_discounts and self.state is SaleState.OPEN:
            self._follow_percent_discounts()

    def _follow_percent_discounts(self) -> None:
        """A shop discount given by percent on a line stays that percent of the line as
        the line changes (quantity, price, its own or the document discount)."""
        goods = {ln.line_id: ln for ln in self.lines if ln.kind is LineKind.GOODS}
        for ln in self.lines:
            if (
                ln.kind is LineKind.DISCOUNT
                and ln.discount_percent
                and ln.ref_line_id
                and not ln.ref_sale_id
                and (ref := goods.get(ln.ref_line_id)) is not None
            ):
                ln.fixed_amount = -percent_of(max(ref.amount, 0), ln.discount_percent)

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
        each line gets its own tax, and the few cents by which the rate's tax (rounded
        once per rate) differs from the sum of the lines' taxes go to the largest lines
        (vouchers' lines last).
        Not in proportion to the signed net amounts: an exchange (-1000.00 back, +1000.03
        bought) has a tax of 0.01, which would give its lines -333 and +333 "tax"."""
        if self.vat_direction is PriceBasis.GROSS:
            return {ln.line_id: ln.amount for ln in self.lines}
        out: dict[str, int] = {}
        for vt in self.vat_totals():
            group = [
                ln for ln in self.lines
                if ln.vat_category == vt.category and ln.vat_rate == vt.percent
            ]  # fmt: skip
            taxes = [tax_from_net(ln.amount, vt.percent) for ln in group]
            rest = vt.tax - sum(taxes)
            # a voucher's line (sold or redeemed) keeps its own gross, the value it is
            # registered at (book_vouchers: ln.total): the cents go to the other lines
            # first, so that the receipt does not show a 25.00 voucher as 25.01
            order = sorted(
                range(len(group)),
                key=lambda i: (bool(group[i].voucher_code), -abs(group[i].amount), i),
            )
            step = 1 if rest >= 0 else -1
            k = 0
            while rest and group:
                taxes[order[k % len(group)]] += step
                rest -= step
                k += 1
            for ln, tax in zip(group, taxes, strict=True):
                out[ln.line_id] = ln.amount + tax
        return out

    def paid_amounts(self, *, gross: bool = False) -> dict[str, int]:
        """What each goods line cost the customer: its amount less the shop discounts on
        it (a percent discount given on the line, and its share of the amount discounts
        of its VAT rate, in proportion to the goods as those were allocated). A return
        refunds this, never more than was paid.

        ``gross``: in gross amounts (:meth:`line_gross_amounts`, adding up per rate to
        what the customer paid); the same as the amounts in a gross-priced sale."""
        amounts = (
            self.line_gross_amounts() if gross else {ln.line_id: ln.amount for ln in self.lines}
        )
        paid = {ln.line_id: amounts[ln.line_id] for ln in self.lines if ln.kind is LineKind.GOODS}
        by_rate: dict[tuple[VatCategory, Decimal], int] = {}
        for ln in self.lines:
            if ln.kind is not LineKind.DISCOUNT or ln.ref_sale_id:
                continue
            if ln.ref_line_id in paid:
                paid[ln.ref_line_id] += amounts[ln.line_id]
            elif not ln.ref_line_id:
                key = (ln.vat_category, ln.vat_rate)
                by_rate[key] = by_rate.get(key, 0) - amounts[ln.line_id]
        for (category, rate), discount in by_rate.items():
            group = [
                ln.line_id for ln in self.lines
                if ln.discountable and ln.vat_category == category and ln.vat_rate == rate
            ]  # fmt: skip
            weights = [max(paid[lid], 0) for lid in group]
            if discount > 0:
                ties = [_line_key(lid) for lid in group]
                for lid, share in zip(group, allocate(discount, weights, ties), strict=True):
                    paid[lid] -= share
        return paid

    def operator_discount_percents(self) -> dict[str, Decimal]:
        """Per goods line, the percent of its price the discounts an operator gives take
        off together (what the operator's limit bounds): its manual line discount, the
        manual document discount, a shop discount by percent on it, and the shop
        discounts by amount as the fraction of the goods before them (they are allocated
        in proportion to the goods). Each taken off what the ones before it left (10 %
        and 10 % are 19 %), from the percents given, not the rounded cents: a 10 %
        document discount's largest-remainder cents would read as 10.5 % on a small line.
        A customer's standing discount and a shop discount code are not the operator's
        (master data and the shop's codes set them) and do not count."""
        goods = [
            ln
            for ln in self.lines
            if ln.kind is LineKind.GOODS
            and ln.discountable
            and ln.amount > 0
            and not ln.ref_sale_id
        ]
        on_line: dict[str, Decimal] = {}
        by_amount = 0
        left = sum(ln.amount for ln in goods)
        for ln in self.lines:
            if ln.kind is not LineKind.DISCOUNT or ln.ref_sale_id:
                continue
            if ln.ref_line_id:
                on_line[ln.ref_line_id] = ln.discount_percent
                left += ln.amount
            else:
                by_amount -= ln.amount
        doc = self.discount_percent if self.discount_origin is DiscountOrigin.MANUAL else 0
        kept_by_amount = Decimal(1) - Decimal(by_amount) / left if left > 0 else Decimal(1)
        out: dict[str, Decimal] = {}
        for ln in goods:
            kept = kept_by_amount * (1 - on_line.get(ln.line_id, Decimal(0)) / 100)
            if ln.discount_origin is DiscountOrigin.MANUAL:
                kept *= 1 - ln.discount_percent / 100
            if ln.fixed_amount is None:  # the document discount's goods (refresh)
                kept *= 1 - Decimal(doc) / 100
            out[ln.line_id] = (1 - kept) * 100
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
        """All discounts in the sale's direction (line and document discounts, and the
        shop discount lines as positive amounts)."""
        return sum(
            ln.line_discount + ln.doc_discount - (ln.amount if ln.kind is LineKind.DISCOUNT else 0)
            for ln in self.lines
        )

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
    def rounding(self) -> int:
        """The rounding difference: the part of the total left to rounded methods (cash)
        rounded to their step, minus that part. 0 without a rounded payment."""
        steps = [p.rounding_step for p in self.payments if p.rounding_step > 1]
        if not steps:
            return 0
        exact = self.total - sum(p.amount for p in self.payments if p.rounding_step <= 1)
        return round_to_step(exact, max(steps)) - exact

    @property
    def due(self) -> int:
        """What the payments must settle: the total plus the rounding difference;
        negative when money goes back (returns, storno)."""
        return self.total + self.rounding

    @property
    def open_amount(self) -> int:
        """Still to pay (> 0), or still to refund (< 0, only when ``due`` is negative)."""
        due = self.due
        if due < 0:
            return min(0, due - self.paid)
        return max(0, due - self.paid)

    @property
    def exact_rest(self) -> int:
        """What is left of the total, unrounded: what a method without a rounding step
        (a card) pays (> 0), or refunds (< 0)."""
        rest = self.total - self.paid
        return max(0, rest) if self.total >= 0 else min(0, rest)

    @property
    def open_amount_cash(self) -> int:
        """What a cash payment would have to cover now, rounded to the cash step."""
        if any(p.rounding_step > 1 for p in self.payments) or self.cash_step <= 1:
            return self.open_amount
        exact = self.total - sum(p.amount for p in self.payments)
        rounded = round_to_step(exact, self.cash_step)
        return max(0, rounded) if self.due >= 0 else min(0, rounded)

    @property
    def change(self) -> int:
        """Cash to hand back: what was tendered beyond the amount due (only from cash)."""
        due = self.due
        if due < 0:
            return 0
        return max(0, self.paid - due)

    def kept_amounts(self) -> list[tuple[Payment, int]]:
        """Each payment with the amount actually kept (cash less the change, taken from
        the cash payments in order): what is booked as payment."""
        change = self.change
        out = []
        for p in self.payments:
            amount = p.amount
            if p.method.is_cash and change and amount > 0:
                kept = max(0, amount - change)
                change -= amount - kept
                amount = kept
            out.append((p, amount))
        return out

    @property
    def document(self) -> DocumentType:
        """The document as posted, or (while open) what posting would issue now."""
        if self.document_type is not None:
            return self.document_type
        return self.document_for_total(self.total)

    def document_for_total(self, total: int) -> DocumentType:
        """The document for the sale's ``total``, chosen on the value of the supply
        (§33 UStDV): what is no price of a supply is taken out: multi-purpose vouchers
        (not taxable: a means of payment; sold, taken back or redeemed, §3 (14) UStG),
        payments on account of open invoices (the invoice was issued) and balancing
        lines."""
        supply = total - sum(ln.amount for ln in self.lines if not _is_supply(ln))
        return choose_document(self.to_local(supply), self.invoice_limit, self.document_forced)

    @property
    def is_empty(self) -> bool:
        return not self.lines and not self.payments

    # -- guards ---------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.state is SaleState.PARKED:
            raise precondition(
                "SALE_PARKED",
                f"sale {self.sale_id} is parked: resume it (ResumeSale or scan its slip)",
                sale_id=self.sale_id,
                parking_code=self.parking_code,
            )
        if self.state is SaleState.TRANSFERRED:
            raise precondition(
                "SALE_TRANSFERRED",
                f"sale {self.sale_id} was handed over to register {self.held_by}",
                sale_id=self.sale_id,
                held_by=self.held_by,
            )
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

    def _check_total(self, before: int | None = None) -> None:
        """What every change of lines must leave: a total in range, no VAT rate whose
        shop discounts exceed its goods (a discount never pays money out), and no VAT
        rate whose vouchers taxed when sold exceed its goods (see
        :meth:`voucher_goods_left`).

        ``before``: the total before a change that is not a voucher redemption, given
        when the sale redeems vouchers (see :meth:`voucher_total_before`): the change
        may not take the total below zero. Vouchers are redeemed up to what is left to
        pay and keep their rest; a sale whose vouchers exceed its goods has their rest
        booked to the balancing account at the post (forfeited), which the cashier
        decides by redeeming an amount, never by taking goods off afterwards."""
        total = self.total
        # the local value is stored too (sales.total_local, a 64-bit INTEGER): at a tiny
        # exchange rate it is far above the sale's own total
        if abs(total) > MAX_MINOR or (
            self.currency != self.local_currency and abs(self.to_local(total)) > MAX_MINOR
        ):
            raise invalid("quantity", "the sale total would be out of range", "AMOUNT_OUT_OF_RANGE")
        if self.state is not SaleState.OPEN:
            return
        if before is not None and total < 0 and total < before:
            raise precondition(
                "VOUCHER_EXCEEDS_GOODS",
                f"the vouchers redeemed on sale {self.sale_id} would exceed what is left to"
                " pay, and their rest would be forfeited: take the voucher off first (its"
                " rest stays on it) and scan it again",
                sale_id=self.sale_id,
            )
        if not any(ln.kind is LineKind.DISCOUNT or _taxed_redemption(ln) for ln in self.lines):
            return
        left: dict[tuple[VatCategory, Decimal], int] = {}
        supply: dict[VatCategory, int] = {}
        vouchers: set[VatCategory] = set()
        for ln in self.lines:
            key = (ln.vat_category, ln.vat_rate)
            if (ln.discountable and ln.amount > 0) or ln.kind is LineKind.DISCOUNT:
                left[key] = left.get(key, 0) + ln.amount
            if _voucher_supply(ln):
                supply[ln.vat_category] = supply.get(ln.vat_category, 0) + ln.amount
            if _taxed_redemption(ln):
                vouchers.add(ln.vat_category)
        if any(amount < 0 for amount in left.values()):
            raise precondition(
                "DISCOUNT_EXCEEDS_GOODS",
                f"the shop discount on sale {self.sale_id} would exceed the goods it was given"
                " on: remove the discount first",
                sale_id=self.sale_id,
            )
        for category in vouchers:
            if supply[category] < 0:
                raise precondition(
                    "VOUCHER_EXCEEDS_GOODS",
                    f"the vouchers redeemed on sale {self.sale_id} would exceed its goods of"
                    f" their VAT category ({category.name}): take the voucher off first",
                    sale_id=self.sale_id,
                    vat_category=category.name,
                )

    def voucher_total_before(self) -> int | None:
        """The total before a change, when the sale redeems vouchers (the ``before`` of
        :meth:`_check_total`); None without a voucher redeemed (costs nothing then)."""
        if any(ln.kind is LineKind.VOUCHER_REDEMPTION and not ln.ref_sale_id for ln in self.lines):
            return self.total
        return None

    def voucher_goods_left(self, category: VatCategory) -> int:
        """What a voucher taxed when sold (Einzweckgutschein, §3 (14) UStG: its VAT was
        due at its sale) may still pay for, in the sale's direction: the goods of its VAT
        category less the shop discounts and the other such vouchers on them. Beyond them
        its tax would be given back for goods taxed at another rate, or for a rest
        forfeited. By category, not rate: a voucher sold at a rate since changed (16 % in
        2020) pays for the goods at today's rate, its line keeping the rate it was taxed
        at, so that the difference is taxed at the redemption."""
        left = sum(
            ln.amount for ln in self.lines if ln.vat_category == category and _voucher_supply(ln)
        )
        return max(left, 0)

    def _checked(self, undo: Callable[[], None], before: int | None = None) -> None:
        """Checks the change just made (see :meth:`_check_total`); undoes it if refused."""
        self.refresh()
        try:
            self._check_total(before)
        except DomainError:
            undo()
            self.refresh()
            raise

    @contextmanager
    def _lines_checked(self) -> Iterator[None]:
        """Lines added in the block are checked together (see :meth:`_check_total`): a
        sale redeeming vouchers keeps a total of zero or more; refused, none is added."""
        before = self.voucher_total_before()
        lines, revision, next_no = list(self.lines), self.revision, self.next_line_no

        def undo() -> None:
            self.lines, self.revision, self.next_line_no = lines, revision, next_no

        try:
            yield
        except DomainError:
            undo()
            self.refresh()
            raise
        self._checked(undo, before)

    def add_checked_line(
        self, kind: LineKind, *, keep_total: bool = True, **fields: Any
    ) -> SaleLine:
        """:meth:`add_fixed_line` with the checks of :meth:`_check_total` (a return, a
        voucher redeemed); refused, it is not added. ``keep_total``: the line may not
        take the total of a sale redeeming vouchers below zero (False for a voucher
        redeemed: its amount is what the cashier chose)."""
        before = self.voucher_total_before() if keep_total else None
        revision, next_no = self.revision, self.next_line_no
        line = self.add_fixed_line(kind, **fields)

        def undo() -> None:
            self.lines.remove(line)
            self.revision, self.next_line_no = revision, next_no

        self._checked(undo, before)
        return line

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
        pack_price: int | None = None,
        note: str = "",
    ) -> SaleLine:
        """``pack_price``: the price a label prints for ``quantity`` (local currency, the
        item's basis), e.g. a deli scale's price of a weighed pack: the line costs exactly
        that (:attr:`SaleLine.fixed_total`, converted as a whole into the sale's currency
        and direction, as a price label of one piece is), also where no unit price in
        whole cents times ``quantity`` makes it (above one unit: 2.514 kg at 19.89 makes
        50.00, at 19.90 50.03, the label says 50.02). Its unit price is the nearest to
        the price over the weight: what the receipt shows per unit, not what it costs."""
        self._require_open()
        check_note(note)
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
        unit_price = self.price_for(list_price, item.price_basis, vat_rate)
        fixed_total: int | None = None
        if pack_price is not None:
            fixed_total = self.price_for(pack_price, item.price_basis, vat_rate)
            list_price = round_half_up(Decimal(pack_price) / quantity)
            unit_price = round_half_up(Decimal(fixed_total) / quantity)
        name = item.name if variant is None else f"{item.name}, {variant.name}"
        discount = self.customer_discount_percent
        line = SaleLine(
            line_id=str(self.next_line_no),
            item_id=item.item_id,
            name=name[:120],
            quantity=quantity,
            unit=uom.unit,
            unit_price=unit_price,
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
            note=note,
            pickup_date=self.pickup_date,
            pack_price=pack_price,
            fixed_total=fixed_total,
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

    def editable_line(self, line_id: str) -> SaleLine:
        """A goods line whose quantity, price and discount may change."""
        line = self.line(line_id)
        if line.fixed_amount is not None:
            raise precondition(
                "LINE_NOT_EDITABLE",
                f"line {line_id} is a {line.kind.value.lower().replace('_', ' ')} line with a"
                " fixed amount: remove it and add it again",
                line_id=line_id,
            )
        return line

    def update_line(self, line_id: str, quantity: Decimal) -> SaleLine:
        self._require_open()
        line = self.editable_line(line_id)
        if not line.fractional and quantity != quantity.to_integral_value():
            raise invalid(
                "quantity",
                "this item is sold in whole units only",
                "FRACTIONAL_QUANTITY_NOT_ALLOWED",
            )
        if line.serial and quantity != 1:
            raise invalid("quantity", "a serial number is one piece", "SERIAL_QUANTITY_IS_ONE")
        if line.fixed_total is not None and quantity != line.quantity:
            # the printed price is that of the weight printed with it: another weight at
            # the same price would be neither the scale's price nor the catalog's
            raise invalid(
                "quantity",
                f"line {line_id} is a pack of {format_quantity(line.quantity)} {line.unit} at"
                " its label's price: the label carries the weight; remove the line and scan"
                " the pack's label (or sell the item by its weight)",
                "QUANTITY_ON_LABEL",
            )
        old = line.quantity
        before = self.voucher_total_before()
        line.quantity = quantity
        self.refresh()
        try:
            self._check_total(before)
        except DomainError:
            line.quantity = old
            self.refresh()
            raise
        self._touch()
        return line

    def set_note(self, line_id: str, note: str) -> SaleLine:
        """Sets (or, with "", clears) a line's note; amounts do not change."""
        self._require_open()
        line = self.line(line_id)
        line.note = check_note(note)
        self._touch()
        return line

    def remove_line(self, line_id: str) -> SaleLine:
        """Removes a line; discount lines given on it go with it."""
        self._require_open()
        line = self.line(line_id)
        before = self.lines
        total = self.voucher_total_before()
        self.lines = [
            ln
            for ln in self.lines
            if ln is not line and not (ln.kind is LineKind.DISCOUNT and ln.ref_line_id == line_id)
        ]

        def undo() -> None:
            self.lines = before

        self._checked(undo, total)
        self._touch()
        return line

    def add_fixed_line(
        self,
        kind: LineKind,
        *,
        name: str,
        amount: int,
        vat_category: VatCategory,
        vat_rate: Decimal,
        item_id: str = "",
        quantity: Decimal = Decimal(1),
        unit: str = "",
        unit_price: int | None = None,
        item_type: ItemType = ItemType.SERVICE,
        ref_sale_id: str = "",
        ref_line_id: str = "",
        ref_receipt: int = 0,
        voucher_code: str = "",
        discount_percent: Decimal = Decimal(0),
        variant_id: str = "",
        unit_factor: Decimal = Decimal(1),
        lot: str = "",
        serial: str = "",
        note: str = "",
    ) -> SaleLine:
        """A line with a fixed signed amount (sale currency and direction)."""
        self._require_open()
        check_note(note)
        if abs(amount) > MAX_MINOR:
            raise invalid("amount.amount_minor", "out of range", "AMOUNT_OUT_OF_RANGE")
        if len(self.lines) >= MAX_LINES:
            raise DomainError(
                ErrorKind.RESOURCE_EXHAUSTED, "TOO_MANY_LINES", f"at most {MAX_LINES} lines"
            )
        line = SaleLine(
            line_id=str(self.next_line_no),
            item_id=item_id,
            name=name[:120],
            quantity=quantity,
            unit=unit,
            unit_price=amount if unit_price is None else unit_price,
            vat_category=vat_category,
            vat_rate=vat_rate,
            item_type=item_type,
            kind=kind,
            fixed_amount=amount,
            ref_sale_id=ref_sale_id,
            ref_line_id=ref_line_id,
            ref_receipt=ref_receipt,
            voucher_code=voucher_code,
            discount_percent=discount_percent,
            variant_id=variant_id,
            unit_factor=unit_factor,
            lot=lot,
            serial=serial,
            note=note,
        )
        self.lines.append(line)
        self.next_line_no += 1
        self._touch()
        return line

    def goods_by_rate(self) -> list[tuple[VatCategory, Decimal, int]]:
        """Positive goods amounts per VAT rate (what a shop discount may reduce)."""
        groups: dict[tuple[VatCategory, Decimal], int] = {}
        for ln in self.lines:
            if ln.discountable and ln.amount > 0:
                key = (ln.vat_category, ln.vat_rate)
                groups[key] = groups.get(key, 0) + ln.amount
        for ln in self.lines:  # earlier shop discounts reduce what is left to discount
            if ln.kind is LineKind.DISCOUNT:
                key = (ln.vat_category, ln.vat_rate)
                if key in groups:
                    groups[key] += ln.amount
        # by rate, not by the order the goods were scanned in: an amount discount's odd
        # cent between rates of equal goods (see allocate) goes to the same rate whatever
        # the order, so the same basket has the same tax
        return [(c, r, a) for (c, r), a in sorted(groups.items()) if a > 0]

    def add_discount_amount(self, amount: int, name: str) -> list[SaleLine]:
        """A shop discount by amount: one negative line per VAT rate of the goods, the
        amount allocated in proportion to each rate's goods (largest remainder), so the
        tax of each rate is reduced by its share (§17 UStG)."""
        self._require_open()
        groups = self.goods_by_rate()
        base = sum(a for _, _, a in groups)
        if amount <= 0:
            raise invalid("amount.amount_minor", "must be greater than zero", "INVALID_AMOUNT")
        if amount > base:
            raise precondition(
                "DISCOUNT_EXCEEDS_GOODS",
                f"a discount of {amount} exceeds the goods of {base}",
                goods_minor=str(base),
            )
        shares = allocate(
            amount, [a for _, _, a in groups], [(cat.value, str(rate)) for cat, rate, _ in groups]
        )
        with self._lines_checked():
            return [
                self.add_fixed_line(
                    LineKind.DISCOUNT, name=name, amount=-share, vat_category=cat, vat_rate=rate
                )
                for (cat, rate, _), share in zip(groups, shares, strict=True)
                if share
            ]

    def add_discount_percent(
        self, percent: Decimal, line_ids: list[str], name: str
    ) -> list[SaleLine]:
        """A shop discount by percent on the chosen lines: one negative line each."""
        self._require_open()
        if not line_ids:
            raise invalid("line_ids", "choose at least one line", "LINES_REQUIRED")
        targets = []
        for i, lid in enumerate(line_ids):
            if lid in line_ids[:i]:
                # one shop discount per line: named twice it would be given twice (10 %
                # and 10 % again), past LINE_ALREADY_DISCOUNTED and the operator's limit
                raise invalid(
                    f"line_ids[{i}]", f"line {lid} is named more than once", "DUPLICATE_LINE"
                )
            ln = self.line(lid)
            if not ln.discountable or ln.amount <= 0:
                raise precondition(
                    "LINE_NOT_DISCOUNTABLE",
                    f"line {lid} is not goods sold"
                    + (" (a voucher is sold at its value)" if ln.voucher_code else ""),
                    line_id=lid,
                )
            if any(d.kind is LineKind.DISCOUNT and d.ref_line_id == lid for d in self.lines):
                raise precondition(
                    "LINE_ALREADY_DISCOUNTED",
                    f"line {lid} has a shop discount already: remove it first",
                    line_id=lid,
                )
            targets.append(ln)
        added = []
        with self._lines_checked():
            for ln in targets:
                amount = percent_of(ln.amount, percent)
                if amount:
                    added.append(
                        self.add_fixed_line(
                            LineKind.DISCOUNT,
                            name=f"{name} {fmt_decimal(percent)} %",
                            amount=-amount,
                            vat_category=ln.vat_category,
                            vat_rate=ln.vat_rate,
                            ref_line_id=ln.line_id,
                            discount_percent=percent,
                        )
                    )
        return added

    # -- parking ------------------------------------------------------------------------

    def park(self, code: str, when: datetime) -> None:
        """Parks the sale with all its lines and payments; no register holds it now."""
        self._require_open()
        if not self.lines:
            raise precondition("SALE_EMPTY", f"sale {self.sale_id} has no lines to park")
        self.state = SaleState.PARKED
        self.parking_code = self.parking_code or code
        self.parked_at = when
        self.held_by = ""
        for ln in self.lines:
            ln.discount_cap = ln.discount_percent
        self.discount_cap = self.discount_percent
        self._touch()

    def resume(self, register_id: str) -> None:
        """Takes a parked sale up again on ``register_id`` (one register at a time)."""
        if self.state is SaleState.OPEN:
            raise precondition(
                "SALE_HELD",
                f"sale {self.sale_id} is being edited on register"
                f" {self.held_by or self.register_id}",
                held_by=self.held_by or self.register_id,
            )
        if self.state is not SaleState.PARKED:
            self._require_open()  # the precise error (transferred, posted, cancelled)
        self.state = SaleState.OPEN
        self.held_by = register_id
        self._touch()

    def transfer_to(self, register_id: str) -> None:
        """Hands a parked sale over to another register (idempotent for the same one)."""
        if self.state is SaleState.TRANSFERRED and self.held_by == register_id:
            return
        if self.state is not SaleState.PARKED:
            self.resume(register_id)  # raises the precise refusal (held, posted, …)
        self.state = SaleState.TRANSFERRED
        self.held_by = register_id
        self._touch()

    def override_price(
        self, line_id: str, unit_price: int, *, agreed: bool = False
    ) -> tuple[SaleLine, int]:
        """Sets a line's unit price (sale currency and direction); returns the old one.
        ``agreed``: a price agreed with the customer (a back-office order's), which is
        what the customer pays: the customer's discount is not given on top of it."""
        self._require_open()
        line = self.editable_line(line_id)
        if not 0 <= unit_price <= MAX_MINOR:
            raise invalid("unit_price.amount_minor", "must be 0 or more", "INVALID_AMOUNT")
        old = line.unit_price
        old_discount = (line.discount_percent, line.discount_origin)
        old_pack = (line.pack_price, line.fixed_total)
        old_label = line.price_from_label
        old_override = (line.override_price, line.override_currency, line.override_rate,
                        line.override_basis)  # fmt: skip
        before = self.voucher_total_before()
        line.unit_price = unit_price
        line.price_overridden = True
        line.override_price, line.override_currency = unit_price, self.currency
        line.override_rate, line.override_basis = self.exchange_rate, self.vat_direction
        # the operator's price, no longer the label's: the receipt says it was changed
        line.price_from_label = False
        # a weighed pack's label price gives way to the price per unit the operator sets
        line.pack_price = line.fixed_total = None
        if agreed and line.discount_origin in (DiscountOrigin.CUSTOMER, DiscountOrigin.NONE):
            # AGREED, not NONE: set_customer gives NONE lines the customer's discount
            line.discount_percent, line.discount_origin = Decimal(0), DiscountOrigin.AGREED
        self.refresh()
        try:
            self._check_total(before)
        except DomainError:
            line.unit_price = old
            line.discount_percent, line.discount_origin = old_discount
            line.pack_price, line.fixed_total = old_pack
            line.price_from_label = old_label
            (line.override_price, line.override_currency, line.override_rate,
             line.override_basis) = old_override  # fmt: skip
            self.refresh()
            raise
        self._touch()
        return line, old

    def set_line_discount(self, line_id: str, percent: Decimal) -> tuple[SaleLine, Decimal]:
        self._require_open()
        line = self.editable_line(line_id)
        old, old_origin = line.discount_percent, line.discount_origin
        before = self.voucher_total_before()
        line.discount_percent = percent
        line.discount_origin = DiscountOrigin.MANUAL if percent else DiscountOrigin.NONE

        def undo() -> None:
            line.discount_percent, line.discount_origin = old, old_origin

        self._checked(undo, before)
        self._touch()
        return line, old

    def set_discount(
        self, percent: Decimal, *, code: str = "", origin: DiscountOrigin = DiscountOrigin.MANUAL
    ) -> Decimal:
        """Sets the document discount; returns the previous percent."""
        self._require_open()
        old = (self.discount_percent, self.discount_code, self.discount_origin)
        before = self.voucher_total_before()
        self.discount_percent = percent
        self.discount_code = code if percent else ""
        self.discount_origin = origin if percent else DiscountOrigin.NONE

        def undo() -> None:
            self.discount_percent, self.discount_code, self.discount_origin = old

        self._checked(undo, before)
        self._touch()
        return old[0]

    def check_currency_change(self, currency: str) -> None:
        if currency != self.currency and self.payments:
            raise precondition(
                "CURRENCY_MISMATCH",
                f"sale {self.sale_id} has payments in {self.currency}: remove them before"
                f" changing its currency to {currency}",
                sale_currency=self.currency,
                requested_currency=currency,
            )
        if currency != self.currency and self.invoice_payments():
            raise precondition(
                "CURRENCY_MISMATCH",
                f"sale {self.sale_id} pays invoices in {self.currency}: remove those lines"
                f" before changing its currency to {currency}",
                sale_currency=self.currency,
                requested_currency=currency,
            )

    def _check_fixed_amounts(self, old: Terms, new: Terms) -> None:
        """A line of a fixed amount (a return refunding what was paid, a voucher, an
        amount discount, a balancing line) means that amount in the sale's currency,
        rate and price basis: a change of any of them would silently turn it into
        another sum (100.00 refunded becoming 119.00 net, or 100 CHF), so it is refused.
        A discount by percent follows its line and does not hold the terms."""
        changed = (
            new.currency != old.currency
            or new.exchange_rate != old.exchange_rate
            or new.direction != old.direction
        )
        if not changed:
            return
        fixed = [
            ln
            for ln in self.lines
            if ln.fixed_amount is not None
            and not (ln.kind is LineKind.DISCOUNT and ln.discount_percent)
        ]
        if fixed:
            kinds = ", ".join(sorted({ln.kind.value for ln in fixed}))
            raise precondition(
                "TERMS_LOCKED_BY_LINES",
                f"sale {self.sale_id} has lines of a fixed amount ({kinds}): remove them"
                " before changing its currency, exchange rate or price basis",
                lines=",".join(ln.line_id for ln in fixed)[:400],
            )

    def invoice_payments(self) -> list[SaleLine]:
        return [ln for ln in self.lines if ln.kind is LineKind.INVOICE_PAYMENT]

    def change_terms(self, terms: Terms, *, before: int | None = None) -> None:
        """New currency/rate/direction/rounding; every line's unit price follows.

        Lines priced from the catalog are re-derived from their list price (one
        rounding); overridden prices are converted from the old terms."""
        self._require_open()
        self.check_currency_change(terms.currency)
        old = self.terms
        self._check_fixed_amounts(old, terms)
        with self._terms_undone_if_refused():
            self._apply_terms(old, terms, before)

    @contextmanager
    def _terms_undone_if_refused(self) -> Iterator[None]:
        """Puts the terms, the customer and every line's price and discount back as they
        were when the block is refused (a rate that takes the total beyond MAX_MINOR):
        it left the sale in the new currency, its total out of range."""
        fields = ("currency", "local_currency", "exchange_rate", "rate_source", "rate_date",
                  "vat_direction", "vat_rounding", "customer",
                  "customer_discount_percent")  # fmt: skip
        line_fields = ("unit_price", "fixed_total", "list_price", "list_basis",
                       "discount_percent", "discount_origin")  # fmt: skip
        sale_was = [getattr(self, f) for f in fields]
        lines_was = [(ln, [getattr(ln, f) for f in line_fields]) for ln in self.lines]
        try:
            yield
        except DomainError:
            for f, v in zip(fields, sale_was, strict=True):
                setattr(self, f, v)
            for ln, values in lines_was:
                for f, v in zip(line_fields, values, strict=True):
                    setattr(ln, f, v)
            self.refresh()
            raise

    def _apply_terms(self, old: Terms, terms: Terms, before: int | None) -> None:
        self.currency = terms.currency
        self.local_currency = terms.local_currency
        self.exchange_rate = terms.exchange_rate
        self.rate_source = terms.rate_source
        self.rate_date = terms.rate_date
        self.vat_direction = terms.direction
        self.vat_rounding = terms.rounding
        for line in self.lines:
            if line.pack_price is not None:
                # from the printed price each time (one rounding), never from the last
                # terms': a sale switched to net prices and back costs the label's price
                fixed = self.price_for(line.pack_price, line.list_basis, line.vat_rate)
                line.fixed_total = fixed
                line.unit_price = round_half_up(Decimal(fixed) / line.quantity)
            elif line.list_price is not None and (
                not line.price_overridden or line.price_from_label
            ):
                # a price label's price is its list price, as printed: derived from it once
                # as a catalog price is, a sale switched to CHF or net prices and back
                # costs the label's price again (1.10 EUR, 1.05 CHF at 0.95, not 1.11 EUR)
                line.unit_price = self.price_for(line.list_price, line.list_basis, line.vat_rate)
            elif line.override_price is not None:
                # the operator's price as set, converted once from the terms it was set
                # in (the local currency is the sale's, whatever its currency): back in
                # those terms it is that price again
                set_in = Terms(line.override_currency, self.local_currency,
                               line.override_rate, direction=line.override_basis)  # fmt: skip
                line.unit_price = convert_between_terms(
                    line.override_price, line.vat_rate, set_in, self.terms
                )
            elif old != self.terms:
                line.unit_price = convert_between_terms(
                    line.unit_price, line.vat_rate, old, self.terms
                )
        self.refresh()
        self._check_total(before)
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
        if customer.number != self.customer.number and self.order_number:
            # the order's lines and agreed prices are the order customer's
            raise precondition(
                "ORDER_CUSTOMER_MISMATCH",
                f"sale {self.sale_id} is order {self.order_number} of customer"
                f" {self.customer.number}: change the order in the back office instead",
                order_number=self.order_number,
            )
        if customer.number != self.customer.number and self.invoice_payments():
            raise precondition(
                "INVOICE_CUSTOMER_MISMATCH",
                f"sale {self.sale_id} pays invoices of customer {self.customer.number}:"
                " remove those lines before changing the customer",
                customer_number=self.customer.number,
            )
        before = self.voucher_total_before()
        with self._terms_undone_if_refused():
            self._set_customer_terms(
                customer, customer_discount, terms, recalculate, list_prices, before
            )

    def _set_customer_terms(
        self,
        customer: CustomerSnapshot,
        customer_discount: Decimal,
        terms: Terms,
        recalculate: bool,
        list_prices: dict[str, tuple[int, PriceBasis]] | None,
        before: int | None,
    ) -> None:
        self.customer = customer
        self.customer_discount_percent = customer_discount
        if recalculate:
            for line in self.lines:
                # a price label (a piece's or a weighed pack's) keeps its printed price,
                # and the basis it was printed in
                labelled = line.pack_price is not None or line.price_from_label
                if list_prices and line.line_id in list_prices and not labelled:
                    line.list_price, line.list_basis = list_prices[line.line_id]
                # only goods priced by the catalog take the customer's discount: a shop
                # discount line keeps its own percentage, a return or a voucher its amount
                priced = line.kind is LineKind.GOODS and line.fixed_amount is None
                if priced and line.discount_origin in (
                    DiscountOrigin.NONE,
                    DiscountOrigin.CUSTOMER,
                ):
                    line.discount_percent = customer_discount
                    line.discount_origin = (
                        DiscountOrigin.CUSTOMER if customer_discount else DiscountOrigin.NONE
                    )
        self.change_terms(terms, before=before)

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

    def current_vat_rates(
        self, rate_of: Callable[[VatCategory], Decimal]
    ) -> list[tuple[SaleLine, Decimal]]:
        """The lines whose VAT rate is not the one ``rate_of`` gives now, with that rate.

        The rate of the time of supply applies (§ 13 (1) Nr. 1a, § 12 UStG; BMF letter of
        30 June 2020 on the H2-2020 reduction): for a counter sale that is the post, not
        the scan. A line that refers to a posted receipt (a return, a storno line, a
        discount on a returned line) keeps the rate of that receipt: it corrects that
        supply (§ 17 UStG), at its rate. A storno sale is the original negated as a
        whole, so none of its lines changes."""
        if self.reverses_sale_id:
            return []
        changes = []
        for ln in self.lines:
            if ln.ref_sale_id:
                continue
            rate = rate_of(ln.vat_category)
            if rate != ln.vat_rate:
                changes.append((ln, rate))
        return changes

    def total_with_rates(self, rate_of: Callable[[VatCategory], Decimal]) -> int:
        """The total the sale would have at the rates ``rate_of`` gives (changes nothing)."""
        changes = self.current_vat_rates(rate_of)
        old = [(ln, ln.vat_rate) for ln, _ in changes]
        frozen, self.frozen = self.frozen, None
        try:
            for ln, rate in changes:
                ln.vat_rate = rate
            self.refresh()
            return self.total
        finally:
            for ln, rate in old:
                ln.vat_rate = rate
            self.refresh()
            self.frozen = frozen

    def apply_vat_rates(
        self, rate_of: Callable[[VatCategory], Decimal]
    ) -> list[tuple[SaleLine, Decimal]]:
        """Gives every line the VAT rate ``rate_of`` says applies now (see
        :meth:`current_vat_rates`); returns the changed lines with their old rate.

        A line keeps its price in the sale's direction: in a gross-priced sale the gross
        stays what the customer was shown and only its split into net and tax changes
        (what shops did on 1 July 2020 and 1 January 2021); in a net-priced sale the net
        stays and the tax, so the gross, changes."""
        self._require_open()
        changes = self.current_vat_rates(rate_of)
        old = [(ln, ln.vat_rate) for ln, _ in changes]
        for ln, rate in changes:
            ln.vat_rate = rate
        if changes:
            self._touch()
        return old

    def add_warning(self, text: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(text[:300])

    def add_payment(
        self,
        method: PaymentMethod,
        amount: int,
        currency: str,
        *,
        rounding_step: int = 1,
        card_institute: str = "",
        authorization_code: str = "",
        contract_number: str = "",
        reference: str = "",
        down_payment_for: str = "",
        refund_methods: frozenset[PaymentMethod] | None = None,
    ) -> Payment:
        """Adds a payment. ``amount`` 0 takes the open amount (cash: rounded to its
        step); a negative amount is a refund of a negative open amount by a method in
        ``refund_methods``. Only cash may exceed the open amount."""
        self._require_open()
        if currency != self.currency:
            raise invalid(
                "amount.currency_code",
                f"the sale is in {self.currency}, not {currency[:8]}",
                "CURRENCY_MISMATCH",
            )
        if abs(amount) > MAX_MINOR:
            raise invalid("amount.amount_minor", "out of range", "AMOUNT_OUT_OF_RANGE")
        check_in_step(method, amount, rounding_step, self.currency)
        if len(self.payments) >= MAX_PAYMENTS:
            raise DomainError(
                ErrorKind.RESOURCE_EXHAUSTED, "TOO_MANY_PAYMENTS", f"at most {MAX_PAYMENTS}"
            )
        if method is PaymentMethod.CONSUMER_CREDIT and not contract_number:
            raise invalid(
                "contract_number",
                "a consumer credit payment needs the credit contract number",
                "CONTRACT_NUMBER_REQUIRED",
            )
        payment = Payment(
            str(self.next_payment_no),
            method,
            0,
            card_institute=card_institute,
            authorization_code=authorization_code,
            contract_number=contract_number,
            reference=reference,
            # the shop's step for this method in this currency (cash: its cash step;
            # any method may have one, e.g. a benefit card that settles in 0.05)
            rounding_step=rounding_step,
            down_payment_for=down_payment_for,
        )
        self.payments.append(payment)
        try:
            # a rounded method (cash) covers the open amount rounded to its step; any
            # other (a card) pays the exact rest: with cash taken first, the card must
            # not take over the cash's rounding
            open_amount = self.open_amount if rounding_step > 1 else self.exact_rest
            # what is left may round to nothing for this method (0.02 CHF in 0.05 cash,
            # or the last 0.01 after a card): the payment settles it all the same, of
            # 0.00 (or cash tendered, all of it change), the rest a rounding difference.
            # Not when an earlier rounded payment rounded the rest away already
            rounds_away = (
                rounding_step > 1
                and open_amount == 0
                and self.exact_rest != 0
                and not any(q.rounding_step > 1 for q in self.payments if q is not payment)
            )
            if amount == 0:
                amount = open_amount
                if amount == 0 and not rounds_away:
                    raise precondition(
                        "PAYMENT_EXCEEDS_OPEN_AMOUNT",
                        f"sale {self.sale_id} has nothing left to pay",
                    )
            if rounds_away and self.exact_rest < 0:
                # a refund's last rappen kept as a rounding is still a refund by this
                # method: where the shop does not refund by it, the rest goes back exactly
                self._check_refund_method(method, refund_methods)
            # cash tendered beyond a rest that rounds away is change, in a sale that takes
            # money only: in one that gives money back it is not a refund
            tendered = amount > 0 and method.is_cash and self.exact_rest > 0
            if not (rounds_away and (amount == 0 or tendered)):
                self._check_payment_amount(method, amount, open_amount, refund_methods)
        except DomainError:
            self.payments.pop()
            raise
        payment.amount = amount
        self.next_payment_no += 1
        self._touch()
        return payment

    def _check_payment_amount(
        self,
        method: PaymentMethod,
        amount: int,
        open_amount: int,
        refund_methods: frozenset[PaymentMethod] | None,
    ) -> None:
        if amount < 0:
            if open_amount >= 0:
                raise invalid(
                    "amount.amount_minor",
                    "a refund (negative amount) needs a sale with money to give back",
                    "INVALID_AMOUNT",
                )
            self._check_refund_method(method, refund_methods)
            if amount < open_amount:
                raise precondition(
                    "REFUND_EXCEEDS_OPEN_AMOUNT",
                    f"a refund of {-amount} exceeds the {-open_amount} to give back",
                    open_amount_minor=str(open_amount),
                )
            return
        if open_amount <= 0:
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT",
                f"sale {self.sale_id} has nothing left to pay",
                open_amount_minor=str(open_amount),
            )
        if not method.is_cash and amount > open_amount:
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT",
                f"a {method.value.lower()} payment of {amount} exceeds the open amount"
                f" {open_amount} (only cash may exceed it)",
                open_amount_minor=str(open_amount),
            )

    @staticmethod
    def _check_refund_method(
        method: PaymentMethod, refund_methods: frozenset[PaymentMethod] | None
    ) -> None:
        if refund_methods is not None and method not in refund_methods:
            allowed = ", ".join(sorted(m.value for m in refund_methods)) or "none"
            raise precondition(
                "REFUND_METHOD_NOT_ALLOWED",
                f"the shop refunds by {allowed}, not by {method.value}",
                method=method.value,
            )

    def payment(self, payment_id: str) -> Payment:
        for p in self.payments:
            if p.payment_id == payment_id:
                return p
        raise not_found(
            "PAYMENT_NOT_FOUND", f"sale {self.sale_id} has no payment {payment_id[:64]!r}"
        )

    def update_payment(
        self,
        payment_id: str,
        *,
        amount: int | None = None,
        card_institute: str | None = None,
        authorization_code: str | None = None,
        contract_number: str | None = None,
        reference: str | None = None,
    ) -> Payment:
        """Edits a payment until posting (a card's amount may always go down, or up to the
        open amount; the details may be completed, e.g. the authorization code)."""
        self._require_open()
        p = self.payment(payment_id)
        # everything is checked before anything is set: a refused edit changes nothing
        # (an empty contract number refused after the new amount was set kept the amount)
        if (
            contract_number is not None
            and p.method is PaymentMethod.CONSUMER_CREDIT
            and not contract_number
        ):
            raise invalid(
                "contract_number",
                "a consumer credit payment needs the credit contract number",
                "CONTRACT_NUMBER_REQUIRED",
            )
        if amount is not None and amount != p.amount:
            if amount == 0 or (amount < 0) != (p.amount < 0):
                raise invalid(
                    "amount.amount_minor",
                    "keep the sign (remove the payment instead of zeroing it)",
                    "INVALID_AMOUNT",
                )
            if amount > 0 and self.total <= 0:
                # money goes the sale's way: in a sale that gives money back or has
                # nothing to pay (goods taken off after paying), no payment is set to
                # take money in (a payment of 0.00, a refund's last rappen rounded away
                # in cash, has no sign of its own; a cash payment left from before the
                # goods went is removed, not edited)
                what = "gives money back" if self.total < 0 else "has nothing to pay"
                raise invalid(
                    "amount.amount_minor",
                    f"sale {self.sale_id} {what}: no payment takes money in it"
                    " (remove the payment; a refund is a payment of its own)",
                    "INVALID_AMOUNT",
                )
            if amount < 0 and self.total >= 0:
                # and the other way round: a refund left from before the return went (or
                # goods were added) is removed, not edited. A refund lowered is not held
                # to the open amount below, so without this a card refund of 3.00 became
                # one of 0.01 in a sale that takes 2.00
                what = "takes money" if self.total > 0 else "has nothing to pay"
                raise invalid(
                    "amount.amount_minor",
                    f"sale {self.sale_id} {what}: no payment gives money back in it"
                    " (remove the refund payment)",
                    "INVALID_AMOUNT",
                )
            if abs(amount) > MAX_MINOR:
                raise invalid("amount.amount_minor", "out of range", "AMOUNT_OUT_OF_RANGE")
            check_in_step(p.method, amount, p.rounding_step, self.currency)
            old = p.amount
            p.amount = 0
            # the bound AddPayment gives this method: a rounded method (cash) the open
            # amount rounded to its step, any other (a card) the exact rest, so that an
            # edited card neither takes over the cash's rounding nor is held to it
            open_amount = self.open_amount if p.rounding_step > 1 else self.exact_rest
            p.amount = old
            # only a payment raised (a refund: made larger) is held to that bound: one
            # lowered takes less than it did, whatever else was tendered. Cash tendered
            # beyond the sale counts as paid in the open amount, so a card of 60.00 beside
            # 100.00 cash for 100.00 could not go down to 40.00 (nothing was "open")
            raised = abs(amount) > abs(old)
            if raised and amount > 0 and not p.method.is_cash and amount > open_amount:
                raise precondition(
                    "PAYMENT_EXCEEDS_OPEN_AMOUNT",
                    f"a {p.method.value.lower()} payment of {amount} exceeds the open amount"
                    f" {open_amount} (only cash may exceed it)",
                    open_amount_minor=str(open_amount),
                )
            if raised and amount < 0 and amount < open_amount:
                raise precondition(
                    "REFUND_EXCEEDS_OPEN_AMOUNT",
                    f"a refund of {-amount} exceeds the {-open_amount} to give back",
                    open_amount_minor=str(open_amount),
                )
            p.amount = amount
        if contract_number is not None:
            p.contract_number = contract_number
        if card_institute is not None:
            p.card_institute = card_institute
        if authorization_code is not None:
            p.authorization_code = authorization_code
        if reference is not None:
            p.reference = reference
        self._touch()
        return p

    def split_card(self, parts: int, card_institute: str = "") -> list[Payment]:
        """The open amount split evenly over ``parts`` card payments (remainder cents to
        the first cards); each can be edited afterwards."""
        self._require_open()
        open_amount = self.exact_rest  # cards pay exact cents, never a cash rounding
        if open_amount <= 0:
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT", f"sale {self.sale_id} has nothing left to pay"
            )
        shares = split_evenly(open_amount, parts)
        if len(self.payments) + parts > MAX_PAYMENTS:
            raise DomainError(
                ErrorKind.RESOURCE_EXHAUSTED, "TOO_MANY_PAYMENTS", f"at most {MAX_PAYMENTS}"
            )
        added = []
        for share in shares:
            p = Payment(str(self.next_payment_no), PaymentMethod.CARD, share,
                        card_institute=card_institute)  # fmt: skip
            self.next_payment_no += 1
            self.payments.append(p)
            added.append(p)
        self._touch()
        return added

    def remove_payment(self, payment_id: str) -> Payment:
        """Removes a payment (with a consumer credit, its down payment goes too)."""
        self._require_open()
        p = self.payment(payment_id)
        self.payments = [
            q for q in self.payments if q is not p and q.down_payment_for != p.payment_id
        ]
        self._touch()
        return p

    def set_change_currency(self, currency: str) -> None:
        """Change goes back in the sale's currency, or (a foreign-currency sale) in the
        shop's local currency at the sale's rate."""
        if currency in ("", self.currency):
            self.change_currency = self.currency
            return
        if currency != self.local_currency:
            raise invalid(
                "change_currency_code",
                f"change is given in {self.currency} or {self.local_currency}",
                "CURRENCY_MISMATCH",
            )
        if self.change and abs(self.to_local(self.change)) > MAX_MINOR:
            # a tiny rate turns a big foreign surplus into more than any amount can be
            raise invalid(
                "change_currency_code",
                f"the change would be more than {MAX_MINOR} minor units of {currency}",
                "AMOUNT_OUT_OF_RANGE",
            )
        self.change_currency = currency

    @property
    def change_in_local(self) -> bool:
        return bool(self.change) and self.change_currency not in ("", self.currency)

    def change_paid_locally(self) -> int:
        """The change in the local currency, as cash: its value rounded to the local cash
        step (a Swiss shop gives 1.80 CHF for 1.78, a Czech one whole koruna); the
        foreign surplus is taken in at that value."""
        return round_to_step(self.to_local(self.change), self.local_cash_step)

    def local_change_rounding(self) -> int:
        """The cash rounding of change paid out in the local currency (0 for change in
        the sale's currency): what the foreign surplus tendered is worth in the local
        currency beyond the change paid out for it. The surplus is worth the amount
        tendered converted less the amount due converted (each converted once, as the Z
        converts them), so that the surplus at its value and the due add up to the
        tendered cash's value exactly. 0.02 CHF tendered beyond the due, 0.00 EUR paid out
        in 0.05 steps: +0.02 EUR (the drawer keeps 0.02 CHF that no change paid for);
        5.00 CHF worth 5.26 EUR, 5.25 EUR paid out: +0.01 EUR. Booked as a rounding
        difference (Rundung) of its own beside :attr:`rounding`."""
        if not self.change_in_local:
            return 0
        due = self.due
        surplus_local = self.to_local(due + self.change) - self.to_local(due)
        return surplus_local - self.change_paid_locally()

    def missing_authorizations(self) -> list[str]:
        """Card payments without an authorization code (by id)."""
        return [
            p.payment_id
            for p in self.payments
            if p.method is PaymentMethod.CARD and not p.authorization_code
        ]

    def settle_rest_in_cash(self) -> bool:
        """At the post: a rest the customer owes that rounds to nothing in cash (0.02 CHF
        in 0.05 steps, the last 0.01 after a card) is settled as a cashier settles it by
        hand, with a cash payment of 0.00: the rest becomes the rounding difference.
        Not once a rounded payment was made (it rounded the rest already), nor for a
        refund's rest (the method it goes back by is the cashier's choice). Reads
        ``cash_step``. True: the payment was added."""
        if (
            self.cash_step <= 1
            or self.exact_rest <= 0
            or any(p.rounding_step > 1 for p in self.payments)
            or self.open_amount_cash != 0
        ):
            return False
        self.add_payment(PaymentMethod.CASH, 0, self.currency, rounding_step=self.cash_step)
        return True

    def check_postable(self) -> None:
        """Everything PostSale needs, checked before a receipt number is drawn."""
        self._require_open()
        if not self.lines:
            raise precondition("SALE_EMPTY", f"sale {self.sale_id} has no lines")
        due = self.due
        self._check_payment_signs(due)
        if due < 0:
            if self.paid > due:
                raise precondition(
                    "REFUND_REQUIRED",
                    f"sale {self.sale_id} gives back {self.paid - due}: refund it by a"
                    " permitted method, or book it to the balancing account (PostSale with"
                    " balance_negative_total)",
                    open_amount_minor=str(due - self.paid),
                )
            if self.paid < due:
                raise precondition(
                    "REFUND_EXCEEDS_OPEN_AMOUNT", "the refunds exceed what is given back"
                )
            return
        if self.paid < due:
            raise precondition(
                "SALE_NOT_PAID",
                f"sale {self.sale_id} still has {due - self.paid} to pay",
                open_amount_minor=str(due - self.paid),
            )
        non_cash = sum(p.amount for p in self.payments if not p.method.is_cash)
        if non_cash > due:
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT",
                "non-cash payments exceed the total (lines were removed after paying):"
                " remove a payment",
            )
        if self.change > self.cash_paid:
            raise precondition("CHANGE_EXCEEDS_CASH", "change can only be given from cash")

    def _check_payment_signs(self, due: int) -> None:
        """Money moves one way in a receipt: AddPayment checks a payment's sign against
        the open amount, but lines changed after paying can turn the sale around, and a
        refund left in a sale that now takes money (or money taken in one that now gives
        money back) would post a card credited while another method pays more than the
        goods, or cash turned into card money beyond the return. A storno mirrors the
        payments its original was posted with, and is never refused for them."""
        if self.reverses_sale_id:
            return
        if due >= 0 and any(p.amount < 0 for p in self.payments):
            raise precondition(
                "REFUND_EXCEEDS_OPEN_AMOUNT",
                f"sale {self.sale_id} takes money now (lines changed after a refund):"
                " remove the refund payment",
                open_amount_minor=str(self.open_amount),
            )
        if due < 0 and any(p.amount > 0 for p in self.payments):
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT",
                f"sale {self.sale_id} gives money back now (lines changed after paying):"
                " remove the payment that takes money in",
                open_amount_minor=str(self.open_amount),
            )
        # a method without a rounding step (a card) pays exact cents, at most the total:
        # beyond it (goods taken off after paying), a cash payment now all change rounds
        # the card's surplus cent away, and 16.09 was taken on the card for 16.08
        exact = sum(
            p.amount for p in self.payments if not p.method.is_cash and p.rounding_step <= 1
        )
        total = self.total
        if (total >= 0 and exact > total) or (total < 0 and exact < total):
            what = "pay" if total >= 0 else "refund"
            raise precondition(
                "PAYMENT_EXCEEDS_OPEN_AMOUNT" if total >= 0 else "REFUND_EXCEEDS_OPEN_AMOUNT",
                f"non-cash payments {what} {abs(exact)}, more than the total of {abs(total)}"
                " (lines were changed after paying): remove or reduce a payment",
                open_amount_minor=str(self.open_amount),
            )

    def post(
        self, receipt_number: int, when: datetime, document: DocumentType | None = None
    ) -> None:
        self.check_postable()
        self.state = SaleState.POSTED
        self.receipt_number = receipt_number
        self.posted_at = when
        self.document_type = document or self.document
        if not self.change_currency:
            self.change_currency = self.currency
        local = self.change_in_local
        self.change_local = self.change_paid_locally() if local else 0
        self.change_rounding = self.local_change_rounding() if local else 0
        self._touch()

    def cancel(self, reason: str, when: datetime) -> None:
        self._require_open()
        self.state = SaleState.CANCELLED
        self.cancel_reason = reason
        self.cancelled_at = when
        self._touch()


#: the warning a sale gets for a line of an expired lot (services.sales,
#: _check_lot_expiry); the receipt reads it back for the line (:func:`expired_lot`). It
#: names the item's id: two items may carry the same lot number. Warnings written before
#: it did (no "of item") stand for the lot number of any item. The lot is empty for a
#: pack whose GS1 code has an expiry date (AI 17) but no lot (10).
_LOT_EXPIRED = re.compile(
    r"LOT_EXPIRED: .* lot (\S*?)(?: of item (\S+))? expired on (\d{4}-\d{2}-\d{2})"
)


def lot_expired_warning(item_name: str, item_id: str, lot: str, expired_on: date) -> str:
    return (
        f"LOT_EXPIRED: {item_name} lot {lot} of item {item_id} expired on {expired_on.isoformat()}"
    )


def expired_lots(sale: Sale) -> dict[tuple[str, str], date]:
    """The lots of the sale sold past their expiry date: (item id, lot number) -> the
    date; the item id is "" for a warning that did not name it (see _LOT_EXPIRED)."""
    out: dict[tuple[str, str], date] = {}
    for text in sale.warnings:
        if m := _LOT_EXPIRED.fullmatch(text):
            out[(m.group(2) or "", m.group(1))] = date.fromisoformat(m.group(3))
    return out


def expired_lot(
    sale: Sale, item_id: str, lot: str, found: dict[tuple[str, str], date] | None = None
) -> date | None:
    """The expiry date of the item's lot when the sale sells it past that date (it has the
    warning), else None. ``found``: :func:`expired_lots` of the sale, when at hand."""
    if found is None:
        found = expired_lots(sale)
    return found.get((item_id, lot), found.get(("", lot)))


def _taxed_redemption(ln: SaleLine) -> bool:
    """A voucher redeemed that was taxed when sold (not a storno's line)."""
    return (
        ln.kind is LineKind.VOUCHER_REDEMPTION
        and not ln.ref_sale_id
        and ln.vat_category is not VatCategory.NOT_TAXABLE
    )


def _voucher_supply(ln: SaleLine) -> bool:
    """Whether the line counts in what vouchers taxed when sold may pay for in its VAT
    category: goods sold, the shop discounts on them, and those vouchers (negative)."""
    return (
        (ln.kind is LineKind.GOODS and ln.amount > 0)
        or ln.kind is LineKind.DISCOUNT
        or _taxed_redemption(ln)
    )


def _is_supply(ln: SaleLine) -> bool:
    """Whether the line is (part of) the price of a supply (see document_for_total)."""
    if ln.kind in (LineKind.BALANCING, LineKind.INVOICE_PAYMENT):
        return False
    return not (
        ln.vat_category is VatCategory.NOT_TAXABLE
        and (ln.kind is LineKind.VOUCHER_REDEMPTION or ln.item_type is ItemType.VOUCHER)
    )


def convert_between_terms(amount: int, vat_rate: Decimal, old: Terms, new: Terms) -> int:
    """An amount in ``old`` terms (currency, direction) in ``new`` terms, rounded once
    (through the local currency: divided by the old rate, times the new one)."""
    divided_by = times = Decimal(1)
    shift = 0
    if old.currency != new.currency:
        if old.currency != old.local_currency:
            divided_by = old.exchange_rate
            shift += exponent(old.local_currency) - exponent(old.currency)
        if new.currency != new.local_currency:
            times = new.exchange_rate
            shift += exponent(new.currency) - exponent(new.local_currency)
    return convert_exact(
        amount,
        vat_rate=vat_rate,
        from_basis=old.direction,
        to_basis=new.direction,
        times=times,
        divided_by=divided_by,
        shift=shift,
    )


def describe_rate(sale: Sale) -> str:
    """ "1 EUR = 0.9412 CHF (FIXED)" or "" for a sale in the local currency."""
    if sale.currency == sale.local_currency:
        return ""
    return (
        f"1 {sale.local_currency} = {fmt_decimal(sale.exchange_rate)} {sale.currency}"
        f" ({sale.rate_source.value})"
    )


def _line_key(line_id: str) -> tuple[int, str]:
    """A line's own order for ties: its number (line ids are the sale's running line
    numbers, "2" before "10"), whatever the order of the list it is in."""
    return (len(line_id), line_id)


def allocate(
    amount: int, weights: list[int], ties: Sequence[tuple[int, str]] | None = None
) -> list[int]:
    """``amount`` in proportion to ``weights`` (largest remainder, ties to the largest
    weight, then to the smallest of ``ties``, else to the first): the parts add up to
    ``amount`` exactly. With ``ties`` (a key of each part's own, e.g. its line's number)
    the parts do not depend on the order of the weights at all: ties to the first alone
    gave 10 % of 9.49 + 0.73 + 0.73 (1.10, remainders all equal) to 9.49 or to a 0.73 by
    the order of the scans, and the odd cent of two equal lines to whichever came first,
    which a percent discount on one of them then followed (another total for the same
    basket)."""
    total = sum(weights)
    if total <= 0:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    rest = amount - sum(shares)
    keys = ties if ties is not None else [(i, "") for i in range(len(weights))]
    order = sorted(
        range(len(weights)),
        key=lambda i: (-((amount * weights[i]) % total), -weights[i], keys[i]),
    )
    for i in order[:rest]:
        shares[i] += 1
    return shares
