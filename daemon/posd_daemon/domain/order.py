"""Back-office orders: taken in the web shop or by phone, picked up and paid at the
register. Pure model and validation; services/orders.py loads one into a sale.

An order is OPEN until it is loaded into a sale (LOADED, with the sale's id). Posting
that sale completes it (COMPLETED); cancelling it makes it OPEN again. A sale parked and
taken over by another register takes the order with it: here the order is then
TRANSFERRED (to that register), for good, since that register posts or cancels the
sale. Only an OPEN order may be replaced by the back office.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from posd_daemon.domain.errors import invalid, precondition
from posd_daemon.domain.money import MAX_MINOR, amount_out_of_range, check_currency
from posd_daemon.domain.sale import MAX_NOTE, parse_quantity
from posd_daemon.domain.text import check_code, check_text

#: Lines per order (an order is picked up at one register in one sale).
MAX_ORDER_LINES = 500
#: a line's text becomes its sale line's note at LoadOrder (printed under the line)
MAX_LINE_TEXT = MAX_NOTE
#: as long as an item's unit of measure may be (catalog.Item.validated)
MAX_UNIT = 8


class OrderState(enum.Enum):
    OPEN = "OPEN"
    LOADED = "LOADED"
    COMPLETED = "COMPLETED"
    #: its sale was handed over to another register (``Order.transferred_to``); not a
    #: stored state: a LOADED order whose sale is TRANSFERRED (store/orders.py)
    TRANSFERRED = "TRANSFERRED"


@dataclass(frozen=True, slots=True)
class OrderLine:
    item_id: str
    quantity: Decimal
    variant_id: str = ""
    #: agreed unit price in the order's currency (minor units); None: the catalog's
    unit_price: int | None = None
    text: str = ""
    #: one of the item's units of measure (of the quantity and an agreed unit price);
    #: "": the item's base unit, as on a sale line
    unit: str = ""
    #: the lot or serial number the back office reserved (a lot-tracked or
    #: serial-numbered item; whether the item has it is the catalog's to say,
    #: services/orders.py); "": the cashier picks one when loading the order
    lot: str = ""
    serial: str = ""


@dataclass(slots=True)
class Order:
    order_number: str
    currency: str
    lines: list[OrderLine]
    customer_number: str = ""
    state: OrderState = OrderState.OPEN
    sale_id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: TRANSFERRED: the register its sale was handed over to
    transferred_to: str = ""

    def check_replaceable(self) -> None:
        """The back office may replace an order only while no sale holds it."""
        if self.state is not OrderState.OPEN:
            raise precondition(
                "ORDER_IN_USE",
                f"order {self.order_number} is {self.state.value}"
                + (f" (sale {self.sale_id})" if self.sale_id else "")
                + (f" to register {self.transferred_to}" if self.transferred_to else "")
                + ": it can no longer be replaced",
                order_number=self.order_number,
                state=self.state.value,
                sale_id=self.sale_id,
            )

    def check_loadable(self) -> None:
        if self.state is OrderState.COMPLETED:
            raise precondition(
                "ORDER_COMPLETED",
                f"order {self.order_number} was completed with sale {self.sale_id}",
                order_number=self.order_number,
                sale_id=self.sale_id,
            )
        if self.state is OrderState.TRANSFERRED:
            raise precondition(
                "ORDER_TRANSFERRED",
                f"order {self.order_number} went with sale {self.sale_id} to register"
                f" {self.transferred_to}, which completes it",
                order_number=self.order_number,
                sale_id=self.sale_id,
                register_id=self.transferred_to,
            )


def order_line(
    item_id: str,
    variant_id: str,
    quantity: str,
    unit_price: tuple[int, str] | None,
    text: str,
    *,
    currency: str,
    index: int,
    unit: str = "",
    lot: str = "",
    serial: str = "",
) -> OrderLine:
    """One validated line; ``index`` (0-based) names the field in errors. Whether the
    item has ``unit`` is the catalog's to say (services/orders.py)."""
    where = f"order.lines[{index}]"
    check_code(item_id, f"{where}.item_id")
    if variant_id:
        check_code(variant_id, f"{where}.variant_id")
    # the item's unit decides at loading whether a fraction is allowed
    qty = parse_quantity(quantity, fractional=True, field_name=f"{where}.quantity")
    price: int | None = None
    if unit_price is not None:
        amount, price_currency = unit_price
        if price_currency != currency:
            raise invalid(
                f"{where}.unit_price.currency_code",
                f"the order is in {currency}, not {price_currency[:8]!r}",
                "CURRENCY_MISMATCH",
            )
        if amount < 0:
            raise invalid(f"{where}.unit_price.amount_minor", "must be 0 or more", "INVALID_AMOUNT")
        if amount > MAX_MINOR:
            raise amount_out_of_range(f"{where}.unit_price.amount_minor")
        price = amount
    check_text(text, f"{where}.text", max_len=MAX_LINE_TEXT, required=False)
    check_text(unit, f"{where}.unit", max_len=MAX_UNIT, required=False)
    # as AddLine's lot_number and serial_number
    if lot:
        check_code(lot, f"{where}.lot_number")
    if serial:
        check_code(serial, f"{where}.serial_number")
    return OrderLine(item_id, qty, variant_id, price, text, unit, lot, serial)


@dataclass(frozen=True, slots=True)
class LinePick:
    """The lot or serial number the cashier picked at the register for an order line
    (1-based ``line``) that reserved none."""

    line: int
    lot: str = ""
    serial: str = ""


def picked_lines(order: Order, picks: Sequence[LinePick]) -> list[OrderLine]:
    """The order's lines with the cashier's picks in them. A pick names a line of the
    order, once; a line the back office reserved a lot or serial for keeps it (a pick of
    the same is fine: a client may send what it shows)."""
    lines = list(order.lines)
    seen: set[int] = set()
    for i, pick in enumerate(picks):
        where = f"picks[{i}]"
        if not 1 <= pick.line <= len(lines):
            raise invalid(
                f"{where}.line",
                f"order {order.order_number} has lines 1 to {len(lines)}, not {pick.line}",
            )
        if pick.line in seen:
            raise invalid(f"{where}.line", f"line {pick.line} is picked twice")
        seen.add(pick.line)
        if pick.lot:
            check_code(pick.lot, f"{where}.lot_number")
        if pick.serial:
            check_code(pick.serial, f"{where}.serial_number")
        ln = lines[pick.line - 1]
        for name, reserved, picked in (
            ("lot_number", ln.lot, pick.lot),
            ("serial_number", ln.serial, pick.serial),
        ):
            if reserved and picked and picked != reserved:
                raise invalid(
                    f"{where}.{name}",
                    f"order {order.order_number} line {pick.line} (item {ln.item_id})"
                    f" reserved {reserved}, not {picked}",
                )
        lines[pick.line - 1] = replace(ln, lot=ln.lot or pick.lot, serial=ln.serial or pick.serial)
    return lines


def new_order(
    order_number: str, customer_number: str, currency: str, lines: list[OrderLine]
) -> Order:
    check_code(order_number, "order.order_number")
    if customer_number:
        check_code(customer_number, "order.customer_number")
    check_currency(currency, "order.currency_code")
    if not lines:
        raise invalid("order.lines", "an order needs at least one line")
    if len(lines) > MAX_ORDER_LINES:
        raise invalid("order.lines", f"at most {MAX_ORDER_LINES} lines")
    return Order(order_number, currency, lines, customer_number)
