"""Review of variants, units of measure and customers: master data a cashier or an import
can set that makes the register charge or count the wrong thing.

* A customer's discount is taken off every line of every sale of that customer, by any
  cashier. Giving it is a price decision like the catalog's (ImportCustomers needs
  CATALOG_EDIT), not something an operator who may only sell (SALE, no DISCOUNT) can do
  from the till with CreateCustomer/UpdateCustomer -- else a cashier gives the walk-in
  customer 50 % and every later sale is half price.
* A serial number names one piece: a sale line with a serial number is one piece of
  stock (one serial leaves stock). A packaging unit of several pieces on a
  serial-numbered item sold "1 case of 6" with one serial number charged six pieces and
  took one from stock, so the catalog refuses such a unit.
"""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import catalog_pb2, customer_pb2, order_pb2

from tests.conftest import Running
from tests.support.fullsale import customer, import_customers, import_items, item, money

CASHIER = ("2", "0000")  # the demo cashier: SALE only


def stored(pos: PosdClient, number: str) -> customer_pb2.Customer:
    req = customer_pb2.GetCustomerRequest(customer_number=number)
    return pos.call(pos.customers.GetCustomer, req).customer


def update(pos: PosdClient, c: customer_pb2.Customer) -> customer_pb2.Customer:
    req = customer_pb2.UpdateCustomerRequest(request_id=new_request_id(), customer=c)
    return pos.call(pos.customers.UpdateCustomer, req).customer


def upsert(pos: PosdClient, msg: catalog_pb2.Item) -> catalog_pb2.UpsertItemResponse:
    req = catalog_pb2.UpsertItemRequest(request_id=new_request_id(), item=msg)
    return pos.call(pos.catalog.UpsertItem, req)


def test_a_cashier_cannot_give_a_customer_a_discount(running: Running, pos: PosdClient) -> None:
    pos.upsert_item("COFFEE", "Kaffee", 1000)
    pos.create_customer(customer("K1", "Erika Mustermann", city="Köln"))
    walk_in = stored(pos, "0")
    with running.client(*CASHIER) as cashier:
        with pytest.raises(PosdError) as err:
            cashier.create_customer(customer("K2", "Freund", discount_percent="100"))
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert err.value.metadata["permission"] == "CATALOG_EDIT"
        assert list(pos.search_customers("Freund")) == []
        for number, name in (("K1", "Erika Mustermann"), ("0", walk_in.name)):
            with pytest.raises(PosdError) as err:
                update(cashier, customer(number, name, discount_percent="50"))
            assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert stored(pos, number).discount_percent in ("", "0")
        # the walk-in customer's sales are still full price
        sid = cashier.create_sale().sale_id
        line = cashier.add_line(sid, item_id="COFFEE")
        assert cashier.get_sale(sid).lines[0].amount.amount_minor == 1000, line
        # what a cashier does at the till still works: a customer without a discount,
        # and an address change that leaves a customer's discount as it is
        made = cashier.create_customer(customer("", "Hans Bau", city="Bonn"))
        assert made.created
    update(pos, customer("K1", "Erika Mustermann", discount_percent="10"))  # a manager
    with running.client(*CASHIER) as cashier:
        moved = update(
            cashier, customer("K1", "Erika Mustermann", city="Bonn", discount_percent="10")
        )
        assert (moved.city, moved.discount_percent) == ("Bonn", "10")


@pytest.mark.parametrize(("factor", "fractional"), [("6", False), ("0.5", False), ("1", True)])
def test_a_serial_numbered_item_has_no_unit_of_other_than_one_piece(
    pos: PosdClient, factor: str, fractional: bool
) -> None:
    phone = item(
        "PHONE",
        "Telefon",
        19900,
        tracking=catalog_pb2.TRACKING_SERIAL,
        units=[
            catalog_pb2.ItemUnit(
                unit="case", quantity_per_unit=factor, fractional_quantity=fractional
            )
        ],
    )
    with pytest.raises(PosdError) as err:
        upsert(pos, phone)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.reason == "SERIAL_UNIT_NOT_ONE_PIECE"
    assert [f for f, _ in err.value.field_violations] == ["item.units[0].quantity_per_unit"]
    with pytest.raises(PosdError) as err:
        pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="PHONE"))
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    # another name for the piece is one piece
    del phone.units[:]
    phone.units.append(catalog_pb2.ItemUnit(unit="Stk", quantity_per_unit="1"))
    assert upsert(pos, phone).created


# -- a customer's recalculation (SetCustomer recalculate_lines) ------------------------------


def test_a_recalculation_gives_no_discount_on_an_agreed_order_price(pos: PosdClient) -> None:
    """Order W-1 agreed 3.00 per bread with K3, who has 10 % off: the line costs 6.00
    (test_orders). The back office then raises K3's discount to 15 %; the cashier scans
    K3's card again and, asked, recalculates the lines: the catalog-priced shirt takes
    15 %, the agreed price stays what was agreed -- not 2.55 per bread."""
    import_items(pos, item("B1", "Brot", 349), item("T1", "T-Shirt", 2000))
    import_customers(pos, customer("K3", "Stammkunde", discount_percent="10"))
    pos.upsert_orders(
        order_pb2.Order(
            order_number="W-1",
            customer_number="K3",
            currency_code="EUR",
            lines=[
                order_pb2.OrderLine(item_id="B1", quantity="2", unit_price=money(300)),
                order_pb2.OrderLine(item_id="T1", quantity="1"),
            ],
        )
    )
    sale = pos.load_order("W-1")
    assert [ln.amount.amount_minor for ln in sale.lines] == [600, 1800]
    import_customers(pos, customer("K3", "Stammkunde", discount_percent="15"))
    after = pos.set_customer(sale.sale_id, "K3", recalculate_lines=True)
    got = [(ln.discount_percent, ln.amount.amount_minor) for ln in after.lines]
    assert got == [("0", 600), ("15", 1700)]


def test_a_recalculation_never_prices_a_variant_at_the_base_items_price(
    pos: PosdClient,
) -> None:
    """A shirt in XL costs 25.00, the base item 20.00. While the sale is open the back
    office drops XL from the catalog (sold out for the season); a customer set with
    recalculation must leave the XL line at 25.00 (as a line of an item gone from the
    catalog, or of a unit gone, keeps its price), not sell it at the base 20.00."""
    shirt = item("T1", "T-Shirt", 2000)
    shirt.variants.add(variant_id="M", name="M")
    shirt.variants.add(variant_id="XL", name="XL").price.CopyFrom(money(2500))
    import_items(pos, shirt)
    import_customers(pos, customer("K1", "Erika Muster"))
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="T1", variant_id="XL")
    del shirt.variants[1]
    import_items(pos, shirt)
    after = pos.set_customer(sid, "K1", recalculate_lines=True)
    assert [ln.amount.amount_minor for ln in after.lines] == [2500]
