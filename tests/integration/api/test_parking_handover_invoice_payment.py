"""A parked sale that pays an open invoice, its slip scanned at another register.

Open items are a register's own ledger (each register gets the back office's import;
there is no channel back from the register that would post the sale to the one that
parked it): handed over, the payment would be posted against the other register's
ledger while the parking register, no longer holding it, would take the same invoice
again, or be refused there (the invoice unknown) after the parking register's TSE had
already ended the transaction. So the hand-over is refused before the TSE is asked,
naming the invoice; the sale stays parked and payable where it was parked. Real daemons
on unix sockets and real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import new_request_id
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.integration.api.test_open_items import (
    get_item,
    import_open_items,
    open_item,
    pay_invoice,
)
from tests.integration.api.test_parking_handover import (
    call,
    refused_by_owner,
    start_store,
    tse_started,
)
from tests.support.fullsale import customer, import_customers


@pytest.fixture
def two_registers(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started = start_store(tmp_path, {"K1": 1, "K3": 3})
    try:
        for running in started.values():  # the back office sends both the same ledger
            with running.client() as pos:
                import_customers(pos, customer("C1", "Erika Muster"))
                import_open_items(pos, open_item("R-100", "C1", 10000))
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_a_sale_paying_an_open_invoice_is_not_handed_over_and_stays_payable_where_parked(
    two_registers: dict[str, Running],
) -> None:
    store = two_registers
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        pay_invoice(k1, sid, "R-100", 6000)
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    with store["K3"].client() as k3:
        err = refused_by_owner(k3, code, "OPEN_ITEMS_NOT_TRANSFERABLE")
        assert "R-100" in err.message
        assert list(k3.list_sales()) == []  # nothing taken over
        assert get_item(k3, "R-100").amount_open.amount_minor == 10000

    with store["K1"].client() as k1:  # nothing was handed over: K1 still holds the invoice
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_PARKED, "")
        assert get_item(k1, "R-100").amount_held.amount_minor == 6000
        finishes, _ = tse_finishes(k1.export_tse())
        assert finishes == {}
        # and it is paid once, where it was parked
        resume = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
        k1.call(k1.sales.ResumeSale, resume)
        k1.add_payment(sid, common_pb2.PAYMENT_METHOD_CARD, 6000 + 3990)
        assert k1.post_sale(sid).state == sale_pb2.SALE_STATE_POSTED
        assert get_item(k1, "R-100").amount_open.amount_minor == 4000


def test_without_the_invoice_payment_the_sale_is_handed_over(
    two_registers: dict[str, Running],
) -> None:
    """The refusal names what to do: remove the line at the parking register, or pay the
    invoice there; a sale without it goes over as any other."""
    store = two_registers
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        line_id = pay_invoice(k1, sid, "R-100", 6000).line_id
        call(k1, "RemoveLine", sale_id=sid, line_id=line_id)
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        resume = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
        taken = k3.call(k3.sales.ResumeSale, resume).sale
        assert taken.sale_id == sid
        k3.add_payment(sid, common_pb2.PAYMENT_METHOD_CARD, 3990)
        assert k3.post_sale(sid).state == sale_pb2.SALE_STATE_POSTED
