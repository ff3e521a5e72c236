"""``posctl --json`` keeps stdout one JSON document even when a command asks the
technician something (the y/n of an interactive device test): the question goes to
stderr, the answer still comes from stdin (posctl as a subprocess against an in-process
daemon, real socket, simulated devices)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from posd_daemon.cli import posctl as cli
from posd_daemon.ops.pins import verify_pin
from tests.conftest import Running
from tests.support.posctl_run import posctl_args


def posctl(running: Running, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "posd_daemon.cli.posctl", *posctl_args(running, *args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("n\n", 1)])
def test_an_interactive_device_test_with_json_prints_only_json(
    running: Running, answer: str, code: int
) -> None:
    r = posctl(running, "--json", "test", "display", stdin=answer)
    assert r.returncode == code, (r.stdout, r.stderr)
    data = json.loads(r.stdout)  # the whole of stdout: no prompt before it
    assert data["status"] == ("HEALTH_STATUS_OK" if code == 0 else "HEALTH_STATUS_FAILED")
    assert "[y/n]" in r.stderr  # the question was still asked


def test_without_json_the_question_stays_on_stdout(running: Running) -> None:
    r = posctl(running, "test", "display", stdin="y\n")
    assert r.returncode == 0, r.stderr
    assert "[y/n]" in r.stdout
    assert "display test passed" in r.stdout


def test_hash_pin_with_json_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    """No daemon needed: the hash for the config file, as a JSON document with --json."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdin", io.StringIO("4711\n"))
        code = cli.main(["--json", "operator", "hash-pin"])
    out = capsys.readouterr().out
    assert code == 0
    hashed = json.loads(out)["pin_hash"]
    assert verify_pin("4711", hashed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdin", io.StringIO("4711\n"))
        assert cli.main(["operator", "hash-pin"]) == 0
    assert verify_pin("4711", capsys.readouterr().out.strip())
