"""OrderService: back-office orders in, loaded into a sale at the register.

Wiring (bootstrap.py): ``add_order_service(server, rt, sales, gateway, events, guard)``
next to the other servicers, ``guard`` the register's one :class:`OrderGuard` (shared
with its StoreLink); its name is in :data:`SERVICE_NAMES` (health and reflection).
"""

from __future__ import annotations

import grpc
from posd.v1 import order_pb2, order_pb2_grpc, sale_pb2

from posd_daemon.api import convert
from posd_daemon.api.device_servicer import SaleEvents
from posd_daemon.api.runtime import Context, Runtime
from posd_daemon.api.sale_rpcs import import_rpc
from posd_daemon.domain.errors import invalid
from posd_daemon.domain.money import check_currency
from posd_daemon.domain.operators import Permission
from posd_daemon.domain.order import LinePick, Order, OrderState, new_order, order_line
from posd_daemon.domain.pricing import fmt_decimal
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.text import check_code
from posd_daemon.services.fiscal import FiscalGateway
from posd_daemon.services.orders import OrderCommands, OrderGuard
from posd_daemon.services.sales import SaleCommands

SERVICE_NAMES = (order_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name,)

STATE_TO_PB = {
    OrderState.OPEN: order_pb2.ORDER_STATE_OPEN,
    OrderState.LOADED: order_pb2.ORDER_STATE_LOADED,
    OrderState.COMPLETED: order_pb2.ORDER_STATE_COMPLETED,
    OrderState.TRANSFERRED: order_pb2.ORDER_STATE_TRANSFERRED,
}


def order_from_pb(msg: order_pb2.Order) -> Order:
    """A client's order, validated (the output-only fields are ignored)."""
    currency = check_currency(msg.currency_code, "order.currency_code")
    lines = [
        order_line(
            ln.item_id,
            ln.variant_id,
            ln.quantity,
            (ln.unit_price.amount_minor, ln.unit_price.currency_code)
            if ln.HasField("unit_price")
            else None,
            ln.text,
            currency=currency,
            index=i,
            unit=ln.unit,
            lot=ln.lot_number,
            serial=ln.serial_number,
        )
        for i, ln in enumerate(msg.lines)
    ]
    return new_order(msg.order_number, msg.customer_number, currency, lines)


def order_to_pb(order: Order) -> order_pb2.Order:
    msg = order_pb2.Order(
        order_number=order.order_number,
        customer_number=order.customer_number,
        currency_code=order.currency,
        state=STATE_TO_PB[order.state],
        sale_id=order.sale_id,
        transferred_to_register_id=order.transferred_to,
    )
    for ln in order.lines:
        line = msg.lines.add(
            item_id=ln.item_id,
            variant_id=ln.variant_id,
            quantity=fmt_decimal(ln.quantity),
            text=ln.text,
            unit=ln.unit,
            lot_number=ln.lot,
            serial_number=ln.serial,
        )
        if ln.unit_price is not None:
            line.unit_price.CopyFrom(convert.money(ln.unit_price, order.currency))
    if (created := convert.timestamp(order.created_at)) is not None:
        msg.create_time.CopyFrom(created)
    if (updated := convert.timestamp(order.updated_at)) is not None:
        msg.update_time.CopyFrom(updated)
    return msg


def state_from_pb(value: int) -> OrderState | None:
    if value == order_pb2.ORDER_STATE_UNSPECIFIED:
        return None
    for state, pb in STATE_TO_PB.items():
        if pb == value:
            return state
    raise invalid("state", "unknown order state")


class OrderServicer(order_pb2_grpc.OrderServiceServicer):
    def __init__(
        self,
        rt: Runtime,
        orders: OrderCommands,
        fiscal: FiscalGateway,
        guard: OrderGuard,
        events: SaleEvents | None = None,
    ) -> None:
        self.rt = rt
        self.orders = orders
        self.fiscal = fiscal
        self.events = events
        #: shared with the register's StoreLink: no order is loaded while a parked sale
        #: (maybe of that order) is on its way here
        self.guard = guard

    async def UpsertOrders(
        self, request: order_pb2.UpsertOrdersRequest, context: Context
    ) -> order_pb2.UpsertOrdersResponse:
        return await import_rpc(  # type: ignore[no-any-return]
            self.rt,
            context,
            "UpsertOrders",
            request,
            request.orders,
            lambda m: str(m.order_number),
            lambda tx, op, m: self.orders.put(tx, order_from_pb(m)),
            order_pb2.UpsertOrdersResponse,
        )

    async def ListOrders(
        self, request: order_pb2.ListOrdersRequest, context: Context
    ) -> order_pb2.ListOrdersResponse:
        async def run() -> order_pb2.ListOrdersResponse:
            # customers' orders: for those who sell to them (SALE)
            (await self.rt.operator(context)).require(Permission.SALE)
            state = state_from_pb(request.state)
            found, token = await self.rt.db.read(
                lambda c: self.orders.list(
                    c, state, request.customer_number, request.page_size, request.page_token
                )
            )
            return order_pb2.ListOrdersResponse(
                orders=[order_to_pb(o) for o in found], next_page_token=token
            )

        return await self.rt.call(context, "ListOrders", request, run)

    async def GetOrder(
        self, request: order_pb2.GetOrderRequest, context: Context
    ) -> order_pb2.GetOrderResponse:
        async def run() -> order_pb2.GetOrderResponse:
            # customers' orders: for those who sell to them (SALE)
            (await self.rt.operator(context)).require(Permission.SALE)
            order = await self.rt.db.read(lambda c: self.orders.get(c, request.order_number))
            return order_pb2.GetOrderResponse(order=order_to_pb(order))

        return await self.rt.call(context, "GetOrder", request, run)

    async def LoadOrder(
        self, request: order_pb2.LoadOrderRequest, context: Context
    ) -> order_pb2.LoadOrderResponse:
        async def run() -> order_pb2.LoadOrderResponse:
            op = await self.rt.operator(context)
            check_code(request.order_number, "order_number")
            picks = [
                LinePick(p.line, lot=p.lot_number, serial=p.serial_number) for p in request.picks
            ]
            answered = await self.rt.answered("LoadOrder", request, order_pb2.LoadOrderResponse)
            if answered is not None:
                return answered
            # a new sale is started only when the order is in none yet: a second LoadOrder
            # returns the sale it is in, neither refused as a new sale (e.g. no new sale
            # while the drawer is open) nor announced as one ("created" again)
            started = False

            def before_create() -> None:
                nonlocal started
                if self.events is not None:
                    self.events.before_create()
                started = True

            def encode(r: tuple[Sale, Order]) -> order_pb2.LoadOrderResponse:
                return order_pb2.LoadOrderResponse(
                    sale=convert.sale_to_pb(r[0]), order=order_to_pb(r[1])
                )

            # after a hand-over under way: should it bring a sale of this order, the
            # order is LOADED into that sale here then (and not into a second one)
            async with self.guard.load():
                response = await self.rt.mutate(
                    "LoadOrder",
                    request,
                    lambda tx: self.orders.load(
                        tx,
                        op,
                        request.order_number,
                        before_create=before_create,
                        picks=picks,
                    ),
                    encode,
                    order_pb2.LoadOrderResponse,
                )
            sale = response.sale
            if sale.state == sale_pb2.SALE_STATE_OPEN and sale.lines:
                # the TSE transaction starts with the first line, in the background
                self.fiscal.schedule_start(sale.sale_id)
                if self.events is not None and started:
                    self.events.changed("created", sale, op.operator_id)
            return response

        return await self.rt.call(context, "LoadOrder", request, run)


def add_order_service(
    server: grpc.aio.Server,
    rt: Runtime,
    sales: SaleCommands,
    gateway: FiscalGateway,
    events: SaleEvents | None,
    guard: OrderGuard,
) -> OrderCommands:
    orders = OrderCommands(sales, rt.clock)
    order_pb2_grpc.add_OrderServiceServicer_to_server(
        OrderServicer(rt, orders, gateway, guard, events), server
    )
    return orders
