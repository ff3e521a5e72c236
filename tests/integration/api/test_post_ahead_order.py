"""A post run ahead for a sale loaded from a back-office order completes the order in its
transaction (a trigger on the sale's state dates the order with the sale's post time):
claimed, the order is dated by the PostSale, as the usual post dates it, not by the time
the post ran ahead."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from posd.client import PosdClient
from posd.v1 import common_pb2, order_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_orders import db_rows, line, order
from tests.integration.api.test_post_ahead import hand_over, outcomes, started, when
from tests.integration.api.test_post_ahead_gives_way import without_sweep
from tests.support.fullsale import customer, import_customers, import_items, item


def test_the_order_a_post_run_ahead_completes_is_dated_by_its_postsale(
    running: Running, pos: PosdClient
) -> None:
    without_sweep(running)
    import_items(pos, item("B1", "Brot", 349, vat=common_pb2.VAT_CATEGORY_REDUCED))
    import_customers(pos, customer("K1", "Erika Muster"))
    pos.upsert_orders(order("W-300", line("B1", "1")))
    sale_id = pos.load_order("W-300").sale_id
    started(running, sale_id)
    before = outcomes(running)
    pos.add_payment(sale_id, common_pb2.PAYMENT_METHOD_CASH, 349)  # paid: runs ahead
    hand_over()
    time.sleep(0.1)
    called = datetime.now(UTC)
    posted = pos.post_sale(sale_id)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert outcomes(running)["claimed"] == before["claimed"] + 1
    assert pos.get_order("W-300").state == order_pb2.ORDER_STATE_COMPLETED
    [(stamp,)] = db_rows(running, "SELECT updated_at FROM orders WHERE order_number = 'W-300'")
    assert when(stamp) >= called  # not the time it ran ahead (0.3 s before)
    assert when(stamp) == posted.post_time.ToDatetime(UTC)
