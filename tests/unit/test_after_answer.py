"""Work that follows answers (display, event bus, log lines) runs in the order queued."""

from __future__ import annotations

import asyncio

import pytest

from posd_daemon.api.runtime import AfterAnswer


def test_work_queued_behind_held_work_waits_for_it_and_keeps_its_order() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        after = AfterAnswer()
        ran: list[str] = []
        after.add(lambda: ran.append("posted"), hold_s=0.02)  # the PostSale's display
        after.add(lambda: ran.append("created"))  # the next sale's, queued right after
        await asyncio.sleep(0.005)
        early = list(ran)
        await asyncio.sleep(0.05)
        return early, ran

    early, ran = asyncio.run(scenario())
    assert early == []  # held: nothing ran yet, not even the unheld piece behind it
    assert ran == ["posted", "created"]


def test_unheld_work_runs_soon_in_order() -> None:
    async def scenario() -> list[int]:
        after = AfterAnswer()
        ran: list[int] = []
        for n in range(5):
            after.add(lambda n=n: ran.append(n))
        await asyncio.sleep(0)
        return ran

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]


def test_a_failing_piece_is_logged_and_the_rest_still_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken() -> None:
        raise ValueError("display gone")

    async def scenario() -> list[str]:
        after = AfterAnswer()
        ran: list[str] = []
        after.add(broken, hold_s=0.001)
        after.add(lambda: ran.append("log line"))
        await asyncio.sleep(0.02)
        # the queue keeps working after the failure
        after.add(lambda: ran.append("next"))
        await asyncio.sleep(0)
        return ran

    assert asyncio.run(scenario()) == ["log line", "next"]
    assert "after_answer_failed" in capsys.readouterr().out
