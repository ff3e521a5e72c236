"""Parking, resuming at another register and returns of handed-over sales, as a cashier
meets them when two registers want the same slip or a receipt's sale moved on: the
register that loses is told who has the sale, not that there is none. Real daemons on
unix sockets and real SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from posd.client import PosdError
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.domain.parking import parking_code_ean13
from posd_daemon.ops import crashpoints
from tests.conftest import Running
from tests.integration.api.test_parking_handover import call, start_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started = start_store(tmp_path, {"K1": 1, "K2": 2, "K3": 3})
    try:
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_a_slip_k3_is_taking_over_is_refused_at_k2_as_held_there_not_as_unknown(
    store: dict[str, Running],
) -> None:
    """K1 handed its parked sale over to K3, whose import has not committed (it is under
    way, or failed and completes at K3's next start or scan). The same slip scanned at K2
    meanwhile is followed from K1 to K3: K2 must learn that K3 holds the sale, not that
    there is "no parked sale with code …" (the cashier would think the slip void)."""
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP", quantity="2")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    crashpoints.arm_from_env("resume.after_transfer:1:raise")
    try:
        with store["K3"].client() as k3:
            k3.retries = 0
            with pytest.raises(PosdError):
                call(k3, "ResumeSale", code=code)
    finally:
        crashpoints.arm_from_env("")
    assert not crashpoints.armed()
    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")
    with store["K2"].client() as k2:
        with pytest.raises(PosdError) as err:
            call(k2, "ResumeSale", code=code)
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "TRANSFER_REFUSED",
        )
        assert err.value.metadata["peer_reason"] == "SALE_HELD"
        assert "no parked sale" not in err.value.message
        assert "taken over by register K3" in err.value.message
        assert list(k2.list_sales()) == []
    # nothing lost: scanned again at K3, the sale is imported there and can be paid
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
        assert (taken.sale_id, taken.state, taken.origin_register_id) == (
            sid, sale_pb2.SALE_STATE_OPEN, "K1"
        )  # fmt: skip
        call(k3, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
        assert call(k3, "PostSale", sale_id=sid).sale.total.amount_minor == 7980


def test_a_return_at_the_register_that_handed_the_sale_over_names_where_it_was_posted(
    store: dict[str, Running],
) -> None:
    """Parked at K1, taken over and posted at K3 (receipt 1 of K3). The customer brings a
    lamp back to K1, where the sale began (its id is on K1's journal): refused, as
    receipts are each register's own, but saying it was handed over to K3 and is
    returned there, not that the sale "is not a posted receipt" (it is: at K3). At K3 the
    return then takes back what was sold, never more."""
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP", quantity="2")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        call(k3, "ResumeSale", code=code)
        call(k3, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
        assert call(k3, "PostSale", sale_id=sid).sale.receipt_number == 1
    with store["K1"].client() as k1:
        back = k1.create_sale().sale_id
        with pytest.raises(PosdError) as err:
            call(k1, "AddReturnLine", sale_id=back, original_sale_id=sid, original_line_id="1")
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "NOT_RETURNABLE",
        )
        assert err.value.metadata["held_by"] == "K3"
        assert "not a posted receipt" not in err.value.message
        assert "handed over to register K3" in err.value.message
        assert list(k1.get_sale(back).lines) == []
        with pytest.raises(PosdError) as storno:
            call(k1, "ReverseReceipt", sale_id=sid, reason="Kunde")
        assert (storno.value.reason, storno.value.metadata["held_by"]) == ("SALE_NOT_POSTED", "K3")
        assert "handed over to register K3" in storno.value.message
    with store["K3"].client() as k3:
        back = k3.create_sale().sale_id
        call(k3, "AddReturnLine", sale_id=back, original_sale_id=sid, original_line_id="1",
             quantity="2")  # fmt: skip
        with pytest.raises(PosdError) as more:
            call(k3, "AddReturnLine", sale_id=back, original_sale_id=sid, original_line_id="1",
                 quantity="1")  # fmt: skip
        assert more.value.reason == "RETURN_EXCEEDS_SOLD"
        assert k3.get_sale(back).total.amount_minor == -7980


def test_an_own_slip_whose_sale_is_not_here_is_not_found_not_a_foreign_code(
    store: dict[str, Running],
) -> None:
    """A slip K1 printed whose sale K1 does not have (printed before its database was
    replaced): a linked K1 says there is no parked sale with that code (NOT_FOUND), as
    an unlinked register does, not that the slip is "not a parking code of this store";
    no other register is asked and nothing is left pending."""
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
        unknown = parking_code_ean13(code[:2], 1, int(code[4:12]) - 1000)
        with pytest.raises(PosdError) as err:
            call(k1, "ResumeSale", code=unknown)
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.NOT_FOUND,
            "PARKED_SALE_NOT_FOUND",
        )
        assert f"no parked sale with code {unknown!r}" in err.value.message
        assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED
    with sqlite3.connect(store["K1"].config.database_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM pending_imports").fetchone()[0] == 0
