"""Shops and registers: the rules a sale follows.

A shop has a local currency (items are priced in it), fixed exchange rates for foreign
currencies (else the daily rate applies), a VAT policy (direction from the customer, or
always gross/net), VAT rounding (per document or per line), cash rounding increments
per currency, the simplified-invoice limit (§33 UStDV: 250 EUR gross), stock and price
rules, shop discount codes and the operators' discount limits.

A register belongs to a shop and a stock location, may issue some document types, and
may require document attributes (e.g. an invoice needs the customer's VAT id).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from posd_daemon.domain.customer import Customer, CustomerSnapshot
from posd_daemon.domain.errors import invalid, precondition
from posd_daemon.domain.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR,
    amount_out_of_range,
    check_currency,
)
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.pricing import MAX_RATE, RATE_DECIMALS
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.domain.vat import PriceBasis, VatRounding

#: §33 UStDV Kleinbetragsrechnung: up to 250 EUR gross (since 2017).
DEFAULT_SIMPLIFIED_INVOICE_LIMIT = 25_000
DEFAULT_EMPTY_SALE_TIMEOUT_S = 900
MAX_DISCOUNTS = 1000


class VatPolicy(enum.Enum):
    """How a sale's VAT direction is derived."""

    CUSTOMER = "CUSTOMER"  # from the customer's price entry (consumer gross, business net)
    GROSS = "GROSS"  # always from gross prices
    NET = "NET"  # always from net prices


class DocumentType(enum.Enum):
    RECEIPT = "RECEIPT"  # simplified invoice (Kleinbetragsrechnung) / receipt
    INVOICE = "INVOICE"  # full invoice (§14 UStG): customer name and address


class ParkingBarcode(enum.Enum):
    EAN13 = "EAN13"  # prefix (2 digits), register number (2), parking number (8), check
    CODE128 = "CODE128"  # "P", register number (2), parking number (8)


#: Refunds go out by cash or card unless the shop says otherwise.
DEFAULT_REFUND_METHODS = frozenset({PaymentMethod.CASH, PaymentMethod.CARD})
DEFAULT_BALANCING_ACCOUNT = "AUSGLEICH"


class RateSource(enum.Enum):
    NONE = "NONE"  # the sale is in the local currency
    FIXED = "FIXED"  # the shop's fixed rate
    DAILY = "DAILY"  # the daily rate
    MANUAL = "MANUAL"  # set on the sale by an operator

    @property
    def label(self) -> str:
        return self.value


def check_rate_age(
    source: RateSource, rate_date: date | None, today: date, max_age_days: int
) -> None:
    """A daily exchange rate older than ``max_age_days`` (``register.
    exchange_rate_max_age_days``) is refused: the latest rate on or before today is taken
    without a limit, so a feed that stopped months ago would price goods and count
    foreign cash at a stale rate, silently. Fixed rates are the shop's decision, a manual
    rate an operator's (PRICE_OVERRIDE, journaled): no age."""
    if source is not RateSource.DAILY or rate_date is None:
        return
    age = (today - rate_date).days
    if age > max_age_days:
        raise precondition(
            "EXCHANGE_RATE_TOO_OLD",
            f"the latest daily exchange rate is of {rate_date.isoformat()}, {age} days old;"
            f" at most {max_age_days} days are allowed (register.exchange_rate_max_age_days):"
            " import a current rate (ImportExchangeRates), or a manager sets the sale's"
            " rate (SetExchangeRate)",
            rate_date=rate_date.isoformat(),
            max_age_days=str(max_age_days),
        )


#: Attributes a register may require on its documents.
DOCUMENT_ATTRIBUTES = (
    "customer",  # a named (not anonymous) customer
    "customer_address",
    "customer_vat_id",
    "customer_email",
    "pickup_date",
)
#: What a full invoice always needs (§14 (4) Nr. 1 UStG: name and address of the buyer).
INVOICE_ATTRIBUTES = ("customer", "customer_address")


@dataclass(frozen=True, slots=True)
class ShopDiscount:
    code: str
    name: str
    percent: Decimal

    def validated(self, where: str) -> ShopDiscount:
        check_code(self.code, f"{where}.code")
        check_text(self.name, f"{where}.name", max_len=60)
        _check_percent(self.percent, f"{where}.percent")
        return self


def _check_percent(value: Decimal, field: str) -> None:
    if not value.is_finite() or not 0 <= value <= 100 or value != value.quantize(Decimal("0.01")):
        raise invalid(field, "0..100 with at most 2 decimals", "INVALID_PERCENT")


@dataclass(frozen=True, slots=True)
class Shop:
    shop_id: str
    name: str
    currency: str
    default_customer_number: str = "0"
    #: (currency, foreign units per one local unit)
    fixed_rates: tuple[tuple[str, Decimal], ...] = ()
    vat_policy: VatPolicy = VatPolicy.CUSTOMER
    vat_rounding: VatRounding = VatRounding.DOCUMENT
    #: (currency, smallest cash step in minor units), e.g. ("CHF", 5)
    cash_rounding: tuple[tuple[str, int], ...] = ()
    simplified_invoice_limit: int = DEFAULT_SIMPLIFIED_INVOICE_LIMIT
    allow_negative_stock: bool = False
    price_edit_allowed: bool = True
    vendor_scan_allowed: bool = False
    discounts: tuple[ShopDiscount, ...] = ()
    #: (role, max discount percent); (operator id, max percent) overrides the role's
    role_discount_limits: tuple[tuple[str, Decimal], ...] = ()
    operator_discount_limits: tuple[tuple[str, Decimal], ...] = ()
    empty_sale_timeout_seconds: int = DEFAULT_EMPTY_SALE_TIMEOUT_S
    #: PostSale refuses card payments without an authorization code
    card_authorization_required: bool = False
    refund_methods: frozenset[PaymentMethod] = DEFAULT_REFUND_METHODS
    #: the account (Ausgleichskonto) negative totals are booked to
    balancing_account: str = DEFAULT_BALANCING_ACCOUNT
    #: (currency, method, step) for other methods than cash (cash: ``cash_rounding``)
    payment_rounding: tuple[tuple[str, PaymentMethod, int], ...] = ()
    parking_barcode: ParkingBarcode = ParkingBarcode.EAN13
    parking_prefix: str = "29"

    def validated(self) -> Shop:
        check_code(self.shop_id, "shop.shop_id")
        check_text(self.name, "shop.name", max_len=120)
        check_currency(self.currency, "shop.currency_code")
        check_code(self.default_customer_number, "shop.default_customer_number")
        seen: set[str] = set()
        for i, (cur, rate) in enumerate(self.fixed_rates):
            check_currency(cur, f"shop.fixed_rates[{i}].currency_code")
            if cur == self.currency:
                raise invalid(f"shop.fixed_rates[{i}]", "no rate for the local currency")
            if cur in seen:
                raise invalid(f"shop.fixed_rates[{i}]", "duplicate currency")
            seen.add(cur)
            if (
                not rate.is_finite()
                or not 0 < rate < MAX_RATE
                or rate != rate.quantize(Decimal(1).scaleb(-RATE_DECIMALS))
            ):
                raise invalid(
                    f"shop.fixed_rates[{i}].rate",
                    f"a positive rate with at most {RATE_DECIMALS} decimals",
                )
        for i, (cur, step) in enumerate(self.cash_rounding):
            check_currency(cur, f"shop.cash_rounding[{i}].currency_code")
            if not 1 <= step <= 10 ** (CURRENCY_EXPONENTS[cur] + 2):
                raise invalid(f"shop.cash_rounding[{i}].increment_minor", "out of range")
        if self.simplified_invoice_limit > MAX_MINOR:
            raise amount_out_of_range("shop.simplified_invoice_limit")
        if self.simplified_invoice_limit < 0:
            raise invalid("shop.simplified_invoice_limit", "must be 0 or more")
        if len(self.discounts) > MAX_DISCOUNTS:
            raise invalid("shop.discounts", f"at most {MAX_DISCOUNTS}")
        codes: set[str] = set()
        for i, d in enumerate(self.discounts):
            d.validated(f"shop.discounts[{i}]")
            if d.code in codes:
                raise invalid(f"shop.discounts[{i}].code", "duplicate discount code")
            codes.add(d.code)
        for name, limits in (
            ("role_discount_limits", self.role_discount_limits),
            ("operator_discount_limits", self.operator_discount_limits),
        ):
            for key, pct in limits:
                check_code(key, f"shop.{name}")
                _check_percent(pct, f"shop.{name}[{key}]")
        if not 10 <= self.empty_sale_timeout_seconds <= 7 * 86400:
            raise invalid("shop.empty_sale_timeout_seconds", "between 10 and 604800")
        check_code(self.balancing_account, "shop.balancing_account")
        for i, (cur, method, step) in enumerate(self.payment_rounding):
            check_currency(cur, f"shop.payment_rounding[{i}].currency_code")
            if method is PaymentMethod.CASH:
                raise invalid(f"shop.payment_rounding[{i}]", "cash rounds by cash_rounding")
            if not 1 <= step <= 10 ** (CURRENCY_EXPONENTS[cur] + 2):
                raise invalid(f"shop.payment_rounding[{i}].increment_minor", "out of range")
        self._check_one_step_per_currency()
        if len(self.parking_prefix) != 2 or not self.parking_prefix.isdigit():
            raise invalid("shop.parking_prefix", "two digits, e.g. 29 (an in-store EAN range)")
        return self

    def _check_one_step_per_currency(self) -> None:
        """One rounding step per currency, and one entry per currency and method.
        Sale.rounding rounds the part of the total the rounded payments settle to the
        largest of their steps; with two different steps in a currency (cash in 0.05, a
        benefit card in 0.10) a sale paid exactly in cash still took 0.05 on the card, and
        cash was asked for amounts no coins make. A second entry was ignored unsaid."""
        entries = [
            (f"shop.cash_rounding[{i}]", cur, PaymentMethod.CASH, step)
            for i, (cur, step) in enumerate(self.cash_rounding)
        ] + [
            (f"shop.payment_rounding[{i}]", cur, method, step)
            for i, (cur, method, step) in enumerate(self.payment_rounding)
        ]
        seen: set[tuple[str, PaymentMethod]] = set()
        steps: dict[str, int] = {}
        for field, cur, method, step in entries:
            if (cur, method) in seen:
                raise invalid(field, f"a second rounding step for {method.value} in {cur}")
            seen.add((cur, method))
            if step > 1 and steps.setdefault(cur, step) != step:
                raise invalid(
                    f"{field}.increment_minor",
                    f"{cur} is rounded in steps of {steps[cur]} minor units already: every"
                    " rounded method of a currency takes the same step",
                )

    # -- rules ----------------------------------------------------------------------------

    def currency_for(self, customer: Customer | None) -> str:
        if customer is not None and customer.default_currency:
            return customer.default_currency
        return self.currency

    def direction_for(self, customer: Customer | None) -> PriceBasis:
        if self.vat_policy is VatPolicy.GROSS:
            return PriceBasis.GROSS
        if self.vat_policy is VatPolicy.NET:
            return PriceBasis.NET
        return customer.price_entry if customer is not None else PriceBasis.GROSS

    def fixed_rate(self, currency: str) -> Decimal | None:
        for cur, rate in self.fixed_rates:
            if cur == currency:
                return rate
        return None

    def discount(self, code: str) -> ShopDiscount | None:
        for d in self.discounts:
            if d.code == code:
                return d
        return None

    def cash_increment(self, currency: str) -> int:
        for cur, step in self.cash_rounding:
            if cur == currency:
                return step
        return 1

    def rounding_step(self, currency: str, method: PaymentMethod) -> int:
        """The rounding step of ``method`` in ``currency`` (1: exact minor units)."""
        if method is PaymentMethod.CASH:
            return self.cash_increment(currency)
        for cur, m, step in self.payment_rounding:
            if cur == currency and m is method:
                return step
        return 1

    def discount_limit(self, operator: Operator) -> Decimal:
        """The largest discount (percent) ``operator`` may give; 0 without DISCOUNT."""
        if Permission.DISCOUNT not in operator.permissions:
            return Decimal(0)
        for key, pct in self.operator_discount_limits:
            if key == operator.operator_id:
                return pct
        for key, pct in self.role_discount_limits:
            if key == operator.role:
                return pct
        return Decimal(100)


@dataclass(frozen=True, slots=True)
class Register:
    register_id: str
    shop_id: str
    location_id: str = "MAIN"
    document_types: frozenset[DocumentType] = frozenset(DocumentType)
    #: (document type, attribute) pairs the register requires
    requirements: tuple[tuple[DocumentType, str], ...] = ()
    price_edit_allowed: bool = True
    #: takes orders only: builds and parks sales, posts no receipts
    orders_only: bool = False
    #: the register's number in the store (part of its parking codes)
    register_number: int = 1

    def validated(self) -> Register:
        check_code(self.register_id, "register.register_id")
        check_code(self.shop_id, "register.shop_id")
        check_code(self.location_id, "register.location_id")
        if not self.document_types:
            raise invalid("register.document_types", "a register issues at least one type")
        if not 1 <= self.register_number <= 99:
            raise invalid("register.register_number", "1..99")
        for i, (_, attr) in enumerate(self.requirements):
            if attr not in DOCUMENT_ATTRIBUTES:
                raise invalid(
                    f"register.requirements[{i}].attribute",
                    f"one of {', '.join(DOCUMENT_ATTRIBUTES)}",
                )
        return self

    def required_attributes(self, doc: DocumentType) -> list[str]:
        attrs = list(INVOICE_ATTRIBUTES) if doc is DocumentType.INVOICE else []
        for t, attr in self.requirements:
            if t is doc and attr not in attrs:
                attrs.append(attr)
        return attrs


def choose_document(total_local: int, limit: int, forced: DocumentType | None) -> DocumentType:
    """Receipt up to the simplified-invoice limit (gross, local currency), else invoice."""
    if forced is not None:
        return forced
    return DocumentType.INVOICE if total_local > limit else DocumentType.RECEIPT


def missing_attributes(
    attributes: Iterable[str], customer: CustomerSnapshot, has_pickup_date: bool
) -> list[str]:
    present = {
        "customer": not customer.anonymous and bool(customer.name),
        "customer_address": customer.has_address,
        "customer_vat_id": bool(customer.vat_id),
        "customer_email": bool(customer.email),
        "pickup_date": has_pickup_date,
    }
    return [a for a in attributes if not present.get(a, False)]
