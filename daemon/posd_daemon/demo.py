"""``make demo``: a demo register on the embedded defaults.

Starts the real daemon (as systemd would: it waits for READY=1), runs a scripted sale
through ``posd-client`` (3 items, one scanned by barcode, cash with change), shows the
receipt the simulated printer printed, and stops the daemon cleanly with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from posd.client import PosdClient
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.devices.simulated import SEPARATOR

STATE = Path(os.environ.get("POSD_DEMO_STATE", ".state/demo")).resolve()


def start_daemon() -> tuple[subprocess.Popen[bytes], Path]:
    STATE.mkdir(parents=True, exist_ok=True)
    notify_dir = Path(tempfile.mkdtemp(prefix="posd-notify-"))
    notify_path = notify_dir / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(10.0)
    log = open(STATE / "daemon.log", "ab")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "posd_daemon.main", "--state-dir", str(STATE)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        while True:
            msg = sock.recv(4096).decode()
            if "READY=1" in msg:
                break
    except TimeoutError:
        proc.kill()
        sys.exit(f"demo: the daemon did not become ready; see {STATE / 'daemon.log'}")
    finally:
        sock.close()
    print(f"posd started (pid {proc.pid}) and READY in {time.perf_counter() - started:.2f} s")
    return proc, STATE / "posd.sock"


def scripted_sale(target: str) -> int:
    with PosdClient(target) as pos:
        me = pos.login("1", "1234").operator
        print(f"logged in as {me.name} ({me.role})")
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
        sale = pos.create_sale()
        print(f"sale {sale.sale_id} created")
        r = pos.add_line(sale.sale_id, code="4006381333931")
        print(f"  scanned 4006381333931 -> {r.sale.lines[-1].name}")
        r = pos.add_line(sale.sale_id, item_id="2002", quantity="2")
        print(f"  added 2 x {r.sale.lines[-1].name}")
        r = pos.add_line(sale.sale_id, item_id="3003", quantity="1.250")
        print(f"  added 1.250 kg {r.sale.lines[-1].name}")
        total = r.sale.total.amount_minor
        print(f"  total {total / 100:.2f} EUR; customer pays 50.00 in cash")
        paid = pos.add_payment(sale.sale_id, sale_pb2.PAYMENT_METHOD_CASH, 5000)
        print(f"  change {paid.sale.change.amount_minor / 100:.2f} EUR")
        posted = pos.post_sale(sale.sale_id)
        print(f"posted as receipt {posted.receipt_number}")
        deadline = time.monotonic() + 10
        while pos.status().pending_jobs and time.monotonic() < deadline:
            time.sleep(0.05)
        return posted.receipt_number


def last_receipt() -> str:
    text = (STATE / "printer.txt").read_text("utf-8")
    parts = [p for p in text.split(SEPARATOR + "\n") if p.strip()]
    return parts[-1] if parts else "(nothing printed)"


def main() -> int:
    proc, sock = start_daemon()
    try:
        scripted_sale(f"unix://{sock}")
        print("\n--- receipt printed by the simulated printer " + "-" * 20)
        print(last_receipt())
        print("-" * 64)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    print(f"posd stopped cleanly (exit code {code}); log: {STATE / 'daemon.log'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
