"""Back-office orders: stored as the back office sends them, loaded into a sale here.

``load`` builds the sale through the sale's own use cases (create, customer, currency,
lines), in the one transaction of the LoadOrder call, so a refusal anywhere leaves
nothing behind. A line with an order price gets it like a price override, journaled
with the order as the reason (the back office agreed the price; no PRICE_OVERRIDE
permission of the cashier is asked). Posting, cancelling or deleting the sale moves
the order on in that same transaction (triggers of schema 12, store/migrations); a sale
handed over to another register makes it read TRANSFERRED here (store/orders.py), and
the taking register links its own OPEN copy of the order, if any (``import_transferred``).
"""

from __future__ import annotations

import sqlite3

from posd_daemon.domain.errors import not_found, precondition
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.order import Order, OrderState
from posd_daemon.domain.pricing import fmt_decimal
from posd_daemon.domain.sale import Sale, SaleState
from posd_daemon.domain.text import check_code
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.services.sales import SaleCommands
from posd_daemon.store import catalog as catalog_store
from posd_daemon.store import customers as customer_store
from posd_daemon.store import orders as order_store


class OrderCommands:
    def __init__(self, sales: SaleCommands, clock: Clock) -> None:
        self.sales = sales
        self._clock = clock

    # -- queries ----------------------------------------------------------------------

    def get(self, conn: sqlite3.Connection, order_number: str) -> Order:
        check_code(order_number, "order_number")
        order = order_store.get(conn, order_number)
        if order is None:
            raise not_found(
                "ORDER_NOT_FOUND", f"no order {order_number!r}", order_number=order_number
            )
        return order

    def list(
        self,
        conn: sqlite3.Connection,
        state: OrderState | None,
        customer_number: str,
        page_size: int,
        page_token: str,
    ) -> tuple[list[Order], str]:
        if customer_number:
            check_code(customer_number, "customer_number")
        size = paging.page_size(page_size, default=50)
        after = paging.decode(page_token, "o") if page_token else ""
        rows = order_store.list_page(
            conn, state=state, customer_number=customer_number, after=after, limit=size + 1
        )
        more = len(rows) > size
        rows = rows[:size]
        token = paging.encode("o", rows[-1].order_number) if more and rows else ""
        return rows, token

    # -- commands ---------------------------------------------------------------------

    def put(self, tx: Tx, order: Order) -> bool:
        """Creates or replaces an order (one row of UpsertOrders); True when created.
        A LOADED or COMPLETED order is refused (ORDER_IN_USE)."""
        existing = order_store.get(tx.conn, order.order_number)
        if existing is not None:
            existing.check_replaceable()
        order_store.put(tx.conn, order, self._clock())
        return existing is None

    def load(self, tx: Tx, operator: Operator, order_number: str) -> tuple[Sale, Order]:
        """The order in a new open sale of this register; the same sale while it is
        still open or parked (also for another request id)."""
        operator.require(Permission.SALE)
        order = self.get(tx.conn, order_number)
        order.check_loadable()
        if order.state is OrderState.LOADED:
            sale = self.sales.get(tx.conn, order.sale_id)
            if sale.state in (SaleState.OPEN, SaleState.PARKED):
                return sale, order
            raise precondition(
                "ORDER_IN_USE",
                f"order {order_number} is in sale {sale.sale_id}, which is"
                f" {sale.state.value} (held by register {sale.held_by or sale.register_id})",
                order_number=order_number,
                sale_id=sale.sale_id,
            )
        self._check_references(tx.conn, order)
        now = self._clock()
        sale = self.sales.create(tx, operator)
        if order.customer_number:
            sale = self.sales.set_customer(
                tx, operator, sale.sale_id, order.customer_number, recalculate_lines=None
            )
        # linked after the customer is set: from here on the customer is the order's
        sale.order_number = order.order_number
        self.sales.save_sale(tx, sale)
        if sale.currency != order.currency:
            sale = self.sales.set_currency(tx, operator, sale.sale_id, order.currency)
        for position, line in enumerate(order.lines, start=1):
            added = self.sales.add_line(
                tx,
                operator,
                sale.sale_id,
                item_id=line.item_id,
                quantity=fmt_decimal(line.quantity),
                variant_id=line.variant_id,
            )
            sale = added.sale
            if line.unit_price is not None:
                self._order_price(
                    tx, operator, sale, order, added.line_id, line.unit_price, position
                )
        order_store.mark_loaded(tx.conn, order.order_number, sale.sale_id, now)
        self.sales.journal_sale(
            tx,
            "ORDER_LOADED",
            sale,
            {
                "order_number": order.order_number,
                "customer_number": order.customer_number,
                "lines": len(order.lines),
                "operator_id": operator.operator_id,
            },
        )
        return sale, self.get(tx.conn, order.order_number)

    def _order_price(
        self,
        tx: Tx,
        operator: Operator,
        sale: Sale,
        order: Order,
        line_id: str,
        unit_price: int,
        position: int,
    ) -> None:
        """The order's agreed price for a line: a price override naming the order."""
        sale_line, old = sale.override_price(line_id, unit_price, agreed=True)
        self.sales.save_sale(tx, sale)
        self.sales.journal_sale(
            tx,
            "PRICE_OVERRIDE",
            sale,
            {
                "line_id": sale_line.line_id,
                "item_id": sale_line.item_id,
                "variant_id": sale_line.variant_id,
                "old_unit_price": old,
                "new_unit_price": unit_price,
                "list_price": sale_line.list_price,
                "currency": sale.currency,
                "vat_direction": sale.vat_direction.value,
                "operator_id": operator.operator_id,
                "reason": f"order {order.order_number} line {position}",
                "order_number": order.order_number,
            },
        )

    def _check_references(self, conn: sqlite3.Connection, order: Order) -> None:
        """Every item, variant and the customer exist: else a refusal naming the first
        missing one, before anything is written."""
        number = order.order_number
        if order.customer_number and customer_store.get(conn, order.customer_number) is None:
            raise precondition(
                "ORDER_CUSTOMER_UNKNOWN",
                f"order {number}: customer {order.customer_number!r} is not known here",
                order_number=number,
                customer_number=order.customer_number,
            )
        for position, line in enumerate(order.lines, start=1):
            item = catalog_store.get(conn, line.item_id)
            if item is None:
                raise precondition(
                    "ORDER_ITEM_UNKNOWN",
                    f"order {number} line {position}: item {line.item_id!r} is not in the catalog",
                    order_number=number,
                    item_id=line.item_id,
                    line=str(position),
                )
            if line.variant_id and item.variant(line.variant_id) is None:
                raise precondition(
                    "ORDER_ITEM_UNKNOWN",
                    f"order {number} line {position}: item {line.item_id} has no variant"
                    f" {line.variant_id!r}",
                    order_number=number,
                    item_id=line.item_id,
                    variant_id=line.variant_id,
                    line=str(position),
                )
