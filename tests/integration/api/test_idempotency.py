"""A mutation repeated with the same request_id returns the first answer, changes nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.api.master_servicers import MasterData
from posd_daemon.store.timeutil import to_db
from tests.conftest import Running


def counts(running: Running, sale_id: str) -> tuple[int, int, int, int]:
    with sqlite3.connect(running.config.database_path) as c:
        return (
            c.execute("SELECT COUNT(*) FROM sale_lines WHERE sale_id=?", (sale_id,)).fetchone()[0],
            c.execute("SELECT COUNT(*) FROM sale_payments WHERE sale_id=?", (sale_id,)).fetchone()[
                0
            ],
            c.execute("SELECT COUNT(*) FROM journal WHERE kind <> 'SHIFT_OPENED'").fetchone()[0],
            c.execute("SELECT COALESCE(MAX(value),0) FROM counters").fetchone()[0],
        )


def test_repeats_return_first_answer_and_change_nothing(running: Running, pos: PosdClient) -> None:
    pos.upsert_item("1", "Wasser", 99)
    sale = pos.create_sale(request_id="create-1")
    again = pos.create_sale(request_id="create-1")
    assert again.sale_id == sale.sale_id

    first = pos.add_line(sale.sale_id, item_id="1", request_id="line-1")
    before = counts(running, sale.sale_id)
    repeat = pos.add_line(sale.sale_id, item_id="1", request_id="line-1")
    assert repeat.SerializeToString(deterministic=True) == first.SerializeToString(
        deterministic=True
    )
    assert counts(running, sale.sale_id) == before == (1, 0, 0, 0)

    pay = pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 200, request_id="pay-1")
    repeat_pay = pos.add_payment(
        sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 200, request_id="pay-1"
    )
    assert repeat_pay == pay
    assert counts(running, sale.sale_id) == (1, 1, 0, 0)

    posted = pos.post_sale(sale.sale_id, request_id="post-1")
    assert counts(running, sale.sale_id) == (1, 1, 1, 1)
    repeat_post = pos.post_sale(sale.sale_id, request_id="post-1")
    assert repeat_post == posted
    assert repeat_post.receipt_number == 1
    assert counts(running, sale.sale_id) == (1, 1, 1, 1)
    with sqlite3.connect(running.config.database_path) as c:
        assert c.execute("SELECT COUNT(*) FROM outbox WHERE kind='print'").fetchone()[0] == 1


def test_request_id_reused_for_another_request_is_refused(pos: PosdClient) -> None:
    pos.upsert_item("1", "Wasser", 99)
    pos.upsert_item("2", "Saft", 199)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1", request_id="same")
    with pytest.raises(PosdError) as err:
        pos.add_line(sale.sale_id, item_id="2", request_id="same")
    assert err.value.reason == "REQUEST_ID_REUSED"
    assert [ln.item_id for ln in pos.get_sale(sale.sale_id).lines] == ["1"]


def test_missing_request_id_is_a_field_error(pos: PosdClient) -> None:
    with pytest.raises(PosdError) as err:
        pos.call(pos.sales.CreateSale, sale_pb2.CreateSaleRequest())
    assert err.value.field_violations == [("request_id", "is required")]


def test_old_answers_are_pruned_by_the_housekeeping_sweep(
    running: Running, pos: PosdClient
) -> None:
    """Each stored answer holds the whole sale: a register running for months must not
    keep them all. Answers older than 7 days go in batches; newer ones still answer."""
    pos.upsert_item("1001", "Bio-Brot", 449)
    sale = pos.create_sale(request_id="keep-me")
    old = to_db(datetime.now(UTC) - timedelta(days=8))
    with sqlite3.connect(running.config.database_path) as db:
        db.executemany(
            "INSERT INTO idempotency (request_id, method, request_digest, response, created_at)"
            " VALUES (?, 'AddLine', 'x', x'00', ?)",
            [(f"old-{n}", old) for n in range(25_000)],
        )
    master = running.daemon.extra["master"]
    assert isinstance(master, MasterData)

    def sweep() -> int:
        done = asyncio.run_coroutine_threadsafe(
            master.housekeeping.run_periodic(force=True), running.loop
        ).result(30)
        return done["idempotency"]

    assert [sweep(), sweep(), sweep(), sweep()] == [10_000, 10_000, 5_000, 0]
    with sqlite3.connect(running.config.database_path) as db:
        assert db.execute("SELECT COUNT(*) FROM idempotency WHERE request_id LIKE 'old-%'")\
            .fetchone() == (0,)  # fmt: skip
    assert pos.create_sale(request_id="keep-me").sale_id == sale.sale_id  # still answered
