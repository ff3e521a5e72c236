"""Handing a parked sale over between linked registers when something goes wrong on the
way: the asking register gives up waiting, asks again, or gets an answer it cannot use.
Real daemons on unix sockets and real SQLite files (the registers' and their TSEs')."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, register_link_pb2, register_link_pb2_grpc, sale_pb2, shop_pb2

from posd_daemon.domain.parking import parking_code_ean13
from posd_daemon.ops.config import default_document
from posd_daemon.ops.pins import hash_pin
from tests.conftest import Running, start_in_thread
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.support.fullsale import import_items, item

SECRET = "store-secret-0815"


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    if "request_id" in request_type.DESCRIPTOR.fields_by_name:
        fields["request_id"] = new_request_id()
    return pos.call(getattr(pos.sales, rpc), request_type(**fields))


def refused_by_owner(pos: PosdClient, code: str, peer_reason: str) -> PosdError:
    """Scanning the slip ``code`` at ``pos`` is refused because the register holding the
    sale refused the hand-over for ``peer_reason``; the error, for more checks."""
    with pytest.raises(PosdError) as err:
        call(pos, "ResumeSale", code=code)
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "TRANSFER_REFUSED",
    )
    assert err.value.metadata["peer_reason"] == peer_reason
    return err.value


def start_store(
    tmp_path: Path, numbers: dict[str, int], extra: dict[str, dict[str, Any]] | None = None
) -> dict[str, Running]:
    """Linked registers (id -> register number), each knowing the others as peers."""
    dirs = {reg: tmp_path / reg for reg in numbers}
    started: dict[str, Running] = {}
    try:
        for reg, state in dirs.items():
            peers = {o: f"unix:{d / 'posd.sock'}" for o, d in dirs.items() if o != reg}
            doc: dict[str, Any] = {
                "register": {"id": reg},
                "store": {"peers": peers, "secret": SECRET},
            }
            doc.update((extra or {}).get(reg, {}))
            started[reg] = start_in_thread(state, doc)
        for running in started.values():
            with running.client() as pos:
                for reg, number in numbers.items():
                    r = shop_pb2.Register(register_id=reg, shop_id="SHOP-1", register_number=number)
                    req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
                    pos.call(pos.shops.UpsertRegister, req)
                import_items(pos, item("SOFA", "Sofa", 9900), item("LAMP", "Lampe", 3990))
    except BaseException:
        for running in started.values():
            running.stop()
        raise
    return started


def tse_started(running: Running, sale_id: str) -> None:
    """Waits until the sale's TSE transaction was started (in the background)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite3.connect(running.config.database_path) as conn:
            row = conn.execute(
                "SELECT transaction_number FROM sale_tse WHERE sale_id = ?", (sale_id,)
            ).fetchone()
        if row is not None and row[0] is not None:
            return
        time.sleep(0.05)
    raise AssertionError(f"the TSE transaction of {sale_id} was not started")


@pytest.fixture
def slow_tse_store(tmp_path: Path) -> Iterator[dict[str, Running]]:
    # K1's TSE may take long (a slow USB TSE, a cloud TSE on a bad line): longer than the
    # asking register waits for an answer
    started = start_store(tmp_path, {"K1": 1, "K3": 3}, {"K1": {"tse": {"timeout_ms": 20_000}}})
    try:
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_a_hand_over_the_asking_register_gave_up_on_completes_once(
    slow_tse_store: dict[str, Running], tmp_path: Path
) -> None:
    """K1's TSE takes longer to finish the hand-over than K3 waits (its deadline passes,
    gRPC cancels K1's handler): K3 says TRANSFER_UNAVAILABLE, try again. K1 must still
    complete what its TSE did (the transaction finished as AVTransfer): K1 itself can no
    longer resume the sale (it stayed PARKED and unlocked: K1 could resume and post a sale
    its TSE had handed over); asked again, K3 takes it over; K1 keeps it TRANSFERRED,
    opens no outage and its TSE finished the transaction exactly once."""
    store = slow_tse_store
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    # hold K1's TSE storage busy for longer than K3 waits (5 s), then let it go on
    tse_db = sqlite3.connect(
        tmp_path / "K1" / "tse" / "tse.sqlite3", isolation_level=None, check_same_thread=False
    )
    tse_db.execute("BEGIN IMMEDIATE")
    release = threading.Timer(6.5, lambda: tse_db.execute("ROLLBACK"))
    release.start()
    try:
        with store["K3"].client() as k3:
            k3.retries = 0
            with pytest.raises(PosdError) as gave_up:
                call(k3, "ResumeSale", code=code)
    finally:
        release.join()
        tse_db.close()
    assert (gave_up.value.code, gave_up.value.reason) == (
        grpc.StatusCode.UNAVAILABLE,
        "TRANSFER_UNAVAILABLE",
    )
    time.sleep(1.0)  # K1's TSE finishes now that its storage is free
    with store["K1"].client() as k1:
        # the TSE ended K1's transaction as a hand-over: K1 cannot resume (and post) it
        with pytest.raises(PosdError) as refused:
            call(k1, "ResumeSale", code=code)
        assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.reason in ("SALE_TRANSFERRED", "SALE_SIGNED_NOT_POSTED")
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
        assert (taken.state, taken.register_id, taken.origin_register_id) == (
            sale_pb2.SALE_STATE_OPEN, "K3", "K1"
        )  # fmt: skip
        call(k3, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
        assert call(k3, "PostSale", sale_id=sid).sale.state == sale_pb2.SALE_STATE_POSTED
    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")
        assert list(k1.list_outages()) == []
        finishes, _ = tse_finishes(k1.export_tse())
    assert [f.process_data for f in finishes.values()] == ["AVTransfer^39.90_0.00_0.00_0.00_0.00^"]
    with sqlite3.connect(store["K1"].config.database_path) as conn:
        rows = conn.execute(
            "SELECT state, process_data FROM sale_tse WHERE sale_id = ?", (sid,)
        ).fetchall()
    assert rows == [("TRANSFERRED", "AVTransfer^39.90_0.00_0.00_0.00_0.00^")]


class _GarbagePeer(register_link_pb2_grpc.RegisterLinkServiceServicer):
    """Another register of the store that answers a hand-over with something unusable
    (a broken or mismatched build): one answer per call, in turn."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def TransferParkedSale(
        self, request: register_link_pb2.TransferParkedSaleRequest, context: grpc.ServicerContext
    ) -> register_link_pb2.TransferParkedSaleResponse:
        self.asked.append((request.code, request.to_register_id))
        answer = self.answers[(len(self.asked) - 1) % len(self.answers)]
        return register_link_pb2.TransferParkedSaleResponse(sale_json=answer, from_register_id="K2")


GARBAGE = ["not json at all", "[1, 2]", "{}", '{"sale_id": 5, "lines": "x"}', "null"]


def test_a_peer_answering_garbage_is_a_clear_refusal_and_changes_nothing(tmp_path: Path) -> None:
    """K2 answers TransferParkedSale with something that is no sale: K3 refuses the slip
    with TRANSFER_ANSWER_INVALID naming K2 (it was INTERNAL, "see the daemon log"),
    takes nothing over and goes on working."""
    peer = _GarbagePeer(GARBAGE)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    register_link_pb2_grpc.add_RegisterLinkServiceServicer_to_server(peer, server)
    socket = tmp_path / "k2.sock"
    server.add_insecure_port(f"unix:{socket}")
    server.start()
    try:
        store = start_store(
            tmp_path,
            {"K3": 3},
            {"K3": {"store": {"peers": {"K2": f"unix:{socket}"}, "secret": SECRET}}},
        )
        try:
            with store["K3"].client() as k3:
                reg = shop_pb2.Register(register_id="K2", shop_id="SHOP-1", register_number=2)
                req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=reg)
                k3.call(k3.shops.UpsertRegister, req)
                code = parking_code_ean13("29", 2, 7)
                for garbage in GARBAGE:
                    with pytest.raises(PosdError) as err:
                        call(k3, "ResumeSale", code=code)
                    assert (err.value.code, err.value.reason) == (
                        grpc.StatusCode.FAILED_PRECONDITION,
                        "TRANSFER_ANSWER_INVALID",
                    ), garbage
                    assert err.value.metadata["register_id"] == "K2"
                    assert "K2" in err.value.message
                assert [c for c, _ in peer.asked] == [code] * len(GARBAGE)
                assert list(k3.list_sales()) == []  # nothing was taken over
                sid = k3.create_sale().sale_id  # and K3 goes on
                k3.add_line(sid, item_id="LAMP")
        finally:
            for running in store.values():
                running.stop()
    finally:
        server.stop(0)


def _with_stock_clerk() -> dict[str, Any]:
    """The default operators plus "5", a stock clerk: catalog only, no SALE."""
    doc = default_document()
    roles = dict(doc["roles"], stock=["CATALOG_EDIT"])
    ops = [*doc["operators"], {"id": "5", "name": "Lager", "role": "stock",
                               "pin_scrypt": hash_pin("5555")}]  # fmt: skip
    return {"roles": roles, "operators": ops}


def test_a_slip_scanned_by_an_operator_without_sale_permission_hands_nothing_over(
    tmp_path: Path,
) -> None:
    """An operator without SALE scans K1's slip at K3: refused (PERMISSION_DENIED), and
    nothing changes anywhere: K1 must not hand the sale over (nor end its TSE
    transaction as AVTransfer) for a resume K3 then refuses."""
    clerk = _with_stock_clerk()
    store = start_store(tmp_path, {"K1": 1, "K3": 3}, {"K1": clerk, "K3": clerk})
    try:
        with store["K1"].client() as k1:
            sid = k1.create_sale().sale_id
            k1.add_line(sid, item_id="LAMP")
            code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
        with store["K3"].client("5", "5555", open_shift=False) as k3:
            with pytest.raises(PosdError) as err:
                call(k3, "ResumeSale", code=code)
            assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
        with store["K1"].client() as k1:
            left = k1.get_sale(sid)
            assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_PARKED, "")
            finishes, _ = tse_finishes(k1.export_tse())
            assert finishes == {}
    finally:
        for running in store.values():
            running.stop()


@pytest.fixture
def two_registers(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started = start_store(tmp_path, {"K1": 1, "K3": 3})
    try:
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_a_hand_over_to_the_register_itself_is_refused_and_changes_nothing(
    two_registers: dict[str, Running],
) -> None:
    """A caller with the store secret asks K1 to hand its parked sale over to K1 (a peer
    configured with K1's register id): refused as INVALID_ARGUMENT; the sale stays
    parked and resumable at K1 and its TSE transaction is not ended (it was handed over
    to K1 itself: TRANSFERRED, held by K1, AVTransfer, and K1 could not resume it)."""
    with two_registers["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
        stub = register_link_pb2_grpc.RegisterLinkServiceStub(k1.channel)
        req = register_link_pb2.TransferParkedSaleRequest(code=code, to_register_id="K1")
        with pytest.raises(grpc.RpcError) as err:
            stub.TransferParkedSale(req, metadata=(("x-posd-store-secret", SECRET),), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_PARKED, "")
        finishes, _ = tse_finishes(k1.export_tse())
        assert finishes == {}
        assert call(k1, "ResumeSale", code=code).sale.state == sale_pb2.SALE_STATE_OPEN
