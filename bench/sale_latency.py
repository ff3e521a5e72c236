"""Sale latency of the real posd daemon against its floor; cold start; idle memory.

    .venv/bin/python bench/sale_latency.py [--sales 300] [--dir /var/tmp]

Starts ``posd`` in a temporary state directory as systemd would (``NOTIFY_SOCKET``, wait
for READY=1) and, over its unix socket, runs N complete sales (CreateSale, 5 x AddLine,
AddPayment, PostSale). In the SAME run, interleaved sale by sale so that both see the
same machine state, it measures the floor a sale cannot beat: as many no-op gRPC round
trips (the standard ``grpc.health.v1.Health/Check``, same channel, same socket) as a sale
makes RPCs, plus one fsync'd SQLite commit (WAL, ``synchronous=FULL``, one small insert)
in a file on the same filesystem as the daemon's database.

    ratio = sale time / floor          (target <= 2.0 now, <= 1.3 later)

It also measures cold start (spawn -> READY=1, median of 5, on a fresh and on the used
state directory; target <= 1.5 s) and the daemon's idle RSS after the run (VmRSS from
/proc; target <= 80 MB). Prints a table and one JSON line; writes the JSON to
bench/results/sale_latency.json. A benchmark prints figures; it is not a test.

Self-contained on purpose: bench/ does not import tests/ (tests/support/daemon_process.py
is the fuller version of the starter below).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from benchlib import CommitFloor, Daemon, pct
from grpc_health.v1 import health_pb2, health_pb2_grpc
from posd.client import PosdClient
from posd.v1 import common_pb2, sale_pb2

T = TypeVar("T")

RESULTS = Path(__file__).resolve().parent / "results" / "sale_latency.json"

TARGET_RATIO = 2.0
TARGET_COLD_START_S = 1.5
TARGET_RSS_MB = 80.0

LINES_PER_SALE = 5
RPCS_PER_SALE = 1 + LINES_PER_SALE + 1 + 1  # create, lines, payment, post

ITEMS = [
    ("brot", "Roggenbrot", 349, "4000000000011"),
    ("milch", "Vollmilch 1 l", 119, "4000000000028"),
    ("kaffee", "Kaffee 500 g", 799, "4000000000035"),
    ("apfel", "Äpfel lose", 249, "4000000000042"),
    ("wein", "Rotwein 0,75 l", 1299, "4000000000059"),
]

# Devices write to /dev/null through the real ESC/POS printer and pole display drivers
# (encoding, status handling, queues), as external hardware would receive them: the
# Python emulators of the demo (which parse every byte back into text) are not part of a
# production register and would otherwise compete with the sale path for the GIL.
CONFIG = """\
[metrics]
listen = "127.0.0.1:0"

[printer]
url = "file:///dev/null"

[display]
url = "file:///dev/null"
"""


# -- a small systemd-style starter ------------------------------------------------------------


class Timer:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def time(self, name: str, fn: Callable[[], T]) -> T:
        t0 = time.perf_counter()
        result = fn()
        self.samples.setdefault(name, []).append(time.perf_counter() - t0)
        return result


def run_sale(pos: PosdClient, n: int, timer: Timer) -> None:
    sale = timer.time("CreateSale", pos.create_sale)
    total = 0
    for i in range(LINES_PER_SALE):
        item_id = ITEMS[(n + i) % len(ITEMS)][0]
        resp = timer.time("AddLine", functools.partial(pos.add_line, sale.sale_id, item_id=item_id))
        total = resp.sale.total.amount_minor
    method = common_pb2.PAYMENT_METHOD_CASH if n % 2 else common_pb2.PAYMENT_METHOD_CARD
    amount = (total // 500 + 1) * 500 if n % 2 else total
    timer.time("AddPayment", lambda: pos.add_payment(sale.sale_id, method, amount))
    posted = timer.time("PostSale", lambda: pos.post_sale(sale.sale_id))
    if posted.state != sale_pb2.SALE_STATE_POSTED:
        raise RuntimeError(f"sale {sale.sale_id} not posted")


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    state = work / "state"
    daemon = Daemon(state, config=CONFIG)
    first_start = daemon.start()
    result: dict[str, Any] = {}
    try:
        pos = PosdClient(f"unix://{daemon.socket_path}", retries=0)
        health = health_pb2_grpc.HealthStub(pos.channel)
        check = health_pb2.HealthCheckRequest(service="")
        pos.login("1", "1234")
        pos.ensure_shift()
        for item_id, name, price, code in ITEMS:
            pos.upsert_item(item_id, name, price, barcodes=(code,))
        floor_db = CommitFloor(work / "floor.sqlite3")  # same filesystem as the state dir

        def noop() -> None:
            answer = health.Check(check, timeout=10)
            if answer.status != health_pb2.HealthCheckResponse.SERVING:
                raise RuntimeError("health check: not serving")

        # warm-up: connections, code paths, SQLite caches, the outbox
        warm = Timer()
        for n in range(args.warmup):
            run_sale(pos, n, warm)
            for _ in range(RPCS_PER_SALE):
                noop()
            floor_db.commit()
        time.sleep(0.5)

        # the run: sale i, then the floor of one sale, so both see the same conditions
        timer = Timer()
        sale_seconds: list[float] = []
        floor_seconds: list[float] = []
        noop_seconds: list[float] = []
        commit_seconds: list[float] = []
        for n in range(args.sales):
            t0 = time.perf_counter()
            run_sale(pos, n, timer)
            t1 = time.perf_counter()
            for _ in range(RPCS_PER_SALE):
                s = time.perf_counter()
                noop()
                noop_seconds.append(time.perf_counter() - s)
            t2 = time.perf_counter()
            floor_db.commit()
            t3 = time.perf_counter()
            sale_seconds.append(t1 - t0)
            commit_seconds.append(t3 - t2)
            floor_seconds.append(t3 - t1)
        floor_db.close()

        # idle memory: let the outbox drain, then read VmRSS
        deadline = time.monotonic() + 30
        while pos.status().pending_jobs and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        rss = daemon.rss_mb()
        status = pos.status()
        pos.close()
    finally:
        exit_code = daemon.stop()
    if exit_code != 0:
        raise RuntimeError(f"posd exited with {exit_code} on SIGTERM")

    # cold start: spawn -> READY=1, 5 times on the used state, 5 times on fresh ones
    used_starts = []
    for _ in range(args.starts):
        d = Daemon(state, config=CONFIG)
        used_starts.append(d.start())
        d.stop()
    fresh_starts = []
    for i in range(args.starts):
        d = Daemon(work / f"fresh-{i}", config=CONFIG)
        fresh_starts.append(d.start())
        d.stop()

    sale_total = sum(sale_seconds)
    floor_total = sum(floor_seconds)
    methods = {}
    for name in ("CreateSale", "AddLine", "AddPayment", "PostSale"):
        xs = timer.samples[name]
        methods[name] = {
            "count": len(xs),
            "p50_ms": round(pct(xs, 50) * 1e3, 3),
            "p99_ms": round(pct(xs, 99) * 1e3, 3),
        }
    methods["Health.Check (no-op)"] = {
        "count": len(noop_seconds),
        "p50_ms": round(pct(noop_seconds, 50) * 1e3, 3),
        "p99_ms": round(pct(noop_seconds, 99) * 1e3, 3),
    }
    methods["SQLite commit (fsync)"] = {
        "count": len(commit_seconds),
        "p50_ms": round(pct(commit_seconds, 50) * 1e3, 3),
        "p99_ms": round(pct(commit_seconds, 99) * 1e3, 3),
    }
    ratio = sale_total / floor_total
    cold_used = statistics.median(used_starts)
    cold_fresh = statistics.median(fresh_starts)
    result = {
        "benchmark": "sale_latency",
        "sales": args.sales,
        "warmup_sales": args.warmup,
        "rpcs_per_sale": RPCS_PER_SALE,
        "rpc": methods,
        "sale_ms": {
            "mean": round(sale_total / args.sales * 1e3, 3),
            "p50": round(pct(sale_seconds, 50) * 1e3, 3),
            "p99": round(pct(sale_seconds, 99) * 1e3, 3),
        },
        "sales_per_second": round(args.sales / sale_total, 2),
        "floor_ms_per_sale": {
            "mean": round(floor_total / args.sales * 1e3, 3),
            "p50": round(pct(floor_seconds, 50) * 1e3, 3),
            "noop_rpcs_mean": round(sum(noop_seconds) / args.sales * 1e3, 3),
            "commit_mean": round(sum(commit_seconds) / args.sales * 1e3, 3),
        },
        "ratio": round(ratio, 3),
        "ratio_target": TARGET_RATIO,
        "cold_start_s": {
            "first": round(first_start, 3),
            "median_used_state": round(cold_used, 3),
            "median_fresh_state": round(cold_fresh, 3),
            "runs": args.starts,
        },
        "cold_start_target_s": TARGET_COLD_START_S,
        "idle_rss_mb": round(rss, 1),
        "idle_rss_target_mb": TARGET_RSS_MB,
        "last_receipt_number": status.last_receipt_number,
        "ok": {
            "ratio": ratio <= TARGET_RATIO,
            "cold_start": max(cold_used, cold_fresh) <= TARGET_COLD_START_S,
            "idle_rss": rss <= TARGET_RSS_MB,
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "grpc": grpc.__version__,
            "sqlite": sqlite3.sqlite_version,
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return result


def table(r: dict[str, Any]) -> str:
    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rows = [
        f"posd sale latency: {r['sales']} sales ({r['rpcs_per_sale']} RPCs each) over the unix"
        f" socket, after {r['warmup_sales']} warm-up sales",
        "",
        f"{'call':<24} {'count':>6} {'p50 ms':>9} {'p99 ms':>9}",
    ]
    for name, m in r["rpc"].items():
        rows.append(f"{name:<24} {m['count']:>6} {m['p50_ms']:>9.3f} {m['p99_ms']:>9.3f}")
    f = r["floor_ms_per_sale"]
    c = r["cold_start_s"]
    rows += [
        "",
        f"sale (mean / p50 / p99)   {r['sale_ms']['mean']:.3f} / {r['sale_ms']['p50']:.3f}"
        f" / {r['sale_ms']['p99']:.3f} ms",
        f"sales/s                   {r['sales_per_second']:.1f}",
        f"floor per sale (mean)     {f['mean']:.3f} ms  ="
        f" {r['rpcs_per_sale']} no-op RPCs {f['noop_rpcs_mean']:.3f} ms"
        f" + 1 fsync'd commit {f['commit_mean']:.3f} ms",
        f"ratio sale / floor        {r['ratio']:.2f}   (target <= {r['ratio_target']})"
        f"  {mark(r['ok']['ratio'])}",
        f"cold start to READY       {c['median_used_state']:.3f} s used state,"
        f" {c['median_fresh_state']:.3f} s fresh (median of {c['runs']};"
        f" target <= {r['cold_start_target_s']} s)  {mark(r['ok']['cold_start'])}",
        f"idle RSS after the run    {r['idle_rss_mb']:.1f} MB   (target <="
        f" {r['idle_rss_target_mb']:.0f} MB)  {mark(r['ok']['idle_rss'])}",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sales", type=int, default=300, help="measured sales (default 300)")
    p.add_argument("--warmup", type=int, default=30, help="warm-up sales (default 30)")
    p.add_argument("--starts", type=int, default=5, help="cold starts to time (default 5)")
    p.add_argument("--dir", type=Path, default=None, help="parent of the temporary state dir")
    p.add_argument("--output", type=Path, default=RESULTS, help="JSON result file")
    args = p.parse_args(argv)
    if args.sales < 1:
        p.error("--sales must be >= 1")
    work = Path(tempfile.mkdtemp(prefix="posd-bench-", dir=args.dir))
    try:
        result = measure(args, work)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    print(table(result))
    line = json.dumps(result, sort_keys=True)
    print(line)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
