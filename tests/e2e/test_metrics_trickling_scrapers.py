"""The metrics exporter against peers that send a request a byte at a time.

Real ``posd`` process (tests/support/daemon_process.py) over real TCP sockets."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `pytest` without `python -m`: make `tests.support` importable
    sys.path.insert(0, str(_ROOT))

from posd_daemon.ops.metrics import EXPORTER_MAX_CONNECTIONS  # noqa: E402
from tests.support.daemon_process import DaemonProcess  # noqa: E402

pytestmark = pytest.mark.e2e


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
        body: bytes = resp.read()
    return body.decode()


def test_trickling_peers_do_not_hold_the_exporter_for_good(tmp_path: Path) -> None:
    """Each read of a scrape is bounded in time, but a peer that sends a byte of its
    headers well within that bound never hits it: as many such peers as the exporter
    serves at once kept Prometheus out for as long as they liked (an alert-free outage
    of the register's monitoring). A connection now has a deadline as a whole."""
    with DaemonProcess(tmp_path / "state") as daemon:
        daemon.start()
        port = daemon.metrics_port()
        assert "posd_sales_posted" in _scrape(port)
        peers = [
            socket.create_connection(("127.0.0.1", port), timeout=5)
            for _ in range(EXPORTER_MAX_CONNECTIONS)
        ]
        stop = threading.Event()

        def trickle() -> None:
            for s in peers:
                with contextlib.suppress(OSError):
                    s.sendall(b"GET /metrics HTTP/1.1\r\n")
            while not stop.wait(1.0):
                for s in peers:
                    with contextlib.suppress(OSError):
                        s.sendall(b"X")  # one more byte of a header that never ends

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            time.sleep(1.0)  # every slot taken by a trickling peer
            body = None
            deadline = time.monotonic() + 40
            while body is None and time.monotonic() < deadline:
                try:
                    body = _scrape(port)
                except OSError:
                    time.sleep(0.5)
            assert body is not None, "no scrape got through in 40 s while peers trickled"
            assert "posd_sales_posted" in body
        finally:
            stop.set()
            sender.join(timeout=5)
            for s in peers:
                s.close()
        assert daemon.terminate() == 0
        assert not [e for e in daemon.log_events() if e.get("level") == "error"]
        assert "Traceback" not in daemon.stderr()
