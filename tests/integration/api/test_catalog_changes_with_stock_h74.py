"""Catalog changes while stock and sales exist: a re-import that changes an item's
tracking (none, lots, serial numbers) or removes a variant while stock is booked under
what it drops is refused, naming that stock (it became unreachable: sales took from
keys the catalog no longer used and drove them negative). A line of an open sale that
no longer fits its item (no serial number on a now serial-numbered item, a lot of an
item no longer lot-tracked, a variant since removed) is refused at the post, naming
the line, so that the cashier replaces it."""

from __future__ import annotations

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, common_pb2

from tests.conftest import Running
from tests.support.fullsale import import_items, import_stock, item, new_request_id

CASH = common_pb2.PAYMENT_METHOD_CASH


def rejections(pos: PosdClient, *items: catalog_pb2.Item) -> list[tuple[str, str, str]]:
    req = catalog_pb2.ImportItemsRequest(request_id=new_request_id(), items=list(items))
    summary: common_pb2.ImportSummary = pos.call(pos.catalog.ImportItems, req).summary
    return [(r.field, r.reason, r.message) for r in summary.rejections]


def levels(pos: PosdClient, item_id: str) -> list[tuple[str, str, str]]:
    req = catalog_pb2.GetStockRequest(item_id=item_id)
    return [
        (lv.variant_id, lv.lot_number, lv.on_hand)
        for lv in pos.call(pos.catalog.GetStock, req).levels
    ]


def pay_and_post(pos: PosdClient, sale_id: str) -> None:
    total = pos.get_sale(sale_id).total.amount_minor
    pos.add_payment(sale_id, CASH, total)
    pos.post_sale(sale_id)


LOT = catalog_pb2.TRACKING_LOT
SERIAL = catalog_pb2.TRACKING_SERIAL


def test_a_tracking_change_is_refused_while_stock_is_under_the_old_tracking(
    running: Running, pos: PosdClient
) -> None:
    import_items(
        pos,
        item("NUTS", "Nüsse", 300),
        item("MILK", "Milch", 119, tracking=LOT),
        item("PHONE", "Telefon", 19900, tracking=SERIAL),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="NUTS", quantity="5"),
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L1", quantity="4"),
        catalog_pb2.StockEntry(item_id="PHONE", serial_number="SN-1", quantity="1"),
    )
    refused = rejections(
        pos,
        item("NUTS", "Nüsse", 300, tracking=LOT),
        item("MILK", "Milch", 119),
        item("PHONE", "Telefon", 19900),
    )
    assert [(f, r) for f, r, _ in refused] == [("item.tracking", "TRACKING_CHANGE_WITH_STOCK")] * 3
    assert "5" in refused[0][2] and "MAIN" in refused[0][2]
    assert "L1" in refused[1][2]
    assert "SN-1" in refused[2][2]
    # the stock is still where sales take it from
    pos.ensure_shift()
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="NUTS", quantity="2")
    pos.add_line(sale_id, item_id="MILK", lot_number="L1")
    pos.add_line(sale_id, item_id="PHONE", serial_number="SN-1")
    pay_and_post(pos, sale_id)
    assert levels(pos, "NUTS") == [("", "", "3")]
    assert levels(pos, "MILK") == [("", "L1", "3")]
    assert levels(pos, "PHONE") == [("", "", "0")]
    # emptied, the item may change its tracking; the old, empty books are gone
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="NUTS", quantity="0"),
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L1", quantity="0"),
    )
    import_items(pos, item("NUTS", "Nüsse", 300, tracking=LOT), item("MILK", "Milch", 119))
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="NUTS", lot_number="N7", quantity="6"),
        catalog_pb2.StockEntry(item_id="MILK", quantity="8"),
    )
    assert levels(pos, "NUTS") == [("", "N7", "6")]
    assert levels(pos, "MILK") == [("", "", "8")]


def test_an_open_line_that_no_longer_fits_its_item_is_refused_at_the_post(
    running: Running, pos: PosdClient
) -> None:
    import_items(pos, item("PHONE", "Telefon", 19900), item("MILK", "Milch", 119, tracking=LOT))
    import_stock(pos, catalog_pb2.StockEntry(item_id="MILK", lot_number="L1", quantity="0"))
    pos.ensure_shift()
    sale_id = pos.create_sale().sale_id
    phone_line = pos.add_line(sale_id, item_id="PHONE").line_id
    milk_line = pos.add_line(sale_id, item_id="MILK", lot_number="L1").line_id
    # the back office makes the phone serial-numbered, the milk untracked
    import_items(pos, item("PHONE", "Telefon", 19900, tracking=SERIAL), item("MILK", "Milch", 119))
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="PHONE", serial_number="SN-1", quantity="1"),
        catalog_pb2.StockEntry(item_id="MILK", quantity="3"),
    )
    total = pos.get_sale(sale_id).total.amount_minor
    pos.add_payment(sale_id, CASH, total)
    with pytest.raises(PosdError) as err:
        pos.post_sale(sale_id)
    assert err.value.reason == "SERIAL_REQUIRED", err.value
    assert err.value.metadata["line_id"] == phone_line
    pos.remove_line(sale_id, phone_line)
    pos.add_line(sale_id, item_id="PHONE", serial_number="SN-1")
    with pytest.raises(PosdError) as err:
        pos.post_sale(sale_id)
    assert err.value.reason == "NOT_LOT_TRACKED", err.value
    assert err.value.metadata["line_id"] == milk_line
    pos.remove_line(sale_id, milk_line)
    pos.add_line(sale_id, item_id="MILK")
    sale = pos.get_sale(sale_id)
    paid = sum(p.amount.amount_minor for p in sale.payments)
    if sale.total.amount_minor != paid:
        pos.add_payment(sale_id, CASH, sale.total.amount_minor - paid)
    pos.post_sale(sale_id)
    assert levels(pos, "PHONE") == [("", "", "0")]
    assert levels(pos, "MILK") == [("", "", "2")]


def test_a_variant_with_stock_is_not_removed_and_an_emptied_one_leaves_no_books(
    running: Running, pos: PosdClient
) -> None:
    red = catalog_pb2.ItemVariant(variant_id="RED", name="rot")
    blue = catalog_pb2.ItemVariant(variant_id="BLUE", name="blau")
    import_items(pos, item("SHIRT", "Hemd", 1500, tracking=LOT, variants=[red, blue]))
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="SHIRT", variant_id="RED", lot_number="L1", quantity="2"),
        catalog_pb2.StockEntry(item_id="SHIRT", variant_id="BLUE", lot_number="L2", quantity="3"),
    )
    pos.ensure_shift()
    sale_id = pos.create_sale().sale_id
    blue_line = pos.add_line(sale_id, item_id="SHIRT", variant_id="BLUE", lot_number="L2").line_id
    refused = rejections(pos, item("SHIRT", "Hemd", 1500, tracking=LOT, variants=[red]))
    assert [(f, r) for f, r, _ in refused] == [("item.variants", "VARIANT_HAS_STOCK")]
    assert "BLUE" in refused[0][2] and "L2" in refused[0][2]
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="SHIRT", variant_id="BLUE", lot_number="L2", quantity="0"),
    )
    import_items(pos, item("SHIRT", "Hemd", 1500, tracking=LOT, variants=[red]))
    assert levels(pos, "SHIRT") == [("RED", "L1", "2")]
    # the removed variant's lot is no longer a code of the catalog
    other = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(other, "L2")
    assert err.value.reason == "UNKNOWN_CODE", err.value
    # the open line of the removed variant is refused at the post, naming it
    total = pos.get_sale(sale_id).total.amount_minor
    pos.add_payment(sale_id, CASH, total)
    with pytest.raises(PosdError) as err:
        pos.post_sale(sale_id)
    assert err.value.reason == "VARIANT_NOT_FOUND", err.value
    assert err.value.metadata["line_id"] == blue_line
    pos.remove_line(sale_id, blue_line)
    pos.add_line(sale_id, item_id="SHIRT", variant_id="RED", lot_number="L1")
    pos.post_sale(sale_id)
    assert levels(pos, "SHIRT") == [("RED", "L1", "1")]
