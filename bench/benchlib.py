"""What the benchmarks share: the real daemon started as systemd would (NOTIFY_SOCKET,
wait for READY=1), the fsync'd-commit floor, percentiles. Scripts in bench/ import it
as ``benchlib`` (bench/ is on sys.path when a script there runs)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posd_daemon.fiscal import process_data as pd
from posd_daemon.fiscal.software_tse import SoftwareTse

POSD = Path(sys.executable).with_name("posd")

FLOOR_CLIENT = "BENCHFLOOR01"


@dataclass
class Daemon:
    """``posd`` as a child process with a NOTIFY_SOCKET; start() returns spawn->READY seconds."""

    state_dir: Path
    config: str = ""
    proc: subprocess.Popen[bytes] | None = None
    _notify: socket.socket | None = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.state_dir / "posd.sock"

    def start(self, timeout: float = 30.0) -> float:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "bench.toml"
        config.write_text(self.config, encoding="utf-8")
        notify_dir = Path(tempfile.mkdtemp(prefix="posd-bench-"))
        notify_path = notify_dir / "notify"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.bind(str(notify_path))
        env = {k: v for k, v in os.environ.items() if k not in ("WATCHDOG_USEC", "WATCHDOG_PID")}
        env["NOTIFY_SOCKET"] = str(notify_path)
        env.pop("POSD_CRASHPOINTS", None)
        log = open(self.state_dir / "posd.log", "ab")  # noqa: SIM115 (closed below)
        try:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                [str(POSD), "--state-dir", str(self.state_dir), "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.state_dir,
            )
            deadline = t0 + timeout
            while True:
                left = deadline - time.perf_counter()
                if left <= 0 or self.proc.poll() is not None:
                    self.stop()
                    tail = (self.state_dir / "posd.log").read_text("utf-8", "replace")[-2000:]
                    raise RuntimeError(
                        f"posd sent no READY=1 (exit {self.proc.returncode}):\n{tail}"
                    )
                sock.settimeout(min(left, 0.1))
                try:
                    message = sock.recv(4096).decode("utf-8", "replace")
                except TimeoutError:
                    continue
                if "READY=1" in message.splitlines():
                    return time.perf_counter() - t0
        finally:
            log.close()
            sock.close()
            shutil.rmtree(notify_dir, ignore_errors=True)

    def metrics_port(self) -> int:
        """The metrics port the daemon logged in its ``serving`` event (0: none)."""
        port = 0
        for line in (self.state_dir / "posd.log").read_text("utf-8", "replace").splitlines():
            if line.startswith("{") and '"serving"' in line:
                with contextlib.suppress(ValueError):
                    port = int(json.loads(line).get("metrics_port") or 0)
        return port

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc/PID/status")

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


class CommitFloor:
    """One fsync'd SQLite commit: WAL, synchronous=FULL, one small insert."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{path}: no WAL ({mode})")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
        self.n = 0

    def commit(self) -> None:
        self.n += 1
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO t (body) VALUES (?)", (f"sale {self.n:08d} posted",))
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def run_and_report(
    measure: Callable[[Any, Path], dict[str, Any]],
    table: Callable[[dict[str, Any]], str],
    args: Any,
) -> int:
    """Runs ``measure(args, work)`` in a temporary directory (``args.dir`` its parent),
    removes it, prints the table and one JSON line, writes the JSON to ``args.output``."""
    work = Path(tempfile.mkdtemp(prefix="posd-bench-", dir=args.dir))
    try:
        result = measure(args, work)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    print(table(result))
    print(json.dumps(result, sort_keys=True))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


def stats(xs: list[float]) -> dict[str, float]:
    """count, mean, p50 and p99 (milliseconds) of durations in seconds."""
    return {
        "count": len(xs),
        "mean_ms": round(sum(xs) / len(xs) * 1e3, 3),
        "p50_ms": round(pct(xs, 50) * 1e3, 3),
        "p99_ms": round(pct(xs, 99) * 1e3, 3),
    }


class TseFloor:
    """A software TSE of the bench's own (posd's SoftwareTse in a directory next to the
    daemon's state): the signatures a sale needs, timed by the caller."""

    def __init__(self, path: Path) -> None:
        self.tse = SoftwareTse(path)
        self.tse.register_client(FLOOR_CLIENT)
        self._number: int | None = None

    def start(self) -> None:
        """StartTransaction (the sale's first line)."""
        result = self.tse.start_transaction(FLOOR_CLIENT, pd.PROCESS_TYPE_KASSENBELEG, b"")
        self._number = result.transaction_number

    def finish(self, process_data: bytes) -> None:
        """FinishTransaction with the receipt's processData (the post)."""
        assert self._number is not None, "start() first"
        number, self._number = self._number, None
        self.tse.finish_transaction(FLOOR_CLIENT, number, pd.PROCESS_TYPE_KASSENBELEG, process_data)

    def close(self) -> None:
        self.tse.close()
