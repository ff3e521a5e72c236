"""A local ResumeSale refused while the sale is being handed over to another register
says so (SALE_BEING_HANDED_OVER, naming that register), not "is being posted": the
cashier is told where the sale went, not that it was posted. Two real daemons on unix
sockets with real SQLite files, as in test_parking_handover_races_local_resume."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdError

from tests.conftest import Running
from tests.integration.api.test_parking_handover import call, start_store, tse_started


@pytest.fixture
def two_registers(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started = start_store(tmp_path, {"K1": 1, "K3": 3})
    try:
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_a_local_resume_during_a_hand_over_is_refused_as_handed_over_to_its_register(
    two_registers: dict[str, Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = two_registers
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    gateway: Any = store["K1"].daemon.gateway
    inside, go_on = threading.Event(), threading.Event()
    real_finish = gateway.finish_transfer

    async def finish_transfer(sale: Any) -> Any:
        inside.set()
        await asyncio.to_thread(go_on.wait, 15)  # the event loop goes on meanwhile
        return await real_finish(sale)

    monkeypatch.setattr(gateway, "finish_transfer", finish_transfer)
    results: dict[str, Any] = {}

    def resume_at(reg: str) -> None:
        try:
            with store[reg].client() as pos:
                pos.retries = 0
                results[reg] = call(pos, "ResumeSale", code=code).sale
        except PosdError as exc:
            results[reg] = exc

    remote = threading.Thread(target=resume_at, args=("K3",))
    remote.start()
    assert inside.wait(10)
    try:
        resume_at("K1")
    finally:
        go_on.set()
        remote.join(20)
    refused = results["K1"]
    assert isinstance(refused, PosdError)
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.reason == "SALE_BEING_HANDED_OVER"
    assert "handed over to register K3" in str(refused), str(refused)
    assert "posted" not in str(refused)
    assert refused.metadata.get("to_register_id") == "K3"
    assert not isinstance(results["K3"], PosdError), results["K3"]


def test_a_change_during_a_post_keeps_its_reason(running: Running) -> None:
    """Only the hand-over has a reason of its own: a post under way still refuses a
    change as SALE_BEING_POSTED."""
    sales: Any = running.daemon.gateway.sale_loader.__self__
    sales.start_finish("S-1", "post")
    try:
        with pytest.raises(Exception) as refused:
            sales.check_editable("S-1")
        assert getattr(refused.value, "reason", None) == "SALE_BEING_POSTED"
    finally:
        sales.end_finish("S-1")
    sales.check_editable("S-1")  # ended: nothing left behind
