"""The asking register is killed (SIGKILL, as a power cut) right after the owner
committed a hand-over and answered with the sale, before the asking register imported
it (crash point ``resume.after_transfer``). At its next start it imports the sale by
itself: the sale is not lost (nobody needs to scan the slip there again) and exists
once. K3 is the real daemon process; K1 runs in-process, both on real SQLite files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdError, new_request_id
from posd.v1 import sale_pb2, shop_pb2

from tests.conftest import start_in_thread
from tests.integration.api.test_parking_handover import SECRET, call, tse_started
from tests.support.daemon_process import TEST_CONFIG, DaemonProcess
from tests.support.fullsale import import_items, item


def _registers(pos: Any) -> None:
    for reg, number in (("K1", 1), ("K3", 3)):
        r = shop_pb2.Register(register_id=reg, shop_id="SHOP-1", register_number=number)
        req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
        pos.call(pos.shops.UpsertRegister, req)
    import_items(pos, item("LAMP", "Lampe", 3990))


def test_a_register_killed_before_importing_a_hand_over_imports_it_at_start(
    tmp_path: Path,
) -> None:
    k3_dir = tmp_path / "K3"
    k3_dir.mkdir()
    k1 = start_in_thread(
        tmp_path / "K1",
        {
            "register": {"id": "K1"},
            "store": {"peers": {"K3": f"unix:{k3_dir / 'posd.sock'}"}, "secret": SECRET},
        },
    )
    config = k3_dir / "posd-test.toml"
    config.write_text(
        TEST_CONFIG
        + f'\n[register]\nid = "K3"\ntimezone = "UTC"\n\n[store]\nsecret = "{SECRET}"\n'
        + f'\n[store.peers]\nK1 = "unix:{tmp_path / "K1" / "posd.sock"}"\n',
        encoding="utf-8",
    )
    k3 = DaemonProcess(k3_dir, config=config)
    try:
        k3.start()
        with k3.client() as pos:
            _registers(pos)
        with k1.client() as pos:
            _registers(pos)
            sid = pos.create_sale().sale_id
            pos.add_line(sid, item_id="LAMP")
            tse_started(k1, sid)
            code = call(pos, "ParkSale", sale_id=sid).sale.parking_code

        k3.restart(crashpoints="resume.after_transfer:1")
        with k3.client() as pos:
            pos.retries = 0
            with pytest.raises(PosdError) as lost:
                call(pos, "ResumeSale", code=code)
            assert lost.value.code == grpc.StatusCode.UNAVAILABLE  # the connection broke
        assert k3.wait_exit(10) != 0  # killed at the crash point
        with k1.client() as pos:  # K1 committed the hand-over to K3
            left = pos.get_sale(sid)
            assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")

        k3.start()
        with k3.client() as pos:
            deadline = time.monotonic() + 10
            sales: list[Any] = []
            while not sales and time.monotonic() < deadline:
                sales = list(pos.list_sales())
                time.sleep(0.1)
            assert [(s.sale_id, s.state, s.origin_register_id) for s in sales] == [
                (sid, sale_pb2.SALE_STATE_OPEN, "K1")
            ]
        k3.restart()  # imported once: a further start takes nothing over again
        with k3.client() as pos:
            time.sleep(0.5)
            assert [s.sale_id for s in pos.list_sales()] == [sid]
    finally:
        k3.close()
        k1.stop()
