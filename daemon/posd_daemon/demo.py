"""``make demo``: a demo register with simulated hardware on real transports.

This process plays the hardware: an ESC/POS network printer (a TCP server answering
``DLE EOT`` status, with a cash drawer on its kick-out port), a 2x20 pole display and a
barcode scanner on pseudo-terminals (pty pairs, what the daemon opens as serial ports).
It starts the real daemon (as systemd would: it waits for READY=1) with a config file
pointing at them, scans a barcode into a sale through the scanner's pty, sells two more
items through ``posd-client``, pays in cash, and shows what the hardware received: the
display lines, the drawer kick and the printed receipt (decoded from the ESC/POS bytes,
TSE data and QR code included). SIGTERM then stops the daemon cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from posd.client import PosdClient
from posd.v1 import common_pb2, device_pb2

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES
from posd_daemon.devices.sim import (
    PtyDevice,
    SerialDisplaySim,
    TcpPrinterSimulator,
    escpos_to_text,
)
from posd_daemon.domain.money import format_minor

STATE = Path(os.environ.get("POSD_DEMO_STATE", ".state/demo")).resolve()
COLUMNS = 42


def write_config(printer: TcpPrinterSimulator, display: PtyDevice, scanner: PtyDevice) -> Path:
    path = STATE / "demo.toml"
    path.write_text(
        "\n".join(
            [
                "# written by posd_daemon.demo: the simulated hardware of this run",
                "[printer]",
                f'url = "{printer.url}"',
                'profile = "epson-tm-t88"',
                "status_poll_ms = 500",
                "[display]",
                f'url = "{display.url(9600)}"',
                'profile = "epson-dm-d"',
                "idle_after_seconds = 2",
                "[scanner]",
                f'url = "{scanner.url(9600)}"',
                "[devices]",
                "usb = false",
                "",
            ]
        ),
        "utf-8",
    )
    return path


#: how long the daemon may take to send READY=1 (it takes about a second)
READY_TIMEOUT_S = 10.0


def start_daemon(config: Path) -> tuple[subprocess.Popen[bytes], Path]:
    # the notify socket is needed until READY=1 only (the daemon ignores a notify
    # socket gone later), so its directory goes with this function: a run left one
    # behind in the temp dir each time
    # a unix socket path has at most 107 bytes: a long $TMPDIR falls back to /tmp
    parent = tempfile.gettempdir()
    if len(os.fsencode(parent)) > 60:
        parent = "/tmp"  # noqa: S108  (TemporaryDirectory: a random name, mode 0700)
    with tempfile.TemporaryDirectory(prefix="posd-notify-", dir=parent) as notify_dir:
        return _start_and_wait(config, Path(notify_dir) / "notify.sock")


def _start_and_wait(config: Path, notify_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    # short waits, so that a daemon that exits at once (a config error, the state dir
    # held by another posd) is said at once with its exit code, not after the timeout
    sock.settimeout(0.2)
    log = open(STATE / "daemon.log", "ab")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "posd_daemon.main",
            "--state-dir",
            str(STATE),
            "--config",
            str(config),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = started + READY_TIMEOUT_S
    try:
        while True:
            try:
                if "READY=1" in sock.recv(4096).decode():
                    break
            except TimeoutError:
                pass
            code = proc.poll()
            if code is not None:
                sys.exit(
                    f"demo: the daemon exited with code {code} before it was ready;"
                    f" see {STATE / 'daemon.log'}"
                )
            if time.perf_counter() > deadline:
                proc.kill()
                proc.wait()
                sys.exit(
                    f"demo: the daemon was not ready within {READY_TIMEOUT_S:.0f} s;"
                    f" see {STATE / 'daemon.log'}"
                )
    finally:
        sock.close()
        log.close()  # the child has its own descriptor
    print(f"posd started (pid {proc.pid}) and READY in {time.perf_counter() - started:.2f} s")
    return proc, STATE / "posd.sock"


class EventLog:
    """Follows SubscribeEvents in the background, like a UI would."""

    def __init__(self, pos: PosdClient) -> None:
        self.events: list[device_pb2.Event] = []
        self._stream = pos.subscribe_events()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for resp in self._stream:
                self.events.append(resp.event)
        except Exception:  # noqa: S110 - cancelled at the end of the demo
            pass

    def stop(self) -> None:
        self._stream.cancel()  # type: ignore[no-untyped-call]


def show_display(display: SerialDisplaySim, title: str) -> None:
    lines = display.display.lines
    print(f"  display ({title}):  |{lines[0]}|")
    print(f"  {' ' * (len(title) + 11)}  |{lines[1]}|")


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def scripted_sale(
    target: str, printer: TcpPrinterSimulator, display: SerialDisplaySim, scanner: PtyDevice
) -> int:
    with PosdClient(target) as pos:
        me = pos.login("1", "1234").operator
        pos.ensure_shift()  # a register sells only within an open shift
        print(f"logged in as {me.name} ({me.role})")
        events = EventLog(pos)
        for d in pos.list_devices():
            state = device_pb2.DeviceState.Name(d.state).removeprefix("DEVICE_STATE_").lower()
            print(f"  device {d.alias or d.device_id:<8} {state:<6} {d.description}")
        pos.upsert_item(
            "1001",
            "Bio-Vollkornbrot 750g",
            449,
            barcodes=("4006381333931",),
            vat_category=common_pb2.VAT_CATEGORY_REDUCED,
        )
        pos.upsert_item("2002", "Kaffee Crema 1kg", 1599)
        pos.upsert_item(
            "3003",
            "Äpfel Elstar",
            299,
            unit="kg",
            fractional=True,
            vat_category=common_pb2.VAT_CATEGORY_REDUCED,
        )
        show_display(display, "idle")
        sale = pos.create_sale()
        print(f"sale {sale.sale_id} created")
        scanner.write(b"4006381333931\r\n")  # the scanner on its serial port
        if not wait_for(lambda: len(pos.get_sale(sale.sale_id).lines) == 1):
            sys.exit("demo: the scanned code did not reach the sale; see the daemon log")
        print(f"  scanned 4006381333931 -> {pos.get_sale(sale.sale_id).lines[0].name}")
        wait_for(lambda: "Bio" in display.display.lines[0], 2.0)
        show_display(display, "scan")
        r = pos.add_line(sale.sale_id, item_id="2002", quantity="2")
        print(f"  added 2 x {r.sale.lines[-1].name}")
        r = pos.add_line(sale.sale_id, item_id="3003", quantity="1.250")
        print(f"  added 1.250 kg {r.sale.lines[-1].name}")
        wait_for(lambda: "Äpfel" in display.display.lines[0], 2.0)
        show_display(display, "line")
        total = r.sale.total.amount_minor
        print(f"  total {format_minor(total, 'EUR')} EUR; customer pays 50.00 in cash")
        paid = pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 5000)
        print(f"  change {format_minor(paid.sale.change.amount_minor, 'EUR')} EUR")
        posted = pos.post_sale(sale.sale_id)
        print(f"posted as receipt {posted.receipt_number}")
        deadline = time.monotonic() + 10
        while pos.status().pending_jobs and time.monotonic() < deadline:
            time.sleep(0.05)
        wait_for(lambda: "RÜCKGELD" in display.display.lines[1], 2.0)
        show_display(display, "paid")
        kicks = printer.core.drawer_kicks
        kick = printer.received.rfind(b"\x1bp")
        raw = printer.received[kick : kick + 5].hex(" ") if kick >= 0 else "-"
        print(f"  drawer: kicked {kicks}x through the printer (ESC p: {raw}), after the commit")
        wait_for(lambda: "Willkommen" in display.display.lines[0], 4.0)
        show_display(display, "idle")
        time.sleep(0.1)
        events.stop()
        counts = Counter(e.WhichOneof("payload") for e in events.events)
        print("  events streamed to the UI: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return posted.receipt_number


def last_receipt(printer: TcpPrinterSimulator) -> str:
    lines = escpos_to_text(printer.received, columns=COLUMNS, show_cuts=True)
    jobs: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("-" * 8 + " cut"):
            jobs.append([])
        else:
            jobs[-1].append(line)
    printed = [job for job in jobs if any(x.strip() for x in job)]
    return "\n".join(printed[-1]) if printed else "(nothing printed)"


def main() -> int:
    STATE.mkdir(parents=True, exist_ok=True)
    profile = BUILTIN_DISPLAY_PROFILES["epson-dm-d"]
    printer, display, scanner = TcpPrinterSimulator("ok"), SerialDisplaySim(profile), PtyDevice()
    printer.start()
    display.start()
    scanner.start()
    try:
        print(
            f"simulated hardware: printer {printer.url}, display {display.path}, "
            f"scanner {scanner.path}"
        )
        proc, sock = start_daemon(write_config(printer, display, scanner))
        try:
            scripted_sale(f"unix://{sock}", printer, display, scanner)
            print("\n--- receipt printed by the simulated printer (ESC/POS decoded) " + "-" * 4)
            print(last_receipt(printer))
            print("-" * 70)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
    finally:
        for device in (scanner, display):
            device.stop()
        printer.stop()
    print(f"posd stopped cleanly (exit code {code}); log: {STATE / 'daemon.log'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
