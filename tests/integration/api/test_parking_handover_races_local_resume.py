"""A parked sale scanned at its own register while another register takes it over: the
local ResumeSale and the hand-over (TransferParkedSale) race. Whichever wins, the sale
ends in exactly one consistent state, and nothing stays locked. Real daemons on unix
sockets and real SQLite files; the local resume is held inside its transaction (after
its checks, before its commit) while the hand-over is asked, the ordering that lost a
sale to a lock until the next restart."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdError
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.integration.api.test_parking_handover import call, start_store, tse_started


@pytest.fixture
def two_registers(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started = start_store(tmp_path, {"K1": 1, "K3": 3})
    try:
        yield started
    finally:
        for running in started.values():
            running.stop()


def _resume_at(store: dict[str, Running], reg: str, code: str, results: dict[str, Any]) -> None:
    """ResumeSale of the slip ``code`` at register ``reg``: its sale, or its refusal."""
    try:
        with store[reg].client() as pos:
            pos.retries = 0
            results[reg] = call(pos, "ResumeSale", code=code).sale
    except PosdError as exc:
        results[reg] = exc


def test_a_local_resume_committing_while_the_sale_is_handed_over_leaves_no_lock(
    two_registers: dict[str, Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """K1 resumes its own parked sale; its transaction has passed its checks but not
    committed when K3 scans the slip and asks K1 for the sale. K1's resume commits first:
    K1 keeps the sale open and editable (it posts it, its TSE never ended the transaction
    as AVTransfer), and K3 is refused (the sale is held at K1) and takes nothing over."""
    store = two_registers
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    gateway: Any = store["K1"].daemon.gateway
    sales = gateway.sale_loader.__self__
    inside, go_on = threading.Event(), threading.Event()
    real_journal = sales.journal_sale

    def journal_sale(tx: Any, kind: str, sale: Any, payload: dict[str, Any]) -> None:
        real_journal(tx, kind, sale, payload)
        if kind == "SALE_RESUMED" and not inside.is_set():
            inside.set()  # K1's resume: checked and written, not committed
            assert go_on.wait(15)

    monkeypatch.setattr(sales, "journal_sale", journal_sale)
    results: dict[str, Any] = {}

    def resume_at(reg: str) -> None:
        _resume_at(store, reg, code, results)

    local = threading.Thread(target=resume_at, args=("K1",))
    local.start()
    assert inside.wait(10)
    remote = threading.Thread(target=resume_at, args=("K3",))
    remote.start()
    # K1 has taken the hand-over up (the sale is being finished) or refused it
    deadline = time.monotonic() + 3
    while sid not in sales.posting and "K3" not in results and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # its TSE has had its chance to end the transaction
    go_on.set()
    local.join(20)
    remote.join(20)

    k1_result, k3_result = results["K1"], results["K3"]
    assert not isinstance(k1_result, PosdError), k1_result
    assert k1_result.state == sale_pb2.SALE_STATE_OPEN
    assert isinstance(k3_result, PosdError)
    assert k3_result.reason == "TRANSFER_REFUSED"
    assert k3_result.metadata.get("peer_reason") == "SALE_HELD"
    with store["K3"].client() as k3:
        assert list(k3.list_sales()) == []
    with store["K1"].client() as k1:
        # not locked: K1 edits, is paid and posts the sale with its own TSE transaction
        k1.add_line(sid, item_id="SOFA")
        call(k1, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
        posted = call(k1, "PostSale", sale_id=sid).sale
        assert posted.state == sale_pb2.SALE_STATE_POSTED
        assert posted.tse.process_data.startswith("Beleg^")
        finishes, _ = tse_finishes(k1.export_tse())
    assert [f.process_data for f in finishes.values()] == [posted.tse.process_data]


def test_a_hand_over_under_way_refuses_the_local_resume_and_completes(
    two_registers: dict[str, Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other order: K1 has begun handing the sale over (its hand-over is checked,
    the TSE is ending the transaction) when K1's own slip scan comes. The local resume
    is refused (nothing changes at K1), K3 takes the sale over and K1 keeps it
    TRANSFERRED, unlocked for nothing."""
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
        _resume_at(store, reg, code, results)

    remote = threading.Thread(target=resume_at, args=("K3",))
    remote.start()
    assert inside.wait(10)
    resume_at("K1")
    go_on.set()
    remote.join(20)
    refused = results["K1"]
    assert isinstance(refused, PosdError)
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    # told where the sale went, not that it was posted
    assert refused.reason == "SALE_BEING_HANDED_OVER"
    assert "handed over to register K3" in str(refused), str(refused)
    assert "posted" not in str(refused)
    assert refused.metadata.get("to_register_id") == "K3"
    taken = results["K3"]
    assert not isinstance(taken, PosdError), taken
    assert (taken.state, taken.register_id) == (sale_pb2.SALE_STATE_OPEN, "K3")
    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")
        with pytest.raises(PosdError) as again:
            call(k1, "ResumeSale", code=code)
        assert again.value.reason == "SALE_TRANSFERRED"
