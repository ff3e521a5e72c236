"""Sale use cases of the full sale, part 2: payments with their rules, shop discount
lines, tracked vouchers, returns, reversal (storno) receipts, parking, the audit trail.

A mixin of :class:`posd_daemon.services.sales.SaleCommands` (same transaction rules:
each command runs in one database transaction on the database thread and checks
everything before it changes anything).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from posd_daemon.domain import snapshot
from posd_daemon.domain.catalog import Item, ItemType, Tracking
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid, not_found, precondition
from posd_daemon.domain.money import format_minor, round_half_up
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.parking import (
    canonical_parking_code,
    parking_code_code128,
    parking_code_ean13,
    parking_number_floor,
)
from posd_daemon.domain.payments import Payment, PaymentMethod
from posd_daemon.domain.pricing import convert_price, fmt_decimal, net_within_gross, parse_percent
from posd_daemon.domain.sale import (
    LineKind,
    Sale,
    SaleLine,
    SaleState,
    format_quantity,
    parse_quantity,
)
from posd_daemon.domain.shop import ParkingBarcode
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.domain.vat import PriceBasis, VatCategory, VatTable, tax_from_net
from posd_daemon.ops import crashpoints
from posd_daemon.services import open_items, paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.services.ids import new_sale_id
from posd_daemon.services.shops import ShopContext
from posd_daemon.store import catalog as catalog_store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import journal, outbox
from posd_daemon.store import orders as order_store
from posd_daemon.store import sales as sale_store
from posd_daemon.store import vouchers as voucher_store
from posd_daemon.store.timeutil import from_db
from posd_daemon.store.vouchers import Voucher

#: journal kinds that make up the audit trail (ListAuditEvents)
AUDIT_KINDS = (
    "LINE_REMOVED",
    "PRICE_OVERRIDE",
    "LINE_DISCOUNT",
    "SALE_DISCOUNT",
    "DISCOUNT_LINE_ADDED",
    "PAYMENT_REMOVED",
    "DRAWER_OPENED_NO_SALE",
    "RECEIPT_REVERSED",
    "SALE_CANCELLED",
    "SALE_PARKED",
    "SALE_RESUMED",
    "SALE_TRANSFERRED",
    "RECEIPT_REPRINTED",
    "INVOICE_ISSUED",
    "DIGITAL_RECEIPT_REVOKED",
)
MAX_TEXT = 40
VOUCHER_ISSUED = "ISSUED"
VOUCHER_REDEEMED = "REDEEMED"
VOUCHER_VOID = "VOID"


@dataclass(frozen=True, slots=True)
class LinesAdded:
    sale: Sale
    line_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VoucherAdded:
    sale: Sale
    line_id: str
    sold: bool


@dataclass(frozen=True, slots=True)
class Returnable:
    sale_id: str
    receipt_number: int
    line_id: str
    posted_at: datetime
    item_id: str
    name: str
    sold: Decimal
    returned: Decimal
    amount: int
    unit_price: int
    discount_percent: Decimal
    currency: str

    @property
    def returnable(self) -> Decimal:
        return self.sold - self.returned


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    when: datetime
    kind: str
    operator_id: str
    sale_id: str
    details: str


def voucher_expired(v: Voucher, *, refund: bool = False) -> DomainError:
    """FAILED_PRECONDITION VOUCHER_EXPIRED for a voucher past its validity; ``refund``:
    for its return, as what can no longer be redeemed is not paid out by a return."""
    assert v.valid_until is not None
    return precondition(
        "VOUCHER_EXPIRED",
        f"voucher {v.code} expired: it was valid until {v.valid_until.strftime('%d.%m.%Y')}"
        f"{' and cannot be refunded' if refund else ''}",
        voucher_code=v.code,
        valid_until=v.valid_until.isoformat(),
    )


@dataclass(frozen=True, slots=True)
class VoucherStatus:
    """A tracked voucher with what open and parked sales are about to redeem of it."""

    voucher: Voucher
    held: int
    sold_sale_id: str
    updated_at: datetime

    @property
    def balance(self) -> int:
        v = self.voucher
        return v.value - v.redeemed if v.state == VOUCHER_ISSUED else 0


def voucher_status(conn: sqlite3.Connection, code: str) -> VoucherStatus:
    """GetVoucher: NOT_FOUND VOUCHER_NOT_FOUND for a code no voucher has."""
    check_code(code, "code")
    voucher = voucher_store.get(conn, code)
    sold = voucher_store.sold_by_and_updated(conn, code)
    if voucher is None or sold is None:
        raise not_found("VOUCHER_NOT_FOUND", f"no voucher {code!r}", voucher_code=code)
    held = 0
    for amount, rate, direction in voucher_store.held_redemptions(conn, code):
        # the voucher's value is gross: a net-priced sale's line holds its net
        net = direction == PriceBasis.NET.value
        held -= amount + (tax_from_net(amount, rate) if net else 0)
    return VoucherStatus(voucher, held, *sold)


def returned_quantity(
    conn: sqlite3.Connection, sale_id: str, line_id: str, *, exclude_sale: str = ""
) -> Decimal:
    """What posted returns and stornos took back of a receipt line (a positive number).

    A return that was itself reversed (its storno gave the customer the goods back)
    takes nothing back any more."""
    return returned_and_refunded(conn, sale_id, line_id, exclude_sale=exclude_sale)[0]


def returned_and_refunded(
    conn: sqlite3.Connection, sale_id: str, line_id: str, *, exclude_sale: str = ""
) -> tuple[Decimal, int]:
    """What posted returns and stornos took back of a receipt line, and what they
    refunded for it (both positive, the refund gross: see :func:`_gross`), as
    :func:`returned_quantity` counts them."""
    quantity, refunded = Decimal(0), 0
    for qty, amount, rate, direction in sale_store.lines_taking_back(
        conn, sale_id, line_id, exclude_sale=exclude_sale
    ):
        quantity -= qty
        refunded -= _gross(amount, rate, direction)
    return quantity, refunded


class SaleOps(ABC):
    """Mixin: needs the helpers SaleCommands defines (declared abstract below)."""

    _clock: Clock
    _vat: VatTable

    @property
    @abstractmethod
    def register_id(self) -> str: ...

    @abstractmethod
    def today(self) -> date: ...

    @abstractmethod
    def voucher_valid_until(self, issued: datetime) -> date | None: ...

    @abstractmethod
    def context(self, conn: sqlite3.Connection) -> ShopContext: ...

    @abstractmethod
    def get(self, conn: sqlite3.Connection, sale_id: str) -> Sale: ...

    @abstractmethod
    def _open_sale(self, tx: Tx, operator: Operator, sale_id: str) -> Sale: ...

    @abstractmethod
    def save_sale(self, tx: Tx, sale: Sale) -> None: ...

    @abstractmethod
    def check_editable(self, sale_id: str) -> None: ...

    @abstractmethod
    def _unlock_signed(self, sale_id: str) -> None: ...

    @abstractmethod
    def journal_sale(self, tx: Tx, kind: str, sale: Sale, payload: dict[str, Any]) -> None: ...

    @abstractmethod
    def _item(self, conn: sqlite3.Connection, item_id: str) -> Item: ...

    @abstractmethod
    def _on_post_outbox(self, tx: Tx) -> None: ...

    @abstractmethod
    def check_rate_age(self, sale: Sale) -> None: ...

    # -- payments -------------------------------------------------------------------------

    def _check_takes_payments(self, tx: Tx) -> ShopContext:
        ctx = self.context(tx.conn)
        if ctx.register.orders_only:
            raise precondition(
                "REGISTER_ORDERS_ONLY",
                f"register {ctx.register.register_id} takes orders only: park the sale and"
                " pay at a payment register",
                register_id=ctx.register.register_id,
            )
        return ctx

    def add_payment(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        method: PaymentMethod,
        amount: int,
        currency: str,
        *,
        card_institute: str = "",
        authorization_code: str = "",
        contract_number: str = "",
        reference: str = "",
        down_payment: tuple[PaymentMethod, int] | None = None,
    ) -> tuple[Sale, str, str]:
        """Adds a payment (and a consumer credit's down payment first): (sale, payment id,
        down payment id)."""
        sale = self._open_sale(tx, operator, sale_id)
        ctx = self._check_takes_payments(tx)
        self.check_rate_age(sale)  # money is not taken at a stale daily rate
        for value, name in (
            (card_institute, "card_institute"),
            (authorization_code, "authorization_code"),
            (contract_number, "contract_number"),
            (reference, "reference"),
        ):
            check_text(value, name, max_len=MAX_TEXT, required=False)
        shop = ctx.shop
        down_id = ""
        if down_payment is not None:
            if method is not PaymentMethod.CONSUMER_CREDIT:
                raise invalid("down_payment_method", "only a consumer credit has a down payment")
            down_method, down_amount = down_payment
            if down_method is PaymentMethod.CONSUMER_CREDIT:
                raise invalid("down_payment_method", "a down payment is made by another method")
            if down_amount <= 0:
                raise invalid(
                    "down_payment_amount.amount_minor",
                    "must be greater than zero",
                    "INVALID_AMOUNT",
                )
            down = sale.add_payment(
                down_method,
                down_amount,
                currency,
                rounding_step=shop.rounding_step(sale.currency, down_method),
                down_payment_for=str(sale.next_payment_no + 1),
            )
            down_id = down.payment_id
        try:
            payment = sale.add_payment(
                method,
                amount,
                currency,
                rounding_step=shop.rounding_step(sale.currency, method),
                card_institute=card_institute,
                authorization_code=authorization_code,
                contract_number=contract_number,
                reference=reference,
                refund_methods=shop.refund_methods,
            )
        except DomainError:
            if down_id:
                sale.payments.pop()
            raise
        self.save_sale(tx, sale)
        return sale, payment.payment_id, down_id

    def update_payment(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        payment_id: str,
        *,
        amount: int | None,
        currency: str,
        details: dict[str, str | None],
    ) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        check_code(payment_id, "payment_id")
        # no code: the sale's currency, as in AddPayment
        if amount is not None and currency and currency != sale.currency:
            raise invalid(
                "amount.currency_code", f"the sale is in {sale.currency}", "CURRENCY_MISMATCH"
            )
        if amount is not None and abs(amount) > abs(sale.payment(payment_id).amount):
            # more money changes hands: checked as AddPayment checks it (a lower amount
            # gives money back and stays possible whatever changed since)
            self._check_takes_payments(tx)
            self.check_rate_age(sale)
        for name, value in details.items():
            if value is not None:
                check_text(value, name, max_len=MAX_TEXT, required=False)
        sale.update_payment(
            payment_id,
            amount=amount,
            card_institute=details.get("card_institute"),
            authorization_code=details.get("authorization_code"),
            contract_number=details.get("contract_number"),
            reference=details.get("reference"),
        )
        self.save_sale(tx, sale)
        return sale

    def split_card_payment(
        self, tx: Tx, operator: Operator, sale_id: str, parts: int, card_institute: str
    ) -> tuple[Sale, list[str]]:
        sale = self._open_sale(tx, operator, sale_id)
        self._check_takes_payments(tx)
        check_text(card_institute, "card_institute", max_len=MAX_TEXT, required=False)
        added = sale.split_card(parts, card_institute)
        self.save_sale(tx, sale)
        return sale, [p.payment_id for p in added]

    def remove_payment(self, tx: Tx, operator: Operator, sale_id: str, payment_id: str) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        check_code(payment_id, "payment_id")
        removed = sale.remove_payment(payment_id)
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "PAYMENT_REMOVED",
            sale,
            {
                "payment_id": removed.payment_id,
                "method": removed.method.value,
                "amount": removed.amount,
                "currency": sale.currency,
                "operator_id": operator.operator_id,
            },
        )
        return sale

    def remove_line(self, tx: Tx, operator: Operator, sale_id: str, line_id: str) -> Sale:
        sale = self._open_sale(tx, operator, sale_id)
        check_code(line_id, "line_id")
        before = sale.total
        line = sale.remove_line(line_id)
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "LINE_REMOVED",
            sale,
            {
                "line_id": line.line_id,
                "item_id": line.item_id,
                "name": line.name,
                "quantity": format_quantity(line.quantity),
                "amount": line.amount,
                "total_before": before,
                "total_after": sale.total,
                "currency": sale.currency,
                "operator_id": operator.operator_id,
            },
        )
        return sale

    # -- shop discount lines ----------------------------------------------------------------

    def add_discount_line(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        *,
        amount: int | None,
        currency: str,
        percent_text: str | None,
        line_ids: list[str],
        name: str,
    ) -> LinesAdded:
        sale = self._open_sale(tx, operator, sale_id)
        operator.require(Permission.DISCOUNT)
        check_text(name, "name", max_len=40, required=False)
        name = name or "Rabatt"
        limit = self.context(tx.conn).shop.discount_limit(operator)
        before = sale.operator_discount_percents()
        if percent_text is not None:
            for i, lid in enumerate(line_ids):
                check_code(lid, f"line_ids[{i}]")
            percent = parse_percent(percent_text, "percent")
            if percent <= 0:
                raise invalid("percent", "must be greater than zero", "INVALID_PERCENT")
            self._discount_limit(operator, percent, limit)
            added = sale.add_discount_percent(percent, line_ids, name)
        else:
            if amount is None:
                raise invalid("discount", "give an amount or a percent")
            if currency != sale.currency:
                raise invalid(
                    "amount.currency_code", f"the sale is in {sale.currency}", "CURRENCY_MISMATCH"
                )
            goods = sum(a for _, _, a in sale.goods_by_rate())
            # the sale's discounts by amount count together, of the goods before them: each
            # one checked against what the earlier ones left (10.00 of 100.00, 9.00 of the
            # 90.00 left, ...) would let a 10 % limit give any discount at all
            given = -sum(
                ln.amount
                for ln in sale.lines
                if ln.kind is LineKind.DISCOUNT and not ln.ref_line_id and not ln.ref_sale_id
            )
            # beyond the goods it is refused as such (DISCOUNT_EXCEEDS_GOODS), not as
            # beyond the operator's limit: no supervisor can give it either
            if 0 < amount <= goods:
                self._discount_limit(
                    operator, Decimal(amount + given) * 100 / (goods + given), limit
                )
            added = sale.add_discount_amount(amount, name)
        self.check_discount_total(tx, operator, sale, before)
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "DISCOUNT_LINE_ADDED",
            sale,
            {
                "line_ids": [ln.line_id for ln in added],
                "amount": -sum(ln.amount for ln in added),
                "percent": percent_text or "",
                "on_lines": line_ids,
                "name": name,
                "currency": sale.currency,
                "operator_id": operator.operator_id,
            },
        )
        return LinesAdded(sale, tuple(ln.line_id for ln in added))

    def check_discount_total(
        self, tx: Tx, operator: Operator, sale: Sale, before: dict[str, Decimal]
    ) -> None:
        """After a discount the operator gives (the sale changed in memory; a refusal
        rolls the transaction back and the kept copy is dropped, so nothing changes):
        each line's discounts together within the operator's limit
        (:meth:`Sale.operator_discount_percents`, ``before`` those of the sale before
        the change). Each kind checked alone let a 10 % limit give 10 % on a line and
        10 % on the sale, 19 % off the line. Only a line whose total grows past the
        limit is refused: a resumed sale's recorded discounts (or those of a limit
        lowered since) may stay or be lowered."""
        limit = self.context(tx.conn).shop.discount_limit(operator)
        for line_id, percent in sale.operator_discount_percents().items():
            given = before.get(line_id, Decimal(0))
            if percent > limit and percent > given:
                shown, had = _percent(percent), _percent(given)
                raise DomainError(
                    ErrorKind.PERMISSION_DENIED,
                    "DISCOUNT_LIMIT_EXCEEDED",
                    f"operator {operator.operator_id} may give at most {fmt_decimal(limit)} %"
                    f" discount on a line in all (line, sale and shop discounts together):"
                    f" line {line_id} has {had} % off already, with this discount {shown} %",
                    metadata={
                        "permission": Permission.DISCOUNT.value,
                        "operator_id": operator.operator_id,
                        "limit_percent": fmt_decimal(limit),
                        "line_id": line_id,
                        "given_percent": had,
                        "requested_percent": shown,
                    },
                )

    @staticmethod
    def _discount_limit(operator: Operator, percent: Decimal, limit: Decimal) -> None:
        if percent > limit:
            raise DomainError(
                ErrorKind.PERMISSION_DENIED,
                "DISCOUNT_LIMIT_EXCEEDED",
                f"operator {operator.operator_id} may give at most {fmt_decimal(limit)} %"
                f" discount, not {fmt_decimal(percent.quantize(Decimal('0.01')))} %",
                metadata={
                    "permission": Permission.DISCOUNT.value,
                    "limit_percent": fmt_decimal(limit),
                },
            )

    # -- vouchers ---------------------------------------------------------------------------

    def add_voucher_line(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        code: str,
        *,
        sell: bool | None,
        amount: int | None,
        currency: str,
        voucher_code: str,
    ) -> VoucherAdded:
        """Sells or redeems a tracked voucher. Decided by the code: a registered voucher
        can only be redeemed; a serial-numbered voucher is sold when it is in stock at
        this shop, else redeemed; a voucher item's own code could be either (``sell``
        must say which)."""
        sale = self._open_sale(tx, operator, sale_id)
        check_code(code, "code")
        if voucher_code:
            check_code(voucher_code, "voucher_code")
        if amount is not None and currency != sale.currency:
            raise invalid(
                "amount.currency_code", f"the sale is in {sale.currency}", "CURRENCY_MISMATCH"
            )
        conn = tx.conn
        registered = voucher_store.get(conn, code)
        if registered is not None:
            if sell:
                raise precondition(
                    "VOUCHER_ALREADY_SOLD", f"voucher {code} was sold already", voucher_code=code
                )
            return self._redeem(tx, sale, registered, amount)
        serial = [
            r
            for r in catalog_store.serials_by_number(conn, code)
            if self._is_voucher(conn, r.item_id)
        ]
        if serial:
            ref = serial[0]
            in_stock = ref.state == catalog_store.IN_STOCK and ref.location_id == sale.location_id
            if not in_stock:
                raise not_found(
                    "VOUCHER_NOT_FOUND",
                    f"voucher {code} is not in stock here and was never sold: it cannot be"
                    " redeemed",
                    voucher_code=code,
                )
            if sell is False:
                raise precondition(
                    "VOUCHER_NOT_SOLD",
                    f"voucher {code} is in stock at this shop: it is sold, not redeemed",
                    voucher_code=code,
                )
            return self._sell(tx, sale, self._item(conn, ref.item_id), code, amount, serial=code)
        item: Item | None = catalog_store.get(conn, code)
        if item is None:
            found = [
                i for i in catalog_store.by_barcode(conn, code) if i.item_type is ItemType.VOUCHER
            ]
            item = found[0] if len(found) == 1 else None
        if item is None or item.item_type is not ItemType.VOUCHER:
            raise not_found("VOUCHER_NOT_FOUND", f"no voucher {code!r}", voucher_code=code)
        if sell is None:
            raise precondition(
                "VOUCHER_ACTION_REQUIRED",
                f"{item.name}: sell a new voucher or redeem one? (action SELL or REDEEM)",
                item_id=item.item_id,
            )
        if not voucher_code:
            raise invalid("voucher_code", "the voucher's own code is required", "REQUIRED")
        if sell:
            if voucher_store.get(conn, voucher_code) is not None:
                raise precondition(
                    "VOUCHER_ALREADY_SOLD",
                    f"voucher {voucher_code} was sold already",
                    voucher_code=voucher_code,
                )
            return self._sell(tx, sale, item, voucher_code, amount, serial="")
        existing = voucher_store.get(conn, voucher_code)
        if existing is None:
            raise not_found(
                "VOUCHER_NOT_FOUND", f"no voucher {voucher_code!r}", voucher_code=voucher_code
            )
        return self._redeem(tx, sale, existing, amount)

    @staticmethod
    def _is_voucher(conn: sqlite3.Connection, item_id: str) -> bool:
        item = catalog_store.get(conn, item_id)
        return item is not None and item.item_type is ItemType.VOUCHER

    def _sell(
        self, tx: Tx, sale: Sale, item: Item, code: str, amount: int | None, *, serial: str
    ) -> VoucherAdded:
        for ln in sale.lines:
            if ln.voucher_code == code:
                raise precondition(
                    "VOUCHER_IN_SALE", f"voucher {code} is on line {ln.line_id}", voucher_code=code
                )
        rate = self._vat.rate(item.vat_category, self.today())
        face_value = sale.vat_direction is PriceBasis.NET and rate != 0
        if amount is not None:
            value = amount
        elif face_value:
            # the catalog price as gross in the sale's currency: the face value. Its net
            # rounded half up may give a gross a cent over it (15.00 at 19 %: 12.605 ->
            # 12.61 -> 15.01); the net below is never over
            value = convert_price(
                item.price,
                vat_rate=rate,
                from_basis=item.price_basis,
                to_basis=PriceBasis.GROSS,
                from_currency=sale.local_currency,
                to_currency=sale.currency,
                rate=sale.exchange_rate,
            )
        else:
            value = sale.price_for(item.price, item.price_basis, rate)
        if value <= 0:
            raise invalid(
                "amount.amount_minor", "a voucher's value is above zero", "INVALID_AMOUNT"
            )
        line_amount = value
        if face_value:
            # a voucher's value (typed or its catalog price) is its face value, what the
            # customer pays for it (gross), also in a net-priced sale: its line is the net
            # of that value (not the value as net with the VAT on top), as a redeemed
            # voucher's line is
            line_amount = net_within_gross(value, rate)
            if line_amount <= 0:
                raise invalid(
                    "amount.amount_minor",
                    f"{value} is less than the smallest net amount at {fmt_decimal(rate)} %",
                    "INVALID_AMOUNT",
                )
        line = sale.add_fixed_line(
            LineKind.GOODS,
            name=f"{item.name} {code}",
            amount=line_amount,
            vat_category=item.vat_category,
            vat_rate=rate,
            item_id=item.item_id,
            item_type=ItemType.VOUCHER,
            voucher_code=code,
            serial=serial if item.tracking is Tracking.SERIAL else "",
        )
        if face_value and line.total != value:
            # no net gives every gross (at 19 % none gives 13.00): the voucher is sold,
            # and registered (book_vouchers: the line's gross), a cent short of it
            sale.add_warning(
                f"VOUCHER_VALUE_ROUNDED: voucher {code}: no net price at {fmt_decimal(rate)} %"
                f" gives {format_minor(value, sale.currency)} {sale.currency}; sold at"
                f" {format_minor(line.total, sale.currency)}"
            )
        self.save_sale(tx, sale)
        return VoucherAdded(sale, line.line_id, True)

    def _redeem(self, tx: Tx, sale: Sale, v: Voucher, amount: int | None) -> VoucherAdded:
        if v.state != VOUCHER_ISSUED:
            raise precondition(
                "VOUCHER_ALREADY_REDEEMED" if v.state == VOUCHER_REDEEMED else "VOUCHER_VOID",
                f"voucher {v.code} is {v.state.lower()}: nothing is left on it",
                voucher_code=v.code,
            )
        if v.expired(self.today()):
            raise voucher_expired(v)
        if v.currency != sale.currency:
            raise precondition(
                "CURRENCY_MISMATCH",
                f"voucher {v.code} is in {v.currency}, the sale in {sale.currency}",
                voucher_code=v.code,
            )
        for ln in sale.lines:
            if ln.voucher_code == v.code:
                raise precondition(
                    "VOUCHER_IN_SALE",
                    f"voucher {v.code} is on line {ln.line_id}",
                    voucher_code=v.code,
                )
        other = voucher_store.redeeming_sale(tx.conn, v.code, sale.sale_id)
        if other is not None:
            raise precondition(
                "VOUCHER_IN_OTHER_SALE",
                f"voucher {v.code} is being redeemed in sale {other}",
                voucher_code=v.code,
                sale_id=other,
            )
        # a voucher taxed when sold (Einzweckgutschein, §3 (14) UStG) is redeemed at the
        # VAT it was sold with, so that the goods it pays for are not taxed again; a
        # Mehrzweckgutschein (sold not taxable) is a means of payment: not taxable
        sold = voucher_store.sold_vat(tx.conn, v.code)
        category, rate = VatCategory.NOT_TAXABLE, Decimal(0)
        if sold is not None and sold[0] != VatCategory.NOT_TAXABLE:
            category, rate = VatCategory(sold[0]), sold[1]
        value = v.value - v.redeemed
        if amount is None:
            # what is left to pay, never more: the rest stays on the voucher. With nothing
            # to pay (the voucher scanned before the goods, or the sale paid) all of it
            # would be taken and its rest forfeited at the post: the cashier scans it
            # after the goods, or types the amount to redeem
            rest = sale.exact_rest
            if rest <= 0:
                raise precondition(
                    "VOUCHER_NOTHING_TO_PAY",
                    f"sale {sale.sale_id} has nothing left to pay: scan the voucher after the"
                    " goods (or give the amount to redeem)",
                    voucher_code=v.code,
                )
            take = min(value, rest)
            if category is not VatCategory.NOT_TAXABLE:
                # a voucher taxed when sold pays for goods of its own VAT category only
                left = sale.voucher_goods_left(category)
                if sale.vat_direction is PriceBasis.NET:
                    left += tax_from_net(left, rate)
                if left <= 0:
                    raise precondition(
                        "VOUCHER_EXCEEDS_GOODS",
                        f"voucher {v.code} pays for goods of VAT category {category.name} (it"
                        f" was taxed so when sold): sale {sale.sale_id} has none left",
                        voucher_code=v.code,
                        vat_category=category.name,
                    )
                take = min(take, left)
        else:
            take = amount
        if take <= 0:
            raise invalid("amount.amount_minor", "must be greater than zero", "INVALID_AMOUNT")
        if take > value:
            raise precondition(
                "VOUCHER_VALUE_EXCEEDED",
                f"voucher {v.code} is worth {value}, not {take}",
                voucher_code=v.code,
                value_minor=str(value),
            )
        # a voucher's value is gross (what the customer paid for it): in a net-priced
        # sale its line is the net of that value, so that it takes ``take`` off the gross
        # (not ``take`` net, 19 % more); the register books the line's gross
        # (SaleLine.total), see book_vouchers
        line_amount = take
        if sale.vat_direction is PriceBasis.NET and rate:
            line_amount = net_within_gross(take, rate)
            if line_amount <= 0:
                raise invalid(
                    "amount.amount_minor",
                    f"{take} is less than the smallest net amount at {fmt_decimal(rate)} %",
                    "INVALID_AMOUNT",
                )
        # refused beyond the goods of its VAT category (a voucher taxed when sold); an
        # amount the cashier typed beyond what is left to pay forfeits the rest (balance)
        line = sale.add_checked_line(
            LineKind.VOUCHER_REDEMPTION,
            keep_total=False,
            name=f"Gutschein {v.code}",
            amount=-line_amount,
            vat_category=category,
            vat_rate=rate,
            item_id=v.item_id,
            item_type=ItemType.VOUCHER,
            voucher_code=v.code,
        )
        self.save_sale(tx, sale)
        return VoucherAdded(sale, line.line_id, False)

    def check_vouchers(self, conn: sqlite3.Connection, sale: Sale) -> None:
        """At posting: redeemed vouchers still redeemable, sold ones still new."""
        for ln in sale.lines:
            if not ln.voucher_code:
                continue
            v = voucher_store.get(conn, ln.voucher_code)
            reverses = ln.ref_sale_id != ""
            if ln.kind is LineKind.VOUCHER_REDEMPTION and not reverses:
                if v is None or v.state != VOUCHER_ISSUED or v.value - v.redeemed < -ln.total:
                    raise precondition(
                        "VOUCHER_ALREADY_REDEEMED",
                        f"voucher {ln.voucher_code} can no longer be redeemed",
                        voucher_code=ln.voucher_code,
                    )
                # on the post's business day: a voucher added before midnight may have
                # expired since
                if v.expired(self.today()):
                    raise voucher_expired(v)
            elif ln.kind is LineKind.GOODS and not reverses and v is not None:
                raise precondition(
                    "VOUCHER_ALREADY_SOLD",
                    f"voucher {ln.voucher_code} was sold already",
                    voucher_code=ln.voucher_code,
                )
            elif ln.kind is LineKind.GOODS and reverses and v is not None and v.redeemed:
                raise precondition(
                    "VOUCHER_ALREADY_REDEEMED",
                    f"voucher {ln.voucher_code} was redeemed: its sale cannot be reversed",
                    voucher_code=ln.voucher_code,
                )
            elif (
                ln.kind is LineKind.RETURN
                and not sale.reverses_sale_id
                and (v is None or v.state != VOUCHER_ISSUED or v.redeemed)
            ):
                raise precondition(
                    "VOUCHER_ALREADY_REDEEMED",
                    f"voucher {ln.voucher_code} was redeemed meanwhile: remove its return",
                    voucher_code=ln.voucher_code,
                )
            elif ln.kind is LineKind.RETURN and not sale.reverses_sale_id:
                # on the post's business day, as a redemption: a return added before
                # midnight may refund a voucher that has expired since
                assert v is not None  # the branch above refused a missing voucher
                if v.expired(self.today()):
                    raise voucher_expired(v, refund=True)

    def book_vouchers(self, conn: sqlite3.Connection, sale: Sale, when: datetime) -> None:
        """Inside the post transaction: the voucher register follows the sale."""
        for ln in sale.lines:
            if not ln.voucher_code:
                continue
            reverses = ln.ref_sale_id != ""
            if ln.kind is LineKind.GOODS and not reverses:
                voucher_store.issue(
                    conn,
                    ln.voucher_code,
                    item_id=ln.item_id,
                    currency=sale.currency,
                    value=ln.total,
                    sale_id=sale.sale_id,
                    when=when,
                    valid_until=self.voucher_valid_until(when),
                )
            elif ln.kind is LineKind.GOODS:  # storno of a voucher sale: void
                voucher_store.void(conn, ln.voucher_code, when)
            elif ln.kind is LineKind.VOUCHER_REDEMPTION and not reverses:
                # a partial redemption leaves the rest on the voucher (still ISSUED): it is
                # REDEEMED only when nothing is left. The voucher's value is gross, as it was
                # sold (ln.total): a net-priced sale's line is its net
                taken = -ln.total
                # post_signed checked it; never half-booked
                if not voucher_store.redeem(conn, ln.voucher_code, taken, sale.sale_id, when):
                    raise precondition(
                        "VOUCHER_ALREADY_REDEEMED",
                        f"voucher {ln.voucher_code} can no longer be redeemed",
                    )
            elif ln.kind is LineKind.RETURN and not sale.reverses_sale_id:
                # a voucher taken back: void, as by a storno of its sale
                # check_vouchers checked it; never half-booked
                if not voucher_store.void_unredeemed(conn, ln.voucher_code, when):
                    raise precondition(
                        "VOUCHER_ALREADY_REDEEMED",
                        f"voucher {ln.voucher_code} can no longer be returned",
                    )
            elif ln.kind is LineKind.RETURN:  # storno of a voucher's return: valid again
                voucher_store.reissue_void(conn, ln.voucher_code, when)
            elif ln.kind is LineKind.VOUCHER_REDEMPTION:  # storno of a redemption
                voucher_store.undo_redemption(conn, ln.voucher_code, ln.total, when)

    # -- balancing ----------------------------------------------------------------------------

    def balance(self, tx: Tx, operator: Operator, sale_id: str, *, requested: bool) -> Sale:
        """Books what a negative total gives back beyond its refunds to the shop's
        balancing account, with a line (no cash out, no drawer entry): the whole total
        without refunds, the rest of a partly refunded one. Voucher surpluses are always
        balanced; other negative totals (exchanges) when ``requested``.

        A voucher surplus is what the vouchers redeemed exceed the rest of the sale by
        (the cashier redeemed more than was left to pay: the rest is forfeited). Goods
        returned in the same sale are refunded as any return is: without ``requested``
        their refund is not booked to the balancing account with the vouchers' surplus
        (the post asks for the refund: REFUND_REQUIRED)."""
        sale = self._open_sale(tx, operator, sale_id)
        rest = sale.paid - sale.due  # > 0: given back and not refunded
        if sale.due >= 0 or rest <= 0:
            return sale
        if not requested:
            gross = sale.line_gross_amounts()
            vouchers = -sum(
                gross[ln.line_id]
                for ln in sale.lines
                if ln.kind is LineKind.VOUCHER_REDEMPTION and not ln.ref_sale_id
            )
            # the vouchers beyond what the sale would ask without them
            rest = min(rest, vouchers - max(sale.total + vouchers, 0))
            if rest <= 0:
                return sale
        account = self.context(tx.conn).shop.balancing_account
        sale.add_fixed_line(
            LineKind.BALANCING,
            name=f"Ausgleichskonto {account}",
            amount=rest,
            vat_category=VatCategory.NOT_TAXABLE,
            vat_rate=Decimal(0),
            item_id=account,
        )
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "SALE_BALANCED",
            sale,
            {
                "account": account,
                "amount": sale.lines[-1].amount,
                "currency": sale.currency,
                "operator_id": operator.operator_id,
            },
        )
        return sale

    # -- returns ------------------------------------------------------------------------------

    def returnable_lines(
        self,
        conn: sqlite3.Connection,
        *,
        item_id: str,
        receipt_number: int,
        page_size: int,
        page_token: str,
    ) -> tuple[list[Returnable], str]:
        size = paging.page_size(page_size, default=50, maximum=200)
        # a kind of its own: ListReceipts' tokens are "r" (each RPC refuses the other's)
        scope = (item_id, receipt_number)
        before = paging.decode_int(page_token, "rl", empty=2**62, scope=scope)
        if item_id:
            check_code(item_id, "item_id")
        elif receipt_number <= 0:
            raise invalid("item_id", "give an item id or a receipt number")
        rows = sale_store.returnable_lines(
            conn,
            item_id=item_id,
            receipt_number=receipt_number,
            register_id=self.register_id,
            before=before,
            limit=size + 1,
        )
        more = len(rows) > size
        rows = rows[:size]
        out = [
            Returnable(
                sale_id=r[0],
                receipt_number=int(r[1]),
                line_id=r[2],
                posted_at=from_db(r[3]),
                item_id=r[4],
                name=r[5],
                sold=Decimal(r[6]),
                returned=returned_quantity(conn, r[0], r[2]),
                amount=int(r[7] or 0),
                unit_price=int(r[8]),
                discount_percent=Decimal(r[9]),
                currency=r[10],
            )
            for r in rows
        ]
        token = paging.encode("rl", int(rows[-1][11]), scope) if more and rows else ""
        return out, token

    def add_return_line(
        self,
        tx: Tx,
        operator: Operator,
        sale_id: str,
        original_sale_id: str,
        original_line_id: str,
        quantity_text: str,
    ) -> tuple[Sale, str]:
        sale = self._open_sale(tx, operator, sale_id)
        check_code(original_sale_id, "original_sale_id")
        check_code(original_line_id, "original_line_id")
        original = self.get(tx.conn, original_sale_id)
        _refuse_handed_over(original, "NOT_RETURNABLE", "take its goods back")
        if original.state is not SaleState.POSTED or original.reverses_sale_id:
            raise precondition(
                "NOT_RETURNABLE",
                f"sale {original_sale_id} is not a posted receipt",
                sale_id=original_sale_id,
            )
        if original.training != sale.training:
            raise precondition("NOT_RETURNABLE", "training and real receipts do not mix")
        _refuse_reversed(tx.conn, original.sale_id)
        line = original.line(original_line_id)
        if line.kind is not LineKind.GOODS or line.quantity <= 0:
            raise precondition(
                "NOT_RETURNABLE", f"line {original_line_id} sold no goods", line_id=original_line_id
            )
        if line.voucher_code:
            # a voucher sold is taken back only unused, and is void then (as by a storno):
            # a voucher (partly) redeemed or being redeemed is never refunded
            v = voucher_store.get(tx.conn, line.voucher_code)
            if v is None or v.state != VOUCHER_ISSUED or v.redeemed:
                raise precondition(
                    "VOUCHER_ALREADY_REDEEMED",
                    f"voucher {line.voucher_code} was redeemed"
                    f"{'' if v is None else f' ({v.redeemed} of {v.value})'}: it cannot be"
                    " returned",
                    voucher_code=line.voucher_code,
                )
            if v.expired(self.today()):
                raise voucher_expired(v, refund=True)
        if original.currency != sale.currency or original.vat_direction is not sale.vat_direction:
            raise precondition(
                "RETURN_TERMS_MISMATCH",
                f"receipt {original.receipt_number} is in {original.currency}"
                f" ({original.vat_direction.value.lower()}); set the same currency and"
                " customer on this sale first",
            )
        returned, refunded = returned_and_refunded(tx.conn, original_sale_id, original_line_id)
        for ln in sale.lines:
            if ln.ref_sale_id == original_sale_id and ln.ref_line_id == original_line_id:
                returned -= ln.quantity
                refunded -= _gross(ln.amount, ln.vat_rate, sale.vat_direction)
        left = line.quantity - returned
        qty = left if not quantity_text else _parse_return_quantity(quantity_text, line)
        if left <= 0 or qty > left:
            raise precondition(
                "RETURN_EXCEEDS_SOLD",
                f"line {original_line_id} of receipt {original.receipt_number} sold"
                f" {format_quantity(line.quantity)}, {format_quantity(returned)} returned"
                f" already: at most {format_quantity(max(left, Decimal(0)))} can be returned",
                returnable=format_quantity(max(left, Decimal(0))),
            )
        added = self._return_line(sale, original, line, qty, returned, refunded)
        self.save_sale(tx, sale)
        return sale, added.line_id

    @staticmethod
    def _return_line(
        sale: Sale, original: Sale, line: SaleLine, qty: Decimal, returned: Decimal, refunded: int
    ) -> SaleLine:
        """Refunds what the customer paid for ``qty`` (shop discounts on the line taken
        off), counted over all its returns: the refund of everything returned so far
        less what the earlier returns (posted, and this sale's) actually refunded, so
        three returns of one piece each refund exactly what one return of three would,
        and the last piece returned makes the refunds add up to what was paid to the
        cent, whichever earlier return line was removed again (never a cent more)."""
        amount = _return_amount(original, line, returned + qty, refunded)
        # refused when it would take a sale redeeming vouchers below zero: the vouchers
        # would pay out the refund (or be forfeited to the balancing account)
        return sale.add_checked_line(
            LineKind.RETURN,
            name=line.name,
            amount=-amount,
            vat_category=line.vat_category,
            vat_rate=line.vat_rate,
            item_id=line.item_id,
            quantity=-qty,
            unit=line.unit,
            unit_price=line.unit_price,
            item_type=line.item_type,
            ref_sale_id=original.sale_id,
            ref_line_id=line.line_id,
            ref_receipt=original.receipt_number,
            voucher_code=line.voucher_code,
            discount_percent=line.discount_percent,
            variant_id=line.variant_id,
            unit_factor=line.unit_factor,
            lot=line.lot,
            serial=line.serial,
            note=line.note,
        )

    def check_returns(self, conn: sqlite3.Connection, sale: Sale) -> None:
        """At posting: no line returns more than was sold minus earlier returns."""
        wanted: dict[tuple[str, str], Decimal] = {}
        for ln in sale.lines:
            if ln.ref_sale_id and ln.ref_line_id and ln.kind is not LineKind.DISCOUNT:
                key = (ln.ref_sale_id, ln.ref_line_id)
                wanted[key] = wanted.get(key, Decimal(0)) - ln.quantity
        for (sid, lid), qty in wanted.items():
            if not sale.reverses_sale_id:
                _refuse_reversed(conn, sid)
            sold = sale_store.line_quantity(conn, sid, lid)
            returned, refunded = returned_and_refunded(conn, sid, lid, exclude_sale=sale.sale_id)
            if qty > sold - returned:
                raise precondition(
                    "RETURN_EXCEEDS_SOLD",
                    f"line {lid} of sale {sid} was returned meanwhile: remove the return line",
                    sale_id=sid,
                    line_id=lid,
                )
            if sale.reverses_sale_id:
                continue  # a storno negates its original as it was, refunds and all
            # the refund was worked out from the returns posted when the line was added;
            # another return of the same receipt line posted since (a second sale open at
            # the same time) may have changed what is left: the refunds never exceed what
            # was paid, and the return of the last piece makes them add up to it exactly
            mine = [
                _gross(-ln.amount, ln.vat_rate, sale.vat_direction)
                for ln in sale.lines
                if ln.kind is LineKind.RETURN and (ln.ref_sale_id, ln.ref_line_id) == (sid, lid)
            ]
            if not mine:
                continue
            original = self.get(conn, sid)
            line = original.line(lid)
            paid = original.paid_amounts(gross=True).get(lid, 0)
            last = returned + qty >= sold
            after = refunded + sum(mine)
            # the last piece refunds what is left of what was paid: to the cent, or (a
            # net-priced receipt) the nearest gross a net amount gives, not above it
            before_last = after - mine[-1]
            rest = _gross(
                _fit(original, line, paid - before_last), line.vat_rate, original.vat_direction
            )
            if after > paid or (last and after != before_last + rest):
                raise precondition(
                    "RETURN_CHANGED",
                    f"line {lid} of receipt {original.receipt_number} was returned by another"
                    " sale meanwhile: remove the return line and add it again",
                    sale_id=sid,
                    line_id=lid,
                )

    # -- reversal (storno) ------------------------------------------------------------------

    def build_reversal(self, tx: Tx, operator: Operator, sale_id: str, reason: str) -> Sale:
        """The reversal receipt of a posted sale, ready to post (an open one from an
        interrupted earlier attempt is reused)."""
        operator.require(Permission.STORNO)
        check_code(sale_id, "sale_id")
        check_text(reason, "reason", max_len=200, required=False)
        conn = tx.conn
        original = self.get(conn, sale_id)
        _refuse_handed_over(original, "SALE_NOT_POSTED", "reverse its receipt")
        if original.state is not SaleState.POSTED:
            raise precondition(
                "SALE_NOT_POSTED", f"sale {sale_id} is not a posted receipt", sale_id=sale_id
            )
        if original.reverses_sale_id:
            raise precondition(
                "REVERSAL_NOT_REVERSIBLE",
                f"receipt {original.receipt_number} is itself a reversal",
                sale_id=sale_id,
            )
        open_rid = ""
        for rid, number, state in sale_store.posted_or_open_reversals(conn, sale_id):
            if state == "POSTED":
                raise precondition(
                    "RECEIPT_ALREADY_REVERSED",
                    f"receipt {original.receipt_number} was reversed by receipt {number}",
                    reversal_sale_id=rid,
                )
            open_rid = open_rid or rid  # the first open one, as before
        for ln in original.lines:
            if not returned_quantity(conn, sale_id, ln.line_id):
                continue
            if open_rid:
                # a return may post while an interrupted storno is open (only a posted
                # storno refuses returns): the storno cannot be edited, so it is
                # cancelled, not its returns "removed" as check_returns would ask
                raise precondition(
                    "RECEIPT_HAS_RETURNS",
                    f"goods of receipt {original.receipt_number} were returned since its"
                    f" reversal was started: cancel the open reversal (sale {open_rid})"
                    " and reverse what is left with a return",
                    sale_id=sale_id,
                    reversal_sale_id=open_rid,
                )
            raise precondition(
                "RECEIPT_HAS_RETURNS",
                f"goods of receipt {original.receipt_number} were returned already:"
                " reverse what is left with a return",
                sale_id=sale_id,
            )
        if open_rid:
            return self.get(conn, open_rid)
        now = self._clock()
        reversal = Sale(
            sale_id=new_sale_id(now),
            register_id=self.register_id,
            operator_id=operator.operator_id,
            currency=original.currency,
            created_at=now,
            shop_id=original.shop_id,
            location_id=original.location_id,
            local_currency=original.local_currency,
            exchange_rate=original.exchange_rate,
            rate_source=original.rate_source,
            rate_date=original.rate_date,
            vat_direction=original.vat_direction,
            vat_rounding=original.vat_rounding,
            customer=original.customer,
            updated_at=now,
            training=original.training,
            reverses_sale_id=original.sale_id,
            reverses_receipt=original.receipt_number,
            document_forced=original.document_type,
            cancel_reason="",
        )
        for ln in original.lines:
            reversal.add_fixed_line(
                ln.kind,
                name=ln.name,
                amount=-ln.amount,
                vat_category=ln.vat_category,
                vat_rate=ln.vat_rate,
                item_id=ln.item_id,
                quantity=-ln.quantity,
                unit=ln.unit,
                unit_price=ln.unit_price,
                item_type=ln.item_type,
                ref_sale_id=original.sale_id,
                ref_line_id=ln.line_id,
                ref_receipt=original.receipt_number,
                voucher_code=ln.voucher_code,
                discount_percent=ln.discount_percent,
                variant_id=ln.variant_id,
                unit_factor=ln.unit_factor,
                lot=ln.lot,
                serial=ln.serial,
                note=ln.note,
            )
        kept_amounts = original.kept_amounts()
        # the largest rounding step among the payments reversed: the storno's rounding is
        # the original's negated only with the same step. A payment kept at 0.00 (cash
        # that settled a rest its step rounds to nothing: 17.41 by card, 0.00 in cash for
        # 17.43) carries the rounding where no other payment does: it is reversed too
        step = max((p.rounding_step for p, k in kept_amounts if k), default=1)
        for p, kept in kept_amounts:
            if kept == 0:
                if not original.rounding or p.rounding_step <= step:
                    continue
                step = p.rounding_step
            reversal.payments.append(
                Payment(
                    str(reversal.next_payment_no),
                    p.method,
                    -kept,
                    card_institute=p.card_institute,
                    authorization_code=p.authorization_code,
                    contract_number=p.contract_number,
                    reference=p.reference,
                    rounding_step=p.rounding_step,
                )
            )
            reversal.next_payment_no += 1
        reversal.refresh()
        sale_store.insert(conn, reversal)
        return reversal

    def journal_reversal(self, tx: Tx, operator: Operator, reversal: Sale, reason: str) -> None:
        self.journal_sale(
            tx,
            "RECEIPT_REVERSED",
            reversal,
            {
                "original_sale_id": reversal.reverses_sale_id,
                "original_receipt": reversal.reverses_receipt,
                "reversal_receipt": reversal.receipt_number,
                "total": reversal.total,
                "currency": reversal.currency,
                "refunds": [
                    {
                        "method": p.method.value,
                        "amount": p.amount,
                        "card_institute": p.card_institute,
                    }
                    for p in reversal.payments
                ],
                "reason": reason,
                "operator_id": operator.operator_id,
            },
        )

    # -- parking ----------------------------------------------------------------------------

    def park(self, tx: Tx, operator: Operator, sale_id: str) -> Sale:
        """Parks the sale (mandatory attributes are not checked) and queues its slip."""
        sale = self._open_sale(tx, operator, sale_id)
        ctx = self.context(tx.conn)
        code = sale.parking_code
        now = self._clock()
        if not code:
            code = self._new_parking_code(tx.conn, ctx, now)
        sale.park(code, now)
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "SALE_PARKED",
            sale,
            {
                "parking_code": code,
                "total": sale.total,
                "paid": sale.paid,
                "currency": sale.currency,
                "operator_id": operator.operator_id,
            },
        )
        outbox.enqueue(
            tx.conn,
            kind="print",
            ref=sale.sale_id,
            receipt_number=None,
            payload={"document": "parking_slip", "copy": False},
            when=now,
        )
        self._on_post_outbox(tx)
        return sale

    def _new_parking_code(self, conn: sqlite3.Connection, ctx: ShopContext, now: datetime) -> str:
        """A code no slip of this register had: its parking number counts on from the
        last one, but never below the minutes since a fixed instant
        (:func:`parking_number_floor`), so a new database does not print the codes of
        the slips before it again; and none a sale here has (one taken over from a
        register that had this register's number before the back office numbered them)."""
        reg = ctx.register.register_number
        while True:
            number = sale_store.next_counter(
                conn, f"parking:{self.register_id}", parking_number_floor(now)
            )
            if ctx.shop.parking_barcode is ParkingBarcode.CODE128:
                code = parking_code_code128(reg, number)
            else:
                code = parking_code_ean13(ctx.shop.parking_prefix, reg, number)
            if not sale_store.parking_code_taken(conn, code):
                return code

    def find_parked(self, conn: sqlite3.Connection, *, sale_id: str, code: str) -> Sale | None:
        if sale_id:
            return self.get(conn, sale_id)
        check_code(code, "code")
        # as stored: a caps-lock wedge scanner sends the Code128 letter lower case
        code = canonical_parking_code(code)
        found = sale_store.sale_with_parking_code(conn, code)
        return None if found is None else self.get(conn, found)

    def resume(self, tx: Tx, operator: Operator, *, sale_id: str, code: str) -> Sale:
        operator.require(Permission.SALE)
        sale = self.find_parked(tx.conn, sale_id=sale_id, code=code)
        if sale is None:
            raise not_found(
                "PARKED_SALE_NOT_FOUND", f"no parked sale with code {code!r}", code=code
            )
        self.check_editable(sale.sale_id)  # not while it is handed over, nor after
        sale.resume(self.register_id)
        self.save_sale(tx, sale)
        self.journal_sale(
            tx,
            "SALE_RESUMED",
            sale,
            {
                "parking_code": sale.parking_code,
                "register_id": self.register_id,
                "operator_id": operator.operator_id,
            },
        )
        return sale

    # -- between registers ----------------------------------------------------------------------

    def parked_for_transfer(self, conn: sqlite3.Connection, code: str, to_register: str) -> Sale:
        """The parked sale behind ``code`` that ``to_register`` may take over."""
        check_code(code, "code")
        check_code(to_register, "to_register_id")
        sale = self.find_parked(conn, sale_id="", code=code)
        if sale is None:
            raise not_found("PARKED_SALE_NOT_FOUND", f"no parked sale with code {code!r}")
        mine = sale.state is SaleState.TRANSFERRED and sale.held_by == to_register
        if not mine and sale.state is not SaleState.PARKED:
            sale.resume(to_register)  # raises who holds it (or that it is posted, …)
        if sale.state is SaleState.PARKED:  # (one handed over already goes again)
            open_items.check_transferable(sale, code, self.register_id, to_register)
        return sale

    def transfer_out(
        self, tx: Tx, code: str, to_register: str, fiscal: fstore.SaleTse | None
    ) -> dict[str, Any]:
        sale = self.parked_for_transfer(tx.conn, code, to_register)
        if sale.state is SaleState.PARKED:
            sale.transfer_to(to_register)
            self.save_sale(tx, sale)
            if fiscal is not None:
                fstore.save(tx.conn, fiscal)
            self.journal_sale(
                tx,
                "SALE_TRANSFERRED",
                sale,
                {
                    "parking_code": code,
                    "to_register": to_register,
                    "total": sale.total,
                    "currency": sale.currency,
                    "tse": fiscal.process_data if fiscal is not None else "",
                    # a loaded order goes with its sale: here it reads TRANSFERRED from
                    # now on (store/orders.py), the taking register completes it
                    **({"order_number": sale.order_number} if sale.order_number else {}),
                },
            )
            tx.after_commit(functools.partial(self._unlock_signed, sale.sale_id))
            crashpoints.reached("transfer.in_transaction")
        return snapshot.to_dict(sale)

    def import_transferred(
        self, tx: Tx, operator: Operator, data: dict[str, Any], from_register: str
    ) -> Sale:
        """Takes over a sale another register handed over; it continues here as open.
        The sale keeps its order number (the order's rows stay at the register that
        loaded it); when this register has that order itself and it is OPEN, it is
        LOADED into the sale, so posting completes it here too (and it is not loaded a
        second time here)."""
        operator.require(Permission.SALE)
        sale = snapshot.sale_from_dict(data)
        existing = sale_store.get(tx.conn, sale.sale_id)
        if existing is not None:
            if existing.state is SaleState.OPEN and existing.held_by == self.register_id:
                return self.get(tx.conn, sale.sale_id)
            existing.resume(self.register_id)  # raises the precise refusal
        ctx = self.context(tx.conn)
        sale.register_id = self.register_id
        sale.origin_register = from_register
        sale.location_id = ctx.register.location_id
        sale.state = SaleState.OPEN
        sale.held_by = self.register_id
        now = self._clock()
        sale.updated_at = now
        sale_store.insert(tx.conn, sale)
        order: dict[str, Any] = {}
        if sale.order_number:
            linked = order_store.load_if_open(tx.conn, sale.order_number, sale.sale_id, now)
            order = {"order_number": sale.order_number, "order_linked": linked}
        self.journal_sale(
            tx,
            "SALE_RESUMED",
            sale,
            {
                "parking_code": sale.parking_code,
                "register_id": self.register_id,
                "from_register": from_register,
                "operator_id": operator.operator_id,
                **order,
            },
        )
        return self.get(tx.conn, sale.sale_id)

    # -- audit --------------------------------------------------------------------------------

    def audit_events(
        self,
        conn: sqlite3.Connection,
        *,
        kinds: list[str],
        sale_id: str,
        operator_id: str,
        page_size: int,
        page_token: str,
    ) -> tuple[list[AuditEvent], str]:
        for i, k in enumerate(kinds):
            if k not in AUDIT_KINDS:
                raise invalid(f"kinds[{i}]", "one of " + ", ".join(AUDIT_KINDS))
        if sale_id:
            check_code(sale_id, "sale_id")
        if operator_id:
            check_code(operator_id, "operator_id")
        size = paging.page_size(page_size, default=100, maximum=500)
        # the kinds as a set: the same kinds in another order are the same list
        scope = (tuple(sorted(set(kinds))), sale_id, operator_id)
        before = paging.decode_int(page_token, "a", empty=2**62, scope=scope)
        rows = journal.page_of_kinds(
            conn,
            kinds or list(AUDIT_KINDS),
            sale_id=sale_id,
            operator_id=operator_id,
            before=before,
            limit=size + 1,
        )
        more = len(rows) > size
        rows = rows[:size]
        out = []
        for seq, at, kind, _ref, payload in rows:
            body = journal_payload(payload)
            out.append(
                AuditEvent(
                    int(seq),
                    from_db(at),
                    kind,
                    str(body.get("operator_id", "")),
                    str(body.get("sale_id", "")),
                    payload,
                )
            )
        token = paging.encode("a", int(rows[-1][0]), scope) if more and rows else ""
        return out, token


def _percent(value: Decimal) -> str:
    """A percent as shown in a refusal: to the hundredth, no trailing zeros."""
    return fmt_decimal(value.quantize(Decimal("0.01")))


def journal_payload(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _refuse_reversed(conn: sqlite3.Connection, sale_id: str) -> None:
    """A receipt reversed (storno) took everything back: nothing of it can be returned.
    Said as such, not as its goods "returned already", which the cashier knows were
    not."""
    row = sale_store.reversal_receipt_numbers(conn, sale_id)
    if row is not None:
        raise precondition(
            "RECEIPT_REVERSED",
            f"receipt {row[1]} was reversed by receipt {row[0]}: nothing of it can be returned",
            sale_id=sale_id,
            reversal_receipt=str(row[0]),
        )


def _refuse_handed_over(original: Sale, reason: str, what: str) -> None:
    """A sale begun here and handed over to another register (TRANSFERRED) is completed
    there: its receipt, if any, is that register's, and receipts are each register's
    own (nothing reports a return or a storno to the register that posted it). Said as
    such, naming the register: "not a posted receipt" sent the cashier nowhere."""
    if original.state is not SaleState.TRANSFERRED:
        return
    raise precondition(
        reason,
        f"sale {original.sale_id} was handed over to register {original.held_by} (parking"
        f" code {original.parking_code}) and is completed there: {what} at register"
        f" {original.held_by}",
        sale_id=original.sale_id,
        held_by=original.held_by,
    )


def _parse_return_quantity(text: str, line: SaleLine) -> Decimal:
    return parse_quantity(text, fractional=line.fractional or line.quantity % 1 != 0)


def _return_amount(original: Sale, line: SaleLine, returned: Decimal, refunded: int) -> int:
    """The refund (in the receipt's direction) that brings a receipt line's refunds to
    its share of what was paid for ``returned`` of it, when ``refunded`` (gross) went
    back for the returns before (never less than nothing: a return does not charge
    the customer).

    Counted in gross, what the customer paid: in a net-priced receipt the tax is
    rounded once per rate (3 x 8.40 net at 19 % is 25.20 + 4.79 = 29.99), so refunding
    each piece's net share with its own tax (8.40 + 1.60 = 10.00, three times) would
    give back 30.00 and 4.80 VAT for 29.99 and 4.79 charged."""
    paid = original.paid_amounts(gross=True)[line.line_id]
    return _fit(original, line, _share(paid, returned, line.quantity) - refunded)


def _fit(original: Sale, line: SaleLine, gross: int) -> int:
    """The amount of a return line of ``line`` in the receipt's direction that refunds
    ``gross`` (0 for nothing or less). No net gives every gross (at 19 % none gives
    9.99): a net-priced one refunds the largest net whose gross is not above it, and
    the cent short goes back with the next return of the line."""
    if gross <= 0:
        return 0
    if original.vat_direction is PriceBasis.NET:
        return net_within_gross(gross, line.vat_rate)
    return gross


def _gross(amount: int, rate: Decimal, direction: PriceBasis) -> int:
    """A return line's amount as the gross it refunds on its own (net plus its tax in
    a net-priced sale)."""
    if direction is PriceBasis.NET:
        return amount + tax_from_net(amount, rate)
    return amount


def _share(amount: int, qty: Decimal, of: Decimal) -> int:
    return amount if qty == of else round_half_up(Decimal(amount) * qty / of)
