"""An in-store price or weight label through the whole life of a sale: parked and resumed,
in a foreign currency, for a business customer with net prices, with a customer discount,
posted (receipt, journal, DSFinV-K lines.csv), returned (the refund is what was paid for
the label, not the catalog price), and a weight label's weight taken out of stock."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, common_pb2, customer_pb2, shop_pb2

from tests.conftest import Running, running_daemon
from tests.integration.api.test_sale_part2 import call, pay, post
from tests.integration.day.test_full_day import read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, import_stock, item, update_shop

REDUCED = common_pb2.VAT_CATEGORY_REDUCED
CASH = common_pb2.PAYMENT_METHOD_CASH

LAYOUTS = [
    {"prefixes": ["21"], "item_digits": 5, "kind": "price"},
    {"prefixes": ["29"], "item_digits": 5, "kind": "weight", "weight_decimals": 3},
    # the same scale's labels of items sold by the gram
    {"prefixes": ["28"], "item_digits": 5, "kind": "weight", "weight_decimals": 0},
]
PRICE_LABEL = "2112345012346"  # Käseaufschnitt, 12.34 on the label (catalog: 19.90)
WEIGHT_LABEL = "2954321012342"  # Äpfel, 1.234 kg at 2.99/kg


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"instore_codes": LAYOUTS}) as r:
        yield r


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    with running.client() as c:
        import_items(
            c,
            item("K-1", "Käseaufschnitt", 1990, vat=REDUCED, barcodes=["2112345000008"]),
            item(
                "A-1",
                "Äpfel",
                299,
                vat=REDUCED,
                unit="kg",
                fractional_quantity=True,
                barcodes=["2954321000004"],
            ),
        )
        yield c


def journal_lines(running: Running, receipt_number: int) -> list[dict[str, Any]]:
    with sqlite3.connect(running.config.database_path) as c:
        for (payload,) in c.execute("SELECT payload FROM journal WHERE kind = 'SALE_POSTED'"):
            p = json.loads(payload)
            if p["receipt_number"] == receipt_number:
                return list(p["lines"])
    raise AssertionError(f"receipt {receipt_number} not journaled")


def export_lines(pos: PosdClient) -> list[dict[str, str]]:
    close_as_expected(pos)
    z = pos.z_closing()
    return read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]["lines.csv"]


def sold_and_returned(pos: PosdClient, label: str, paid: int, quantity: str) -> int:
    """Sells ``label`` paid in cash, then returns ``quantity`` of its line and refunds the
    return in cash; the return's total (its refund, negative)."""
    sid = pos.create_sale().sale_id
    pos.scan(sid, label)
    pay(pos, sid, CASH, paid)
    done = post(pos, sid)
    ret = pos.create_sale().sale_id
    refund = call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=sid,
        original_line_id=done.lines[0].line_id,
        quantity=quantity,
    ).sale
    total = refund.total.amount_minor
    pay(pos, ret, CASH, total)
    post(pos, ret)
    return total


def on_hand(pos: PosdClient, item_id: str) -> list[Decimal]:
    levels = pos.call(pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id=item_id)).levels
    return [Decimal(lv.on_hand) for lv in levels]


def test_a_price_label_parked_resumed_posted_and_returned(
    running: Running, pos: PosdClient
) -> None:
    sid = pos.create_sale().sale_id
    pos.scan(sid, PRICE_LABEL)
    call(pos, "ParkSale", sale_id=sid)
    resumed = call(pos, "ResumeSale", sale_id=sid).sale
    (line,) = resumed.lines
    assert (line.unit_price.amount_minor, line.total.amount_minor) == (1234, 1234)
    pay(pos, sid, CASH, 1234)
    done = post(pos, sid)
    assert done.total.amount_minor == 1234
    receipt = pos.get_receipt(sale_id=sid).sale
    assert [ln.total.amount_minor for ln in receipt.lines] == [1234]
    (journaled,) = journal_lines(running, done.receipt_number)
    assert (journaled["item_id"], journaled["unit_price"], journaled["total"]) == (
        "K-1",
        1234,
        1234,
    )

    # the customer brings it back: the refund is the label's 12.34, not the catalog's 19.90
    ret = pos.create_sale().sale_id
    added = call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=sid,
        original_line_id=line.line_id,
        quantity="1",
    ).sale
    assert added.total.amount_minor == -1234
    pay(pos, ret, CASH, -1234)
    post(pos, ret)

    rows = [r for r in export_lines(pos) if r["ARTIKELTEXT"] == "Käseaufschnitt"]
    assert [(r["MENGE"], r["STK_BR"]) for r in rows] == [
        ("1,000", "12,34000"),
        ("-1,000", "12,34000"),
    ]


def test_a_price_label_in_a_chf_sale_keeps_its_euro_price(pos: PosdClient) -> None:
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
    sid = pos.create_sale().sale_id
    call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
    chf = pos.scan(sid, PRICE_LABEL).sale
    assert chf.total.amount_minor == 1172  # 12.34 EUR x 0.95 CHF/EUR = 11.723 CHF
    pay(pos, sid, CASH, 1172, currency="CHF")
    assert post(pos, sid).total_local.amount_minor == 1234
    # the currency switched back after the scan also keeps the label's price
    s2 = pos.create_sale().sale_id
    pos.scan(s2, PRICE_LABEL)
    call(pos, "SetCurrency", sale_id=s2, currency_code="CHF")
    back = call(pos, "SetCurrency", sale_id=s2, currency_code="EUR").sale
    assert back.total.amount_minor == 1234


def test_a_price_label_for_a_business_customer_costs_the_printed_gross(
    pos: PosdClient,
) -> None:
    pos.create_customer(
        customer_pb2.Customer(
            customer_number="B-1",
            name="Muster GmbH",
            company="Muster GmbH",
            street="Hauptstr. 1",
            postal_code="10115",
            city="Berlin",
            price_entry=common_pb2.PRICE_BASIS_NET,
        )
    )
    sid = pos.create_sale().sale_id
    pos.set_customer(sid, "B-1", recalculate_lines=True)
    s = pos.scan(sid, PRICE_LABEL).sale
    # the label shows the gross price the shelf shows: 12.34 gross = 11.53 net + 7 %
    assert s.total.amount_minor == 1234
    # the customer chosen after the scan: the same
    s2 = pos.create_sale().sale_id
    pos.scan(s2, PRICE_LABEL)
    assert pos.set_customer(s2, "B-1", recalculate_lines=True).total.amount_minor == 1234


def test_a_price_label_with_a_customer_discount_is_refunded_as_paid(pos: PosdClient) -> None:
    pos.create_customer(
        customer_pb2.Customer(customer_number="S-1", name="Stammkunde", discount_percent="10")
    )
    sid = pos.create_sale().sale_id
    pos.set_customer(sid, "S-1", recalculate_lines=True)
    s = pos.scan(sid, PRICE_LABEL).sale
    assert s.total.amount_minor == 1111  # 12.34 less 10 % = 11.106
    pay(pos, sid, CASH, 1111)
    done = post(pos, sid)
    ret = pos.create_sale().sale_id
    refund = call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=sid,
        original_line_id=done.lines[0].line_id,
        quantity="1",
    ).sale
    assert refund.total.amount_minor == -1111


def test_two_packs_of_one_price_label(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, PRICE_LABEL, quantity="2").sale.lines[-1]
    assert (line.quantity, line.total.amount_minor) == ("2", 2468)


def test_a_weight_label_takes_its_weight_out_of_stock(pos: PosdClient) -> None:
    import_stock(pos, catalog_pb2.StockEntry(item_id="A-1", quantity="10"))
    sid = pos.create_sale().sale_id
    assert pos.scan(sid, WEIGHT_LABEL).sale.total.amount_minor == 369
    pay(pos, sid, CASH, 369)
    post(pos, sid)
    assert on_hand(pos, "A-1") == [Decimal("8.766")]


def test_a_weight_label_returned_puts_its_weight_back(pos: PosdClient) -> None:
    import_stock(pos, catalog_pb2.StockEntry(item_id="A-1", quantity="10"))
    assert sold_and_returned(pos, WEIGHT_LABEL, 369, "1.234") == -369
    assert on_hand(pos, "A-1") == [Decimal("10")]


def test_a_weight_label_of_an_item_sold_by_the_gram(pos: PosdClient) -> None:
    import_items(
        pos,
        item(
            "G-1",
            "Safran",
            12,  # 0.12 per gram
            unit="g",
            fractional_quantity=True,
            barcodes=["2812345000007"],
        ),
    )
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, "2812345000151").sale.lines[-1]  # 15 g
    assert (line.quantity, line.unit, line.total.amount_minor) == ("15", "g", 180)


def test_a_label_whose_own_digits_are_another_item_s_barcode(pos: PosdClient) -> None:
    # the shop registered the full 13 digits for a fixed-price article: that article, at
    # its catalog price, not the label's item at 12.34
    import_items(pos, item("F-1", "Präsentkorb", 2999, barcodes=[PRICE_LABEL]))
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, PRICE_LABEL).sale.lines[-1]
    assert (line.item_id, line.total.amount_minor, line.price_overridden) == ("F-1", 2999, False)


def test_a_weight_label_on_a_unit_barcode_sells_the_printed_weight(pos: PosdClient) -> None:
    # cheese priced per kg and per 100 g; the scale's label names the 100 g unit
    per_100g = catalog_pb2.ItemUnit(
        unit="100g",
        quantity_per_unit="0.1",
        price=common_pb2.Money(amount_minor=129, currency_code="EUR"),
        fractional_quantity=True,
        barcodes=["2954322000003"],
    )
    import_items(
        pos,
        item("C-1", "Gouda", 1290, unit="kg", fractional_quantity=True, units=[per_100g]),
    )
    import_stock(pos, catalog_pb2.StockEntry(item_id="C-1", quantity="10"))
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, "2954322012341").sale.lines[-1]  # 1.234 kg printed
    # 1.234 kg = 12.34 x 100 g at 1.29 = 15.92 (= 1.234 x 12.90)
    assert (line.unit, line.quantity, line.total.amount_minor) == ("100g", "12.34", 1592)


@pytest.fixture
def verifier_running(tmp_path: Path) -> Iterator[Running]:
    layouts = [{"prefixes": ["22"], "item_digits": 4, "kind": "price", "price_check_digit": True}]
    with running_daemon(tmp_path / "state", {"instore_codes": layouts}) as r:
        yield r


def test_a_code_of_a_label_prefix_that_names_no_label_item_goes_on(
    verifier_running: Running,
) -> None:
    with verifier_running.client() as pos:
        # an item number of the shop's own numbering, in prefix 22; no item is registered
        # under the zeroed code 2212340000000, so this is no label of the catalog
        import_items(pos, item("2212345146857", "Geschenkbox", 500))
        sid = pos.create_sale().sale_id
        line = pos.scan(sid, "2212345146857").sale.lines[-1]
        assert (line.item_id, line.total.amount_minor) == ("2212345146857", 500)


def test_a_price_label_of_an_item_sold_by_the_kg_takes_the_pack_s_weight(
    pos: PosdClient,
) -> None:
    # the deli's scale prints the price of a pack of Gouda at 19.90/kg: 12.34 = 0.620 kg
    import_items(
        pos,
        item("KG", "Gouda", 1990, unit="kg", fractional_quantity=True, barcodes=["2112346000007"]),
    )
    import_stock(pos, catalog_pb2.StockEntry(item_id="KG", quantity="10"))
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, "2112346012345").sale.lines[-1]
    assert line.total.amount_minor == 1234
    pay(pos, sid, CASH, 1234)
    post(pos, sid)
    assert on_hand(pos, "KG") == [Decimal("9.380")]
    assert (line.quantity, line.unit, line.price_overridden) == ("0.62", "kg", True)


def gouda(pos: PosdClient) -> None:
    import_items(
        pos,
        item("KG", "Gouda", 1990, unit="kg", fractional_quantity=True, barcodes=["2112346000007"]),
    )
    import_stock(pos, catalog_pb2.StockEntry(item_id="KG", quantity="10"))


def test_a_kg_price_label_whose_weight_does_not_divide_evenly_costs_the_printed_price(
    running: Running, pos: PosdClient
) -> None:
    # 10.00 at 19.90/kg = 0.50251 kg: 0.503 kg, which at 19.90 would cost 10.01; the
    # customer pays the printed 10.00 (19.88/kg x 0.503 = 9.99964)
    gouda(pos)
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, "2112346010006").sale.lines[-1]
    assert (line.quantity, line.total.amount_minor) == ("0.503", 1000)
    pay(pos, sid, CASH, 1000)
    done = post(pos, sid)
    assert done.total.amount_minor == 1000
    (journaled,) = journal_lines(running, done.receipt_number)
    assert (journaled["quantity"], journaled["total"]) == ("0.503", 1000)
    assert on_hand(pos, "KG") == [Decimal("9.497")]


def test_a_kg_price_label_returned_refunds_the_printed_price_and_restocks_the_weight(
    pos: PosdClient,
) -> None:
    gouda(pos)
    # 12.34 = 0.620 kg
    assert sold_and_returned(pos, "2112346012345", 1234, "0.62") == -1234
    assert on_hand(pos, "KG") == [Decimal("10")]
    rows = [r for r in export_lines(pos) if r["ARTIKELTEXT"] == "Gouda"]
    assert [r["MENGE"] for r in rows] == ["0,620", "-0,620"]


def test_a_kg_price_label_over_a_kilogram_costs_the_printed_price(
    pos: PosdClient,
) -> None:
    # 50.02 at 19.90/kg = 2.514 kg; no price per kg in cents gives 50.02 for 2.514 kg
    # (19.89 -> 50.00, 19.90 -> 50.03): the line costs the printed price all the same
    gouda(pos)
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, "2112346050026").sale.lines[-1]
    assert (line.quantity, line.total.amount_minor) == ("2.514", 5002)


def test_a_kg_price_label_with_a_quantity_is_refused(pos: PosdClient) -> None:
    gouda(pos)
    sid = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "2112346012345", quantity="2")
    assert err.value.reason == "QUANTITY_ON_LABEL"
    assert list(pos.get_sale(sid).lines) == []


def test_a_kg_price_label_for_a_business_customer_costs_the_printed_gross(
    pos: PosdClient,
) -> None:
    import_items(
        pos,
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
    pos.create_customer(
        customer_pb2.Customer(
            customer_number="B-1",
            name="Muster GmbH",
            company="Muster GmbH",
            street="Hauptstr. 1",
            postal_code="10115",
            city="Berlin",
            price_entry=common_pb2.PRICE_BASIS_NET,
        )
    )
    sid = pos.create_sale().sale_id
    pos.set_customer(sid, "B-1", recalculate_lines=True)
    line = pos.scan(sid, "2112346012345").sale.lines[-1]
    # 12.34 gross = 11.53 net + 7 %, for 0.620 kg
    assert (line.quantity, line.total.amount_minor) == ("0.62", 1234)
