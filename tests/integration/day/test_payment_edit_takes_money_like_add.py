"""UpdatePayment raising an amount takes more money, so it is held to what AddPayment
checks before money is taken: not at a daily exchange rate older than the register's
maximum age (EXCHANGE_RATE_TOO_OLD), not at a register that takes orders only
(REGISTER_ORDERS_ONLY). Lowering a payment (giving money back to the card) stays
possible, and an amount without a currency code is in the sale's currency, as in
AddPayment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, sale_pb2, shop_pb2

from tests.conftest import start_in_thread
from tests.integration.day.test_time_rules import CARD, dollar_sale_at_todays_rate


def edit(
    pos: PosdClient, sale_id: str, payment_id: str, minor: int, currency: str
) -> sale_pb2.Sale:
    req = sale_pb2.UpdatePaymentRequest(
        request_id=new_request_id(),
        sale_id=sale_id,
        payment_id=payment_id,
        amount=common_pb2.Money(amount_minor=minor, currency_code=currency),
    )
    return pos.call(pos.sales.UpdatePayment, req).sale


def amounts(pos: PosdClient, sale_id: str) -> list[int]:
    return [p.amount.amount_minor for p in pos.get_sale(sale_id).payments]


def test_a_card_payment_is_not_raised_at_a_stale_daily_rate(tmp_path: Path) -> None:
    with dollar_sale_at_todays_rate(tmp_path) as (pos, clock, sale_id):
        payment_id = pos.add_payment(sale_id, CARD, 500, currency="USD").payment_id
        clock.now += timedelta(days=1)  # the rate of yesterday is too old now
        with pytest.raises(PosdError) as err:
            edit(pos, sale_id, payment_id, 1080, "USD")
        assert err.value.reason == "EXCHANGE_RATE_TOO_OLD"
        assert amounts(pos, sale_id) == [500]  # nothing changed
        # less on the card is money given back, not taken: still possible
        assert [
            p.amount.amount_minor for p in edit(pos, sale_id, payment_id, 400, "USD").payments
        ] == [400]


def test_a_payment_is_not_raised_at_a_register_taking_orders_only(tmp_path: Path) -> None:
    running = start_in_thread(tmp_path / "state", {"register": {"id": "REG-1"}})
    try:
        with running.client() as pos:
            pos.upsert_item("SOFA", "Sofa", 9900)
            sale_id = pos.create_sale().sale_id
            pos.add_line(sale_id, item_id="SOFA")
            payment_id = pos.add_payment(sale_id, CARD, 5000).payment_id
            # the back office makes the register an order-taking one meanwhile
            register = shop_pb2.Register(
                register_id="REG-1", shop_id="SHOP-1", register_number=1, orders_only=True
            )
            pos.call(
                pos.shops.UpsertRegister,
                shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=register),
            )
            with pytest.raises(PosdError) as err:
                edit(pos, sale_id, payment_id, 9900, "EUR")
            assert err.value.reason == "REGISTER_ORDERS_ONLY"
            assert amounts(pos, sale_id) == [5000]
            assert [
                p.amount.amount_minor for p in edit(pos, sale_id, payment_id, 4000, "EUR").payments
            ] == [4000]
    finally:
        running.stop()


def test_an_amount_without_a_currency_code_is_in_the_sales_currency(tmp_path: Path) -> None:
    running = start_in_thread(tmp_path / "state", {})
    try:
        with running.client() as pos:
            pos.upsert_item("SOFA", "Sofa", 9900)
            sale_id = pos.create_sale().sale_id
            pos.add_line(sale_id, item_id="SOFA")
            payment_id = pos.add_payment(sale_id, CARD, 5000, currency="").payment_id
            sale = edit(pos, sale_id, payment_id, 6000, "")
            assert [(p.amount.amount_minor, p.amount.currency_code) for p in sale.payments] == [
                (6000, "EUR")
            ]
            with pytest.raises(PosdError) as err:  # another currency is still refused
                edit(pos, sale_id, payment_id, 7000, "USD")
            assert err.value.reason == "CURRENCY_MISMATCH"
    finally:
        running.stop()
