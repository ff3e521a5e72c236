"""A year of a busy register: DSFinV-K export speed and memory, Z closing time on a busy
day, ListReceipts latency at that size.

    .venv/bin/python bench/register_year.py [--receipts 300000] [--lines 5] [--dir /var/tmp]

1. Generates ``--receipts`` posted receipts (``--lines`` lines each on average, cash/card
   payments, change, a TSE row per receipt, drawer entries) over 365 days into a fresh
   SQLite file with posd's schema (``store.database.open_database``): one shift per day
   opened and closed through ``store.day`` and one real Z closing per day through
   ``services.day.DayCommands.z_closing``. Receipts are bulk-inserted with executemany into
   the store's tables (one transaction per day, ``synchronous=OFF`` while generating);
   the Vorgang rows come from the schema's own triggers.
2. The last day is a busy day (``--busy`` receipts); its Z closing is timed.
3. Exports every Z closing as a DSFinV-K ZIP in a child process (``exports.dsfinvk``,
   which itself runs its lines pass in LINE_PARTS worker processes) and reports wall time,
   receipts/s, CPU time and peak RSS of both processes (``resource.getrusage``), with
   the machine's load average (the figures are only comparable on an idle machine).
4. Times ListReceipts pages (``services.receipts.list_receipts``, the query behind the
   RPC) for typical filters.

Targets: export >= 20,000 receipts/s, peak RSS <= 150 MB, Z closing <= 1 s, ListReceipts
page <= 50 ms. Prints a table and one JSON line (also bench/results/register_year.json).
A benchmark prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.shift import CountLine, CountPhase, balances, totals_by_currency
from posd_daemon.domain.vat import tax_from_gross
from posd_daemon.exports import dsfinvk
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.services.ids import new_sale_id
from posd_daemon.services.receipts import ReceiptFilter, list_receipts
from posd_daemon.store import day as day_store
from posd_daemon.store.database import connect, open_database, transaction
from posd_daemon.store.timeutil import to_db

REGISTER = "REG-1"
ITEMS = [
    ("1001", "Brot", 349, 2, "7"),
    ("1002", "Kaffee 500g", 899, 1, "19"),
    ("1003", "Äpfel", 299, 2, "7"),
    ("1004", "Milch 1l", 119, 2, "7"),
    ("1005", "Wein rot 0,75l", 1299, 1, "19"),
    ("1006", "Zeitung", 250, 2, "7"),
    ("1007", "Batterien AA", 499, 1, "19"),
    ("1008", "Blumen", 799, 2, "7"),
]
MANAGER = Operator("1", "Bench Manager", "manager", frozenset(Permission))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, 7, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def generate(path: Path, receipts: int, lines: int, busy: int) -> dict[str, Any]:
    conn = open_database(path)
    conn.execute("PRAGMA synchronous = OFF")
    clock = Clock()
    day = DayCommands(DaySettings(REGISTER, "EUR", UTC), clock, lambda: None)
    rnd = random.Random(7)
    days = 365
    per_day = [receipts // (days - 1)] * (days - 1)
    per_day[-1] += receipts - sum(per_day) - busy
    per_day.append(busy)
    receipt_no = 0
    tx_no = 0
    sig_counter = 0
    serial = "ab" * 32
    pubkey = base64.b64encode(b"\x04" + bytes(64)).decode()
    t0 = time.perf_counter()
    busy_z_seconds = 0.0
    for d, n in enumerate(per_day):
        start = datetime(2024, 1, 1, 8, tzinfo=UTC) + timedelta(days=d)
        clock.now = start - timedelta(minutes=5)
        with transaction(conn):
            shift_id = day_store.insert_shift(conn, REGISTER, "1", clock.now)
            day_store.insert_counts(
                conn, shift_id, CountPhase.OPEN, [CountLine("EUR", 0, 1, 20000)]
            )
            sales, slines, pays, tses, drawer, vats = [], [], [], [], [], []
            step = 12 * 3600 / max(n, 1)
            for i in range(n):
                receipt_no += 1
                created = start + timedelta(seconds=i * step)
                sale_id = new_sale_id(created, rnd.getrandbits(74))  # as the daemon makes them
                posted = created + timedelta(seconds=40)
                c_at, p_at = to_db(created), to_db(posted)
                total = 0
                groups: dict[tuple[int, str], int] = {}
                k = max(1, min(12, int(rnd.gauss(lines, 2))))
                for pos in range(k):
                    item = ITEMS[rnd.randrange(len(ITEMS))]
                    qty = "1" if rnd.random() < 0.8 else str(rnd.randint(2, 4))
                    total += item[2] * int(qty)
                    groups[(item[3], item[4])] = groups.get((item[3], item[4]), 0) + item[2] * int(
                        qty
                    )
                    slines.append(
                        (
                            sale_id,
                            pos,
                            str(pos + 1),
                            item[0],
                            item[1],
                            qty,
                            "pcs",
                            item[2],
                            item[3],
                            item[4],
                            "",
                            0,
                            item[2] * int(qty),
                        )
                    )
                # the receipt's per-rate totals as posting stores them (schema 6)
                for vpos, ((cat, rate), gross) in enumerate(sorted(groups.items())):
                    tax = tax_from_gross(gross, Decimal(rate))
                    vats.append((sale_id, vpos, cat, rate, gross, gross - tax, tax))
                op = "1" if i % 3 else "2"
                if rnd.random() < 0.55:
                    tendered = ((total + 999) // 1000) * 1000
                    pays.append((sale_id, 0, "1", "CASH", tendered))
                    drawer.append(
                        (
                            REGISTER,
                            sale_id,
                            receipt_no,
                            "SALE_PAYMENT",
                            "CASH",
                            tendered,
                            "EUR",
                            p_at,
                        )
                    )
                    if tendered > total:
                        drawer.append(
                            (
                                REGISTER,
                                sale_id,
                                receipt_no,
                                "CHANGE",
                                "CASH",
                                total - tendered,
                                "EUR",
                                p_at,
                            )
                        )
                else:
                    pays.append((sale_id, 0, "1", "CARD", total))
                    drawer.append(
                        (REGISTER, sale_id, receipt_no, "SALE_PAYMENT", "CARD", total, "EUR", p_at)
                    )
                tx_no += 1
                sig_counter += 2
                sales.append(
                    (
                        sale_id,
                        REGISTER,
                        op,
                        "EUR",
                        "POSTED",
                        c_at,
                        p_at,
                        None,
                        "",
                        receipt_no,
                        10,
                        k + 1,
                        2,
                        total,
                    )
                )
                tses.append(
                    (
                        sale_id,
                        REGISTER,
                        tx_no,
                        "SIGNED",
                        c_at,
                        sig_counter - 1,
                        p_at,
                        sig_counter,
                        "Kassenbeleg-V1",
                        f"Beleg^{total / 100:.2f}_0.00_0.00_0.00_0.00^",
                        base64.b64encode(rnd.randbytes(64)).decode(),
                        serial,
                        pubkey,
                        "ecdsa-plain-SHA256",
                        "unixTime",
                        None,
                    )
                )
            # the sales insert trigger records each Vorgang (BON_ID) in posting order
            conn.executemany(
                "INSERT INTO sales (sale_id, register_id, operator_id, currency, state,"
                " created_at, posted_at, cancelled_at, cancel_reason, receipt_number, revision,"
                " next_line_no, next_payment_no, total) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                sales,
            )
            conn.executemany(
                "INSERT INTO sale_lines (sale_id, position, line_id, item_id, name, quantity,"
                " unit, unit_price, vat_category, vat_rate, scanned_code, fractional, gross)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                slines,
            )
            conn.executemany(
                "INSERT INTO sale_vat_totals (sale_id, position, vat_category, vat_rate, gross,"
                " net, tax) VALUES (?,?,?,?,?,?,?)",
                vats,
            )
            conn.executemany(
                "INSERT INTO sale_payments (sale_id, position, payment_id, method, amount)"
                " VALUES (?,?,?,?,?)",
                pays,
            )
            conn.executemany(
                "INSERT INTO sale_tse (sale_id, client_id, transaction_number, state,"
                " start_time, start_counter, finish_time, finish_counter, process_type,"
                " process_data, signature, tse_serial, public_key, signature_algorithm,"
                " time_format, outage_number) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                tses,
            )
            conn.executemany(
                "INSERT INTO drawer_entries (register_id, sale_id, receipt_number, kind, method,"
                " amount, currency, recorded_at) VALUES (?,?,?,?,?,?,?,?)",
                drawer,
            )
            conn.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name)"
                " DO UPDATE SET value = excluded.value",
                (f"receipt:{REGISTER}", receipt_no),
            )
            shift = day_store.get_shift(conn, shift_id)
            assert shift is not None
            moved = day_store.shift_cash(conn, shift)
            opening = totals_by_currency(shift.opening)
            counted = {"EUR": opening["EUR"] + moved.get("EUR", 0)}
            day_store.insert_counts(
                conn, shift_id, CountPhase.CLOSE, [CountLine("EUR", 0, 1, counted["EUR"])]
            )
            clock.now = start + timedelta(hours=13)
            day_store.close_shift(
                conn,
                shift_id,
                "1",
                clock.now,
                balances(opening, moved, counted),
                day_store.max_drawer_entry(conn),
            )
        clock.now = start + timedelta(hours=13, minutes=5)
        t = time.perf_counter()
        with transaction(conn):
            day.z_closing(Tx(conn), MANAGER)
        if d == len(per_day) - 1:
            busy_z_seconds = time.perf_counter() - t
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("ANALYZE")
    conn.close()
    return {
        "generate_seconds": round(time.perf_counter() - t0, 1),
        "receipts": receipt_no,
        "closings": len(per_day),
        "busy_day_receipts": busy,
        "busy_day_z_seconds": round(busy_z_seconds, 3),
    }


def export_child(db: Path, out: Path) -> None:
    """Runs in a child process: exports every closing, prints JSON with time and RSS."""
    conn = connect(db, readonly=True)
    settings = dsfinvk.ExportSettings(
        register_id=REGISTER,
        currency="EUR",
        company=dsfinvk.Company.from_address("Bench GmbH", ["Musterstraße 1", "10115 Berlin"]),
        software_version="bench",
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    last = int(conn.execute("SELECT MAX(z_nr) FROM closings").fetchone()[0])
    closings = dsfinvk.select_closings(conn, REGISTER, z_from=1, z_to=last)
    with open(out, "wb") as f:
        stats = dsfinvk.export(conn, settings, closings, f, as_zip=True)
    seconds = time.perf_counter() - t
    me = resource.getrusage(resource.RUSAGE_SELF)
    # the lines workers (dsfinvk.LINE_PARTS, all ended): the peak of the biggest one
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "receipts": stats.receipts,
                "rows": stats.rows,
                "peak_rss_kb": me.ru_maxrss,
                "worker_peak_rss_kb": kids.ru_maxrss,
                "cpu_seconds": me.ru_utime + me.ru_stime,
                "worker_cpu_seconds": kids.ru_utime + kids.ru_stime,
                "rss_before_export_kb": rss_before,
                "zip_bytes": out.stat().st_size,
            }
        )
    )


def time_list_receipts(db: Path) -> dict[str, dict[str, float]]:
    conn = connect(db, readonly=True)
    mid = datetime(2024, 7, 1, tzinfo=UTC)
    total = int(conn.execute("SELECT MAX(receipt_number) FROM sales").fetchone()[0])
    _, token = list_receipts(
        conn, ReceiptFilter(number_to=total // 2), 50, "", default_register=REGISTER
    )
    cases = {
        "first page": (ReceiptFilter(), ""),
        "deep page (token)": (ReceiptFilter(), token),
        "one day": (ReceiptFilter(start=mid, end=mid + timedelta(days=1)), ""),
        "number range": (ReceiptFilter(number_from=1000, number_to=2000), ""),
        "gross 50-60 EUR": (ReceiptFilter(gross_min=5000, gross_max=6000), ""),
        "card + operator": (ReceiptFilter(method="CARD", operator_id="2"), ""),
        "month + card": (ReceiptFilter(start=mid, end=mid + timedelta(days=30), method="CARD"), ""),
    }
    out = {}
    for name, (f, tok) in cases.items():
        times = []
        for _ in range(15):
            t = time.perf_counter()
            rows, _ = list_receipts(conn, f, 50, tok, default_register=REGISTER)
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {
            "median_ms": round(statistics.median(times), 2),
            "max_ms": round(max(times), 2),
            "rows": len(rows),
        }
    conn.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--receipts", type=int, default=300_000)
    p.add_argument("--lines", type=int, default=5)
    p.add_argument("--busy", type=int, default=3000, help="receipts on the busy last day")
    p.add_argument("--dir", default=None)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--export-child", nargs=2, metavar=("DB", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.export_child:
        export_child(Path(args.export_child[0]), Path(args.export_child[1]))
        return
    work = Path(tempfile.mkdtemp(prefix="posd-year-", dir=args.dir))
    try:
        db = work / "posd.sqlite3"
        gen = generate(db, args.receipts, args.lines, args.busy)
        child = subprocess.run(
            [sys.executable, __file__, "--export-child", str(db), str(work / "dsfinvk.zip")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        ex = json.loads(child.stdout.strip().splitlines()[-1])
        lr = time_list_receipts(db)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rate = ex["receipts"] / ex["seconds"]
    # the export process and its lines workers run at the same time: count all, each
    # worker at the biggest one's peak (getrusage gives no other figure for children)
    rss_mb = (ex["peak_rss_kb"] + dsfinvk.LINE_PARTS * ex["worker_peak_rss_kb"]) / 1024
    cpu = ex["cpu_seconds"] + ex["worker_cpu_seconds"]
    worst_list = max(v["median_ms"] for v in lr.values())
    result = {
        "generate": gen,
        "export": {
            "receipts": ex["receipts"],
            "seconds": round(ex["seconds"], 2),
            "cpu_seconds": round(cpu, 2),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "receipts_per_second": round(rate),
            "peak_rss_mb": round(rss_mb, 1),
            "zip_mb": round(ex["zip_bytes"] / 1e6, 1),
            "rows": ex["rows"],
        },
        "list_receipts": lr,
        "targets": {
            "export_receipts_per_second>=20000": rate >= 20_000,
            "export_peak_rss_mb<=150": rss_mb <= 150,
            "busy_day_z_seconds<=1": gen["busy_day_z_seconds"] <= 1.0,
            "list_receipts_page_ms<=50": worst_list <= 50,
        },
    }
    rows = [
        ("receipts generated", f"{gen['receipts']:,} ({gen['closings']} Z closings)"),
        ("generation time", f"{gen['generate_seconds']} s"),
        ("DSFinV-K export", f"{ex['seconds']:.1f} s, {rate:,.0f} receipts/s (target >= 20,000)"),
        (
            "export peak RSS",
            f"{rss_mb:.1f} MB, process + {dsfinvk.LINE_PARTS} lines workers (target <= 150)",
        ),
        ("export CPU time", f"{cpu:.1f} s (machine load {os.getloadavg()[0]:.1f})"),
        ("export ZIP", f"{ex['zip_bytes'] / 1e6:.1f} MB"),
        (
            "Z closing, busy day",
            f"{gen['busy_day_z_seconds'] * 1000:.0f} ms for {gen['busy_day_receipts']} receipts"
            " (target <= 1000)",
        ),
    ]
    rows += [
        (f"ListReceipts: {k}", f"{v['median_ms']} ms median, {v['max_ms']} ms max")
        for k, v in lr.items()
    ]
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    line = json.dumps(result, sort_keys=True)
    print(line)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "register_year.json").write_text(line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
