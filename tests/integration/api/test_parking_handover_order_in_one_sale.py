"""A back-office order loaded at two registers: K1 loaded it into a sale and parked it,
K3 (which the back office sent the order too) loaded it into a sale of its own. K3
scanning K1's slip must not end with the order in two open sales at K3 (both could be
paid and the order delivered twice): the hand-over is refused before anything is handed
over, and goes through once K3's own sale of the order is cancelled. Real daemons on
unix sockets and real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import new_request_id
from posd.v1 import common_pb2, order_pb2, sale_pb2

from tests.conftest import Running
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.integration.api.test_orders import line, order
from tests.integration.api.test_parking_handover import (
    call,
    refused_by_owner,
    start_store,
    tse_started,
)


@pytest.fixture
def two_registers(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started = start_store(tmp_path, {"K1": 1, "K3": 3})
    try:
        yield started
    finally:
        for running in started.values():
            running.stop()


@pytest.mark.parametrize("parked_at_k3", [False, True])
def test_an_order_loaded_at_the_asking_register_is_not_taken_over_into_a_second_sale(
    two_registers: dict[str, Running], parked_at_k3: bool
) -> None:
    store = two_registers
    with store["K3"].client() as k3:
        k3.upsert_orders(order("W-800", line("LAMP", "2"), customer_number=""))
        own = k3.load_order("W-800").sale_id
        if parked_at_k3:
            call(k3, "ParkSale", sale_id=own)
    with store["K1"].client() as k1:
        k1.upsert_orders(order("W-800", line("LAMP", "2"), customer_number=""))
        sid = k1.load_order("W-800").sale_id
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    with store["K3"].client() as k3:
        err = refused_by_owner(k3, code, "ORDER_IN_USE")
        assert "W-800" in err.message
        # the order is in one sale at K3: its own
        assert [s.sale_id for s in k3.list_sales()] == [own]
        assert k3.get_order("W-800").sale_id == own
    with store["K1"].client() as k1:  # nothing was handed over
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_PARKED, "")
        assert k1.get_order("W-800").state == order_pb2.ORDER_STATE_LOADED
        finishes, _ = tse_finishes(k1.export_tse())
        assert finishes == {}

    with store["K3"].client() as k3:
        if parked_at_k3:
            call(k3, "ResumeSale", sale_id=own)
        k3.cancel_sale(own, "Auftrag liegt an Kasse 1")
        assert k3.get_order("W-800").state == order_pb2.ORDER_STATE_OPEN
        resume = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
        taken = k3.call(k3.sales.ResumeSale, resume).sale
        assert (taken.sale_id, taken.order_number) == (sid, "W-800")
        linked = k3.get_order("W-800")
        assert (linked.state, linked.sale_id) == (order_pb2.ORDER_STATE_LOADED, sid)
        k3.add_payment(sid, common_pb2.PAYMENT_METHOD_CARD, 7980)
        assert k3.post_sale(sid).state == sale_pb2.SALE_STATE_POSTED
        assert k3.get_order("W-800").state == order_pb2.ORDER_STATE_COMPLETED
