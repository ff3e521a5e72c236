"""PurgeSales cancels open sales idle longer than asked, one after the other, each with
a TSE call that may take a while. A sale the cashier takes up again meanwhile (a line
added while the purge is still cancelling the sales before it) is in use: the purge
leaves it open, as it leaves any sale changed within ``older_than``."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from posd.v1 import sale_pb2

from tests.integration.api.test_posted_event_caller_gone import slow_tse
from tests.integration.api.test_sale_part2 import call, seed
from tests.support.fullsale import register


def test_a_sale_taken_up_again_while_the_purge_runs_stays_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with register(tmp_path / "s") as (running, clock), running.client() as pos:
        seed(pos)
        first = pos.create_sale().sale_id
        pos.add_line(first, item_id="COFFEE")  # its TSE transaction starts
        second = pos.create_sale().sale_id
        pos.add_line(second, item_id="ROLL")
        clock.advance(timedelta(hours=3))  # both idle for 3 hours
        slow_tse(running, monkeypatch, "cancel_transaction")  # a second per cancel

        result: dict[str, Any] = {}

        def purge() -> None:
            with running.client() as other:
                result["resp"] = call(other, "PurgeSales", older_than={"seconds": 7200})

        t = threading.Thread(target=purge)
        t.start()
        time.sleep(0.4)  # the purge is cancelling the first sale at the TSE
        assert pos.get_sale(second).state == sale_pb2.SALE_STATE_OPEN
        pos.add_line(second, item_id="COFFEE")  # the cashier takes it up again
        t.join(20)
        assert not t.is_alive()

        assert pos.get_sale(first).state == sale_pb2.SALE_STATE_CANCELLED
        back = pos.get_sale(second)
        assert back.state == sale_pb2.SALE_STATE_OPEN
        assert [ln.item_id for ln in back.lines] == ["ROLL", "COFFEE"]
        purged = {p.sale_id for p in result["resp"].sales}
        assert first in purged
