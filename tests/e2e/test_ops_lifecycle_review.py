"""Process lifecycle, systemd unit and metrics exporter as a sysadmin meets them.

Real ``posd`` processes (tests/support/daemon_process.py) over real sockets.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `pytest` without `python -m`: make `tests.support` importable
    sys.path.insert(0, str(_ROOT))

from tests.support.daemon_process import DaemonError, DaemonProcess  # noqa: E402

pytestmark = pytest.mark.e2e

UNIT = _ROOT / "systemd" / "posd.service"


def _scrape(port: int, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as resp:
        body: bytes = resp.read()
    return body.decode()


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- the metrics exporter against clients that connect and send nothing ------------------------


def test_idle_metrics_connections_neither_pile_up_nor_starve_the_api(tmp_path: Path) -> None:
    """A port scanner, a stuck scraper or a hostile local process opens connections to
    the metrics port and never sends a request. Each used to hold a thread and a file
    descriptor of the daemon for good: with systemd's default soft limit of 1024 open
    files, enough of them leave the daemon unable to accept a till's connection. Now
    the exporter serves a bounded number of connections at once and drops a silent one
    after its timeout, so the daemon's descriptors stay where they were."""
    with DaemonProcess(tmp_path / "state") as daemon:
        daemon.start()
        pid = daemon.pid
        port = daemon.metrics_port()
        assert "posd_sales_posted" in _scrape(port)
        before = _open_fds(pid)
        # a tight but workable limit, as a unit's LimitNOFILE= would set it
        _soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (before + 60, hard))
        idle: list[socket.socket] = []
        try:
            for _ in range(120):
                # a refused one is no matter to the attacker; the daemon's state is
                with contextlib.suppress(OSError):
                    idle.append(socket.create_connection(("127.0.0.1", port), timeout=1))
            time.sleep(1.0)
            # the daemon did not keep a descriptor per silent peer
            assert _open_fds(pid) < before + 40, f"{_open_fds(pid)} fds open, {before} before"
            # a till connecting now is served at once
            pos = daemon.client(login=False, retries=0, timeout=5)
            assert pos.status().version
            # and a real scrape gets through again once the silent ones timed out,
            # while they are all still connected from their side
            deadline = time.monotonic() + 20
            while True:
                try:
                    body = _scrape(port)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "no scrape got through in 20 s"
                    time.sleep(0.5)
            assert "posd_sales_posted" in body
            # each silent connection was closed by the daemon (EOF on our side)
            for s in idle[:5]:
                s.settimeout(20)
                assert s.recv(1) == b""
        finally:
            for s in idle:
                with contextlib.suppress(OSError):
                    s.close()
        assert daemon.terminate() == 0
        assert not [e for e in daemon.log_events() if e.get("level") == "error"]


def test_garbage_and_dropped_requests_leave_the_exporter_serving(tmp_path: Path) -> None:
    """Hostile bytes, a request cut off mid-way, a client that leaves before the
    answer: each is answered or dropped, nothing reaches stderr as a traceback, and the
    next scrape works."""
    with DaemonProcess(tmp_path / "state") as daemon:
        daemon.start()
        port = daemon.metrics_port()
        hostile = [
            b"\xff\xfe\x00garbage\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n",  # headers never end
            b"GET /" + b"A" * 70000 + b" HTTP/1.0\r\n\r\n",
            b"GET /metrics?name[]=\xff\xfe HTTP/1.0\r\n\r\n",
            b"POST /metrics HTTP/1.0\r\nContent-Length: 99999999\r\n\r\nxx",
        ]
        for payload in hostile:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as s,
                contextlib.suppress(OSError),
            ):
                s.sendall(payload)
        # the client that leaves before the answer (a reset, not a clean close)
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        assert "posd_sales_posted" in _scrape(port)
        assert daemon.terminate() == 0
        start = daemon.stderr().rfind("--- posd start")
        stderr = daemon.stderr()[start:]
        assert "Traceback" not in stderr, stderr[-3000:]


# -- configuration errors and systemd's Restart= -------------------------------------------------


def test_an_unusable_system_zone_exits_78_from_the_main_process(tmp_path: Path) -> None:
    """register.timezone "" takes the system's zone; a TZ naming none is a configuration
    error: EX_CONFIG (78) from the daemon itself, which RestartPreventExitStatus=78
    keeps from restarting, not 1, which Restart=on-failure restarts in a loop."""
    with DaemonProcess(tmp_path / "state", env={"TZ": "No/Such_Zone"}) as daemon:
        with pytest.raises(DaemonError) as failed:
            daemon.start()
        assert failed.value.returncode == 78, failed.value.stderr[-2000:]
        assert "No/Such_Zone" in failed.value.stderr
        assert "register.timezone" in failed.value.stderr
        assert not daemon.db_path.exists(), "touched the state before validating"


def _unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_does_not_restart_a_bad_configuration() -> None:
    """RestartPreventExitStatus= looks at the main process only; an ExecStartPre= that
    fails with the same status counts as a plain failure and Restart=on-failure starts
    the unit again and again (systemd.service(5), RestartPreventExitStatus=; systemd
    issue 11868). The configuration check must be the main process's own."""
    unit = _unit_settings(UNIT)
    assert unit["Type"] == ["notify"]
    assert unit["Restart"] == ["on-failure"]
    assert "78" in " ".join(unit["RestartPreventExitStatus"]).split()
    for command in unit.get("ExecStartPre", []):
        assert "--check-config" not in command, (
            "a configuration error in ExecStartPre= escapes RestartPreventExitStatus=78"
        )
    # the main process validates the same way (see test_daemon_lifecycle.py's
    # test_a_bad_config_file_exits_78_and_names_the_key)
    assert unit["ExecStart"] == ["/usr/bin/posd --config /etc/posd/posd.toml"]


# -- the stop and systemd's TimeoutStopSec= ------------------------------------------------------


def test_the_stop_asks_systemd_for_the_time_its_grace_needs(tmp_path: Path) -> None:
    """api.grace_seconds may be up to 60 s, the unit's TimeoutStopSec= is 20 s: with a
    longer grace systemd would SIGKILL the daemon while it still lets calls finish. With
    STOPPING=1 it sends EXTEND_TIMEOUT_USEC= (sd_notify(3)) covering the grace and the
    forced stop after it, and a STATUS= saying what it does."""
    state = tmp_path / "state"
    state.mkdir()
    config = state / "posd.toml"
    config.write_text(
        '[metrics]\nlisten = "127.0.0.1:0"\n[log]\nformat = "json"\n[api]\ngrace_seconds = 45\n',
        encoding="utf-8",
    )
    unit = _unit_settings(UNIT)
    stop_timeout = float(unit["TimeoutStopSec"][0].removesuffix("s"))
    with DaemonProcess(state, config=config) as daemon:
        daemon.start()
        pid = daemon.pid
        assert daemon.terminate() == 0
        stopping = [m for m in daemon.notify.messages(pid) if m.fields.get("STOPPING") == "1"]
        assert len(stopping) == 1
        fields = stopping[0].fields
        assert "stopping" in fields.get("STATUS", "")
        extend = int(fields.get("EXTEND_TIMEOUT_USEC", "0"))
        assert extend >= 45 * 1_000_000 + 3_000_000, fields  # the grace and the forced stop
        assert extend > stop_timeout * 1_000_000
