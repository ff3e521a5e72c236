"""ListSales pages stop at a budget of sale lines (at least one sale a page), as ListOrders
does: a page of up to 1,000 sales of up to 500 lines each is far past the 4 MiB a gRPC
message may have by default, and the call failed (RESOURCE_EXHAUSTED) instead of
answering a shorter page. The budget is lowered here so a few small sales show it."""

from __future__ import annotations

import pytest
from posd.client import PosdClient
from posd.v1 import sale_pb2

from posd_daemon.services import sales as sales_service
from tests.conftest import Running


def test_a_page_of_sales_stops_at_its_line_budget(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sales_service, "MAX_PAGE_LINES", 7)
    pos.upsert_item("B1", "Brot", 349)
    made = []
    for _ in range(4):
        sid = pos.create_sale().sale_id
        for _ in range(3):
            pos.add_line(sid, item_id="B1")
        made.append(sid)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        resp = pos.call(
            pos.sales.ListSales,
            sale_pb2.ListSalesRequest(page_size=100, page_token=token),
        )
        pages += 1
        # 3 lines each: two sales (6 lines) fit, a third would be 9 > 7
        assert 1 <= len(resp.sales) <= 2, [len(s.lines) for s in resp.sales]
        seen += [s.sale_id for s in resp.sales]
        token = resp.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(made)  # none missing, none twice
    assert pages == 2


def test_one_sale_beyond_the_budget_still_makes_a_page(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sales_service, "MAX_PAGE_LINES", 2)
    pos.upsert_item("B1", "Brot", 349)
    sid = pos.create_sale().sale_id
    for _ in range(3):
        pos.add_line(sid, item_id="B1")
    resp = pos.call(pos.sales.ListSales, sale_pb2.ListSalesRequest())
    assert [s.sale_id for s in resp.sales] == [sid]
    assert resp.next_page_token == ""
