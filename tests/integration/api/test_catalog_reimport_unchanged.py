"""A back office pushes its whole catalog again and again (nightly, hourly): rows the
register already has as they are must write nothing. Real daemon, real socket; the
database file shows what was written."""

from __future__ import annotations

import sqlite3
import time

from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2

from tests.conftest import Running
from tests.support.fullsale import import_items, item, money


def catalog_state(running: Running) -> tuple[int, dict[str, str]]:
    """(the catalog's write counter, updated_at by item id) as the database has them."""
    with sqlite3.connect(running.config.database_path) as db:
        generation = int(db.execute("SELECT n FROM catalog_generation").fetchone()[0])
        stamps = dict(db.execute("SELECT item_id, updated_at FROM items").fetchall())
    return generation, stamps


def shirt(price: int = 1999) -> catalog_pb2.Item:
    # barcodes deliberately not in sorted order, variants and units with own prices
    msg = item(
        "S1",
        "Hemd",
        price,
        barcodes=["4006381333931", "INT-7"],
        variants=[
            catalog_pb2.ItemVariant(variant_id="M", name="Größe M", barcodes=["INT-M"]),
            catalog_pb2.ItemVariant(variant_id="L", name="Größe L", price=money(2199)),
        ],
    )
    msg.units.append(catalog_pb2.ItemUnit(unit="pack", quantity_per_unit="3", price=money(5499)))
    return msg


def test_re_importing_an_unchanged_catalog_writes_nothing(
    running: Running, pos: PosdClient
) -> None:
    catalog = [shirt(), item("B1", "Brot", 349, vat=common_pb2.VAT_CATEGORY_REDUCED)]
    import_items(pos, *catalog)
    before = catalog_state(running)
    time.sleep(0.01)  # a rewrite would carry a later updated_at
    summary = import_items(pos, *catalog)
    assert (summary.imported, summary.created) == (2, 0)
    assert catalog_state(running) == before
    # what is stored is still what was imported
    got = pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="S1")).item
    assert sorted(got.barcodes) == ["4006381333931", "INT-7"]
    assert [(v.variant_id, list(v.barcodes)) for v in got.variants] == [
        ("M", ["INT-M"]),
        ("L", []),
    ]


def test_a_re_import_with_one_changed_item_writes_that_item_only(
    running: Running, pos: PosdClient
) -> None:
    import_items(pos, shirt(), item("B1", "Brot", 349))
    generation, stamps = catalog_state(running)
    time.sleep(0.01)
    changed = shirt(1899)
    changed.variants[0].barcodes.append("INT-M2")
    import_items(pos, changed, item("B1", "Brot", 349))
    generation_after, stamps_after = catalog_state(running)
    assert generation_after > generation
    assert stamps_after["B1"] == stamps["B1"]
    assert stamps_after["S1"] > stamps["S1"]
    got = pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="S1")).item
    assert got.gross_price.amount_minor == 1899
    assert sorted(got.variants[0].barcodes) == ["INT-M", "INT-M2"]
