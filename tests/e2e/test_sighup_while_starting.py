"""A HUP while the daemon starts (`systemctl reload` right after a start, a logrotate
habit) does not kill it: before, the half second of imports before the event loop's
handler ran left SIGHUP at its default action, and systemd counts death by SIGHUP as
clean, so Restart=on-failure did not bring the register back. The real `posd` process:
the HUP is sent once the process ignores it (read from /proc) and before it is ready."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from posd.client import PosdClient

from tests.support.daemon_process import POSD_EXECUTABLE


def ignores_sighup(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False


@pytest.mark.e2e
def test_a_hup_while_starting_does_not_kill_the_daemon(tmp_path: Path) -> None:
    executable = POSD_EXECUTABLE
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [str(executable), "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
    )
    try:
        deadline = time.monotonic() + 20
        while not ignores_sighup(proc.pid):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "posd never ignored SIGHUP while starting"
            time.sleep(0.002)
        socket = state / "posd.sock"
        sent_before_ready = not socket.exists()
        proc.send_signal(signal.SIGHUP)
        with PosdClient(f"unix://{socket}", timeout=10.0) as pos:
            pos.wait_ready(20)
        assert proc.poll() is None
        assert sent_before_ready  # the HUP came while it was starting
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
