"""The seed example of four registers of one store: two take orders only, two take
payment. A sale parked at an order register is resumed by scanning its slip at a payment
register (which takes it over: the order register's TSE transaction ends as AVTransfer),
paid and posted there; a second register trying the same slip is told who holds it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, sale_pb2, shop_pb2

from posd_daemon.ops import crashpoints
from tests.conftest import Running, start_in_thread
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.support.fullsale import import_items, item, update_shop

SECRET = "store-secret-4711"
REGISTERS = {"K1": (1, True), "K2": (2, True), "K3": (3, False), "K4": (4, False)}


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    if "request_id" in request_type.DESCRIPTOR.fields_by_name:
        fields["request_id"] = new_request_id()
    return pos.call(getattr(pos.sales, rpc), request_type(**fields))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[dict[str, Running]]:
    dirs = {reg: tmp_path / reg for reg in REGISTERS}
    started: dict[str, Running] = {}
    try:
        for reg, state in dirs.items():
            peers = {o: f"unix:{d / 'posd.sock'}" for o, d in dirs.items() if o != reg}
            started[reg] = start_in_thread(
                state, {"register": {"id": reg}, "store": {"peers": peers, "secret": SECRET}}
            )
        for running in started.values():
            with running.client() as pos:
                for reg, (number, orders_only) in REGISTERS.items():
                    r = shop_pb2.Register(
                        register_id=reg,
                        shop_id="SHOP-1",
                        register_number=number,
                        orders_only=orders_only,
                    )
                    req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
                    pos.call(pos.shops.UpsertRegister, req)
                import_items(pos, item("SOFA", "Sofa", 9900), item("LAMP", "Lampe", 3990))
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_four_registers_order_taking_and_paying(store: dict[str, Running]) -> None:
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="SOFA")
        k1.add_line(sid, item_id="LAMP", quantity="2")
        with pytest.raises(PosdError) as err:
            call(k1, "PostSale", sale_id=sid)
        assert err.value.reason == "REGISTER_ORDERS_ONLY"
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
        assert code.startswith("2901")  # prefix 29, register number 01
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
        assert (taken.state, taken.register_id, taken.origin_register_id) == (
            sale_pb2.SALE_STATE_OPEN, "K3", "K1"
        )  # fmt: skip
        assert [(ln.item_id, ln.quantity) for ln in taken.lines] == [("SOFA", "1"), ("LAMP", "2")]
        call(k3, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
        posted = call(k3, "PostSale", sale_id=sid).sale
        assert (posted.state, posted.receipt_number) == (sale_pb2.SALE_STATE_POSTED, 1)
        assert posted.tse.process_data == "Beleg^178.80_0.00_0.00_0.00_0.00^178.80:Unbar"
        assert posted.tse.client_id == "K3" and posted.tse.signature
    with store["K4"].client() as k4, pytest.raises(PosdError) as err:
        call(k4, "ResumeSale", code=code)
    assert err.value.reason == "TRANSFER_REFUSED"
    assert "K3" in err.value.message  # who holds it
    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")
    with sqlite3.connect(store["K1"].config.database_path) as conn:
        state, data = conn.execute(
            "SELECT state, process_data FROM sale_tse WHERE sale_id = ?", (sid,)
        ).fetchone()
    assert (state, data) == ("TRANSFERRED", "AVTransfer^178.80_0.00_0.00_0.00_0.00^")
    # the other order register and the other payment register work the same way
    with store["K2"].client() as k2:
        sid2 = k2.create_sale().sale_id
        k2.add_line(sid2, item_id="LAMP")
        code2 = call(k2, "ParkSale", sale_id=sid2).sale.parking_code
    with store["K4"].client() as k4:
        call(k4, "ResumeSale", code=code2)
        call(k4, "AddPayment", sale_id=sid2, method=common_pb2.PAYMENT_METHOD_CASH,
             amount=common_pb2.Money(amount_minor=5000, currency_code="EUR"))  # fmt: skip
        done = call(k4, "PostSale", sale_id=sid2).sale
        assert (done.receipt_number, done.change.amount_minor) == (1, 1010)


def test_slips_are_read_as_printed_and_bad_codes_are_refused_clearly(
    store: dict[str, Running],
) -> None:
    with store["K1"].client() as k1:
        update_shop(k1, parking_barcode=shop_pb2.PARKING_BARCODE_CODE128)
        codes = []
        for _ in range(2):
            sid = k1.create_sale().sale_id
            k1.add_line(sid, item_id="LAMP")
            codes.append(call(k1, "ParkSale", sale_id=sid).sale.parking_code)
        assert all(c.startswith("P01") for c in codes)
        # a keyboard-wedge scanner with caps lock sends "p": at the register that parked
        # the sale and at another one
        own = call(k1, "ResumeSale", code=codes[0].lower()).sale
        assert (own.state, own.register_id) == (sale_pb2.SALE_STATE_OPEN, "K1")
    with store["K2"].client() as k2:
        taken = call(k2, "ResumeSale", code=codes[1].lower()).sale
        assert (taken.state, taken.register_id, taken.origin_register_id) == (
            sale_pb2.SALE_STATE_OPEN, "K2", "K1"
        )  # fmt: skip
        for bad in ("P01 0000002", "P" * 70):
            with pytest.raises(PosdError) as err:
                call(k2, "ResumeSale", code=bad)
            assert (err.value.code, err.value.reason) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
            )
            assert [f for f, _ in err.value.field_violations] == ["code"]
        # an ordinary product EAN is not register 06's slip: the shop's prefix is 29
        with pytest.raises(PosdError) as err:
            call(k2, "ResumeSale", code="4006381333931")
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "PARKED_SALE_NOT_FOUND",
        )
    # nothing is looked up before login
    with store["K2"].client(operator="") as anonymous, pytest.raises(PosdError) as err:
        call(anonymous, "ResumeSale", code="P" * 70)
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    with store["K1"].client() as k1:
        assert k1.get_sale(taken.sale_id).held_by == "K2"


def test_linking_needs_the_store_secret(store: dict[str, Running]) -> None:
    from posd.v1 import register_link_pb2, register_link_pb2_grpc

    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
        stub = register_link_pb2_grpc.RegisterLinkServiceStub(k1.channel)
        req = register_link_pb2.TransferParkedSaleRequest(code=code, to_register_id="K9")
        with pytest.raises(PosdError) as err:
            k1.call(stub.TransferParkedSale, req)
        assert err.value.reason == "STORE_SECRET_INVALID"
        assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED  # nothing changed


def test_a_hand_over_the_tse_finished_but_could_not_save_is_taken_over_again(
    store: dict[str, Running],
) -> None:
    """K1's TSE finished the parked sale as AVTransfer, then writing the hand-over failed
    (injected disk I/O error): K1 keeps the sale parked but refuses to resume it itself;
    K3 asks again and takes it over, and the TSE transaction was finished once."""
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    crashpoints.arm_from_env("transfer.in_transaction:1:raise")
    try:
        with store["K3"].client() as k3:
            k3.retries = 0
            with pytest.raises(PosdError) as failed:
                call(k3, "ResumeSale", code=code)
    finally:
        crashpoints.arm_from_env("")
    assert (failed.value.code, failed.value.reason) == (
        grpc.StatusCode.UNAVAILABLE,
        "TRANSFER_UNAVAILABLE",
    )  # K3 passes K1's answer on: try again
    assert "saving the transfer failed" in failed.value.message
    assert "transfer it again" in failed.value.message
    with store["K1"].client() as k1:
        assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED
        with pytest.raises(PosdError) as refused:
            call(k1, "ResumeSale", code=code)
        assert refused.value.reason == "SALE_SIGNED_NOT_POSTED"
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
        assert (taken.state, taken.register_id) == (sale_pb2.SALE_STATE_OPEN, "K3")
    with store["K1"].client() as k1:
        assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_TRANSFERRED
        finishes, started = tse_finishes(k1.export_tse())
    assert len(started) == 1
    assert [f.process_data for f in finishes.values()] == ["AVTransfer^39.90_0.00_0.00_0.00_0.00^"]


def _restart(store: dict[str, Running], tmp_path: Path, reg: str) -> Running:
    """Stops ``reg`` and starts it again on its state directory (as the fixture did)."""
    store[reg].stop()
    peers = {o: f"unix:{tmp_path / o / 'posd.sock'}" for o in REGISTERS if o != reg}
    store[reg] = start_in_thread(
        tmp_path / reg, {"register": {"id": reg}, "store": {"peers": peers, "secret": SECRET}}
    )
    return store[reg]


def _tse_finishes_asked(running: Running) -> float:
    value = running.daemon.metrics.registry.get_sample_value(
        "posd_tse_operation_duration_seconds_count", {"operation": "finish"}
    )
    return value or 0.0


def test_a_hand_over_the_tse_finished_before_a_restart_is_only_taken_over(
    store: dict[str, Running], tmp_path: Path
) -> None:
    """K1's TSE finished the parked sale as AVTransfer, then the hand-over did not commit
    and K1 restarted (the lock in memory is gone). Start-up reconciliation finds the
    transaction finished and stores it so: K1 refuses to resume or post the sale itself,
    also after a further restart, and K3 takes it over (K1's TSE is not asked again) and
    posts it. K1 opened no outage and its transaction belongs to that one hand-over."""
    with store["K1"].client() as k1:
        # a payment register, so that only the lock can refuse K1's own post
        reg = shop_pb2.Register(
            register_id="K1", shop_id="SHOP-1", register_number=1, orders_only=False
        )
        req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=reg)
        k1.call(k1.shops.UpsertRegister, req)
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    crashpoints.arm_from_env("transfer.in_transaction:1:raise")
    try:
        with store["K3"].client() as k3:
            k3.retries = 0
            with pytest.raises(PosdError) as failed:
                call(k3, "ResumeSale", code=code)
    finally:
        crashpoints.arm_from_env("")
    assert failed.value.reason == "TRANSFER_UNAVAILABLE"
    for _ in range(2):  # the first start reconciles, the next reads the lock back
        restarted = _restart(store, tmp_path, "K1")
        with restarted.client() as k1:
            assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED
            for rpc, fields in (("ResumeSale", {"code": code}), ("ResumeSale", {"sale_id": sid}),
                                ("PostSale", {"sale_id": sid})):  # fmt: skip
                with pytest.raises(PosdError) as refused:
                    call(k1, rpc, **fields)
                assert (refused.value.code, refused.value.reason) == (
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "SALE_SIGNED_NOT_POSTED",
                ), rpc
                assert "handed to another register" in refused.value.message
            assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED
    with sqlite3.connect(store["K1"].config.database_path) as conn:
        row = conn.execute(
            "SELECT state, transaction_number, process_data, signature FROM sale_tse"
            " WHERE sale_id = ?",
            (sid,),
        ).fetchone()
    assert row[:1] + row[2:3] == ("TRANSFERRED", "AVTransfer^39.90_0.00_0.00_0.00_0.00^")
    assert row[3], "stored as the TSE signed it"
    number = row[1]
    asked = _tse_finishes_asked(store["K1"])
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
        assert (taken.state, taken.register_id, taken.origin_register_id) == (
            sale_pb2.SALE_STATE_OPEN, "K3", "K1"
        )  # fmt: skip
        call(k3, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
        posted = call(k3, "PostSale", sale_id=sid).sale
        assert (posted.state, posted.tse.client_id) == (sale_pb2.SALE_STATE_POSTED, "K3")
        assert posted.tse.process_data == "Beleg^39.90_0.00_0.00_0.00_0.00^39.90:Unbar"
        assert not posted.tse.outage_number
    assert _tse_finishes_asked(store["K1"]) == asked  # the hand-over took the stored row
    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
        assert (left.state, left.held_by, left.receipt_number) == (
            sale_pb2.SALE_STATE_TRANSFERRED, "K3", 0
        )  # fmt: skip
        assert list(k1.list_outages()) == []
        finishes, started = tse_finishes(k1.export_tse())
    assert started == {number}
    assert {n: f.process_data for n, f in finishes.items()} == {
        number: "AVTransfer^39.90_0.00_0.00_0.00_0.00^"
    }
    with sqlite3.connect(store["K1"].config.database_path) as conn:
        records = conn.execute(
            "SELECT kind, json_extract(payload, '$.tse') FROM journal"
            " WHERE json_extract(payload, '$.sale_id') = ?"
            " AND kind IN ('SALE_TRANSFERRED', 'SALE_POSTED', 'SALE_CANCELLED')",
            (sid,),
        ).fetchall()
        outages = conn.execute("SELECT COUNT(*) FROM tse_outages").fetchone()[0]
    assert records == [("SALE_TRANSFERRED", "AVTransfer^39.90_0.00_0.00_0.00_0.00^")]
    assert outages == 0


def test_a_slip_follows_its_sale_when_it_is_parked_again_at_another_register(
    store: dict[str, Running],
) -> None:
    """The customer keeps K1's printed slip while the sale moves on: taken over by K3 and
    parked there (more to fetch), taken over by K2 and parked again, then paid at K4.
    The slip's code names K1; K1 and K3 answer that they handed it over, and K4 follows
    that to the register holding it parked (K1 -> K3 -> K2)."""
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="SOFA")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        call(k3, "ResumeSale", code=code)
        k3.add_line(sid, item_id="LAMP")
        again = call(k3, "ParkSale", sale_id=sid).sale
        assert (again.state, again.parking_code) == (sale_pb2.SALE_STATE_PARKED, code)
    with store["K2"].client() as k2:
        taken = call(k2, "ResumeSale", code=code).sale
        assert (taken.state, taken.register_id, taken.origin_register_id) == (
            sale_pb2.SALE_STATE_OPEN, "K2", "K3"
        )  # fmt: skip
        k2.add_line(sid, item_id="LAMP")
        call(k2, "ParkSale", sale_id=sid)
    with store["K4"].client() as k4:
        taken = call(k4, "ResumeSale", code=code.lower()).sale  # as a wedge scanner sends
        assert (taken.register_id, taken.origin_register_id) == ("K4", "K2")
        assert [ln.item_id for ln in taken.lines] == ["SOFA", "LAMP", "LAMP"]
        call(k4, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
        posted = call(k4, "PostSale", sale_id=sid).sale
        assert (posted.state, posted.receipt_number) == (sale_pb2.SALE_STATE_POSTED, 1)
        assert posted.tse.process_data == "Beleg^178.80_0.00_0.00_0.00_0.00^178.80:Unbar"
    # each register on the way ended its own TSE transaction as AVTransfer
    for reg, holder, amount in (("K1", "K3", "99.00"), ("K3", "K2", "138.90")):
        with store[reg].client() as pos:
            left = pos.get_sale(sid)
            assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, holder)
        with sqlite3.connect(store[reg].config.database_path) as conn:
            row = conn.execute(
                "SELECT state, process_data FROM sale_tse WHERE sale_id = ?", (sid,)
            ).fetchone()
        assert row == ("TRANSFERRED", f"AVTransfer^{amount}_0.00_0.00_0.00_0.00^")
    # a register that handed the sale over cannot take it back: it says where it went
    with store["K3"].client() as k3, pytest.raises(PosdError) as err:
        call(k3, "ResumeSale", code=code)
    assert (err.value.reason, err.value.metadata["held_by"]) == ("SALE_TRANSFERRED", "K2")


def test_a_slip_whose_sale_is_open_elsewhere_is_refused_naming_that_register(
    store: dict[str, Running],
) -> None:
    """K1 handed the sale over to K3, where it is open (not parked): K4 is told that K3
    holds it, not only that K1 handed it over; nothing changes anywhere."""
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        call(k3, "ResumeSale", code=code)
    with store["K4"].client() as k4:
        with pytest.raises(PosdError) as err:
            call(k4, "ResumeSale", code=code)
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "TRANSFER_REFUSED",
        )
        assert err.value.metadata["register_id"] == "K3"
        assert err.value.metadata["peer_reason"] == "SALE_HELD"
        assert "being edited on register K3" in err.value.message
        with pytest.raises(PosdError):
            k4.get_sale(sid)
    with store["K3"].client() as k3:
        assert k3.get_sale(sid).state == sale_pb2.SALE_STATE_OPEN
