"""Two TSE outages back to back: the second begins while the background probe that ends
the first is still finishing its recovery (the late signing after the close). Real daemon
in-process, real SQLite files, the fiskaly contract server over real HTTP."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from posd.v1 import fiscal_pb2

from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed, wait_for
from tests.integration.fiscal.test_outage_recovery_races import (
    StagedFiskaly,
    config,
    fake,  # noqa: F401  (the fixture)
    outage_sale,
    started_sale,
)
from tests.support.fake_fiskaly import _Fault


def outages(db: Path) -> list[tuple[int, bool]]:
    """(number, ended) of every outage, read from the daemon's database file."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [
            (int(n), bool(ended))
            for n, ended in conn.execute(
                "SELECT outage_number, ended_at IS NOT NULL FROM tse_outages ORDER BY outage_number"
            )
        ]
    finally:
        conn.close()


def test_an_outage_beginning_as_the_probe_ends_the_last_one_is_probed_too(
    tmp_path: Path,
    fake: StagedFiskaly,  # noqa: F811
) -> None:
    """The probe closes outage 1 and, before it is done (it signs late a receipt posted
    while it closed the outage), a sale's TSE start fails: outage 2 begins. The probe saw
    its recovery succeed and stopped, and outage 2 got no probe of its own (one was
    still running): it stayed open, every receipt marked "ausgefallen", although the
    TSE answered again, until someone pressed RecoverTse or restarted the daemon."""
    cfg = config(fake)
    cfg["tse"]["probe_seconds"] = 1
    running = start_in_thread(tmp_path / "state", cfg)
    db = Path(running.config.database_path)
    try:
        with running.client() as pos:
            seed(pos)
            late, _, total = started_sale(pos, fake)
            pos.add_payment(late, CASH, total)
            lists = {"n": 0}
            phase = {"now": "lists"}
            posted: list[Any] = []

            def open_sale() -> None:
                with running.client(open_shift=False) as other:
                    other.add_line(other.create_sale().sale_id, item_id="1001")

            def hook(path: str) -> _Fault | None:
                if phase["now"] == "lists" and "states" in path:
                    lists["n"] += 1
                    if lists["n"] == 2:
                        # the probe's late signing read the outage receipts: this one
                        # is posted with the marking before the close, signed after it
                        with running.client(open_shift=False) as other:
                            posted.append(other.post_sale(late))
                    elif lists["n"] == 3:
                        # after the close: a sale's start queues behind this call
                        t = threading.Thread(target=open_sale)
                        t.start()
                        t.join(10)
                        time.sleep(0.5)  # its background start reaches the TSE thread
                        phase["now"] = "fail start"
                    return None
                if phase["now"] == "fail start" and "/tx/" in path and "tx_revision=1" in path:
                    phase["now"] = "hold"
                    return _Fault("fail", 1, None, status=400)
                if phase["now"] == "hold" and "/tx/" in path:
                    # the probe's late finish waits until the start's failure opened
                    # outage 2, so it begins while the probe is still at work
                    phase["now"] = "done"
                    wait_for(lambda: len(outages(db)) == 2)
                return None

            fake.before_request = hook
            outage_sale(pos, fake)  # outage 1; the probe's next round meets the hook
            wait_for(lambda: phase["now"] == "done", timeout=20)
            assert posted and posted[0].tse.outage_number == 1
            # the TSE answers: the probe ends outage 2 too
            wait_for(lambda: outages(db) == [(1, True), (2, True)], timeout=15)
            info = pos.call(pos.fiscal.GetTseInfo, fiscal_pb2.GetTseInfoRequest())
            assert info.active_outage_number == 0
    finally:
        fake.before_request = None
        running.stop()
