"""An order's reserved serial number is held for that order (h111), through the real
gRPC server and SQLite: while the order is open or loaded, no other sale adds or posts
the piece and no other order reserves it; the order's own sale sells it, and once that
sale posted the piece is sold."""

from __future__ import annotations

import grpc
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, order_pb2

from tests.conftest import Running
from tests.integration.api.test_order_tracked_lines_h108 import seed
from tests.integration.api.test_orders import counts, db_rows, line, order, refused


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


def test_the_post_of_a_sale_holding_a_serial_reserved_since_is_refused(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="PHONE", serial_number="SN1")
    assert pos.upsert_orders(order("S-2", line("PHONE", "1", serial_number="SN1"))).committed
    total = pos.get_sale(sid).total.amount_minor
    pos.add_payment(sid, common_pb2.PAYMENT_METHOD_CASH, total)
    assert_reserved(refused(lambda: pos.post_sale(sid)), "S-2")
    assert db_rows(running, "SELECT state FROM sales WHERE sale_id = ?", sid) == [("OPEN",)]
    assert db_rows(running, "SELECT state FROM serials WHERE serial = 'SN1'") == [("IN_STOCK",)]
    # the piece is still on that sale: the order loads once the cashier took it off
    err = refused(lambda: pos.load_order("S-2"))
    assert (err.reason, err.metadata.get("sale_id")) == ("SERIAL_IN_OTHER_SALE", sid), err
    pos.remove_line(sid, pos.get_sale(sid).lines[0].line_id)
    osale = pos.load_order("S-2")
    pay_and_post(pos, osale.sale_id)
    assert pos.get_order("S-2").state == order_pb2.ORDER_STATE_COMPLETED


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
