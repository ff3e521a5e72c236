"""Everything the daemon process writes about an error is one JSON object per line on
stdout: journald (and any log shipper) splits at newlines, so a bare traceback on stderr
becomes dozens of unrelated, unparseable entries.

Each case runs in a fresh interpreter (the real ``posd_daemon.ops.logging`` configured as
the daemon configures it), since the hooks are process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _run(body: str) -> tuple[list[dict[str, object]], str]:
    code = textwrap.dedent(
        """
        from posd_daemon.ops import logging as plog
        plog.configure("info", "json")
        """
    ) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, check=False
    )
    lines = done.stdout.decode("utf-8").splitlines()
    return [json.loads(line) for line in lines if line], done.stderr.decode("utf-8", "replace")


def test_an_exception_escaping_a_thread_is_one_json_line() -> None:
    entries, stderr = _run(
        """
        import threading
        def boom() -> None:
            raise RuntimeError("first line\\nsecond line")
        t = threading.Thread(target=boom, name="worker")
        t.start()
        t.join()
        """
    )
    assert stderr == ""
    [entry] = entries
    assert entry["level"] == "error"
    assert "RuntimeError: first line" in str(entry["exception"])
    assert entry["thread"] == "worker"


def test_an_exception_escaping_main_is_one_json_line_and_exits_1() -> None:
    code = textwrap.dedent(
        """
        from posd_daemon.ops import logging as plog
        plog.configure("info", "json")
        raise ValueError("bad \\udcff byte")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr == b""
    [line] = done.stdout.decode("ascii").splitlines()
    entry = json.loads(line)
    assert entry["level"] == "critical"
    assert "ValueError: bad" in entry["exception"]


def test_a_python_warning_is_one_json_line() -> None:
    entries, stderr = _run(
        """
        import warnings
        warnings.warn("something is deprecated", DeprecationWarning, stacklevel=1)
        """
    )
    assert stderr == ""
    [entry] = entries
    assert entry["level"] == "warning"
    assert "something is deprecated" in str(entry["event"])
