"""OrderGuard: a register's LoadOrder waits for its hand-overs (and they for it), a
bounded while; see services/orders.py."""

from __future__ import annotations

import asyncio

import pytest

from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.services.orders import OrderGuard


def test_a_load_waits_for_a_hand_over_under_way_and_runs_after_it() -> None:
    async def scenario() -> list[str]:
        guard = OrderGuard(load_wait_s=2.0)
        steps: list[str] = []

        async def hand_over() -> None:
            async with guard.hand_over():
                assert guard.handing_over
                steps.append("asked")
                await asyncio.sleep(0.1)
                steps.append("imported")

        async def load() -> None:
            async with guard.load():
                steps.append("loaded")

        task = asyncio.create_task(hand_over())
        await asyncio.sleep(0)  # the hand-over holds the guard
        await load()
        await task
        assert not guard.handing_over
        return steps

    assert asyncio.run(scenario()) == ["asked", "imported", "loaded"]


def test_a_hand_over_waits_for_a_load_under_way() -> None:
    async def scenario() -> list[str]:
        guard = OrderGuard()
        steps: list[str] = []

        async def load() -> None:
            async with guard.load():
                await asyncio.sleep(0.05)
                steps.append("loaded")

        task = asyncio.create_task(load())
        await asyncio.sleep(0)
        async with guard.hand_over():
            steps.append("asked")  # the orders in use read now include the loaded one
        await task
        return steps

    assert asyncio.run(scenario()) == ["loaded", "asked"]


def test_a_load_waits_a_bounded_while_then_is_told_to_try_again() -> None:
    async def scenario() -> DomainError:
        guard = OrderGuard(load_wait_s=0.05)
        release = asyncio.Event()

        async def hand_over() -> None:
            async with guard.hand_over():
                await release.wait()

        task = asyncio.create_task(hand_over())
        await asyncio.sleep(0)
        with pytest.raises(DomainError) as err:
            async with guard.load():
                pass
        release.set()
        await task
        async with guard.load():  # nothing left held by the one that gave up
            pass
        return err.value

    refused = asyncio.run(scenario())
    assert (refused.kind, refused.reason) == (ErrorKind.UNAVAILABLE, "ORDER_HAND_OVER_UNDER_WAY")
