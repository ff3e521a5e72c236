"""``posd_tse_outages_total`` counts outages opened, each exactly once: two TSE failures
at the same moment (two registers' UIs posting while the TSE stops answering) open one
outage in the journal, and the metric must say one too, not one per failure."""

from __future__ import annotations

import sqlite3
import threading
import urllib.request
from pathlib import Path

from posd.client import PosdClient
from posd.v1 import sale_pb2

from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly


def payable_sale(pos: PosdClient) -> str:
    sid = pos.create_sale().sale_id
    total = pos.add_line(sid, item_id="1002").sale.total.amount_minor
    pos.add_payment(sid, CASH, total)
    return sid


def test_two_simultaneous_tse_failures_count_one_outage(tmp_path: Path) -> None:
    with FakeFiskaly() as fake:
        running = start_in_thread(
            tmp_path / "state",
            fiskaly_config(fake, timeout_ms=400, metrics={"listen": "127.0.0.1:0"}),
        )
        try:
            port = running.daemon.metrics.bound_port
            with running.client() as pos:
                seed(pos)
                sales = [payable_sale(pos) for _ in range(2)]
                fake.wait_idle()
                # both finishes hang past the 400 ms timeout: two failures at once
                fake.delay_next(10, seconds=1.5, before=True)
                posted: list[sale_pb2.Sale] = []
                barrier = threading.Barrier(2)

                def post(sid: str) -> None:
                    with running.client(open_shift=False) as other:
                        barrier.wait()
                        posted.append(other.post_sale(sid))

                threads = [threading.Thread(target=post, args=(s,)) for s in sales]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(20)
                assert [p.tse.state for p in posted] == ["OUTAGE", "OUTAGE"]
                assert {p.tse.outage_number for p in posted} == {1}
            conn = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
            try:
                assert conn.execute("SELECT COUNT(*) FROM tse_outages").fetchone() == (1,)
            finally:
                conn.close()
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
            assert "posd_tse_outages_total 1.0" in metrics, [
                line for line in metrics.splitlines() if "outages_total" in line
            ]
        finally:
            running.stop()
