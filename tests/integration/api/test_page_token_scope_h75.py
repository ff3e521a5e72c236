"""Page tokens tied to the request they came from (AIP-158: "the page token must be
rejected (INVALID_ARGUMENT) if other fields of the request changed"): each List RPC with
filters refused nothing and continued another list from the middle when a client kept the
token but changed a filter.

Real daemon in-process on a real unix socket and SQLite file, every call through gRPC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, common_pb2, customer_pb2, order_pb2, sale_pb2, system_pb2

from tests.integration.api.test_open_items import import_open_items, list_items, open_item, seed
from tests.integration.api.test_orders import line, order, shop_data  # noqa: F401

CASH = common_pb2.PAYMENT_METHOD_CASH


def _refused_as_other_filters(call: Callable[[], Any]) -> None:
    with pytest.raises(PosdError) as caught:
        call()
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    [(field, message)] = caught.value.field_violations
    assert field == "page_token"
    assert "other filters" in message


def _posted_sale(pos: PosdClient, *items: str) -> sale_pb2.Sale:
    sid = pos.create_sale().sale_id
    for item in items:
        pos.add_line(sid, item_id=item)
    pos.add_payment(sid, CASH, pos.get_sale(sid).total.amount_minor)
    return pos.post_sale(sid)


def test_list_sales_token_refused_under_another_state(pos: PosdClient) -> None:
    """A token of the CANCELLED sales went on with every sale older than the last
    cancelled one, posted ones included."""
    pos.upsert_item("B1", "Brot", 349)
    _posted_sale(pos, "B1")
    for _ in range(3):
        pos.cancel_sale(pos.create_sale().sale_id, "Kunde weg")
    req = sale_pb2.ListSalesRequest(state=sale_pb2.SALE_STATE_CANCELLED, page_size=2)
    first = pos.call(pos.sales.ListSales, req)
    assert first.next_page_token
    _refused_as_other_filters(
        lambda: pos.call(
            pos.sales.ListSales,
            sale_pb2.ListSalesRequest(page_size=2, page_token=first.next_page_token),
        )
    )
    # the same filters go on as before
    req.page_token = first.next_page_token
    rest = pos.call(pos.sales.ListSales, req)
    assert [s.state for s in rest.sales] == [sale_pb2.SALE_STATE_CANCELLED]
    assert rest.next_page_token == ""


def test_list_orders_token_refused_for_another_customer(
    pos: PosdClient,
    shop_data: None,  # noqa: F811
) -> None:
    pos.upsert_orders(
        *[order(n, line("B1", "1"), customer_number="K1") for n in ("1", "2", "3")],
        *[order(n, line("B1", "1"), customer_number="K2") for n in ("4", "5")],
    )
    first = pos.call(
        pos.orders.ListOrders, order_pb2.ListOrdersRequest(customer_number="K1", page_size=1)
    )
    assert [o.order_number for o in first.orders] == ["1"]
    _refused_as_other_filters(
        lambda: pos.call(
            pos.orders.ListOrders,
            order_pb2.ListOrdersRequest(customer_number="K2", page_token=first.next_page_token),
        )
    )
    _refused_as_other_filters(
        lambda: pos.call(
            pos.orders.ListOrders,
            order_pb2.ListOrdersRequest(
                customer_number="K1",
                state=order_pb2.ORDER_STATE_OPEN,
                page_token=first.next_page_token,
            ),
        )
    )
    rest = pos.call(
        pos.orders.ListOrders,
        order_pb2.ListOrdersRequest(customer_number="K1", page_token=first.next_page_token),
    )
    assert [o.order_number for o in rest.orders] == ["2", "3"]


def test_list_open_items_token_refused_for_another_customer(pos: PosdClient) -> None:
    seed(pos)
    import_open_items(pos, open_item("R-400", "K2", 100))
    first = list_items(pos, customer_number="K1", page_size=1)
    assert first.next_page_token
    _refused_as_other_filters(
        lambda: list_items(pos, customer_number="K2", page_token=first.next_page_token)
    )
    rest = list_items(pos, customer_number="K1", page_token=first.next_page_token)
    assert {i.customer_number for i in rest.open_items} == {"K1"}


def test_search_customers_token_refused_for_another_query(
    pos: PosdClient,
    shop_data: None,  # noqa: F811
) -> None:
    first = pos.call(
        pos.customers.SearchCustomers,
        customer_pb2.SearchCustomersRequest(query="Muster", page_size=1),
    )
    assert first.next_page_token
    _refused_as_other_filters(
        lambda: pos.call(
            pos.customers.SearchCustomers,
            customer_pb2.SearchCustomersRequest(query="Max", page_token=first.next_page_token),
        )
    )


def test_list_receipts_token_refused_under_other_filters(pos: PosdClient) -> None:
    pos.upsert_item("B1", "Brot", 349)
    for _ in range(3):
        _posted_sale(pos, "B1")
    first = pos.list_receipts(closing_pb2.ListReceiptsRequest(page_size=1, receipt_number_to=3))
    assert first.next_page_token
    _refused_as_other_filters(
        lambda: pos.list_receipts(
            closing_pb2.ListReceiptsRequest(
                page_size=1, receipt_number_to=2, page_token=first.next_page_token
            )
        )
    )
    rest = pos.list_receipts(
        closing_pb2.ListReceiptsRequest(receipt_number_to=3, page_token=first.next_page_token)
    )
    assert len(rest.receipts) == 2


def test_list_returnable_lines_token_refused_for_another_item(pos: PosdClient) -> None:
    pos.upsert_item("B1", "Brot", 349)
    pos.upsert_item("B2", "Brötchen", 49)
    for _ in range(2):
        _posted_sale(pos, "B1", "B2")
    first = pos.call(
        pos.sales.ListReturnableLines,
        sale_pb2.ListReturnableLinesRequest(item_id="B1", page_size=1),
    )
    assert first.next_page_token
    _refused_as_other_filters(
        lambda: pos.call(
            pos.sales.ListReturnableLines,
            sale_pb2.ListReturnableLinesRequest(item_id="B2", page_token=first.next_page_token),
        )
    )


def test_list_audit_events_token_refused_for_other_kinds(pos: PosdClient) -> None:
    for _ in range(3):
        pos.cancel_sale(pos.create_sale().sale_id, "Kunde weg")
    req = sale_pb2.ListAuditEventsRequest(kinds=["SALE_CANCELLED"], page_size=1)
    first = pos.call(pos.sales.ListAuditEvents, req)
    assert first.next_page_token
    _refused_as_other_filters(
        lambda: pos.call(
            pos.sales.ListAuditEvents,
            sale_pb2.ListAuditEventsRequest(page_size=1, page_token=first.next_page_token),
        )
    )
    req.page_token = first.next_page_token
    assert len(pos.call(pos.sales.ListAuditEvents, req).events) == 1


def test_list_print_jobs_token_refused_with_include_done_changed(pos: PosdClient) -> None:
    pos.upsert_item("B1", "Brot", 349)
    for _ in range(3):
        _posted_sale(pos, "B1")
    first = pos.call(
        pos.system.ListPrintJobs, system_pb2.ListPrintJobsRequest(include_done=True, page_size=1)
    )
    assert first.next_page_token
    _refused_as_other_filters(
        lambda: pos.call(
            pos.system.ListPrintJobs,
            system_pb2.ListPrintJobsRequest(page_size=1, page_token=first.next_page_token),
        )
    )
