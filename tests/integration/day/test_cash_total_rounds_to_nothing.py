"""A total that the cash step rounds to nothing (0.02 in 0.05 steps), paid in cash: the
Z and the DSFinV-K export book the turnover and a rounding of the same amount, and each
receipt still adds up (lines = VAT keys = payments)."""

from __future__ import annotations

from posd.client import PosdClient

from tests.integration.api.test_sale_part2 import CASH, pay, post
from tests.integration.day.test_foreign_cash_change import (
    assert_receipts_add_up,
    chf_shop,
    close_day,
    rounding_lines,
    z_figures,
)
from tests.support.fullsale import import_items, item


def test_two_cents_paid_in_five_cent_cash_are_turnover_and_rounding(pos: PosdClient) -> None:
    chf_shop(pos, euro_step=5)  # euro cash rounded to 0.05 (a Dutch or Finnish shop)
    import_items(pos, item("PIN", "Stecknadel", 2))
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="PIN")
    s = pay(pos, sid, CASH).sale
    assert ([p.amount.amount_minor for p in s.payments], s.rounding.amount_minor) == ([0], -2)
    done = post(pos, sid)
    assert done.tse.process_data == "Beleg^0.02_0.00_0.00_0.00_-0.02^"
    drawer, z, t = close_day(pos)
    assert drawer == {}
    f = z_figures(z)
    assert (f["gross"], f["rounding"], f["payments_total"]) == (2, -2, 0)
    assert rounding_lines(t) == [("Rabatt", -2)]
    assert_receipts_add_up(t)
