"""posctl as a field technician types it at a broken register: the real posctl process
against an in-process daemon on its real socket. A mistake is one ``posctl:`` line on
stderr and a non-zero exit, never a traceback, and never a file of the system replaced."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Running
from tests.support.posctl_run import posctl_args

HUGE = "99999999999999999999"  # beyond int64: what the API carries


def posctl(running: Running, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "posd_daemon.cli.posctl", *posctl_args(running, *args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["print", "discard", HUGE, "--reason", "jammed"],
        ["print", "reprint", HUGE],
    ],
)
def test_a_number_beyond_the_api_is_one_clear_line(running: Running, argv: list[str]) -> None:
    done = posctl(running, *argv)
    assert done.returncode in (1, 2), done
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("posctl"), done.stderr


@pytest.mark.parametrize("kind", ["datev", "cashbook"])
def test_an_export_into_a_missing_directory_names_the_directory(
    running: Running, tmp_path: Path, kind: str
) -> None:
    missing = tmp_path / "usb-stick"
    done = posctl(
        running, "export", kind, "--from", "2024-01-01", "--to", "2024-01-02", f"{missing}/x.csv"
    )
    assert done.returncode == 1, done
    # what was typed, not the .part file posctl would have written
    assert done.stderr == f"posctl: {missing}: no such directory\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "datev", "--from", "2024-01-01", "--to", "2024-01-02"],
        ["export", "cashbook", "--from", "2024-01-01", "--to", "2024-01-02"],
        ["outage", "export"],
        ["tse", "export"],
    ],
)
def test_an_export_onto_the_daemons_socket_leaves_it_in_place(
    running: Running, argv: list[str]
) -> None:
    # a technician tab-completing into the state directory: the export replaced the
    # socket with a CSV file, and the daemon answered nobody until restarted
    sock = running.config.socket_path
    done = posctl(running, *argv, str(sock))
    assert stat.S_ISSOCK(sock.stat().st_mode), "the daemon's socket was replaced"
    assert done.returncode == 1, done
    assert done.stderr == f"posctl: {sock}: not a regular file\n"
    assert posctl(running, "status").returncode == 0
