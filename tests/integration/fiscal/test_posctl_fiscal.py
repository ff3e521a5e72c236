"""posctl tse / outage commands against a running daemon (real socket, real process)."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from posd_daemon.ops.config import ConfigError, load
from tests.conftest import Running
from tests.support.posctl_run import posctl_args


def posctl(running: Running, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "posd_daemon.cli.posctl",
            *posctl_args(running, *args, socket=False),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_tse_commands(running: Running, pos: PosdClient, tmp_path: Path) -> None:
    pos.upsert_item("1", "Wasser", 99)
    s = pos.create_sale()
    pos.add_line(s.sale_id, item_id="1")
    pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CASH, 100)
    pos.post_sale(s.sale_id)

    info = posctl(running, "tse", "info")
    assert info.returncode == 0, info.stderr
    assert "certified:           NO" in info.stdout
    assert "REG-1" in info.stdout

    st = posctl(running, "tse", "selftest")
    assert st.returncode == 0, st.stderr
    assert "self test passed" in st.stdout

    tar = tmp_path / "tse.tar"
    ex = posctl(running, "tse", "export", str(tar))
    assert ex.returncode == 0, ex.stderr
    ok = posctl(running, "tse", "verify-export", str(tar))
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # tamper: drop one log file from the TAR
    bad = tmp_path / "bad.tar"
    with tarfile.open(tar) as src, tarfile.open(bad, "w") as dst:
        logs = [m for m in src.getmembers() if m.name.endswith(".log")]
        for m in src.getmembers():
            if m is not logs[len(logs) // 2]:
                dst.addfile(m, io.BytesIO(src.extractfile(m).read()))  # type: ignore[union-attr]
    broken = posctl(running, "tse", "verify-export", str(bad))
    assert broken.returncode == 1
    assert "gap" in broken.stdout or "missing" in broken.stdout

    outages = posctl(running, "outage", "list")
    assert outages.returncode == 0, outages.stderr
    assert "(no outages)" in outages.stdout
    csv = tmp_path / "outages.csv"
    assert posctl(running, "outage", "export", str(csv)).returncode == 0
    assert csv.read_text("utf-8").startswith("TSE-Hersteller;TSE-Seriennummer;Belegnummer")


def test_an_export_taken_while_a_sale_is_open_verifies_with_allow_open(
    running: Running, pos: PosdClient, tmp_path: Path
) -> None:
    """The TSE transaction starts with a sale's first line, and a parked sale keeps it
    open: an export taken during opening hours has a Start without a Finish."""
    pos.upsert_item("1", "Wasser", 99)
    s = pos.create_sale()
    pos.add_line(s.sale_id, item_id="1")
    sql = "SELECT transaction_number FROM sale_tse WHERE sale_id = ?"

    def started() -> int | None:
        with sqlite3.connect(running.config.database_path) as db:
            row = db.execute(sql, (s.sale_id,)).fetchone()
        return None if row is None else int(row[0])

    deadline = time.monotonic() + 5
    while started() is None:
        assert time.monotonic() < deadline, "the TSE transaction did not start"
        time.sleep(0.02)
    tar = tmp_path / "tse.tar"
    assert posctl(running, "tse", "export", str(tar)).returncode == 0
    strict = posctl(running, "tse", "verify-export", str(tar))
    assert strict.returncode == 1
    assert "has no FinishTransaction" in strict.stdout
    assert "--allow-open" in strict.stdout
    lenient = posctl(running, "tse", "verify-export", "--allow-open", str(tar))
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    number = started()
    assert f"open transactions (no finish yet): {number}" in lenient.stdout


def test_a_register_id_the_tse_cannot_hold_is_refused_at_start() -> None:
    for bad in ("KASSE_01", "Kasse#1", "Kässe", "K/1", "x" * 31, ""):
        with pytest.raises(ConfigError, match=r"register\.id: 1\.\.30 characters"):
            load(None, {"register": {"id": bad}})
    assert load(None, {"register": {"id": "Kasse 01-A"}}).register.id == "Kasse 01-A"
