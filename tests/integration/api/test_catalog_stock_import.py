"""Stock imports of lots and serial numbers: what a later import keeps and allows."""

from __future__ import annotations

import sqlite3

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, common_pb2

from tests.conftest import Running
from tests.support.fullsale import import_items, import_stock, item


def test_a_stock_count_without_an_expiry_date_keeps_the_lots_known_date(
    running: Running, pos: PosdClient
) -> None:
    """A stocktake file carries quantities only: it must not erase a lot's expiry date
    (else an expired lot, refused before, sells without a word)."""
    import_items(
        pos,
        item(
            "M1",
            "Milch",
            119,
            vat=common_pb2.VAT_CATEGORY_REDUCED,
            tracking=catalog_pb2.TRACKING_LOT,
        ),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(
            item_id="M1", lot_number="L-OLD", quantity="5", expiry_date="2020-01-31"
        ),
    )
    import_stock(pos, catalog_pb2.StockEntry(item_id="M1", lot_number="L-OLD", quantity="3"))
    levels = pos.call(pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id="M1")).levels
    assert [(lv.lot_number, lv.on_hand) for lv in levels] == [("L-OLD", "3")]
    with running.client("2", "0000") as cashier:
        cashier.ensure_shift()
        sale_id = cashier.create_sale().sale_id
        with pytest.raises(PosdError) as err:
            cashier.add_line(sale_id, item_id="M1", lot_number="L-OLD")
        assert err.value.reason == "LOT_EXPIRED"
        assert err.value.metadata["expiry_date"] == "2020-01-31"


def test_a_serial_taken_out_of_stock_by_an_import_can_be_put_back(pos: PosdClient) -> None:
    """Quantity 0 takes a piece out of stock (a wrong entry, sent back to the vendor);
    it was never sold, so a later import may put it in stock again."""
    import_items(pos, item("T1", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL))
    import_stock(pos, catalog_pb2.StockEntry(item_id="T1", serial_number="SN-1", quantity="1"))
    import_stock(pos, catalog_pb2.StockEntry(item_id="T1", serial_number="SN-1", quantity="0"))
    levels = pos.call(pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id="T1")).levels
    assert [lv.on_hand for lv in levels] == ["0"]
    import_stock(pos, catalog_pb2.StockEntry(item_id="T1", serial_number="SN-1", quantity="1"))
    levels = pos.call(pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id="T1")).levels
    assert [lv.on_hand for lv in levels] == ["1"]


def test_a_serial_moved_to_another_location_by_an_import_moves_in_the_stock_moves(
    running: Running, pos: PosdClient
) -> None:
    """The stock moves are the ledger of stock: a piece imported at another location
    leaves the first one there too, not only in the serials table."""
    import_items(pos, item("T2", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL))
    import_stock(pos, catalog_pb2.StockEntry(item_id="T2", serial_number="SN-2", quantity="1"))
    import_stock(
        pos,
        catalog_pb2.StockEntry(
            location_id="LAGER", item_id="T2", serial_number="SN-2", quantity="1"
        ),
    )
    with sqlite3.connect(running.config.database_path) as db:
        moves = dict(
            db.execute(
                "SELECT location_id, SUM(CAST(delta AS INTEGER)) FROM stock_moves"
                " WHERE item_id = 'T2' GROUP BY location_id"
            ).fetchall()
        )
    assert moves == {"MAIN": 0, "LAGER": 1}
