"""posctl as a technician types it: ``--json`` where the README shows it, and a socket it
cannot use named for what it is (not "posd is not running" while posd runs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

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
