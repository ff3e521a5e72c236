"""CustomerService and ShopService, and the wiring of the full sale (part 1).

Wiring (bootstrap.py): ``master = add_master_data_services(server, rt, sales, catalog,
gateway, register_id=..., currency=...)`` after the other servicers, ``master.start()``
once the server runs, ``await master.stop()`` before the database closes.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from posd.v1 import customer_pb2, customer_pb2_grpc, shop_pb2, shop_pb2_grpc

from posd_daemon.api import convert
from posd_daemon.api.runtime import Context, Runtime
from posd_daemon.api.sale_rpcs import import_rpc
from posd_daemon.domain.errors import invalid
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.services.catalog import CatalogCommands
from posd_daemon.services.customers import CustomerCommands, CustomerCreated
from posd_daemon.services.executor import Tx
from posd_daemon.services.fiscal import FiscalGateway
from posd_daemon.services.housekeeping import Housekeeping
from posd_daemon.services.open_items import OpenItemCommands, OpenItemView
from posd_daemon.services.sales import SaleCommands
from posd_daemon.services.shops import ShopCommands

SERVICE_NAMES = (
    customer_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name,
    shop_pb2.DESCRIPTOR.services_by_name["ShopService"].full_name,
)


class CustomerServicer(customer_pb2_grpc.CustomerServiceServicer):
    def __init__(
        self, rt: Runtime, customers: CustomerCommands, open_items: OpenItemCommands
    ) -> None:
        self.rt = rt
        self.customers = customers
        self.open_items = open_items

    async def CreateCustomer(
        self, request: customer_pb2.CreateCustomerRequest, context: Context
    ) -> customer_pb2.CreateCustomerResponse:
        async def run() -> customer_pb2.CreateCustomerResponse:
            op = await self.rt.operator(context)
            if not request.HasField("customer"):
                raise invalid("customer", "is required")
            customer = convert.customer_from_pb(request.customer)

            def encode(r: CustomerCreated) -> customer_pb2.CreateCustomerResponse:
                msg = customer_pb2.CreateCustomerResponse(
                    created=r.created,
                    duplicates=[convert.customer_to_pb(d) for d in r.duplicates],
                )
                if r.customer is not None:
                    msg.customer.CopyFrom(convert.customer_to_pb(r.customer))
                return msg

            return await self.rt.mutate(
                "CreateCustomer",
                request,
                lambda tx: self.customers.create(
                    tx, op, customer, allow_duplicate_email=request.allow_duplicate_email
                ),
                encode,
                customer_pb2.CreateCustomerResponse,
            )

        return await self.rt.call(context, "CreateCustomer", request, run)

    async def UpdateCustomer(
        self, request: customer_pb2.UpdateCustomerRequest, context: Context
    ) -> customer_pb2.UpdateCustomerResponse:
        async def run() -> customer_pb2.UpdateCustomerResponse:
            op = await self.rt.operator(context)
            if not request.HasField("customer"):
                raise invalid("customer", "is required")
            customer = convert.customer_from_pb(request.customer)
            return await self.rt.mutate(
                "UpdateCustomer",
                request,
                lambda tx: self.customers.update(tx, op, customer, etag=request.customer.etag),
                lambda c: customer_pb2.UpdateCustomerResponse(customer=convert.customer_to_pb(c)),
                customer_pb2.UpdateCustomerResponse,
            )

        return await self.rt.call(context, "UpdateCustomer", request, run)

    async def GetCustomer(
        self, request: customer_pb2.GetCustomerRequest, context: Context
    ) -> customer_pb2.GetCustomerResponse:
        async def run() -> customer_pb2.GetCustomerResponse:
            # customers' personal data: for those who sell to them (SALE)
            (await self.rt.operator(context)).require(Permission.SALE)
            c = await self.rt.db.read(
                lambda conn: self.customers.get(conn, request.customer_number)
            )
            return customer_pb2.GetCustomerResponse(customer=convert.customer_to_pb(c))

        return await self.rt.call(context, "GetCustomer", request, run)

    async def SearchCustomers(
        self, request: customer_pb2.SearchCustomersRequest, context: Context
    ) -> customer_pb2.SearchCustomersResponse:
        async def run() -> customer_pb2.SearchCustomersResponse:
            # customers' personal data: for those who sell to them (SALE)
            (await self.rt.operator(context)).require(Permission.SALE)
            found, token = await self.rt.db.read(
                lambda conn: self.customers.search(
                    conn, request.query, request.page_size, request.page_token
                )
            )
            return customer_pb2.SearchCustomersResponse(
                customers=[convert.customer_to_pb(c) for c in found], next_page_token=token
            )

        return await self.rt.call(context, "SearchCustomers", request, run)

    async def ImportCustomers(
        self, request: customer_pb2.ImportCustomersRequest, context: Context
    ) -> customer_pb2.ImportCustomersResponse:
        return await import_rpc(  # type: ignore[no-any-return]
            self.rt,
            context,
            "ImportCustomers",
            request,
            request.customers,
            lambda m: str(m.customer_number),
            lambda tx, op, m: self.customers.put(tx, convert.customer_from_pb(m)),
            customer_pb2.ImportCustomersResponse,
        )

    # -- open items (back-office invoices paid at the register) ---------------------------

    async def UpsertOpenItem(
        self, request: customer_pb2.UpsertOpenItemRequest, context: Context
    ) -> customer_pb2.UpsertOpenItemResponse:
        async def run() -> customer_pb2.UpsertOpenItemResponse:
            op = await self.rt.operator(context)
            if not request.HasField("open_item"):
                raise invalid("open_item", "is required")
            item = convert.open_item_from_pb(request.open_item)

            def encode(r: tuple[OpenItemView, bool]) -> customer_pb2.UpsertOpenItemResponse:
                view, created = r
                return customer_pb2.UpsertOpenItemResponse(
                    open_item=convert.open_item_to_pb(view.item, view.held), created=created
                )

            return await self.rt.mutate(
                "UpsertOpenItem",
                request,
                lambda tx: self.open_items.upsert(tx, op, item),
                encode,
                customer_pb2.UpsertOpenItemResponse,
            )

        return await self.rt.call(context, "UpsertOpenItem", request, run)

    async def ImportOpenItems(
        self, request: customer_pb2.ImportOpenItemsRequest, context: Context
    ) -> customer_pb2.ImportOpenItemsResponse:
        return await import_rpc(  # type: ignore[no-any-return]
            self.rt,
            context,
            "ImportOpenItems",
            request,
            request.open_items,
            lambda m: str(m.invoice_number),
            lambda tx, op, m: self.open_items.put(tx, convert.open_item_from_pb(m)),
            customer_pb2.ImportOpenItemsResponse,
        )

    async def GetOpenItem(
        self, request: customer_pb2.GetOpenItemRequest, context: Context
    ) -> customer_pb2.GetOpenItemResponse:
        async def run() -> customer_pb2.GetOpenItemResponse:
            # customers' invoices: for those who sell to them (SALE)
            (await self.rt.operator(context)).require(Permission.SALE)
            view = await self.rt.db.read(
                lambda conn: self.open_items.get(conn, request.invoice_number)
            )
            return customer_pb2.GetOpenItemResponse(
                open_item=convert.open_item_to_pb(view.item, view.held)
            )

        return await self.rt.call(context, "GetOpenItem", request, run)

    async def ListOpenItems(
        self, request: customer_pb2.ListOpenItemsRequest, context: Context
    ) -> customer_pb2.ListOpenItemsResponse:
        async def run() -> customer_pb2.ListOpenItemsResponse:
            # customers' invoices: for those who sell to them (SALE)
            (await self.rt.operator(context)).require(Permission.SALE)
            state = convert.open_item_state_from_pb(request.state)
            views, token = await self.rt.db.read(
                lambda conn: self.open_items.list(
                    conn,
                    customer_number=request.customer_number,
                    state=state,
                    page_size=request.page_size,
                    page_token=request.page_token,
                )
            )
            return customer_pb2.ListOpenItemsResponse(
                open_items=[convert.open_item_to_pb(v.item, v.held) for v in views],
                next_page_token=token,
            )

        return await self.rt.call(context, "ListOpenItems", request, run)


class ShopServicer(shop_pb2_grpc.ShopServiceServicer):
    def __init__(self, rt: Runtime, shops: ShopCommands) -> None:
        self.rt = rt
        self.shops = shops

    async def UpsertShop(
        self, request: shop_pb2.UpsertShopRequest, context: Context
    ) -> shop_pb2.UpsertShopResponse:
        async def run() -> shop_pb2.UpsertShopResponse:
            op = await self.rt.operator(context)
            if not request.HasField("shop"):
                raise invalid("shop", "is required")
            shop = convert.shop_from_pb(request.shop)
            return await self.rt.mutate(
                "UpsertShop",
                request,
                lambda tx: self.shops.upsert_shop(tx, op, shop),
                lambda r: shop_pb2.UpsertShopResponse(shop=convert.shop_to_pb(r[0]), created=r[1]),
                shop_pb2.UpsertShopResponse,
            )

        return await self.rt.call(context, "UpsertShop", request, run)

    async def GetShop(
        self, request: shop_pb2.GetShopRequest, context: Context
    ) -> shop_pb2.GetShopResponse:
        async def run() -> shop_pb2.GetShopResponse:
            await self.rt.operator(context)
            shop = await self.rt.db.read(lambda c: self.shops.get_shop(c, request.shop_id))
            return shop_pb2.GetShopResponse(shop=convert.shop_to_pb(shop))

        return await self.rt.call(context, "GetShop", request, run)

    async def ImportShops(
        self, request: shop_pb2.ImportShopsRequest, context: Context
    ) -> shop_pb2.ImportShopsResponse:
        return await import_rpc(  # type: ignore[no-any-return]
            self.rt,
            context,
            "ImportShops",
            request,
            request.shops,
            lambda m: str(m.shop_id),
            lambda tx, op, m: self.shops.put_shop(tx, convert.shop_from_pb(m))[1],
            shop_pb2.ImportShopsResponse,
            Permission.OPERATOR_MANAGE,
        )

    async def UpsertRegister(
        self, request: shop_pb2.UpsertRegisterRequest, context: Context
    ) -> shop_pb2.UpsertRegisterResponse:
        async def run() -> shop_pb2.UpsertRegisterResponse:
            op = await self.rt.operator(context)
            if not request.HasField("register"):
                raise invalid("register", "is required")
            reg = convert.register_from_pb(request.register)
            return await self.rt.mutate(
                "UpsertRegister",
                request,
                lambda tx: self.shops.upsert_register(tx, op, reg),
                lambda r: shop_pb2.UpsertRegisterResponse(
                    register=convert.register_to_pb(r[0]), created=r[1]
                ),
                shop_pb2.UpsertRegisterResponse,
            )

        return await self.rt.call(context, "UpsertRegister", request, run)

    async def GetRegister(
        self, request: shop_pb2.GetRegisterRequest, context: Context
    ) -> shop_pb2.GetRegisterResponse:
        async def run() -> shop_pb2.GetRegisterResponse:
            await self.rt.operator(context)
            reg = await self.rt.db.read(lambda c: self.shops.get_register(c, request.register_id))
            return shop_pb2.GetRegisterResponse(register=convert.register_to_pb(reg))

        return await self.rt.call(context, "GetRegister", request, run)

    async def ImportRegisters(
        self, request: shop_pb2.ImportRegistersRequest, context: Context
    ) -> shop_pb2.ImportRegistersResponse:
        return await import_rpc(  # type: ignore[no-any-return]
            self.rt,
            context,
            "ImportRegisters",
            request,
            request.registers,
            lambda m: str(m.register_id),
            lambda tx, op, m: self.shops.put_register(tx, convert.register_from_pb(m))[1],
            shop_pb2.ImportRegistersResponse,
            Permission.OPERATOR_MANAGE,
        )

    async def ImportExchangeRates(
        self, request: shop_pb2.ImportExchangeRatesRequest, context: Context
    ) -> shop_pb2.ImportExchangeRatesResponse:
        def apply(tx: Tx, op: Operator, m: shop_pb2.ExchangeRate) -> bool:
            return self.shops.put_rate(tx, convert.rate_from_pb(m))

        return await import_rpc(  # type: ignore[no-any-return]
            self.rt,
            context,
            "ImportExchangeRates",
            request,
            request.rates,
            lambda m: f"{m.base_currency_code}/{m.currency_code}/{m.date}",
            apply,
            shop_pb2.ImportExchangeRatesResponse,
        )


@dataclass
class MasterData:
    """What the full sale adds to a running daemon (the empty-sale sweep)."""

    shops: ShopCommands
    customers: CustomerCommands
    housekeeping: Housekeeping

    def start(self) -> None:
        self.housekeeping.start()

    async def stop(self) -> None:
        await self.housekeeping.stop()


def add_master_data_services(
    server: grpc.aio.Server,
    rt: Runtime,
    sales: SaleCommands,
    catalog: CatalogCommands,
    gateway: FiscalGateway,
    *,
    register_id: str,
    currency: str,
) -> MasterData:
    """Registers CustomerService and ShopService and creates the register's master data
    on first start (shop, anonymous customer, register at location MAIN)."""
    shops = ShopCommands(register_id, currency, rt.clock, sales.master_version)
    customers = CustomerCommands(rt.clock)
    catalog.register_id = register_id
    rt.db.write_sync(shops.ensure_defaults)
    customer_pb2_grpc.add_CustomerServiceServicer_to_server(
        CustomerServicer(rt, customers, OpenItemCommands(rt.clock)), server
    )
    shop_pb2_grpc.add_ShopServiceServicer_to_server(ShopServicer(rt, shops), server)
    return MasterData(shops, customers, Housekeeping(rt.db, sales, gateway, rt.clock))
