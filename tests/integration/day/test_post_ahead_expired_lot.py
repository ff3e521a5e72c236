"""A post run ahead that sells a lot expired since its line was added (a sale open across
midnight, an operator with SELL_EXPIRED_LOT) journals that at the post: the record must be
dated by the PostSale that claims the post, as the usual post dates it, not by the time
the post ran ahead."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posd.v1 import sale_pb2

from tests.conftest import start_in_thread
from tests.integration.api.test_post_ahead import outcomes, started
from tests.integration.api.test_post_ahead_gives_way import without_sweep
from tests.integration.day.test_business_day import FixedClock
from tests.integration.day.test_time_rules import BERLIN, CASH, import_milk


def test_the_expired_lot_record_of_a_post_run_ahead_is_dated_by_its_postsale(
    tmp_path: Path,
) -> None:
    evening = datetime(2026, 3, 10, 22, 59, 0, tzinfo=UTC)  # 23:59 in Berlin
    clock = FixedClock(evening)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        without_sweep(running)
        with running.client() as manager:  # may sell expired lots
            import_milk(manager, ("L-TODAY", "2026-03-10"))
            sale_id = manager.create_sale().sale_id
            manager.add_line(sale_id, item_id="MILCH", lot_number="L-TODAY")
            started(running, sale_id)

            ran = evening + timedelta(minutes=2)  # 00:01 on 11 March: the lot expired
            clock.now = ran
            before = outcomes(running)
            manager.add_payment(sale_id, CASH, 119)  # paid in full: the post runs ahead
            db = running.daemon.db
            for _ in range(500):  # it ran ahead (parked for its PostSale, or gave way)
                spec = db._speculation
                ended = spec is not None and spec.result is not None and spec.result.done()
                if spec is not None and (spec.parked or ended):
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the post never ran ahead")

            called = ran + timedelta(milliseconds=500)
            clock.now = called
            posted = manager.post_sale(sale_id)
            after = outcomes(running)
            assert (
                after["claimed"] + after["abandoned"] == before["claimed"] + before["abandoned"] + 1
            )
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert any(w.startswith("LOT_EXPIRED") for w in posted.warnings)
            assert posted.post_time.ToDatetime(UTC) == called

        with sqlite3.connect(running.config.database_path) as conn:
            rows = conn.execute(
                "SELECT kind, recorded_at FROM journal WHERE kind IN"
                " ('EXPIRED_LOT_SOLD', 'SALE_POSTED') ORDER BY seq"
            ).fetchall()
        assert [kind for kind, _ in rows] == ["EXPIRED_LOT_SOLD", "SALE_POSTED"]
        # decided at the post: dated as the post is, by the call
        assert {stamp for _, stamp in rows} == {"2026-03-10T23:01:00.500000Z"}
    finally:
        running.stop()
