"""A UI learns at once, through the event stream it holds, that the TSE failed (every
receipt now carries the outage marking "TSE ausgefallen - Ausfallnummer N" instead of a
signature) and that it is back; a UI that subscribes during an outage learns the open
outage without polling; GetTseInfo names the open outage while the TSE does not answer.
Real daemon in-process, real SQLite files, the fiskaly contract server over real HTTP."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import device_pb2, fiscal_pb2, sale_pb2

from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed, wait_for
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.integration.fiscal.test_posctl_fiscal import posctl
from tests.support.fake_fiskaly import FakeFiskaly


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


class Reader:
    """Reads an event stream on a thread of its own: ``next`` waits at most a while."""

    def __init__(self, call: grpc.CallIterator[device_pb2.SubscribeEventsResponse]) -> None:
        self.call = call
        self.items: queue.Queue[device_pb2.SubscribeEventsResponse | Exception] = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for item in self.call:
                self.items.put(item)
        except Exception as exc:  # the cancel at the end
            self.items.put(exc)

    def next(self, timeout: float = 10.0) -> device_pb2.SubscribeEventsResponse:
        item = self.items.get(timeout=timeout)
        assert not isinstance(item, Exception), item
        return item

    def empty_for(self, seconds: float) -> bool:
        try:
            self.items.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self.call.cancel()  # type: ignore[attr-defined]


def tse_events(pos: PosdClient, **kw: Any) -> Reader:
    return Reader(pos.subscribe_events(types=(device_pb2.EVENT_TYPE_TSE_STATE,), **kw))


def sell(pos: PosdClient) -> sale_pb2.Sale:
    sid = pos.create_sale().sale_id
    total = pos.add_line(sid, item_id="1002").sale.total.amount_minor
    pos.add_payment(sid, CASH, total)
    return pos.post_sale(sid)


def recover(pos: PosdClient) -> fiscal_pb2.RecoverTseResponse:
    return pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest())


def tse_info(pos: PosdClient) -> fiscal_pb2.GetTseInfoResponse:
    return pos.call(pos.fiscal.GetTseInfo, fiscal_pb2.GetTseInfoRequest())


def test_a_subscriber_sees_the_outage_begin_with_its_number_and_its_end(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            serial = tse_info(pos).serial_number
            ui = tse_events(pos)
            wait_for(lambda: running.daemon.bus.subscriber_count == 1)
            assert ui.empty_for(0.3)  # the TSE works: nothing to say to a new stream
            fake.fail_all(status=503)
            marked = sell(pos)
            assert (marked.tse.state, marked.tse.outage_number) == ("OUTAGE", 1)

            begin = ui.next().event
            assert begin.type == device_pb2.EVENT_TYPE_TSE_STATE
            assert begin.device_id == "tse"
            st = begin.tse_state
            assert st.state == device_pb2.TSE_STATE_OUTAGE
            assert st.outage_number == 1
            assert st.error_code and st.error_message
            assert st.HasField("start_time") and not st.HasField("end_time")
            assert st.tse_serial == serial
            # the event comes with the outage, before the receipt that opened it is
            # answered: not one event per marked receipt
            sell(pos)
            assert ui.empty_for(0.3)

            fake.clear_faults()
            assert recover(pos).recovered
            end = ui.next().event
            assert end.type == device_pb2.EVENT_TYPE_TSE_STATE
            st_end = end.tse_state
            assert st_end.state == device_pb2.TSE_STATE_OK
            assert st_end.outage_number == 1  # the outage that ended
            assert st_end.error_code == st.error_code
            assert st_end.start_time == st.start_time
            assert st_end.HasField("end_time")
            assert end.sequence > begin.sequence
            assert sell(pos).tse.state == "SIGNED"
            ui.close()
    finally:
        running.stop()


def test_a_late_subscriber_learns_the_open_outage_and_then_its_end(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            fake.fail_all(status=503)
            assert sell(pos).tse.outage_number == 1
            for _ in range(3):
                sell(pos)  # more events after the outage began
            # a UI (re)started during the outage, asking only for new events
            everything = Reader(pos.subscribe_events())
            first = everything.next().event
            assert first.type == device_pb2.EVENT_TYPE_TSE_STATE
            assert first.tse_state.state == device_pb2.TSE_STATE_OUTAGE
            assert first.tse_state.outage_number == 1
            filtered = tse_events(pos)
            assert filtered.next().event.tse_state.outage_number == 1
            # a stream for other event types gets no TSE state
            sales_only = Reader(pos.subscribe_events(types=(device_pb2.EVENT_TYPE_SALE,)))
            wait_for(lambda: running.daemon.bus.subscriber_count == 3)
            fake.clear_faults()
            assert recover(pos).recovered
            assert filtered.next().event.tse_state.state == device_pb2.TSE_STATE_OK
            sell(pos)
            assert sales_only.next().event.type == device_pb2.EVENT_TYPE_SALE
            for r in (everything, filtered, sales_only):
                r.close()
    finally:
        running.stop()


def test_a_resume_after_the_outage_left_the_replay_window_still_learns_it(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(
        tmp_path / "state", fiskaly_config(fake, devices={"replay_events": 16})
    )
    try:
        with running.client() as pos:
            seed(pos)
            bus = running.daemon.bus
            seen = bus.last_sequence  # what the UI got before it lost its stream
            fake.fail_all(status=503)
            for _ in range(4):
                sell(pos)  # far more than 16 events: the outage's left the window
            resumed = Reader(pos.subscribe_events(after_sequence=seen, boot_id=bus.boot_id))
            got = resumed.next()
            assert got.lost_events > 0
            assert got.event.type == device_pb2.EVENT_TYPE_TSE_STATE
            assert got.event.tse_state.outage_number == 1
            assert got.event.sequence > seen
            resumed.close()
            # resumed after the recovery it missed too: it learns the TSE is back
            fake.clear_faults()
            assert recover(pos).recovered
            for _ in range(4):
                sell(pos)
            again = Reader(pos.subscribe_events(after_sequence=seen, boot_id=bus.boot_id))
            got = again.next()
            assert got.event.type == device_pb2.EVENT_TYPE_TSE_STATE
            assert got.event.tse_state.state == device_pb2.TSE_STATE_OK
            again.close()
            # one that had seen the state already is not told again
            current = bus.last_sequence
            up_to_date = tse_events(pos, after_sequence=current, boot_id=bus.boot_id)
            assert up_to_date.empty_for(0.3)
            up_to_date.close()
    finally:
        running.stop()


def test_an_outage_open_at_a_restart_is_told_to_the_ui_of_the_new_start(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    state = tmp_path / "state"
    running = start_in_thread(state, fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            fake.fail_all(status=503)
            assert sell(pos).tse.outage_number == 1
    finally:
        running.stop()
    running = start_in_thread(state, fiskaly_config(fake))
    try:
        with running.client() as pos:
            ui = tse_events(pos)
            st = ui.next().event.tse_state
            assert (st.state, st.outage_number) == (device_pb2.TSE_STATE_OUTAGE, 1)
            assert st.error_code and st.HasField("start_time")
            ui.close()
    finally:
        running.stop()


def test_get_tse_info_names_the_open_outage_while_the_tse_does_not_answer(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            serial = tse_info(pos).serial_number
            fake.fail_all(status=503)
            assert sell(pos).tse.outage_number == 1
            info = tse_info(pos)
            assert info.active_outage_number == 1
            assert info.backend == "fiskaly"
            assert info.serial_number == serial  # the TSE the outage receipts name
            # posctl names what it does not know, not "signature counter: 0"
            shown = posctl(running, "tse", "info")
            assert shown.returncode == 0, shown.stderr
            assert "TSE not answering" in shown.stdout
            assert "signature counter" not in shown.stdout
            assert "outage:              1" in shown.stdout
            fake.clear_faults()
            assert recover(pos).recovered
            assert tse_info(pos).active_outage_number == 0
    finally:
        running.stop()


def test_get_tse_info_still_fails_when_the_tse_fails_and_no_outage_is_open(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """Nothing is made up when the TSE is asked and does not answer outside an outage."""
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            fake.fail_all(status=503)
            with pytest.raises(PosdError) as err:
                tse_info(pos)
            assert (err.value.code, err.value.reason) == (
                grpc.StatusCode.UNAVAILABLE,
                "TSE_UNAVAILABLE",
            )
            fake.clear_faults()
    finally:
        running.stop()
