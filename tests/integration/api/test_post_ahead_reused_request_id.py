"""A PostSale that claims a post run ahead with a request id used before by another
request: the run-ahead looks the id up on the database thread (after the claim asked the
TSE for the signature), gives way, and the usual post refuses the reuse. Nothing is
posted; the TSE's finish locks the sale as signed, and the next PostSale with its own id
posts it with that very signature: one finished TSE transaction, one receipt."""

from __future__ import annotations

import sqlite3

import pytest
from posd.client import PosdClient, PosdError

from tests.conftest import Running
from tests.integration.api.test_post_ahead import (
    CASH,
    count,
    hand_over,
    outcomes,
    sale_of_one,
    seed,
)


def test_a_reused_request_id_does_not_claim_a_post_run_ahead(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    pos.add_payment(sale_id, CASH, 200, request_id="used-by-the-payment")
    hand_over()
    before = outcomes(running)
    with pytest.raises(PosdError) as err:
        pos.post_sale(sale_id, request_id="used-by-the-payment")
    assert err.value.reason == "REQUEST_ID_REUSED"
    assert outcomes(running)["abandoned"] == before["abandoned"] + 1
    assert pos.get_sale(sale_id).receipt_number == 0  # nothing posted
    # signed by the claim's early finish: the sale can only be posted now
    with pytest.raises(PosdError) as refused:
        pos.cancel_sale(sale_id)
    assert refused.value.reason == "SALE_SIGNED_NOT_POSTED"

    posted = pos.post_sale(sale_id, request_id="its-own-id")
    assert posted.receipt_number > 0
    assert posted.tse.state == "SIGNED"
    number = str(posted.receipt_number)
    assert count(running, "SELECT COUNT(*) FROM sales WHERE receipt_number = ?", number) == 1
    with sqlite3.connect(running.config.database_path) as conn:
        rows = conn.execute(
            "SELECT state, transaction_number FROM sale_tse WHERE sale_id = ?", (sale_id,)
        ).fetchall()
    assert rows == [("SIGNED", posted.tse.transaction_number)]
