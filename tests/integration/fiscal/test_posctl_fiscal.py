"""posctl tse / outage commands against a running daemon (real socket, real process)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.conftest import Running


def posctl(running: Running, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "posd_daemon.cli.posctl",
            "--state-dir",
            str(running.config.state_dir),
            "--operator",
            "1",
            "--pin",
            "1234",
            *args,
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
