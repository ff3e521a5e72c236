"""``python -m posd_daemon.cli.posctl`` (what the tests and a venv without the console
script use) loaded posctl twice, as __main__ and as posd_daemon.cli.posctl: an error
raised by the day or catalog commands (which import the latter) was of another class
than the one __main__ catches, and ended in a traceback with exit status 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_refused_argument_of_a_day_command_is_one_line_and_exit_1(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "posd_daemon.cli.posctl",
            "--socket",
            str(tmp_path / "none.sock"),
            "export",
            "dsfinvk",
            "--z",
            "abc",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0, out
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("posctl: "), out.stderr
