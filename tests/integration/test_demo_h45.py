"""``make demo`` (``python -m posd_daemon.demo``) as a new developer runs it: a receipt,
a clean stop, nothing left behind in the temp dir; and a daemon that cannot start (the
demo's state dir held by another posd) is said at once, with its exit code and log,
not after a 10 s wait as "did not become ready"."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def run_demo(
    tmp_path: Path, timeout: float = 60.0
) -> tuple[subprocess.CompletedProcess[str], list[Path]]:
    """The demo's run and what it left in its temp dir."""
    # a short temp dir of its own (pytest's tmp_path can be too long for the notify
    # socket's path), to see the demo leave nothing behind in it
    tmp = Path(tempfile.mkdtemp(prefix="demo-", dir="/tmp"))
    env = dict(os.environ, POSD_DEMO_STATE=str(tmp_path / "demo"), TMPDIR=str(tmp))
    done = subprocess.run(
        [sys.executable, "-m", "posd_daemon.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        return done, list(tmp.iterdir())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_demo_prints_a_receipt_stops_cleanly_and_leaves_no_temp_files(tmp_path: Path) -> None:
    done, left = run_demo(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "posted as receipt 1" in done.stdout
    assert "SUMME" in done.stdout and "TSE-Signatur:" in done.stdout
    assert "posd stopped cleanly (exit code 0)" in done.stdout
    # the notify socket's directory went with the run (one was left per run before)
    assert left == []


def test_a_daemon_that_cannot_start_is_reported_at_once(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    state.mkdir()
    with open(state / "posd.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "another posd is running"
        done, left = run_demo(tmp_path)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "exited with code 1 before it was ready" in said, said
    assert str(state / "daemon.log") in said
    assert "another posd is running" in (state / "daemon.log").read_text()
    assert left == []
