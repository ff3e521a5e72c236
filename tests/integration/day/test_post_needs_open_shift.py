"""A sale is posted only within an open shift: its cash must be expected in some shift's
drawer. A sale paid in a shift that was closed before its post (two UIs, or a cashier
closing the shift with the customer still at the counter) is refused at the post with
NO_OPEN_SHIFT, before a receipt number is drawn or the TSE signs; once the next shift is
open it posts into that one, whose expected cash then includes it."""

from __future__ import annotations

import sqlite3

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from tests.integration.day.conftest import Day
from tests.support.cash import close_as_expected

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


def expected_eur(dc: PosdClient) -> int:
    shift = dc.get_shift()
    return sum(m.amount_minor for m in shift.expected_cash if m.currency_code == "EUR")


def test_a_sale_paid_before_its_shift_closed_posts_only_into_the_next_shift(day: Day) -> None:
    pos, dc = day.pos, day.day
    db = day.running.config.database_path
    pos.upsert_item("W", "Wasser", 1000)
    dc.open_shift(PosdClient.cash_counts(total=10000))
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="W")
    # by card: a sale holding cash keeps its shift from closing (CASH_IN_UNFINISHED_SALES,
    # test_shift_close_refuses_cash_in_unfinished_sales.py)
    pos.add_payment(sale_id, CARD, 1000)
    close_as_expected(dc)

    with pytest.raises(PosdError) as err:
        pos.post_sale(sale_id)
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_OPEN_SHIFT",
    )
    assert pos.get_sale(sale_id).state == sale_pb2.SALE_STATE_OPEN
    with sqlite3.connect(db) as c:
        assert (
            c.execute("SELECT COUNT(*) FROM sales WHERE receipt_number IS NOT NULL").fetchone()[0]
            == 0
        )
        assert c.execute("SELECT COUNT(*) FROM drawer_entries").fetchone()[0] == 0

    dc.open_shift(PosdClient.cash_counts(total=10000))
    posted = pos.post_sale(sale_id)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert expected_eur(dc) == 10000  # the float: the card money is not in the drawer
    close_as_expected(dc)
    z = dc.z_closing()
    assert z.report.receipts == 1
    assert z.report.outside_shift == 0
