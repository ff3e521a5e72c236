"""A lot number is one per item (the catalog keeps a lot's variant and expiry date per
item and lot number): a stock row giving a lot that has stock under one variant for
another variant is refused, naming the variant that has it. It moved the lot to the
other variant without a word, and a scan of the lot's label then sold it as that
variant, booking the stock off a (variant, lot) that had none while the goods stayed on
the first variant's books."""

from __future__ import annotations

from pathlib import Path

from posd.client import PosdError
from posd.v1 import catalog_pb2, common_pb2

from tests.conftest import start_in_thread
from tests.support.fullsale import import_items, import_stock, item, new_request_id


def shirt() -> catalog_pb2.Item:
    return item(
        "SHIRT",
        "Shirt",
        1500,
        tracking=catalog_pb2.TRACKING_LOT,
        variants=[
            catalog_pb2.ItemVariant(variant_id="RED", name="rot"),
            catalog_pb2.ItemVariant(variant_id="BLUE", name="blau"),
        ],
    )


def test_a_lot_in_stock_under_one_variant_is_not_moved_to_another(tmp_path: Path) -> None:
    running = start_in_thread(tmp_path / "state")
    try:
        with running.client() as pos:
            import_items(pos, shirt())
            import_stock(
                pos,
                catalog_pb2.StockEntry(
                    item_id="SHIRT", variant_id="RED", lot_number="L1", quantity="5"
                ),
            )
            req = catalog_pb2.ImportStockRequest(
                request_id=new_request_id(),
                entries=[
                    catalog_pb2.StockEntry(
                        item_id="SHIRT", variant_id="BLUE", lot_number="L1", quantity="3"
                    )
                ],
            )
            summary: common_pb2.ImportSummary = pos.call(pos.catalog.ImportStock, req).summary
            assert [(r.field, r.reason) for r in summary.rejections] == [
                ("lot_number", "LOT_OF_OTHER_VARIANT")
            ], summary
            assert "RED" in summary.rejections[0].message
            # the lot's label still sells the red shirts
            sale_id = pos.create_sale().sale_id
            pos.scan(sale_id, "L1")
            line = pos.get_sale(sale_id).lines[0]
            assert (line.variant_id, line.lot_number) == ("RED", "L1")
            # emptied under RED, the lot may be booked to BLUE (a correction)
            import_stock(
                pos,
                catalog_pb2.StockEntry(
                    item_id="SHIRT", variant_id="RED", lot_number="L1", quantity="0"
                ),
                catalog_pb2.StockEntry(
                    item_id="SHIRT", variant_id="BLUE", lot_number="L1", quantity="3"
                ),
            )
    finally:
        running.stop()


def test_an_expiry_date_for_an_item_without_lots_is_refused(tmp_path: Path) -> None:
    """Only a lot keeps an expiry date: a row giving one for an item without lots set
    the quantity and dropped the date without a word (the shop believed the date
    checked at the sale), a malformed date included."""
    running = start_in_thread(tmp_path / "state")
    try:
        with running.client() as pos:
            import_items(pos, item("BREAD", "Brot", 300))
            for day in ("2027-01-31", "31.01.2027"):
                req = catalog_pb2.ImportStockRequest(
                    request_id=new_request_id(),
                    entries=[
                        catalog_pb2.StockEntry(item_id="BREAD", quantity="7", expiry_date=day)
                    ],
                )
                summary = pos.call(pos.catalog.ImportStock, req).summary
                assert [(r.field, r.reason) for r in summary.rejections] == [
                    ("expiry_date", "NOT_LOT_TRACKED")
                ], summary
            levels = pos.call(
                pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id="BREAD")
            ).levels
            assert [lv.on_hand for lv in levels] == ["0"]
    finally:
        running.stop()


def test_a_line_cannot_sell_one_variant_off_another_variants_lot(tmp_path: Path) -> None:
    """AddLine of variant BLUE with lot L1, a lot of variant RED, was accepted and posted:
    BLUE/L1 went to -1 (NEGATIVE_STOCK) while RED/L1 kept its 5. The lot names its
    variant: a line of another variant with it is refused, and nothing is added."""
    running = start_in_thread(tmp_path / "state")
    try:
        with running.client() as pos:
            import_items(pos, shirt())
            import_stock(
                pos,
                catalog_pb2.StockEntry(
                    item_id="SHIRT", variant_id="RED", lot_number="L1", quantity="5"
                ),
            )
            sale_id = pos.create_sale().sale_id
            try:
                pos.add_line(sale_id, item_id="SHIRT", variant_id="BLUE", lot_number="L1")
            except PosdError as err:
                assert (err.reason, err.metadata.get("variant_id")) == (
                    "LOT_OF_OTHER_VARIANT",
                    "RED",
                ), err
            else:
                raise AssertionError("a BLUE line took RED's lot L1")
            assert list(pos.get_sale(sale_id).lines) == []
            # its own variant sells it
            pos.add_line(sale_id, item_id="SHIRT", variant_id="RED", lot_number="L1")
            assert [ln.variant_id for ln in pos.get_sale(sale_id).lines] == ["RED"]
    finally:
        running.stop()
