"""Named permissions where a role without them could still reach the money: the cash
drawer through a device test, and the expected cash of the open shift (a blind count)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdError
from posd.v1 import closing_pb2, common_pb2, customer_pb2, device_pb2, order_pb2, sale_pb2

from posd_daemon.ops.pins import hash_pin
from tests.conftest import Running, start_in_thread
from tests.integration.api.test_devices_api import sim_core

MANAGER = [
    "SALE",
    "CATALOG_EDIT",
    "PRICE_OVERRIDE",
    "DISCOUNT",
    "STORNO",
    "DRAWER_OPEN_NO_SALE",
    "CLOSING",
    "EXPORT",
    "DEVICE_TEST",
    "OPERATOR_MANAGE",
]


@pytest.fixture
def staffed(tmp_path: Path) -> Iterator[Running]:
    """The demo manager "1" (1234) and cashier "2" (0000), and a field technician "7"
    (5555) whose role has DEVICE_TEST only."""
    r = start_in_thread(
        tmp_path / "state",
        {
            "roles": {"cashier": ["SALE"], "manager": MANAGER, "technician": ["DEVICE_TEST"]},
            "operators": [
                {"id": "1", "name": "M", "role": "manager", "pin_scrypt": hash_pin("1234")},
                {"id": "2", "name": "K", "role": "cashier", "pin_scrypt": hash_pin("0000")},
                {"id": "7", "name": "T", "role": "technician", "pin_scrypt": hash_pin("5555")},
            ],
        },
    )
    try:
        yield r
    finally:
        r.stop()


def drawer_kicks(running: Running) -> int:
    return int(sim_core(running).drawer_kicks)  # type: ignore[attr-defined]


def journal_kinds(running: Running) -> list[tuple[str, str]]:
    with sqlite3.connect(running.config.database_path) as conn:
        rows = conn.execute("SELECT kind, payload FROM journal ORDER BY rowid").fetchall()
    return [(str(k), str(p)) for k, p in rows]


@pytest.mark.parametrize(
    "level", [device_pb2.HEALTH_LEVEL_EXTERNAL, device_pb2.HEALTH_LEVEL_INTERACTIVE]
)
def test_a_drawer_test_needs_the_no_sale_permission_and_is_journaled(
    staffed: Running, level: int
) -> None:
    """A drawer's external or interactive health check kicks it open: that is a no-sale
    open, so it takes DRAWER_OPEN_NO_SALE (not only DEVICE_TEST) and leaves its journal
    record like OpenDrawer. A technician's printer test still works."""
    with staffed.client("7", "5555", open_shift=False) as tech:
        with pytest.raises(PosdError) as err:
            tech.check_health("drawer", level)
        assert err.value.code.name == "PERMISSION_DENIED"
        assert err.value.metadata["permission"] == "DRAWER_OPEN_NO_SALE"
        assert tech.check_health("drawer").status == device_pb2.HEALTH_STATUS_OK  # the sensor
        assert tech.print_test_page().status == device_pb2.HEALTH_STATUS_OK
    assert drawer_kicks(staffed) == 0
    assert not [k for k, _ in journal_kinds(staffed) if k == "DRAWER_OPENED_NO_SALE"]

    with staffed.client("1", "1234", open_shift=False) as manager:
        check = manager.check_health("drawer", level)
        assert check.status in (
            device_pb2.HEALTH_STATUS_OK,
            device_pb2.HEALTH_STATUS_PENDING_CONFIRMATION,
        )
    assert drawer_kicks(staffed) == 1
    opens = [p for k, p in journal_kinds(staffed) if k == "DRAWER_OPENED_NO_SALE"]
    assert len(opens) == 1
    record = json.loads(opens[0])
    assert record["operator_id"] == "1"
    assert record["reason"].startswith("health check")


def test_a_cashier_does_not_see_the_expected_cash_of_the_open_shift(staffed: Running) -> None:
    """The X report's expected cash needs CLOSING; GetShift must not hand it to a cashier
    who is about to count the drawer (a blind count is what makes a shortage visible)."""
    with staffed.client("2", "0000") as cashier:
        deposit = closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT
        with staffed.client("1", "1234") as manager:
            manager.add_cash_movement(deposit, 5000, "Wechselgeld")
            expected = manager.get_shift().expected_cash
            assert [(m.amount_minor, m.currency_code) for m in expected] == [(5000, "EUR")]
        with pytest.raises(PosdError) as err:
            cashier.call(cashier.closing.GetXReport, closing_pb2.GetXReportRequest())
        assert err.value.reason == "PERMISSION_DENIED"
        shift = cashier.get_shift()
        assert shift.state == closing_pb2.SHIFT_STATE_OPEN
        assert len(shift.expected_cash) == 0
        # the count itself is the cashier's: closing books the difference as before
        closed = cashier.close_shift([closing_pb2.CashCount(currency_code="EUR", total_minor=4000)])
        assert closed.state == closing_pb2.SHIFT_STATE_CLOSED
        assert closed.balances[0].difference == common_pb2.Money(
            amount_minor=-1000, currency_code="EUR"
        )


def test_past_z_closings_are_read_by_who_may_close_and_receipts_by_who_may_sell(
    staffed: Running,
) -> None:
    """A Z closing is the day's totals by cashier and payment, like the X report: only
    an operator with CLOSING reads it back. Receipts are looked up for returns and
    reprints: SALE. A role without either (the technician) reads neither."""
    with staffed.client("1", "1234") as manager:
        manager.ensure_shift()
        manager.upsert_item("A", "Apfel", 100)
        sale_id = manager.create_sale().sale_id
        manager.add_line(sale_id, item_id="A")
        manager.add_payment(sale_id, common_pb2.PAYMENT_METHOD_CASH, 100)
        number = manager.post_sale(sale_id).receipt_number
        manager.close_shift([closing_pb2.CashCount(currency_code="EUR", total_minor=100)])
        closing = manager.z_closing()
        assert manager.get_closing(closing.z_nr).z_nr == closing.z_nr
        assert [c.z_nr for c in manager.list_closings()] == [closing.z_nr]
    with staffed.client("2", "0000", open_shift=False) as cashier:
        for read in (
            lambda: cashier.get_closing(closing.z_nr),
            lambda: list(cashier.list_closings()),
        ):
            with pytest.raises(PosdError) as err:
                read()
            assert err.value.reason == "PERMISSION_DENIED"
            assert err.value.metadata["permission"] == "CLOSING"
        assert [r.receipt_number for r in cashier.list_receipts().receipts] == [number]
        assert cashier.get_receipt(receipt_number=number).sale.sale_id == sale_id
    with staffed.client("7", "5555", open_shift=False) as technician:
        with pytest.raises(PosdError) as err:
            technician.list_receipts()
        assert err.value.metadata["permission"] == "SALE"
        with pytest.raises(PosdError) as err:
            technician.get_receipt(receipt_number=1)
        assert err.value.metadata["permission"] == "SALE"


def test_a_refused_withdrawal_names_the_expected_cash_only_to_who_may_close(
    tmp_path: Path,
) -> None:
    """An operator who may open the drawer (DRAWER_OPEN_NO_SALE) but not read the X
    report (CLOSING) is refused a withdrawal beyond the drawer's cash without learning
    the expected cash: the blind count stays blind."""
    r = start_in_thread(
        tmp_path / "state",
        {
            "roles": {"manager": MANAGER, "head_cashier": ["SALE", "DRAWER_OPEN_NO_SALE"]},
            "operators": [
                {"id": "1", "name": "M", "role": "manager", "pin_scrypt": hash_pin("1234")},
                {"id": "3", "name": "H", "role": "head_cashier", "pin_scrypt": hash_pin("3333")},
            ],
        },
    )
    withdrawal = closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL
    try:
        with r.client("1", "1234") as manager:
            manager.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 5000, "Wechselgeld")
            with pytest.raises(PosdError) as told:
                manager.add_cash_movement(withdrawal, 9000, "Bank")
            assert told.value.reason == "CASH_INSUFFICIENT"
            assert told.value.metadata["expected_minor"] == "5000"
        with r.client("3", "3333") as head:
            with pytest.raises(PosdError) as blind:
                head.add_cash_movement(withdrawal, 9000, "Bank")
            assert blind.value.reason == "CASH_INSUFFICIENT"
            assert "expected_minor" not in blind.value.metadata
            assert "50,00" not in blind.value.message and "50.00" not in blind.value.message
    finally:
        r.stop()


def test_sales_and_customers_are_read_with_sale_only(staffed: Running) -> None:
    """Posted receipts (lines, payments) and customers' personal data (their invoices and
    orders too) are read with SALE: the technician, refused ListReceipts, read the same
    receipts through ListSales and GetSale, the customers through SearchCustomers and
    GetCustomer, their open invoices and orders through the List/Get calls."""
    with staffed.client("2", "0000") as cashier:
        sid = cashier.create_sale().sale_id
        assert cashier.get_sale(sid).sale_id == sid
        assert cashier.call(cashier.sales.ListSales, sale_pb2.ListSalesRequest()).sales
    with staffed.client("7", "5555", open_shift=False) as tech:
        calls = [
            (tech.sales.GetSale, sale_pb2.GetSaleRequest(sale_id=sid)),
            (tech.sales.ListSales, sale_pb2.ListSalesRequest()),
            (tech.customers.SearchCustomers, customer_pb2.SearchCustomersRequest(query="Erika")),
            (tech.customers.GetCustomer, customer_pb2.GetCustomerRequest(customer_number="K-1")),
            (tech.customers.ListOpenItems, customer_pb2.ListOpenItemsRequest()),
            (tech.customers.GetOpenItem, customer_pb2.GetOpenItemRequest(invoice_number="R-1")),
            (tech.orders.ListOrders, order_pb2.ListOrdersRequest()),
            (tech.orders.GetOrder, order_pb2.GetOrderRequest(order_number="A-1")),
        ]
        for rpc, request in calls:
            with pytest.raises(PosdError) as err:
                tech.call(rpc, request)
            assert err.value.code.name == "PERMISSION_DENIED", (rpc, err.value)
