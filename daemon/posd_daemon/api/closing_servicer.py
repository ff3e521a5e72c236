"""ClosingService: shifts, cash movements, X/Z, DSFinV-K/DATEV exports, receipt archive.

Wiring (bootstrap.py): ``add_closing_service(server, rt, gateway, config,
on_outbox=worker.wake, zone=zone)``. Exports read through their own read-only SQLite connection in
a worker thread, so a long export never holds up the database thread (WAL lets readers
and the writer run side by side).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, tzinfo
from typing import IO, TYPE_CHECKING, Any

import grpc
from google.protobuf import timestamp_pb2
from posd.v1 import closing_pb2, closing_pb2_grpc, common_pb2, system_pb2

from posd_daemon import __version__
from posd_daemon.api import convert
from posd_daemon.api.runtime import Context, Runtime, request_digest
from posd_daemon.domain.closing import CashMovementKind, ClosingReport
from posd_daemon.domain.errors import invalid
from posd_daemon.domain.operators import Permission
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.shift import CountLine, ShiftState, count_line
from posd_daemon.domain.vat import VatCategory
from posd_daemon.exports.datev_accounts import Accounts
from posd_daemon.ops.config import Config
from posd_daemon.services import paging
from posd_daemon.services import receipts as receipt_queries
from posd_daemon.services.clock import Clock
from posd_daemon.services.day import (
    DayCommands,
    DaySettings,
    MovementRequest,
    ZResult,
)
from posd_daemon.services.executor import Tx
from posd_daemon.services.fiscal import EventCall, EventRecorder, FiscalGateway
from posd_daemon.store import day as store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import idempotency as idempotency_store
from posd_daemon.store import outbox as outbox_store
from posd_daemon.store import tse_events
from posd_daemon.store.database import connect

if TYPE_CHECKING:
    from posd_daemon.exports import dsfinvk

CHUNK = 64 * 1024

#: A ListClosings page stops at this many encoded bytes of closings (at least one a
#: page): gRPC refuses a message over 4 MiB by default, on the server and the client;
#: the rest is room for the page token and each closing's field header.
MAX_PAGE_BYTES = 3 * 1024 * 1024

KIND_FROM_PB = {
    closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT: CashMovementKind.DEPOSIT,
    closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL: CashMovementKind.WITHDRAWAL,
    closing_pb2.CASH_MOVEMENT_KIND_TRANSIT: CashMovementKind.TRANSIT,
    closing_pb2.CASH_MOVEMENT_KIND_TIP: CashMovementKind.TIP,
    closing_pb2.CASH_MOVEMENT_KIND_DIFFERENCE: CashMovementKind.DIFFERENCE,
}
KIND_TO_PB = {v: k for k, v in KIND_FROM_PB.items()}


def _money(minor: int, currency: str) -> common_pb2.Money:
    return convert.money(minor, currency)


def _ts(when: datetime | None) -> timestamp_pb2.Timestamp | None:
    return convert.timestamp(when)


def _time(msg: Any, name: str) -> datetime | None:
    return convert.time_from_pb(msg, name)


def counts_from_pb(counts: Any, default_currency: str) -> list[CountLine]:
    out: list[CountLine] = []
    for c in counts:
        # a line of denomination 0 is a counted total and its pieces are ignored:
        # "3 pieces" without the coin they are of would be booked as a total of 0 (a
        # float of nothing, a shortage at the close). A total line comes back from the
        # daemon with pieces 1 (GetShift), and a client may send it again as it is
        if c.denomination_minor == 0 and c.pieces not in (0, 1):
            raise invalid(
                "counts.denomination_minor",
                "a line with pieces needs the denomination they are of (a counted total:"
                " total_minor alone)",
            )
        out.append(
            count_line(
                c.currency_code or default_currency, c.denomination_minor, c.pieces, c.total_minor
            )
        )
    return out


def _count_pb(c: CountLine) -> closing_pb2.CashCount:
    return closing_pb2.CashCount(
        currency_code=c.currency,
        denomination_minor=c.denomination,
        pieces=c.pieces,
        total_minor=c.amount,
    )


def shift_to_pb(shift: store.Shift, expected: dict[str, int] | None = None) -> closing_pb2.Shift:
    msg = closing_pb2.Shift(
        shift_id=shift.shift_id,
        state=(
            closing_pb2.SHIFT_STATE_OPEN
            if shift.state is ShiftState.OPEN
            else closing_pb2.SHIFT_STATE_CLOSED
        ),
        register_id=shift.register_id,
        open_time=_ts(shift.opened_at),
        opened_by=shift.opened_by,
        closed_by=shift.closed_by,
        opening_counts=[_count_pb(c) for c in shift.opening],
        closing_counts=[_count_pb(c) for c in shift.closing],
        z_nr=shift.z_nr or 0,
    )
    close = _ts(shift.closed_at)
    if close is not None:
        msg.close_time.CopyFrom(close)
    for b in shift.balances:
        msg.balances.append(
            closing_pb2.CashBalance(
                currency_code=b.currency,
                opening=_money(b.opening, b.currency),
                expected=_money(b.expected, b.currency),
                counted=_money(b.counted, b.currency),
                difference=_money(b.difference, b.currency),
            )
        )
    for cur, amount in sorted((expected or {}).items()):
        msg.expected_cash.append(_money(amount, cur))
    return msg


def movement_to_pb(m: store.CashMovement) -> closing_pb2.CashMovement:
    msg = closing_pb2.CashMovement(
        movement_id=m.movement_id,
        number=m.number,
        bon_id=m.bon_id,
        kind=KIND_TO_PB[m.kind],
        amount=_money(m.amount, m.currency),
        reason=m.reason,
        operator_id=m.operator_id,
        shift_id=m.shift_id or 0,
        create_time=_ts(m.created_at),
        gv_typ=m.kind.gv_typ,
    )
    msg.tse.CopyFrom(convert.tse_to_pb(m.tse))
    return msg


def report_to_pb(r: ClosingReport) -> closing_pb2.ClosingReport:
    cur = r.currency
    msg = closing_pb2.ClosingReport(
        z_nr=r.z_nr,
        register_id=r.register_id,
        create_time=_ts(
            datetime.strptime(r.created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        ),
        first_bon_id=r.first_bon_id,
        last_bon_id=r.last_bon_id,
        receipts=r.receipts,
        aborted=r.aborted,
        training=r.training,
        cash_movements=r.movements,
        late=r.late,
        outside_shift=r.outside_shift,
        gross=_money(r.gross, cur),
        shift_ids=list(r.shifts),
        payments_total=_money(r.payments_total, cur),
        cash_total=_money(r.cash_total, cur),
    )
    for src, dst in ((r.payments, msg.payments), (r.gateways, msg.payment_gateways)):
        for p in src:
            dst.append(
                closing_pb2.PaymentTotal(
                    method=p.method,
                    zahlart_typ=p.zahlart_typ,
                    name=p.name,
                    amount=_money(p.amount, p.currency),
                    count=p.count,
                    refund_count=p.refunds,
                    refunds=_money(p.refunds_amount, p.currency),
                )
            )
    for v in r.vat:
        msg.vat_totals.append(
            closing_pb2.VatRateTotal(
                vat_category=v.category,  # type: ignore[arg-type]
                vat_rate=v.percent,
                gross=_money(v.gross, cur),
                net=_money(v.net, cur),
                tax=_money(v.tax, cur),
            )
        )
    for c in r.cases:
        msg.business_cases.append(
            closing_pb2.BusinessCaseTotal(
                business_case=c.case,
                gv_typ=c.gv_typ,
                count=c.count,
                gross=_money(c.gross, cur),
                net=_money(c.net, cur),
                tax=_money(c.tax, cur),
            )
        )
    for o in r.operators:
        msg.operators.append(
            closing_pb2.OperatorTotal(
                operator_id=o.operator_id,
                receipts=o.receipts,
                gross=_money(o.gross, cur),
                cash=_money(o.cash, cur),
            )
        )
    for b in r.balances:
        msg.cash_balances.append(
            closing_pb2.CashBalance(
                currency_code=b.currency,
                opening=_money(b.opening, b.currency),
                expected=_money(b.expected, b.currency),
                counted=_money(b.counted, b.currency),
                difference=_money(b.difference, b.currency),
            )
        )
    msg.cash_per_currency.extend(_money(a, c) for c, a in r.cash_per_currency)
    msg.open_shift_expected_cash.extend(_money(a, c) for c, a in r.open_shift_expected)
    return msg


def closing_to_pb(z: ZResult) -> closing_pb2.Closing:
    c = z.closing
    return closing_pb2.Closing(
        z_nr=c.z_nr,
        register_id=c.register_id,
        create_time=_ts(c.created_at),
        business_date=c.business_date,
        operator_id=c.operator_id,
        report_sha256=c.report_sha256,
        report=report_to_pb(z.report),
    )


class ClosingServicer(closing_pb2_grpc.ClosingServiceServicer):
    def __init__(
        self,
        rt: Runtime,
        gateway: FiscalGateway,
        config: Config,
        on_outbox: Callable[[], None],
        zone: tzinfo,
    ) -> None:
        self.rt = rt
        self.gw = gateway
        self.config = config
        self.settings = DaySettings(
            config.register.id,
            config.register.currency,
            zone,
            config.register.exchange_rate_max_age_days,
            shared_drawer=config.drawer.shared,
        )
        d = config.datev
        #: the DATEV accounts: SKR03 defaults, with what [datev] sets
        self.accounts = Accounts().with_overrides(
            revenue={int(VatCategory[k]): v for k, v in d.revenue.items()},
            movements=dict(d.movements),
            difference_surplus=d.difference_surplus,
            non_cash_transit=d.non_cash_transit,
            rounding=d.rounding,
            receivables=d.receivables,
            vouchers=d.vouchers,
            length=d.account_length,
        )
        self.day = DayCommands(self.settings, rt.clock, on_outbox)

    # -- helpers ----------------------------------------------------------------------

    def _export_settings(self) -> dsfinvk.ExportSettings:
        # the exporters load on the first export (a register exports once a day; they
        # cost the daemon's idle memory about 0.8 MB)
        from posd_daemon.exports import dsfinvk  # noqa: PLC0415

        reg = self.config.register
        certs: dict[str, bytes] = {}
        info = self.gw.info
        if info is not None and info.certificates:
            certs[info.serial_hex] = bytes(info.certificates[0])
        names = {op.id: op.name for op in self.config.operators}
        return dsfinvk.ExportSettings(
            register_id=reg.id,
            currency=reg.currency,
            company=dsfinvk.Company.from_address(
                reg.shop_name, reg.address, reg.vat_id, reg.tax_number
            ),
            software_version=__version__,
            vat_table=self.config.vat_table(),
            operator_names=names,
            tse_certificates=certs,
            zone=self.settings.zone,
        )

    async def _read_only(self, fn: Callable[[Any], Any]) -> Any:
        """Runs ``fn(conn)`` on a fresh read-only connection in a worker thread."""
        path = self.config.database_path

        def work() -> Any:
            conn = connect(path, readonly=True)
            try:
                return fn(conn)
            finally:
                conn.close()

        return await asyncio.to_thread(work)

    def _filter_amount(self, request: Any, name: str) -> int | None:
        """A receipt filter's amount (None: not given), in minor units of the register
        currency, which receipt totals are compared in: one in another currency (500
        JPY, no minor unit) would be read as that many cents."""
        if not request.HasField(name):
            return None
        given = getattr(request, name)
        currency = self.settings.currency
        if given.currency_code and given.currency_code != currency:
            raise invalid(
                f"{name}.currency_code",
                f"receipts are filtered by amounts in the register currency {currency},"
                f" not {given.currency_code}",
            )
        minor: int = given.amount_minor
        return minor

    def _period(self, request: Any) -> tuple[datetime, datetime]:
        start, end = _time(request, "start_time"), _time(request, "end_time")
        if start is None or end is None:
            raise invalid("start_time", "start_time and end_time are required")
        return start, end

    # -- shifts --------------------------------------------------------------------------

    async def OpenShift(
        self, request: closing_pb2.OpenShiftRequest, context: Context
    ) -> closing_pb2.OpenShiftResponse:
        async def run() -> closing_pb2.OpenShiftResponse:
            op = await self.rt.operator(context)
            answered = await self.rt.answered("OpenShift", request, closing_pb2.OpenShiftResponse)
            if answered is not None:
                return answered
            counts = counts_from_pb(request.counts, self.settings.currency)
            # a shared drawer's float that differs from the last count is a cash
            # difference, signed inside the open's transaction as a close signs its own
            # (services/day.py); an open without one signs nothing
            return await self.gw.signed_event(
                op.operator_id,
                _event_call("OpenShift", request),
                lambda sign: self.rt.mutate(
                    "OpenShift",
                    request,
                    lambda tx: self.day.open_shift(tx, op, counts, sign),
                    lambda s: closing_pb2.OpenShiftResponse(shift=shift_to_pb(s)),
                    closing_pb2.OpenShiftResponse,
                ),
            )

        return await self.rt.call(context, "OpenShift", request, run)

    async def CloseShift(
        self, request: closing_pb2.CloseShiftRequest, context: Context
    ) -> closing_pb2.CloseShiftResponse:
        async def run() -> closing_pb2.CloseShiftResponse:
            op = await self.rt.operator(context)
            answered = await self.rt.answered("CloseShift", request, closing_pb2.CloseShiftResponse)
            if answered is not None:
                return answered
            counts = counts_from_pb(request.counts, self.settings.currency)
            # the difference is signed inside the close's transaction, after its checks
            # (services/day.py): a second close of the same shift, or of a shift other
            # than the one named by shift_id, is refused unsigned
            return await self.gw.signed_event(
                op.operator_id,
                _event_call("CloseShift", request),
                lambda sign: self.rt.mutate(
                    "CloseShift",
                    request,
                    lambda tx: self.day.close_shift(
                        tx, op, counts, sign, shift_id=request.shift_id
                    ),
                    lambda s: closing_pb2.CloseShiftResponse(shift=shift_to_pb(s)),
                    closing_pb2.CloseShiftResponse,
                ),
            )

        return await self.rt.call(context, "CloseShift", request, run)

    async def GetShift(
        self, request: closing_pb2.GetShiftRequest, context: Context
    ) -> closing_pb2.GetShiftResponse:
        async def run() -> closing_pb2.GetShiftResponse:
            op = await self.rt.operator(context)
            # the expected cash of the open shift is the X report's (permission CLOSING):
            # whoever counts the drawer must not know what the count should come to
            sees_expected = Permission.CLOSING in op.permissions

            def read(c: Any) -> closing_pb2.GetShiftResponse:
                shift = self.day.get_shift(c, request.shift_id)
                expected = None
                if shift.state is ShiftState.OPEN and sees_expected:
                    opening: dict[str, int] = {}
                    for x in shift.opening:
                        opening[x.currency] = opening.get(x.currency, 0) + x.amount
                    moved = store.shift_cash(c, shift)
                    expected = {
                        k: opening.get(k, 0) + moved.get(k, 0) for k in set(opening) | set(moved)
                    }
                return closing_pb2.GetShiftResponse(shift=shift_to_pb(shift, expected))

            result: closing_pb2.GetShiftResponse = await self.rt.db.read(read)
            return result

        return await self.rt.call(context, "GetShift", request, run)

    # -- cash movements -----------------------------------------------------------------

    async def AddCashMovement(
        self, request: closing_pb2.AddCashMovementRequest, context: Context
    ) -> closing_pb2.AddCashMovementResponse:
        async def run() -> closing_pb2.AddCashMovementResponse:
            op = await self.rt.operator(context)
            answered = await self.rt.answered(
                "AddCashMovement", request, closing_pb2.AddCashMovementResponse
            )
            if answered is not None:
                return answered
            kind = KIND_FROM_PB.get(request.kind)
            if kind is None:
                raise invalid("kind", "unknown or unspecified cash movement kind")
            if not request.HasField("amount"):
                raise invalid("amount", "is required")
            direction = request.direction
            if direction not in closing_pb2.CashDirection.values():
                raise invalid("direction", "unknown cash direction")
            # unspecified: the kind's own direction (DayCommands.validate_movement refuses
            # a TRANSIT or TIP without one: a guessed direction books the cash wrongly)
            outgoing = (
                None
                if direction == closing_pb2.CASH_DIRECTION_UNSPECIFIED
                else direction == closing_pb2.CASH_DIRECTION_OUT
            )
            req: MovementRequest = await self.rt.db.read(
                lambda c: self.day.validate_movement(
                    c,
                    op,
                    kind,
                    request.amount.amount_minor,
                    request.amount.currency_code,
                    request.reason,
                    outgoing=outgoing,
                )
            )
            return await self.gw.signed_event(
                op.operator_id,
                _event_call("AddCashMovement", request),
                lambda sign: self.rt.mutate(
                    "AddCashMovement",
                    request,
                    lambda tx: self.day.add_movement(tx, op, req, sign),
                    lambda m: closing_pb2.AddCashMovementResponse(movement=movement_to_pb(m)),
                    closing_pb2.AddCashMovementResponse,
                ),
            )

        return await self.rt.call(context, "AddCashMovement", request, run)

    # -- X and Z -------------------------------------------------------------------------

    async def GetXReport(
        self, request: closing_pb2.GetXReportRequest, context: Context
    ) -> closing_pb2.GetXReportResponse:
        async def run() -> closing_pb2.GetXReportResponse:
            op = await self.rt.operator(context)
            report = await self.rt.db.read(lambda c: self.day.x_report(c, op))
            return closing_pb2.GetXReportResponse(report=report_to_pb(report))

        return await self.rt.call(context, "GetXReport", request, run)

    async def PrintXReport(
        self, request: closing_pb2.PrintXReportRequest, context: Context
    ) -> closing_pb2.PrintXReportResponse:
        async def run() -> closing_pb2.PrintXReportResponse:
            op = await self.rt.operator(context)
            # a retry answers the first report and queues no second paper
            return await self.rt.mutate(
                "PrintXReport",
                request,
                lambda tx: self.day.print_x_report(tx, op),
                lambda r: closing_pb2.PrintXReportResponse(report=report_to_pb(r)),
                closing_pb2.PrintXReportResponse,
            )

        return await self.rt.call(context, "PrintXReport", request, run)

    async def CreateZClosing(
        self, request: closing_pb2.CreateZClosingRequest, context: Context
    ) -> closing_pb2.CreateZClosingResponse:
        async def run() -> closing_pb2.CreateZClosingResponse:
            op = await self.rt.operator(context)
            return await self.rt.mutate(
                "CreateZClosing",
                request,
                lambda tx: self.day.z_closing(tx, op, request.business_date),
                lambda z: closing_pb2.CreateZClosingResponse(closing=closing_to_pb(z)),
                closing_pb2.CreateZClosingResponse,
            )

        return await self.rt.call(context, "CreateZClosing", request, run)

    async def GetClosing(
        self, request: closing_pb2.GetClosingRequest, context: Context
    ) -> closing_pb2.GetClosingResponse:
        async def run() -> closing_pb2.GetClosingResponse:
            # a day's totals by cashier and payment: as the X report, for who may close
            (await self.rt.operator(context)).require(Permission.CLOSING)
            z = await self.rt.db.read(lambda c: self.day.get_closing(c, request.z_nr))
            return closing_pb2.GetClosingResponse(closing=closing_to_pb(z))

        return await self.rt.call(context, "GetClosing", request, run)

    async def ListClosings(
        self, request: closing_pb2.ListClosingsRequest, context: Context
    ) -> closing_pb2.ListClosingsResponse:
        async def run() -> closing_pb2.ListClosingsResponse:
            (await self.rt.operator(context)).require(Permission.CLOSING)
            size = paging.page_size(request.page_size, default=50, maximum=500)
            before = paging.decode_int(request.page_token, "z", empty=2**62)
            rows = await self.rt.db.read(
                lambda c: store.list_closings(c, self.settings.register_id, before, size + 1)
            )
            more = len(rows) > size
            encoded = [
                (c, closing_to_pb(ZResult(c, ClosingReport.from_dict(json.loads(c.report)))))
                for c in rows[:size]
            ]
            # each closing carries its full report: a busy day's encodes to some 17 kB,
            # so 500 of them would be past gRPC's 4 MiB and the call would fail
            encoded, cut = paging.within_budget(encoded, lambda e: e[1].ByteSize(), MAX_PAGE_BYTES)
            return closing_pb2.ListClosingsResponse(
                closings=[m for _, m in encoded],
                next_page_token=(
                    paging.encode("z", encoded[-1][0].z_nr) if (more or cut) and encoded else ""
                ),
            )

        return await self.rt.call(context, "ListClosings", request, run)

    # -- exports -----------------------------------------------------------------------

    async def ExportDsfinvk(
        self, request: closing_pb2.ExportDsfinvkRequest, context: Context
    ) -> AsyncIterator[closing_pb2.ExportDsfinvkResponse]:
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115

        async def run() -> closing_pb2.ExportDsfinvkResponse:
            op = await self.rt.operator(context)
            op.require(Permission.EXPORT)
            settings = self._export_settings()
            start, end = _time(request, "start_time"), _time(request, "end_time")
            from posd_daemon.exports import dsfinvk  # noqa: PLC0415 (on the first export)

            def work(conn: Any) -> dsfinvk.ExportStats:
                closings = dsfinvk.select_closings(
                    conn,
                    settings.register_id,
                    z_from=request.z_from,
                    z_to=request.z_to,
                    start=start,
                    end=end,
                )
                return dsfinvk.export(conn, settings, closings, spool, as_zip=True)

            await self._read_only(work)
            return closing_pb2.ExportDsfinvkResponse()

        try:
            await self.rt.call(context, "ExportDsfinvk", request, run)
            spool.seek(0)
            while chunk := spool.read(CHUNK):
                yield closing_pb2.ExportDsfinvkResponse(chunk=chunk)
        finally:
            spool.close()

    async def _files(
        self, context: Context, method: str, request: Any, cash_book_only: bool
    ) -> list[tuple[str, bytes]]:
        op = await self.rt.operator(context)
        op.require(Permission.EXPORT)
        start, end = self._period(request)
        reg = self.settings
        from posd_daemon.exports import datev  # noqa: PLC0415 (on the first export)

        fn = datev.cash_book if cash_book_only else datev.extended_cash_book
        files: list[tuple[str, bytes]] = await self._read_only(
            lambda c: fn(c, reg.register_id, reg.currency, start, end, self.accounts, zone=reg.zone)
        )
        return files

    async def ExportDatev(
        self, request: closing_pb2.ExportDatevRequest, context: Context
    ) -> closing_pb2.ExportDatevResponse:
        async def run() -> closing_pb2.ExportDatevResponse:
            files = await self._files(context, "ExportDatev", request, True)
            return closing_pb2.ExportDatevResponse(
                files=[closing_pb2.ExportFile(name=n, content=b) for n, b in files]
            )

        return await self.rt.call(context, "ExportDatev", request, run)

    async def ExportCashBook(
        self, request: closing_pb2.ExportCashBookRequest, context: Context
    ) -> closing_pb2.ExportCashBookResponse:
        async def run() -> closing_pb2.ExportCashBookResponse:
            files = await self._files(context, "ExportCashBook", request, False)
            return closing_pb2.ExportCashBookResponse(
                files=[closing_pb2.ExportFile(name=n, content=b) for n, b in files]
            )

        return await self.rt.call(context, "ExportCashBook", request, run)

    # -- receipt archive --------------------------------------------------------------------

    async def ListReceipts(
        self, request: closing_pb2.ListReceiptsRequest, context: Context
    ) -> closing_pb2.ListReceiptsResponse:
        async def run() -> closing_pb2.ListReceiptsResponse:
            (await self.rt.operator(context)).require(Permission.SALE)
            method = ""
            if request.payment_method:
                method = convert.payment_method_from_pb(request.payment_method).value
            f = receipt_queries.ReceiptFilter(
                number_from=request.receipt_number_from,
                number_to=request.receipt_number_to,
                start=_time(request, "start_time"),
                end=_time(request, "end_time"),
                gross_min=self._filter_amount(request, "gross_min"),
                gross_max=self._filter_amount(request, "gross_max"),
                method=method,
                operator_id=request.operator_id,
                register_id=request.register_id,
                net_min=self._filter_amount(request, "net_min"),
                net_max=self._filter_amount(request, "net_max"),
                customer_number=request.customer_number,
            )
            rows, token = await self.rt.db.read(
                lambda c: receipt_queries.list_receipts(
                    c,
                    f,
                    request.page_size,
                    request.page_token,
                    default_register=self.settings.register_id,
                )
            )
            resp = closing_pb2.ListReceiptsResponse(next_page_token=token)
            for r in rows:
                resp.receipts.append(
                    closing_pb2.ReceiptSummary(
                        sale_id=r.sale_id,
                        receipt_number=r.receipt_number,
                        register_id=r.register_id,
                        operator_id=r.operator_id,
                        post_time=_ts(r.posted_at),
                        total=_money(r.total, r.currency),
                        payment_methods=[_method_pb(m) for m in r.methods],
                        bon_id=r.bon_id,
                        z_nr=r.z_nr or 0,
                        tse_state=r.tse_state,
                    )
                )
            return resp

        return await self.rt.call(context, "ListReceipts", request, run)

    async def GetReceipt(
        self, request: closing_pb2.GetReceiptRequest, context: Context
    ) -> closing_pb2.GetReceiptResponse:
        async def run() -> closing_pb2.GetReceiptResponse:
            (await self.rt.operator(context)).require(Permission.SALE)
            which = request.WhichOneof("receipt_ref")
            if which is None:
                raise invalid("receipt_ref", "give sale_id or receipt_number")
            if which == "receipt_number" and request.receipt_number < 1:
                raise invalid("receipt_number", "receipt numbers start at 1")
            d = await self.rt.db.read(
                lambda c: receipt_queries.get_receipt(
                    c,
                    sale_id=request.sale_id if which == "sale_id" else "",
                    receipt_number=request.receipt_number if which == "receipt_number" else 0,
                    register_id=self.settings.register_id,
                )
            )
            resp = closing_pb2.GetReceiptResponse(
                sale=convert.sale_to_pb(d.sale, d.tse),
                bon_id=d.bon_id,
                z_nr=d.z_nr or 0,
                shift_id=d.shift_id or 0,
                late=d.late,
            )
            for j in d.prints:
                resp.print_history.append(
                    closing_pb2.PrintRecord(
                        job_id=j.job_id,
                        kind=j.kind,
                        copy=bool(j.payload.get("copy", False)),
                        state=(
                            system_pb2.PRINT_JOB_STATE_DONE
                            if j.state == outbox_store.DONE
                            else system_pb2.PRINT_JOB_STATE_PENDING
                        ),
                        attempts=j.attempts,
                        last_error=j.last_error,
                        create_time=_ts(j.created_at),
                    )
                )
            return resp

        return await self.rt.call(context, "GetReceipt", request, run)


def _method_pb(method: str) -> Any:
    try:
        return convert.METHOD_TO_PB[PaymentMethod(method)]
    except (ValueError, KeyError):
        return 0


def _event_call(method: str, request: Any) -> EventCall:
    return EventCall(method, str(request.request_id), request_digest(request))


def event_recorder(day: DayCommands, clock: Clock) -> EventRecorder:
    """How start-up reconciliation records a cash movement or a shift close whose TSE
    transaction finished before a crash (``FiscalGateway.event_recorded``): as the call
    would have, and with the answer the call would have given stored under its
    request_id, so that the client's retry gets it (one movement, not two). Set in
    bootstrap before the gateway opens."""

    def record(tx: Tx, ev: tse_events.PendingEvent, signed: fstore.SaleTse) -> bool:
        if idempotency_store.lookup(tx.conn, ev.request_id) is not None:
            return False  # recorded by the call itself (e.g. in the outage it opened)
        response: Any
        if ev.kind == tse_events.MOVEMENT:
            moved = day.recover_movement(tx, ev.payload, signed)
            response = closing_pb2.AddCashMovementResponse(movement=movement_to_pb(moved))
        else:
            shift = day.recover_close(tx, ev.payload, signed)
            if shift is None:
                return True  # the signed difference alone: a retry closes the shift
            if ev.method == "OpenShift":
                response = closing_pb2.OpenShiftResponse(shift=shift_to_pb(shift))
            else:
                response = closing_pb2.CloseShiftResponse(shift=shift_to_pb(shift))
        idempotency_store.store(
            tx.conn,
            ev.request_id,
            ev.method,
            ev.digest,
            response.SerializeToString(deterministic=True),
            clock(),
        )
        return True

    return record


def add_closing_service(
    server: grpc.aio.Server,
    rt: Runtime,
    gateway: FiscalGateway,
    config: Config,
    *,
    on_outbox: Callable[[], None] | None = None,
    zone: tzinfo | None = None,
) -> None:
    """Registers ClosingService. ``on_outbox`` wakes the outbox worker after a commit
    that queued print/drawer jobs (pass ``worker.wake``); without it the gateway's
    wake-up hook is used, which bootstrap sets to the same ``worker.wake``. ``zone``:
    the register's time zone (bootstrap passes the one it resolved at start; else
    ``config.zone()``)."""
    wake = on_outbox or getattr(gateway, "_on_outbox", None) or (lambda: None)
    closing_pb2_grpc.add_ClosingServiceServicer_to_server(
        ClosingServicer(rt, gateway, config, wake, zone or config.zone()), server
    )
