"""The sale aggregate: lines, payments, totals and its state machine.

States: OPEN -> POSTED, OPEN -> CANCELLED. Every other transition is refused with a
clear error and changes nothing (each mutator checks everything before it changes
anything).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import (
    DomainError,
    ErrorKind,
    invalid,
    not_found,
    precondition,
)
from posd_daemon.domain.money import MAX_MINOR, round_half_up
from posd_daemon.domain.vat import VatCategory, VatTotal, totals_from_gross

MAX_LINES = 500
MAX_PAYMENTS = 20
MAX_QUANTITY = Decimal(100_000)
QUANTITY_DECIMALS = 3


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


@dataclass(slots=True)
class SaleLine:
    line_id: str
    item_id: str
    name: str
    quantity: Decimal
    unit: str
    unit_price: int
    vat_category: VatCategory
    vat_rate: Decimal
    scanned_code: str = ""
    fractional: bool = False

    @property
    def total(self) -> int:
        return round_half_up(Decimal(self.unit_price) * self.quantity)


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

    # -- derived values -------------------------------------------------------------

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)

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

    def vat_totals(self) -> list[VatTotal]:
        return totals_from_gross((ln.vat_category, ln.vat_rate, ln.total) for ln in self.lines)

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

    def _line(self, line_id: str) -> SaleLine:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise not_found("LINE_NOT_FOUND", f"sale {self.sale_id} has no line {line_id[:64]!r}")

    def _touch(self) -> None:
        self.revision += 1

    # -- commands -------------------------------------------------------------------

    def add_line(
        self,
        item: Item,
        quantity: Decimal,
        vat_rate: Decimal,
        *,
        scanned_code: str = "",
    ) -> SaleLine:
        self._require_open()
        if item.currency != self.currency:
            raise precondition(
                "CURRENCY_MISMATCH",
                f"item {item.item_id} is priced in {item.currency}, the sale in {self.currency}",
            )
        if len(self.lines) >= MAX_LINES:
            raise DomainError(
                ErrorKind.RESOURCE_EXHAUSTED, "TOO_MANY_LINES", f"at most {MAX_LINES} lines"
            )
        line = SaleLine(
            line_id=str(self.next_line_no),
            item_id=item.item_id,
            name=item.name,
            quantity=quantity,
            unit=item.unit,
            unit_price=item.gross_price,
            vat_category=item.vat_category,
            vat_rate=vat_rate,
            scanned_code=scanned_code,
            fractional=item.fractional_quantity,
        )
        self._check_total_with(line.total)
        self.lines.append(line)
        self.next_line_no += 1
        self._touch()
        return line

    def _check_total_with(self, extra: int, minus: int = 0) -> None:
        if self.total + extra - minus > MAX_MINOR:
            raise invalid("quantity", "the sale total would be out of range", "AMOUNT_OUT_OF_RANGE")

    def update_line(self, line_id: str, quantity: Decimal) -> SaleLine:
        self._require_open()
        line = self._line(line_id)
        if not line.fractional and quantity != quantity.to_integral_value():
            raise invalid(
                "quantity",
                "this item is sold in whole units only",
                "FRACTIONAL_QUANTITY_NOT_ALLOWED",
            )
        new_total = round_half_up(Decimal(line.unit_price) * quantity)
        self._check_total_with(new_total, line.total)
        line.quantity = quantity
        self._touch()
        return line

    def remove_line(self, line_id: str) -> SaleLine:
        self._require_open()
        line = self._line(line_id)
        self.lines.remove(line)
        self._touch()
        return line

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

    def post(self, receipt_number: int, when: datetime) -> None:
        self.check_postable()
        self.state = SaleState.POSTED
        self.receipt_number = receipt_number
        self.posted_at = when
        self._touch()

    def cancel(self, reason: str, when: datetime) -> None:
        self._require_open()
        self.state = SaleState.CANCELLED
        self.cancel_reason = reason
        self.cancelled_at = when
        self._touch()
