"""The back office resends its open orders (a retry after a lost answer, a nightly full
export): an order already loaded into a sale, or completed, sent again unchanged is left
as it is and does not refuse the batch it came in; sent changed, it is still refused
(ORDER_IN_USE), as before."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import common_pb2, order_pb2

from tests.integration.api.test_orders import line, order, shop_data  # noqa: F401


def test_an_unchanged_loaded_or_completed_order_sent_again_does_not_refuse_the_batch(
    pos: PosdClient,
    shop_data: None,  # noqa: F811
) -> None:
    loaded = order("W-1", line("B1", "2"), line("T1", "1", price=1899, variant_id="XL"))
    done = order("W-2", line("B1", "1", price=300))
    pos.upsert_orders(loaded, done)
    sale = pos.load_order("W-1")
    other = pos.load_order("W-2")
    pos.add_payment(other.sale_id, common_pb2.PAYMENT_METHOD_CASH, 300)
    pos.post_sale(other.sale_id)

    summary = pos.upsert_orders(loaded, done, order("W-3", line("B1", "4")))
    assert summary.committed, list(summary.rejections)
    assert pos.get_order("W-3").state == order_pb2.ORDER_STATE_OPEN
    w1 = pos.get_order("W-1")
    assert (w1.state, w1.sale_id) == (order_pb2.ORDER_STATE_LOADED, sale.sale_id)
    assert pos.get_order("W-2").state == order_pb2.ORDER_STATE_COMPLETED

    # changed, it is refused as before, and with it the batch
    summary = pos.upsert_orders(order("W-1", line("B1", "3")), order("W-4", line("B1", "1")))
    assert not summary.committed
    assert [(r.key, r.reason) for r in summary.rejections] == [("W-1", "ORDER_IN_USE")]
    assert len(pos.get_order("W-1").lines) == 2
