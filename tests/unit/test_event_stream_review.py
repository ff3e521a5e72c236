"""The live event stream and the customer display, edge cases a real register meets.

* A subscriber that resumes from the very start (``after_sequence=0``: what the
  SubscribeEvents servicer asks for a UI that saw a previous daemon start) and is cut off
  before it read anything must be told to resume from 0, not from the newest event: the
  replayed events were dropped with its queue and would be skipped silently.
* A sale cancelled, parked or handed over by another UI of the register must not blank
  the customer display in the middle of the sale the customer is paying for.
"""

from __future__ import annotations

import asyncio

import pytest

from posd_daemon.devices.manager import DeviceManager
from posd_daemon.services.display import CustomerDisplay, DisplayTexts
from posd_daemon.services.events import EventBus, SaleChanged, SubscriberTooSlow


def test_a_subscriber_resuming_from_zero_cut_off_before_reading_resumes_from_zero() -> None:
    async def main() -> None:
        bus = EventBus(replay=256, queue_size=16)
        bus.bind(asyncio.get_running_loop())
        for i in range(10):
            bus.publish(i)
        sub = bus.subscribe(after_sequence=0)  # replays 1..10
        for i in range(100):  # a burst before the stream's first read: it overflows
            bus.publish(i)
        with pytest.raises(SubscriberTooSlow) as err:
            await sub.get()
        # it got nothing: resuming after 10 would silently skip events 1..10
        assert err.value.last_sequence == 0
        again = bus.subscribe(after_sequence=err.value.last_sequence)
        assert (await again.get())[0].sequence == 1

    asyncio.run(main())


def test_a_resume_point_beyond_the_newest_event_is_not_reported_back() -> None:
    """A number from another daemon start (no boot id sent): a cut-off must name a
    sequence of this start, or the resume would skip everything up to that number."""

    async def main() -> None:
        bus = EventBus(replay=64, queue_size=16)
        bus.bind(asyncio.get_running_loop())
        for i in range(5):
            bus.publish(i)
        sub = bus.subscribe(after_sequence=5000)
        for i in range(100):
            bus.publish(i)
        with pytest.raises(SubscriberTooSlow) as err:
            await sub.get()
        assert err.value.last_sequence <= 5

    asyncio.run(main())


def event(kind: str, sale_id: str, total: int, **more: object) -> SaleChanged:
    return SaleChanged(
        kind=kind,
        sale_id=sale_id,
        state="OPEN",
        operator_id="1",
        currency="EUR",
        total_minor=total,
        paid_minor=0,
        change_minor=0,
        line_count=1,
        **more,  # type: ignore[arg-type]
    )


def test_another_sale_cancelled_or_parked_leaves_the_current_sale_on_the_display() -> None:
    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        display = CustomerDisplay(bus, DeviceManager(), DisplayTexts(idle=("Willkommen!", "")))
        display.start()
        bus.publish(event("created", "other", 0))
        bus.publish(event("created", "current", 0))
        line = {"line_name": "Brot", "line_total_minor": 449, "line_quantity": "1"}
        bus.publish(event("line_added", "current", 449, line_id="l1", **line))
        assert display.current.sale_id == "current"
        for kind in ("cancelled", "parked", "transferred"):
            bus.publish(event(kind, "other", 0))
            assert display.current.sale_id == "current", kind
            assert display.current.lines[1].endswith("4,49 €")
        # the sale on display itself going away does blank it
        bus.publish(event("parked", "current", 449))
        assert display.current.mode == "idle"
        assert display.current.lines == ("Willkommen!", "")

    asyncio.run(main())
