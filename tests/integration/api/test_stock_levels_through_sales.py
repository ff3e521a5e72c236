"""Stock levels through the sale's life: units, weighed goods, returns, stornos,
cancellations, parked sales with a pick-up date, and the shop's negative-stock rule."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import catalog_pb2, common_pb2, sale_pb2

from tests.conftest import Running
from tests.support.fullsale import import_items, import_stock, item, update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    if "request_id" in request_type.DESCRIPTOR.fields_by_name:
        fields["request_id"] = new_request_id()
    return pos.call(getattr(pos.sales, rpc), request_type(**fields))


def levels(pos: PosdClient, item_id: str) -> list[tuple[str, str, str]]:
    req = catalog_pb2.GetStockRequest(item_id=item_id)
    return [
        (lv.on_hand, lv.reserved, lv.available) for lv in pos.call(pos.catalog.GetStock, req).levels
    ]


def stored(running: Running, item_id: str) -> list[str]:
    with sqlite3.connect(running.config.database_path) as db:
        rows = db.execute("SELECT quantity FROM stock WHERE item_id = ?", (item_id,))
        return [r[0] for r in rows]


def sell(pos: PosdClient, *lines: dict[str, str]) -> sale_pb2.Sale:
    sid = pos.create_sale().sale_id
    for ln in lines:
        pos.add_line(sid, **ln)
    total = pos.get_sale(sid).total.amount_minor
    pos.add_payment(sid, CASH, total)
    return pos.post_sale(sid)


def seed(pos: PosdClient) -> None:
    six = catalog_pb2.ItemUnit(unit="six", quantity_per_unit="6")
    import_items(
        pos,
        item("WATER", "Wasser", 50, units=[six]),
        item("CHEESE", "Käse", 2990, unit="kg", fractional_quantity=True),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="WATER", quantity="24"),
        catalog_pb2.StockEntry(item_id="CHEESE", quantity="5.000"),
    )


def test_packs_weights_returns_and_stornos_move_stock_exactly(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sold = sell(pos, {"item_id": "WATER", "unit": "six", "quantity": "2"})
    assert levels(pos, "WATER") == [("12", "0", "12")]
    cheese = sell(pos, {"item_id": "CHEESE", "quantity": "0.125"})
    assert levels(pos, "CHEESE") == [("4.875", "0", "4.875")]
    assert stored(running, "CHEESE") == ["4.875"]  # decimal text, never a float
    # one pack back: six pieces
    ret = pos.create_sale().sale_id
    call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=sold.sale_id,
        original_line_id=sold.lines[0].line_id,
        quantity="1",
    )
    pos.add_payment(ret, CASH, pos.get_sale(ret).total.amount_minor)
    pos.post_sale(ret)
    assert levels(pos, "WATER") == [("18", "0", "18")]
    # the cheese reversed (storno): back whole
    rev = call(pos, "ReverseReceipt", sale_id=cheese.sale_id, reason="Fehlbon").reversal
    assert levels(pos, "CHEESE") == [("5", "0", "5")]
    assert rev.state == sale_pb2.SALE_STATE_POSTED
    # a cancelled sale moves nothing
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="WATER", quantity="5")
    pos.cancel_sale(sid, "Kunde weg")
    assert levels(pos, "WATER") == [("18", "0", "18")]


def test_a_parked_sale_with_a_pickup_date_keeps_its_reservation(
    running: Running, pos: PosdClient
) -> None:
    """A pick-up sale is parked until the customer comes: its goods stay reserved (the
    slip is the customer's claim on them), not free for the next customer."""
    seed(pos)
    soon = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    sid = pos.create_sale().sale_id
    call(pos, "SetPickupDate", sale_id=sid, pickup_date=soon)
    pos.add_line(sid, item_id="WATER", unit="six", quantity="1")
    assert levels(pos, "WATER") == [("24", "6", "18")]
    call(pos, "ParkSale", sale_id=sid)
    assert levels(pos, "WATER") == [("24", "6", "18")]
    call(pos, "ResumeSale", sale_id=sid)
    pos.cancel_sale(sid, "abbestellt")
    assert levels(pos, "WATER") == [("24", "0", "24")]


def test_goods_returned_in_a_pickup_sale_reserve_nothing(running: Running, pos: PosdClient) -> None:
    seed(pos)
    sold = sell(pos, {"item_id": "WATER", "quantity": "4"})
    soon = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    sid = pos.create_sale().sale_id
    call(
        pos,
        "AddReturnLine",
        sale_id=sid,
        original_sale_id=sold.sale_id,
        original_line_id=sold.lines[0].line_id,
        quantity="4",
    )
    pos.add_line(sid, item_id="WATER", quantity="1")
    # the date given after the lines, which follow it: the return line takes it too
    call(pos, "SetPickupDate", sale_id=sid, pickup_date=soon, lines_follow=True)
    # returned goods are not on the shelf for anyone: only the piece to pick up counts
    assert levels(pos, "WATER") == [("20", "1", "19")]


def test_negative_stock_refused_before_signing_or_posted_with_a_warning(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    update_shop(pos, allow_negative_stock=False)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="WATER", unit="six", quantity="5")  # 30 of 24
    pos.add_payment(sid, CASH, pos.get_sale(sid).total.amount_minor)
    with pytest.raises(PosdError) as err:
        pos.post_sale(sid)
    assert err.value.reason == "INSUFFICIENT_STOCK"
    assert "WATER at MAIN: -6" in str(err.value)
    s = pos.get_sale(sid)
    assert s.state == sale_pb2.SALE_STATE_OPEN and s.tse.state != "FINISHED"
    assert levels(pos, "WATER") == [("24", "0", "24")]
    update_shop(pos, allow_negative_stock=True)
    posted = pos.post_sale(sid)
    assert any("NEGATIVE_STOCK" in w for w in posted.warnings)
    assert levels(pos, "WATER") == [("-6", "0", "-6")]


def test_a_return_is_not_refused_because_stock_is_already_below_zero(
    running: Running, pos: PosdClient
) -> None:
    """Stock went below zero while the shop allowed it; it forbids it now. Taking goods
    back raises the stock: refusing it as INSUFFICIENT_STOCK is wrong."""
    seed(pos)
    sold = sell(pos, {"item_id": "WATER", "quantity": "30"})  # demo shop: allowed
    assert levels(pos, "WATER") == [("-6", "0", "-6")]
    update_shop(pos, allow_negative_stock=False)
    ret = pos.create_sale().sale_id
    call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=sold.sale_id,
        original_line_id=sold.lines[0].line_id,
        quantity="2",
    )
    pos.add_payment(ret, CASH, pos.get_sale(ret).total.amount_minor)
    pos.post_sale(ret)
    assert levels(pos, "WATER") == [("-4", "0", "-4")]


def test_lots_and_serials_come_back_where_they_were_sold_from(
    running: Running, pos: PosdClient
) -> None:
    import_items(
        pos,
        item("MILK", "Milch", 129, tracking=catalog_pb2.TRACKING_LOT),
        item("PHONE", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL),
    )
    future = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L1", quantity="5", expiry_date=future),
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L2", quantity="5", expiry_date=future),
        catalog_pb2.StockEntry(item_id="PHONE", serial_number="SN1", quantity="1"),
        catalog_pb2.StockEntry(item_id="PHONE", serial_number="SN2", quantity="1"),
    )
    sold = sell(
        pos,
        {"item_id": "MILK", "lot_number": "L2", "quantity": "3"},
        {"item_id": "PHONE", "serial_number": "SN1"},
    )
    assert levels(pos, "MILK") == [("5", "0", "5"), ("2", "0", "2")]
    assert levels(pos, "PHONE") == [("1", "0", "1")]
    ret = pos.create_sale().sale_id
    for ln in sold.lines:
        call(
            pos,
            "AddReturnLine",
            sale_id=ret,
            original_sale_id=sold.sale_id,
            original_line_id=ln.line_id,
            quantity="1",
        )
    pos.add_payment(ret, CASH, pos.get_sale(ret).total.amount_minor)
    pos.post_sale(ret)
    assert levels(pos, "MILK") == [("5", "0", "5"), ("3", "0", "3")]
    assert levels(pos, "PHONE") == [("2", "0", "2")]
    # the phone sold again, then the receipt reversed: in stock again
    again = sell(pos, {"item_id": "PHONE", "serial_number": "SN1"})
    assert levels(pos, "PHONE") == [("1", "0", "1")]
    call(pos, "ReverseReceipt", sale_id=again.sale_id, reason="Fehlbon")
    assert levels(pos, "PHONE") == [("2", "0", "2")]
