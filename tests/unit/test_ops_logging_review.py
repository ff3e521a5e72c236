"""The daemon's log is one JSON object per line on stdout, whoever writes it.

Runs ``posd_daemon.ops.logging.configure`` in a fresh interpreter (the logging setup is
process-wide) and reads what it writes, as journald would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_standard_library_log_records_become_json_lines() -> None:
    """The fiskaly TSE client (and gRPC) log through the standard ``logging`` module.
    Unconfigured, its warnings went to stderr as bare text without time or level, a
    traceback as many lines (many journal entries), and its info lines were lost: the
    TSE's retries and dropped transactions did not show in the JSON log at all."""
    done = _run(
        """
        import logging
        from posd_daemon.ops import logging as plog
        plog.configure("info", "json")
        log = logging.getLogger("posd_daemon.fiscal.fiskaly")
        log.info("fiskaly tx %s was closed before; returning its stored result", "tx-1")
        log.warning("fiskaly %s %s: %s; retrying once", "PUT", "/tss/x", "line\\nbreak")
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            log.exception("cannot write fiskaly state file %s", "/var/lib/posd/f.json")
        log.debug("not shown at info")
        plog.get("posd").info("structlog_line", detail="b\\xe4d \\udcff bytes")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [r["event"] for r in records] == [
        "fiskaly tx tx-1 was closed before; returning its stored result",
        "fiskaly PUT /tss/x: line\nbreak; retrying once",
        "cannot write fiskaly state file /var/lib/posd/f.json",
        "structlog_line",
    ]
    assert [r["level"] for r in records] == ["info", "warning", "error", "info"]
    assert all(r["timestamp"] for r in records)
    assert records[0]["logger"] == "posd_daemon.fiscal.fiskaly"
    assert "No space left on device" in records[2]["exception"]
    assert "Traceback" in records[2]["exception"]
