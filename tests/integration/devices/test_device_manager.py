"""The device manager over real transports: TCP printer simulator, pty pairs, fake USB."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES
from posd_daemon.devices.errors import DeviceError, PrinterNotReadyError
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.manager import (
    DISPLAY_MIN_INTERVAL_S,
    DeviceManager,
    Discovery,
    DisplayDevice,
    DrawerDevice,
    PrinterDevice,
    ScannerDevice,
    build_display,
    build_drawer,
    build_printer,
    build_scanner,
)
from posd_daemon.devices.model import (
    DeviceState,
    DeviceStateChanged,
    DeviceStatusUpdate,
    HealthLevel,
    HealthStatus,
    OutputComplete,
    ScanRejected,
    StatusCode,
)
from posd_daemon.devices.scanning import EV_KEY, KEY_LEFTSHIFT, Code, key_events_for
from posd_daemon.devices.sim import (
    FakeUsbBackend,
    FakeUsbPrinter,
    PtyDevice,
    SerialDisplaySim,
    TcpPrinterSimulator,
    wait_until,
)
from posd_daemon.services.devices import OutboxPrinter
from tests.support.devices import RECEIPT_MARKER, sample_receipt

MARKER = RECEIPT_MARKER.encode("cp858")


class Events:
    """Collects what the manager publishes (from any thread)."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self._lock = threading.Lock()

    def __call__(self, payload: object, device_id: str) -> None:
        with self._lock:
            self.items.append(payload)

    def status(self, device_id: str) -> list[StatusCode]:
        with self._lock:
            return [
                e.status
                for e in self.items
                if isinstance(e, DeviceStatusUpdate) and e.device_id == device_id
            ]

    def states(self, device_id: str) -> list[DeviceState]:
        with self._lock:
            return [
                e.state
                for e in self.items
                if isinstance(e, DeviceStateChanged) and e.device_id == device_id
            ]


@pytest.fixture
def sim() -> Iterator[TcpPrinterSimulator]:
    with TcpPrinterSimulator("ok") as s:
        yield s


def printer_manager(
    sim: TcpPrinterSimulator, events: Events
) -> tuple[DeviceManager, PrinterDevice, DrawerDevice]:
    manager = DeviceManager(emit=events)
    printer = build_printer(
        "printer",
        sim.url,
        get_profile("generic-80mm").with_overrides({"drawer_sensor": "open-high"}),
        poll_interval=0.05,
        status_timeout=0.3,
    )
    manager.add(printer)
    drawer = build_drawer("drawer", printer=printer, pin=5, on_ms=60, off_ms=120)
    manager.add(drawer)
    manager.start()
    assert wait_until(lambda: printer.state is DeviceState.IDLE)
    return manager, printer, drawer


def test_printer_faults_are_events_and_jobs_resume(sim: TcpPrinterSimulator) -> None:
    events = Events()
    manager, printer, _ = printer_manager(sim, events)
    try:
        assert printer.device_id == f"tcp:127.0.0.1:{sim.port}"
        assert manager.find("printer") is printer
        printer.print_document(sample_receipt()).result(5)
        assert sim.core.wait_received(MARKER)
        for fault, code in (
            ("paper_end", StatusCode.PAPER_END),
            ("cover_open", StatusCode.COVER_OPEN),
        ):
            sim.set_state(fault)
            assert wait_until(lambda c=code: c in events.status(printer.device_id))
            assert wait_until(lambda: printer.state is DeviceState.ERROR)
            sim.core.clear()
            with pytest.raises(PrinterNotReadyError):
                printer.print_document(sample_receipt()).result(5)
            assert MARKER not in sim.received  # nothing of the job was sent
            sim.set_state("ok")
            assert wait_until(lambda: printer.state is DeviceState.IDLE)
        paper_and_cover = [
            c for c in events.status(printer.device_id) if c.value.startswith(("paper", "cover"))
        ]
        assert paper_and_cover == [
            StatusCode.PAPER_END,
            StatusCode.PAPER_OK,
            StatusCode.COVER_OPEN,
            StatusCode.COVER_OK,
        ]
        sim.set_state("paper_near_end")  # a warning: still prints
        assert wait_until(lambda: StatusCode.PAPER_NEAR_END in events.status(printer.device_id))
        printer.print_document(sample_receipt()).result(5)
        flags = dict(printer.snapshot().status)
        assert flags["paper_near_end"] is True
        assert flags["paper_end"] is False
        stats = printer.snapshot().statistics
        assert stats.jobs == 2
        assert stats.cuts == 2
        assert stats.lines > 10
        assert stats.errors >= 2
        # the printer went away and came back: offline and online, once each
        sim.stop()
        assert wait_until(lambda: not printer.online)
        sim.start()
        assert wait_until(lambda: printer.online and printer.state is DeviceState.IDLE, 5)
        # the ONLINE event comes from the device thread right after the state changed
        back = StatusCode.ONLINE
        assert wait_until(lambda: events.status(printer.device_id).count(back) == 2)  # start, back
        assert events.status(printer.device_id).count(StatusCode.OFFLINE) == 1
    finally:
        manager.stop()
    assert printer.state is DeviceState.CLOSED


def test_drawer_kick_bytes_and_sensor_events(sim: TcpPrinterSimulator) -> None:
    events = Events()
    manager, printer, drawer = printer_manager(sim, events)
    try:
        assert drawer.device_id == f"{printer.device_id}/drawer"
        drawer.open().result(5)
        assert sim.core.wait_received(b"\x1bp\x01\x1e\x3c")  # ESC p, pin 5, 60 ms, 120 ms
        assert sim.core.drawer_kicks == 1
        assert wait_until(lambda: StatusCode.DRAWER_OPEN in events.status(drawer.device_id))
        assert drawer.is_open is True
        sim.core.close_drawer()
        assert wait_until(lambda: StatusCode.DRAWER_CLOSED in events.status(drawer.device_id))
        assert drawer.snapshot().statistics.drawer_openings == 1
        assert any(
            isinstance(e, OutputComplete) and e.operation == "drawer_kick" for e in events.items
        )
        # the kick needs an online printer (an offline one would keep it and open later)
        sim.set_state("offline")
        assert wait_until(lambda: drawer.state is DeviceState.ERROR)
        with pytest.raises(DeviceError):
            drawer.open().result(5)
        assert sim.core.drawer_kicks == 1
    finally:
        manager.stop()


def test_health_checks_at_three_levels(sim: TcpPrinterSimulator) -> None:
    manager, printer, drawer = printer_manager(sim, Events())
    try:
        internal = printer.check_health(HealthLevel.INTERNAL).result(5)
        assert internal.status is HealthStatus.OK
        assert MARKER not in sim.received
        external = printer.check_health(HealthLevel.EXTERNAL).result(5)
        assert external.status is HealthStatus.OK
        assert sim.core.wait_received(b"posd TEST PAGE")
        assert "Umlaute: ÄÖÜ äöü ß  Euro: €".encode("cp858") in sim.received
        report = manager.begin_check(
            printer, printer.check_health(HealthLevel.INTERACTIVE).result(5)
        )
        assert report.status is HealthStatus.PENDING_CONFIRMATION
        code = report.prompt.split("CHECK CODE ")[1][:4]
        assert sim.core.wait_received(f"CHECK CODE {code}".encode())
        final = manager.confirm(report.check_id, False, "cut failed")
        assert final is not None
        assert final.status is HealthStatus.FAILED
        assert manager.confirm(report.check_id, True) is None  # answered already
        kicked = manager.begin_check(drawer, drawer.check_health(HealthLevel.INTERACTIVE).result(5))
        assert kicked.prompt == "Did the cash drawer open? (close it again afterwards)"
        assert wait_until(lambda: sim.core.drawer_kicks == 1)
        assert manager.confirm(kicked.check_id, True) is not None
        levels = {h.level: h.status for h in printer.snapshot().health}
        assert levels == {
            HealthLevel.INTERNAL: HealthStatus.OK,
            HealthLevel.EXTERNAL: HealthStatus.OK,
            HealthLevel.INTERACTIVE: HealthStatus.FAILED,
        }
        sim.set_state("cover_open")
        failed = printer.check_health(HealthLevel.INTERNAL).result(5)
        assert failed.status is HealthStatus.FAILED
        assert "cover open" in failed.message
    finally:
        manager.stop()


@pytest.mark.parametrize("profile", ["epson-dm-d", "cd5220"])
def test_display_over_a_serial_port(profile: str) -> None:
    sim = SerialDisplaySim(BUILTIN_DISPLAY_PROFILES[profile])
    sim.start()
    manager = DeviceManager()
    display = build_display("display", sim.url(9600), BUILTIN_DISPLAY_PROFILES[profile])
    manager.add(display)
    manager.start()
    try:
        display.show(("Äpfel Elstar  3,74 €", "SUMME        40,21 €")).result(5)
        assert sim.display.wait_for_lines(["Äpfel Elstar  3,74 €", "SUMME        40,21 €"])
        # faster than the display: only the latest counts, nothing is lost in between
        for i in range(50):
            display.show((f"line {i}", "ß"))
        assert sim.display.wait_for_lines(["line 49", "ß"])
        assert display.snapshot().statistics.display_updates < 50
    finally:
        manager.stop()
        sim.stop()


def test_display_writes_are_spaced_and_end_on_the_latest_lines() -> None:
    """A burst of updates (a sale scanned in milliseconds) becomes a few writes at least
    DISPLAY_MIN_INTERVAL_S apart, the last one showing the latest lines."""
    profile = BUILTIN_DISPLAY_PROFILES["epson-dm-d"]
    sim = SerialDisplaySim(profile)
    sim.start()
    manager = DeviceManager()
    display = build_display("display", sim.url(115200), profile)  # ~4 ms per update
    manager.add(display)
    manager.start()
    try:
        display.show(("first", "")).result(5)
        before = display.snapshot().statistics.display_updates
        start = time.monotonic()
        shown = 0
        while time.monotonic() - start < 0.3:
            display.show((f"scan {shown}", ""))
            shown += 1
            time.sleep(0.002)
        assert sim.display.wait_for_lines([f"scan {shown - 1}", ""])
        elapsed = time.monotonic() - start
        writes = display.snapshot().statistics.display_updates - before
        assert 1 <= writes <= elapsed / DISPLAY_MIN_INTERVAL_S + 2, (writes, elapsed)
        assert shown >= 2 * writes, "the burst was not coalesced"
    finally:
        manager.stop()
        sim.stop()


def link(path: Path, target: str) -> None:
    tmp = path.with_suffix(".new")
    os.symlink(target, tmp)
    os.replace(tmp, path)


def test_hotplug_serial_display_offline_and_back(tmp_path: Path) -> None:
    """A udev-style stable symlink: unplug (node gone), replug (new pty, same name)."""
    profile = BUILTIN_DISPLAY_PROFILES["epson-dm-d"]
    stable = tmp_path / "ttyPOS-display"
    first = SerialDisplaySim(profile)
    first.start()
    link(stable, first.path)
    events = Events()
    manager = DeviceManager(
        emit=events, discovery=Discovery(usb_enabled=False, serial_globs=()), rescan_interval=0
    )
    display = build_display("display", f"serial://{stable}", profile)
    manager.add(display)
    with structlog.testing.capture_logs() as logs:
        manager.start()
        try:
            display.show(("Hallo", "Welt")).result(5)
            assert first.display.wait_for_lines(["Hallo", "Welt"])
            first.stop()
            stable.unlink()
            manager.hotplug("remove", str(stable))
            for _ in range(3):
                manager.rescan()
            assert wait_until(lambda: display.state is DeviceState.ERROR and not display.online)
            display.show(("while away", "")).result(5)  # kept, shown when back
            second = SerialDisplaySim(profile)
            second.start()
            link(stable, second.path)
            for _ in range(3):
                manager.rescan()
            assert wait_until(lambda: display.state is DeviceState.IDLE and display.online)
            assert second.display.wait_for_lines(["while away", ""])
            second.stop()
        finally:
            manager.stop()
    offline = [r for r in logs if r["event"] == "device_offline"]
    online = [r for r in logs if r["event"] == "device_online"]
    assert len(offline) == 1  # once each way, however many re-scans
    assert len(online) == 2  # start, and back after the replug
    assert events.status(display.device_id).count(StatusCode.OFFLINE) == 1


def test_usb_printer_unplug_replug_and_discovery() -> None:
    device = FakeUsbPrinter(serial="X5GF012345")
    other = FakeUsbPrinter(serial="OTHER1", port_numbers=(2,), address=7)
    backend = FakeUsbBackend(device, other)
    events = Events()
    manager = DeviceManager(
        emit=events,
        discovery=Discovery(usb_backend=backend, serial_globs=()),
        rescan_interval=0,
    )
    printer = build_printer(
        "printer",
        "usb://04b8:0e15?path=1-1.4",
        get_profile("epson-tm-t20"),
        usb_backend=backend,
        poll_interval=0.05,
        status_timeout=0.3,
    )
    manager.add(printer)
    outbox = OutboxPrinter(manager, "printer", 48)
    manager.start()
    try:
        assert wait_until(lambda: printer.state is DeviceState.IDLE)
        assert printer.device_id == "usb:04b8:0e15@1-1.4"
        outbox.print_document(sample_receipt())
        assert device.core.wait_received(MARKER)
        # the second printer is found but not configured: listed, not claimed
        found = [s for s in manager.snapshots() if not s.configured]
        assert [s.device_id for s in found] == ["usb:04b8:0e15:OTHER1"]
        assert found[0].state is DeviceState.CLOSED
        assert other.claimed == set()
        device.unplug()
        manager.rescan()
        assert wait_until(lambda: printer.state is DeviceState.ERROR and not printer.online)
        with pytest.raises(DeviceError) as err:
            outbox.print_document(sample_receipt())  # the outbox keeps the job
        assert err.value.code == "DEVICE_OFFLINE"
        device.plug()
        manager.rescan()
        assert wait_until(lambda: printer.state is DeviceState.IDLE and printer.online)
        device.core.clear()
        outbox.print_document(sample_receipt())
        assert device.core.wait_received(MARKER)
        assert events.status(printer.device_id).count(StatusCode.OFFLINE) == 1
    finally:
        manager.stop()


def test_serial_scanner_over_a_pty_rejects_noise() -> None:
    pty = PtyDevice()
    pty.start()
    events = Events()
    manager = DeviceManager(emit=events)
    scanner = build_scanner("scanner", pty.url(9600))
    assert isinstance(scanner, ScannerDevice)
    got: queue.Queue[Code] = queue.Queue()
    scanner.on_code = lambda device_id, code: got.put(code)
    manager.add(scanner)
    manager.start()
    try:
        assert wait_until(lambda: scanner.online)
        pty.write(b"40063813")
        pty.write(b"33931\r\n\x00\x01garbage\r\n4006381333932\r\n96385074\r\n")
        assert got.get(timeout=2) == Code("4006381333931", "EAN13")
        assert got.get(timeout=2) == Code("96385074", "EAN8")
        rejected = [e for e in events.items if isinstance(e, ScanRejected)]
        assert [e.reason for e in rejected] == ["CONTROL_CHARACTERS", "BAD_CHECK_DIGIT"]
        stats = scanner.snapshot().statistics
        assert (stats.scans, stats.scans_rejected) == (2, 2)
        pty.unplug()
        assert wait_until(lambda: scanner.state is DeviceState.ERROR, 3)
    finally:
        manager.stop()


def test_serial_scanner_takes_the_next_scan_after_an_overlong_line() -> None:
    with PtyDevice() as pty:
        manager = DeviceManager(emit=Events())
        scanner = build_scanner("scanner", pty.url(9600))
        got: queue.Queue[Code] = queue.Queue()
        scanner.on_code = lambda device_id, code: got.put(code)
        manager.add(scanner)
        manager.start()
        try:
            assert wait_until(lambda: scanner.online)
            pty.write(b"x" * 70)  # noise without a line end: TOO_LONG
            assert wait_until(lambda: scanner.snapshot().statistics.scans_rejected == 1)
            time.sleep(1.0)  # longer than the partial-code timeout
            pty.write(b"4006381333931\r\n")
            assert got.get(timeout=2) == Code("4006381333931", "EAN13")
        finally:
            manager.stop()


class InjectedKeys:
    """A HID scanner's key events fed by the test (evdev is not available here)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[list[tuple[int, int, int]]] = queue.Queue()
        self.grabbed = False

    def open(self, not_after: float | None = None) -> None:
        self.grabbed = True

    def read(self, timeout: float) -> list[tuple[int, int, int]]:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return []

    def close(self) -> None:
        self.grabbed = False

    def describe(self) -> str:
        return "injected keyboard"


def test_hid_scanner_with_a_german_layout() -> None:
    keys = InjectedKeys()
    manager = DeviceManager()
    scanner = build_scanner(
        "scanner", "evdev:///dev/input/by-id/usb-scanner-event-kbd?layout=de", keys=keys
    )
    got: queue.Queue[Code] = queue.Queue()
    scanner.on_code = lambda device_id, code: got.put(code)
    manager.add(scanner)
    manager.start()
    try:
        assert wait_until(lambda: keys.grabbed)
        assert scanner.device_id == "evdev:/dev/input/by-id/usb-scanner-event-kbd"
        keys.queue.put(key_events_for("ZY-4711", "de"))
        assert got.get(timeout=2) == Code("ZY-4711", "UNKNOWN")
    finally:
        manager.stop()
    assert not keys.grabbed


def test_display_device_is_a_display() -> None:
    assert DisplayDevice.device_class.value == "display"


def test_hid_scanner_unplugged_with_shift_down_scans_plainly_when_back() -> None:
    # an unplugged device never sends its key releases: the Shift held then must not
    # shift every scan after it is back ("4006..." read as "$))^...", a wrong code)
    keys = InjectedKeys()
    manager = DeviceManager()
    scanner = build_scanner("scanner", "evdev:///dev/input/by-id/usb-scanner-event-kbd", keys=keys)
    got: queue.Queue[Code] = queue.Queue()
    scanner.on_code = lambda device_id, code: got.put(code)
    manager.add(scanner)
    manager.start()
    try:
        assert wait_until(lambda: keys.grabbed)
        keys.queue.put([(EV_KEY, KEY_LEFTSHIFT, 1)])  # Shift down, then unplugged
        assert wait_until(keys.queue.empty)
        scanner.gone()
        assert wait_until(lambda: not scanner.online)
        scanner.back()
        assert wait_until(lambda: scanner.online)
        keys.queue.put(key_events_for("4006381333931"))
        assert got.get(timeout=2) == Code("4006381333931", "EAN13")
    finally:
        manager.stop()
