"""Catalog changes after sales (follow-ups of h74): goods taken back after their item
changed its tracking or lost its variant are booked where the item now keeps its
stock (the customer gets the refund either way; a piece the catalog has no single
place for is not booked and the posted sale says so); an item with stock does not
become a service or voucher (its stock was stranded: on the books, out of any sale's
reach); an open pick-up line of a removed variant or lot reserves nothing (it is
refused at the post)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_catalog_changes_with_stock_h74 import (
    levels,
    pay_and_post,
    rejections,
)
from tests.integration.api.test_sale_part2 import call
from tests.support.fullsale import import_items, import_stock, item

CASH = common_pb2.PAYMENT_METHOD_CASH
LOT = catalog_pb2.TRACKING_LOT
SERIAL = catalog_pb2.TRACKING_SERIAL
RED = catalog_pb2.ItemVariant(variant_id="RED", name="rot")
BLUE = catalog_pb2.ItemVariant(variant_id="BLUE", name="blau")


def reserved(pos: PosdClient, item_id: str) -> list[tuple[str, str, str, str]]:
    req = catalog_pb2.GetStockRequest(item_id=item_id)
    return [
        (lv.variant_id, lv.lot_number, lv.on_hand, lv.reserved)
        for lv in pos.call(pos.catalog.GetStock, req).levels
    ]


def sell(pos: PosdClient, **line: str) -> sale_pb2.Sale:
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, **line)  # type: ignore[arg-type]
    pay_and_post(pos, sale_id)
    return pos.get_sale(sale_id)


def take_back(pos: PosdClient, sold: sale_pb2.Sale) -> sale_pb2.Sale:
    """A return of the sale's first line, refunded in cash."""
    sale_id = pos.create_sale().sale_id
    call(
        pos,
        "AddReturnLine",
        sale_id=sale_id,
        original_sale_id=sold.sale_id,
        original_line_id=sold.lines[0].line_id,
        quantity="1",
    )
    pos.add_payment(sale_id, CASH, pos.get_sale(sale_id).total.amount_minor)
    return pos.post_sale(sale_id)


def test_a_return_after_a_tracking_or_variant_change_books_where_the_item_keeps_stock(
    running: Running, pos: PosdClient
) -> None:
    import_items(
        pos,
        item("PHONE", "Telefon", 19900, tracking=SERIAL, variants=[BLUE]),
        item("MILK", "Milch", 119, tracking=LOT),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(
            item_id="PHONE", variant_id="BLUE", serial_number="SN-1", quantity="1"
        ),
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L1", quantity="1"),
    )
    pos.ensure_shift()
    phone = sell(pos, item_id="PHONE", variant_id="BLUE", serial_number="SN-1")
    milk = sell(pos, item_id="MILK", lot_number="L1")
    # sold out, the phone loses its only variant, the milk its lots
    import_items(pos, item("PHONE", "Telefon", 19900, tracking=SERIAL), item("MILK", "Milch", 119))
    done = take_back(pos, phone)
    assert done.state == sale_pb2.SALE_STATE_POSTED
    # the piece is back in stock as the item now is: sold again by its serial number
    assert levels(pos, "PHONE") == [("", "", "1")]
    take_back(pos, milk)
    assert levels(pos, "MILK") == [("", "", "1")]
    again = sell(pos, item_id="PHONE", serial_number="SN-1")
    assert again.state == sale_pb2.SALE_STATE_POSTED
    assert levels(pos, "PHONE") == [("", "", "0")]


def test_a_return_of_a_removed_variant_among_others_is_refunded_and_named_unbooked(
    running: Running, pos: PosdClient
) -> None:
    import_items(pos, item("SHIRT", "Hemd", 1500, variants=[RED, BLUE]))
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="SHIRT", variant_id="RED", quantity="2"),
        catalog_pb2.StockEntry(item_id="SHIRT", variant_id="BLUE", quantity="1"),
    )
    pos.ensure_shift()
    shirt = sell(pos, item_id="SHIRT", variant_id="BLUE")
    import_items(pos, item("SHIRT", "Hemd", 1500, variants=[RED]))
    done = take_back(pos, shirt)
    # the customer has the money back; which variant the piece now is, only the shop
    # can say: nothing is booked under the variant no sale reaches, and the sale says so
    assert done.state == sale_pb2.SALE_STATE_POSTED
    assert done.total.amount_minor == -1500
    assert any(w.startswith("STOCK_NOT_BOOKED") and "BLUE" in w for w in done.warnings), (
        done.warnings
    )
    assert levels(pos, "SHIRT") == [("RED", "", "2")]


def test_an_item_with_stock_does_not_become_a_service_or_voucher(
    running: Running, pos: PosdClient
) -> None:
    import_items(
        pos,
        item("NUTS", "Nüsse", 300),
        item("PHONE", "Telefon", 19900, tracking=SERIAL),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="NUTS", quantity="5"),
        catalog_pb2.StockEntry(item_id="PHONE", serial_number="SN-1", quantity="1"),
    )
    refused = rejections(
        pos,
        item("NUTS", "Nüsse", 300, item_type=catalog_pb2.ITEM_TYPE_SERVICE),
        item("PHONE", "Telefon", 19900, item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
    )
    assert [(f, r) for f, r, _ in refused] == [
        ("item.item_type", "ITEM_TYPE_CHANGE_WITH_STOCK")
    ] * 2
    assert "5" in refused[0][2] and "MAIN" in refused[0][2]
    assert "SN-1" in refused[1][2]
    assert levels(pos, "NUTS") == [("", "", "5")]
    # emptied, it may change: its empty books go
    import_stock(pos, catalog_pb2.StockEntry(item_id="NUTS", quantity="0"))
    import_items(pos, item("NUTS", "Nüsse", 300, item_type=catalog_pb2.ITEM_TYPE_SERVICE))
    assert levels(pos, "NUTS") == [("", "", "0")]


def test_a_pickup_line_of_a_removed_variant_or_lot_reserves_nothing(
    running: Running, pos: PosdClient
) -> None:
    import_items(
        pos,
        item("SHIRT", "Hemd", 1500, variants=[RED, BLUE]),
        item("MILK", "Milch", 119, tracking=LOT),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="SHIRT", variant_id="RED", quantity="2"),
        catalog_pb2.StockEntry(item_id="SHIRT", variant_id="BLUE", quantity="1"),
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L1", quantity="1"),
    )
    pos.ensure_shift()
    soon = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    sale_id = pos.create_sale().sale_id
    call(pos, "SetPickupDate", sale_id=sale_id, pickup_date=soon)
    pos.add_line(sale_id, item_id="SHIRT", variant_id="BLUE")
    pos.add_line(sale_id, item_id="MILK", lot_number="L1")
    assert ("BLUE", "", "1", "1") in reserved(pos, "SHIRT")
    # the back office empties and drops the blue shirt and the milk's lots
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="SHIRT", variant_id="BLUE", quantity="0"),
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L1", quantity="0"),
    )
    import_items(pos, item("SHIRT", "Hemd", 1500, variants=[RED]), item("MILK", "Milch", 119))
    # the lines will never take those goods (refused at the post): no claim on the shelf
    assert reserved(pos, "SHIRT") == [("RED", "", "2", "0")]
    assert reserved(pos, "MILK") == [("", "", "0", "0")]
