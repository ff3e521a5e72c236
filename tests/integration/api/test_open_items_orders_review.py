"""Paying open invoices and loading back-office orders at their edges: an invoice in the
sale's currency whose customer defaults to another one, and an order line the catalog
cannot sell as ordered. Through the gRPC API of the in-process daemon on real SQLite."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import order_pb2, sale_pb2, shop_pb2

from tests.conftest import Running
from tests.integration.api.test_open_items import (
    CASH,
    OPEN,
    PAID,
    cash_post,
    get_item,
    import_open_items,
    open_item,
    pay_invoice,
    post_record,
    seed,
)
from tests.integration.api.test_open_items_settlement_defects import upsert
from tests.integration.api.test_orders import counts, line, order, shop_data  # noqa: F401
from tests.support.fullsale import customer, import_customers, post_not_saved, update_shop


def reverse(pos: PosdClient, sale_id: str) -> sale_pb2.Sale:
    req = sale_pb2.ReverseReceiptRequest(
        request_id=new_request_id(), sale_id=sale_id, reason="Irrtum"
    )
    return pos.call(pos.sales.ReverseReceipt, req).reversal


def set_currency(pos: PosdClient, sale_id: str, currency: str) -> sale_pb2.Sale:
    req = sale_pb2.SetCurrencyRequest(
        request_id=new_request_id(), sale_id=sale_id, currency_code=currency
    )
    return pos.call(pos.sales.SetCurrency, req).sale


def test_an_invoice_is_paid_in_its_currency_whatever_its_customers_default_currency(
    pos: PosdClient,
) -> None:
    """A Swiss customer (paying in CHF by default) pays a euro invoice at a euro sale;
    a customer paying in euros pays a franc invoice at a sale the cashier set to CHF.
    Taking the invoice's customer must not move the sale out of the invoice's currency
    (it was refused naming a currency the sale did not have)."""
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9412")])
    import_customers(pos, customer("CH1", "Urs Meier", default_currency_code="CHF"))
    import_open_items(pos, open_item("R-CH", "CH1", 5000))

    sid = pos.create_sale().sale_id
    sale = pay_invoice(pos, sid, "R-CH").sale
    assert (sale.currency_code, sale.customer.customer_number) == ("EUR", "CH1")
    assert sale.total.amount_minor == 5000
    cash_post(pos, sid, 5000)
    assert get_item(pos, "R-CH").state == PAID

    # K1 pays in euros by default; its invoice R-CHF is in francs
    sid = pos.create_sale().sale_id
    set_currency(pos, sid, "CHF")
    sale = pay_invoice(pos, sid, "R-CHF", 1000, "CHF").sale
    assert (sale.currency_code, sale.customer.customer_number) == ("CHF", "K1")
    assert (sale.total.amount_minor, sale.total.currency_code) == (1000, "CHF")
    pos.add_payment(sid, CASH, 1000, currency="CHF")
    assert pos.post_sale(sid).state == sale_pb2.SALE_STATE_POSTED
    assert get_item(pos, "R-CHF").amount_open.amount_minor == 2000
    reverse(pos, sid)
    after = get_item(pos, "R-CHF")
    assert (after.amount_open.amount_minor, after.state) == (3000, OPEN)

    # a sale in another currency than the invoice's is still refused, naming its own
    sid = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pay_invoice(pos, sid, "R-CHF")
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CURRENCY_MISMATCH",
    )
    assert "the sale in EUR" in err.value.message
    unchanged = pos.get_sale(sid)
    assert (unchanged.currency_code, unchanged.customer.anonymous, len(unchanged.lines)) == (
        "EUR",
        True,
        0,
    )


def test_an_order_line_the_catalog_cannot_sell_is_refused_naming_the_order_line(
    running: Running,
    pos: PosdClient,
    shop_data: None,  # noqa: F811
) -> None:
    """A fractional quantity of an item sold in whole pieces passes the order import
    (the unit is the catalog's) but not the load. LoadOrder carries only an order
    number: the refusal must say which order line is wrong, not blame a "quantity"
    field the request does not have, and nothing changes."""
    pos.upsert_orders(order("Q-1", line("T1", "1", variant_id="M"), line("B1", "1.5")))
    before = counts(running)
    with pytest.raises(PosdError) as err:
        pos.load_order("Q-1")
    e = err.value
    assert e.code == grpc.StatusCode.FAILED_PRECONDITION
    assert e.reason == "FRACTIONAL_QUANTITY_NOT_ALLOWED"
    assert "order Q-1 line 2" in e.message and "B1" in e.message
    assert e.field_violations == []
    assert (e.metadata["order_number"], e.metadata["line"], e.metadata["item_id"]) == (
        "Q-1",
        "2",
        "B1",
    )
    assert counts(running) == before
    assert pos.get_order("Q-1").state == order_pb2.ORDER_STATE_OPEN

    # corrected by the back office, it loads
    pos.upsert_orders(order("Q-1", line("T1", "1", variant_id="M"), line("B1", "2")))
    sale = pos.load_order("Q-1")
    assert [(ln.item_id, ln.quantity) for ln in sale.lines] == [("T1", "1"), ("B1", "2")]


def test_a_storno_of_an_overpaid_receipt_gives_back_only_what_it_took(
    running: Running, pos: PosdClient
) -> None:
    """The TSE signed a payment of 15.00 on R-200, saving it failed; the back office
    then reported 10.00 open. The completed post took those 10.00 (5.00 overpaid). Its
    storno must make the invoice open by 10.00 again, as before the receipt, not 15.00:
    the customer would be asked for 5.00 the invoice never owed."""
    seed(pos)
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-200", 1500)
    pos.add_payment(sid, CASH, 1500)
    pos.retries = 0
    post_not_saved(lambda: pos.post_sale(sid))
    upsert(pos, open_item("R-200", "K1", 1000, 5000))
    posted = pos.post_sale(sid)
    assert any(w.startswith("INVOICE_OVERPAID") for w in posted.warnings)
    assert get_item(pos, "R-200").amount_open.amount_minor == 0

    storno = reverse(pos, sid)
    after = get_item(pos, "R-200")
    assert (after.amount_open.amount_minor, after.state) == (1000, OPEN)
    payload = post_record(running, storno.receipt_number)
    assert payload["invoice_payments"] == [
        {
            "invoice_number": "R-200",
            "amount": -1500,
            "currency": "EUR",
            "amount_open_after": 1000,
            "overpaid_not_restored": 500,
        }
    ]

    # a storno of a receipt that was not overpaid gives back all it took, as before
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-200", 400)
    cash_post(pos, sid, 400)
    assert get_item(pos, "R-200").amount_open.amount_minor == 600
    reverse(pos, sid)
    assert get_item(pos, "R-200").amount_open.amount_minor == 1000
