"""DeviceService over the real gRPC server, with the embedded default's sim:// devices
(the ESC/POS printer simulator behind EscPosPrinter, the emulated pole display, the
scanner FIFO) and posctl's device commands."""

from __future__ import annotations

import io
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, device_pb2, sale_pb2

from posd_daemon.cli import posctl
from posd_daemon.devices.manager import PrinterDevice
from posd_daemon.devices.sim import TcpPrinterSimulator
from posd_daemon.devices.simulated import PaperTapeTransport
from posd_daemon.ops.config import ConfigError, load
from tests.conftest import Running, start_in_thread

CASH = common_pb2.PAYMENT_METHOD_CASH


def wait_for(cond: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


class Stream:
    """Collects SubscribeEvents responses on a thread."""

    def __init__(self, pos: PosdClient, **kwargs: object) -> None:
        self.responses: list[device_pb2.SubscribeEventsResponse] = []
        self.call = pos.subscribe_events(**kwargs)  # type: ignore[arg-type]
        self.error: grpc.RpcError | None = None
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for r in self.call:
                self.responses.append(r)
        except grpc.RpcError as exc:
            self.error = exc

    @property
    def events(self) -> list[device_pb2.Event]:
        return [r.event for r in self.responses]

    def of(self, kind: str) -> list[device_pb2.Event]:
        return [e for e in self.events if e.WhichOneof("payload") == kind]

    def close(self) -> None:
        self.call.cancel()  # type: ignore[attr-defined]


@pytest.fixture
def stream_factory(pos: PosdClient) -> Iterator[Callable[..., Stream]]:
    streams: list[Stream] = []

    def make(**kwargs: object) -> Stream:
        s = Stream(pos, **kwargs)
        streams.append(s)
        time.sleep(0.05)  # subscribed before the test acts
        return s

    yield make
    for s in streams:
        s.close()


def seed(pos: PosdClient) -> None:
    pos.upsert_item("1001", "Bio-Brot", 449, barcodes=("4006381333931",), vat_category=2)
    pos.upsert_item("2002", "Kaffee Crema", 1599)


def scan(running: Running, data: bytes) -> None:
    fd = os.open(running.config.state_dir / "scanner.fifo", os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def printed(running: Running) -> str:
    out = running.config.state_dir / "printer.txt"
    return out.read_text("utf-8") if out.exists() else ""


def sim_core(running: Running) -> object:
    assert running.daemon.devices is not None
    printer = running.daemon.devices.printer
    assert isinstance(printer, PrinterDevice)
    tape = printer.printer.transport.inner  # type: ignore[attr-defined]
    assert isinstance(tape, PaperTapeTransport)
    return tape.core


def test_devices_are_listed_with_stable_ids_and_aliases(pos: PosdClient) -> None:
    devices = {d.alias: d for d in pos.list_devices()}
    assert set(devices) >= {"printer", "drawer", "display", "scanner", "tse"}
    assert devices["printer"].device_id == "sim:printer"
    assert devices["drawer"].device_id == "sim:printer/drawer"
    assert devices["printer"].state == device_pb2.DEVICE_STATE_IDLE
    assert devices["printer"].device_class == device_pb2.DEVICE_CLASS_PRINTER
    assert devices["tse"].device_class == device_pb2.DEVICE_CLASS_TSE
    printer = pos.get_device("sim:printer")  # by stable id, too
    flags = {f.name: f.value for f in printer.status_flags}
    assert flags["online"] is True
    assert flags["paper_end"] is False
    assert pos.get_device("display").display_lines == ["Willkommen!", "posd Demo-Laden"]
    with pytest.raises(PosdError) as err:
        pos.get_device("nope")
    assert err.value.reason == "DEVICE_NOT_FOUND"


def test_sale_events_drive_the_display_and_resume_works(
    running: Running, pos: PosdClient, stream_factory: Callable[..., Stream]
) -> None:
    seed(pos)
    events = stream_factory()
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, code="4006381333931")
    pos.add_line(sale.sale_id, item_id="2002", quantity="2")
    pos.add_payment(sale.sale_id, CASH, 5000)
    posted = pos.post_sale(sale.sale_id)
    wait_for(lambda: any(e.display_content.mode == "change" for e in events.of("display_content")))
    kinds = [e.sale.kind for e in events.of("sale")]
    assert kinds == ["created", "line_added", "line_added", "payment_added", "posted"]
    assert events.of("sale")[1].sale.line_name == "Bio-Brot"
    assert events.of("sale")[-1].sale.receipt_number == posted.receipt_number
    seqs = [e.sequence for e in events.events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    shown = [tuple(e.display_content.lines) for e in events.of("display_content")]
    assert ("Bio-Brot      4,49 €", "SUMME         4,49 €") in shown
    assert ("SUMME        36,47 €", "RÜCKGELD     13,53 €") in shown
    content = events.of("display_content")[-1].display_content
    assert content.mode == "change"
    assert content.change.amount_minor == 1353
    mirror = running.config.state_dir / "display.txt"
    wait_for(lambda: "RÜCKGELD" in mirror.read_text("utf-8"))
    # the drawer kick after the committed cash payment is an event too
    wait_for(
        lambda: any(
            e.output_complete.operation == "drawer_kick" for e in events.of("output_complete")
        )
    )
    # a client that lost the stream resumes after the last sequence it saw
    middle = events.events[2]
    resumed = stream_factory(after_sequence=middle.sequence, boot_id=middle.boot_id)
    wait_for(
        lambda: (
            len(resumed.events) >= len([e for e in events.events if e.sequence > middle.sequence])
        )
    )
    assert resumed.events[0].sequence == middle.sequence + 1
    assert resumed.responses[0].lost_events == 0
    only_sales = stream_factory(types=(device_pb2.EVENT_TYPE_SALE,), after_sequence=0)
    wait_for(lambda: len(only_sales.events) >= 5)
    assert {e.type for e in only_sales.events} == {device_pb2.EVENT_TYPE_SALE}


def test_scans_go_to_the_active_sale_or_to_the_ui(
    running: Running, pos: PosdClient, stream_factory: Callable[..., Stream]
) -> None:
    seed(pos)
    events = stream_factory()
    scan(running, b"4006381333931\r\n")  # no sale open: for the UI
    wait_for(lambda: events.of("scan"))
    assert events.of("scan")[0].scan.route == device_pb2.SCAN_ROUTE_UI
    sale = pos.create_sale()
    scan(running, b"4006381333931\r\n")
    wait_for(lambda: len(pos.get_sale(sale.sale_id).lines) == 1)
    line = pos.get_sale(sale.sale_id).lines[0]
    assert (line.item_id, line.scanned_code) == ("1001", "4006381333931")
    wait_for(lambda: len(events.of("scan")) == 2)
    routed = events.of("scan")[1].scan
    assert (routed.route, routed.sale_id, routed.symbology) == (
        device_pb2.SCAN_ROUTE_SALE,
        sale.sale_id,
        "EAN13",
    )
    # noise and unknown codes change nothing
    scan(running, b"\x1b\x00garbage\r\n4006381333932\r\n0000000000000\r\n")
    wait_for(lambda: len(events.of("scan_rejected")) == 2 and len(events.of("scan")) == 3)
    assert [e.scan_rejected.reason for e in events.of("scan_rejected")] == [
        "CONTROL_CHARACTERS",
        "BAD_CHECK_DIGIT",
    ]
    assert events.of("scan")[2].scan.error_reason == "UNKNOWN_CODE"
    assert len(pos.get_sale(sale.sale_id).lines) == 1
    # a UI that handles scans itself gets them as events; the sale is left alone
    ui = stream_factory(handle_scans=True)
    scan(running, b"4006381333931\r\n")
    wait_for(lambda: ui.of("scan"))
    assert ui.of("scan")[0].scan.route == device_pb2.SCAN_ROUTE_UI
    ui.close()
    time.sleep(0.1)
    scan(running, b"4006381333931\r\n")
    wait_for(lambda: len(pos.get_sale(sale.sale_id).lines) == 2)
    assert pos.get_device("scanner").statistics.scans_rejected == 2


def park(pos: PosdClient, sale_id: str) -> sale_pb2.Sale:
    req = sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sale_id)
    return pos.call(pos.sales.ParkSale, req).sale


def resume(pos: PosdClient, code: str) -> sale_pb2.Sale:
    req = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
    return pos.call(pos.sales.ResumeSale, req).sale


def test_a_parked_sale_leaves_the_scanner_and_the_display(
    running: Running, pos: PosdClient, stream_factory: Callable[..., Stream]
) -> None:
    seed(pos)
    events = stream_factory()
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, code="4006381333931")
    wait_for(lambda: pos.get_device("display").display_lines[0].startswith("Bio-Brot"))
    parked = park(pos, sale.sale_id)
    # the display goes idle: the next customer must not see the parked total
    wait_for(lambda: events.of("display_content")[-1].display_content.mode == "idle")
    idle = ["Willkommen!", "posd Demo-Laden"]
    wait_for(lambda: list(pos.get_device("display").display_lines) == idle)
    # the next customer's first scan goes to the UI (no sale open), not to the parked sale
    scan(running, b"4006381333931\r\n")
    wait_for(lambda: events.of("scan"))
    routed = events.of("scan")[0].scan
    assert (routed.route, routed.sale_id, routed.error_reason) == (
        device_pb2.SCAN_ROUTE_UI,
        "",
        "",
    )
    assert len(pos.get_sale(sale.sale_id).lines) == 1
    # resumed: its total is shown again and scans go to it
    resume(pos, parked.parking_code)
    wait_for(lambda: events.of("display_content")[-1].display_content.mode == "total")
    assert list(pos.get_device("display").display_lines)[-1] == "SUMME         4,49 €"
    scan(running, b"4006381333931\r\n")
    wait_for(lambda: len(pos.get_sale(sale.sale_id).lines) == 2)
    wait_for(lambda: len(events.of("scan")) == 2)
    assert events.of("scan")[1].scan.route == device_pb2.SCAN_ROUTE_SALE


def test_no_sale_drawer_open_is_permission_checked_and_journaled(
    running: Running, pos: PosdClient
) -> None:
    with running.client("2", "0000") as cashier, pytest.raises(PosdError) as err:
        cashier.open_drawer("change for the bakery")
    assert err.value.reason == "PERMISSION_DENIED"
    core = sim_core(running)
    r = pos.open_drawer("change for the bakery")
    assert r.kicked
    assert core.drawer_kicks == 1  # type: ignore[attr-defined]
    with sqlite3.connect(running.config.database_path) as conn:
        rows = conn.execute(
            "SELECT kind, payload FROM journal WHERE kind <> 'SHIFT_OPENED'"
        ).fetchall()
    assert len(rows) == 1
    assert rows[0][0] == "DRAWER_OPENED_NO_SALE"
    assert "change for the bakery" in rows[0][1]
    assert pos.get_device("drawer").statistics.drawer_openings == 1


def test_reprint_is_a_marked_copy_and_survives_a_printer_fault(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="2002")
    with pytest.raises(PosdError) as err:
        pos.reprint_receipt(sale.sale_id)
    assert err.value.reason == "SALE_NOT_POSTED"
    pos.add_payment(sale.sale_id, CASH, 2000)
    pos.post_sale(sale.sale_id)
    wait_for(lambda: "Beleg-Nr. 1" in printed(running) and pos.status().pending_jobs == 0)
    fault = running.config.state_dir / "printer.txt.fault"
    fault.write_text("paper_end", "utf-8")
    wait_for(lambda: pos.get_device("printer").state == device_pb2.DEVICE_STATE_ERROR)
    r = pos.reprint_receipt(sale.sale_id)
    assert r.receipt_number == 1
    wait_for(lambda: any(j.job_id == r.job_id and j.attempts > 0 for j in pos.print_jobs()))
    job = next(j for j in pos.print_jobs() if j.job_id == r.job_id)
    assert job.state == 1  # pending, visible in posctl print queue
    assert "PAPER_END" in job.last_error
    assert "KOPIE" not in printed(running)
    fault.unlink()
    wait_for(lambda: "*** KOPIE ***" in printed(running), 10)
    # the job is marked done right after the printer took it (not in the same instant)
    wait_for(lambda: pos.status().pending_jobs == 0)
    assert printed(running).count("Beleg-Nr. 1 ") == 2


def test_a_receipt_cut_short_by_paper_end_stays_queued_and_prints_again_as_a_copy(
    tmp_path: Path,
) -> None:
    with TcpPrinterSimulator() as sim:
        running = start_in_thread(tmp_path / "state", {"printer": {"url": sim.url}})
        try:
            with running.client() as pos:
                seed(pos)
                # the roll ends while the receipt is being printed (its status was fine)
                sim.core.fault_when_received(b"Kaffee Crema", "paper_end")
                sale = pos.create_sale()
                pos.add_line(sale.sale_id, item_id="2002")
                pos.add_payment(sale.sale_id, CASH, 2000)
                pos.post_sale(sale.sale_id)

                def receipt_job() -> object:
                    # (the drawer's job, when it came after the paper ended, failed too)
                    jobs = pos.print_jobs()
                    return next((j for j in jobs if j.kind == "print" and j.attempts > 0), None)

                wait_for(receipt_job)
                job = receipt_job()
                assert job is not None
                assert job.state == 1  # pending, visible in posctl print queue
                assert "PAPER_END" in job.last_error
                assert "partly printed" in job.last_error
                printed_first = "\n".join(sim.core.text_lines(42))
                assert "Kaffee Crema" in printed_first
                assert "KOPIE" not in printed_first

                sim.set_state("ok")  # new roll
                wait_for(lambda: pos.status().pending_jobs == 0, 10)
                lines = sim.core.text_lines(42)
                assert "*** KOPIE ***" in [line.strip() for line in lines]
                assert sum("Beleg-Nr. 1 " in line for line in lines) == 2
        finally:
            running.stop()


def test_sale_cannot_start_while_the_drawer_is_open(tmp_path: Path) -> None:
    r = start_in_thread(
        tmp_path / "state",
        {"drawer": {"block_sale_while_open": True}, "printer": {"status_poll_ms": 50}},
    )
    try:
        with r.client() as pos:
            assert pos.open_drawer("float").kicked
            wait_for(lambda: pos.get_device("drawer").status_flags[0].value)
            with pytest.raises(PosdError) as err:
                pos.create_sale()
            assert err.value.reason == "DRAWER_OPEN"
            sim_core(r).close_drawer()  # type: ignore[attr-defined]
            wait_for(lambda: not pos.get_device("drawer").status_flags[0].value)
            assert pos.create_sale().state == sale_pb2.SALE_STATE_OPEN
    finally:
        r.stop()


def test_health_checks_test_page_and_display(
    running: Running, pos: PosdClient, stream_factory: Callable[..., Stream]
) -> None:
    with running.client("2", "0000") as cashier:
        internal = cashier.check_health("printer")
        assert internal.status == device_pb2.HEALTH_STATUS_OK
        with pytest.raises(PosdError) as err:
            cashier.check_health("printer", device_pb2.HEALTH_LEVEL_EXTERNAL)
        assert err.value.reason == "PERMISSION_DENIED"
    check = pos.check_health("display", device_pb2.HEALTH_LEVEL_INTERACTIVE)
    assert check.status == device_pb2.HEALTH_STATUS_PENDING_CONFIRMATION
    assert pos.get_device("display").display_lines == [
        "posd Test ÄÖÜ äöü ß",
        "€ 1234,56 0123456789",
    ]
    final = pos.confirm_health_check(check.check_id, True, "all visible")
    assert final.status == device_pb2.HEALTH_STATUS_OK
    page = pos.print_test_page()
    assert page.status == device_pb2.HEALTH_STATUS_OK
    wait_for(lambda: "posd TEST PAGE" in printed(running))
    assert "Umlaute: ÄÖÜ äöü ß  Euro: €" in printed(running)
    # a scanner's interactive check waits for a scan, which does not go to a sale
    done: list[device_pb2.HealthCheck] = []
    t = threading.Thread(
        target=lambda: done.append(
            pos.check_health("scanner", device_pb2.HEALTH_LEVEL_INTERACTIVE, timeout_seconds=5)
        )
    )
    t.start()
    time.sleep(0.2)
    scan(running, b"96385074\r\n")
    t.join(10)
    assert done[0].scanned_code == "96385074"
    assert done[0].status == device_pb2.HEALTH_STATUS_PENDING_CONFIRMATION
    assert pos.show_on_display("Kasse geschlossen", "Bitte nebenan") == [
        "Kasse geschlossen",
        "Bitte nebenan",
    ]
    assert pos.get_device("display").display_lines == ["Kasse geschlossen", "Bitte nebenan"]
    with pytest.raises(PosdError) as err:
        pos.show_on_display("x" * 41)
    assert err.value.reason == "INVALID_ARGUMENT"
    with pytest.raises(PosdError) as err:
        pos.confirm_health_check("unknown", True)
    assert err.value.reason == "HEALTH_CHECK_NOT_FOUND"


def test_monitor_shows_traffic(running: Running, pos: PosdClient) -> None:
    chunks: list[device_pb2.MonitorDeviceResponse] = []
    call = pos.monitor_device("printer")

    def read() -> None:
        try:
            for c in call:
                chunks.append(c)
        except grpc.RpcError:
            pass

    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.1)
    pos.print_test_page()
    wait_for(lambda: any(b"posd TEST PAGE" in c.data for c in chunks))
    assert any(c.direction == device_pb2.TRAFFIC_DIRECTION_RX for c in chunks)  # status bytes
    call.cancel()  # type: ignore[attr-defined]


def run_posctl(
    running: Running, *argv: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    code = posctl.main(
        ["--state-dir", str(running.config.state_dir), "--operator", "1", "--pin", "1234", *argv]
    )
    monkeypatch.undo()
    return code, out.getvalue()


def test_posctl_device_commands(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run_posctl(running, "devices", monkeypatch=monkeypatch)
    assert code == 0
    assert "sim:printer" in out
    assert "idle" in out
    code, out = run_posctl(running, "device", "status", "printer", monkeypatch=monkeypatch)
    assert code == 0
    assert "paper_end" in out
    assert "statistics:" in out
    code, out = run_posctl(running, "test", "display", stdin="y\n", monkeypatch=monkeypatch)
    assert code == 0
    assert "display test passed" in out
    code, out = run_posctl(running, "test", "print", stdin="n\n", monkeypatch=monkeypatch)
    assert code == 1
    assert "print test FAILED" in out
    code, out = run_posctl(
        running, "--json", "watch", "--after", "0", "--count", "3", monkeypatch=monkeypatch
    )
    assert code == 0
    assert out.count('"sequence"') == 3
    code, out = run_posctl(running, "drawer", "open", "--reason", "test", monkeypatch=monkeypatch)
    assert code == 0
    assert "drawer opened" in out


def test_posctl_says_when_the_daemon_is_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = posctl.main(["--state-dir", str(tmp_path), "test", "print"])
    assert code == posctl.EXIT_NOT_RUNNING
    err = capsys.readouterr().err
    assert "posd is not running" in err
    assert "posctl test print --direct" in err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"printer": {"url": "lpt://1"}}, "printer.url: 'lpt://1': use one of"),
        ({"printer": {"url": "usb://04b8"}}, "printer.url: bad device URL"),
        ({"printer": {"profile": "tm-x"}}, "printer.profile: unknown printer profile"),
        ({"drawer": {"pin": 3}}, "drawer.pin: 2 or 5"),
        ({"display": {"profile": "vfd"}}, "display.profile: one of cd5220, epson-dm-d"),
        ({"printer": {"code_page": "cp1250"}}, "printer.code_page: empty (the profile's) or one"),
        ({"display": {"code_page": "latin2"}}, "display.code_page: empty (the profile's) or one"),
        ({"scanner": {"layout": "fr"}}, "scanner.layout: one of de, us"),
        ({"receipt": {"start_codes": "1b 70 00 32 64"}}, "receipt.start_codes: contains ESC p"),
        ({"devices": {"aliases": {"x": 1}}}, "devices.aliases.x: must be a string"),
    ],
)
def test_device_config_is_validated(
    tmp_path: Path, override: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, {"state": {"dir": str(tmp_path)}, **override})
    assert message in str(err.value)
