"""A sale another register handed over, that the asking register never imported: the
asking register failed after the owner committed the hand-over (its database could not
take the import). Nothing acknowledged may be lost: the asking register completes the
import at its next start, without anyone scanning the slip there again, and the sale
exists exactly once. Real daemons on unix sockets and real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdError, new_request_id
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running, start_in_thread
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.integration.api.test_parking_handover import SECRET, call, start_store, tse_started

NUMBERS = {"K1": 1, "K3": 3, "K4": 4}


def _restart(store: dict[str, Running], tmp_path: Path, reg: str) -> Running:
    store[reg].stop()
    peers = {o: f"unix:{tmp_path / o / 'posd.sock'}" for o in NUMBERS if o != reg}
    store[reg] = start_in_thread(
        tmp_path / reg, {"register": {"id": reg}, "store": {"peers": peers, "secret": SECRET}}
    )
    return store[reg]


def _locked(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_hand_over_the_asking_register_failed_to_import_is_imported_at_its_next_start(
    tmp_path: Path,
) -> None:
    store = start_store(tmp_path, NUMBERS)
    try:
        with store["K1"].client() as k1:
            sid = k1.create_sale().sale_id
            k1.add_line(sid, item_id="LAMP")
            tse_started(store["K1"], sid)
            code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
        # K1's TSE is slow for a moment: K3 has asked and waits for the answer; meanwhile
        # K3's database becomes unwritable (held by another writer for longer than its
        # busy timeout), so the import fails after K1 committed the hand-over
        k1_tse = _locked(tmp_path / "K1" / "tse" / "tse.sqlite3")
        request = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
        failed: list[PosdError] = []

        def scan_at_k3() -> None:
            with store["K3"].client() as k3:
                k3.retries = 0
                try:
                    k3.call(k3.sales.ResumeSale, request)
                except PosdError as exc:
                    failed.append(exc)

        scanning = threading.Thread(target=scan_at_k3)
        scanning.start()
        time.sleep(1.5)  # K3 has asked K1 (whose TSE waits)
        k3_db = _locked(store["K3"].config.database_path)
        k1_tse.execute("ROLLBACK")
        k1_tse.close()
        scanning.join(30)
        k3_db.execute("ROLLBACK")
        k3_db.close()
        assert len(failed) == 1, "the import at K3 was expected to fail"
        with store["K1"].client() as k1:
            left = k1.get_sale(sid)
            assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")

        k3_running = _restart(store, tmp_path, "K3")
        with k3_running.client() as k3:
            deadline = time.monotonic() + 10
            sales: list[Any] = []
            while time.monotonic() < deadline:
                sales = list(k3.list_sales())
                if sales:
                    break
                time.sleep(0.1)
            # imported at start-up, nobody scanned the slip at K3 again
            assert [(s.sale_id, s.state, s.origin_register_id) for s in sales] == [
                (sid, sale_pb2.SALE_STATE_OPEN, "K1")
            ]
            # the scan's retry (same request_id) gets the answer of that import
            again = k3.call(k3.sales.ResumeSale, request).sale
            assert (again.sale_id, again.state, again.register_id) == (
                sid, sale_pb2.SALE_STATE_OPEN, "K3"
            )  # fmt: skip
        # the slip at a third register: held at K3 (not lost, not handed over twice)
        with store["K4"].client() as k4:
            with pytest.raises(PosdError) as held:
                call(k4, "ResumeSale", code=code)
            assert held.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert held.value.reason == "TRANSFER_REFUSED"
            assert held.value.metadata.get("peer_reason") == "SALE_HELD"
            assert list(k4.list_sales()) == []
        with k3_running.client() as k3:
            call(k3, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
            posted = call(k3, "PostSale", sale_id=sid).sale
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert len(list(k3.list_sales())) == 1
        with store["K1"].client() as k1:
            finishes, _ = tse_finishes(k1.export_tse())
        assert [f.process_data for f in finishes.values()] == [
            "AVTransfer^39.90_0.00_0.00_0.00_0.00^"
        ]
    finally:
        for running in store.values():
            running.stop()
