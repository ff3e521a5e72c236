"""RPC summary lines written in batches (ops/logging.Summaries): nothing is lost, each
line keeps its own time, and nothing waits longer than the delay."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import threading
import time
from datetime import datetime
from typing import Any, cast

import pytest
import structlog

from posd_daemon.ops import logging as plog


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def summaries(delay: float = 0.025) -> tuple[plog.Summaries, Recorder]:
    rec = Recorder()
    return plog.Summaries(cast(structlog.typing.FilteringBoundLogger, rec), delay), rec


def test_lines_wait_at_most_the_delay_and_keep_their_own_time() -> None:
    async def run() -> tuple[Recorder, list[int]]:
        s, rec = summaries(delay=0.3)
        s.add("rpc", method="AddLine", request_id="a")
        await asyncio.sleep(0.05)
        s.add("rpc", method="PostSale", request_id="b")
        seen = [len(rec.lines)]
        await asyncio.sleep(0.5)  # the first line's delay is over: both written at once
        seen.append(len(rec.lines))
        return rec, seen

    rec, seen = asyncio.run(run())
    assert seen == [0, 2]
    (event, first), (_, second) = rec.lines
    assert (event, first["method"], first["request_id"]) == ("rpc", "AddLine", "a")
    assert second["method"] == "PostSale"
    t1 = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    t2 = datetime.fromisoformat(second["timestamp"].replace("Z", "+00:00"))
    assert (t2 - t1).total_seconds() >= 0.045  # each when it was added, not when written


def test_a_full_batch_is_written_at_once_and_close_writes_the_rest() -> None:
    async def run() -> tuple[Recorder, int]:
        s, rec = summaries(delay=10.0)
        for i in range(plog.SUMMARY_BATCH + 3):
            s.add("rpc", n=i)
        written = len(rec.lines)
        s.close()
        return rec, written

    rec, written = asyncio.run(run())
    assert written == plog.SUMMARY_BATCH
    assert [f["n"] for _, f in rec.lines] == list(range(plog.SUMMARY_BATCH + 3))


def test_off_the_event_loop_a_line_is_written_at_once() -> None:
    s, rec = summaries()
    t = threading.Thread(target=lambda: s.add("rpc", method="X"))
    t.start()
    t.join()
    assert rec.lines == [("rpc", {"method": "X"})]


def test_any_other_line_writes_the_waiting_ones_first() -> None:
    """The processor at the head of the daemon's chain: the output stays in time order."""

    async def run() -> Recorder:
        s, rec = summaries(delay=10.0)
        s.add("rpc", method="AddLine")
        event = plog._summaries_first(None, "info", {"event": "printed"})
        rec.lines.append((str(event["event"]), {}))
        return rec

    rec = asyncio.run(run())
    assert [e for e, _ in rec.lines] == ["rpc", "printed"]


def test_a_stamped_line_keeps_its_time_and_others_get_now() -> None:
    kept = plog._timestamp(None, "info", {"event": "rpc", "timestamp": "2026-01-01T00:00:00Z"})
    assert kept["timestamp"] == "2026-01-01T00:00:00Z"
    fresh = plog._timestamp(None, "info", {"event": "x"})
    assert fresh["timestamp"].endswith("Z")
    assert plog.iso_utc(0.5) == "1970-01-01T00:00:00.500000Z"


class SlowOut(io.StringIO):
    """stdout that takes 2 ms per line: writing a batch takes a while."""

    def write(self, text: str) -> int:
        if text.strip():
            time.sleep(0.002)
        return super().write(text)


def test_other_threads_lines_wait_for_a_batch_being_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon's real processor chain: a device thread's line logged while the loop
    writes a batch comes after the whole batch, and a summary added while a device
    thread writes a batch (its line flushed it) comes before that thread's line; the
    output is in time order."""
    out = SlowOut()
    monkeypatch.setattr(sys, "stdout", out)
    plog.configure("info", "json")
    try:

        async def run() -> None:
            loop = asyncio.get_running_loop()
            s = plog.Summaries(plog.get("test.rpc"), delay=10.0)
            for i in range(10):
                s.add("rpc", n=i)
            device = threading.Thread(
                target=lambda: (time.sleep(0.005), plog.get("test.dev").info("device_1"))
            )
            device.start()
            s.flush()  # ~20 ms on the loop; device_1 is logged meanwhile
            device.join()
            for i in range(10, 20):
                s.add("rpc", n=i)
            # now a device thread's line writes the batch, and the loop adds one meanwhile
            writer = threading.Thread(target=lambda: plog.get("test.dev").info("device_2"))
            writer.start()
            await asyncio.sleep(0.005)
            s.add("rpc", n=99)
            await loop.run_in_executor(None, writer.join)
            s.close()

        asyncio.run(run())
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e.get("n", e["event"]) for e in lines] == [
        *range(10),
        "device_1",
        *range(10, 20),
        99,
        "device_2",
    ]
    stamps = [e["timestamp"] for e in lines]
    assert stamps == sorted(stamps)
