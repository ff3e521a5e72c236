"""Posts run ahead: the payment that makes a plain sale postable starts its post on the
database thread, parked in its transaction until the PostSale comes. The PostSale then
gets exactly what the usual post gives (its own time, its answer stored for repeats), and
anything else that needs the database first rolls the run-ahead back without a trace."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from posd.client import PosdClient, new_request_id
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.api import servicers
from posd_daemon.store import journal
from tests.conftest import Running
from tests.integration.api import test_sale_part2 as part2

CASH = common_pb2.PAYMENT_METHOD_CASH
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def seed(pos: PosdClient) -> None:
    pos.upsert_item("A", "Apfelsaft", 199, barcodes=("4000000000013",))
    pos.upsert_item("B", "Brezel", 89)


def outcomes(running: Running) -> dict[str, float]:
    reg = running.daemon.metrics.registry
    return {
        name: reg.get_sample_value("posd_posts_ahead_total", {"outcome": name}) or 0.0
        for name in ("claimed", "abandoned", "refused", "failed")
    }


def started(running: Running, sale_id: str) -> None:
    """Waits until the sale's TSE transaction is started (its row written): a payment
    runs the post ahead only once that write is done."""
    for _ in range(500):
        with sqlite3.connect(running.config.database_path) as conn:
            if conn.execute("SELECT 1 FROM sale_tse WHERE sale_id = ?", (sale_id,)).fetchone():
                return
        time.sleep(0.01)
    raise AssertionError("the TSE transaction was never started")


def hand_over() -> None:
    """The customer hands over the money: longer than a post waits before running ahead
    (a PostSale right after the payment gets the usual post)."""
    time.sleep(0.2)


def sell_voucher(pos: PosdClient, sale_id: str, voucher_code: str) -> None:
    """Adds a tracked voucher of 10.00 EUR sold (its row carries the post's time)."""
    part2.call(
        pos,
        "AddVoucherLine",
        sale_id=sale_id,
        code="2900000000001",
        action=sale_pb2.VOUCHER_ACTION_SELL,
        voucher_code=voucher_code,
        amount=part2.money(1000),
    )


def sale_of_one(running: Running, pos: PosdClient, item_id: str = "A") -> str:
    """A new sale with one line whose TSE transaction is started (not yet paid)."""
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id=item_id)
    started(running, sale.sale_id)
    return sale.sale_id


def count(running: Running, sql: str, *args: str) -> int:
    with sqlite3.connect(running.config.database_path) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def stamps(path: str) -> set[tuple[str, str, str]]:
    """Every (table, column, value) in the database that is one of posd's timestamps."""
    found: set[tuple[str, str, str]] = set()
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for row in conn.execute(f"SELECT * FROM {table}"):
                for col, value in zip(cols, row, strict=True):
                    if isinstance(value, str) and STAMP.match(value):
                        found.add((table, col, value))
    return found


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_post_run_ahead_is_dated_by_its_postsale_everywhere(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, code="4000000000013")
    pos.add_line(sale.sale_id, item_id="B", quantity="2")
    started(running, sale.sale_id)
    before = outcomes(running)
    pos.add_payment(sale.sale_id, CASH, 500)  # paid in full (with change): runs ahead
    hand_over()
    time.sleep(0.1)  # and gets the change
    seen = stamps(str(running.config.database_path))
    called = datetime.now(UTC)
    posted = pos.post_sale(sale.sale_id)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert posted.change.amount_minor == 500 - 199 - 2 * 89
    after = outcomes(running)
    assert after["claimed"] == before["claimed"] + 1, after
    assert posted.tse.state == "SIGNED" and posted.tse.signature
    assert posted.post_time.ToDatetime(UTC) >= called
    # every timestamp the post wrote (sale row, register transaction, stock moves, drawer
    # entries, print and drawer jobs, journal, TSE row, ...) is the call's or later, none
    # is the time the post ran ahead (0.3 s earlier)
    new = stamps(str(running.config.database_path)) - seen
    assert {table for table, _, _ in new} >= {
        "sales",
        "register_transactions",
        "stock_moves",
        "drawer_entries",
        "outbox",
        "journal",
    }
    # (the TSE's own times are whole seconds)
    early = sorted(
        (t, c, v)
        for t, c, v in new
        if when(v) < (called.replace(microsecond=0) if t == "sale_tse" else called)
    )
    assert early == []
    with sqlite3.connect(running.config.database_path) as conn:
        payload = conn.execute(
            "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' ORDER BY seq DESC LIMIT 1"
        ).fetchone()[0]
        assert f'"posted_at":"{posted.post_time.ToDatetime(UTC).isoformat()[:19]}' in payload
        assert journal.verify(conn).ok


def test_a_change_after_the_payment_rolls_the_run_ahead_back(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    before = outcomes(running)
    pos.add_payment(sale_id, CASH, 199)  # exactly paid: runs ahead
    hand_over()
    # the customer takes one more thing: the edit needs the database, the run-ahead yields
    more = pos.add_line(sale_id, item_id="B").sale
    assert more.open_amount.amount_minor == 89
    pos.add_payment(sale_id, CASH, 100)  # paid again: runs ahead again
    hand_over()
    posted = pos.post_sale(sale_id)
    after = outcomes(running)
    assert after["abandoned"] == before["abandoned"] + 1, after
    assert after["claimed"] == before["claimed"] + 1, after
    assert [ln.item_id for ln in posted.lines] == ["A", "B"]
    assert posted.total.amount_minor == 288
    assert posted.change.amount_minor == 11
    # the abandoned run-ahead drew no receipt number: none is missing or doubled
    other = sale_of_one(running, pos, "B")
    pos.add_payment(other, CASH, 89)
    second = pos.post_sale(other)
    assert second.receipt_number == posted.receipt_number + 1
    posted_count = count(running, "SELECT COUNT(*) FROM sales WHERE state = 'POSTED'")
    assert count(running, "SELECT MAX(receipt_number) FROM sales") == posted_count
    assert count(running, "SELECT COUNT(*) FROM stock_moves WHERE sale_id = ?", sale_id) == 2
    assert count(running, "SELECT COUNT(*) FROM drawer_entries WHERE sale_id = ?", sale_id) >= 1
    with sqlite3.connect(running.config.database_path) as conn:
        assert journal.verify(conn).ok


def test_a_repeated_postsale_gets_the_first_answer_of_a_post_run_ahead(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    pos.add_payment(sale_id, CASH, 200)
    hand_over()
    before = outcomes(running)
    first = pos.post_sale(sale_id, request_id="post-ahead-repeat-1")
    assert outcomes(running)["claimed"] == before["claimed"] + 1
    again = pos.post_sale(sale_id, request_id="post-ahead-repeat-1")
    assert again.SerializeToString(deterministic=True) == first.SerializeToString(
        deterministic=True
    )
    number = str(first.receipt_number)
    assert count(running, "SELECT COUNT(*) FROM sales WHERE receipt_number = ?", number) == 1


def test_only_the_operator_who_took_the_payment_claims_it(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    before = outcomes(running)
    pos.add_payment(sale_id, CASH, 199)
    hand_over()
    with running.client("2", "0000", open_shift=False) as other:
        posted = other.post_sale(sale_id)  # the usual post, after a rollback
    after = outcomes(running)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert after["claimed"] == before["claimed"]
    assert after["abandoned"] == before["abandoned"] + 1


def test_sales_it_does_not_cover_post_as_usual(running: Running, pos: PosdClient) -> None:
    seed(pos)
    sale_id = sale_of_one(running, pos)
    before = outcomes(running)
    pos.add_payment(sale_id, CASH, 100)  # not paid in full: nothing runs ahead
    pos.add_payment(sale_id, CASH, 150)
    hand_over()
    request = sale_pb2.PostSaleRequest(  # with a change currency: not covered
        request_id=new_request_id(), sale_id=sale_id, change_currency_code="EUR"
    )
    posted = pos.call(pos.sales.PostSale, request).sale
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    after = outcomes(running)
    assert after["claimed"] == before["claimed"]
    assert after["abandoned"] == before["abandoned"] + 1  # the one after the second payment


def test_a_postsale_right_after_the_payment_gets_the_usual_post(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "right after" made certain on a slow machine: the delay is long (the daemon runs
    # in this process); the PostSale comes well within it
    monkeypatch.setattr(servicers, "POST_AHEAD_DELAY_S", 1.0)
    seed(pos)
    sale_id = sale_of_one(running, pos)
    before = outcomes(running)
    pos.add_payment(sale_id, CASH, 199)
    posted = pos.post_sale(sale_id)  # within POST_AHEAD_DELAY_S: nothing ran ahead
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    time.sleep(1.2)  # past the delay: the cancelled run-ahead stays cancelled
    assert outcomes(running) == before


def test_a_run_ahead_waiting_for_a_slow_tse_start_follows_the_sale(
    running: Running, pos: PosdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a TSE whose start takes long (a slow cloud TSE): the run-ahead waits for the start's
    # write; the sale meanwhile becomes one a post never runs ahead for (a voucher sold)
    part2.seed(pos)
    gateway = running.daemon.gateway
    assert gateway.tse is not None
    start = gateway.tse.start_transaction

    def slow_start(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return start(*args, **kwargs)

    monkeypatch.setattr(gateway.tse, "start_transaction", slow_start)
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="COFFEE")  # its TSE start is under way for a second
    before = outcomes(running)
    paid = part2.pay(pos, sale_id, CASH, 899)  # plain and paid: due to run ahead
    time.sleep(0.05)
    assert gateway.pending_start(sale_id) is not None  # waiting for the start
    pos.remove_payment(sale_id, paid.sale.payments[0].payment_id)
    sell_voucher(pos, sale_id, "GV-77")
    part2.pay(pos, sale_id, CASH, 1899)  # paid again, but not a plain sale any more
    for _ in range(500):
        if gateway.pending_start(sale_id) is None:
            break
        time.sleep(0.01)
    hand_over()
    called = datetime.now(UTC)
    posted = part2.post(pos, sale_id)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    after = outcomes(running)
    assert after["claimed"] == before["claimed"]  # no run-ahead posted a voucher sale
    sold = part2.rows(running, "SELECT updated_at FROM vouchers WHERE code = 'GV-77'")
    assert when(sold[0][0]) >= called  # the voucher is dated by the PostSale


def test_a_voucher_sale_is_not_posted_ahead(running: Running, pos: PosdClient) -> None:
    part2.seed(pos)
    sale_id = pos.create_sale().sale_id
    sell_voucher(pos, sale_id, "GV-78")
    before = outcomes(running)
    part2.pay(pos, sale_id, CASH, 1000)  # paid in full: it starts, and rolls back
    hand_over()
    called = datetime.now(UTC)
    posted = part2.post(pos, sale_id)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    after = outcomes(running)
    assert after["claimed"] == before["claimed"]
    assert after["abandoned"] == before["abandoned"] + 1
    sold = part2.rows(running, "SELECT updated_at FROM vouchers WHERE code = 'GV-78'")
    assert when(sold[0][0]) >= called
