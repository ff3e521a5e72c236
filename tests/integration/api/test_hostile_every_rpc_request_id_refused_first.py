"""A call refused for its request_id (malformed, or used before for a different request)
changes nothing: the check comes before any work the call does outside its transaction.

Found by test_hostile_every_rpc: CreateSale refused with REQUEST_ID_REUSED had already
removed the operator's empty open sale; CancelSale with a malformed request_id had already
finished the sale's TSE transaction before it was refused."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running


def md(pos: PosdClient) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {pos.token}")]


def reason_of(exc: grpc.RpcError) -> grpc.StatusCode:
    return exc.code()  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("request_id", ["has space", "", "x" * 65, "\x00"])
def test_create_sale_with_a_malformed_request_id_keeps_the_empty_sale(
    running: Running, pos: PosdClient, request_id: str
) -> None:
    empty = pos.create_sale()
    with pytest.raises(grpc.RpcError) as refused:
        pos.sales.CreateSale(
            sale_pb2.CreateSaleRequest(request_id=request_id), timeout=10, metadata=md(pos)
        )
    assert reason_of(refused.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert pos.get_sale(empty.sale_id).state == sale_pb2.SALE_STATE_OPEN


def test_create_sale_with_a_reused_request_id_keeps_the_empty_sale(
    running: Running, pos: PosdClient
) -> None:
    empty = pos.create_sale(request_id="create-1")
    with pytest.raises(grpc.RpcError) as refused:
        # the same request_id for a different request (a training sale)
        pos.sales.CreateSale(
            sale_pb2.CreateSaleRequest(request_id="create-1", training=True),
            timeout=10,
            metadata=md(pos),
        )
    assert reason_of(refused.value) == grpc.StatusCode.ALREADY_EXISTS
    assert pos.get_sale(empty.sale_id).state == sale_pb2.SALE_STATE_OPEN


def test_cancel_sale_with_a_malformed_request_id_leaves_the_sale_to_be_sold(
    running: Running, pos: PosdClient
) -> None:
    pos.upsert_item("1001", "Brot", 349)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1001")
    with pytest.raises(grpc.RpcError) as refused:
        pos.sales.CancelSale(
            sale_pb2.CancelSaleRequest(
                request_id="not a request id", sale_id=sale.sale_id, reason="Kunde weg"
            ),
            timeout=10,
            metadata=md(pos),
        )
    assert reason_of(refused.value) == grpc.StatusCode.INVALID_ARGUMENT
    # the sale goes on as if the call had never come: another line, paid, posted
    pos.add_line(sale.sale_id, item_id="1001")
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 698)
    try:
        posted = pos.post_sale(sale.sale_id)
    except PosdError as exc:
        raise AssertionError(f"the refused CancelSale spoilt the sale: {exc.reason}") from exc
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert posted.total.amount_minor == 698


def test_reverse_receipt_with_a_malformed_request_id_leaves_nothing_behind(
    running: Running, pos: PosdClient
) -> None:
    pos.upsert_item("1001", "Brot", 349)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1001")
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 349)
    pos.post_sale(sale.sale_id)
    sales_before = list(pos.list_sales())
    with pytest.raises(grpc.RpcError) as refused:
        pos.sales.ReverseReceipt(
            sale_pb2.ReverseReceiptRequest(
                request_id="not a request id", sale_id=sale.sale_id, reason="Fehlbon"
            ),
            timeout=10,
            metadata=md(pos),
        )
    assert reason_of(refused.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert list(pos.list_sales()) == sales_before
