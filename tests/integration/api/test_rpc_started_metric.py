"""``posd_rpc_started_total{method}``: calls counted when they start, so that with
``posd_rpc_total{method,code}`` (counted when they end) an operator sees the calls in
flight, e.g. while a graceful stop waits for them."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from posd.v1 import device_pb2

from tests.conftest import start_in_thread


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_call_is_counted_started_while_in_flight_and_finished_once_it_ends(
    tmp_path: Path,
) -> None:
    """An interactive scanner check waits for a scan: a call that stays in flight for as
    long as the test needs, without a timing guess. Started counts it at once, finished
    only when it ends (here: its client cancels it)."""
    r = start_in_thread(tmp_path / "state", {"metrics": {"listen": "127.0.0.1:0"}})
    try:
        reg = r.daemon.metrics.registry

        def started(method: str) -> float:
            return reg.get_sample_value("posd_rpc_started_total", {"method": method}) or 0.0

        def finished(method: str, code: str) -> float:
            labels = {"method": method, "code": code}
            return reg.get_sample_value("posd_rpc_total", labels) or 0.0

        with r.client(open_shift=False) as pos:
            # an answered call: started once, finished once
            assert started("Login") == 1
            assert finished("Login", "OK") == 1
            pos.retries = 0
            req = device_pb2.CheckHealthRequest(
                device_id="scanner",
                level=device_pb2.HEALTH_LEVEL_INTERACTIVE,
                timeout_seconds=30,
            )
            waiting = pos.devices.CheckHealth.future(req, timeout=30, metadata=pos._metadata())
            try:
                _wait_until(lambda: started("CheckHealth") == 1, "the call was not counted started")
                # in flight: started, not finished (with no code at all)
                assert all(
                    finished("CheckHealth", code) == 0
                    for code in ("OK", "CANCELLED", "DEADLINE_EXCEEDED", "UNAVAILABLE")
                )
                port = r.daemon.metrics.bound_port
                url = f"http://127.0.0.1:{port}/metrics"
                text = urllib.request.urlopen(url, timeout=5).read().decode()
                assert 'posd_rpc_started_total{method="CheckHealth"} 1.0' in text
                assert "# TYPE posd_rpc_started_total counter" in text
            finally:
                waiting.cancel()
            with pytest.raises(grpc.FutureCancelledError):
                waiting.result()
            _wait_until(
                lambda: finished("CheckHealth", "CANCELLED") == 1,
                "the cancelled call was not counted finished",
            )
            assert started("CheckHealth") == 1  # counted once, at its start
    finally:
        r.stop()
