"""Sale latency of the real posd daemon against its floor; cold start; idle memory.

    .venv/bin/python bench/sale_latency.py [--sales 300] [--dir /var/tmp]

Starts ``posd`` in a temporary state directory as systemd would (``NOTIFY_SOCKET``, wait
for READY=1) and, over its unix socket, runs N complete sales (CreateSale, 5 x AddLine,
AddPayment, PostSale). In the SAME run, interleaved sale by sale so that both see the
same machine state, it measures the floor a sale cannot beat: as many no-op gRPC round
trips (the standard ``grpc.health.v1.Health/Check``, same channel, same socket) as a sale
makes RPCs, plus one fsync'd SQLite commit (WAL, ``synchronous=FULL``, one small insert)
in a file on the same filesystem as the daemon's database.

It does so for two configurations, one after the other, each with its own floor:

* ``foundation``: no fiscal signing (``[tse] backend = "none"``), the configuration the
  foundation issue defines its floor for;
* ``software_tse``: the embedded default, every sale signed by the software TSE. A
  signed sale cannot beat the TSE's own work either, so its floor also has one
  StartTransaction and one FinishTransaction (with the processData the daemon signed)
  of a software TSE of the bench's own, on the same filesystem.

    ratio = sale time / floor          (target <= 2.0 now, <= 1.3 later)

It also measures cold start (spawn -> READY=1, median of 5, on a fresh and on the used
state directory; target <= 1.5 s) and the daemon's idle RSS after the run (VmRSS from
/proc; target <= 80 MB), both with the default configuration. Prints a table and one
JSON line; writes the JSON to bench/results/sale_latency.json. A benchmark prints
figures; it is not a test.

Self-contained on purpose: bench/ does not import tests/ (tests/support/daemon_process.py
is the fuller version of the starter in benchlib).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from benchlib import CommitFloor, Daemon, TseFloor, run_and_report, stats
from grpc_health.v1 import health_pb2, health_pb2_grpc
from posd.client import PosdClient
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.fiscal import process_data as pd

T = TypeVar("T")

RESULTS = Path(__file__).resolve().parent / "results" / "sale_latency.json"

TARGET_RATIO = 2.0
TARGET_COLD_START_S = 1.5
TARGET_RSS_MB = 80.0

LINES_PER_SALE = 5
RPCS_PER_SALE = 1 + LINES_PER_SALE + 1 + 1  # create, lines, payment, post

ITEMS = [
    ("brot", "Roggenbrot", 349, "4000000000013"),
    ("milch", "Vollmilch 1 l", 119, "4000000000020"),
    ("kaffee", "Kaffee 500 g", 799, "4000000000037"),
    ("apfel", "Äpfel lose", 249, "4000000000044"),
    ("wein", "Rotwein 0,75 l", 1299, "4000000000051"),
]

# Devices write to /dev/null through the real ESC/POS printer and pole display drivers
# (encoding, status handling, queues), as external hardware would receive them: the
# Python emulators of the demo (which parse every byte back into text) are not part of a
# production register and would otherwise compete with the sale path for the GIL.
DEVICES = """\
[metrics]
listen = "127.0.0.1:0"

[printer]
url = "file:///dev/null"

[display]
url = "file:///dev/null"
"""

#: name -> (configuration, whether the daemon signs every sale with the software TSE)
CONFIGS = {
    "foundation": (DEVICES + '\n[tse]\nbackend = "none"\n', False),
    "software_tse": (DEVICES + '\n[tse]\nbackend = "software"\n', True),
}


# -- a small systemd-style starter ------------------------------------------------------------


class Timer:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def time(self, name: str, fn: Callable[[], T]) -> T:
        t0 = time.perf_counter()
        result = fn()
        self.samples.setdefault(name, []).append(time.perf_counter() - t0)
        return result


def run_sale(pos: PosdClient, n: int, timer: Timer) -> sale_pb2.Sale:
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
    return posted


def measure_sales(args: argparse.Namespace, work: Path, name: str) -> dict[str, Any]:
    """N sales on a daemon with configuration ``name``, each followed by its floor."""
    config, signed = CONFIGS[name]
    daemon = Daemon(work / name, config=config)
    first_start = daemon.start()
    try:
        pos = PosdClient(f"unix://{daemon.socket_path}", retries=0)
        health = health_pb2_grpc.HealthStub(pos.channel)
        check = health_pb2.HealthCheckRequest(service="")
        pos.login("1", "1234")
        pos.ensure_shift()
        for item_id, item_name, price, code in ITEMS:
            pos.upsert_item(item_id, item_name, price, barcodes=(code,))
        floor_db = CommitFloor(work / f"floor-{name}.sqlite3")  # same filesystem
        floor_tse = TseFloor(work / f"floor-tse-{name}") if signed else None

        def noop() -> None:
            answer = health.Check(check, timeout=10)
            if answer.status != health_pb2.HealthCheckResponse.SERVING:
                raise RuntimeError("health check: not serving")

        timer = Timer()
        sale_s: list[float] = []
        noop_s: list[float] = []
        commit_s: list[float] = []
        tse_s: list[float] = []
        floor_s: list[float] = []
        # warm-up sales first (connections, code paths, caches), then the measured ones:
        # sale i, then the floor of one sale, so both see the same conditions
        for n in range(-args.warmup, args.sales):
            t0 = time.perf_counter()
            posted = run_sale(pos, n, timer)
            t1 = time.perf_counter()
            noops = []
            for _ in range(RPCS_PER_SALE):
                s = time.perf_counter()
                noop()
                noops.append(time.perf_counter() - s)
            t2 = time.perf_counter()
            floor_db.commit()
            t3 = time.perf_counter()
            if floor_tse is not None:
                floor_tse.start()
                floor_tse.finish(pd.encode(posted.tse.process_data))  # what the daemon signed
            t4 = time.perf_counter()
            if n == -1:
                timer = Timer()  # the warm-up's samples are dropped
            if n < 0:
                continue
            if signed and posted.tse.state != "SIGNED":
                raise RuntimeError(f"sale {posted.sale_id}: TSE state {posted.tse.state!r}")
            sale_s.append(t1 - t0)
            noop_s.extend(noops)
            commit_s.append(t3 - t2)
            tse_s.append(t4 - t3)
            floor_s.append(t4 - t1)
        floor_db.close()
        if floor_tse is not None:
            floor_tse.close()
        # idle memory: let the outbox drain, then read VmRSS
        deadline = time.monotonic() + 30
        while pos.status().pending_jobs and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        rss = daemon.rss_mb()
        last_receipt = pos.status().last_receipt_number
        pos.close()
    finally:
        exit_code = daemon.stop()
    if exit_code != 0:
        raise RuntimeError(f"posd exited with {exit_code} on SIGTERM")
    ratio = sum(sale_s) / sum(floor_s)
    methods = {
        m: stats(timer.samples[m]) for m in ("CreateSale", "AddLine", "AddPayment", "PostSale")
    }
    methods["Health.Check (no-op)"] = stats(noop_s)
    methods["SQLite commit (fsync)"] = stats(commit_s)
    if signed:
        methods["TSE start + finish"] = stats(tse_s)
    return {
        "tse": "software" if signed else "none",
        "rpc": methods,
        "sale_ms": stats(sale_s),
        "sales_per_second": round(len(sale_s) / sum(sale_s), 2),
        "floor_ms_per_sale": {
            "mean": round(statistics.fmean(floor_s) * 1e3, 3),
            "noop_rpcs_mean": round(sum(noop_s) / len(sale_s) * 1e3, 3),
            "commit_mean": round(statistics.fmean(commit_s) * 1e3, 3),
            "tse_mean": round(statistics.fmean(tse_s) * 1e3, 3),
        },
        "ratio": round(ratio, 3),
        "ok": ratio <= TARGET_RATIO,
        "first_start_s": round(first_start, 3),
        "idle_rss_mb": round(rss, 1),
        "last_receipt_number": last_receipt,
    }


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    configs = {name: measure_sales(args, work, name) for name in CONFIGS}
    default = CONFIGS["software_tse"][0]
    # cold start: spawn -> READY=1 on the default configuration, on the state the run
    # used and on fresh ones
    used_starts = []
    for _ in range(args.starts):
        d = Daemon(work / "software_tse", config=default)
        used_starts.append(d.start())
        d.stop()
    fresh_starts = []
    for i in range(args.starts):
        d = Daemon(work / f"fresh-{i}", config=default)
        fresh_starts.append(d.start())
        d.stop()
    cold_used = statistics.median(used_starts)
    cold_fresh = statistics.median(fresh_starts)
    rss = configs["software_tse"]["idle_rss_mb"]
    return {
        "benchmark": "sale_latency",
        "sales": args.sales,
        "warmup_sales": args.warmup,
        "rpcs_per_sale": RPCS_PER_SALE,
        "configs": configs,
        "ratio_target": TARGET_RATIO,
        "cold_start_s": {
            "median_used_state": round(cold_used, 3),
            "median_fresh_state": round(cold_fresh, 3),
            "runs": args.starts,
        },
        "cold_start_target_s": TARGET_COLD_START_S,
        "idle_rss_mb": rss,
        "idle_rss_target_mb": TARGET_RSS_MB,
        "ok": {
            **{f"ratio_{name}": c["ok"] for name, c in configs.items()},
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


def table(r: dict[str, Any]) -> str:
    def mark(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rows = [
        f"posd sale latency: {r['sales']} sales ({r['rpcs_per_sale']} RPCs each) over the unix"
        f" socket per configuration, after {r['warmup_sales']} warm-up sales; the floor"
        " measured sale by sale in the same run",
    ]
    for name, c in r["configs"].items():
        f = c["floor_ms_per_sale"]
        floor_parts = (
            f"{r['rpcs_per_sale']} no-op RPCs {f['noop_rpcs_mean']:.3f} ms"
            f" + 1 fsync'd commit {f['commit_mean']:.3f} ms"
        )
        if c["tse"] != "none":
            floor_parts += f" + TSE start and finish {f['tse_mean']:.3f} ms"
        rows += [
            "",
            f"[{name}] TSE: {c['tse']}",
            f"{'call':<24} {'count':>6} {'p50 ms':>9} {'p99 ms':>9}",
        ]
        for call, m in c["rpc"].items():
            rows.append(f"{call:<24} {m['count']:>6} {m['p50_ms']:>9.3f} {m['p99_ms']:>9.3f}")
        rows += [
            f"sale (mean / p50 / p99)   {c['sale_ms']['mean_ms']:.3f} /"
            f" {c['sale_ms']['p50_ms']:.3f} / {c['sale_ms']['p99_ms']:.3f} ms",
            f"sales/s                   {c['sales_per_second']:.1f}",
            f"floor per sale (mean)     {f['mean']:.3f} ms  = {floor_parts}",
            f"ratio sale / floor        {c['ratio']:.2f}   (target <= {r['ratio_target']})"
            f"  {mark(c['ok'])}",
        ]
    cs = r["cold_start_s"]
    rows += [
        "",
        f"cold start to READY       {cs['median_used_state']:.3f} s used state,"
        f" {cs['median_fresh_state']:.3f} s fresh (median of {cs['runs']};"
        f" target <= {r['cold_start_target_s']} s)  {mark(r['ok']['cold_start'])}",
        f"idle RSS after the run    {r['idle_rss_mb']:.1f} MB   (target <="
        f" {r['idle_rss_target_mb']:.0f} MB, software_tse)  {mark(r['ok']['idle_rss'])}",
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
    return run_and_report(measure, table, args)


if __name__ == "__main__":
    sys.exit(main())
