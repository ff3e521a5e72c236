"""DeviceService: devices, health checks, drawer, display, reprints, the event stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from posd.v1 import common_pb2, device_pb2, device_pb2_grpc, sale_pb2

from posd_daemon.api import convert
from posd_daemon.api.errors import to_status
from posd_daemon.api.runtime import Context, Runtime
from posd_daemon.devices import model as m
from posd_daemon.devices.manager import DeviceManager, ManagedDevice, PrinterDevice
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid, not_found, precondition
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.text import check_text
from posd_daemon.ops import logging as plog
from posd_daemon.services.devices import DeviceCommands, Queued, job_state
from posd_daemon.services.display import CustomerDisplay, DisplayContent
from posd_daemon.services.events import (
    TSE_DEVICE_ID,
    TSE_OUTAGE,
    BusClosed,
    Event,
    EventBus,
    SaleChanged,
    SubscriberTooSlow,
    TseStateChanged,
    change_paid_out,
)
from posd_daemon.services.fiscal import FiscalGateway, TseUnavailable
from posd_daemon.services.outbox_worker import kick_not_done
from posd_daemon.services.scanner import ScanChoiceData, ScanRouter
from posd_daemon.store import outbox

log = plog.get("posd.rpc")

_CLASS = {
    m.DeviceClass.PRINTER: device_pb2.DEVICE_CLASS_PRINTER,
    m.DeviceClass.DRAWER: device_pb2.DEVICE_CLASS_DRAWER,
    m.DeviceClass.DISPLAY: device_pb2.DEVICE_CLASS_DISPLAY,
    m.DeviceClass.SCANNER: device_pb2.DEVICE_CLASS_SCANNER,
    m.DeviceClass.TSE: device_pb2.DEVICE_CLASS_TSE,
}
_STATE = {
    m.DeviceState.CLOSED: device_pb2.DEVICE_STATE_CLOSED,
    m.DeviceState.IDLE: device_pb2.DEVICE_STATE_IDLE,
    m.DeviceState.BUSY: device_pb2.DEVICE_STATE_BUSY,
    m.DeviceState.ERROR: device_pb2.DEVICE_STATE_ERROR,
}
_LEVEL = {
    m.HealthLevel.INTERNAL: device_pb2.HEALTH_LEVEL_INTERNAL,
    m.HealthLevel.EXTERNAL: device_pb2.HEALTH_LEVEL_EXTERNAL,
    m.HealthLevel.INTERACTIVE: device_pb2.HEALTH_LEVEL_INTERACTIVE,
}
_LEVEL_IN = {v: k for k, v in _LEVEL.items()}
_HEALTH = {
    m.HealthStatus.UNKNOWN: device_pb2.HEALTH_STATUS_UNSPECIFIED,
    m.HealthStatus.OK: device_pb2.HEALTH_STATUS_OK,
    m.HealthStatus.WARNING: device_pb2.HEALTH_STATUS_WARNING,
    m.HealthStatus.FAILED: device_pb2.HEALTH_STATUS_FAILED,
    m.HealthStatus.PENDING_CONFIRMATION: device_pb2.HEALTH_STATUS_PENDING_CONFIRMATION,
}
_STATUS = {
    m.StatusCode.ONLINE: device_pb2.DEVICE_STATUS_CODE_ONLINE,
    m.StatusCode.OFFLINE: device_pb2.DEVICE_STATUS_CODE_OFFLINE,
    m.StatusCode.COVER_OPEN: device_pb2.DEVICE_STATUS_CODE_COVER_OPEN,
    m.StatusCode.COVER_OK: device_pb2.DEVICE_STATUS_CODE_COVER_OK,
    m.StatusCode.PAPER_END: device_pb2.DEVICE_STATUS_CODE_PAPER_END,
    m.StatusCode.PAPER_NEAR_END: device_pb2.DEVICE_STATUS_CODE_PAPER_NEAR_END,
    m.StatusCode.PAPER_OK: device_pb2.DEVICE_STATUS_CODE_PAPER_OK,
    m.StatusCode.DRAWER_OPEN: device_pb2.DEVICE_STATUS_CODE_DRAWER_OPEN,
    m.StatusCode.DRAWER_CLOSED: device_pb2.DEVICE_STATUS_CODE_DRAWER_CLOSED,
    m.StatusCode.ERROR: device_pb2.DEVICE_STATUS_CODE_ERROR,
    m.StatusCode.ERROR_CLEARED: device_pb2.DEVICE_STATUS_CODE_ERROR_CLEARED,
}
_ROUTE = {
    "sale": device_pb2.SCAN_ROUTE_SALE,
    "ui": device_pb2.SCAN_ROUTE_UI,
    "health_check": device_pb2.SCAN_ROUTE_HEALTH_CHECK,
}

TSE_ID = TSE_DEVICE_ID


def _money(minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency_code=currency)


def health_to_pb(h: m.HealthReport) -> device_pb2.HealthCheck:
    return device_pb2.HealthCheck(
        level=_LEVEL[h.level],
        status=_HEALTH[h.status],
        message=h.message,
        check_time=convert.timestamp(h.time),
        check_id=h.check_id,
        prompt=h.prompt,
        scanned_code=h.scanned_code,
    )


def device_to_pb(s: m.DeviceSnapshot) -> device_pb2.Device:
    st = s.statistics
    return device_pb2.Device(
        device_id=s.device_id,
        alias=s.alias,
        device_class=(
            _CLASS[s.device_class] if s.device_class else device_pb2.DEVICE_CLASS_UNSPECIFIED
        ),
        url=s.url,
        description=s.description,
        state=_STATE[s.state],
        online=s.online,
        configured=s.configured,
        statistics=device_pb2.DeviceStatistics(
            jobs=st.jobs,
            lines=st.lines,
            cuts=st.cuts,
            drawer_openings=st.drawer_openings,
            errors=st.errors,
            bytes_written=st.bytes_written,
            status_reads=st.status_reads,
            scans=st.scans,
            scans_rejected=st.scans_rejected,
            display_updates=st.display_updates,
            online_seconds=st.online_seconds,
        ),
        health_checks=[health_to_pb(h) for h in s.health],
        last_error=s.last_error,
        status_flags=[device_pb2.StatusFlag(name=k, value=v) for k, v in s.status.items()],
        status_summary=s.status_summary,
        display_lines=list(s.display_lines),
    )


def sale_event_from_pb(
    kind: str, sale: sale_pb2.Sale, operator_id: str, line_id: str = ""
) -> SaleChanged:
    """The bus event for a sale the API just changed (converted from its answer)."""
    line = next((ln for ln in sale.lines if ln.line_id == line_id), None) if line_id else None
    return SaleChanged(
        kind=kind,
        sale_id=sale.sale_id,
        state=sale_pb2.SaleState.Name(sale.state).removeprefix("SALE_STATE_"),
        operator_id=operator_id,
        currency=sale.total.currency_code,
        total_minor=sale.total.amount_minor,
        paid_minor=sum(p.amount.amount_minor for p in sale.payments),
        change_minor=sale.change.amount_minor,
        line_count=len(sale.lines),
        receipt_number=sale.receipt_number,
        line_id=line_id,
        line_name=line.name if line else "",
        line_quantity=line.quantity if line else "",
        line_unit=line.unit if line else "",
        line_total_minor=line.total.amount_minor if line else 0,
        **change_paid_out(
            sale.total.currency_code, sale.change_currency_code, sale.change_local.amount_minor
        ),
    )


_TYPES: tuple[tuple[type, int], ...] = (
    (m.DeviceStateChanged, device_pb2.EVENT_TYPE_DEVICE_STATE_CHANGED),
    (m.DeviceStatusUpdate, device_pb2.EVENT_TYPE_DEVICE_STATUS),
    (m.DeviceFault, device_pb2.EVENT_TYPE_DEVICE_ERROR),
    (m.OutputComplete, device_pb2.EVENT_TYPE_OUTPUT_COMPLETE),
    (m.ScanData, device_pb2.EVENT_TYPE_SCAN),
    (m.ScanRejected, device_pb2.EVENT_TYPE_SCAN_REJECTED),
    (DisplayContent, device_pb2.EVENT_TYPE_DISPLAY_CONTENT),
    (SaleChanged, device_pb2.EVENT_TYPE_SALE),
    (TseStateChanged, device_pb2.EVENT_TYPE_TSE_STATE),
)


def event_type(payload: object) -> int:
    return next((t for cls, t in _TYPES if isinstance(payload, cls)), 0)


def event_to_pb(e: Event, boot_id: str) -> device_pb2.Event:
    out = device_pb2.Event(
        sequence=e.sequence,
        boot_id=boot_id,
        event_time=convert.timestamp(e.time),
        device_id=e.device_id,
    )
    p = e.payload
    if isinstance(p, m.DeviceStateChanged):
        out.type = device_pb2.EVENT_TYPE_DEVICE_STATE_CHANGED
        out.state_change.CopyFrom(
            device_pb2.DeviceStateChange(
                state=_STATE[p.state],
                previous_state=_STATE[p.previous],
                online=p.online,
                message=p.message,
            )
        )
    elif isinstance(p, m.DeviceStatusUpdate):
        out.type = device_pb2.EVENT_TYPE_DEVICE_STATUS
        out.status_update.CopyFrom(
            device_pb2.DeviceStatusUpdate(status=_STATUS[p.status], message=p.message)
        )
    elif isinstance(p, m.DeviceFault):
        out.type = device_pb2.EVENT_TYPE_DEVICE_ERROR
        out.error.CopyFrom(
            device_pb2.DeviceError(code=p.code, message=p.message, operation=p.operation)
        )
    elif isinstance(p, m.OutputComplete):
        out.type = device_pb2.EVENT_TYPE_OUTPUT_COMPLETE
        out.device_id = out.device_id or p.device_id
        out.output_complete.CopyFrom(
            device_pb2.OutputComplete(operation=p.operation, detail=p.detail)
        )
    elif isinstance(p, m.ScanData):
        out.type = device_pb2.EVENT_TYPE_SCAN
        out.scan.CopyFrom(
            device_pb2.ScanData(
                code=p.code,
                symbology=p.symbology,
                route=_ROUTE.get(p.routed_to, 0),  # type: ignore[arg-type]
                sale_id=p.sale_id,
                error_reason=p.error_reason,
                error_message=p.error_message,
                candidates=(
                    [convert.candidate_to_pb(c, p.currency) for c in p.candidates]
                    if isinstance(p, ScanChoiceData)
                    else ()
                ),
            )
        )
    elif isinstance(p, m.ScanRejected):
        out.type = device_pb2.EVENT_TYPE_SCAN_REJECTED
        out.scan_rejected.CopyFrom(device_pb2.ScanRejected(reason=p.reason, detail=p.detail))
    elif isinstance(p, DisplayContent):
        out.type = device_pb2.EVENT_TYPE_DISPLAY_CONTENT
        cur = p.currency
        dc = device_pb2.DisplayContent(
            mode=p.mode, lines=list(p.lines), sale_id=p.sale_id, item_name=p.item_name
        )
        if cur:
            dc.item_quantity = p.item_quantity
            dc.item_amount.CopyFrom(_money(p.item_amount_minor, cur))
            dc.total.CopyFrom(_money(p.total_minor, cur))
            dc.paid.CopyFrom(_money(p.paid_minor, cur))
            dc.change.CopyFrom(_money(p.change_minor, p.change_currency or cur))
        out.display_content.CopyFrom(dc)
    elif isinstance(p, SaleChanged):
        out.type = device_pb2.EVENT_TYPE_SALE
        cur = p.currency
        out.sale.CopyFrom(
            device_pb2.SaleEvent(
                kind=p.kind,
                sale_id=p.sale_id,
                state=p.state,
                operator_id=p.operator_id,
                total=_money(p.total_minor, cur),
                paid=_money(p.paid_minor, cur),
                change=_money(p.change_minor, cur),
                line_count=p.line_count,
                receipt_number=p.receipt_number,
                line_id=p.line_id,
                line_name=p.line_name,
                line_quantity=p.line_quantity,
                line_total=_money(p.line_total_minor, cur),
            )
        )
    elif isinstance(p, TseStateChanged):
        out.type = device_pb2.EVENT_TYPE_TSE_STATE
        st = device_pb2.TseStateEvent(
            state=(
                device_pb2.TSE_STATE_OUTAGE if p.state == TSE_OUTAGE else device_pb2.TSE_STATE_OK
            ),
            outage_number=p.outage_number,
            error_code=p.error_code,
            error_message=p.error_message,
            start_time=convert.timestamp(p.started_at),
            end_time=convert.timestamp(p.ended_at),
            tse_serial=p.tse_serial,
        )
        out.tse_state.CopyFrom(st)
    return out


class DeviceServicer(device_pb2_grpc.DeviceServiceServicer):
    def __init__(
        self,
        rt: Runtime,
        manager: DeviceManager,
        bus: EventBus,
        commands: DeviceCommands,
        display: CustomerDisplay,
        router: ScanRouter,
        gateway: FiscalGateway | None = None,
    ) -> None:
        self.rt = rt
        self.manager = manager
        self.bus = bus
        self.commands = commands
        self.display = display
        self.router = router
        self.gateway = gateway

    # -- helpers ---------------------------------------------------------------------------

    def _device(self, ref: str) -> ManagedDevice:
        if not ref:
            raise invalid("device_id", "is required")
        device = self.manager.find(ref)
        if device is None:
            raise not_found("DEVICE_NOT_FOUND", f"no device {ref[:80]!r}", device_id=ref[:80])
        return device

    def _tse_snapshot(self) -> m.DeviceSnapshot | None:
        gw = self.gateway
        if gw is None:
            return None
        if not gw.enabled:
            state, online, summary = m.DeviceState.CLOSED, False, "no TSE configured"
        elif gw.outage is not None:
            state, online = m.DeviceState.ERROR, False
            summary = f"TSE outage {gw.outage}: receipts are marked, signing resumes later"
        else:
            state, online, summary = m.DeviceState.IDLE, True, "ready"
        info = gw.info
        return m.DeviceSnapshot(
            device_id=TSE_ID,
            alias=TSE_ID,
            device_class=m.DeviceClass.TSE,
            url="",
            description=f"{info.manufacturer} TSE {info.serial_number.hex()[:16]}"
            if info
            else "TSE",
            state=state,
            online=online,
            configured=gw.enabled,
            statistics=m.DeviceStatistics(),
            status_summary=summary,
        )

    async def _stream_operator(self, context: Context) -> Operator:
        try:
            return await self.rt.operator(context)
        except DomainError as exc:
            status = to_status(exc)
            await context.abort(status.code, status.details, status.trailing_metadata)
            raise AssertionError("abort returned") from None

    # -- events ----------------------------------------------------------------------------

    async def SubscribeEvents(
        self, request: device_pb2.SubscribeEventsRequest, context: Context
    ) -> AsyncIterator[device_pb2.SubscribeEventsResponse]:
        await self._stream_operator(context)
        unknown = [t for t in request.types if t not in device_pb2.EventType.values()]
        if unknown:
            status = to_status(invalid("types", f"unknown event type {unknown[0]}"))
            await context.abort(status.code, status.details, status.trailing_metadata)
            raise AssertionError("abort returned")  # pragma: no cover
        types = frozenset(int(t) for t in request.types)
        device_ref = request.device_id
        device = self.manager.find(device_ref) if device_ref else None

        handle_scans = request.handle_scans

        def accept(e: Event) -> bool:
            # a stream that handles scans keeps them from the sale: it gets them (as
            # SCAN events, device.proto) whatever its filter, else they would be lost
            if handle_scans and isinstance(e.payload, m.ScanData) and e.payload.routed_to == "ui":
                return True
            # the device's id as it is now, not at subscribe time: a USB device
            # configured without a serial number gets its full id once plugged in
            if device is not None and e.device_id not in (device.device_id, device.alias):
                return False
            if device is None and device_ref and e.device_id != device_ref:
                return False
            return not types or event_type(e.payload) in types

        after = request.after_sequence if request.HasField("after_sequence") else None
        restarted = bool(request.boot_id) and request.boot_id != self.bus.boot_id
        if after is not None and after > self.bus.last_sequence:
            # a number this start has not reached (sequence numbers only grow within a
            # start): kept over a restart by a client that sent no boot_id
            restarted = True
        if restarted:
            after = 0
        sub = self.bus.subscribe(after, accept=accept if (types or device_ref) else None)
        if request.handle_scans:
            self.router.ui_claims += 1
        boot = self.bus.boot_id
        started = time.perf_counter()
        first = True
        sent = 0
        try:
            if sub.tse_state is not None:
                # the TSE's state this stream would not learn otherwise (EventBus.subscribe)
                resp = device_pb2.SubscribeEventsResponse(
                    event=event_to_pb(sub.tse_state, boot),
                    lost_events=-1 if restarted and sub.lost else sub.lost,
                )
                first = False
                sent += 1
                yield resp
            while True:
                try:
                    batch = await sub.get()
                except SubscriberTooSlow as exc:
                    self.rt.metrics.rpc_total.labels("SubscribeEvents", "RESOURCE_EXHAUSTED").inc()
                    status = to_status(
                        DomainError(
                            ErrorKind.RESOURCE_EXHAUSTED,
                            "SUBSCRIBER_TOO_SLOW",
                            str(exc),
                            metadata={"last_sequence": str(exc.last_sequence)},
                        )
                    )
                    await context.abort(status.code, status.details, status.trailing_metadata)
                    return
                except BusClosed:
                    status = to_status(
                        DomainError(
                            ErrorKind.UNAVAILABLE,
                            "DAEMON_STOPPING",
                            "posd is stopping; subscribe again once it is back",
                            metadata={"last_sequence": str(sub.last_sequence)},
                        )
                    )
                    await context.abort(status.code, status.details, status.trailing_metadata)
                    return
                # the session still holds (a cached lookup): a UI logged out, or whose
                # session expired, gets no more of the register's events
                await self._stream_operator(context)
                for event in batch:
                    resp = device_pb2.SubscribeEventsResponse(event=event_to_pb(event, boot))
                    if first:
                        resp.lost_events = -1 if restarted and sub.lost else sub.lost
                        first = False
                    sent += 1
                    yield resp
        finally:
            sub.close()
            if request.handle_scans:
                self.router.ui_claims -= 1
            log.info(
                "stream_closed",
                method="SubscribeEvents",
                events=sent,
                duration_s=round(time.perf_counter() - started, 3),
            )

    # -- devices ----------------------------------------------------------------------------

    async def ListDevices(
        self, request: device_pb2.ListDevicesRequest, context: Context
    ) -> device_pb2.ListDevicesResponse:
        async def run() -> device_pb2.ListDevicesResponse:
            await self.rt.operator(context)
            snaps = self.manager.snapshots()
            tse = self._tse_snapshot()
            if tse is not None:
                snaps.append(tse)
            return device_pb2.ListDevicesResponse(devices=[device_to_pb(s) for s in snaps])

        return await self.rt.call(context, "ListDevices", request, run)

    async def GetDevice(
        self, request: device_pb2.GetDeviceRequest, context: Context
    ) -> device_pb2.GetDeviceResponse:
        async def run() -> device_pb2.GetDeviceResponse:
            await self.rt.operator(context)
            if request.device_id == TSE_ID and self.gateway is not None:
                tse = self._tse_snapshot()
                assert tse is not None
                return device_pb2.GetDeviceResponse(device=device_to_pb(tse))
            device = self._device(request.device_id)
            if isinstance(device, PrinterDevice):
                # a fresh status read (the technician wants the bits as they are now)
                await asyncio.wrap_future(device.read_status())
            return device_pb2.GetDeviceResponse(device=device_to_pb(device.snapshot()))

        return await self.rt.call(context, "GetDevice", request, run)

    async def CheckHealth(
        self, request: device_pb2.CheckHealthRequest, context: Context
    ) -> device_pb2.CheckHealthResponse:
        async def run() -> device_pb2.CheckHealthResponse:
            op = await self.rt.operator(context)
            if request.level not in device_pb2.HealthLevel.values():
                raise invalid("level", "unknown health level")
            level = _LEVEL_IN.get(request.level, m.HealthLevel.INTERNAL)
            if level is not m.HealthLevel.INTERNAL:
                op.require(Permission.DEVICE_TEST)
            if request.device_id == TSE_ID and self.gateway is not None:
                report = await self._tse_health(level)
                return device_pb2.CheckHealthResponse(health_check=health_to_pb(report))
            device = self._device(request.device_id)
            if device.device_class is m.DeviceClass.DRAWER and level is not m.HealthLevel.INTERNAL:
                # this check kicks the drawer open: a no-sale open, journaled first
                await self.rt.db.write(
                    lambda tx: self.commands.journal_drawer_test(
                        tx, op, device.device_id, level.value
                    )
                )
            if device.device_class is m.DeviceClass.SCANNER and level is m.HealthLevel.INTERACTIVE:
                report = await self._scanner_check(device, request.timeout_seconds)
            else:
                report = await asyncio.wrap_future(device.check_health(level))
            report = self.manager.begin_check(device, report)
            log.info(
                "health_check",
                device=device.device_id,
                level=level.value,
                status=report.status.value,
                message=report.message,
            )
            return device_pb2.CheckHealthResponse(health_check=health_to_pb(report))

        return await self.rt.call(context, "CheckHealth", request, run)

    async def _tse_health(self, level: m.HealthLevel) -> m.HealthReport:
        assert self.gateway is not None
        try:
            await self.gateway.self_test()
        except TseUnavailable as exc:
            return m.HealthReport(level, m.HealthStatus.FAILED, exc.message, datetime.now(UTC))
        return m.HealthReport(level, m.HealthStatus.OK, "TSE self test passed", datetime.now(UTC))

    async def _scanner_check(self, device: ManagedDevice, timeout_s: int) -> m.HealthReport:
        level = m.HealthLevel.INTERACTIVE
        timeout = float(min(max(timeout_s or 30, 1), 300))
        if not device.online:
            return m.HealthReport(
                level, m.HealthStatus.FAILED, device.last_error or "not open", datetime.now(UTC)
            )
        code = await self.router.capture_next(device.device_id, timeout)
        if code is None:
            return m.HealthReport(
                level,
                m.HealthStatus.FAILED,
                f"no scan within {timeout:g} s",
                datetime.now(UTC),
            )
        return m.HealthReport(
            level,
            m.HealthStatus.PENDING_CONFIRMATION,
            f"scanned {code.code} ({code.symbology})",
            datetime.now(UTC),
            prompt=f"The scanner read {code.code!r}: is this the code printed on the label?",
            scanned_code=code.code,
        )

    async def ConfirmHealthCheck(
        self, request: device_pb2.ConfirmHealthCheckRequest, context: Context
    ) -> device_pb2.ConfirmHealthCheckResponse:
        async def run() -> device_pb2.ConfirmHealthCheckResponse:
            op = await self.rt.operator(context)
            op.require(Permission.DEVICE_TEST)
            if len(request.note) > 500:
                raise invalid("note", "at most 500 characters")
            report = self.manager.confirm(request.check_id, request.confirmed, request.note)
            if report is None:
                raise not_found(
                    "HEALTH_CHECK_NOT_FOUND",
                    "no interactive health check with this id is waiting (expired after 10 min?)",
                )
            return device_pb2.ConfirmHealthCheckResponse(health_check=health_to_pb(report))

        return await self.rt.call(context, "ConfirmHealthCheck", request, run)

    # -- drawer, printer, display ------------------------------------------------------------

    async def OpenDrawer(
        self, request: device_pb2.OpenDrawerRequest, context: Context
    ) -> device_pb2.OpenDrawerResponse:
        async def run() -> device_pb2.OpenDrawerResponse:
            op = await self.rt.operator(context)
            answer = await self.rt.mutate(
                "OpenDrawer",
                request,
                lambda tx: self.commands.open_drawer_no_sale(tx, op, request.reason),
                lambda q: device_pb2.OpenDrawerResponse(
                    job_id=q.job_id, journal_sequence=q.journal_sequence
                ),
                device_pb2.OpenDrawerResponse,
            )
            wait = float(min(max(request.wait_seconds or 5, 0), 60))
            deadline = time.monotonic() + wait
            while True:
                state = await self.rt.db.read(lambda c: job_state(c, answer.job_id))
                if state is not None and state[0] == outbox.DONE:
                    # done with a note: ended without a kick (expired, or not repeated
                    # after a crash, see OutboxWorker._kick)
                    answer.kicked = not kick_not_done(state[1])
                    answer.last_error = "" if answer.kicked else state[1]
                    break
                if state is not None:
                    answer.last_error = state[1]
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.02)
            log.info(
                "drawer_no_sale",
                operator_id=op.operator_id,
                job_id=answer.job_id,
                kicked=answer.kicked,
            )
            return answer

        return await self.rt.call(context, "OpenDrawer", request, run)

    async def PrintTestPage(
        self, request: device_pb2.PrintTestPageRequest, context: Context
    ) -> device_pb2.PrintTestPageResponse:
        async def run() -> device_pb2.PrintTestPageResponse:
            op = await self.rt.operator(context)
            op.require(Permission.DEVICE_TEST)
            ref = request.device_id
            device = self._device(ref) if ref else self.manager.first(m.DeviceClass.PRINTER)
            if not isinstance(device, PrinterDevice):
                raise precondition("NO_PRINTER", "no printer with this id is configured")
            report = await asyncio.wrap_future(device.check_health(m.HealthLevel.EXTERNAL))
            return device_pb2.PrintTestPageResponse(health_check=health_to_pb(report))

        return await self.rt.call(context, "PrintTestPage", request, run)

    async def ShowOnDisplay(
        self, request: device_pb2.ShowOnDisplayRequest, context: Context
    ) -> device_pb2.ShowOnDisplayResponse:
        async def run() -> device_pb2.ShowOnDisplayResponse:
            op = await self.rt.operator(context)
            op.require(Permission.SALE)
            if len(request.lines) > 4:
                raise invalid("lines", "at most 4 lines")
            for i, line in enumerate(request.lines):
                check_text(line, f"lines[{i}]", max_len=40, required=False)
            width = self.display.columns
            lines = tuple(line[:width] for line in request.lines)
            self.display.show_custom(lines)
            return device_pb2.ShowOnDisplayResponse(lines=list(lines))

        return await self.rt.call(context, "ShowOnDisplay", request, run)

    async def ReprintReceipt(
        self, request: device_pb2.ReprintReceiptRequest, context: Context
    ) -> device_pb2.ReprintReceiptResponse:
        async def run() -> device_pb2.ReprintReceiptResponse:
            op = await self.rt.operator(context)

            def encode(q: Queued) -> device_pb2.ReprintReceiptResponse:
                return device_pb2.ReprintReceiptResponse(
                    job_id=q.job_id,
                    receipt_number=q.receipt_number,
                    journal_sequence=q.journal_sequence,
                )

            return await self.rt.mutate(
                "ReprintReceipt",
                request,
                lambda tx: self.commands.reprint_receipt(tx, op, request.sale_id),
                encode,
                device_pb2.ReprintReceiptResponse,
            )

        return await self.rt.call(context, "ReprintReceipt", request, run)

    async def DiscardPrintJob(
        self, request: device_pb2.DiscardPrintJobRequest, context: Context
    ) -> device_pb2.DiscardPrintJobResponse:
        async def run() -> device_pb2.DiscardPrintJobResponse:
            op = await self.rt.operator(context)

            def encode(r: tuple[outbox.OutboxJob, int]) -> device_pb2.DiscardPrintJobResponse:
                job, seq = r
                return device_pb2.DiscardPrintJobResponse(
                    job_id=job.job_id,
                    kind=job.kind,
                    receipt_number=job.receipt_number,
                    journal_sequence=seq,
                )

            answer = await self.rt.mutate(
                "DiscardPrintJob",
                request,
                lambda tx: self.commands.discard_print_job(tx, op, request.job_id, request.reason),
                encode,
                device_pb2.DiscardPrintJobResponse,
            )
            log.warning(
                "print_job_discarded",
                operator_id=op.operator_id,
                job_id=answer.job_id,
                kind=answer.kind,
                receipt_number=answer.receipt_number,
            )
            return answer

        return await self.rt.call(context, "DiscardPrintJob", request, run)

    # -- monitor ------------------------------------------------------------------------------

    async def MonitorDevice(
        self, request: device_pb2.MonitorDeviceRequest, context: Context
    ) -> AsyncIterator[device_pb2.MonitorDeviceResponse]:
        op = await self._stream_operator(context)
        try:
            op.require(Permission.DEVICE_TEST)
            device = self._device(request.device_id)
            transport = device.transport
            if transport is None:
                raise precondition(
                    "NOT_MONITORABLE", "this device's traffic cannot be monitored (no transport)"
                )
        except DomainError as exc:
            status = to_status(exc)
            await context.abort(status.code, status.details, status.trailing_metadata)
            return
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, str, bytes]] = asyncio.Queue(maxsize=1024)
        dropped = 0

        def put(item: tuple[float, str, bytes]) -> None:
            nonlocal dropped
            try:
                chunks.put_nowait(item)
            except asyncio.QueueFull:
                dropped += 1

        def tap(direction: str, data: bytes) -> None:
            loop.call_soon_threadsafe(put, (time.time(), direction, bytes(data)))

        transport.taps.append(tap)
        try:
            while True:
                when, direction, data = await chunks.get()
                await self._stream_operator(context)  # as in SubscribeEvents
                resp = device_pb2.MonitorDeviceResponse(
                    capture_time=convert.timestamp(datetime.fromtimestamp(when, UTC)),
                    direction=(
                        device_pb2.TRAFFIC_DIRECTION_TX
                        if direction == "tx"
                        else device_pb2.TRAFFIC_DIRECTION_RX
                    ),
                    data=data,
                    dropped=dropped,
                )
                dropped = 0
                yield resp
        finally:
            transport.taps.remove(tap)


class SaleEvents:
    """What the SaleService tells the rest of the daemon: sale events on the bus (the
    customer display and the scanner router follow them) and the open-drawer rule."""

    def __init__(self, bus: EventBus, commands: DeviceCommands) -> None:
        self.bus = bus
        self.commands = commands

    def before_create(self) -> None:
        self.commands.check_sale_may_start()

    def changed(self, kind: str, sale: sale_pb2.Sale, operator_id: str, line_id: str = "") -> None:
        self.bus.publish(sale_event_from_pb(kind, sale, operator_id, line_id))
