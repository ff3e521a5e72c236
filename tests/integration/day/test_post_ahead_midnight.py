"""A post run ahead on the day before and claimed after midnight gives way to the usual
post, which checks the sale for its own day: the TSE must not have been asked to finish
the receipt of the day before, also when the claim came before the run-ahead parked (it
then finds the claim when it gets to the signature)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdError
from posd.v1 import sale_pb2

from posd_daemon.domain.sale import Sale
from tests.conftest import start_in_thread
from tests.integration.api.test_post_ahead import outcomes, started
from tests.integration.api.test_post_ahead_gives_way import finishes_of
from tests.integration.day.test_business_day import FixedClock
from tests.integration.day.test_time_rules import BERLIN, CASH, import_milk


def test_a_run_ahead_claimed_before_it_parked_across_midnight_asks_the_tse_for_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evening = datetime(2026, 3, 10, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in Berlin
    clock = FixedClock(evening)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        sales: Any = running.daemon.gateway.sale_loader.__self__  # type: ignore[attr-defined]
        finished = finishes_of(running.daemon.gateway.tse, monkeypatch)  # type: ignore[attr-defined]
        # the run-ahead is held at its checks (before it gets to the signature) until the
        # PostSale has claimed it
        checking, go_on = threading.Event(), threading.Event()
        real_check = sales.check_vat_rates

        def check_vat_rates(sale: Sale, day: date) -> None:
            if not checking.is_set():
                checking.set()
                assert go_on.wait(5)
            real_check(sale, day)

        monkeypatch.setattr(sales, "check_vat_rates", check_vat_rates)

        with running.client() as manager, running.client("2", "0000") as cashier:
            import_milk(manager, ("L-TODAY", "2026-03-10"))
            sale_id = cashier.create_sale().sale_id
            cashier.add_line(sale_id, item_id="MILCH", lot_number="L-TODAY")
            started(running, sale_id)
            before = outcomes(running)
            cashier.add_payment(sale_id, CASH, 200)  # paid in full: the post runs ahead
            assert checking.wait(5)

            clock.now = evening + timedelta(seconds=2)  # 00:00:01 on 11 March: expired
            with ThreadPoolExecutor(1) as pool:
                posting = pool.submit(cashier.post_sale, sale_id)
                for _ in range(500):  # claimed: the speculation is taken
                    if running.daemon.db._speculation is None:
                        break
                    time.sleep(0.01)
                assert running.daemon.db._speculation is None
                go_on.set()
                with pytest.raises(PosdError) as err:
                    posting.result(10)
            assert err.value.reason == "LOT_EXPIRED"
            after = outcomes(running)
            assert after["claimed"] == before["claimed"], after
            assert after["abandoned"] == before["abandoned"] + 1, after
            assert cashier.get_sale(sale_id).state == sale_pb2.SALE_STATE_OPEN
            # the refused sale's receipt was never handed to the TSE
            assert finished == []
            # so it can still be cancelled (the TSE ends its transaction as aborted)
            cancelled = cashier.cancel_sale(sale_id, "Ware abgelaufen")
            assert cancelled.state == sale_pb2.SALE_STATE_CANCELLED
            assert cancelled.tse.state == "CANCELLED"
    finally:
        running.stop()
