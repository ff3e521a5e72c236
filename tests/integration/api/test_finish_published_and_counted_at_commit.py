"""A reversal or a cancellation that commits after its caller went away (the till's
deadline passed while the TSE signed) still tells the event stream once, and every
committed post (a reversal too) is counted once in the post metrics, also when no call
got its answer."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from tests.conftest import Running, running_daemon
from tests.integration.api.test_devices_api import Stream, stream_factory, wait_for
from tests.integration.api.test_post_ahead import CASH, count, sale_of_one, seed
from tests.integration.api.test_posted_event_caller_gone import impatient, slow_tse

__all__ = ["stream_factory"]  # the fixture, used by name

POSTED = "SELECT COUNT(*) FROM sales WHERE sale_id = ? AND state = 'POSTED'"
CANCELLED = "SELECT COUNT(*) FROM sales WHERE sale_id = ? AND state = 'CANCELLED'"
REVERSAL = "SELECT COUNT(*) FROM sales WHERE reverses_sale_id = ? AND state = 'POSTED'"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"metrics": {"listen": "127.0.0.1:0"}}) as r:
        yield r


def metric(running: Running, name: str) -> float:
    port = running.daemon.metrics.bound_port
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def events_of(events: Stream, kind: str, sale_id: str) -> list[Any]:
    return [e.sale for e in events.of("sale") if e.sale.kind == kind and e.sale.sale_id == sale_id]


def posted_sale(pos: PosdClient, running: Running) -> str:
    sale_id = sale_of_one(running, pos)
    pos.add_payment(sale_id, CASH, 200)
    pos.post_sale(sale_id)
    return sale_id


def test_a_reversal_whose_caller_went_away_publishes_posted_once(
    running: Running,
    pos: PosdClient,
    monkeypatch: pytest.MonkeyPatch,
    stream_factory: Callable[..., Stream],
) -> None:
    seed(pos)
    sale_id = posted_sale(pos, running)
    events = stream_factory()
    slow_tse(running, monkeypatch)
    request = sale_pb2.ReverseReceiptRequest(
        request_id="reversal-gone-1", sale_id=sale_id, reason="Fehlbon"
    )
    with pytest.raises(PosdError) as gone:
        impatient(running, pos).call(impatient(running, pos).sales.ReverseReceipt, request)
    assert gone.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for(lambda: count(running, REVERSAL, sale_id) == 1)
    reversal = pos.call(pos.sales.ReverseReceipt, request).reversal  # the stored answer
    wait_for(lambda: events_of(events, "posted", reversal.sale_id))
    time.sleep(0.5)
    (event,) = events_of(events, "posted", reversal.sale_id)
    assert event.receipt_number == reversal.receipt_number


def test_a_cancellation_whose_caller_went_away_commits_and_publishes_cancelled_once(
    running: Running,
    pos: PosdClient,
    monkeypatch: pytest.MonkeyPatch,
    stream_factory: Callable[..., Stream],
) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    events = stream_factory()
    slow_tse(running, monkeypatch, "cancel_transaction")
    with pytest.raises(PosdError) as gone:
        impatient(running, pos).cancel_sale(sale_id, "Kunde weg", request_id="cancel-gone-1")
    assert gone.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    # the TSE finished its transaction as AVBelegabbruch: the cancellation is saved
    wait_for(lambda: count(running, CANCELLED, sale_id) == 1)
    wait_for(lambda: events_of(events, "cancelled", sale_id))
    again = pos.cancel_sale(sale_id, "Kunde weg", request_id="cancel-gone-1")
    assert again.sale_id == sale_id
    time.sleep(0.5)
    assert len(events_of(events, "cancelled", sale_id)) == 1


def test_posts_whose_caller_went_away_are_counted_once_with_their_duration(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(pos)
    answered = posted_sale(pos, running)
    assert metric(running, "posd_sales_posted_total") == 1
    assert metric(running, "posd_post_duration_seconds_count") == 1
    slow_tse(running, monkeypatch)
    gone_id = sale_of_one(running, pos)
    pos.add_payment(gone_id, CASH, 200)
    with pytest.raises(PosdError):
        impatient(running, pos).post_sale(gone_id, request_id="counted-gone-1")
    wait_for(lambda: count(running, POSTED, gone_id) == 1)
    with pytest.raises(PosdError):
        impatient(running, pos).call(
            impatient(running, pos).sales.ReverseReceipt,
            sale_pb2.ReverseReceiptRequest(
                request_id="counted-gone-2", sale_id=answered, reason="Fehlbon"
            ),
        )
    wait_for(lambda: count(running, REVERSAL, answered) == 1)
    wait_for(lambda: metric(running, "posd_sales_posted_total") == 3)
    assert metric(running, "posd_post_duration_seconds_count") == 3
    # from the call's start to the commit: both waited for the slow TSE (1 s)
    assert metric(running, "posd_post_duration_seconds_sum") >= 2.0
    # a repeat gets the stored answer: no post committed, none counted
    pos.post_sale(gone_id, request_id="counted-gone-1")
    time.sleep(0.3)
    assert metric(running, "posd_sales_posted_total") == 3
