"""A post that failed after the TSE signed is posted again without its checks (the
TSE's finish cannot be taken back), but a lot that expired since its line was added is
still sold past its expiry: the posted sale has the warning, and the journal says so."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posd.v1 import sale_pb2

from tests.conftest import start_in_thread
from tests.integration.day.test_business_day import FixedClock
from tests.integration.day.test_time_rules import BERLIN, CASH, import_milk
from tests.support.fullsale import post_not_saved


def test_a_signed_post_posted_again_keeps_the_expired_lot_warning_and_journal(
    tmp_path: Path,
) -> None:
    evening = datetime(2026, 3, 10, 22, 50, tzinfo=UTC)  # 23:50 in Berlin
    clock = FixedClock(evening)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as manager:
            import_milk(manager, ("L-TODAY", "2026-03-10"))
            sale_id = manager.create_sale().sale_id
            manager.add_line(sale_id, item_id="MILCH", lot_number="L-TODAY")
            manager.add_payment(sale_id, CASH, 200)
            clock.now = evening + timedelta(minutes=20)  # 00:10 on 11 March: expired
            manager.retries = 0
            post_not_saved(lambda: manager.post_sale(sale_id))

            posted = manager.post_sale(sale_id)
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert posted.tse.state == "SIGNED"
            assert list(posted.warnings) == [
                "LOT_EXPIRED: Milch lot L-TODAY of item MILCH expired on 2026-03-10"
            ]
            with sqlite3.connect(running.config.database_path) as conn:
                rows = conn.execute(
                    "SELECT payload FROM journal WHERE kind = 'EXPIRED_LOT_SOLD'"
                ).fetchall()
            sold = [json.loads(r[0]) for r in rows]
            assert [(s["sale_id"], s["lot_number"], s["at"]) for s in sold] == [
                (sale_id, "L-TODAY", "post")
            ]
    finally:
        running.stop()
