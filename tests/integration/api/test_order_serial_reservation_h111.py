"""An order's reserved serial number is held for that order (h111), through the real
gRPC server and SQLite: while the order is open or loaded, no other sale adds or posts
the piece and no other order reserves it; the order's own sale sells it, and once that
sale posted the piece is sold."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, order_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_order_tracked_lines_h108 import seed
from tests.integration.api.test_orders import counts, k1_and_k3, line, order, refused


def assert_reserved(err: PosdError, number: str, serial: str = "SN1") -> None:
    """Refused FAILED_PRECONDITION SERIAL_RESERVED naming the order, serial and item."""
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SERIAL_RESERVED"), err
    meta = err.metadata
    found = (meta.get("order_number"), meta.get("serial"), meta.get("item_id"))
    assert found == (number, serial, "PHONE"), meta
    assert number in err.message, err.message


def pay_and_post(pos: PosdClient, sale_id: str) -> None:
    total = pos.get_sale(sale_id).total.amount_minor
    pos.add_payment(sale_id, common_pb2.PAYMENT_METHOD_CASH, total)
    pos.post_sale(sale_id)


def test_another_sale_cannot_add_or_scan_a_reserved_serial(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    assert pos.upsert_orders(order("S-1", line("PHONE", "1", serial_number="SN1"))).committed
    sid = pos.create_sale().sale_id
    before = counts(running)
    assert_reserved(refused(lambda: pos.add_line(sid, item_id="PHONE", serial_number="SN1")), "S-1")
    assert_reserved(refused(lambda: pos.scan(sid, "SN1")), "S-1")
    assert counts(running) == before
    # another piece of the item is not reserved
    assert [ln.serial_number for ln in pos.scan(sid, "SN2").sale.lines] == ["SN2"]


@pytest.mark.parametrize("parked", [False, True], ids=["open", "parked"])
def test_an_order_may_not_reserve_a_piece_in_a_customers_basket(
    running: Running, pos: PosdClient, parked: bool
) -> None:
    """Reserved while it lies in an open or parked sale, the piece refused that sale's
    post after the customer paid (review h116): the import is refused instead."""
    seed(pos)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="PHONE", serial_number="SN1")
    code = ""
    if parked:
        park = sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sid)
        code = pos.call(pos.sales.ParkSale, park).sale.parking_code
    before = counts(running)
    summary = pos.upsert_orders(order("S-2", line("PHONE", "1", serial_number="SN1")))
    assert not summary.committed
    [rejected] = summary.rejections
    assert rejected.reason == "SERIAL_IN_OTHER_SALE", rejected
    assert sid in rejected.message and "lines[0].serial_number" in rejected.message, rejected
    assert counts(running) == before
    if parked:
        resume = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
        pos.call(pos.sales.ResumeSale, resume)
    # the basket's sale posts as usual; once the cashier took it off, the order reserves it
    pos.remove_line(sid, pos.get_sale(sid).lines[0].line_id)
    assert pos.upsert_orders(order("S-2", line("PHONE", "1", serial_number="SN1"))).committed
    osale = pos.load_order("S-2")
    pay_and_post(pos, osale.sale_id)
    assert pos.get_order("S-2").state == order_pb2.ORDER_STATE_COMPLETED


def test_an_order_handed_over_to_another_register_holds_no_serial_here(
    tmp_path: Path,
) -> None:
    """K1 loads the order, parks its sale, K3 resumes and cancels it: on K1 the order
    stays TRANSFERRED for good, and it held the piece there for good (review h116)."""
    with k1_and_k3(tmp_path, "h116-secret", seed) as started:
        with started["K1"].client() as k1:
            assert k1.upsert_orders(order("W-1", line("PHONE", "1", serial_number="SN1"))).committed
            sid = k1.load_order("W-1").sale_id
            park = sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sid)
            code = k1.call(k1.sales.ParkSale, park).sale.parking_code
        with started["K3"].client() as k3:
            resume = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
            taken = k3.call(k3.sales.ResumeSale, resume).sale
            k3.cancel_sale(taken.sale_id)  # the customer changed their mind at K3
        with started["K1"].client() as k1:
            assert k1.get_order("W-1").state == order_pb2.ORDER_STATE_TRANSFERRED
            other = k1.create_sale().sale_id
            assert [ln.serial_number for ln in k1.scan(other, "SN1").sale.lines] == ["SN1"]


def test_a_second_order_may_not_reserve_the_serial_the_same_one_may_again(
    pos: PosdClient,
) -> None:
    seed(pos)
    first = order("S-3", line("PHONE", "1", serial_number="SN1"))
    assert pos.upsert_orders(first).committed
    summary = pos.upsert_orders(
        order("S-4", line("B1", "1"), line("PHONE", "1", serial_number="SN1"))
    )
    assert not summary.committed
    assert [(r.key, r.reason, r.field) for r in summary.rejections] == [
        ("S-4", "SERIAL_RESERVED", "order.lines[1].serial_number")
    ], summary
    for part in ("S-4", "line 2", "PHONE", "SN1", "S-3"):
        assert part in summary.rejections[0].message, summary.rejections[0].message
    # the back office resending its order (a retry, a full import) is no conflict
    assert pos.upsert_orders(first).committed
    assert [o.order_number for o in pos.list_orders()] == ["S-3"]


def test_the_orders_sale_sells_the_serial_and_then_it_is_sold(pos: PosdClient) -> None:
    seed(pos)
    assert pos.upsert_orders(order("S-5", line("PHONE", "1", serial_number="SN1"))).committed
    osale = pos.load_order("S-5")
    assert [ln.serial_number for ln in osale.lines] == ["SN1"]
    # loaded, the order's sale holds it: still no other sale's
    other = pos.create_sale().sale_id
    assert_reserved(refused(lambda: pos.scan(other, "SN1")), "S-5")
    # its sale cancelled, the order is open again and the piece still promised
    pos.cancel_sale(osale.sale_id)
    assert pos.get_order("S-5").state == order_pb2.ORDER_STATE_OPEN
    assert_reserved(refused(lambda: pos.scan(other, "SN1")), "S-5")
    osale = pos.load_order("S-5")
    pay_and_post(pos, osale.sale_id)
    assert pos.get_order("S-5").state == order_pb2.ORDER_STATE_COMPLETED
    # sold: refused as sold, no longer as reserved
    err = refused(lambda: pos.scan(other, "SN1"))
    assert err.reason == "SERIAL_ALREADY_SOLD", err
    summary = pos.upsert_orders(order("S-6", line("PHONE", "1", serial_number="SN1")))
    assert [(r.key, r.reason) for r in summary.rejections] == [("S-6", "SERIAL_ALREADY_SOLD")]
