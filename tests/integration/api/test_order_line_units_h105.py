"""Units on back-office order lines (h105): an order for an item's other unit (a 50 m
roll, a case of 6) is kept, shown and loaded in that unit, through the real gRPC server
and SQLite; a unit the item lacks is refused on UpsertOrders and again on LoadOrder."""

from __future__ import annotations

from pathlib import Path

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, common_pb2, order_pb2

from tests.conftest import Running
from tests.integration.api.test_master_data import run_posctl
from tests.integration.api.test_orders import assert_load_refused, counts, line, order
from tests.support.fullsale import customer, import_customers, import_items, item, money


def cable(*units: catalog_pb2.ItemUnit) -> catalog_pb2.Item:
    return item("KAB", "Kabel", 250, unit="m", fractional_quantity=True, units=list(units))


def seed(pos: PosdClient) -> None:
    import_items(
        pos,
        cable(catalog_pb2.ItemUnit(unit="roll", quantity_per_unit="50")),
        item(
            "W6",
            "Wasser",
            49,
            units=[catalog_pb2.ItemUnit(unit="case", quantity_per_unit="6", price=money(259))],
        ),
        item("B1", "Brot", 349, vat=common_pb2.VAT_CATEGORY_REDUCED),
    )
    import_customers(pos, customer("K1", "Erika Muster"))


def test_an_order_line_in_another_unit_is_kept_shown_and_loaded_in_that_unit(
    pos: PosdClient,
) -> None:
    seed(pos)
    summary = pos.upsert_orders(
        order(
            "U-1",
            line("KAB", "2", unit="roll"),
            line("W6", "1", price=240, unit="case"),  # agreed: 2.40 per case
            line("B1", "1"),
        )
    )
    assert summary.committed, summary
    want = [("KAB", "2", "roll"), ("W6", "1", "case"), ("B1", "1", "")]
    got = pos.get_order("U-1")
    assert [(ln.item_id, ln.quantity, ln.unit) for ln in got.lines] == want
    listed = list(pos.list_orders())
    assert [(ln.item_id, ln.quantity, ln.unit) for ln in listed[0].lines] == want

    sale = pos.load_order("U-1")
    assert [
        (ln.item_id, ln.unit, ln.quantity, ln.quantity_per_unit, ln.unit_price.amount_minor)
        for ln in sale.lines[:2]
    ] == [("KAB", "roll", "2", "50", 12500), ("W6", "case", "1", "6", 240)]
    assert sale.total.amount_minor == 2 * 12500 + 240 + 349


def test_upsert_refuses_a_unit_the_item_lacks_naming_order_line_item_and_unit(
    pos: PosdClient,
) -> None:
    seed(pos)
    summary = pos.upsert_orders(
        order("U-1", line("KAB", "1", unit="roll")),
        order("U-2", line("KAB", "1"), line("B1", "1", unit="roll")),
    )
    assert not summary.committed
    assert [(r.row, r.key, r.reason, r.field) for r in summary.rejections] == [
        (2, "U-2", "UNKNOWN_UNIT", "order.lines[1].unit"),
    ]
    message = summary.rejections[0].message
    for part in ("U-2", "line 2", "B1", "roll"):
        assert part in message, message
    assert list(pos.list_orders()) == []  # nothing changed


def test_load_refuses_a_unit_gone_from_the_catalog_naming_order_line_and_item(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    pos.upsert_orders(order("U-3", line("B1", "1"), line("KAB", "1", unit="roll")))
    import_items(pos, cable())  # the roll is no longer sold
    before = counts(running)
    with pytest.raises(PosdError) as err:
        pos.load_order("U-3")
    assert_load_refused(err.value, "UNKNOWN_UNIT", "U-3", "2", "KAB")
    assert counts(running) == before
    assert pos.get_order("U-3").state == order_pb2.ORDER_STATE_OPEN


def test_posctl_imports_an_orders_unit_column_and_files_without_it(
    running: Running,
    pos: PosdClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(pos)
    with_unit = tmp_path / "orders.csv"
    with_unit.write_text(
        "order_number;customer_number;currency_code;item_id;variant_id;quantity;unit;unit_price;text\n"
        "C-1;K1;EUR;KAB;;2;roll;;\n"
        "C-1;K1;EUR;B1;;1;;;\n",
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "orders", str(with_unit))
    assert code == 0, out
    assert [(ln.item_id, ln.unit) for ln in pos.get_order("C-1").lines] == [
        ("KAB", "roll"),
        ("B1", ""),
    ]

    old = tmp_path / "old.csv"
    old.write_text(
        "order_number;customer_number;currency_code;item_id;variant_id;quantity;unit_price;text\n"
        "C-2;K1;EUR;KAB;;3;;\n",
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "orders", str(old))
    assert code == 0, out
    assert [(ln.item_id, ln.quantity, ln.unit) for ln in pos.get_order("C-2").lines] == [
        ("KAB", "3", "")
    ]
