"""The event loop's errors no caller handled: logged as JSON, counted, the loop goes on."""

from __future__ import annotations

import asyncio
import json

import pytest
import structlog
from prometheus_client import CollectorRegistry, Counter

from posd_daemon.ops import eventloop
from posd_daemon.ops import logging as plog
from posd_daemon.ops.loop_errors import LoopErrors


def test_a_failing_callback_is_logged_counted_and_the_loop_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = structlog.get_config()
    plog.configure("info", "json")  # to this test's captured stdout
    try:
        _scenario(capsys)
    finally:
        structlog.configure(**before)


def _scenario(capsys: pytest.CaptureFixture[str]) -> None:
    counter = Counter("errors", "errors", registry=CollectorRegistry())
    errors = LoopErrors(counter)
    after: list[str] = []

    def fails() -> None:
        raise KeyError("sale-1")

    async def scenario() -> None:
        errors.install(asyncio.get_running_loop())
        asyncio.get_running_loop().call_later(0.001, fails)
        await asyncio.sleep(0.01)
        after.append("still running")

    loop = eventloop.new_event_loop()  # production's loop
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert after == ["still running"]
    assert errors.count == 1
    assert counter._value.get() == 1
    assert "KeyError" in errors.recent[0] and "sale-1" in errors.recent[0]
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    logged = [x for x in lines if x["event"] == "loop_error"]
    assert len(logged) == 1
    assert logged[0]["level"] == "error"
    assert "Traceback" in logged[0]["exception"] and "fails" in logged[0]["exception"]
