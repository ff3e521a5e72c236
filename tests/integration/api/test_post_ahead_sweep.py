"""The empty-sale sweep runs about once a second, with the periodic pruning when it is
due. Neither may take the database thread from a post parked for its PostSale (see
test_post_ahead.py): that rolled it back, so most posts whose customer took a moment to
pay lost their run-ahead."""

from __future__ import annotations

import time

from posd.client import PosdClient
from posd.v1 import sale_pb2

from tests.conftest import Running
from tests.integration.api.test_post_ahead import CASH, outcomes, seed, started
from tests.support.fullsale import printed

#: the customer takes the change: less than the run-ahead's TTL (1 s), longer than most
#: of the sweep's period (1 s with the default empty-sale timeout)
HAND_OVER_S = 0.7


def test_the_empty_sale_sweep_leaves_a_parked_post_alone(running: Running, pos: PosdClient) -> None:
    seed(pos)
    before = outcomes(running)
    for _ in range(3):
        sale_id = pos.create_sale().sale_id
        pos.add_line(sale_id, item_id="B")  # 0.89
        started(running, sale_id)
        pos.add_payment(sale_id, CASH, 100)  # paid in full: the post runs ahead
        time.sleep(HAND_OVER_S)
        posted = pos.post_sale(sale_id)
        assert posted.state == sale_pb2.SALE_STATE_POSTED
        # the receipt printed (printing is background work too, and waits only 0.2 s)
        printed(running, f"Beleg-Nr. {posted.receipt_number}")
    after = outcomes(running)
    assert after["claimed"] == before["claimed"] + 3, after
    assert after["abandoned"] == before["abandoned"], after
