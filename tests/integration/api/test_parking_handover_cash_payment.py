"""A parked sale holding a cash payment, its slip scanned at another register.

The cashier took that cash into the parking register's drawer, but drawer entries are
written where the sale is posted: handed over and posted at the other register, that
register's drawer expected cash that lies in the first one (a shortage there, a surplus
here at the counts). So the register holding the cash refuses the hand-over before its
TSE is asked, saying what to do: post it there, or give the cash back (remove the
payment) and park it again. A card payment is in no drawer and goes over with the sale.
Two real daemons on unix sockets with real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.integration.api.test_parking_handover import (
    call,
    refused_by_owner,
    start_store,
    tse_started,
)

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


@pytest.fixture
def two_registers(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started = start_store(tmp_path, {"K1": 1, "K3": 3})
    try:
        yield started
    finally:
        for running in started.values():
            running.stop()


def expected_cash(pos: PosdClient) -> int:
    """The open shift's expected cash in EUR (the register's drawer book)."""
    return sum(m.amount_minor for m in pos.get_shift().expected_cash if m.currency_code == "EUR")


def test_a_sale_holding_cash_stays_at_the_register_that_has_the_cash(
    two_registers: dict[str, Running],
) -> None:
    store = two_registers
    with store["K1"].client() as k1:
        k1_cash = expected_cash(k1)
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        payment_id = k1.add_payment(sid, CASH, 2000).payment_id
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    with store["K3"].client() as k3:
        k3_cash = expected_cash(k3)
        err = refused_by_owner(k3, code, "CASH_NOT_TRANSFERABLE")
        assert "20.00 EUR" in err.message and "K1" in err.message
        assert "remove its cash payment" in err.message
        assert list(k3.list_sales()) == []  # nothing taken over
        assert expected_cash(k3) == k3_cash

    with store["K1"].client() as k1:  # nothing was handed over: K1 still holds it
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_PARKED, "")
        finishes, _ = tse_finishes(k1.export_tse())
        assert finishes == {}
        # the cashier gives the cash back and parks the sale again: now it may go over
        call(k1, "ResumeSale", code=code)
        k1.remove_payment(sid, payment_id)
        call(k1, "ParkSale", sale_id=sid)

    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
        assert taken.sale_id == sid
        k3.add_payment(sid, CASH, 3990)
        assert k3.post_sale(sid).state == sale_pb2.SALE_STATE_POSTED
        assert expected_cash(k3) == k3_cash + 3990  # the cash K3 took, in K3's drawer
    with store["K1"].client() as k1:
        assert expected_cash(k1) == k1_cash


def test_posted_where_parked_the_cash_is_in_that_registers_drawer(
    two_registers: dict[str, Running],
) -> None:
    store = two_registers
    with store["K1"].client() as k1:
        k1_cash = expected_cash(k1)
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        k1.add_payment(sid, CASH, 2000)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        refused_by_owner(k3, code, "CASH_NOT_TRANSFERABLE")
    with store["K1"].client() as k1:
        call(k1, "ResumeSale", code=code)
        k1.add_payment(sid, CASH, 1990)
        assert k1.post_sale(sid).state == sale_pb2.SALE_STATE_POSTED
        assert expected_cash(k1) == k1_cash + 3990


def test_a_card_payment_goes_over_with_the_sale(two_registers: dict[str, Running]) -> None:
    store = two_registers
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        k1.add_payment(sid, CARD, 2000)
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        k3_cash = expected_cash(k3)
        taken = call(k3, "ResumeSale", code=code).sale
        assert [p.amount.amount_minor for p in taken.payments] == [2000]
        k3.add_payment(sid, CASH, 1990)
        assert k3.post_sale(sid).state == sale_pb2.SALE_STATE_POSTED
        assert expected_cash(k3) == k3_cash + 1990
