"""Page tokens across the List RPCs (AIP-158): a token is good only for the RPC that made
it, and one a client altered is refused, not read as some other page.

Real daemon in-process on a real unix socket and SQLite file; the outages are written
through the outage journal's store functions on the daemon's own database executor (a
TSE outage through gRPC takes a failing TSE and a sale per outage)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, common_pb2, fiscal_pb2, order_pb2, sale_pb2

from posd_daemon.services.executor import Tx
from posd_daemon.store import fiscal as fstore
from tests.conftest import Running
from tests.integration.api.test_orders import line, order, shop_data  # noqa: F401

START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


CASH = common_pb2.PAYMENT_METHOD_CASH


def _outages(tx: Tx) -> None:
    for k in range(3):
        at = START + timedelta(hours=k)
        n = fstore.insert_outage(
            tx.conn,
            fstore.Outage(
                outage_number=0,
                started_at=at,
                ended_at=None,
                error_code="TIMEOUT",
                error_message="no answer from the TSE",
                tse_manufacturer="Example TSE GmbH",
                tse_serial="ab" * 32,
                client_id="POS-1",
                register_id="R1",
                operator_id="1",
                printer="printer-1",
            ),
        )
        fstore.close_outage(tx.conn, n, at + timedelta(minutes=1))


def _write_outages(running: Running) -> None:
    asyncio.run_coroutine_threadsafe(running.daemon.db.write(_outages), running.loop).result(30)


def _outage_token(pos: PosdClient) -> str:
    """The token of ListOutages' second page (a page of one outage)."""
    resp = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest(page_size=1))
    assert [o.outage_number for o in resp.outages] == [1]
    assert resp.next_page_token
    return resp.next_page_token


def _refused(caught: pytest.ExceptionInfo[PosdError]) -> None:
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field_violations == [("page_token", "not a token from a previous response")]


def test_a_list_outages_token_is_refused_by_list_orders(
    running: Running,
    pos: PosdClient,
    shop_data: None,  # noqa: F811
) -> None:
    """Both RPCs' tokens were "o:<value>": ListOrders read an outage token's "2.0.0" as
    the order number to continue after and answered a page that silently left out every
    order numbered below it (AIP-158: a token from another request is INVALID_ARGUMENT)."""
    pos.upsert_orders(*[order(n, line("B1", "1")) for n in ("1", "2", "3", "4")])
    _write_outages(running)
    token = _outage_token(pos)
    with pytest.raises(PosdError) as caught:
        pos.call(pos.orders.ListOrders, order_pb2.ListOrdersRequest(page_token=token))
    _refused(caught)
    # the first page of ListOrders still holds every order
    resp = pos.call(pos.orders.ListOrders, order_pb2.ListOrdersRequest())
    assert [o.order_number for o in resp.orders] == ["1", "2", "3", "4"]
    assert resp.next_page_token == ""


@pytest.mark.parametrize("tamper", ["!{}", "{} ", "{}\n", "{}.", "*{}", "{}=="])
def test_a_token_with_characters_added_is_refused(
    running: Running, pos: PosdClient, tamper: str
) -> None:
    """Base64 decoding dropped every character outside its alphabet: a token with any
    added was taken as the original."""
    _write_outages(running)
    token = _outage_token(pos)
    with pytest.raises(PosdError) as caught:
        pos.call(
            pos.fiscal.ListOutages,
            fiscal_pb2.ListOutagesRequest(page_size=1, page_token=tamper.format(token)),
        )
    _refused(caught)


def test_list_outages_pages_to_the_end_with_an_empty_token(
    running: Running, pos: PosdClient
) -> None:
    _write_outages(running)
    seen: list[int] = []
    token = ""
    while True:
        resp = pos.call(
            pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest(page_size=2, page_token=token)
        )
        seen += [o.outage_number for o in resp.outages]
        token = resp.next_page_token
        if not token:
            break
    assert seen == [1, 2, 3]


def test_a_list_receipts_token_is_refused_by_list_returnable_lines(pos: PosdClient) -> None:
    """Both RPCs' tokens were "r:<receipt number>": ListReturnableLines took ListReceipts'
    token as the receipt to continue before, and left out lines silently."""
    pos.upsert_item("B1", "Brot", 349)
    for _ in range(2):
        sid = pos.create_sale().sale_id
        pos.add_line(sid, item_id="B1")
        pos.add_payment(sid, CASH, pos.get_sale(sid).total.amount_minor)
        pos.post_sale(sid)
    page = pos.list_receipts(closing_pb2.ListReceiptsRequest(page_size=1))
    assert page.next_page_token
    with pytest.raises(PosdError) as caught:
        pos.call(
            pos.sales.ListReturnableLines,
            sale_pb2.ListReturnableLinesRequest(item_id="B1", page_token=page.next_page_token),
        )
    _refused(caught)
