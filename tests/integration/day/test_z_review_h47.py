"""Z closing review (h47): the X report of an open shift against the Z after it, a Z
retried with its request_id, and Zs in a row over an empty period."""

from __future__ import annotations

import sqlite3

from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.integration.day.conftest import Day
from tests.support.cash import close_as_expected

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


def sell(pos: PosdClient, item: str, method: int, amount: int) -> None:
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id=item)
    pos.add_payment(sale_id, method, amount)
    pos.post_sale(sale_id)


def closings(day: Day) -> int:
    with sqlite3.connect(day.running.config.database_path) as c:
        return int(c.execute("SELECT COUNT(*) FROM closings").fetchone()[0])


def test_z_is_the_x_report_plus_what_came_after_and_a_retry_gives_the_same_z(
    day: Day,
) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("A", "Kaffee", 350)
    pos.upsert_item("B", "Kuchen", 1290)
    dc.open_shift([])
    sell(pos, "A", CASH, 500)
    sell(pos, "B", CARD, 1290)
    x = dc.x_report()
    assert x.z_nr == 0
    assert x.receipts == 2
    assert x.gross.amount_minor == 350 + 1290
    assert [m.amount_minor for m in x.open_shift_expected_cash] == [350]
    sell(pos, "A", CASH, 350)
    close_as_expected(dc)

    z = dc.z_closing(request_id="z-h47")
    r = z.report
    assert r.receipts == x.receipts + 1
    assert r.gross.amount_minor == x.gross.amount_minor + 350
    assert r.cash_total.amount_minor == 700
    assert r.payments_total.amount_minor == 350 + 1290 + 350
    assert r.first_bon_id == x.first_bon_id and r.last_bon_id > x.last_bon_id
    # the same request again: the same Z, not a second (empty) one
    again = dc.z_closing(request_id="z-h47")
    assert again == z
    assert closings(day) == 1

    # a second Z right after: an empty period, its own number, nothing counted twice
    empty = dc.z_closing()
    assert empty.z_nr == z.z_nr + 1
    e = empty.report
    assert (e.receipts, e.aborted, e.cash_movements, e.training) == (0, 0, 0, 0)
    assert e.gross.amount_minor == 0 and e.payments_total.amount_minor == 0
    assert (e.first_bon_id, e.last_bon_id) == (0, 0)
    assert list(e.shift_ids) == []
    assert dc.get_closing(empty.z_nr) == empty
