"""SubscribeEvents over the real socket: UIs that come and go, and a UI that stops reading.

* Streams opened and dropped again and again (cancelled, or the whole channel closed, some
  handling scans themselves) leave no subscription, no scan claim and no task behind: a
  till whose UI reconnects all day must not grow, nor keep its scans away from the sale.
* A UI that stops reading (frozen, or a machine gone quiet with its stream open) costs
  the daemon a bounded amount of memory, does not slow the sale path, and is told what it
  missed once it reads again: the events up to some sequence, then RESOURCE_EXHAUSTED
  SUBSCRIBER_TOO_SLOW naming that sequence, from which it resumes without a gap.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from posd.client import PosdClient, error_from_rpc
from posd.v1 import device_pb2, operator_pb2

from posd_daemon.devices.model import ScanData
from posd_daemon.services.display import DisplayContent
from tests.conftest import Running
from tests.integration.api.test_devices_api import CASH, scan, seed, wait_for
from tests.integration.api.test_posted_event_caller_gone import slow_tse


def tasks(running: Running) -> int:
    async def count() -> int:
        return len(asyncio.all_tasks())

    return asyncio.run_coroutine_threadsafe(count(), running.loop).result(5)


def first(stream: Iterator[device_pb2.SubscribeEventsResponse]) -> device_pb2.Event:
    return next(iter(stream)).event


def test_streams_that_come_and_go_leave_nothing_behind(running: Running, pos: PosdClient) -> None:
    bus, router = running.daemon.bus, running.daemon.scans
    assert bus is not None and router is not None
    seed(pos)
    base_tasks = tasks(running)
    for round_ in range(20):
        handle = round_ % 2 == 0
        call = pos.subscribe_events(after_sequence=0, handle_scans=handle)
        first(call)  # the stream is up (the replay's first event)
        wait_for(lambda: bus.subscriber_count == 1)
        assert router.ui_claims == (1 if handle else 0)
        call.cancel()  # type: ignore[attr-defined]
        wait_for(lambda: bus.subscriber_count == 0 and router.ui_claims == 0)
    for round_ in range(10):
        # the UI process goes away: its channel closes under an open stream, some
        # streams waiting for the next event, some with unread events in flight
        with running.client(open_shift=False) as ui:
            call = ui.subscribe_events(after_sequence=0, handle_scans=True)
            first(call)
            if round_ % 2:
                pos.create_sale()
        wait_for(lambda: bus.subscriber_count == 0 and router.ui_claims == 0)
    wait_for(lambda: tasks(running) <= base_tasks)
    # the scanner reaches the sale again: no stale claim keeps scans for a UI
    sale = pos.create_sale()
    scan(running, b"4006381333931\r\n")
    wait_for(lambda: len(pos.get_sale(sale.sale_id).lines) == 1)


def test_a_ui_that_stops_reading_is_bounded_and_told_what_it_missed(
    running: Running, pos: PosdClient
) -> None:
    bus = running.daemon.bus
    assert bus is not None
    seed(pos)
    start = bus.last_sequence
    frozen = pos.subscribe_events(after_sequence=start, timeout=60)
    wait_for(lambda: bus.subscriber_count == 1)
    (sub,) = bus._subs
    # far more than the queue and the transport's buffers hold (these grow with the
    # traffic), each event sizeable: a display content with two 20-column rows
    rows = ("X" * 20, "Y" * 20)
    slowest = 0.0
    published = 0
    while not sub._overflow and sub in bus._subs:
        assert published < 500_000, "the stuck stream was never cut off"
        for _ in range(64):
            began = time.perf_counter()
            bus.publish(DisplayContent("custom", rows, sale_id=f"s-{published}"), "sim:display")
            slowest = max(slowest, time.perf_counter() - began)
            published += 1
        time.sleep(0.002)  # at a pace the stream would keep up with, were it read
    assert slowest < 0.5  # publishing never waited for the reader
    # what the daemon holds for it is bounded, whatever the reader does: nothing once
    # cut off (what was sent waits in the transport, bounded by its flow control)
    assert not sub._items
    # the sale path keeps its pace while the stream is stuck
    began = time.perf_counter()
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1001")
    assert time.perf_counter() - began < 2.0
    # it reads again: every event up to a sequence, then the cut-off naming it
    got: list[int] = []
    try:
        for response in frozen:
            got.append(response.event.sequence)
        raise AssertionError("the stream ended without telling the UI it missed events")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        err = error_from_rpc(exc)
        assert err.reason == "SUBSCRIBER_TOO_SLOW"
        last = int(err.metadata["last_sequence"])
    assert got == list(range(start + 1, start + 1 + len(got)))  # no gap before the cut
    assert (got[-1] if got else start) == last
    assert last < bus.last_sequence
    wait_for(lambda: bus.subscriber_count == 0)
    # it resumes from there without a gap (the replay window still holds it, or says
    # how many left it)
    resumed = pos.subscribe_events(after_sequence=last, boot_id=bus.boot_id, timeout=30)
    response = next(iter(resumed))
    oldest, _ = bus.replay_window()
    assert response.event.sequence == max(last + 1, oldest)
    assert response.lost_events == max(0, oldest - last - 1)
    resumed.cancel()  # type: ignore[attr-defined]


def test_a_scan_while_the_post_is_under_way_changes_nothing_signed(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TSE signs for a second; a code scanned meanwhile must not slip into the sale
    being posted (the receipt would list a line the TSE did not sign): the UI is told it
    went nowhere, the daemon keeps running, and the next scan after the post is the UI's
    (no sale open)."""
    bus = running.daemon.bus
    assert bus is not None
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1001")
    pos.add_payment(sale.sale_id, CASH, 500)
    events = bus.subscribe(accept=lambda e: isinstance(e.payload, ScanData))
    slow_tse(running, monkeypatch)
    posting = threading.Thread(target=lambda: pos.post_sale(sale.sale_id), daemon=True)
    posting.start()
    time.sleep(0.3)  # the TSE is signing
    scan(running, b"4006381333931\r\n")
    posting.join(10)
    assert not posting.is_alive()
    # at once after the answer: the posted event may not have reached the scanner yet
    scan(running, b"4006381333931\r\n")

    async def scans(n: int) -> list[ScanData]:
        got: list[ScanData] = []
        while len(got) < n:
            got += [e.payload for e in await events.get()]  # type: ignore[misc]
        events.close()
        return got

    during, after = asyncio.run_coroutine_threadsafe(
        asyncio.wait_for(scans(2), 10), running.loop
    ).result(15)
    # the UI learns the code went nowhere: refused with a reason, or its own to handle
    assert during.error_reason or during.routed_to == "ui", during
    assert after.routed_to == "ui" and not after.error_reason, after
    assert len(pos.get_sale(sale.sale_id).lines) == 1


def test_a_resume_number_of_an_earlier_start_without_its_boot_id_replays_this_start(
    running: Running, pos: PosdClient
) -> None:
    """A UI that kept a sequence number over a daemon restart but not the boot_id (an
    older client) resumes after a number this start has not reached: sequence numbers
    only grow within a start, so it is one of an earlier start. It gets this start's
    replay window, as a client naming the old boot_id does (the events carry the new
    one), instead of nothing until the bus catches up with its number."""
    bus = running.daemon.bus
    assert bus is not None
    seed(pos)
    newest = bus.last_sequence
    assert newest > 0
    call = pos.subscribe_events(after_sequence=newest + 5000, timeout=10)
    got = next(iter(call))
    assert (got.event.sequence, got.event.boot_id) == (1, bus.boot_id)
    assert got.lost_events == 0  # this start's events are all in the window
    call.cancel()  # type: ignore[attr-defined]


def test_a_stream_ends_once_its_session_is_logged_out(running: Running, pos: PosdClient) -> None:
    """SubscribeEvents checked the session only when the stream opened: a UI logged out
    (a cashier change, a stolen token revoked) kept receiving the register's events
    until it closed the stream. The next event after the log-out ends it instead."""
    bus = running.daemon.bus
    assert bus is not None
    seed(pos)
    with running.client(open_shift=False) as ui:
        # from the newest event on: the sale below is delivered however late the
        # subscription is in place
        stream = ui.subscribe_events(after_sequence=bus.last_sequence, timeout=20)
        events = iter(stream)
        pos.create_sale()
        assert next(events).event.sequence > 0  # the stream is up and delivering
        ui.call(ui.operators.Logout, operator_pb2.LogoutRequest())
        pos.create_sale()
        with pytest.raises(grpc.RpcError) as err:
            list(events)  # the events after the log-out: none, the stream ends
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
