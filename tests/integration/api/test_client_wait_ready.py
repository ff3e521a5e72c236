"""PosdClient.wait_ready: returns once the daemon answers, times out on a dead socket,
and leaves no connectivity-polling thread behind (close() was 0.13 s with one)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient

from posd_daemon.ops.config import load
from tests.conftest import Running, start_in_thread


def test_ready_then_closed_at_once_without_a_thread_left(running: Running) -> None:
    before = {t.ident for t in threading.enumerate()}
    client = PosdClient(running.target, timeout=5.0)
    client.wait_ready(5)
    client.login("1", "1234")
    started = time.monotonic()
    client.close()
    closed_in = time.monotonic() - started
    left = [t.name for t in threading.enumerate() if t.ident not in before]
    assert left == []
    assert closed_in < 0.05, closed_in


def test_a_socket_nobody_accepts_on_times_out(tmp_path: Path) -> None:
    path = tmp_path / "dead.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))  # bound, never listening: connect is refused
    try:
        client = PosdClient(f"unix:{path}", timeout=5.0)
        started = time.monotonic()
        with pytest.raises(grpc.FutureTimeoutError):
            client.wait_ready(0.5)
        assert 0.4 < time.monotonic() - started < 3.0
        client.close()
    finally:
        listener.close()


def test_a_daemon_that_comes_later_is_waited_for(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder: list[Running] = []
    starter = threading.Timer(0.3, lambda: holder.append(start_in_thread(state)))
    starter.start()
    socket_path = load(None, {"state": {"dir": str(state)}}).socket_path
    client = PosdClient(f"unix:{socket_path}", timeout=5.0)
    try:
        client.wait_ready(10)
        assert client.login("1", "1234").token
    finally:
        client.close()
        starter.join()
        for r in holder:
            r.stop()
