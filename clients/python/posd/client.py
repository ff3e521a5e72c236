"""A friendly client for posd: sessions, request ids, retries and typed errors.

    from posd.client import PosdClient
    with PosdClient("unix:///var/lib/posd/posd.sock") as pos:
        pos.login("1", "1234")
        sale = pos.create_sale()
        pos.add_line(sale.sale_id, code="4006381333931")

Every mutation gets a fresh ``request_id`` (uuid4) unless you pass one; a retry after
UNAVAILABLE or DEADLINE_EXCEEDED re-sends the SAME request id, so the daemon applies the
change at most once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from posd.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    closing_pb2,
    closing_pb2_grpc,
    common_pb2,
    customer_pb2,
    customer_pb2_grpc,
    device_pb2,
    device_pb2_grpc,
    fiscal_pb2,
    fiscal_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
    sale_pb2,
    sale_pb2_grpc,
    shop_pb2_grpc,
    system_pb2,
    system_pb2_grpc,
)

T = TypeVar("T")

#: CheckHealthRequest.timeout_seconds unset: the daemon's wait for an interactive check
DEFAULT_CHECK_WAIT_S = 30

#: the standard gRPC health check (grpc/grpc doc/health-checking.md); an empty request
#: asks about the whole server
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
#: the channel argument naming the host the server's certificate is checked for (gRPC
#: core's GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, include/grpc/impl/channel_arg_names.h)
_TARGET_NAME_OVERRIDE = "grpc.ssl_target_name_override"

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
#: requests that change nothing (by their message name): repeating them is always safe
READS = ("Get", "List", "WhoAmI", "Verify", "Export", "Login")


def safe_to_repeat(request: Any) -> bool:
    """A request the client may send again after a transient failure: a read, or a
    mutation with a request_id (the daemon answers a repeat with its first answer). Not
    e.g. CheckHealth (an external check prints a test page) or a call without one."""
    if str(getattr(request, "request_id", "")):
        return True
    return type(request).__name__.startswith(READS)


@dataclass
class PosdError(Exception):
    """A call failed. ``reason`` is the daemon's ErrorInfo reason (e.g. SALE_NOT_FOUND)."""

    code: grpc.StatusCode
    reason: str
    message: str
    metadata: dict[str, str] = field(default_factory=dict)
    field_violations: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        # a reason that only repeats the code (PERMISSION_DENIED, UNAUTHENTICATED) once
        if not self.reason or self.reason == self.code.name:
            return f"{self.code.name}: {self.message}"
        return f"{self.code.name} {self.reason}: {self.message}"


def error_from_rpc(exc: grpc.RpcError) -> PosdError:
    code: grpc.StatusCode = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message = exc.details() if hasattr(exc, "details") else str(exc)
    err = PosdError(code=code, reason="", message=message or "")
    status = rpc_status.from_call(exc) if isinstance(exc, grpc.Call) else None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                err.reason = info.reason
                err.metadata = dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                err.field_violations = [(v.field, v.description) for v in bad.field_violations]
    return err


def new_request_id() -> str:
    return uuid.uuid4().hex


def money(amount_minor: int, currency: str = "EUR") -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency_code=currency)


class PosdClient:
    def __init__(
        self,
        target: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        credentials: grpc.ChannelCredentials | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        """``tls_server_name``: the name the daemon's certificate is checked for (and
        sent as SNI) instead of ``target``'s host, for a register reached by address or
        through a tunnel (localhost:PORT); only with TLS ``credentials``."""
        if credentials is None:
            if tls_server_name is not None:
                raise ValueError("tls_server_name needs TLS credentials")
            self.channel = grpc.insecure_channel(target)
        else:
            options = [] if tls_server_name is None else [(_TARGET_NAME_OVERRIDE, tls_server_name)]
            self.channel = grpc.secure_channel(target, credentials, options=options)
        self.timeout = timeout
        self.retries = retries
        self.token = ""
        self._credentials: tuple[str, str] | None = None
        self.sales = sale_pb2_grpc.SaleServiceStub(self.channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.channel)
        self.operators = operator_pb2_grpc.OperatorServiceStub(self.channel)
        self.system = system_pb2_grpc.SystemServiceStub(self.channel)
        self.fiscal = fiscal_pb2_grpc.FiscalServiceStub(self.channel)
        self.customers = customer_pb2_grpc.CustomerServiceStub(self.channel)
        self.shops = shop_pb2_grpc.ShopServiceStub(self.channel)
        self.devices = device_pb2_grpc.DeviceServiceStub(self.channel)
        self.orders = order_pb2_grpc.OrderServiceStub(self.channel)

    # -- plumbing -----------------------------------------------------------------------

    def __enter__(self) -> PosdClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Waits until the daemon's socket answers; ``grpc.FutureTimeoutError`` after
        ``timeout``. One health check that waits for the connection (any answer, even
        an error, means connected), not ``grpc.channel_ready_future``: that leaves a
        thread polling the channel every 0.2 s, and ``close()`` then waits up to 0.2 s
        for it."""
        check = self.channel.unary_unary(
            HEALTH_CHECK, request_serializer=bytes, response_deserializer=bytes
        )
        try:
            check(b"", timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise grpc.FutureTimeoutError() from None

    def _metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []

    def call(self, method: Callable[..., T], request: Any, *, timeout: float | None = None) -> T:
        """Calls with the session token; retries transient failures with the same request.
        ``timeout``: this call's own (default: the client's)."""
        delay = 0.05
        attempt = 0
        wait = self.timeout if timeout is None else timeout
        while True:
            try:
                result: T = method(request, timeout=wait, metadata=self._metadata())
                return result
            except grpc.RpcError as exc:
                err = error_from_rpc(exc)
                if err.code in RETRYABLE and attempt < self.retries and safe_to_repeat(request):
                    attempt += 1
                    time.sleep(delay)
                    delay *= 2
                    continue
                if (
                    err.code == grpc.StatusCode.UNAUTHENTICATED
                    and self._credentials is not None
                    and attempt < self.retries
                    and method is not self.operators.Login
                ):
                    attempt += 1
                    self.login(*self._credentials)
                    continue
                raise err from None

    # -- operators ------------------------------------------------------------------------

    def login(self, operator_id: str, pin: str) -> operator_pb2.LoginResponse:
        resp = self.call(
            self.operators.Login, operator_pb2.LoginRequest(operator_id=operator_id, pin=pin)
        )
        self.token = resp.token
        self._credentials = (operator_id, pin)
        return resp

    def logout(self) -> None:
        self.call(self.operators.Logout, operator_pb2.LogoutRequest())
        self.token = ""
        self._credentials = None

    def whoami(self) -> operator_pb2.WhoAmIResponse:
        return self.call(self.operators.WhoAmI, operator_pb2.WhoAmIRequest())

    # -- catalog ---------------------------------------------------------------------------

    def upsert_item(
        self,
        item_id: str,
        name: str,
        price_minor: int,
        *,
        vat_category: int = common_pb2.VAT_CATEGORY_NORMAL,
        barcodes: tuple[str, ...] = (),
        currency: str = "EUR",
        unit: str = "pcs",
        fractional: bool = False,
        request_id: str | None = None,
    ) -> catalog_pb2.UpsertItemResponse:
        item = catalog_pb2.Item(
            item_id=item_id,
            name=name,
            gross_price=money(price_minor, currency),
            vat_category=vat_category,  # type: ignore[arg-type]
            barcodes=list(barcodes),
            unit=unit,
            fractional_quantity=fractional,
        )
        return self.call(
            self.catalog.UpsertItem,
            catalog_pb2.UpsertItemRequest(request_id=request_id or new_request_id(), item=item),
        )

    # -- sales -------------------------------------------------------------------------------

    def create_sale(self, *, request_id: str | None = None) -> sale_pb2.Sale:
        req = sale_pb2.CreateSaleRequest(request_id=request_id or new_request_id())
        return self.call(self.sales.CreateSale, req).sale

    def get_sale(self, sale_id: str) -> sale_pb2.Sale:
        return self.call(self.sales.GetSale, sale_pb2.GetSaleRequest(sale_id=sale_id)).sale

    def list_sales(self, state: int = 0, page_size: int = 100) -> Iterator[sale_pb2.Sale]:
        token = ""
        while True:
            resp = self.call(
                self.sales.ListSales,
                sale_pb2.ListSalesRequest(
                    state=state,  # type: ignore[arg-type]
                    page_size=page_size,
                    page_token=token,
                ),
            )
            yield from resp.sales
            token = resp.next_page_token
            if not token:
                return

    def add_line(
        self,
        sale_id: str,
        *,
        item_id: str = "",
        code: str = "",
        quantity: str = "",
        variant_id: str = "",
        unit: str = "",
        lot_number: str = "",
        serial_number: str = "",
        note: str = "",
        request_id: str | None = None,
    ) -> sale_pb2.AddLineResponse:
        req = sale_pb2.AddLineRequest(
            request_id=request_id or new_request_id(),
            sale_id=sale_id,
            quantity=quantity,
            variant_id=variant_id,
            unit=unit,
            lot_number=lot_number,
            serial_number=serial_number,
            note=note,
        )
        if item_id:
            req.item_id = item_id
        else:
            req.code = code
        return self.call(self.sales.AddLine, req)

    def update_line(
        self,
        sale_id: str,
        line_id: str,
        quantity: str = "",
        *,
        note: str | None = None,
        request_id: str | None = None,
    ) -> sale_pb2.Sale:
        """``quantity`` "" keeps it (give a ``note`` then); ``note`` None keeps the
        line's note, "" clears it."""
        req = sale_pb2.UpdateLineRequest(
            request_id=request_id or new_request_id(),
            sale_id=sale_id,
            line_id=line_id,
            quantity=quantity,
        )
        if note is not None:
            req.note = note
        return self.call(self.sales.UpdateLine, req).sale

    def remove_line(
        self, sale_id: str, line_id: str, *, request_id: str | None = None
    ) -> sale_pb2.Sale:
        req = sale_pb2.RemoveLineRequest(
            request_id=request_id or new_request_id(), sale_id=sale_id, line_id=line_id
        )
        return self.call(self.sales.RemoveLine, req).sale

    def add_payment(
        self,
        sale_id: str,
        method: int,
        amount_minor: int,
        *,
        currency: str = "EUR",
        request_id: str | None = None,
    ) -> sale_pb2.AddPaymentResponse:
        req = sale_pb2.AddPaymentRequest(
            request_id=request_id or new_request_id(),
            sale_id=sale_id,
            method=method,  # type: ignore[arg-type]
            amount=money(amount_minor, currency),
        )
        return self.call(self.sales.AddPayment, req)

    def remove_payment(
        self, sale_id: str, payment_id: str, *, request_id: str | None = None
    ) -> sale_pb2.Sale:
        req = sale_pb2.RemovePaymentRequest(
            request_id=request_id or new_request_id(), sale_id=sale_id, payment_id=payment_id
        )
        return self.call(self.sales.RemovePayment, req).sale

    def post_sale(
        self,
        sale_id: str,
        *,
        request_id: str | None = None,
        delivery: sale_pb2.ReceiptDelivery.ValueType = sale_pb2.RECEIPT_DELIVERY_UNSPECIFIED,
    ) -> sale_pb2.Sale:
        """Posts the sale; ``delivery`` RECEIPT_DELIVERY_DIGITAL: the customer takes the
        receipt only by its link (see :meth:`post_sale_full` for the link)."""
        return self.post_sale_full(sale_id, request_id=request_id, delivery=delivery).sale

    def post_sale_full(
        self,
        sale_id: str,
        *,
        request_id: str | None = None,
        delivery: sale_pb2.ReceiptDelivery.ValueType = sale_pb2.RECEIPT_DELIVERY_UNSPECIFIED,
    ) -> sale_pb2.PostSaleResponse:
        """PostSale's whole answer: the posted sale and its digital receipt (if any)."""
        req = sale_pb2.PostSaleRequest(
            request_id=request_id or new_request_id(), sale_id=sale_id, receipt_delivery=delivery
        )
        return self.call(self.sales.PostSale, req)

    def get_voucher(self, code: str) -> sale_pb2.Voucher:
        """A tracked voucher's balance and state."""
        return self.call(self.sales.GetVoucher, sale_pb2.GetVoucherRequest(code=code)).voucher

    def get_digital_receipt(self, sale_id: str) -> sale_pb2.DigitalReceipt:
        """The posted receipt's link (for its QR code) while it is valid."""
        req = sale_pb2.GetDigitalReceiptRequest(sale_id=sale_id)
        return self.call(self.sales.GetDigitalReceipt, req).digital_receipt

    def revoke_digital_receipt(
        self, sale_id: str, reason: str, *, request_id: str | None = None
    ) -> sale_pb2.DigitalReceipt:
        """Ends the posted receipt's digital receipt link before it expires (the receipt
        server answers it 410 Gone from then on); needs permission STORNO."""
        req = sale_pb2.RevokeDigitalReceiptRequest(
            request_id=request_id or new_request_id(), sale_id=sale_id, reason=reason
        )
        return self.call(self.sales.RevokeDigitalReceipt, req).digital_receipt

    def cancel_sale(
        self, sale_id: str, reason: str = "", *, request_id: str | None = None
    ) -> sale_pb2.Sale:
        req = sale_pb2.CancelSaleRequest(
            request_id=request_id or new_request_id(), sale_id=sale_id, reason=reason
        )
        return self.call(self.sales.CancelSale, req).sale

    def scan(
        self,
        sale_id: str,
        code: str,
        *,
        quantity: str = "",
        recalculate_lines: bool | None = None,
        request_id: str | None = None,
    ) -> sale_pb2.ScanResponse:
        """One code from the entry field: customer, barcode, lot, serial, item number,
        shop discount or vendor (see ScanResponse.match / .choice / .candidates)."""
        req = sale_pb2.ScanRequest(
            request_id=request_id or new_request_id(), sale_id=sale_id, code=code, quantity=quantity
        )
        if recalculate_lines is not None:
            req.recalculate_lines = recalculate_lines
        return self.call(self.sales.Scan, req)

    def set_customer(
        self,
        sale_id: str,
        customer_number: str,
        *,
        recalculate_lines: bool | None = None,
        request_id: str | None = None,
    ) -> sale_pb2.Sale:
        req = sale_pb2.SetCustomerRequest(
            request_id=request_id or new_request_id(),
            sale_id=sale_id,
            customer_number=customer_number,
        )
        if recalculate_lines is not None:
            req.recalculate_lines = recalculate_lines
        return self.call(self.sales.SetCustomer, req).sale

    def create_customer(
        self,
        customer: customer_pb2.Customer,
        *,
        allow_duplicate_email: bool = False,
        request_id: str | None = None,
    ) -> customer_pb2.CreateCustomerResponse:
        req = customer_pb2.CreateCustomerRequest(
            request_id=request_id or new_request_id(),
            customer=customer,
            allow_duplicate_email=allow_duplicate_email,
        )
        return self.call(self.customers.CreateCustomer, req)

    def update_customer(
        self, customer: customer_pb2.Customer, *, request_id: str | None = None
    ) -> customer_pb2.Customer:
        """Replaces the customer. Send it as read, etag included: an edit made after
        another change of the customer is refused (reason CUSTOMER_CHANGED) instead of
        undoing that change; read the customer again then. An empty etag replaces
        whatever is stored."""
        req = customer_pb2.UpdateCustomerRequest(
            request_id=request_id or new_request_id(), customer=customer
        )
        return self.call(self.customers.UpdateCustomer, req).customer

    def search_customers(self, query: str, page_size: int = 50) -> Iterator[customer_pb2.Customer]:
        token = ""
        while True:
            resp = self.call(
                self.customers.SearchCustomers,
                customer_pb2.SearchCustomersRequest(
                    query=query, page_size=page_size, page_token=token
                ),
            )
            yield from resp.customers
            token = resp.next_page_token
            if not token:
                return

    # -- back-office orders ---------------------------------------------------------------------

    def upsert_orders(
        self,
        *orders: order_pb2.Order,
        skip_invalid_rows: bool = False,
        validate_only: bool = False,
        request_id: str | None = None,
    ) -> common_pb2.ImportSummary:
        """Creates or replaces orders (one transaction); the summary names rejected ones."""
        req = order_pb2.UpsertOrdersRequest(
            request_id=request_id or new_request_id(),
            orders=list(orders),
            skip_invalid_rows=skip_invalid_rows,
            validate_only=validate_only,
        )
        return self.call(self.orders.UpsertOrders, req).summary

    def get_order(self, order_number: str) -> order_pb2.Order:
        req = order_pb2.GetOrderRequest(order_number=order_number)
        return self.call(self.orders.GetOrder, req).order

    def list_orders(
        self, state: int = 0, *, customer_number: str = "", page_size: int = 100
    ) -> Iterator[order_pb2.Order]:
        token = ""
        while True:
            resp = self.call(
                self.orders.ListOrders,
                order_pb2.ListOrdersRequest(
                    state=state,  # type: ignore[arg-type]
                    customer_number=customer_number,
                    page_size=page_size,
                    page_token=token,
                ),
            )
            yield from resp.orders
            token = resp.next_page_token
            if not token:
                return

    def load_order(
        self,
        order_number: str,
        *,
        picks: Sequence[order_pb2.OrderLinePick] = (),
        request_id: str | None = None,
    ) -> sale_pb2.Sale:
        """The order in an open sale of this register (the same sale while it is open).
        ``picks``: the lot or serial number the cashier picked for lines of a tracked
        item that reserve none."""
        req = order_pb2.LoadOrderRequest(
            request_id=request_id or new_request_id(), order_number=order_number, picks=picks
        )
        return self.call(self.orders.LoadOrder, req).sale

    # -- system ---------------------------------------------------------------------------------

    def status(self) -> system_pb2.GetStatusResponse:
        return self.call(self.system.GetStatus, system_pb2.GetStatusRequest())

    def verify_journal(self) -> system_pb2.VerifyJournalResponse:
        return self.call(self.system.VerifyJournal, system_pb2.VerifyJournalRequest())

    def print_jobs(self, include_done: bool = False) -> list[system_pb2.PrintJob]:
        jobs: list[system_pb2.PrintJob] = []
        token = ""
        while True:
            resp = self.call(
                self.system.ListPrintJobs,
                system_pb2.ListPrintJobsRequest(include_done=include_done, page_token=token),
            )
            jobs.extend(resp.jobs)
            token = resp.next_page_token
            if not token:
                return jobs

    # -- fiscal -----------------------------------------------------------------------------------

    def tse_info(self) -> fiscal_pb2.GetTseInfoResponse:
        return self.call(self.fiscal.GetTseInfo, fiscal_pb2.GetTseInfoRequest())

    def tse_self_test(self) -> fiscal_pb2.RunTseSelfTestResponse:
        return self.call(self.fiscal.RunTseSelfTest, fiscal_pb2.RunTseSelfTestRequest())

    def export_tse(self) -> bytes:
        """The TSE export TAR (streamed by the daemon, joined here)."""
        try:
            chunks = self.fiscal.ExportTse(
                fiscal_pb2.ExportTseRequest(), timeout=600, metadata=tuple(self._metadata())
            )
            return b"".join(c.chunk for c in chunks)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def list_outages(self, page_size: int = 0) -> list[fiscal_pb2.Outage]:
        """Every outage, oldest first, with all its Vorgänge: the pages followed, and an
        outage a page cut (more Vorgänge than a page holds) joined with its rest, which
        begins the next page."""
        outages: list[fiscal_pb2.Outage] = []
        token = ""
        while True:
            resp = self.call(
                self.fiscal.ListOutages,
                fiscal_pb2.ListOutagesRequest(page_size=page_size, page_token=token),
            )
            for o in resp.outages:
                if outages and outages[-1].outage_number == o.outage_number:
                    outages[-1].receipt_numbers.extend(o.receipt_numbers)
                    outages[-1].vorgaenge.extend(o.vorgaenge)
                    # the rest was read later: an outage that ended meanwhile says so
                    if o.HasField("end_time"):
                        outages[-1].end_time.CopyFrom(o.end_time)
                else:
                    outages.append(o)
            token = resp.next_page_token
            if not token:
                return outages

    def export_outages(self, *, timeout: float = 600) -> bytes:
        """The outage log CSV (streamed by the daemon, joined here): a long outage
        history is more than one message carries."""
        try:
            chunks = self.fiscal.ExportOutageLog(
                fiscal_pb2.ExportOutageLogRequest(),
                timeout=timeout,
                metadata=tuple(self._metadata()),
            )
            return b"".join(c.chunk for c in chunks)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def recover_tse(self) -> fiscal_pb2.RecoverTseResponse:
        return self.call(self.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest())

    # -- devices ----------------------------------------------------------------------------------

    def list_devices(self) -> list[device_pb2.Device]:
        return list(self.call(self.devices.ListDevices, device_pb2.ListDevicesRequest()).devices)

    def get_device(self, device_id: str) -> device_pb2.Device:
        req = device_pb2.GetDeviceRequest(device_id=device_id)
        return self.call(self.devices.GetDevice, req).device

    def check_health(
        self, device_id: str, level: int = 1, *, timeout_seconds: int = 0
    ) -> device_pb2.HealthCheck:
        """``level``: device_pb2.HEALTH_LEVEL_INTERNAL (1), _EXTERNAL (2), _INTERACTIVE (3)."""
        req = device_pb2.CheckHealthRequest(
            device_id=device_id,
            level=level,  # type: ignore[arg-type]
            timeout_seconds=timeout_seconds,
        )
        # the daemon waits up to timeout_seconds (default 30) for an interactive check
        wait = timeout_seconds or DEFAULT_CHECK_WAIT_S
        old, self.timeout = self.timeout, max(self.timeout, wait + 10.0)
        try:
            return self.call(self.devices.CheckHealth, req).health_check
        finally:
            self.timeout = old

    def confirm_health_check(
        self, check_id: str, confirmed: bool, note: str = ""
    ) -> device_pb2.HealthCheck:
        req = device_pb2.ConfirmHealthCheckRequest(
            check_id=check_id, confirmed=confirmed, note=note
        )
        return self.call(self.devices.ConfirmHealthCheck, req).health_check

    def open_drawer(
        self, reason: str = "", *, wait_seconds: int = 0, request_id: str | None = None
    ) -> device_pb2.OpenDrawerResponse:
        """A no-sale drawer open (needs DRAWER_OPEN_NO_SALE; journaled)."""
        req = device_pb2.OpenDrawerRequest(
            request_id=request_id or new_request_id(), reason=reason, wait_seconds=wait_seconds
        )
        return self.call(self.devices.OpenDrawer, req)

    def print_test_page(self, device_id: str = "") -> device_pb2.HealthCheck:
        req = device_pb2.PrintTestPageRequest(device_id=device_id)
        return self.call(self.devices.PrintTestPage, req).health_check

    def show_on_display(self, *lines: str) -> list[str]:
        req = device_pb2.ShowOnDisplayRequest(lines=list(lines))
        return list(self.call(self.devices.ShowOnDisplay, req).lines)

    def reprint_receipt(
        self, sale_id: str, *, request_id: str | None = None
    ) -> device_pb2.ReprintReceiptResponse:
        req = device_pb2.ReprintReceiptRequest(
            request_id=request_id or new_request_id(), sale_id=sale_id
        )
        return self.call(self.devices.ReprintReceipt, req)

    def discard_print_job(
        self, job_id: int, reason: str, *, request_id: str | None = None
    ) -> device_pb2.DiscardPrintJobResponse:
        """Removes a pending print or drawer job that cannot be done (journaled)."""
        req = device_pb2.DiscardPrintJobRequest(
            request_id=request_id or new_request_id(), job_id=job_id, reason=reason
        )
        return self.call(self.devices.DiscardPrintJob, req)

    def subscribe_events(
        self,
        *,
        after_sequence: int | None = None,
        boot_id: str = "",
        types: tuple[int, ...] = (),
        device_id: str = "",
        handle_scans: bool = False,
        timeout: float | None = None,
    ) -> grpc.CallIterator[device_pb2.SubscribeEventsResponse]:
        """The event stream (a grpc call iterator: ``.cancel()`` it to stop)."""
        req = device_pb2.SubscribeEventsRequest(
            boot_id=boot_id,
            types=list(types),  # type: ignore[arg-type]
            device_id=device_id,
            handle_scans=handle_scans,
        )
        if after_sequence is not None:
            req.after_sequence = after_sequence
        stream: grpc.CallIterator[device_pb2.SubscribeEventsResponse] = (
            self.devices.SubscribeEvents(req, timeout=timeout, metadata=tuple(self._metadata()))
        )
        return stream

    def monitor_device(
        self, device_id: str, *, timeout: float | None = None
    ) -> grpc.CallIterator[device_pb2.MonitorDeviceResponse]:
        """A device's traffic, read-only (a grpc call iterator: ``.cancel()`` it)."""
        req = device_pb2.MonitorDeviceRequest(device_id=device_id)
        stream: grpc.CallIterator[device_pb2.MonitorDeviceResponse] = self.devices.MonitorDevice(
            req, timeout=timeout, metadata=tuple(self._metadata())
        )
        return stream

    # -- the register's day: shifts, cash movements, X/Z, exports, receipt archive ---------------
    # (ClosingService; the stub is created lazily so this section stands on its own)

    @property
    def closing(self) -> closing_pb2_grpc.ClosingServiceStub:
        stub = self.__dict__.get("_closing_stub")
        if stub is None:
            stub = closing_pb2_grpc.ClosingServiceStub(self.channel)
            self.__dict__["_closing_stub"] = stub
        return stub

    @staticmethod
    def cash_counts(
        counts: dict[int, int] | None = None, *, total: int | None = None, currency: str = "EUR"
    ) -> list[closing_pb2.CashCount]:
        """``{denomination_minor: pieces}`` and/or a plain ``total`` as CashCount messages.

        ``total=0`` is a line too: the explicit count of an empty drawer (a shift close
        without any count line is refused)."""
        out = [
            closing_pb2.CashCount(currency_code=currency, denomination_minor=d, pieces=n)
            for d, n in sorted((counts or {}).items())
        ]
        if total is not None:
            out.append(closing_pb2.CashCount(currency_code=currency, total_minor=total))
        return out

    def open_shift(
        self, counts: list[closing_pb2.CashCount], *, request_id: str | None = None
    ) -> closing_pb2.Shift:
        req = closing_pb2.OpenShiftRequest(request_id=request_id or new_request_id(), counts=counts)
        return self.call(self.closing.OpenShift, req).shift

    def close_shift(
        self,
        counts: list[closing_pb2.CashCount],
        *,
        shift_id: int = 0,
        request_id: str | None = None,
    ) -> closing_pb2.Shift:
        """Closes the open shift with the counted cash (at least one line). ``shift_id``
        (as ``get_shift`` showed it): close that shift or nothing (SHIFT_MISMATCH when
        another one is open); 0: whichever is open."""
        req = closing_pb2.CloseShiftRequest(
            request_id=request_id or new_request_id(), counts=counts, shift_id=shift_id
        )
        return self.call(self.closing.CloseShift, req).shift

    def ensure_shift(self) -> None:
        """Opens a shift with an empty float unless one is open (a register sells only
        within an open shift). A register with a shared drawer (``drawer.shared``) that
        holds cash refuses an empty float (COUNT_MISSING_CURRENCY): open it with the
        counted float (:meth:`open_shift`)."""
        try:
            self.open_shift([])
        except PosdError as exc:
            if exc.reason != "SHIFT_ALREADY_OPEN":
                raise

    def get_shift(self, shift_id: int = 0) -> closing_pb2.Shift:
        return self.call(
            self.closing.GetShift, closing_pb2.GetShiftRequest(shift_id=shift_id)
        ).shift

    def add_cash_movement(
        self,
        kind: int,
        amount_minor: int,
        reason: str,
        *,
        direction: int = 0,
        currency: str = "",
        request_id: str | None = None,
    ) -> closing_pb2.CashMovement:
        """``kind``: closing_pb2.CASH_MOVEMENT_KIND_*; ``direction``: CASH_DIRECTION_*;
        ``currency`` "": the register currency (else foreign cash the shop takes)."""
        req = closing_pb2.AddCashMovementRequest(
            request_id=request_id or new_request_id(),
            kind=kind,  # type: ignore[arg-type]
            amount=money(amount_minor, currency),
            direction=direction,  # type: ignore[arg-type]
            reason=reason,
        )
        return self.call(self.closing.AddCashMovement, req).movement

    def x_report(self) -> closing_pb2.ClosingReport:
        return self.call(self.closing.GetXReport, closing_pb2.GetXReportRequest()).report

    def print_x_report(self, *, request_id: str | None = None) -> closing_pb2.ClosingReport:
        """The X report now, queued for the printer; a retry with the same
        ``request_id`` answers the same report and prints it once."""
        req = closing_pb2.PrintXReportRequest(request_id=request_id or new_request_id())
        return self.call(self.closing.PrintXReport, req).report

    def z_closing(
        self, business_date: str = "", *, request_id: str | None = None
    ) -> closing_pb2.Closing:
        req = closing_pb2.CreateZClosingRequest(
            request_id=request_id or new_request_id(), business_date=business_date
        )
        return self.call(self.closing.CreateZClosing, req).closing

    def get_closing(self, z_nr: int) -> closing_pb2.Closing:
        return self.call(self.closing.GetClosing, closing_pb2.GetClosingRequest(z_nr=z_nr)).closing

    def list_closings(self, page_size: int = 50) -> Iterator[closing_pb2.Closing]:
        token = ""
        while True:
            resp = self.call(
                self.closing.ListClosings,
                closing_pb2.ListClosingsRequest(page_size=page_size, page_token=token),
            )
            yield from resp.closings
            token = resp.next_page_token
            if not token:
                return

    def export_dsfinvk(
        self,
        *,
        z_from: int = 0,
        z_to: int = 0,
        start: datetime | None = None,
        end: datetime | None = None,
        timeout: float = 600,
    ) -> bytes:
        """The DSFinV-K export ZIP of a Z range or of the closings in [start, end)."""
        req = closing_pb2.ExportDsfinvkRequest(z_from=z_from, z_to=z_to)
        if start is not None:
            req.start_time.FromDatetime(start)
        if end is not None:
            req.end_time.FromDatetime(end)
        try:
            chunks = self.closing.ExportDsfinvk(
                req, timeout=timeout, metadata=tuple(self._metadata())
            )
            return b"".join(c.chunk for c in chunks)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def export_datev(
        self, start: datetime, end: datetime, *, timeout: float = 600
    ) -> list[closing_pb2.ExportFile]:
        """The DATEV file(s) of [start, end); ``timeout`` as the DSFinV-K export's: a
        year of a busy register takes longer than an ordinary call's 10 s."""
        req = closing_pb2.ExportDatevRequest()
        req.start_time.FromDatetime(start)
        req.end_time.FromDatetime(end)
        return list(self.call(self.closing.ExportDatev, req, timeout=timeout).files)

    def export_cash_book(
        self, start: datetime, end: datetime, *, timeout: float = 600
    ) -> list[closing_pb2.ExportFile]:
        """The DATEV file(s) of [start, end); ``timeout`` as the DSFinV-K export's: a
        year of a busy register takes longer than an ordinary call's 10 s."""
        req = closing_pb2.ExportCashBookRequest()
        req.start_time.FromDatetime(start)
        req.end_time.FromDatetime(end)
        return list(self.call(self.closing.ExportCashBook, req, timeout=timeout).files)

    def list_receipts(
        self, request: closing_pb2.ListReceiptsRequest | None = None
    ) -> closing_pb2.ListReceiptsResponse:
        """One page; pass ``next_page_token`` back in ``request.page_token`` for more."""
        return self.call(self.closing.ListReceipts, request or closing_pb2.ListReceiptsRequest())

    def get_receipt(
        self, *, sale_id: str = "", receipt_number: int = 0
    ) -> closing_pb2.GetReceiptResponse:
        req = closing_pb2.GetReceiptRequest()
        if sale_id:
            req.sale_id = sale_id
        else:
            req.receipt_number = receipt_number
        return self.call(self.closing.GetReceipt, req)
