"""A post run ahead that gives way to the usual post (a sale it does not cover: a voucher
sold, serial numbers, a storno) must not have handed the receipt to the TSE: its
transaction rolls back, and when the PostSale that claimed it is gone by then (its client's
deadline passed, the daemon stopping), no post follows that finish. The sale would stay
open and changeable with its TSE transaction finished as a receipt that was never
posted."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, new_request_id
from posd.v1 import sale_pb2

from posd_daemon.api import servicers
from posd_daemon.domain.sale import Sale
from tests.conftest import Running
from tests.integration.api import test_sale_part2 as part2
from tests.integration.api.test_post_ahead import CASH, sell_voucher, started
from tests.support.e2e import wait_until


def without_sweep(running: Running) -> None:
    """Stops the empty-sale sweep: its reads on the database thread (about once a second,
    not as background work) roll back a parked run-ahead at a moment the test does not
    choose."""
    master: Any = running.daemon.extra["master"]
    asyncio.run_coroutine_threadsafe(master.housekeeping.stop(), running.loop).result(5)


def finishes_of(tse: Any, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The processData of every finish the TSE is asked for from now on (it still
    finishes them: the calls are only recorded)."""
    finished: list[bytes] = []
    real_finish = tse.finish_transaction

    def finish(client_id: str, number: int, process_type: str, data: bytes) -> Any:
        finished.append(data)
        return real_finish(client_id, number, process_type, data)

    monkeypatch.setattr(tse, "finish_transaction", finish)
    return finished


def test_a_run_ahead_claimed_before_it_parked_that_gives_way_signs_nothing(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_sweep(running)
    # the run-ahead is held longer than its time to be claimed on a busy machine
    monkeypatch.setattr(servicers, "POST_AHEAD_TTL_S", 30.0)
    part2.seed(pos)
    gateway: Any = running.daemon.gateway
    sales = gateway.sale_loader.__self__
    finished = finishes_of(gateway.tse, monkeypatch)
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="COFFEE")  # starts its TSE transaction
    sell_voucher(pos, sale_id, "GV-91")  # not a plain sale: its run-ahead gives way
    started(running, sale_id)

    # the run-ahead is held at its checks (before it gets to the signature) until the
    # PostSale has claimed it and is gone
    armed, checking, go_on = threading.Event(), threading.Event(), threading.Event()
    real_check = sales.check_vat_rates

    def check_vat_rates(sale: Sale, day: date) -> None:
        if armed.is_set() and not checking.is_set():
            checking.set()
            assert go_on.wait(10)
        real_check(sale, day)

    monkeypatch.setattr(sales, "check_vat_rates", check_vat_rates)
    armed.set()
    part2.pay(pos, sale_id, CASH, 1899)  # paid in full: the post runs ahead
    assert checking.wait(5)
    spec: Any = running.daemon.db._speculation

    request = sale_pb2.PostSaleRequest(request_id=new_request_id(), sale_id=sale_id)
    with pytest.raises(grpc.RpcError) as err:  # its client gives up meanwhile
        pos.sales.PostSale(request, timeout=0.5, metadata=tuple(pos._metadata()))
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    claim = spec.claimed()
    assert claim is not None  # it had claimed the run-ahead
    # the daemon's deadline for the call runs from when the call reached it, a little
    # after the client's: until the daemon has seen the call gone, the run-ahead giving
    # way is followed by the usual post, for a caller still there
    wait_until(lambda: claim.caller.gone, 5, "the daemon to see the PostSale gone")
    go_on.set()
    # (a read on the database thread runs once the run-ahead has ended)
    assert pos.get_sale(sale_id).state == sale_pb2.SALE_STATE_OPEN  # nothing was posted
    time.sleep(0.2)  # the TSE thread has had its chance
    # so nothing may have been signed
    assert finished == []
    # the sale can still be cancelled: the TSE ends its transaction as aborted (with the
    # receipt finished already, it refused that, and an outage began)
    cancelled = pos.cancel_sale(sale_id, "Kunde geht")
    assert cancelled.state == sale_pb2.SALE_STATE_CANCELLED
    assert cancelled.tse.state == "CANCELLED"
    assert cancelled.tse.outage_number == 0 and cancelled.tse.signature
    assert running.daemon.gateway.outage is None
