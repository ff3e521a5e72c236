"""The device manager: owns every peripheral of the register (UnifiedPOS model).

* Each device has a stable id (USB serial number or bus path, the port, the host) and an
  optional configured alias; the API accepts either.
* Each device has ONE worker thread with a serialised job queue: prints, drawer kicks
  (through the printer's queue, so a kick never interleaves with a receipt), display
  updates, status polls and health checks never overlap on a device. Callers get a
  ``concurrent.futures.Future``.
* States CLOSED -> IDLE <-> BUSY, ERROR (offline, unplugged, paper end, cover open...).
  Changes are published as events; going offline and coming back are logged once each.
* Discovery re-scans serial ports and USB periodically (and at once on a hot-plug hint):
  a configured device that vanished goes ERROR/offline, one that reappears is reopened
  by itself. Devices found but not configured are listed as CLOSED.
* Health checks at three levels (internal, external, interactive) and statistics.

Blocking device I/O happens only on device threads, never on the event loop.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import glob
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, urlsplit

import usb.core
import usb.util

from posd_daemon.devices.display import DisplayProfile
from posd_daemon.devices.errors import (
    DeviceError,
    DeviceUrlError,
    DrawerKickExpired,
    PrinterNotReadyError,
    TransportError,
)
from posd_daemon.devices.escpos.profile import CutMode, PrinterProfile
from posd_daemon.devices.escpos.status import PrinterStatus
from posd_daemon.devices.fifo import FifoTransport
from posd_daemon.devices.model import (
    DeviceClass,
    DeviceFault,
    DeviceSnapshot,
    DeviceState,
    DeviceStateChanged,
    DeviceStatistics,
    DeviceStatusUpdate,
    HealthLevel,
    HealthReport,
    HealthStatus,
    OutputComplete,
    ScanRejected,
    StatusCode,
)
from posd_daemon.devices.pole_display import PoleDisplay
from posd_daemon.devices.printer import EscPosPrinter
from posd_daemon.devices.scanning import (
    LAYOUTS,
    Code,
    EvdevSource,
    KeyboardDecoder,
    KeyEventSource,
    Rejected,
    ScanDecoder,
    ScanRules,
)
from posd_daemon.devices.testpage import DISPLAY_TEST_LINES, build_test_page
from posd_daemon.devices.transport import (
    FileUrl,
    SerialUrl,
    TcpUrl,
    Transport,
    UsbUrl,
    libusb_backend,
    open_transport,
    parse_device_url,
)
from posd_daemon.devices.uevent import UeventListener
from posd_daemon.domain.document import Document, Feed, Text
from posd_daemon.ops import logging as plog

log = plog.get("posd.devices")

T = TypeVar("T")
Emit = Callable[[object, str], object]


def _now() -> datetime:
    return datetime.now(UTC)


class DeviceUnavailable(DeviceError):
    """The device is unplugged, switched off or not open: the job stays queued."""

    default_code = "DEVICE_OFFLINE"


# -- worker ------------------------------------------------------------------------------


class DeviceWorker:
    """One thread, one FIFO queue: the device's jobs run one after the other.

    ``idle`` runs when no job came for ``interval`` seconds (status polling).
    """

    def __init__(
        self, name: str, idle: Callable[[], None] | None = None, interval: float = 0.0
    ) -> None:
        self.name = name
        self._idle = idle
        self.interval = interval
        self._queue: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None]
        self._queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._thread is None:
            future.set_exception(DeviceUnavailable(f"{self.name} is not running"))
            return future
        self._queue.put((fn, future))
        return future

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            wait = self.interval if (self._idle is not None and self.interval > 0) else None
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                try:
                    if self._idle is not None:
                        self._idle()
                except Exception:
                    log.exception("device_idle_task_failed", worker=self.name)
                continue
            if item is None:
                return
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def stop(self, timeout: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)


# -- traffic monitor -----------------------------------------------------------------------

Tap = Callable[[str, bytes], None]


class MonitoredTransport:
    """A transport that shows its traffic to monitors (``posctl monitor``), read-only."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.taps: list[Tap] = []

    @property
    def supports_read(self) -> bool:
        return bool(getattr(self.inner, "supports_read", True))

    @property
    def connected(self) -> bool:
        return bool(getattr(self.inner, "connected", True))

    def describe(self) -> str:
        return self.inner.describe()

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def write(self, data: bytes) -> None:
        self.inner.write(data)
        self._tap("tx", data)

    def read(self, n: int, timeout: float) -> bytes:
        data = self.inner.read(n, timeout)
        if data:
            self._tap("rx", data)
        return data

    def _tap(self, direction: str, data: bytes) -> None:
        for tap in list(self.taps):
            with contextlib.suppress(Exception):
                tap(direction, data)


# -- locating devices ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsbInfo:
    vendor_id: int
    product_id: int
    serial: str | None
    port_path: str
    product: str = ""
    is_printer: bool = False

    @property
    def hardware_id(self) -> str:
        base = f"usb:{self.vendor_id:04x}:{self.product_id:04x}"
        return f"{base}:{self.serial}" if self.serial else f"{base}@{self.port_path}"


@dataclass(frozen=True, slots=True)
class Inventory:
    """What is plugged in right now."""

    paths: frozenset[str] = frozenset()
    usb: tuple[UsbInfo, ...] = ()
    #: False when USB could not be enumerated (no libusb): USB presence is unknown.
    usb_ok: bool = False


@dataclass(frozen=True, slots=True)
class Locator:
    """Where a configured device is and how to tell it is there."""

    scheme: str
    hardware_id: str
    path: str = ""
    usb: UsbUrl | None = None

    def present(self, inventory: Inventory, transport: object | None = None) -> bool | None:
        if self.scheme in ("serial", "file", "evdev"):
            return self.path in inventory.paths
        if self.scheme == "usb" and self.usb is not None:
            if not inventory.usb_ok:
                return None
            return any(_usb_matches(self.usb, info) for info in inventory.usb)
        if self.scheme == "sim" and transport is not None:
            return bool(getattr(transport, "connected", True))
        return None  # tcp: only a connection attempt tells


def _usb_matches(url: UsbUrl, info: UsbInfo) -> bool:
    if (url.vendor_id, url.product_id) != (info.vendor_id, info.product_id):
        return False
    if url.serial is not None and info.serial != url.serial:
        return False
    return url.port_path is None or info.port_path == url.port_path


def locate(url: str) -> Locator:
    """The locator (and stable hardware id) of a device URL; raises DeviceUrlError."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "sim":
        name = urlsplit(url).netloc or "device"
        return Locator("sim", f"sim:{name}")
    if scheme == "evdev":
        path = evdev_options(url)[0]
        return Locator("evdev", f"evdev:{path}", path=path)
    parsed = parse_device_url(url)
    if isinstance(parsed, SerialUrl):
        return Locator("serial", f"serial:{parsed.path}", path=parsed.path)
    if isinstance(parsed, FileUrl):
        return Locator("file", f"file:{parsed.path}", path=parsed.path)
    if isinstance(parsed, TcpUrl):
        return Locator("tcp", f"tcp:{parsed.host}:{parsed.port}")
    assert isinstance(parsed, UsbUrl)
    base = f"usb:{parsed.vendor_id:04x}:{parsed.product_id:04x}"
    if parsed.serial:
        hw = f"{base}:{parsed.serial}"
    elif parsed.port_path:
        hw = f"{base}@{parsed.port_path}"
    else:
        hw = base  # refined to the serial number or bus path once it is found
    return Locator("usb", hw, usb=parsed)


class Discovery:
    """Looks at what is plugged in: device paths and USB devices (pyusb)."""

    SERIAL_GLOBS = ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/serial/by-id/*")

    def __init__(
        self,
        *,
        usb_backend: object | None = None,
        usb_enabled: bool = True,
        serial_globs: Iterable[str] = SERIAL_GLOBS,
    ) -> None:
        self.usb_backend = usb_backend
        self.usb_enabled = usb_enabled
        self.serial_globs = tuple(serial_globs)
        self._usb_warned = False

    def scan(self, watched: Iterable[str]) -> tuple[Inventory, list[str]]:
        """The inventory, and serial ports present that nobody configured."""
        watched = set(watched)
        paths = {p for p in watched if os.path.exists(p)}
        found: set[str] = set()
        for pattern in self.serial_globs:
            found.update(glob.glob(pattern))
        usb_ok, infos = self._scan_usb()
        inventory = Inventory(frozenset(paths | found), tuple(infos), usb_ok)
        real_watched = {os.path.realpath(p) for p in watched}
        extra = sorted(
            p
            for p in found
            if p not in watched and os.path.realpath(p) not in real_watched
            and not p.startswith("/dev/serial/by-id/")
        )  # fmt: skip
        return inventory, extra

    def _resolve_usb_backend(self) -> bool:
        """Finds libusb once. pyusb otherwise searches for the library (running
        ``ldconfig``) on every ``find()``: every re-scan would spawn processes."""
        if self.usb_backend is not None:
            return True
        backend = libusb_backend()
        if backend is None:
            self.usb_enabled = False
            log.warning("usb_discovery_unavailable", error="no libusb backend on this system")
            return False
        self.usb_backend = backend
        return True

    def _scan_usb(self) -> tuple[bool, list[UsbInfo]]:
        if not self.usb_enabled or not self._resolve_usb_backend():
            return False, []
        try:
            devices = list(usb.core.find(find_all=True, backend=self.usb_backend))
        except (usb.core.NoBackendError, usb.core.USBError, ValueError, OSError) as exc:
            if not self._usb_warned:
                self._usb_warned = True
                log.warning("usb_discovery_unavailable", error=str(exc))
            return False, []
        infos: list[UsbInfo] = []
        for dev in devices:
            try:
                infos.append(_usb_info(dev))
            except (usb.core.USBError, ValueError, NotImplementedError, IndexError):
                continue
        return True, infos


def _usb_info(dev: Any) -> UsbInfo:
    ports = getattr(dev, "port_numbers", None) or ()
    path = f"{dev.bus}-{'.'.join(str(p) for p in ports)}"
    is_printer = False
    with contextlib.suppress(usb.core.USBError, ValueError, NotImplementedError, IndexError):
        is_printer = any(int(i.bInterfaceClass) == 7 for i in dev[0])
    serial: str | None = None
    product = ""
    if is_printer:
        with contextlib.suppress(usb.core.USBError, ValueError, NotImplementedError):
            serial = dev.serial_number
        with contextlib.suppress(usb.core.USBError, ValueError, NotImplementedError):
            product = dev.product or ""
    with contextlib.suppress(usb.core.USBError, ValueError):
        usb.util.dispose_resources(dev)
    return UsbInfo(int(dev.idVendor), int(dev.idProduct), serial, path, product, is_printer)


# -- devices -------------------------------------------------------------------------------


@dataclass
class _Pending:
    device: ManagedDevice
    level: HealthLevel
    prompt: str
    deadline: float


class ManagedDevice:
    """Common state, events, health and statistics of one device."""

    device_class: ClassVar[DeviceClass]

    def __init__(
        self,
        alias: str,
        url: str,
        locator: Locator,
        *,
        poll_interval: float = 0.0,
    ) -> None:
        self.alias = alias
        self.url = url
        self.locator = locator
        self.hardware_id = locator.hardware_id
        self.emit: Emit = lambda payload, device_id: None
        self._lock = threading.RLock()
        self._state = DeviceState.CLOSED
        self._online = False
        self._online_since: float | None = None
        self._online_total = 0.0
        self.present: bool | None = None
        self.stats = DeviceStatistics()
        self.health: dict[HealthLevel, HealthReport] = {}
        self.last_error = ""
        self.worker = DeviceWorker(
            f"posd-device-{alias or self.hardware_id}",
            self._idle if poll_interval > 0 else None,
            poll_interval,
        )
        self.transport: MonitoredTransport | None = None

    # -- identity -----------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        return self.hardware_id

    def matches(self, ref: str) -> bool:
        return ref in (self.hardware_id, self.alias)

    def describe(self) -> str:
        return self.transport.describe() if self.transport is not None else self.url

    # -- state --------------------------------------------------------------------------

    @property
    def state(self) -> DeviceState:
        return self._state

    @property
    def online(self) -> bool:
        return self._online

    def _set_state(
        self, state: DeviceState, message: str = "", *, online: bool | None = None
    ) -> None:
        with self._lock:
            previous, was_online = self._state, self._online
            if online is not None and online != was_online:
                self._online = online
                now = time.monotonic()
                if online:
                    self._online_since = now
                elif self._online_since is not None:
                    self._online_total += now - self._online_since
                    self._online_since = None
            if state is DeviceState.ERROR and message:
                self.last_error = message
            # IDLE <-> BUSY flips with every job: visible in GetDevice, not worth an event
            busy_flip = {previous, state} == {DeviceState.IDLE, DeviceState.BUSY}
            changed = (previous is not state and not busy_flip) or self._online != was_online
            self._state = state
            online_now = self._online
        if online is not None and online != was_online:
            if online:
                log.info(
                    "device_online", device=self.device_id, alias=self.alias, where=self.describe()
                )
                self.emit(DeviceStatusUpdate(self.device_id, StatusCode.ONLINE), self.device_id)
            elif state is DeviceState.CLOSED:
                log.info("device_closed", device=self.device_id, alias=self.alias)
            else:
                log.warning(
                    "device_offline", device=self.device_id, alias=self.alias, reason=message
                )
                self.emit(
                    DeviceStatusUpdate(self.device_id, StatusCode.OFFLINE, message),
                    self.device_id,
                )
        if changed:
            self.emit(
                DeviceStateChanged(self.device_id, state, previous, online_now, message),
                self.device_id,
            )

    def _fault(self, exc: DeviceError, operation: str) -> None:
        with self._lock:
            self.stats.errors += 1
        self.emit(DeviceFault(self.device_id, exc.code, exc.message, operation), self.device_id)

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.worker.start()
        self.worker.submit(self._open_job)

    def stop(self) -> None:
        future = self.worker.submit(self._close_job)
        with contextlib.suppress(Exception):
            future.result(5)
        self.worker.stop()

    def _open_job(self) -> None:
        if self.present is False:
            self._set_state(DeviceState.ERROR, "not plugged in", online=False)
            return
        try:
            self._open()
        except DeviceError as exc:
            self._set_state(DeviceState.ERROR, exc.message, online=False)
            return
        self._set_state(DeviceState.IDLE, online=True)
        self._after_open()

    def _close_job(self) -> None:
        self._close()
        self._set_state(DeviceState.CLOSED, online=False)

    def _open(self) -> None:
        if self.transport is not None:
            self.transport.open()

    def _after_open(self) -> None:
        """Hook: read the status, restore what the device shows..."""

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _idle(self) -> None:
        """Hook: status polling."""

    def gone(self) -> None:
        """Discovery: the device vanished (unplugged)."""
        self.present = False
        self.worker.submit(self._gone_job)

    def _gone_job(self) -> None:
        self._close()
        self._set_state(DeviceState.ERROR, "unplugged or switched off", online=False)

    def back(self) -> None:
        """Discovery: the device is (again) there; reopen it."""
        self.present = True
        self.worker.submit(self._open_job)

    def needs_reopen(self) -> bool:
        return self.present is not False and not self._online

    # -- jobs ---------------------------------------------------------------------------

    def _run(self, operation: str, fn: Callable[[], T]) -> T:
        """Runs on the worker: BUSY while it runs, faults become events."""
        if self.present is False:
            exc = DeviceUnavailable(f"{self.alias or self.device_id} is unplugged or switched off")
            self._fault(exc, operation)
            raise exc
        with self._lock:
            before = self._state
        self._set_state(DeviceState.BUSY)
        try:
            result = fn()
        except TransportError as exc:
            self._fault(exc, operation)
            self._close()
            self._set_state(DeviceState.ERROR, exc.message, online=False)
            raise
        except DeviceError as exc:
            self._fault(exc, operation)
            self._set_state(self._state_after_fault(exc), exc.message)
            raise
        except Exception as exc:
            err = DeviceError(f"{operation} failed: {exc}", "DEVICE_ERROR")
            self._fault(err, operation)
            self._set_state(before if before is not DeviceState.BUSY else DeviceState.IDLE)
            raise err from exc
        self._set_state(DeviceState.IDLE, online=True)
        return result

    def _state_after_fault(self, exc: DeviceError) -> DeviceState:
        return DeviceState.ERROR

    def submit(self, operation: str, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        return self.worker.submit(lambda: self._run(operation, fn))

    def submit_kick(
        self, fn: Callable[[], T], not_after: float | None
    ) -> concurrent.futures.Future[T]:
        """A drawer kick, not done when the worker gets to it after ``not_after``
        (``time.monotonic()``): DrawerKickExpired, checked right before, on the worker."""

        def job() -> T:
            if not_after is not None and time.monotonic() > not_after:
                raise DrawerKickExpired(
                    f"{self.alias or self.device_id}: the drawer kick waited past its"
                    " deadline (behind other jobs) and was not done"
                )
            return self._run("drawer_kick", fn)

        return self.worker.submit(job)

    # -- health -------------------------------------------------------------------------

    def check_health(self, level: HealthLevel) -> concurrent.futures.Future[HealthReport]:
        return self.worker.submit(lambda: self._record(self._check(level)))

    def _record(self, report: HealthReport) -> HealthReport:
        with self._lock:
            self.health[report.level] = report
        return report

    def _report(self, level: HealthLevel, status: HealthStatus, message: str) -> HealthReport:
        return HealthReport(level, status, message, _now())

    def _check(self, level: HealthLevel) -> HealthReport:
        if not self._online:
            try:
                self._open()
            except DeviceError as exc:
                return self._report(level, HealthStatus.FAILED, exc.message)
            self._set_state(DeviceState.IDLE, online=True)
        return self._report(level, HealthStatus.OK, f"{self.describe()} is open")

    # -- snapshot -----------------------------------------------------------------------

    def statistics(self) -> DeviceStatistics:
        with self._lock:
            stats = self.stats.copy()
            total = self._online_total
            if self._online_since is not None:
                total += time.monotonic() - self._online_since
        stats.online_seconds = round(total, 3)
        return stats

    def status_flags(self) -> tuple[dict[str, bool], str]:
        return {}, ""

    def snapshot(self) -> DeviceSnapshot:
        flags, summary = self.status_flags()
        with self._lock:
            health = tuple(self.health[lv] for lv in HealthLevel if lv in self.health)
        return DeviceSnapshot(
            device_id=self.device_id,
            alias=self.alias,
            device_class=self.device_class,
            url=self.url,
            description=self.describe(),
            state=self._state,
            online=self._online,
            configured=True,
            statistics=self.statistics(),
            health=health,
            last_error=self.last_error,
            status=flags,
            status_summary=summary,
            display_lines=self.display_lines(),
            hardware_id=self.hardware_id,
        )

    def display_lines(self) -> tuple[str, ...]:
        return ()


# -- printer -------------------------------------------------------------------------------

DrawerListener = Callable[[bool | None], None]

_BASELINE = PrinterStatus(online=True)


class PrinterDevice(ManagedDevice):
    device_class = DeviceClass.PRINTER

    def __init__(
        self,
        alias: str,
        url: str,
        locator: Locator,
        printer: EscPosPrinter,
        *,
        columns: int = 0,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(alias, url, locator, poll_interval=poll_interval)
        self.printer = printer
        assert isinstance(printer.transport, MonitoredTransport)
        self.transport = printer.transport
        self.columns = columns or printer.profile.columns
        self.status: PrinterStatus | None = None
        #: The last status the printer answered (for telling what changed).
        self._known: PrinterStatus | None = None
        self.drawer_listeners: list[DrawerListener] = []
        self.state_listeners: list[Callable[[DeviceState, bool, str], None]] = []

    @property
    def profile(self) -> PrinterProfile:
        return self.printer.profile

    def _set_state(
        self, state: DeviceState, message: str = "", *, online: bool | None = None
    ) -> None:
        super()._set_state(state, message, online=online)
        for listener in list(self.state_listeners):
            listener(self._state, self._online, message)

    def _open(self) -> None:
        self.printer.open()

    def _close(self) -> None:
        self.printer.close()

    def _after_open(self) -> None:
        self._poll()

    def _idle(self) -> None:
        self._poll()

    def _poll(self) -> None:
        if self.present is False:
            return
        status = self.printer.read_status()
        self._apply_status(status)

    def _apply_status(self, status: PrinterStatus) -> None:
        prev = self._known or _BASELINE
        self.status = status
        if not status.reachable:
            self._set_state(DeviceState.ERROR, status.summary(), online=False)
            return
        dev = self.device_id
        events: list[DeviceStatusUpdate] = []
        if status.known:
            if status.cover_open != prev.cover_open:
                code = StatusCode.COVER_OPEN if status.cover_open else StatusCode.COVER_OK
                events.append(DeviceStatusUpdate(dev, code))
            paper = _paper(status)
            if paper != _paper(prev):
                events.append(DeviceStatusUpdate(dev, paper))
            if status.has_error != prev.has_error:
                code = StatusCode.ERROR if status.has_error else StatusCode.ERROR_CLEARED
                events.append(DeviceStatusUpdate(dev, code, status.summary()))
        self._known = status
        for event in events:
            self.emit(event, dev)
        if status.drawer_open != prev.drawer_open:
            for listener in list(self.drawer_listeners):
                listener(status.drawer_open)
        if self._state is DeviceState.BUSY:
            return
        if status.ready:
            self._set_state(DeviceState.IDLE, online=True)
        else:
            self._set_state(DeviceState.ERROR, status.summary(), online=True)

    def _state_after_fault(self, exc: DeviceError) -> DeviceState:
        if isinstance(exc, PrinterNotReadyError):
            return DeviceState.ERROR
        return DeviceState.IDLE if (self.status is None or self.status.ready) else DeviceState.ERROR

    def _run(self, operation: str, fn: Callable[[], T]) -> T:
        try:
            return super()._run(operation, fn)
        except PrinterNotReadyError as exc:
            self._apply_status(exc.status)
            raise

    # -- operations ---------------------------------------------------------------------

    def print_document(self, doc: Document) -> concurrent.futures.Future[None]:
        def job() -> None:
            self.printer.print_document(doc)
            self.emit(OutputComplete(self.device_id, "print", f"{len(doc.blocks)} blocks"), "")

        return self.submit("print", job)

    def kick(
        self,
        pin: int | None,
        on_ms: int | None,
        off_ms: int | None,
        not_after: float | None = None,
    ) -> concurrent.futures.Future[PrinterStatus | None]:
        return self.submit_kick(lambda: self.printer.kick_drawer(pin, on_ms, off_ms), not_after)

    def read_status(self) -> concurrent.futures.Future[PrinterStatus]:
        def job() -> PrinterStatus:
            status = self.printer.read_status()
            self._apply_status(status)
            return status

        return self.worker.submit(job)

    def _check(self, level: HealthLevel) -> HealthReport:
        status = self.printer.read_status()
        self._apply_status(status)
        if not status.ready:
            return self._report(level, HealthStatus.FAILED, status.summary())
        if level is HealthLevel.INTERNAL:
            warn = HealthStatus.WARNING if status.paper_near_end else HealthStatus.OK
            return self._report(level, warn, f"{self.describe()}: {status.summary()}")
        code = f"{secrets.randbelow(9000) + 1000}"
        page = build_test_page(
            self.profile,
            description=self.describe(),
            check_code=code if level is HealthLevel.INTERACTIVE else "",
            columns=self.columns,
        )
        try:
            self._run("test_page", lambda: self.printer.print_document(page))
        except DeviceError as exc:
            return self._report(level, HealthStatus.FAILED, exc.message)
        self.emit(OutputComplete(self.device_id, "test_page"), self.device_id)
        if level is HealthLevel.EXTERNAL:
            return self._report(level, HealthStatus.OK, "test page printed")
        return HealthReport(
            level,
            HealthStatus.PENDING_CONFIRMATION,
            "test page sent: waiting for the technician",
            _now(),
            prompt=(
                f"Did the printer print a test page with CHECK CODE {code}, umlauts ÄÖÜ, "
                "the € sign, a QR code and a barcode, and cut the paper?"
            ),
        )

    def statistics(self) -> DeviceStatistics:
        stats = super().statistics()
        p = self.printer.statistics
        stats.jobs, stats.lines, stats.cuts = p.jobs, p.lines, p.cuts
        stats.bytes_written, stats.status_reads = p.bytes_written, p.status_reads
        stats.errors = max(stats.errors, p.errors)
        return stats

    def status_flags(self) -> tuple[dict[str, bool], str]:
        s = self.status
        if s is None:
            return {}, "status not read yet"
        flags = {
            "reachable": s.reachable,
            "online": s.online,
            "cover_open": s.cover_open,
            "paper_near_end": s.paper_near_end,
            "paper_end": s.paper_end,
            "paper_feed_button": s.paper_feed_button,
            "error": s.error,
            "recoverable_error": s.recoverable_error,
            "cutter_error": s.cutter_error,
            "unrecoverable_error": s.unrecoverable_error,
            "auto_recoverable_error": s.auto_recoverable_error,
            "status_known": s.known,
        }
        if s.drawer_open is not None:
            flags["drawer_open"] = s.drawer_open
        return flags, s.summary()


def _paper(status: PrinterStatus) -> StatusCode:
    if status.paper_end:
        return StatusCode.PAPER_END
    if status.paper_near_end:
        return StatusCode.PAPER_NEAR_END
    return StatusCode.PAPER_OK


def document_lines(doc: Document) -> int:
    return sum(1 for b in doc.blocks if isinstance(b, Text)) + sum(
        b.lines for b in doc.blocks if isinstance(b, Feed)
    )


# -- drawer --------------------------------------------------------------------------------


class DrawerDevice(ManagedDevice):
    """A cash drawer: kicked through a printer's drawer connector, or a serial drawer."""

    device_class = DeviceClass.DRAWER

    def __init__(
        self,
        alias: str,
        url: str,
        locator: Locator,
        *,
        printer: PrinterDevice | None = None,
        transport: MonitoredTransport | None = None,
        open_command: bytes = b"\x07",
        pin: int = 2,
        on_ms: int = 100,
        off_ms: int = 200,
    ) -> None:
        super().__init__(alias, url, locator)
        self.printer = printer
        self.transport = transport
        self.open_command = open_command
        self.pin, self.on_ms, self.off_ms = pin, on_ms, off_ms
        #: The sensor: True open, False closed, None unknown (no sensor).
        self.is_open: bool | None = None
        if printer is not None:
            printer.drawer_listeners.append(self._sensor)
            printer.state_listeners.append(self._printer_state)

    def describe(self) -> str:
        if self.printer is not None:
            return (
                f"cash drawer on pin {self.pin} of {self.printer.alias or self.printer.device_id}"
            )
        return super().describe()

    def start(self) -> None:
        if self.printer is None:
            super().start()
        else:
            self.worker.start()

    def _printer_state(self, state: DeviceState, online: bool, message: str) -> None:
        # the kick needs a printer that is online (paper end or cover open take it offline)
        mine = DeviceState.IDLE if state is DeviceState.BUSY else state
        if mine is not self._state or online != self._online:
            self._set_state(mine, message if mine is DeviceState.ERROR else "", online=online)

    def _sensor(self, is_open: bool | None) -> None:
        if is_open == self.is_open:
            return
        previous, self.is_open = self.is_open, is_open
        if is_open is None or (previous is None and not is_open):
            return  # unknown, or the first reading says closed: nothing happened
        code = StatusCode.DRAWER_OPEN if is_open else StatusCode.DRAWER_CLOSED
        self.emit(DeviceStatusUpdate(self.device_id, code), self.device_id)

    def open(self, not_after: float | None = None) -> concurrent.futures.Future[None]:
        """Kick the drawer (through the printer's queue when on a printer); not when the
        queue gets to it after ``not_after`` (see :meth:`Device.submit_kick`)."""
        result: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self.printer is not None:
            inner = self.printer.kick(self.pin, self.on_ms, self.off_ms, not_after)

            def done(f: concurrent.futures.Future[PrinterStatus | None]) -> None:
                exc = f.exception()
                if exc is not None:
                    if isinstance(exc, DeviceError) and not isinstance(exc, DrawerKickExpired):
                        self._fault(exc, "drawer_kick")
                    result.set_exception(exc)
                    return
                self._kicked()
                status = f.result()
                if status is not None and status.drawer_open is not None:
                    self._sensor(status.drawer_open)
                result.set_result(None)

            inner.add_done_callback(done)
            return result
        transport = self.transport
        assert transport is not None

        def job() -> None:
            transport.write(self.open_command)
            self._kicked()

        return self.submit_kick(job, not_after)

    def _kicked(self) -> None:
        with self._lock:
            self.stats.drawer_openings += 1
            self.stats.jobs += 1
        self.emit(OutputComplete(self.device_id, "drawer_kick"), self.device_id)

    def _check(self, level: HealthLevel) -> HealthReport:
        if self.printer is not None:
            status = self.printer.read_status().result(10)
            if not (status.reachable and status.online):
                return self._report(level, HealthStatus.FAILED, status.summary())
            sensor = {True: "open", False: "closed", None: "unknown (no sensor)"}[
                status.drawer_open
            ]
            if level is HealthLevel.INTERNAL:
                return self._report(level, HealthStatus.OK, f"drawer sensor: {sensor}")
        elif level is HealthLevel.INTERNAL:
            return super()._check(level)
        try:
            if self.printer is not None:
                self.open().result(15)
            else:
                self._run("drawer_kick", self._serial_kick)
        except DeviceError as exc:
            return self._report(level, HealthStatus.FAILED, exc.message)
        if level is HealthLevel.EXTERNAL:
            return self._report(level, HealthStatus.OK, "drawer kicked")
        return HealthReport(
            level,
            HealthStatus.PENDING_CONFIRMATION,
            "drawer kicked: waiting for the technician",
            _now(),
            prompt="Did the cash drawer open? (close it again afterwards)",
        )

    def _serial_kick(self) -> None:
        assert self.transport is not None
        self.transport.write(self.open_command)
        self._kicked()

    def check_health(self, level: HealthLevel) -> concurrent.futures.Future[HealthReport]:
        if self.printer is None:
            return super().check_health(level)
        # the kick goes through the printer's queue: wait for it off the printer's thread
        return self.worker.submit(lambda: self._record(self._check(level)))

    def status_flags(self) -> tuple[dict[str, bool], str]:
        if self.is_open is None:
            return {}, "drawer sensor: unknown"
        return {"drawer_open": self.is_open}, "open" if self.is_open else "closed"


# -- display -------------------------------------------------------------------------------


#: The shortest time between two writes to a customer display, the latest lines always
#: last. Nobody reads a display updated more often than that (a 9600-baud pole display
#: needs about 50 ms per 2 x 20 update anyway), and a burst of calls (a sale created,
#: scanned and paid by a UI within milliseconds, an order loaded line by line) then wakes
#: the display's thread a few times instead of for every line: 0.2-0.4 ms less per 8-call
#: sale on 2 cores (A/B). A scan after a pause is shown at once. 20 ms saved about the
#: same but held back a scan 5 ms after the previous one by 15 ms (bench/scan_display.py).
DISPLAY_MIN_INTERVAL_S = 0.01
#: seconds an external check's test pattern stays on the customer display
DISPLAY_TEST_PATTERN_S = 3.0
#: seconds an interactive check's pattern stays: the technician reads it to answer
DISPLAY_TEST_PATTERN_INTERACTIVE_S = 10.0


class DisplayDevice(ManagedDevice):
    device_class = DeviceClass.DISPLAY

    def __init__(self, alias: str, url: str, locator: Locator, display: PoleDisplay) -> None:
        super().__init__(alias, url, locator)
        self.display = display
        assert isinstance(display.transport, MonitoredTransport)
        self.transport = display.transport
        self._wanted: tuple[str, ...] | None = None
        #: the content (sale lines, idle text): what comes back after a test pattern
        #: or a replug; never the pattern itself
        self._shown: tuple[str, ...] = ()
        self._scheduled = False
        self._written_at = 0.0  # monotonic time of the last write
        #: the test pattern is on the display (reported as shown instead of the content)
        self._pattern = False
        #: bumped by every show and check: a pattern's restore timer only acts while its
        #: check is still the last thing that happened to the display
        self._generation = 0
        self._restore_timer: threading.Timer | None = None
        #: how long a check's test pattern stays before the content comes back: long
        #: enough to read both rows (interactive: the technician answers the prompt
        #: looking at it), short enough not to hide a sale from the customer for long
        self.test_pattern_seconds: dict[HealthLevel, float] = {
            HealthLevel.EXTERNAL: DISPLAY_TEST_PATTERN_S,
            HealthLevel.INTERACTIVE: DISPLAY_TEST_PATTERN_INTERACTIVE_S,
        }

    @property
    def profile(self) -> DisplayProfile:
        return self.display.profile

    def _open(self) -> None:
        self.display.open()

    def _close(self) -> None:
        self.display.close()

    def stop(self) -> None:
        super().stop()
        # after the worker ended: no check can arm another restore timer now
        self._cancel_restore()

    def _after_open(self) -> None:
        with self._lock:
            # a replugged display lost the pattern too: it gets the content back
            if self._pattern:
                self._pattern = False
                self._generation += 1
            lines = self._shown
        if lines:
            with contextlib.suppress(DeviceError):
                self.display.show(*lines)  # restore after a replug

    def show(self, lines: tuple[str, ...]) -> concurrent.futures.Future[None]:
        """Show lines; when updates come faster than the display, only the latest counts."""
        lines = tuple(lines[: self.profile.rows])
        with self._lock:
            self._wanted = lines
            self._shown = lines
            # the sale wins over a test pattern at once; its pending restore is moot
            self._pattern = False
            self._generation += 1
            if self._scheduled:
                future: concurrent.futures.Future[None] = concurrent.futures.Future()
                future.set_result(None)
                return future
            self._scheduled = True
        return self.worker.submit(self._flush)

    def _flush(self) -> None:
        # on the device's thread; lines shown meanwhile replace the wanted ones
        pause = self._written_at + DISPLAY_MIN_INTERVAL_S - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        with self._lock:
            lines, self._wanted = self._wanted, None
            self._scheduled = False
        if lines is None:
            return
        if self.present is False:
            return  # shown when it is back
        try:
            self._run("display", lambda: self.display.show(*lines))
        except DeviceError:
            return
        finally:
            self._written_at = time.monotonic()
        with self._lock:
            self.stats.display_updates += 1
            self.stats.jobs += 1

    def display_lines(self) -> tuple[str, ...]:
        with self._lock:
            return DISPLAY_TEST_LINES if self._pattern else self._shown

    def _cancel_restore(self) -> None:
        with self._lock:
            timer, self._restore_timer = self._restore_timer, None
        if timer is not None:
            timer.cancel()

    def _restore_after_pattern(self, generation: int) -> None:
        # on the timer's thread: only the worker writes, so this goes through show()
        with self._lock:
            if generation != self._generation or not self._pattern:
                return  # a sale update or a later check already took the display
            lines = self._shown
        self.show(lines)

    def _check(self, level: HealthLevel) -> HealthReport:
        if level is HealthLevel.INTERNAL:
            return super()._check(level)
        with self._lock:
            # marked before the write: a show() arriving while it runs clears the mark
            # and its flush (queued behind this check) overwrites the pattern
            self._pattern = True
            self._generation += 1
            generation = self._generation
        try:
            self._run("display", lambda: self.display.show(*DISPLAY_TEST_LINES))
        except DeviceError as exc:
            with self._lock:
                if generation == self._generation:
                    self._pattern = False
            return self._report(level, HealthStatus.FAILED, exc.message)
        hold = self.test_pattern_seconds.get(level, DISPLAY_TEST_PATTERN_S)
        timer = threading.Timer(hold, self._restore_after_pattern, (generation,))
        timer.name = f"{self.worker.name}-restore"
        timer.daemon = True
        with self._lock:
            previous, self._restore_timer = self._restore_timer, timer
        if previous is not None:
            previous.cancel()
        timer.start()
        if level is HealthLevel.EXTERNAL:
            return self._report(level, HealthStatus.OK, f"test pattern shown for {hold:g} s")
        return HealthReport(
            level,
            HealthStatus.PENDING_CONFIRMATION,
            f"test pattern shown for {hold:g} s: waiting for the technician",
            _now(),
            prompt=(
                f"Does the display show exactly {DISPLAY_TEST_LINES[0]!r} and "
                f"{DISPLAY_TEST_LINES[1]!r} (umlauts and the € sign right)?"
                f" It goes back after {hold:g} s."
            ),
        )


# -- scanner -------------------------------------------------------------------------------

CodeHandler = Callable[[str, Code], None]


class ScannerDevice(ManagedDevice):
    """Reads codes on its own thread (serial/CDC lines, or evdev key events)."""

    device_class = DeviceClass.SCANNER

    def __init__(
        self,
        alias: str,
        url: str,
        locator: Locator,
        *,
        transport: MonitoredTransport | None = None,
        keys: KeyEventSource | None = None,
        layout: str = "us",
        rules: ScanRules | None = None,
        retry_interval: float = 1.0,
    ) -> None:
        super().__init__(alias, url, locator)
        if (transport is None) == (keys is None):
            raise ValueError("a scanner reads either bytes (transport) or key events")
        self.transport = transport
        self.keys = keys
        self.keyboard = KeyboardDecoder(layout) if keys is not None else None
        self.decoder = ScanDecoder(rules)
        self.on_code: CodeHandler = lambda device_id, code: None
        self.retry_interval = retry_interval
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._reopen = threading.Event()

    def describe(self) -> str:
        if self.keys is not None:
            return self.keys.describe()
        return super().describe()

    def start(self) -> None:
        self.worker.start()
        self._stop.clear()
        self._reader = threading.Thread(
            target=self._read_loop, name=f"posd-scanner-{self.alias}", daemon=True
        )
        self._reader.start()

    def stop(self) -> None:
        self._stop.set()
        self._reopen.set()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.join(5)
        self._close()
        self._set_state(DeviceState.CLOSED, online=False)
        self.worker.stop()

    def gone(self) -> None:
        self.present = False
        # the reader notices on its next read; close now so it does
        self._reopen.set()

    def back(self) -> None:
        self.present = True
        self._reopen.set()

    def _open(self) -> None:
        if self.keys is not None:
            self.keys.open()
            if self.keyboard is not None:
                self.keyboard.reset()  # a fresh device holds no key down
        else:
            super()._open()

    def _close(self) -> None:
        if self.keys is not None:
            self.keys.close()
        else:
            super()._close()

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            if not self._online:
                if self.present is not False:
                    self._open_job()
                if not self._online:
                    self._reopen.wait(self.retry_interval)
                    self._reopen.clear()
                    continue
            if self.present is False:
                self._close()
                self._set_state(DeviceState.ERROR, "unplugged", online=False)
                continue
            try:
                if self.keys is not None:
                    assert self.keyboard is not None
                    data = self.keyboard.feed(self.keys.read(0.1))
                else:
                    assert self.transport is not None
                    data = self.transport.read(256, 0.1)
            except TransportError as exc:
                self._close()
                with self._lock:
                    self.stats.errors += 1
                self._set_state(DeviceState.ERROR, exc.message, online=False)
                continue
            self._handle(self.decoder.feed(data, time.monotonic()))

    def _handle(self, results: list[Code | Rejected]) -> None:
        for result in results:
            if isinstance(result, Code):
                with self._lock:
                    self.stats.scans += 1
                try:
                    self.on_code(self.device_id, result)
                except Exception:
                    log.exception("scan_handler_failed", device=self.device_id)
            else:
                with self._lock:
                    self.stats.scans_rejected += 1
                log.info(
                    "scan_rejected",
                    device=self.device_id,
                    reason=result.reason,
                    detail=result.detail,
                )
                self.emit(
                    ScanRejected(self.device_id, result.reason, result.detail), self.device_id
                )

    def _check(self, level: HealthLevel) -> HealthReport:
        if not self._online:
            return self._report(level, HealthStatus.FAILED, self.last_error or "not open")
        message = f"{self.describe()} is open and read"
        if level is not HealthLevel.INTERNAL:
            message += "; a scanner has no output: use the interactive check and scan a code"
        return self._report(level, HealthStatus.OK, message)


# -- the manager ---------------------------------------------------------------------------


@dataclass
class DiscoveredDevice:
    hardware_id: str
    device_class: DeviceClass | None
    url: str
    description: str


@dataclass
class _Checks:
    pending: dict[str, _Pending] = field(default_factory=dict)


class DeviceManager:
    def __init__(
        self,
        *,
        emit: Emit | None = None,
        discovery: Discovery | None = None,
        rescan_interval: float = 2.0,
        aliases: Mapping[str, str] | None = None,
        hotplug_events: bool = True,
    ) -> None:
        self._emit: Emit = emit or (lambda payload, device_id: None)
        #: listen to kernel hot-plug events (netlink) while discovery runs
        self.hotplug_events = hotplug_events
        self._uevents: UeventListener | None = None
        self.discovery = discovery
        self.rescan_interval = rescan_interval
        self.aliases = dict(aliases or {})
        self.devices: list[ManagedDevice] = []
        self.discovered: list[DiscoveredDevice] = []
        self._checks = _Checks()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.scans = 0

    # -- devices ------------------------------------------------------------------------

    def add(self, device: ManagedDevice) -> ManagedDevice:
        device.emit = self._emit
        if not device.alias:
            device.alias = self.aliases.get(device.hardware_id, "")
        self.devices.append(device)
        return device

    def find(self, ref: str) -> ManagedDevice | None:
        for device in self.devices:
            if device.matches(ref):
                return device
        return None

    def first(self, device_class: DeviceClass) -> ManagedDevice | None:
        return next((d for d in self.devices if d.device_class is device_class), None)

    def of_class(self, device_class: DeviceClass) -> list[ManagedDevice]:
        return [d for d in self.devices if d.device_class is device_class]

    def snapshots(self) -> list[DeviceSnapshot]:
        out = [d.snapshot() for d in self.devices]
        with self._lock:
            discovered = list(self.discovered)
        for found in discovered:
            out.append(
                DeviceSnapshot(
                    device_id=found.hardware_id,
                    alias=self.aliases.get(found.hardware_id, ""),
                    device_class=found.device_class,
                    url=found.url,
                    description=found.description,
                    state=DeviceState.CLOSED,
                    online=True,
                    configured=False,
                    statistics=DeviceStatistics(),
                    status_summary="found, not configured (not claimed by posd)",
                    hardware_id=found.hardware_id,
                )
            )
        return out

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self.discovery is not None:
            self.rescan()
        for device in self.devices:
            device.start()
        if self.discovery is not None and self.rescan_interval > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="posd-dev-scan", daemon=True)
            self._thread.start()
            if self.hotplug_events:
                # kernel hot-plug events wake the re-scan at once (periodic scan stays)
                self._uevents = UeventListener(self.hotplug)
                if not self._uevents.start():
                    self._uevents = None

    def stop(self) -> None:
        if self._uevents is not None:
            self._uevents.stop()
            self._uevents = None
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5)
        for device in reversed(self.devices):
            with contextlib.suppress(Exception):
                device.stop()

    def hotplug(self, action: str = "change", devnode: str = "") -> None:
        """A hot-plug hint (udev add/remove): re-scan now instead of at the next period."""
        log.debug("hotplug", action=action, devnode=devnode)
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.rescan_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.rescan()
            except Exception:
                log.exception("device_rescan_failed")

    def rescan(self) -> Inventory:
        """Look at what is plugged in and reconcile (also callable from tests)."""
        assert self.discovery is not None
        watched = [d.locator.path for d in self.devices if d.locator.path]
        inventory, extra_paths = self.discovery.scan(watched)
        self.reconcile(inventory, extra_paths)
        self.scans += 1
        return inventory

    def reconcile(self, inventory: Inventory, extra_paths: Iterable[str] = ()) -> None:
        """Configured devices follow what is plugged in; others are listed as found."""
        claimed_usb: set[UsbInfo] = set()
        for device in self.devices:
            loc = device.locator
            if loc.scheme == "usb" and loc.usb is not None and inventory.usb_ok:
                matches = [i for i in inventory.usb if _usb_matches(loc.usb, i)]
                claimed_usb.update(matches)
                if len(matches) == 1 and device.hardware_id == loc.hardware_id:
                    refined = matches[0].hardware_id
                    if loc.usb.serial is None and loc.usb.port_path is None:
                        device.hardware_id = refined
            present = loc.present(inventory, getattr(device.transport, "inner", None))
            if present is None:
                continue
            if not present and device.present is not False:
                device.gone()
            elif present and (device.present is False or device.needs_reopen()):
                if device.present is False or device.state is not DeviceState.CLOSED:
                    device.back()
                else:
                    device.present = True
        found: list[DiscoveredDevice] = []
        for path in extra_paths:
            found.append(
                DiscoveredDevice(f"serial:{path}", None, f"serial://{path}", f"serial port {path}")
            )
        for info in inventory.usb:
            if info in claimed_usb or not info.is_printer:
                continue
            found.append(
                DiscoveredDevice(
                    info.hardware_id,
                    DeviceClass.PRINTER,
                    f"usb://{info.vendor_id:04x}:{info.product_id:04x}"
                    + (f"?serial={info.serial}" if info.serial else f"?path={info.port_path}"),
                    f"USB printer {info.product or ''} at {info.port_path}".replace("  ", " "),
                )
            )
        with self._lock:
            self.discovered = found

    # -- health -------------------------------------------------------------------------

    def begin_check(self, device: ManagedDevice, report: HealthReport) -> HealthReport:
        """Remember an interactive check waiting for the technician's answer."""
        if report.status is not HealthStatus.PENDING_CONFIRMATION:
            return report
        check_id = secrets.token_hex(8)
        with self._lock:
            now = time.monotonic()
            self._checks.pending = {
                k: v for k, v in self._checks.pending.items() if v.deadline > now
            }
            self._checks.pending[check_id] = _Pending(
                device, report.level, report.prompt, now + 600
            )
        final = replace(report, check_id=check_id)
        device._record(final)
        return final

    def confirm(self, check_id: str, confirmed: bool, note: str = "") -> HealthReport | None:
        with self._lock:
            pending = self._checks.pending.pop(check_id, None)
        if pending is None:
            return None
        status = HealthStatus.OK if confirmed else HealthStatus.FAILED
        message = "confirmed by the technician" if confirmed else "technician reported a failure"
        if note:
            message += f": {note}"
        report = HealthReport(pending.level, status, message, _now(), check_id=check_id)
        pending.device._record(report)
        if not confirmed:
            pending.device._fault(DeviceError(message, "HEALTH_CHECK_FAILED"), "health_check")
        return report


# -- building devices from configuration ----------------------------------------------------


def _monitored(transport: Transport) -> MonitoredTransport:
    return MonitoredTransport(transport)


#: the values of an evdev URL's ``grab`` parameter: on, off
_GRAB = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def evdev_options(url: str, layout: str = "us", grab: bool = True) -> tuple[str, str, bool]:
    """(input device path, keyboard layout, grab) of ``evdev:///dev/input/...?layout=de&
    grab=0``; ``layout`` and ``grab`` are the defaults. Raises DeviceUrlError."""
    example = "(example: evdev:///dev/input/by-id/usb-...-event-kbd?layout=de)"
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/") or parts.path.endswith("/"):
        raise DeviceUrlError(
            f"{url!r}: the input device path must be absolute: evdev:///dev/input/..."
            f" (3 slashes) {example}"
        )
    try:
        params = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise DeviceUrlError(f"{url!r}: cannot parse the query {parts.query!r} {example}") from None
    for key, value in params:
        if key == "layout":
            if value not in LAYOUTS:
                known = ", ".join(sorted(LAYOUTS))
                raise DeviceUrlError(f"{url!r}: layout must be one of {known}, got {value!r}")
            layout = value
        elif key == "grab":
            if value not in _GRAB:
                raise DeviceUrlError(f"{url!r}: grab must be 1 or 0, got {value!r}")
            grab = _GRAB[value]
        else:
            raise DeviceUrlError(f"{url!r}: unknown parameter {key!r} (allowed: layout, grab)")
    return parts.path, layout, grab


def build_printer(
    alias: str,
    url: str,
    profile: PrinterProfile,
    *,
    columns: int = 0,
    output: Path | None = None,
    poll_interval: float = 1.0,
    usb_backend: object | None = None,
    status_timeout: float = 1.0,
) -> PrinterDevice:
    """A printer from its URL (``sim://printer`` writes its paper to ``output``)."""
    locator = locate(url)
    inner: Transport
    if locator.scheme == "sim":
        if output is None:
            raise ValueError("a sim:// printer needs an output file")
        # the emulators (~0.8 MB) only on a register that simulates a device
        from posd_daemon.devices.simulated import PaperTapeTransport  # noqa: PLC0415

        inner = PaperTapeTransport(output, columns or profile.columns)
    else:
        inner = open_transport(url, usb_backend=usb_backend)
    printer = EscPosPrinter(_monitored(inner), profile, status_timeout=status_timeout)
    return PrinterDevice(alias, url, locator, printer, columns=columns, poll_interval=poll_interval)


def build_display(
    alias: str, url: str, profile: DisplayProfile, *, mirror: Path | None = None
) -> DisplayDevice:
    locator = locate(url)
    inner: Transport
    if locator.scheme == "sim":
        from posd_daemon.devices.simulated import EmulatorTransport  # noqa: PLC0415

        inner = EmulatorTransport(profile, mirror)
    else:
        inner = open_transport(url)
    return DisplayDevice(alias, url, locator, PoleDisplay(_monitored(inner), profile))


def build_scanner(
    alias: str,
    url: str,
    *,
    layout: str = "us",
    grab: bool = True,
    rules: ScanRules | None = None,
    fifo: Path | None = None,
    keys: KeyEventSource | None = None,
) -> ScannerDevice:
    """``serial://`` (CDC/RS-232 line scanner), ``evdev:///dev/input/...`` (HID wedge,
    ``?layout=de&grab=0`` override the defaults), ``sim://scanner`` (a FIFO)."""
    locator = locate(url)
    if locator.scheme == "evdev":
        _, layout, grab = evdev_options(url, layout, grab)
        source = keys or EvdevSource(locator.path, grab=grab)
        return ScannerDevice(alias, url, locator, keys=source, layout=layout, rules=rules)
    if keys is not None:
        return ScannerDevice(alias, url, locator, keys=keys, layout=layout, rules=rules)
    inner: Transport
    if locator.scheme == "sim":
        if fifo is None:
            raise ValueError("a sim:// scanner needs a FIFO path")
        inner = FifoTransport(fifo)
    else:
        inner = open_transport(url)
    return ScannerDevice(alias, url, locator, transport=_monitored(inner), rules=rules)


def build_drawer(
    alias: str,
    *,
    printer: PrinterDevice | None = None,
    url: str = "",
    open_command: bytes = b"\x07",
    pin: int = 2,
    on_ms: int = 100,
    off_ms: int = 200,
) -> DrawerDevice:
    if printer is not None:
        locator = Locator("printer", f"{printer.hardware_id}/drawer")
        return DrawerDevice(
            alias,
            f"{printer.url}#drawer",
            locator,
            printer=printer,
            pin=pin,
            on_ms=on_ms,
            off_ms=off_ms,
        )
    locator = locate(url)
    return DrawerDevice(
        alias,
        url,
        locator,
        transport=_monitored(open_transport(url)),
        open_command=open_command,
    )


__all__ = [
    "CutMode",
    "DeviceManager",
    "DeviceUnavailable",
    "DeviceWorker",
    "Discovery",
    "DisplayDevice",
    "DrawerDevice",
    "Inventory",
    "Locator",
    "ManagedDevice",
    "MonitoredTransport",
    "PrinterDevice",
    "ScannerDevice",
    "UsbInfo",
    "build_display",
    "build_drawer",
    "build_printer",
    "build_scanner",
    "document_lines",
    "locate",
]
