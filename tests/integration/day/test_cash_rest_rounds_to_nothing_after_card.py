"""The last cents after a card that cash rounds to nothing (0.02 in 0.05 steps): a cash
payment of 0.00 settles them. The signed processData, the journal, the Z and the DSFinV-K
export book the card, the turnover and the rounding, and no payment of nothing; removing
the card afterwards leaves the sale unpaid."""

from __future__ import annotations

import json
import sqlite3

from posd.client import PosdClient
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import CASH, call, error, pay, post
from tests.integration.day.test_foreign_cash_change import (
    assert_receipts_add_up,
    chf_shop,
    close_day,
    payments_of,
    rounding_lines,
    z_figures,
)
from tests.support.fullsale import import_items, item

CARD = common_pb2.PAYMENT_METHOD_CARD


def test_a_card_and_a_zero_cash_payment_are_booked_as_card_and_rounding(
    running: Running, pos: PosdClient
) -> None:
    chf_shop(pos, euro_step=5)  # euro cash rounded to 0.05
    import_items(pos, item("LAMP", "Lampe", 1743))
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="LAMP")
    pay(pos, sid, CARD, 1741, card_institute="VISA")
    s = pay(pos, sid, CASH).sale
    assert [p.amount.amount_minor for p in s.payments] == [1741, 0]
    assert (s.rounding.amount_minor, s.open_amount.amount_minor) == (-2, 0)
    done = post(pos, sid)
    assert done.tse.process_data == "Beleg^17.43_0.00_0.00_0.00_-0.02^17.41:Unbar"
    with sqlite3.connect(running.config.database_path) as conn:
        (payload,) = conn.execute(
            "SELECT payload FROM journal WHERE kind = 'SALE_POSTED'"
        ).fetchone()
    rec = json.loads(payload)
    assert rec["tse"]["process_data"] == done.tse.process_data
    drawer, z, t = close_day(pos)
    assert drawer == {}  # no cash went into the drawer
    f = z_figures(z)
    assert (f["gross"], f["rounding"], f["payments_total"]) == (1743, -2, 1741)
    assert f["pay"] == {("CARD", "EUR"): 1741}
    assert payments_of(t) == {("EUR", "", 1741)}  # the card only, no cash of 0.00
    assert rounding_lines(t) == [("Rabatt", -2)]
    assert_receipts_add_up(t)


def test_removing_the_card_after_a_zero_cash_payment_leaves_the_sale_unpaid(
    pos: PosdClient,
) -> None:
    chf_shop(pos, euro_step=5)
    import_items(pos, item("LAMP", "Lampe", 1743))
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="LAMP")
    card = pay(pos, sid, CARD, 1741, card_institute="VISA").payment_id
    pay(pos, sid, CASH)
    s = call(pos, "RemovePayment", sale_id=sid, payment_id=card).sale
    assert (s.rounding.amount_minor, s.open_amount.amount_minor) == (2, 1745)
    assert error(post, pos, sid).reason == "SALE_NOT_PAID"
    s = pay(pos, sid, CASH).sale
    assert [p.amount.amount_minor for p in s.payments] == [0, 1745]
    done = post(pos, sid)
    assert done.tse.process_data == "Beleg^17.43_0.00_0.00_0.00_0.02^17.45:Bar"


def test_a_storno_of_a_card_and_zero_cash_sale_reverses_the_rounding_too(
    pos: PosdClient,
) -> None:
    """The storno of 17.43 paid 17.41 by card and 0.00 in cash: the card back (-17.41) and
    the rounding back (+0.02), so that the day nets to nothing."""
    chf_shop(pos, euro_step=5)
    import_items(pos, item("LAMP", "Lampe", 1743))
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="LAMP")
    pay(pos, sid, CARD, 1741, card_institute="VISA")
    pay(pos, sid, CASH)
    post(pos, sid)
    storno = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    assert storno.state == sale_pb2.SALE_STATE_POSTED
    assert (storno.total.amount_minor, storno.rounding.amount_minor) == (-1743, 2)
    # the card back, and the 0.00 cash that carries the rounding
    assert [p.amount.amount_minor for p in storno.payments] == [-1741, 0]
    assert storno.tse.process_data == "Beleg^-17.43_0.00_0.00_0.00_0.02^-17.41:Unbar"
    _, z, t = close_day(pos)
    f = z_figures(z)
    assert (f["gross"], f["rounding"], f["payments_total"]) == (0, 0, 0)
    assert_receipts_add_up(t)


def test_a_storno_of_two_cents_paid_by_zero_cash_nets_to_nothing(pos: PosdClient) -> None:
    chf_shop(pos, euro_step=5)
    import_items(pos, item("PIN", "Stecknadel", 2))
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="PIN")
    pay(pos, sid, CASH)
    post(pos, sid)
    storno = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    assert storno.state == sale_pb2.SALE_STATE_POSTED
    assert (storno.total.amount_minor, storno.rounding.amount_minor) == (-2, 2)
    assert storno.tse.process_data == "Beleg^-0.02_0.00_0.00_0.00_0.02^"
    _, z, t = close_day(pos)
    f = z_figures(z)
    assert (f["gross"], f["rounding"], f["payments_total"]) == (0, 0, 0)
    assert_receipts_add_up(t)


def test_a_storno_of_cash_in_the_step_has_no_payment_of_nothing(pos: PosdClient) -> None:
    """17.43 paid 20.00 in cash (17.45 kept, 2.55 change): the storno gives back 17.45."""
    chf_shop(pos, euro_step=5)
    import_items(pos, item("LAMP", "Lampe", 1743))
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="LAMP")
    pay(pos, sid, CASH, 2000)
    post(pos, sid)
    storno = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    assert [p.amount.amount_minor for p in storno.payments] == [-1745]
    assert storno.rounding.amount_minor == -2
