"""Open sales kept in memory between edits never hide a write of the database."""

from __future__ import annotations

import sqlite3

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running

CASH = common_pb2.PAYMENT_METHOD_CASH


def seed(pos: PosdClient) -> None:
    pos.upsert_item("A", "Apfelsaft", 199)
    pos.upsert_item("B", "Brezel", 89)


def test_a_write_behind_the_daemons_back_is_seen_by_the_next_edit(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="A")
    pos.add_line(sale.sale_id, item_id="B")
    # a repair with the sqlite3 shell while the daemon runs: the sale row changes
    with sqlite3.connect(running.config.database_path) as conn:
        conn.execute(
            "UPDATE sales SET discount_code = 'REPAIRED' WHERE sale_id = ?", (sale.sale_id,)
        )
    after = pos.add_line(sale.sale_id, item_id="A").sale
    # the edit worked on the repaired row, not on the copy from before the repair
    assert after.discount_code == "REPAIRED"
    assert [ln.item_id for ln in after.lines] == ["A", "B", "A"]
    assert pos.get_sale(sale.sale_id).discount_code == "REPAIRED"


def test_a_refused_edit_leaves_nothing_behind(pos: PosdClient) -> None:
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="A")
    paid = pos.add_payment(sale.sale_id, CASH, 1000)
    with pytest.raises(PosdError) as err:
        pos.add_line(sale.sale_id, item_id="B", quantity="100001")
    assert err.value.reason == "INVALID_QUANTITY"
    with pytest.raises(PosdError):
        pos.remove_payment(sale.sale_id, "no-such-payment")
    again = pos.add_line(sale.sale_id, item_id="B").sale
    assert [ln.item_id for ln in again.lines] == ["A", "B"]
    assert [p.payment_id for p in again.payments] == [paid.payment_id]
    assert again.total.amount_minor == 199 + 89
    posted = pos.post_sale(sale.sale_id)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert posted.total.amount_minor == 288
    assert posted.change.amount_minor == 1000 - 288


def test_two_sales_edited_in_turn_keep_apart(running: Running, pos: PosdClient) -> None:
    seed(pos)
    first = pos.create_sale().sale_id
    with running.client("2", "0000") as other:
        second = other.create_sale().sale_id
        for _ in range(3):
            pos.add_line(first, item_id="A")
            other.add_line(second, item_id="B")
        assert [ln.item_id for ln in other.get_sale(second).lines] == ["B"] * 3
    assert [ln.item_id for ln in pos.get_sale(first).lines] == ["A"] * 3
    with sqlite3.connect(running.config.database_path) as conn:
        rows = conn.execute(
            "SELECT sale_id, COUNT(*) FROM sale_lines GROUP BY sale_id ORDER BY 1"
        ).fetchall()
    assert sorted(rows) == sorted([(first, 3), (second, 3)])


def test_edits_written_row_by_row_read_back_the_same(running: Running, pos: PosdClient) -> None:
    """Each edit writes only the lines and payments that changed; what the database
    then holds must be exactly the sale the edits answered with."""
    seed(pos)
    sale_id = pos.create_sale().sale_id
    line_ids = [pos.add_line(sale_id, item_id=i).line_id for i in ("A", "B", "A", "B")]
    pos.update_line(sale_id, line_ids[1], "3")
    pos.remove_line(sale_id, line_ids[0])  # every later line moves up one position
    first = pos.add_payment(sale_id, CASH, 100)
    pos.add_payment(sale_id, CASH, 200)
    pos.remove_payment(sale_id, first.payment_id)
    last = pos.add_line(sale_id, item_id="A").sale
    stored = pos.get_sale(sale_id)
    assert stored == last
    assert [ln.item_id for ln in stored.lines] == ["B", "A", "B", "A"]
    assert [ln.quantity for ln in stored.lines] == ["3", "1", "1", "1"]
    assert [p.amount.amount_minor for p in stored.payments] == [200]
    with sqlite3.connect(running.config.database_path) as conn:
        positions = conn.execute(
            "SELECT position, line_id FROM sale_lines WHERE sale_id = ? ORDER BY position",
            (sale_id,),
        ).fetchall()
        payments = conn.execute(
            "SELECT position FROM sale_payments WHERE sale_id = ?", (sale_id,)
        ).fetchall()
    assert positions == [(k, ln.line_id) for k, ln in enumerate(stored.lines)]
    assert payments == [(0,)]


def test_a_changed_item_is_sold_at_its_new_price(running: Running, pos: PosdClient) -> None:
    """Items read before are reused only while nothing in the catalog changed."""
    seed(pos)
    sale_id = pos.create_sale().sale_id
    assert pos.add_line(sale_id, item_id="A").sale.lines[-1].unit_price.amount_minor == 199
    pos.upsert_item("A", "Apfelsaft", 249)
    assert pos.add_line(sale_id, item_id="A").sale.lines[-1].unit_price.amount_minor == 249
    # a price changed with the sqlite3 shell while the daemon runs
    with sqlite3.connect(running.config.database_path) as conn:
        conn.execute("UPDATE items SET gross_price = 299 WHERE item_id = 'A'")
    assert pos.add_line(sale_id, item_id="A").sale.lines[-1].unit_price.amount_minor == 299
    pos.add_line(sale_id, item_id="B")  # B is read (and kept) now
    # an item deleted behind the daemon's back is gone for the next line
    with sqlite3.connect(running.config.database_path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM items WHERE item_id = 'B'")
    with pytest.raises(PosdError) as err:
        pos.add_line(sale_id, item_id="B")
    assert err.value.reason == "ITEM_NOT_FOUND"
