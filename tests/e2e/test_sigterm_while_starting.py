"""A SIGTERM while the daemon starts (`systemctl stop` right after a start) stops it
cleanly: before, the event loop's handler was installed only after ``start()`` returned,
so a TERM while it opened the database, migrated or registered the TSE client killed the
process with the default action (no "stopped", the lock and socket left to chance). The
real ``posd`` process; the TERM is sent while the (fake) fiskaly API holds the client
registration, i.e. inside ``start()``."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.daemon_process import DaemonProcess
from tests.support.fake_fiskaly import FakeFiskaly

CONFIG = """\
[metrics]
listen = "127.0.0.1:0"

[log]
level = "info"
format = "json"

[tse]
backend = "fiskaly"
fiskaly_url = "{url}"
fiskaly_api_key = "{key}"
fiskaly_api_secret = "{secret}"
fiskaly_tss_id = "{tss}"
timeout_ms = 8000
probe_seconds = 3600
"""


@pytest.mark.e2e
def test_a_term_while_starting_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with FakeFiskaly() as fake:
        config = state / "posd.toml"
        config.write_text(
            CONFIG.format(
                url=fake.base_url, key=fake.api_key, secret=fake.api_secret, tss=fake.tss_id
            ),
            encoding="utf-8",
        )
        # the client registration (PUT .../client/<id>) answers late: start() waits in it
        fake.delay_next(seconds=3.0, match="/client/", before=True)
        with DaemonProcess(state, config=config) as daemon:
            pid = daemon.spawn()
            deadline = time.monotonic() + 20
            while not any(r.method == "PUT" and "/client/" in r.path for r in fake.requests):
                assert daemon.running, daemon.stderr()
                assert time.monotonic() < deadline, "posd never registered its TSE client"
                time.sleep(0.01)
            assert daemon.notify.messages(pid) == []  # still starting: no READY=1 yet
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait_exit(30)
            assert code == 0, f"exit {code}: {daemon.stderr()[-2000:]}"
            events = [e.get("event") for e in daemon.log_events()]
            assert "stopped" in events
            assert not any(m.fields.get("READY") == "1" for m in daemon.notify.messages(pid))
            assert not daemon.socket_path.exists()
        fake.wait_idle(10)
    # the migration committed whole (all or nothing: store.database.migrate)
    conn = sqlite3.connect(state / "posd.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA user_version").fetchone()[0] > 0
    finally:
        conn.close()


def _signal_mask(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1], 16)
    return 0


@pytest.mark.e2e
def test_a_term_during_the_imports_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    """The TERM comes in the half second of imports before the event loop runs (once
    the process ignores SIGHUP, the first thing posd's main module does)."""
    state = tmp_path / "state"
    with DaemonProcess(state) as daemon:
        pid = daemon.spawn()
        deadline = time.monotonic() + 20
        while not _signal_mask(pid, "SigIgn") & (1 << (signal.SIGHUP - 1)):
            assert daemon.running, daemon.stderr()
            assert time.monotonic() < deadline, "posd never ignored SIGHUP while starting"
            time.sleep(0.001)
        sent_before_ready = not daemon.socket_path.exists()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait_exit(30)
        assert code == 0, f"exit {code}: {daemon.stderr()[-2000:]}"
        assert sent_before_ready
        assert "stopped" in [e.get("event") for e in daemon.log_events()]
        assert not any(m.fields.get("READY") == "1" for m in daemon.notify.messages(pid))
