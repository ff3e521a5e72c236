"""Pay-to-receipt latency of the real posd daemon with the software TSE, against its floor.

    .venv/bin/python bench/pay_latency.py [--sales 200] [--dir /var/tmp]

Starts ``posd`` in a temporary state directory as systemd would (``NOTIFY_SOCKET``, wait
for READY=1; default config: the software TSE in ``<state>/tse``, printer and display
writing to ``/dev/null`` through their real drivers). Over its unix socket it prepares N
sales (CreateSale, 5 x AddLine, a cash payment), waits 50 ms after the payment so the TSE
transaction the first line started in the background is done, and times PostSale from
the call to the acknowledged answer: the pay-to-receipt latency (TSE finish signature,
the post's commit, the gRPC round trip).

In the SAME run, sale by sale, it measures the floor a post cannot beat:

* one software-TSE finish signature: a ``SoftwareTse`` of its own (temp dir on the same
  filesystem), a transaction started untimed, then ``finish_transaction`` timed with the
  Kassenbeleg-V1 processData the daemon just signed for the sale (this includes the
  TSE's own durable counter commit);
* one fsync'd SQLite commit (WAL, ``synchronous=FULL``, one small insert) in a file on the
  same filesystem as the daemon's database;
* one gRPC round trip: the standard ``grpc.health.v1.Health/Check`` on the same channel.

The floor's three steps run back to back after the same 50 ms of idleness as the post:
the post reaches a daemon that has been idle (as a register is while the customer pays),
and waking an idle process costs the round trip as much again on a small VM. A round
trip to the daemon right after other work, which does not pay that wake-up, is printed
too ("a round trip when not idle") but is not part of the floor.

    ratio = mean(pay-to-receipt) / mean(floor)        target <= 1.5

Prints a table and one JSON line; writes the JSON to bench/results/pay_latency.json.
A benchmark prints figures; it is not a test. Self-contained: bench/ does not import
tests/ (the starter below follows bench/sale_latency.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from benchlib import CommitFloor, Daemon, TseFloor, run_and_report, stats
from grpc_health.v1 import health_pb2, health_pb2_grpc
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2
from prometheus_client.parser import text_string_to_metric_families

from posd_daemon.fiscal import process_data as pd

RESULTS = Path(__file__).resolve().parent / "results" / "pay_latency.json"

TARGET_RATIO = 1.5
LINES_PER_SALE = 5
SETTLE_S = 0.05  # after the payment: the background TSE start is done by then

ITEMS = [
    ("brot", "Roggenbrot", 349, "4000000000013"),
    ("milch", "Vollmilch 1 l", 119, "4000000000020"),
    ("kaffee", "Kaffee 500 g", 799, "4000000000037"),
    ("apfel", "Äpfel lose", 249, "4000000000044"),
    ("wein", "Rotwein 0,75 l", 1299, "4000000000051"),
]

# The embedded defaults (software TSE) plus devices writing to /dev/null through the real
# ESC/POS printer and pole display drivers, as in bench/sale_latency.py.
CONFIG = """\
[metrics]
listen = "127.0.0.1:0"

[printer]
url = "file:///dev/null"

[display]
url = "file:///dev/null"

[tse]
backend = "software"

[log]
format = "json"
"""


# -- a small systemd-style starter (as in bench/sale_latency.py) ----------------------------------


# -- the floor ------------------------------------------------------------------------------------


# -- measuring -----------------------------------------------------------------------------------


def ensure_shift(pos: PosdClient) -> None:
    """A register sells only within an open shift: open one with an empty float."""
    try:
        pos.open_shift([])
    except PosdError as exc:
        if exc.reason != "SHIFT_ALREADY_OPEN":
            raise


def prepare_sale(pos: PosdClient, n: int) -> str:
    """CreateSale, 5 lines, one cash payment (rounded up: with change most of the time)."""
    sale = pos.create_sale()
    total = 0
    for i in range(LINES_PER_SALE):
        resp = pos.add_line(sale.sale_id, item_id=ITEMS[(n + i) % len(ITEMS)][0])
        total = resp.sale.total.amount_minor
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, (total // 500 + 1) * 500)
    return sale.sale_id


#: In-daemon histograms (sum, count) read from the metrics endpoint: where the time goes.
INSIDE = {
    "tse_finish": ("posd_tse_operation_duration_seconds", {"operation": "finish"}),
    "post_call_to_commit": ("posd_post_duration_seconds", {}),
    "rpc_PostSale": ("posd_rpc_duration_seconds", {"method": "PostSale"}),
}


def scrape(port: int) -> dict[str, tuple[float, float]]:
    """(sum, count) of each :data:`INSIDE` histogram; empty without a metrics port."""
    if not port:
        return {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode("utf-8")
    out: dict[str, tuple[float, float]] = {}
    for family in text_string_to_metric_families(text):
        for key, (name, labels) in INSIDE.items():
            if family.name != name:
                continue
            total = count = 0.0
            for sample in family.samples:
                if any(sample.labels.get(k) != v for k, v in labels.items()):
                    continue
                if sample.name == name + "_sum":
                    total += sample.value
                elif sample.name == name + "_count":
                    count += sample.value
            out[key] = (total, count)
    return out


def inside_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Mean milliseconds per call between two scrapes."""
    out = {}
    for key, (total, count) in after.items():
        t0, c0 = before.get(key, (0.0, 0.0))
        if count > c0:
            out[key] = round((total - t0) / (count - c0) * 1e3, 3)
    return out


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    daemon = Daemon(work / "state", config=CONFIG)
    daemon.start()
    try:
        pos = PosdClient(f"unix://{daemon.socket_path}", retries=0)
        health = health_pb2_grpc.HealthStub(pos.channel)
        check = health_pb2.HealthCheckRequest(service="")
        pos.login("1", "1234")
        ensure_shift(pos)
        for item_id, name, price, code in ITEMS:
            pos.upsert_item(item_id, name, price, barcodes=(code,))
        info = pos.tse_info()
        # the floor's files live next to the daemon's state: the same filesystem
        floor_db = CommitFloor(work / "floor.sqlite3")
        floor_tse = TseFloor(work / "floor-tse")

        def rpc() -> None:
            answer = health.Check(check, timeout=10)
            if answer.status != health_pb2.HealthCheckResponse.SERVING:
                raise RuntimeError("health check: not serving")

        post_s: list[float] = []
        tse_s: list[float] = []
        commit_s: list[float] = []
        rpc_s: list[float] = []
        warm_rpc_s: list[float] = []
        signed = 0
        port = daemon.metrics_port()
        before: dict[str, tuple[float, float]] = {}
        for n in range(-args.warmup, args.sales):
            if n == 0:
                before = scrape(port)
            sale_id = prepare_sale(pos, n)
            floor_tse.start()  # untimed, like the sale's background start
            time.sleep(SETTLE_S)

            t0 = time.perf_counter()
            posted = pos.post_sale(sale_id)
            t1 = time.perf_counter()
            if posted.state != sale_pb2.SALE_STATE_POSTED:
                raise RuntimeError(f"sale {sale_id} not posted")
            if posted.tse.state != "SIGNED":
                raise RuntimeError(
                    f"sale {sale_id}: TSE state {posted.tse.state!r} (an outage?), not SIGNED"
                )
            data = pd.encode(posted.tse.process_data)  # exactly what the daemon signed

            # the floor starts from the same idle state as the post: the daemon has been
            # idle for SETTLE_S, so its round trip includes the same wake-up (a round
            # trip right after a busy moment is faster; it is reported as warm_rpc_s)
            time.sleep(SETTLE_S)
            t2 = time.perf_counter()
            floor_tse.finish(data)
            t3 = time.perf_counter()
            floor_db.commit()
            t4 = time.perf_counter()
            rpc()
            t5 = time.perf_counter()
            rpc()
            t6 = time.perf_counter()
            if n < 0:
                continue  # warm-up: connections, code paths, caches
            signed += 1
            post_s.append(t1 - t0)
            tse_s.append(t3 - t2)
            commit_s.append(t4 - t3)
            rpc_s.append(t5 - t4)
            warm_rpc_s.append(t6 - t5)
        inside = inside_means(before, scrape(port))
        floor_db.close()
        floor_tse.close()
        last_receipt = pos.status().last_receipt_number
        pos.close()
    finally:
        exit_code = daemon.stop()
    if exit_code != 0:
        raise RuntimeError(f"posd exited with {exit_code} on SIGTERM")

    floor_s = [a + b + c for a, b, c in zip(tse_s, commit_s, rpc_s, strict=True)]
    ratio = statistics.fmean(post_s) / statistics.fmean(floor_s)
    return {
        "benchmark": "pay_latency",
        "sales": args.sales,
        "warmup_sales": args.warmup,
        "lines_per_sale": LINES_PER_SALE,
        "settle_ms": SETTLE_S * 1e3,
        "tse": {
            "backend": info.backend,
            "model": info.model,
            "signature_algorithm": info.signature_algorithm,
        },
        "pay_to_receipt_ms": stats(post_s),
        "floor_ms": {
            "tse_finish": stats(tse_s),
            "sqlite_commit_fsync": stats(commit_s),
            "grpc_round_trip": stats(rpc_s),
            "total": stats(floor_s),
        },
        "grpc_round_trip_warm_ms": stats(warm_rpc_s),
        "daemon_inside_ms_mean": inside,
        "overhead_ms_mean": round((statistics.fmean(post_s) - statistics.fmean(floor_s)) * 1e3, 3),
        "ratio": round(ratio, 3),
        "ratio_target": TARGET_RATIO,
        "ok": ratio <= TARGET_RATIO,
        "signed_posts": signed,
        "last_receipt_number": last_receipt,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "grpc": grpc.__version__,
            "sqlite": sqlite3.sqlite_version,
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def table(r: dict[str, Any]) -> str:
    f = r["floor_ms"]
    rows = [
        f"posd pay-to-receipt: {r['sales']} posts (PostSale call -> answer) with the"
        f" {r['tse']['backend']} TSE ({r['tse']['signature_algorithm']}), after"
        f" {r['warmup_sales']} warm-up sales; floor measured sale by sale in the same run",
        "",
        f"{'':<34} {'count':>6} {'mean ms':>9} {'p50 ms':>9} {'p99 ms':>9}",
    ]
    named = [
        ("pay-to-receipt (PostSale)", r["pay_to_receipt_ms"]),
        ("floor: TSE finish signature", f["tse_finish"]),
        ("floor: SQLite commit (fsync)", f["sqlite_commit_fsync"]),
        ("floor: gRPC round trip (health)", f["grpc_round_trip"]),
        ("floor: total", f["total"]),
        ("(a round trip when not idle)", r["grpc_round_trip_warm_ms"]),
    ]
    for name, m in named:
        rows.append(
            f"{name:<34} {m['count']:>6} {m['mean_ms']:>9.3f} {m['p50_ms']:>9.3f}"
            f" {m['p99_ms']:>9.3f}"
        )
    inside = r["daemon_inside_ms_mean"]
    if inside:
        rows += [
            "",
            "inside the daemon (its metrics, mean ms): "
            + ", ".join(f"{k} {v:.3f}" for k, v in inside.items()),
        ]
    rows += [
        "",
        f"overhead above the floor (mean)    {r['overhead_ms_mean']:.3f} ms",
        f"ratio mean(post) / mean(floor)     {r['ratio']:.2f}   (target <= {r['ratio_target']})"
        f"  {'ok' if r['ok'] else 'MISSED'}",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sales", type=int, default=200, help="measured posts (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="warm-up sales (default 20)")
    p.add_argument("--dir", type=Path, default=None, help="parent of the temporary state dir")
    p.add_argument("--output", type=Path, default=RESULTS, help="JSON result file")
    args = p.parse_args(argv)
    if args.sales < 1:
        p.error("--sales must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return run_and_report(measure, table, args)


if __name__ == "__main__":
    sys.exit(main())
