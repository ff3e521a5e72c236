"""Back-office order lines of serial-numbered and lot-tracked items (h108), through the
real gRPC server and SQLite: the back office may reserve a serial or lot on the line
(checked at UpsertOrders like the line's other fields); a line without one is loaded with
the serial or lot the cashier picks at the register (``LoadOrderRequest.picks``), refused
as AddLine refuses it (SERIAL_REQUIRED, LOT_REQUIRED) naming the order line until then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, common_pb2, order_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_master_data import run_posctl
from tests.integration.api.test_orders import assert_load_refused, counts, line, order
from tests.support.fullsale import customer, import_customers, import_items, import_stock, item


def seed(pos: PosdClient) -> None:
    import_items(
        pos,
        item("PHONE", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL),
        item("MILK", "Milch", 129, tracking=catalog_pb2.TRACKING_LOT),
        item("B1", "Brot", 349),
    )
    future = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="PHONE", serial_number="SN1", quantity="1"),
        catalog_pb2.StockEntry(item_id="PHONE", serial_number="SN2", quantity="1"),
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L1", quantity="5", expiry_date=future),
    )
    import_customers(pos, customer("K1", "Erika Muster"))


def load(pos: PosdClient, number: str, *picks: order_pb2.OrderLinePick) -> sale_pb2.Sale:
    return pos.load_order(number, picks=picks)


def tracked(sale: sale_pb2.Sale) -> list[tuple[str, str, str, str]]:
    return [(ln.item_id, ln.quantity, ln.serial_number, ln.lot_number) for ln in sale.lines]


def test_a_reserved_serial_and_lot_are_kept_shown_and_sold(pos: PosdClient) -> None:
    seed(pos)
    summary = pos.upsert_orders(
        order(
            "S-1",
            line("PHONE", "1", serial_number="SN1"),
            line("MILK", "2", lot_number="L1"),
            line("B1", "1"),
        )
    )
    assert summary.committed, summary
    got = pos.get_order("S-1")
    assert [(ln.item_id, ln.serial_number, ln.lot_number) for ln in got.lines] == [
        ("PHONE", "SN1", ""),
        ("MILK", "", "L1"),
        ("B1", "", ""),
    ]
    assert tracked(pos.load_order("S-1")) == [
        ("PHONE", "1", "SN1", ""),
        ("MILK", "2", "", "L1"),
        ("B1", "1", "", ""),
    ]


def test_upsert_refuses_a_serial_or_lot_the_item_does_not_have_naming_order_line_item(
    pos: PosdClient,
) -> None:
    seed(pos)
    summary = pos.upsert_orders(
        order("R-1", line("B1", "1"), line("PHONE", "1", serial_number="SN9")),
        order("R-2", line("MILK", "1", lot_number="L9")),
        order("R-3", line("PHONE", "1", serial_number="L1")),
        order("R-4", line("B1", "1", serial_number="SN1")),
        order(
            "R-5", line("PHONE", "1", serial_number="SN1"), line("PHONE", "1", serial_number="SN1")
        ),
        order("R-6", line("PHONE", "2")),
        order("R-7", line("B1", "1", lot_number="L1")),
        skip_invalid_rows=True,
    )
    assert [(r.key, r.reason, r.field) for r in summary.rejections] == [
        ("R-1", "SERIAL_NOT_IN_STOCK", "order.lines[1].serial_number"),
        ("R-2", "LOT_NOT_FOUND", "order.lines[0].lot_number"),
        ("R-3", "SERIAL_NOT_IN_STOCK", "order.lines[0].serial_number"),
        ("R-4", "NOT_SERIAL_TRACKED", "order.lines[0].serial_number"),
        ("R-5", "SERIAL_ALREADY_IN_ORDER", "order.lines[1].serial_number"),
        ("R-6", "SERIAL_QUANTITY_IS_ONE", "order.lines[0].quantity"),
        ("R-7", "NOT_LOT_TRACKED", "order.lines[0].lot_number"),
    ], summary
    first = summary.rejections[0].message
    for part in ("R-1", "line 2", "PHONE", "SN9"):
        assert part in first, first
    assert list(pos.list_orders()) == []


def test_upsert_refuses_a_serial_already_sold(pos: PosdClient) -> None:
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="PHONE", serial_number="SN2")
    total = pos.get_sale(sale.sale_id).total.amount_minor
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, total)
    pos.post_sale(sale.sale_id)
    summary = pos.upsert_orders(order("R-8", line("PHONE", "1", serial_number="SN2")))
    assert [(r.key, r.reason) for r in summary.rejections] == [("R-8", "SERIAL_ALREADY_SOLD")]


def test_a_line_without_serial_or_lot_loads_with_what_the_cashier_picks(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    assert pos.upsert_orders(order("W-1", line("PHONE", "1"), line("MILK", "3"))).committed
    before = counts(running)
    with pytest.raises(PosdError) as err:
        load(pos, "W-1")
    assert_load_refused(err.value, "SERIAL_REQUIRED", "W-1", "1", "PHONE")
    with pytest.raises(PosdError) as err:
        load(pos, "W-1", order_pb2.OrderLinePick(line=1, serial_number="SN2"))
    assert (err.value.reason, err.value.metadata.get("line")) == ("LOT_REQUIRED", "2")
    # a serial the register does not have is refused as AddLine refuses it
    with pytest.raises(PosdError) as err:
        load(
            pos,
            "W-1",
            order_pb2.OrderLinePick(line=1, serial_number="SN9"),
            order_pb2.OrderLinePick(line=2, lot_number="L1"),
        )
    assert (err.value.reason, err.value.metadata.get("line")) == ("SERIAL_NOT_IN_STOCK", "1")
    assert counts(running) == before
    assert pos.get_order("W-1").state == order_pb2.ORDER_STATE_OPEN

    sale = load(
        pos,
        "W-1",
        order_pb2.OrderLinePick(line=1, serial_number="SN2"),
        order_pb2.OrderLinePick(line=2, lot_number="L1"),
    )
    assert tracked(sale) == [("PHONE", "1", "SN2", ""), ("MILK", "3", "", "L1")]
    assert pos.get_order("W-1").state == order_pb2.ORDER_STATE_LOADED


def test_a_pick_may_not_name_another_line_or_replace_a_reservation(pos: PosdClient) -> None:
    seed(pos)
    assert pos.upsert_orders(order("P-1", line("PHONE", "1", serial_number="SN1"))).committed
    for pick in (
        order_pb2.OrderLinePick(line=2, serial_number="SN2"),
        order_pb2.OrderLinePick(line=1, serial_number="SN2"),
    ):
        with pytest.raises(PosdError) as err:
            load(pos, "P-1", pick)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert tracked(load(pos, "P-1", order_pb2.OrderLinePick(line=1, serial_number="SN1"))) == [
        ("PHONE", "1", "SN1", "")
    ]


def test_a_serial_numbered_line_of_more_than_one_piece_is_refused_at_upsert(
    pos: PosdClient,
) -> None:
    """AddLine refuses it (one serial, one piece), so the order could never be loaded."""
    seed(pos)
    summary = pos.upsert_orders(order("Q-1", line("B1", "1"), line("PHONE", "2")))
    assert not summary.committed
    assert [(r.key, r.reason, r.field) for r in summary.rejections] == [
        ("Q-1", "SERIAL_QUANTITY_IS_ONE", "order.lines[1].quantity")
    ], summary
    for part in ("Q-1", "line 2", "PHONE"):
        assert part in summary.rejections[0].message


def test_posctl_imports_reserved_serials_and_lots(
    running: Running, pos: PosdClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(pos)
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_number;customer_number;currency_code;item_id;quantity;lot_number;serial_number\n"
        "T-1;K1;EUR;PHONE;1;;SN2\n"
        "T-1;K1;EUR;MILK;2;L1;\n"
        "T-1;K1;EUR;B1;1;;\n",
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "orders", str(path))
    assert code == 0, out
    lines = pos.get_order("T-1").lines
    assert [(ln.item_id, ln.lot_number, ln.serial_number) for ln in lines] == [
        ("PHONE", "", "SN2"),
        ("MILK", "L1", ""),
        ("B1", "", ""),
    ]


def test_upsert_refuses_a_lot_of_another_variant(pos: PosdClient) -> None:
    """A lot is one variant's (as AddLine checks, LOT_OF_OTHER_VARIANT): accepted at
    UpsertOrders, the order could never be loaded."""
    milk = item("MILK2", "Milch", 129, tracking=catalog_pb2.TRACKING_LOT)
    milk.variants.add(variant_id="V1", name="1 l")
    milk.variants.add(variant_id="V2", name="2 l")
    import_items(pos, milk)
    future = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    import_stock(
        pos,
        catalog_pb2.StockEntry(
            item_id="MILK2", variant_id="V2", lot_number="L2", quantity="5", expiry_date=future
        ),
    )
    import_customers(pos, customer("K1", "Erika Muster"))
    other = order("O-V", line("MILK2", "1", variant_id="V1", lot_number="L2"))
    summary = pos.upsert_orders(other)
    assert not summary.committed
    assert [(r.key, r.reason, r.field) for r in summary.rejections] == [
        ("O-V", "LOT_OF_OTHER_VARIANT", "order.lines[0].lot_number")
    ]
    assert "V2" in summary.rejections[0].message
    ok = order("O-V", line("MILK2", "1", variant_id="V2", lot_number="L2"))
    assert pos.upsert_orders(ok).committed
    assert [ln.lot_number for ln in pos.load_order("O-V").lines] == ["L2"]


def test_a_repeat_load_checks_its_picks_against_the_sale(pos: PosdClient) -> None:
    """The order is in an open sale already: a pick naming another piece than the sale
    holds (the cashier scanned SN2, the sale carries SN1) or no line of the order is
    refused, not ignored; the same pick (a retry) gets the sale."""
    seed(pos)
    assert pos.upsert_orders(order("O-R", line("PHONE", "1"))).committed
    first = pos.load_order("O-R", picks=[order_pb2.OrderLinePick(line=1, serial_number="SN1")])
    again = pos.load_order("O-R", picks=[order_pb2.OrderLinePick(line=1, serial_number="SN1")])
    assert again.sale_id == first.sale_id
    for pick in (
        order_pb2.OrderLinePick(line=1, serial_number="SN2"),
        order_pb2.OrderLinePick(line=7, serial_number="SN1"),
    ):
        with pytest.raises(PosdError) as refused:
            pos.load_order("O-R", picks=[pick])
        assert refused.value.reason in ("ORDER_ALREADY_LOADED", "INVALID_ARGUMENT"), refused.value
    assert [ln.serial_number for ln in pos.get_sale(first.sale_id).lines] == ["SN1"]
