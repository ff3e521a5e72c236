"""posctl as a technician types it: ``--json`` where the README shows it, and a socket it
cannot use named for what it is (not "posd is not running" while posd runs)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from posd_daemon.cli import posctl
from tests.conftest import Running
from tests.integration.api.test_devices_api import run_posctl

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")
ROOT = Path(__file__).resolve().parents[3]


def posctl_output(out: str) -> str:
    """posctl's output without the in-process daemon's log lines printed meanwhile."""
    return "\n".join(line for line in out.splitlines() if not LOG_LINE.match(line))


def test_json_is_taken_after_the_subcommand_as_the_readme_shows_it(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    # README: posctl --operator 1 watch [--json]
    code, out = run_posctl(
        running, "watch", "--after", "0", "--count", "1", "--json", monkeypatch=monkeypatch
    )
    assert code == 0
    assert json.loads(posctl_output(out))["sequence"]
    code, out = run_posctl(running, "sale", "list", "--json", monkeypatch=monkeypatch)
    assert (code, json.loads(posctl_output(out))) == (0, [])
    for argv in (("status", "--json"), ("--json", "status")):  # after or before
        code, out = run_posctl(running, *argv, monkeypatch=monkeypatch)
        assert (code, json.loads(posctl_output(out))["register_id"]) == (0, "REG-1")
    code, out = run_posctl(running, "status", monkeypatch=monkeypatch)  # without: text
    assert "running, register REG-1" in out


def test_a_path_that_is_no_socket_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "posd.sock"
    plain.write_text("", "utf-8")
    assert posctl.main(["--socket", str(plain), "status"]) == posctl.EXIT_FAILED
    err = capsys.readouterr().err
    assert f"posctl: {plain}: not a socket" in err
    assert "not running" not in err


def test_a_stale_socket_says_the_daemon_is_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "posd.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # bound, never listening: what a killed daemon leaves
    stale.close()
    assert posctl.main(["--socket", str(path), "status"]) == posctl.EXIT_NOT_RUNNING
    assert "posd is not running" in capsys.readouterr().err


def test_a_socket_posctl_may_not_use_is_not_reported_as_a_stopped_daemon(
    running: Running, tmp_path: Path
) -> None:
    """A technician outside the daemon's group (the socket is 0660, the state dir 0750)
    was told posd is not running and to start it, while it ran."""
    sock = str(running.config.socket_path)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("daemon", "clients/python", ".")),
    }
    env.pop("POSD_CONFIG", None)
    argv = [sys.executable, "-m", "posd_daemon.cli.posctl", "--socket", sock, "status"]
    if os.geteuid() == 0:  # root passes every permission check: run it as nobody
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop privileges")
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    else:
        os.chmod(sock, 0o600)
        if os.access(sock, os.W_OK):
            pytest.skip("this user may use the socket whatever its mode")
        os.chmod(sock, 0o000)
    r = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False
    )
    assert "not running" not in r.stderr, r.stderr
    assert "permission denied" in r.stderr.lower(), r.stderr
    assert sock in r.stderr or str(running.config.state_dir) in r.stderr
    assert r.returncode == posctl.EXIT_FAILED


def test_a_refusal_names_its_code_and_reason_once(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    """posctl said "PERMISSION_DENIED PERMISSION_DENIED: …" when the reason repeats the
    code; a reason of its own still follows the code."""
    state = str(running.config.state_dir)
    as_cashier = ["--state-dir", state, "--operator", "2", "--pin", "0000"]
    assert posctl.main([*as_cashier, "drawer", "open", "--reason", "x"]) == posctl.EXIT_FAILED
    err = capsys.readouterr().err.strip()
    assert err == "posctl: PERMISSION_DENIED: operator 2 lacks permission DRAWER_OPEN_NO_SALE"
    wrong_pin = ["--state-dir", state, "--operator", "2", "--pin", "9999"]
    assert posctl.main([*wrong_pin, "sale", "list"]) == posctl.EXIT_FAILED
    assert capsys.readouterr().err.strip() == (
        "posctl: UNAUTHENTICATED: unknown operator or wrong PIN"
    )
    as_manager = ["--state-dir", state, "--operator", "1", "--pin", "1234"]
    assert posctl.main([*as_manager, "print", "reprint", "no-such-sale"]) == posctl.EXIT_FAILED
    assert capsys.readouterr().err.startswith("posctl: NOT_FOUND SALE_NOT_FOUND: ")


def test_reprint_takes_the_receipt_number_as_printed(
    running: Running, pos: PosdClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """A technician reads the receipt number off the paper (as `receipts show` takes
    it); reprint took only the sale id ("no sale '1'")."""
    pos.upsert_item("T-1", "Tee", 450)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="T-1")
    pos.add_payment(sid, common_pb2.PAYMENT_METHOD_CASH, 450)
    number = pos.post_sale(sid).receipt_number
    as_manager = ["--state-dir", str(running.config.state_dir), "--operator", "1", "--pin", "1234"]
    capsys.readouterr()
    assert posctl.main([*as_manager, "print", "reprint", str(number)]) == 0
    assert f"copy of receipt {number} queued" in capsys.readouterr().out
    assert posctl.main([*as_manager, "print", "reprint", sid]) == 0  # the sale id still works
    assert f"copy of receipt {number} queued" in capsys.readouterr().out
    assert posctl.main([*as_manager, "print", "reprint", str(number + 1)]) == posctl.EXIT_FAILED
    assert "NOT_FOUND" in capsys.readouterr().err
