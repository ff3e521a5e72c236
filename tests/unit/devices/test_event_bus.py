"""The event bus: sequence numbers, replay and resume, many subscribers, slow ones cut off."""

from __future__ import annotations

import asyncio
import threading

import pytest

from posd_daemon.services.events import EventBus, SubscriberTooSlow


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_sequence_numbers_listeners_and_subscribers() -> None:
    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        heard: list[int] = []
        bus.add_listener(lambda e: heard.append(e.sequence))
        subs = [bus.subscribe() for _ in range(50)]
        for i in range(5):
            bus.publish(f"event {i}", "dev")
        for sub in subs:
            batch = await sub.get()
            assert [e.sequence for e in batch] == [1, 2, 3, 4, 5]
            assert batch[0].payload == "event 0"
            assert batch[0].device_id == "dev"
        assert heard == [1, 2, 3, 4, 5]
        for sub in subs:
            sub.close()
        assert bus.subscriber_count == 0

    run(main())


def test_publish_from_device_threads_reaches_the_loop_in_order() -> None:
    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        listener_threads: set[int] = set()
        bus.add_listener(lambda e: listener_threads.add(threading.get_ident()))
        sub = bus.subscribe()
        threads = [
            threading.Thread(target=lambda: [bus.publish(i) for i in range(100)]) for _ in range(4)
        ]
        for t in threads:
            t.start()
        got: list[int] = []
        while len(got) < 400:
            got += [e.sequence for e in await sub.get()]
        for t in threads:
            t.join()
        await asyncio.sleep(0.01)  # the loop runs the scheduled dispatch
        assert got == list(range(1, 401))
        assert listener_threads == {threading.get_ident()}  # listeners run on the loop

    run(main())


def test_resume_replays_the_window_and_counts_what_left_it() -> None:
    async def main() -> None:
        bus = EventBus(replay=10)
        bus.bind(asyncio.get_running_loop())
        for i in range(25):
            bus.publish(i)
        resumed = bus.subscribe(after_sequence=20)
        assert [e.sequence for e in await resumed.get()] == [21, 22, 23, 24, 25]
        assert resumed.lost == 0
        late = bus.subscribe(after_sequence=3)  # 4..15 are gone
        assert (await late.get())[0].sequence == 16
        assert late.lost == 12
        assert bus.replay_window() == (16, 25)
        new_only = bus.subscribe()
        bus.publish("x")
        assert [e.sequence for e in await new_only.get()] == [26]

    run(main())


def test_a_slow_subscriber_is_cut_off_and_never_blocks_the_publisher() -> None:
    async def main() -> None:
        bus = EventBus(queue_size=16)
        bus.bind(asyncio.get_running_loop())
        slow = bus.subscribe()
        fast = bus.subscribe(maxsize=5000)
        for i in range(10):
            bus.publish(i)
        assert len(await fast.get()) == 10
        first = await slow.get()
        assert first[-1].sequence == 10
        for i in range(1000):  # publish never waits for the slow one
            bus.publish(i)
        assert len(await fast.get()) == 1000
        with pytest.raises(SubscriberTooSlow) as err:
            await slow.get()
        assert err.value.last_sequence == 10
        # it resumes from the replay window
        again = bus.subscribe(after_sequence=err.value.last_sequence)
        assert (await again.get())[0].sequence == 11

    run(main())


def test_filters() -> None:
    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        sub = bus.subscribe(accept=lambda e: e.device_id == "printer")
        bus.publish("a", "display")
        bus.publish("b", "printer")
        assert [e.payload for e in await sub.get()] == ["b"]

    run(main())
