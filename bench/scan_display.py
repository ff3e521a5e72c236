"""Scan-to-display latency and event fan-out latency of a running posd.

* scan -> display: bytes of a barcode written into the scanner's pty, until the pole
  display's pty received the line with the item (a sale is open, so every scan goes
  through AddLine: one SQLite transaction with fsync, the sale event, the display
  service, the display's device thread). Target p99 <= 20 ms.
* fan-out: 50 SubscribeEvents streams; the time from an event's publication (its
  event_time) until each subscriber has it. Target p99 <= 20 ms.

The daemon runs as its own process (as in production), on the embedded defaults plus a
config file pointing at the ptys this script creates. Prints a table and JSON.

    .venv/bin/python bench/scan_display.py [--scans 200] [--events 100] [--subscribers 50]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from posd.client import PosdClient

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES
from posd_daemon.devices.escpos.codec import ean13_check_digit
from posd_daemon.devices.sim import PoleDisplayEmulator, PtyDevice


class TimedDisplay(PtyDevice):
    """A pole display on a pty that notes when a wanted text appears."""

    def __init__(self) -> None:
        self.emulator = PoleDisplayEmulator(BUILTIN_DISPLAY_PROFILES["epson-dm-d"])
        self.wanted = ""
        self.seen_at = 0.0
        self.event = threading.Event()
        super().__init__(self._feed)

    def _feed(self, data: bytes) -> None:
        self.emulator.feed(data)
        if self.wanted and self.wanted in self.emulator.lines[0]:
            self.seen_at = time.perf_counter()
            self.wanted = ""
            self.event.set()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def start_daemon(state: Path, config: Path) -> subprocess.Popen[bytes]:
    notify = state / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(20)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify))
    log = open(state / "daemon.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "posd_daemon.main",
            "--state-dir",
            str(state),
            "--config",
            str(config),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
    finally:
        sock.close()
    return proc


def ean(i: int) -> str:
    body = f"400{i:09d}"
    return body + str(ean13_check_digit(body))


def bench_scans(pos: PosdClient, scanner: PtyDevice, display: TimedDisplay, n: int) -> list[float]:
    for i in range(n):
        pos.upsert_item(f"B{i}", f"Artikel {i:04d}", 100 + i, barcodes=(ean(i),))
    sale = pos.create_sale()
    lat: list[float] = []
    for i in range(n + 10):
        k = i % n
        display.event.clear()
        display.wanted = f"Artikel {k:04d}"
        t0 = time.perf_counter()
        scanner.write(ean(k).encode() + b"\r\n")
        if not display.event.wait(5):
            raise SystemExit(f"scan {i}: the display never showed {display.wanted!r}")
        if i >= 10:  # warm-up
            lat.append((display.seen_at - t0) * 1000)
        if k == n - 1 and i < n + 9:
            pos.cancel_sale(sale.sale_id)
            sale = pos.create_sale()
        time.sleep(0.005)
    pos.cancel_sale(sale.sale_id)
    return lat


def bench_fanout(target: str, subscribers: int, events: int) -> list[float]:
    clients = [PosdClient(target) for _ in range(5)]
    for c in clients:
        c.login("1", "1234")
    lat: list[float] = []
    lock = threading.Lock()
    counts = [0] * subscribers
    ready = threading.Barrier(subscribers + 1)
    calls = []

    def run(idx: int) -> None:
        call = clients[idx % len(clients)].subscribe_events(types=(7,))  # display content
        calls.append(call)
        ready.wait()
        try:
            for resp in call:
                now = time.time()
                e = resp.event
                sent = e.event_time.seconds + e.event_time.nanos / 1e9
                if e.display_content.lines and e.display_content.lines[0].startswith("fan "):
                    with lock:
                        lat.append((now - sent) * 1000)
                    counts[idx] += 1
                    if counts[idx] >= events:
                        return
        except Exception:
            pass

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(subscribers)]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(0.5)  # every stream is subscribed
    publisher = clients[0]
    for i in range(events):
        publisher.show_on_display(f"fan {i}", "")
        time.sleep(0.01)
    for t in threads:
        t.join(20)
    for c in clients:
        c.close()
    missing = subscribers * events - len(lat)
    if missing:
        raise SystemExit(f"fan-out: {missing} events never arrived")
    return lat


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scans", type=int, default=200)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--subscribers", type=int, default=50)
    args = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="posd-bench-"))
    scanner = PtyDevice()
    display = TimedDisplay()
    scanner.start()
    display.start()
    config = state / "bench.toml"
    config.write_text(
        "\n".join(
            [
                "[display]",
                f'url = "{display.url(115200)}"',
                "[scanner]",
                f'url = "{scanner.url(115200)}"',
                "max_scans_per_second = 1000",
                "[devices]",
                "usb = false",
                "[metrics]",
                'listen = ""',
                "[log]",
                'level = "warning"',
                "",
            ]
        ),
        "utf-8",
    )
    proc = start_daemon(state, config)
    try:
        target = f"unix://{state / 'posd.sock'}"
        with PosdClient(target) as pos:
            pos.login("1", "1234")
            pos.ensure_shift()
            scan_lat = bench_scans(pos, scanner, display, args.scans)
        fan_lat = bench_fanout(target, args.subscribers, args.events)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        scanner.stop()
        display.stop()
    results = {
        "scan_to_display_ms": {
            "n": len(scan_lat),
            "p50": round(pct(scan_lat, 50), 3),
            "p99": round(pct(scan_lat, 99), 3),
            "max": round(max(scan_lat), 3),
            "mean": round(statistics.mean(scan_lat), 3),
            "target_p99": 20.0,
        },
        "event_fanout_ms": {
            "subscribers": args.subscribers,
            "events": args.events,
            "n": len(fan_lat),
            "p50": round(pct(fan_lat, 50), 3),
            "p99": round(pct(fan_lat, 99), 3),
            "max": round(max(fan_lat), 3),
            "mean": round(statistics.mean(fan_lat), 3),
            "target_p99": 20.0,
        },
    }
    print(f"{'measurement':<36} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  target")
    for name, r in (
        ("scan -> display (sale open)", results["scan_to_display_ms"]),
        (f"event fan-out ({args.subscribers} subscribers)", results["event_fanout_ms"]),
    ):
        verdict = "ok" if r["p99"] <= r["target_p99"] else "MISSED"
        print(
            f"{name:<36} {r['n']:>6} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['max']:>8.2f}"
            f"  p99 <= {r['target_p99']:g} ms: {verdict}"
        )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
