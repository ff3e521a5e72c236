"""An order loaded at the asking register WHILE a hand-over is on the way there: K3 scans
K1's slip of a sale of order W-800, and before the sale arrives at K3, a cashier at K3
loads W-800 (which the back office sent K3 too). K3's list of loaded orders went out
without W-800, so K1 hands the sale over; K3 must not then have W-800 in two sales (the
handed-over one and a new one from LoadOrder), both payable. K1 is slowed by holding its
TSE's storage busy (a slow TSE), nothing of the daemons is mocked: real daemons on unix
sockets and real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import TypeVar

import grpc
from posd.client import PosdError
from posd.v1 import order_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_orders import line, order
from tests.integration.api.test_parking_handover import (  # noqa: F401 (a fixture)
    call,
    slow_tse_store,
    tse_started,
)

#: How long K1's TSE storage is held busy: well within the 5 s K3 waits for K1's answer
#: (register_link.TIMEOUT_S) and K1's TSE timeout below, so the hand-over goes through.
TSE_BUSY_S = 2.5

T = TypeVar("T")


def _pending_import(running: Running, code: str) -> bool:
    with sqlite3.connect(running.config.database_path) as conn:
        row = conn.execute("SELECT 1 FROM pending_imports WHERE code = ?", (code,)).fetchone()
    return row is not None


def _wait_for_pending_import(running: Running, code: str) -> None:
    """Until K3 has asked for the slip's sale (it records the pending import first)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _pending_import(running, code):
            return
        time.sleep(0.02)
    raise AssertionError(f"register never asked for the sale of {code}")


def _during_slow_hand_over(
    store: dict[str, Running], tmp_path: Path, code: str, action: Callable[[], T]
) -> tuple[sale_pb2.Sale, T]:
    """K3 scans ``code`` while K1's TSE storage is held busy (a slow TSE: the hand-over
    waits at K1); once K3 has asked, ``action()`` runs at K3 with the hand-over under
    way. (The sale K3 took over, what ``action`` returned.)"""
    tse_db = sqlite3.connect(
        tmp_path / "K1" / "tse" / "tse.sqlite3", isolation_level=None, check_same_thread=False
    )
    tse_db.execute("BEGIN IMMEDIATE")
    release = threading.Timer(TSE_BUSY_S, lambda: tse_db.execute("ROLLBACK"))
    with futures.ThreadPoolExecutor(2) as pool, store["K3"].client() as scanning:
        scanning.retries = 0
        try:
            resumed = pool.submit(call, scanning, "ResumeSale", code=code)
            _wait_for_pending_import(store["K3"], code)
            release.start()
            time.sleep(0.3)  # K3's TransferParkedSale is at K1 now, waiting for its TSE
            assert not resumed.done()
            done = action()
            return resumed.result(15).sale, done
        finally:
            release.join()
            tse_db.close()


def test_an_order_loaded_while_its_sale_is_handed_over_ends_in_one_sale(
    slow_tse_store: dict[str, Running],  # noqa: F811
    tmp_path: Path,
) -> None:
    store = slow_tse_store
    with store["K3"].client() as k3:
        k3.upsert_orders(order("W-800", line("LAMP", "2"), customer_number=""))
    with store["K1"].client() as k1:
        k1.upsert_orders(order("W-800", line("LAMP", "2"), customer_number=""))
        sid = k1.load_order("W-800").sale_id
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    def load() -> str | PosdError:
        with store["K3"].client() as k3:
            k3.retries = 0
            try:
                return k3.load_order("W-800").sale_id
            except PosdError as exc:
                return exc

    # K1's TSE is slow: the hand-over (its TSE ends the transaction as AVTransfer) waits
    taken, loaded = _during_slow_hand_over(store, tmp_path, code, load)

    # the hand-over went through: K3 holds K1's sale of the order
    assert (taken.sale_id, taken.state, taken.order_number) == (
        sid,
        sale_pb2.SALE_STATE_OPEN,
        "W-800",
    )
    with store["K3"].client() as k3:
        # ... and the order is in that one sale: LoadOrder waited for the hand-over and
        # then found the order LOADED (into the handed-over sale) instead of opening a
        # second sale of it
        if isinstance(loaded, PosdError):
            assert (loaded.code, loaded.reason) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "ORDER_IN_USE",
            )
        else:
            assert loaded == sid
        of_order = [s.sale_id for s in k3.list_sales() if s.order_number == "W-800"]
        assert of_order == [sid]
        linked = k3.get_order("W-800")
        assert (linked.state, linked.sale_id) == (order_pb2.ORDER_STATE_LOADED, sid)
        assert not _pending_import(store["K3"], code)


def test_another_order_loaded_during_a_hand_over_is_loaded_after_it(
    slow_tse_store: dict[str, Running],  # noqa: F811
    tmp_path: Path,
) -> None:
    """A LoadOrder of an order the hand-over has nothing to do with is not refused for
    it: it waits for the hand-over (K3 cannot know the order of a sale on the way before
    it arrives) and then loads its order into a new sale."""
    store = slow_tse_store
    with store["K3"].client() as k3:
        k3.upsert_orders(order("W-900", line("SOFA", "1"), customer_number=""))
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    def load() -> sale_pb2.Sale:
        with store["K3"].client() as k3:
            k3.retries = 0
            return k3.load_order("W-900")

    taken, loaded = _during_slow_hand_over(store, tmp_path, code, load)

    assert (taken.sale_id, taken.state) == (sid, sale_pb2.SALE_STATE_OPEN)
    assert loaded.sale_id != sid
    with store["K3"].client() as k3:
        new = k3.get_order("W-900")
        assert (new.state, new.sale_id) == (order_pb2.ORDER_STATE_LOADED, loaded.sale_id)
