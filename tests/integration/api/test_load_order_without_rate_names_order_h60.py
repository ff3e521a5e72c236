"""LoadOrder of an order in a currency the shop has no exchange rate for.

The refusal (EXCHANGE_RATE_NOT_AVAILABLE from switching the new sale to the order's
currency) named only the currency: neither its message nor its metadata said which
order, while a refused order line names it. LoadOrder's request holds only the order
number, so the refusal names it (order_number in message and metadata), and nothing is
written.
"""

from __future__ import annotations

import grpc
from posd.client import PosdClient
from posd.v1 import order_pb2

from tests.conftest import Running
from tests.integration.api.test_orders import counts, line, refused, shop_data

__all__ = ["shop_data"]  # the fixture, used by name


def test_a_load_refused_for_want_of_an_exchange_rate_names_the_order(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    pos.upsert_orders(
        order_pb2.Order(
            order_number="FX-77", customer_number="K1", currency_code="USD", lines=[line("B1", "1")]
        )
    )
    before = counts(running)
    err = refused(lambda: pos.load_order("FX-77"))
    assert (err.code, err.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "EXCHANGE_RATE_NOT_AVAILABLE",
    )
    assert err.metadata.get("order_number") == "FX-77", err.metadata
    assert "FX-77" in err.message, err.message
    assert err.metadata.get("currency") == "USD"  # what the rate refusal says stays
    assert counts(running) == before
    assert pos.get_order("FX-77").state == order_pb2.ORDER_STATE_OPEN
