"""A post that commits after its PostSale went away (the till's deadline passed while
the TSE signed) still tells the event stream once: the customer display shows the
change, the drawer and a UI following the events see the sale posted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError

from tests.conftest import Running
from tests.integration.api.test_devices_api import Stream, stream_factory, wait_for
from tests.integration.api.test_post_ahead import CASH, count, hand_over, sale_of_one, seed

__all__ = ["stream_factory"]  # the fixture, used by name

POSTED = "SELECT COUNT(*) FROM sales WHERE sale_id = ? AND state = 'POSTED'"


def slow_tse(
    running: Running, monkeypatch: pytest.MonkeyPatch, operation: str = "finish_transaction"
) -> None:
    """The TSE's ``operation`` takes a second: the till stops waiting before it is done."""
    gateway = running.daemon.gateway
    assert gateway.tse is not None
    real = getattr(gateway.tse, operation)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(gateway.tse, operation, slow)


def impatient(running: Running, pos: PosdClient) -> PosdClient:
    """The same session, on a till that waits 0.3 s for the answer and does not retry."""
    client = PosdClient(running.target, timeout=0.3, retries=0)
    client.token = pos.token
    return client


def posted_events(events: Stream, sale_id: str) -> list[Any]:
    return [
        e.sale for e in events.of("sale") if e.sale.kind == "posted" and e.sale.sale_id == sale_id
    ]


def test_a_claimed_post_whose_caller_went_away_publishes_posted_once(
    running: Running,
    pos: PosdClient,
    monkeypatch: pytest.MonkeyPatch,
    stream_factory: Callable[..., Stream],
) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    pos.add_payment(sale_id, CASH, 200)
    events = stream_factory()
    hand_over()  # the post runs ahead and parks
    slow_tse(running, monkeypatch)
    with pytest.raises(PosdError) as gone:
        impatient(running, pos).post_sale(sale_id, request_id="posted-event-gone-1")
    assert gone.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for(lambda: count(running, POSTED, sale_id) == 1)
    wait_for(lambda: posted_events(events, sale_id))
    (event,) = posted_events(events, sale_id)
    assert event.receipt_number > 0
    # the repeat gets the stored answer: nothing is posted again, nor published again
    again = pos.post_sale(sale_id, request_id="posted-event-gone-1")
    assert again.receipt_number == event.receipt_number
    time.sleep(0.5)
    assert len(posted_events(events, sale_id)) == 1


def test_a_usual_post_whose_caller_went_away_publishes_posted_once(
    running: Running,
    pos: PosdClient,
    monkeypatch: pytest.MonkeyPatch,
    stream_factory: Callable[..., Stream],
) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    pos.add_payment(sale_id, CASH, 200)
    events = stream_factory()
    slow_tse(running, monkeypatch)
    # at once after the payment: too soon to run ahead, the usual post runs
    with pytest.raises(PosdError) as gone:
        impatient(running, pos).post_sale(sale_id, request_id="posted-event-gone-2")
    assert gone.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_for(lambda: count(running, POSTED, sale_id) == 1)
    wait_for(lambda: posted_events(events, sale_id))
    (event,) = posted_events(events, sale_id)
    again = pos.post_sale(sale_id, request_id="posted-event-gone-2")
    assert again.receipt_number == event.receipt_number
    time.sleep(0.5)
    assert len(posted_events(events, sale_id)) == 1


def test_an_answered_post_publishes_posted_once(
    running: Running, pos: PosdClient, stream_factory: Callable[..., Stream]
) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    pos.add_payment(sale_id, CASH, 200)
    events = stream_factory()
    posted = pos.post_sale(sale_id)
    wait_for(lambda: posted_events(events, sale_id))
    time.sleep(0.3)
    (event,) = posted_events(events, sale_id)
    assert event.receipt_number == posted.receipt_number
