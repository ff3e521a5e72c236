"""A post that failed after the TSE signed is posted again without its checks (the
TSE's finish cannot be taken back), but a lot that expired since its line was added is
still sold past its expiry: the posted sale has the warning, and the journal says so;
whether the cashier's retry posts it or reconciliation at the next start does."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from posd.client import PosdClient
from posd.v1 import sale_pb2

from tests.conftest import Running, start_in_thread
from tests.integration.day.test_business_day import FixedClock
from tests.integration.day.test_time_rules import BERLIN, CASH, import_milk
from tests.support.fullsale import post_not_saved, printed

EVENING = datetime(2026, 3, 10, 22, 50, tzinfo=UTC)  # 23:50 in Berlin
WARNING = "LOT_EXPIRED: Milch lot L-TODAY of item MILCH expired on 2026-03-10"


def signed_not_saved(manager: PosdClient, clock: FixedClock) -> str:
    """A sale of lot L-TODAY (good on 10 March) whose post after midnight the TSE
    signed but whose transaction did not commit; its id."""
    import_milk(manager, ("L-TODAY", "2026-03-10"))
    sale_id = manager.create_sale().sale_id
    manager.add_line(sale_id, item_id="MILCH", lot_number="L-TODAY")
    manager.add_payment(sale_id, CASH, 200)
    clock.now = EVENING + timedelta(minutes=20)  # 00:10 on 11 March: expired
    manager.retries = 0
    post_not_saved(lambda: manager.post_sale(sale_id))
    return sale_id


def expired_lots_sold(running: Running) -> list[dict[str, Any]]:
    with sqlite3.connect(running.config.database_path) as conn:
        rows = conn.execute("SELECT payload FROM journal WHERE kind = 'EXPIRED_LOT_SOLD'")
        return [json.loads(r[0]) for r in rows.fetchall()]


def test_a_signed_post_posted_again_keeps_the_expired_lot_warning_and_journal(
    tmp_path: Path,
) -> None:
    clock = FixedClock(EVENING)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as manager:
            sale_id = signed_not_saved(manager, clock)
            posted = manager.post_sale(sale_id)
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert posted.tse.state == "SIGNED"
            assert list(posted.warnings) == [WARNING]
            sold = expired_lots_sold(running)
            assert [(s["sale_id"], s["lot_number"], s["at"]) for s in sold] == [
                (sale_id, "L-TODAY", "post")
            ]
    finally:
        running.stop()


def test_a_post_completed_after_a_restart_keeps_the_expired_lot_warning_and_journal(
    tmp_path: Path,
) -> None:
    """The daemon stopped before anyone posted it again: reconciliation at the next
    start completes the post, with the warning (receipt) and the journal record, for
    the sale's operator."""
    clock = FixedClock(EVENING)
    state = tmp_path / "state"
    running = start_in_thread(state, BERLIN, clock=clock)
    try:
        with running.client() as manager:
            sale_id = signed_not_saved(manager, clock)
    finally:
        running.stop()

    running = start_in_thread(state, BERLIN, clock=clock)  # reconciliation posts it
    try:
        with running.client() as manager:
            posted = manager.get_sale(sale_id)
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert posted.tse.state == "SIGNED"
            assert list(posted.warnings) == [WARNING]
            sold = expired_lots_sold(running)
            assert [(s["sale_id"], s["lot_number"], s["operator_id"], s["at"]) for s in sold] == [
                (sale_id, "L-TODAY", "1", "post")
            ]
            paper = printed(running, f"Beleg-Nr. {posted.receipt_number}")
            assert "Charge L-TODAY abgelaufen 10.03.2026" in paper
    finally:
        running.stop()
