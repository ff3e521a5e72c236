"""A stock import naming the same stock twice, in two spellings, is refused like two
identical rows (DUPLICATE_ROW): which of the two counts is meant is not the register's
guess, and the second must not silently overwrite the first.

The spellings the stock import takes as one: no location and the register's own
location (MAIN here); a serial number at two locations or with two lot numbers (a
serial number is one piece, wherever a row puts it)."""

from __future__ import annotations

import sqlite3

from posd.client import PosdClient, new_request_id
from posd.v1 import catalog_pb2, common_pb2

from tests.conftest import Running
from tests.support.fullsale import import_items, import_stock, item


def try_import(
    pos: PosdClient, *entries: catalog_pb2.StockEntry, skip_invalid_rows: bool = False
) -> common_pb2.ImportSummary:
    req = catalog_pb2.ImportStockRequest(
        request_id=new_request_id(), entries=list(entries), skip_invalid_rows=skip_invalid_rows
    )
    return pos.call(pos.catalog.ImportStock, req).summary


def moves(running: Running, item_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(running.config.database_path) as db:
        return db.execute(
            "SELECT location_id, delta FROM stock_moves WHERE item_id = ? ORDER BY rowid",
            (item_id,),
        ).fetchall()


def on_hand(pos: PosdClient, item_id: str, location_id: str = "") -> list[str]:
    req = catalog_pb2.GetStockRequest(item_id=item_id, location_id=location_id)
    return [lv.on_hand for lv in pos.call(pos.catalog.GetStock, req).levels]


def test_no_location_and_the_registers_location_are_the_same_stock(
    running: Running, pos: PosdClient
) -> None:
    import_items(pos, item("A1", "Apfel", 99))
    import_stock(pos, catalog_pb2.StockEntry(item_id="A1", quantity="7"))
    summary = try_import(
        pos,
        catalog_pb2.StockEntry(item_id="A1", quantity="5"),
        catalog_pb2.StockEntry(location_id="MAIN", item_id="A1", quantity="9"),
    )
    assert not summary.committed
    assert [(r.row, r.reason) for r in summary.rejections] == [(2, "DUPLICATE_ROW")]
    assert "row 1" in summary.rejections[0].message
    assert on_hand(pos, "A1") == ["7"]  # nothing changed
    assert moves(running, "A1") == [("MAIN", "7")]
    # skipping invalid rows: the first row counts, the second is still refused
    summary = try_import(
        pos,
        catalog_pb2.StockEntry(location_id="MAIN", item_id="A1", quantity="9"),
        catalog_pb2.StockEntry(item_id="A1", quantity="5"),
        skip_invalid_rows=True,
    )
    assert summary.committed and summary.imported == 1
    assert [(r.row, r.reason) for r in summary.rejections] == [(2, "DUPLICATE_ROW")]
    assert on_hand(pos, "A1") == ["9"]


def test_one_serial_number_at_two_locations_is_refused(running: Running, pos: PosdClient) -> None:
    import_items(pos, item("T9", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL))
    before = (on_hand(pos, "T9"), on_hand(pos, "T9", "LAGER"))
    summary = try_import(
        pos,
        catalog_pb2.StockEntry(item_id="T9", serial_number="SN-9", quantity="1"),
        catalog_pb2.StockEntry(
            location_id="LAGER", item_id="T9", serial_number="SN-9", quantity="1"
        ),
        catalog_pb2.StockEntry(item_id="T9", serial_number="SN-9", lot_number="X", quantity="0"),
    )
    assert not summary.committed
    assert [(r.row, r.reason) for r in summary.rejections] == [
        (2, "DUPLICATE_ROW"),
        (3, "DUPLICATE_ROW"),
    ]
    assert moves(running, "T9") == []
    assert (on_hand(pos, "T9"), on_hand(pos, "T9", "LAGER")) == before
