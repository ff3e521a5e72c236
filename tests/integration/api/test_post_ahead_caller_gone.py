"""A PostSale that claims a post run ahead and then goes away (its deadline passes, the
till is closed) does not undo the post: the claimed transaction goes on and commits, and
its answer is kept for the repeat. The metric says so apart from an answered claim, so
an operator counting posts the till never saw answered finds them."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from tests.conftest import Running
from tests.integration.api.test_post_ahead import (
    CASH,
    count,
    hand_over,
    sale_of_one,
    seed,
)

OUTCOMES = ("claimed", "claimed_caller_gone", "abandoned", "refused", "failed")


def outcomes(running: Running) -> dict[str, float]:
    reg = running.daemon.metrics.registry
    return {
        name: reg.get_sample_value("posd_posts_ahead_total", {"outcome": name}) or 0.0
        for name in OUTCOMES
    }


def test_a_claimed_post_whose_caller_went_away_commits_and_is_counted_apart(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(pos)
    gateway = running.daemon.gateway
    assert gateway.tse is not None
    finish = gateway.tse.finish_transaction

    def slow_finish(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)  # a slow TSE: the till stops waiting before it signs
        return finish(*args, **kwargs)

    # the same session, on a till that waits 0.3 s for the answer and does not retry
    impatient = PosdClient(running.target, timeout=0.3, retries=0)
    impatient.token = pos.token
    sale_id = sale_of_one(running, pos)
    pos.add_payment(sale_id, CASH, 200)
    hand_over()  # the post runs ahead and parks
    monkeypatch.setattr(gateway.tse, "finish_transaction", slow_finish)
    before = outcomes(running)
    with pytest.raises(PosdError) as gone:
        impatient.post_sale(sale_id, request_id="post-ahead-gone-1")
    assert gone.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    for _ in range(300):  # the claimed post goes on without its caller
        if outcomes(running) != before:
            break
        time.sleep(0.01)
    time.sleep(0.1)
    after = outcomes(running)
    assert after["claimed_caller_gone"] == before["claimed_caller_gone"] + 1, after
    assert after["claimed"] == before["claimed"], after  # nobody got this answer
    posted = "SELECT COUNT(*) FROM sales WHERE sale_id = ? AND state = 'POSTED'"
    assert count(running, posted, sale_id) == 1
    # the repeat gets the answer the gone call would have had, posted once
    again = pos.post_sale(sale_id, request_id="post-ahead-gone-1")
    assert again.state == sale_pb2.SALE_STATE_POSTED
    assert count(running, "SELECT COUNT(*) FROM sales WHERE sale_id = ?", sale_id) == 1
