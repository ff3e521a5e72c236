"""A deli scale's price label of a pack above 1 kg, scanned at the real daemon: the
customer pays exactly the printed price (the scale is legal-for-trade, its label the
contract), although no price per kg in cents times the pack's weight makes it. The pack's
weight stays the line's quantity (stock, receipt); the printed price is what the sale
total, the TSE's processData, the journal, the posted rows, a park and resume and a
return all say."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2

from tests.conftest import Running, running_daemon
from tests.integration.api.test_instore_label_sale_flows import journal_lines, on_hand
from tests.integration.api.test_sale_part2 import call, pay, post
from tests.integration.day.test_full_day import read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, import_stock, item

REDUCED = common_pb2.VAT_CATEGORY_REDUCED
CASH = common_pb2.PAYMENT_METHOD_CASH
LAYOUTS = [{"prefixes": ["21"], "item_digits": 5, "kind": "price"}]
# Gouda at 19.90/kg; a pack printed 50.02 weighs 50.02 / 19.90 = 2.514 kg, and 2.514 kg
# at 19.89 makes 50.00, at 19.90 50.03: no price per kg in cents makes 50.02
PACK_50_02 = "2112346050026"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"instore_codes": LAYOUTS}) as r:
        yield r


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    with running.client() as c:
        import_items(
            c,
            item(
                "KG",
                "Gouda",
                1990,
                vat=REDUCED,
                unit="kg",
                fractional_quantity=True,
                barcodes=["2112346000007"],
            ),
        )
        import_stock(c, catalog_pb2.StockEntry(item_id="KG", quantity="10"))
        yield c


def test_a_pack_of_2_514_kg_printed_50_02_costs_50_02_from_scan_to_return(
    running: Running, pos: PosdClient
) -> None:
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, PACK_50_02).sale.lines[-1]
    assert (line.quantity, line.unit, line.total.amount_minor) == ("2.514", "kg", 5002)
    call(pos, "ParkSale", sale_id=sid)
    resumed = call(pos, "ResumeSale", sale_id=sid).sale
    assert resumed.total.amount_minor == 5002
    pay(pos, sid, CASH, 5002)
    done = post(pos, sid)
    assert done.total.amount_minor == 5002
    assert done.change.amount_minor == 0
    # the TSE signs the printed price: 50.02 at the reduced rate (second slot), in cash
    assert done.tse.process_data == "Beleg^0.00_50.02_0.00_0.00_0.00^50.02:Bar"
    (journaled,) = journal_lines(running, done.receipt_number)
    assert (journaled["quantity"], journaled["total"]) == ("2.514", 5002)
    with sqlite3.connect(running.config.database_path) as c:
        rows = c.execute(
            "SELECT l.amount, l.gross, s.total FROM sale_lines l JOIN sales s"
            " ON s.sale_id = l.sale_id WHERE s.sale_id = ?",
            (sid,),
        ).fetchall()
    assert rows == [(5002, 5002, 5002)]
    assert on_hand(pos, "KG") == [Decimal("7.486")]

    # brought back: the refund is the printed price, the weight goes back to stock
    ret = pos.create_sale().sale_id
    refund = call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=sid,
        original_line_id=done.lines[0].line_id,
        quantity="2.514",
    ).sale
    assert refund.total.amount_minor == -5002
    pay(pos, ret, CASH, -5002)
    post(pos, ret)
    assert on_hand(pos, "KG") == [Decimal("10")]


def test_a_pack_printed_50_02_with_a_document_discount(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    pos.scan(sid, PACK_50_02)
    s = call(pos, "SetSaleDiscount", sale_id=sid, discount_percent="10").sale
    # 10 % of 50.02 = 5.002: 5.00 off the printed price
    assert s.total.amount_minor == 4502


def test_a_cancelled_sale_of_a_pack_lists_its_printed_price_in_the_export(
    pos: PosdClient,
) -> None:
    # a sale cancelled before its post has no posted amounts: DSFinV-K lists its lines
    # (AVBelegabbruch) at what they cost, the printed price, not price per kg x weight
    sid = pos.create_sale().sale_id
    pos.scan(sid, PACK_50_02)
    pos.cancel_sale(sid)
    close_as_expected(pos)
    z = pos.z_closing()
    tables = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]
    (line,) = [r for r in tables["lines.csv"] if r["ART_NR"] == "KG"]
    assert line["MENGE"] == "2,514"
    (vat,) = [r for r in tables["lines_vat.csv"] if r["BON_ID"] == line["BON_ID"]]
    assert vat["POS_BRUTTO"] == "50,02000"
