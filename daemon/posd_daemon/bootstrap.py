"""The one place where everything is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import stat
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from posd.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    closing_pb2,
    device_pb2,
    device_pb2_grpc,
    fiscal_pb2,
    fiscal_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
    register_link_pb2,
    register_link_pb2_grpc,
    sale_pb2,
    sale_pb2_grpc,
    system_pb2,
    system_pb2_grpc,
)

from posd_daemon.api.closing_servicer import add_closing_service, event_recorder
from posd_daemon.api.device_servicer import DeviceServicer, SaleEvents
from posd_daemon.api.fiscal_servicer import FiscalServicer
from posd_daemon.api.master_servicers import SERVICE_NAMES as MASTER_SERVICES
from posd_daemon.api.master_servicers import MasterData, add_master_data_services
from posd_daemon.api.order_servicer import SERVICE_NAMES as ORDER_SERVICES
from posd_daemon.api.order_servicer import add_order_service
from posd_daemon.api.receipt_http import ReceiptHttpServer
from posd_daemon.api.register_link import RegisterLinkServicer, StoreLink
from posd_daemon.api.runtime import Runtime
from posd_daemon.api.servicers import (
    CatalogServicer,
    OperatorServicer,
    SaleServicer,
    SystemServicer,
)
from posd_daemon.devices.model import DeviceState, DeviceStateChanged
from posd_daemon.devices.scanning import KeyEventSource
from posd_daemon.devices.setup import Devices, build_devices
from posd_daemon.domain.digital_receipt import PrintMode
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.receipt import ShopHeader
from posd_daemon.ops import logging as plog
from posd_daemon.ops.config import LOCK_FILE, Config, exposure_warnings
from posd_daemon.ops.loop_errors import LoopErrors
from posd_daemon.ops.metrics import Metrics
from posd_daemon.ops.timezone import ZoneError, zone_name
from posd_daemon.services.auth import Authenticator, OperatorRecord
from posd_daemon.services.catalog import CatalogCommands
from posd_daemon.services.clock import Clock, system_clock
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.devices import DeviceCommands, OutboxDrawer, OutboxPrinter
from posd_daemon.services.digital_receipts import DigitalReceipts, DigitalSettings
from posd_daemon.services.display import CustomerDisplay, DisplayTexts
from posd_daemon.services.documents import DocumentRenderer
from posd_daemon.services.events import TSE_DEVICE_ID, Event, EventBus
from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.fiscal import FiscalGateway
from posd_daemon.services.orders import OrderGuard
from posd_daemon.services.outbox_worker import OutboxWorker
from posd_daemon.services.sales import RegisterSettings, SaleCommands
from posd_daemon.services.scanner import ScanRouter
from posd_daemon.services.tse_port import Tse, TseError
from posd_daemon.store import idempotency
from posd_daemon.store.database import connect, open_database

log = plog.get("posd")

#: how long a forced server stop may take before the stop goes on without it
STOP_FORCE_S = 2.0

SERVICE_NAMES = (
    sale_pb2.DESCRIPTOR.services_by_name["SaleService"].full_name,
    catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
    operator_pb2.DESCRIPTOR.services_by_name["OperatorService"].full_name,
    system_pb2.DESCRIPTOR.services_by_name["SystemService"].full_name,
    fiscal_pb2.DESCRIPTOR.services_by_name["FiscalService"].full_name,
    closing_pb2.DESCRIPTOR.services_by_name["ClosingService"].full_name,
    *MASTER_SERVICES,
    *ORDER_SERVICES,
    device_pb2.DESCRIPTOR.services_by_name["DeviceService"].full_name,
    register_link_pb2.DESCRIPTOR.services_by_name["RegisterLinkService"].full_name,
)


class StartupError(Exception):
    """The daemon cannot start; the message says why and what to do."""


@dataclass
class Daemon:
    config: Config
    server: grpc.aio.Server
    db: DbExecutor
    outbox: OutboxWorker
    gateway: FiscalGateway
    metrics: Metrics
    health: health_aio.HealthServicer
    lock_file: IO[str]
    socket_path: Path
    tcp_port: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    devices: Devices | None = None
    bus: EventBus | None = None
    scans: ScanRouter | None = None
    #: False until the socket is bound: a start that failed before must not remove the
    #: socket of another process
    owns_socket: bool = True
    #: False when the gRPC server's shutdown did not complete (see _stop_server)
    server_stopped: bool = True
    #: the event loop's errors no caller handled (logged and counted)
    loop_errors: LoopErrors | None = None

    async def stop(self, grace: float | None = None, *, hurry: asyncio.Event | None = None) -> None:
        """Graceful stop: refuse new calls, end event streams, let in-flight calls finish,
        then close. ``hurry`` set (a second SIGTERM) cancels the calls still running at
        once; the rest of the stop path runs all the same."""
        grace = self.config.api.grace_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        if self.bus is not None:
            self.bus.close()
        # a TSE export (minutes) is aborted now, not waited for through the grace period
        self.gateway.abort_export()
        await self._stop_server(grace, hurry)
        receipt_http = self.extra.get("receipt_http")
        if isinstance(receipt_http, ReceiptHttpServer):
            await receipt_http.stop()
        self.db.abandon_speculation()  # no PostSale can claim a post run ahead any more
        await self.outbox.stop()
        if self.scans is not None:
            await self.scans.stop()
        if self.devices is not None:
            await asyncio.to_thread(self.devices.manager.stop)
        master = self.extra.get("master")
        if isinstance(master, MasterData):
            await master.stop()
        await self.gateway.close()
        self.db.close()
        self.metrics.close()
        if self.owns_socket:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        self.lock_file.close()
        log.info("stopped")

    async def _stop_server(self, grace: float, hurry: asyncio.Event | None) -> None:
        """Stops the gRPC server within bounded time. Its shutdown waits for every
        connection's pending writes: a client that reads nothing (a frozen UI, a machine
        gone from the network with an event stream open) would hold it, and with it the
        register's restart, until systemd's SIGKILL. So after the grace (or a second
        SIGTERM) the calls are cancelled, and after STOP_FORCE_S more the stop goes on
        without the server (``server_stopped`` False; main exits the process then)."""
        stopping = asyncio.ensure_future(self.server.stop(grace))
        waits: set[asyncio.Future[Any]] = {stopping}
        hurried = None if hurry is None else asyncio.ensure_future(hurry.wait())
        if hurried is not None:
            waits.add(hurried)
        try:
            await asyncio.wait(waits, timeout=grace + 1.0, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if hurried is not None:
                hurried.cancel()
        if not stopping.done():
            forced = asyncio.ensure_future(self.server.stop(None))  # cancels running calls
            await asyncio.wait({stopping, forced}, timeout=STOP_FORCE_S)
        if not stopping.done():
            self.server_stopped = False
            log.warning(
                "server_stop_incomplete",
                detail="a client does not read its answers; stopping without it",
            )
            return
        await stopping


def generic_handlers_only(server: grpc.aio.Server) -> None:
    """Serves every service through its generic handler alone. The generated
    ``add_*_to_server`` adds each service twice: a generic handler and its methods as
    registered methods. grpcio 1.85's asyncio server keeps one pending task per registered
    method and hands each accepted call over with an ``asyncio.wait`` on all of them, about
    110 here, for every call (grpc/grpc PR #43461 names it the accept-loop regression of
    PR #41796). With no registered methods it waits on one task: measured on the 2-core
    CI machine, a health check's round trip 0.47-0.50 ms instead of 0.51-0.56 ms, a
    GetStatus 0.74-0.80 ms instead of 0.84-0.87 ms (three alternating runs each). A generic
    handler finds the same method implementations; only their dispatch differs."""

    def skip(service_name: str, method_handlers: dict[str, object]) -> None:
        del service_name, method_handlers  # the generic handler added beside them serves them

    # setattr: the grpc stubs (grpc-stubs 1.53) do not know the method yet
    setattr(server, "add_registered_method_handlers", skip)  # noqa: B010


def operators_from_config(config: Config) -> list[OperatorRecord]:
    out = []
    for op in config.operators:
        perms = frozenset(Permission[p] for p in config.roles[op.role])
        out.append(OperatorRecord(Operator(op.id, op.name, op.role, perms), op.pin_scrypt))
    return out


def _lock_state_dir(state_dir: Path) -> IO[str]:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(state_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:  # read-only, not writable by this user, not a directory
        where = "" if exc.filename in (None, str(state_dir)) else f" ({exc.filename})"
        raise StartupError(
            f"state dir {state_dir}: {exc.strerror or exc}{where};"
            " state.dir (--state-dir) must be a directory posd can write"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StartupError(
            f"another posd is running on {state_dir} (lock held on posd.lock)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _prepare_socket(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        # only a socket a killed daemon left is replaced: a mistyped api.socket deleted
        # the file it named (the database, even); ops/config.py refuses it at load too
        raise StartupError(f"{path} exists and is not a socket: name another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # stale socket of a daemon that died
    else:
        raise StartupError(f"{path} is in use by another process")
    finally:
        probe.close()


async def start(
    config: Config,
    *,
    clock: Clock = system_clock,
    usb_backend: object | None = None,
    key_source: KeyEventSource | None = None,
) -> Daemon:
    """Start the daemon. ``usb_backend`` (a pyusb backend) and ``key_source`` (evdev key
    events) let tests drive USB printers and HID scanners without hardware."""
    try:
        zone = config.zone()  # before anything starts: a bad zone names the key
    except ZoneError as exc:
        raise StartupError(str(exc)) from None
    state_dir = config.state_dir
    lock = _lock_state_dir(state_dir)
    metrics = Metrics.create()
    loop_errors = LoopErrors(metrics.loop_errors)
    loop_errors.install(asyncio.get_running_loop())
    try:
        _serve_metrics(metrics, config.metrics.listen)  # before the API and the devices
        daemon = await _start(config, clock, zone, lock, metrics, usb_backend, key_source)
    except BaseException:
        metrics.close()
        lock.close()
        raise
    daemon.loop_errors = loop_errors
    return daemon


async def _start(
    config: Config,
    clock: Clock,
    zone: tzinfo,
    lock: IO[str],
    metrics: Metrics,
    usb_backend: object | None,
    key_source: KeyEventSource | None,
) -> Daemon:
    conn = open_database(config.database_path)
    db = DbExecutor(
        conn,
        connect(config.database_path, readonly=True),
        connect(config.database_path, readonly=True),
    )
    db.relaxed_edits = config.store.open_sale_sync == "normal"
    if db.relaxed_edits and config.store.open_sale_flush_ms:
        db.flush_relaxed_when_quiet(config.store.open_sale_flush_ms / 1000)
    # a first batch now; the housekeeping sweep keeps pruning (IDEMPOTENCY_PRUNE_S)
    db.write_sync(lambda tx: idempotency.prune(tx.conn, clock() - IDEMPOTENCY_KEEP))

    bus = EventBus(replay=config.devices.replay_events, queue_size=config.devices.subscriber_queue)
    bus.bind(asyncio.get_running_loop())
    devices = build_devices(config, bus.publish, usb_backend=usb_backend, key_source=key_source)
    printer = OutboxPrinter(
        devices.manager,
        config.printer.id if devices.printer else "",
        devices.columns,
        devices.template,
    )
    drawer = OutboxDrawer(
        devices.manager, "" if config.drawer.driver == "none" else config.drawer.id
    )
    shop = ShopHeader(
        name=config.register.shop_name,
        address_lines=tuple(config.register.address),
        vat_id=config.register.vat_id,
        tax_number=config.register.tax_number,
        footer_lines=tuple(config.register.footer),
        zone=zone,
    )
    if not (shop.vat_id or shop.tax_number):
        # a full invoice must name the supplier's Steuernummer or USt-IdNr. (§ 14 (4)
        # Nr. 2 UStG); receipts up to 250 EUR (§ 33 UStDV) need neither, so the register
        # still starts, and says what its invoices lack
        log.warning(
            "supplier_tax_id_missing",
            keys="register.tax_number, register.vat_id",
            reason="neither is set: invoices (above the simplified-invoice limit, or"
            " PrintInvoice) name no tax number of the shop (§ 14 (4) Nr. 2 UStG)",
        )
    tse = make_tse(config)
    renderer = DocumentRenderer(
        shop, printer.columns, tse_certified=config.tse.backend != "software"
    )
    worker = OutboxWorker(db, printer, drawer, renderer, clock, metrics)
    auth = Authenticator(operators_from_config(config), clock, config.api.session_hours)
    auth.keep_lockouts(db, asyncio.get_running_loop())
    for operator_id in db.write_sync(auth.end_sessions_of_changed_pins):
        log.warning("sessions_ended", operator_id=operator_id, reason="PIN changed or removed")
    rt = Runtime(db, auth, metrics, clock)
    # the register's business day: its calendar in `zone`, for every date rule
    settings = RegisterSettings(
        config.register.id,
        config.register.currency,
        zone,
        config.register.exchange_rate_max_age_days,
        config.label_layouts(),
        supplier_tax_id=bool(config.register.vat_id or config.register.tax_number),
        voucher_validity_years=config.vouchers.validity_years,
    )
    sales = SaleCommands(settings, config.vat_table(), clock, worker.wake)
    catalog = CatalogCommands(config.register.currency, clock)
    digital = _digital_receipts(config, shop, clock, zone)
    if digital is not None:
        sales.post_hooks.append(digital.issue)  # in the post's own transaction
        renderer.digital = digital.decorate
    gateway = FiscalGateway(
        tse,
        db,
        client_id=config.register.id,
        register_id=config.register.id,
        printer_name=devices.printer_name,
        timeout_s=config.tse.timeout_ms / 1000,
        probe_s=float(config.tse.probe_seconds),
        print_outage_receipts=config.tse.print_outage_receipts,
        metrics=metrics,
        clock=clock,
        on_outbox=worker.wake,
        # outage begin and end on the event stream the UIs hold, as the TSE "device"
        on_state=lambda state: bus.publish(state, TSE_DEVICE_ID),
    )
    gateway.sale_loader = sales.stored
    gateway.post_recovered = sales.post_recovered
    gateway.cancel_recovered = lambda tx, sale, row: sales.cancel_loaded(
        tx, sale, "finished as AVBelegabbruch before a crash", row
    )
    gateway.transfer_recovered = sales.transfer_recovered
    gateway.unresolved_recorded = sales.lock_unresolved
    gateway.refused_locked = sales.lock_refused
    # cash movements and shift closes the TSE signed before a crash (services/fiscal.py)
    gateway.event_recorded = event_recorder(
        DayCommands(DaySettings(config.register.id, config.register.currency, zone,
                                shared_drawer=config.drawer.shared), clock, worker.wake),
        clock,
    )  # fmt: skip
    await db.read(sales.restore_finished_locks)  # before reconciliation, which adds some
    await gateway.open()

    limit = config.api.max_message_bytes
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", 4 * limit),
            ("grpc.so_reuseport", 0),
        ]
    )
    generic_handlers_only(server)
    device_commands = DeviceCommands(
        config.register.id,
        clock,
        worker.wake,
        devices.manager,
        block_sale_while_drawer_open=config.drawer.block_sale_while_open,
    )
    d = config.display
    display = CustomerDisplay(
        bus,
        devices.manager,
        DisplayTexts(
            idle=tuple(d.idle_lines),
            total=d.total_label,
            change=d.change_label,
            paid=d.paid_label,
            thanks=d.thanks,
            idle_after=float(d.idle_after_seconds),
            alternate_every=float(d.alternate_seconds),
        ),
    )
    scans = ScanRouter(
        bus,
        db,
        sales,
        auth,
        gateway.schedule_start,
        route=config.scanner.route,
        after=rt.after_answer,
    )
    if devices.scanner is not None:
        devices.scanner.on_code = scans.on_code

    def resume_jobs(event: Event) -> None:
        # a printer or drawer back from a fault: retry queued jobs now, not after back-off
        e = event.payload
        if (
            isinstance(e, DeviceStateChanged)
            and e.state is DeviceState.IDLE
            and e.previous is DeviceState.ERROR
        ):
            worker.wake()

    bus.add_listener(resume_jobs)
    sale_events = SaleEvents(bus, device_commands)
    sale_servicer = SaleServicer(rt, sales, gateway, sale_events)
    sale_servicer.digital = digital
    # one per register: its LoadOrder and its taking parked sales over (StoreLink) wait
    # for each other, so that an order never ends in two sales here
    order_guard = OrderGuard()
    if config.store.secret and config.store.peers:
        sale_servicer.link = StoreLink(
            rt,
            config.register.id,
            dict(config.store.peers),
            config.store.secret,
            order_guard,
            _link_credentials(config),
        )
        sale_servicer.complete_pending_imports()
    register_link_pb2_grpc.add_RegisterLinkServiceServicer_to_server(
        RegisterLinkServicer(rt, sales, gateway, config.store.secret), server
    )
    sale_pb2_grpc.add_SaleServiceServicer_to_server(sale_servicer, server)
    device_pb2_grpc.add_DeviceServiceServicer_to_server(
        DeviceServicer(rt, devices.manager, bus, device_commands, display, scans, gateway),
        server,
    )
    fiscal_pb2_grpc.add_FiscalServiceServicer_to_server(
        FiscalServicer(rt, gateway, config.tse.backend, zone), server
    )
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(rt, catalog), server)
    master = add_master_data_services(
        server,
        rt,
        sales,
        catalog,
        gateway,
        register_id=config.register.id,
        currency=config.register.currency,
    )
    add_order_service(server, rt, sales, gateway, sale_events, order_guard)
    master.housekeeping.periodic.append(
        (
            "idempotency",
            IDEMPOTENCY_PRUNE_S,
            lambda tx: idempotency.prune(tx.conn, clock() - IDEMPOTENCY_KEEP),
        )
    )
    if digital is not None:
        master.housekeeping.periodic.append(
            ("digital_receipts", DIGITAL_PRUNE_S, lambda tx: digital.prune(tx.conn))
        )
    operator_pb2_grpc.add_OperatorServiceServicer_to_server(OperatorServicer(rt), server)
    add_closing_service(server, rt, gateway, config, on_outbox=worker.wake, zone=zone)
    started = clock()
    system_pb2_grpc.add_SystemServiceServicer_to_server(
        SystemServicer(
            rt,
            config.register.id,
            started,
            str(config.database_path),
            config.register.currency,
            zone_name(zone),
        ),
        server,
    )
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            *SERVICE_NAMES,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )

    socket_path = config.socket_path
    daemon = Daemon(
        config=config,
        server=server,
        db=db,
        outbox=worker,
        gateway=gateway,
        metrics=metrics,
        health=health_servicer,
        lock_file=lock,
        socket_path=socket_path,
        extra={
            "printer": printer,
            "drawer": drawer,
            "display": display,
            "master": master,
            "runtime": rt,
            "digital": digital,
        },
        devices=devices,
        bus=bus,
        scans=scans,
        owns_socket=False,
    )
    try:
        daemon.tcp_port = tcp_port = await _listen(daemon)
        receipt_http = await _serve_receipts(config, digital, renderer, metrics)
        daemon.extra["receipt_http"] = receipt_http
    except BaseException:
        with contextlib.suppress(Exception):
            await daemon.stop(0)  # nothing half-started stays behind
        raise
    for name in SERVICE_NAMES:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await asyncio.to_thread(devices.manager.start)
    display.start()
    await scans.start()
    worker.start()
    master.start()
    metrics_port = metrics.bound_port
    for event, fields in exposure_warnings(config):
        log.warning(event, **fields)
    log.info(
        "serving",
        socket=str(socket_path),
        tcp_port=tcp_port or None,
        metrics_port=metrics_port or None,
        receipt_port=receipt_http.port if receipt_http is not None else None,
        register_id=config.register.id,
        database=str(config.database_path),
        pid=os.getpid(),
    )
    return daemon


async def _serve_receipts(
    config: Config, digital: DigitalReceipts | None, renderer: DocumentRenderer, metrics: Metrics
) -> ReceiptHttpServer | None:
    """The digital receipt server, when enabled and served here (see README)."""
    if digital is None or not config.digital_receipt.listen:
        return None
    server = ReceiptHttpServer(
        digital, renderer, connect(config.database_path, readonly=True), metrics
    )
    try:
        await server.start(config.digital_receipt.listen)
    except OSError as exc:
        raise StartupError(
            f"digital_receipt.listen: cannot serve on {config.digital_receipt.listen}: {exc}"
        ) from exc
    return server


def _serve_metrics(metrics: Metrics, listen: str) -> None:
    try:
        metrics.serve(listen)
    except OSError as exc:  # in use, not on this host, not resolvable (socket.gaierror)
        raise StartupError(f"metrics.listen {listen}: cannot listen: {_reason(exc)}") from None


async def _listen(daemon: Daemon) -> int:
    """Binds the API (unix socket, TCP) and starts serving; returns the TCP port. A bind
    failure becomes a StartupError naming the setting (gRPC says only "Failed to bind")."""
    server, config, socket_path = daemon.server, daemon.config, daemon.socket_path
    try:
        _prepare_socket(socket_path)
    except OSError as exc:
        raise StartupError(f"api.socket {socket_path}: {_reason(exc)}") from None
    old_umask = os.umask(0o117)
    try:
        server.add_insecure_port(f"unix:{socket_path}")
        daemon.owns_socket = True
    except RuntimeError:
        why = _bind_probe(socket.AF_UNIX, str(socket_path))
        raise StartupError(f"api.socket {socket_path}: cannot listen: {why}") from None
    finally:
        os.umask(old_umask)
    tcp_port = 0
    if config.api.tcp:
        credentials = _tls_credentials(config)
        try:
            tcp_port = server.add_secure_port(config.api.tcp, credentials)
        except RuntimeError:
            host, _, port = config.api.tcp.rpartition(":")
            why = _bind_probe(socket.AF_INET6 if ":" in host else socket.AF_INET, host, port)
            raise StartupError(f"api.tcp {config.api.tcp}: cannot listen: {why}") from None
    try:
        await server.start()
        os.chmod(socket_path, int(config.api.socket_mode, 8))
    except (OSError, RuntimeError) as exc:
        raise StartupError(f"api: cannot start serving: {_reason(exc)}") from None
    return tcp_port


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _bind_probe(family: int, address: str, port: str = "") -> str:
    """Why binding ``address`` fails, found by trying it with a plain socket."""
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_UNIX:
            probe.bind(address)
            os.unlink(address)
        else:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((address.strip("[]"), int(port)))
    except OSError as exc:
        return _reason(exc)
    finally:
        probe.close()
    return "the address is in use or not available"


#: how often the housekeeping sweep deletes expired digital receipt tokens
DIGITAL_PRUNE_S = 3600.0
#: how long a mutation's first answer is kept for a repeat of its request_id, and how
#: often the sweep deletes older ones (each answer holds the whole sale: a register that
#: runs for months must not keep them all)
IDEMPOTENCY_KEEP = timedelta(days=7)
IDEMPOTENCY_PRUNE_S = 600.0


def _digital_receipts(
    config: Config, shop: ShopHeader, clock: Clock, zone: tzinfo
) -> DigitalReceipts | None:
    d = config.digital_receipt
    if not d.enabled:
        return None
    settings = DigitalSettings(
        d.base_url, timedelta(days=d.token_days), PrintMode(d.paper), zone=zone
    )
    return DigitalReceipts(settings, shop, clock)


def make_tse(config: Config) -> Tse | None:
    """The configured TSE backend (the sale code only ever sees the port)."""
    tse = config.tse
    if tse.backend == "none":
        return None
    # only the configured backend is imported (each is a few hundred KB of idle memory)
    if tse.backend == "fiskaly":
        from posd_daemon.fiscal.fiskaly import FiskalyTse  # noqa: PLC0415

        return FiskalyTse(
            tse.fiskaly_url,
            tse.fiskaly_api_key,
            tse.fiskaly_api_secret,
            tse.fiskaly_tss_id,
            timeout_s=tse.timeout_ms / 1000,
            state_dir=config.path(tse.software_dir),
        )
    from posd_daemon.fiscal.software_tse import SoftwareTse  # noqa: PLC0415

    try:
        return SoftwareTse(config.path(tse.software_dir), curve=tse.software_curve)
    except TseError as exc:
        raise StartupError(f"software TSE: {exc}") from exc
    except OSError as exc:  # its directory (checked at load; the disk may change since)
        raise StartupError(
            f"software TSE: tse.software_dir {config.path(tse.software_dir)}: {exc.strerror or exc}"
        ) from exc


def _tls_credentials(config: Config) -> grpc.ServerCredentials:
    try:
        key = Path(config.api.tls_key).read_bytes()
        cert = Path(config.api.tls_cert).read_bytes()
        ca = Path(config.api.tls_client_ca).read_bytes() if config.api.tls_client_ca else None
    except OSError as exc:
        raise StartupError(f"cannot read TLS files: {exc}") from exc
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


def _link_credentials(config: Config) -> grpc.ChannelCredentials | None:
    """Mutual TLS to the store's other registers on TCP (None: all on unix sockets):
    their certificates verified against ``store.tls_ca`` only (not the system CAs: a
    register's certificate is the store's own), this register's api.tls_cert/tls_key
    presented as its client certificate (the peers' api.tls_client_ca checks it)."""
    if not config.store.tls_ca:
        return None
    try:
        ca = Path(config.store.tls_ca).read_bytes()
        key = Path(config.api.tls_key).read_bytes()
        cert = Path(config.api.tls_cert).read_bytes()
    except OSError as exc:
        raise StartupError(f"cannot read TLS files of the store link: {exc}") from exc
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


async def wait_forever() -> None:
    await asyncio.Event().wait()
