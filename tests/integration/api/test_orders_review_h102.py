"""LoadOrder of an order of a customer whose default currency is not the order's
(h102): the sale is in the order's currency, with the customer's discount and units."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, order_pb2, shop_pb2

from tests.conftest import Running
from tests.integration.api.test_orders import counts, line, order
from tests.support.fullsale import (
    customer,
    import_customers,
    import_items,
    item,
    money,
    update_shop,
)


def seed(pos: PosdClient) -> None:
    shirt = item("T1", "T-Shirt", 1999)
    shirt.variants.add(variant_id="M", name="Größe M")
    import_items(
        pos,
        item("KAE", "Käse", 1990, unit="kg", fractional_quantity=True),
        item("KAB", "Kabel", 250, unit="m", fractional_quantity=True),
        item("B1", "Brot", 349, vat=common_pb2.VAT_CATEGORY_REDUCED),
        shirt,
    )
    import_customers(
        pos, customer("K1", "Erika Muster"), customer("R10", "Rabatt", discount_percent="10")
    )


def test_a_euro_order_of_a_customer_paying_in_francs_by_default_loads_in_euros(
    running: Running, pos: PosdClient
) -> None:
    """The order says its currency: the sale is in it from the start. Taking the
    customer first moved the new sale to the customer's default currency (francs), so a
    register without a franc rate refused a euro order (EXCHANGE_RATE_NOT_AVAILABLE,
    naming neither the order nor a currency it is in)."""
    seed(pos)
    import_customers(pos, customer("CH1", "Urs Meier", default_currency_code="CHF"))
    pos.upsert_orders(
        order("S-1", line("B1", "2"), line("KAE", "0.5", price=1800), customer_number="CH1")
    )
    sale = pos.load_order("S-1")
    assert (sale.currency_code, sale.customer.customer_number) == ("EUR", "CH1")
    assert sale.total.amount_minor == 2 * 349 + 900
    assert pos.get_order("S-1").state == order_pb2.ORDER_STATE_LOADED

    # with a franc rate too: a franc order is in francs, a euro order in euros
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9412")])
    pos.upsert_orders(order("S-2", line("B1", "1"), customer_number="CH1"))
    assert pos.load_order("S-2").currency_code == "EUR"
    chf = order("S-3", line("KAE", "1"), customer_number="CH1")
    chf.currency_code = "CHF"
    chf.lines[0].unit_price.CopyFrom(money(2000, "CHF"))
    pos.upsert_orders(chf)
    sale = pos.load_order("S-3")
    assert (sale.currency_code, sale.total.amount_minor) == ("CHF", 2000)


def test_a_franc_order_without_a_franc_rate_is_refused_naming_the_order(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    import_customers(pos, customer("CH1", "Urs Meier", default_currency_code="CHF"))
    chf = order("S-9", line("B1", "1"), customer_number="CH1")
    chf.currency_code = "CHF"
    pos.upsert_orders(chf)
    before = counts(running)
    with pytest.raises(PosdError) as err:
        pos.load_order("S-9")
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "EXCHANGE_RATE_NOT_AVAILABLE",
    )
    assert err.value.metadata.get("order_number") == "S-9", err.value.metadata
    assert counts(running) == before
    assert pos.get_order("S-9").state == order_pb2.ORDER_STATE_OPEN
