"""The same request sent again while the first call still runs (a client's retry after a
deadline, or several clients sending one request) gets the first call's answer, not
SALE_BEING_POSTED: the repeat waits for the first call, then the stored answer is
returned. A different request with that request_id is still refused."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running

CASH = common_pb2.PAYMENT_METHOD_CASH
SLOW_S = 0.4


def slow_tse(running: Running, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The TSE takes SLOW_S for ``name`` (a slow cloud TSE): the first call is still
    running when its repeats arrive."""
    tse = running.daemon.gateway.tse
    assert tse is not None
    real = getattr(tse, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(tse, name, slow)


def at_once(clients: list[PosdClient], call: Callable[[PosdClient], Any]) -> list[Any]:
    """Each client makes the call from its own thread, within a few ms of each other."""

    def one(c: PosdClient) -> Any:
        try:
            return call(c)
        except PosdError as exc:
            return exc

    with ThreadPoolExecutor(len(clients)) as pool:
        futures = []
        for c in clients:
            futures.append(pool.submit(one, c))
            time.sleep(0.02)  # the first one is under way, in the TSE
        return [f.result() for f in futures]


def receipts(running: Running) -> int:
    with sqlite3.connect(running.config.database_path) as c:
        return int(c.execute("SELECT COUNT(*) FROM sales WHERE state = 'POSTED'").fetchone()[0])


def clients(running: Running, n: int) -> list[PosdClient]:
    return [running.client(open_shift=False) for _ in range(n)]


def paid_sale(pos: PosdClient) -> str:
    pos.upsert_item("W", "Wasser", 99)
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="W")
    pos.add_payment(sale_id, CASH, 99)
    return sale_id


def test_concurrent_post_with_one_request_id_gets_the_first_answer(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sale_id = paid_sale(pos)
    slow_tse(running, monkeypatch, "finish_transaction")
    others = clients(running, 3)
    results = at_once([pos, *others], lambda c: c.post_sale(sale_id, request_id="post-once"))
    assert all(isinstance(r, sale_pb2.Sale) for r in results), results
    first = results[0]
    assert first.state == sale_pb2.SALE_STATE_POSTED and first.receipt_number == 1
    assert all(r == first for r in results)  # the very same answer, byte for byte
    assert receipts(running) == 1
    # a different request under that request_id is refused, as before
    with pytest.raises(PosdError) as err:
        pos.post_sale(paid_sale(pos), request_id="post-once")
    assert err.value.reason == "REQUEST_ID_REUSED"
    for c in others:
        c.close()


def test_concurrent_cancel_with_one_request_id_gets_the_first_answer(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    pos.upsert_item("W", "Wasser", 99)
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="W")
    slow_tse(running, monkeypatch, "cancel_transaction")
    others = clients(running, 2)
    results = at_once(
        [pos, *others],
        lambda c: c.cancel_sale(sale_id, request_id="cancel-once"),
    )
    assert all(isinstance(r, sale_pb2.Sale) for r in results), results
    assert results[0].state == sale_pb2.SALE_STATE_CANCELLED
    assert all(r == results[0] for r in results)
    for c in others:
        c.close()


def test_a_different_request_with_the_same_id_while_the_first_runs_is_refused(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sale_id = paid_sale(pos)
    other_sale = paid_sale(pos)
    slow_tse(running, monkeypatch, "finish_transaction")
    other = running.client(open_shift=False)
    first, second = at_once(
        [pos, other],
        lambda c: c.post_sale(sale_id if c is pos else other_sale, request_id="post-x"),
    )
    assert isinstance(first, sale_pb2.Sale) and first.receipt_number == 1
    assert isinstance(second, PosdError) and second.reason == "REQUEST_ID_REUSED", second
    assert pos.get_sale(other_sale).state == sale_pb2.SALE_STATE_OPEN
    assert receipts(running) == 1
    other.close()


def test_a_repeat_waits_no_longer_than_its_deadline(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sale_id = paid_sale(pos)
    slow_tse(running, monkeypatch, "finish_transaction")
    impatient = running.client(open_shift=False)
    impatient.retries = 0
    impatient.timeout = 0.1
    first, repeat = at_once(
        [pos, impatient], lambda c: c.post_sale(sale_id, request_id="post-slow")
    )
    assert isinstance(first, sale_pb2.Sale)
    assert isinstance(repeat, PosdError)
    assert repeat.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
    # once the first call answered, the repeat gets its answer
    impatient.timeout = 10
    assert impatient.post_sale(sale_id, request_id="post-slow") == first
    impatient.close()
