"""posctl as a field technician uses it at night: ``--json`` output that stays JSON on
stdout for ``test --direct`` too, and counts that are counts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from posd_daemon.cli import posctl


def test_direct_scan_test_with_json_keeps_stdout_one_json_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``posctl --json test scan --direct ...`` wrote its "scan a code ..." remark and
    its FAILED line as text on stdout: a script's json.loads() failed on it."""
    fifo = tmp_path / "scanner.fifo"
    os.mkfifo(fifo)  # a real FIFO nobody writes into: no scan within the timeout
    code = posctl.main(["--json", "test", "scan", "--direct", f"file://{fifo}", "--timeout", "1"])
    out, err = capsys.readouterr()
    assert code == posctl.EXIT_FAILED
    result = json.loads(out)  # the whole of stdout, nothing else
    assert result["passed"] is False
    assert "scan a code within 1 s" in err


@pytest.mark.parametrize("command", [("watch",), ("monitor", "printer")])
def test_a_negative_count_is_a_usage_error(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--count -1`` was taken and stopped after the first event (``seen >= -1``),
    instead of being refused like any other bad number."""
    with pytest.raises(SystemExit) as exc:
        posctl.main(["--socket", "/nonexistent/posd.sock", *command, "--count", "-1"])
    assert exc.value.code == 2
    assert "--count" in capsys.readouterr().err
