"""Master data through the gRPC API and posctl: imports (one transaction, per-row
report, nothing half-imported), customers (duplicate e-mail, search), shops, registers,
exchange rates, stock with lots and serial numbers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import catalog_pb2, common_pb2, customer_pb2, shop_pb2

from posd_daemon.cli import posctl
from tests.conftest import Running
from tests.support.fullsale import (
    customer,
    import_items,
    import_stock,
    item,
    money,
    shop,
    update_shop,
)
from tests.support.posctl_run import posctl_args


def test_item_import_is_all_or_nothing_with_a_report_of_every_rejected_row(
    running: Running, pos: PosdClient
) -> None:
    rows = [
        item("1001", "Brot", 349, vat=common_pb2.VAT_CATEGORY_REDUCED, barcodes=["400638"]),
        item("1002", "Kaffee", 899),
        item("1003", "Falsch", 100, vat=0),  # no VAT category
        item("1004", "Franken", 100),
        item("1002", "Kaffee doppelt", 999),  # the same key twice
        item("1005", "Schraube", 10, net=True),
    ]
    rows[3].gross_price.currency_code = "CHF"
    req = catalog_pb2.ImportItemsRequest(request_id=new_request_id(), items=rows)
    summary = pos.call(pos.catalog.ImportItems, req).summary
    assert not summary.committed
    assert (summary.rows, summary.imported) == (6, 0)
    assert [(r.row, r.key, r.reason) for r in summary.rejections] == [
        (3, "1003", "INVALID_ARGUMENT"),
        (4, "1004", "CURRENCY_MISMATCH"),
        (5, "1002", "DUPLICATE_ROW"),
    ]
    assert summary.rejections[0].field == "item.vat_category"
    # nothing half-imported: not even the valid rows
    with pytest.raises(PosdError) as err:
        pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="1001"))
    assert err.value.reason == "ITEM_NOT_FOUND"
    # validate only: the same report, still nothing written
    req = catalog_pb2.ImportItemsRequest(
        request_id=new_request_id(), items=rows, validate_only=True, skip_invalid_rows=True
    )
    summary = pos.call(pos.catalog.ImportItems, req).summary
    assert (summary.committed, summary.validate_only, summary.imported) == (False, True, 3)
    # skip invalid rows: the valid ones are imported, the others reported
    req = catalog_pb2.ImportItemsRequest(
        request_id=new_request_id(), items=rows, skip_invalid_rows=True
    )
    summary = pos.call(pos.catalog.ImportItems, req).summary
    assert (summary.committed, summary.imported, summary.created) == (True, 3, 3)
    assert len(summary.rejections) == 3
    net = pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="1005")).item
    assert net.HasField("net_price") and not net.HasField("gross_price")
    # a repeat of the request changes nothing and answers the same
    again = pos.call(pos.catalog.ImportItems, req).summary
    assert again == summary
    with sqlite3.connect(running.config.database_path) as db:
        assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 3


def run_posctl(running: Running, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = posctl.main(posctl_args(running, *args))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_posctl_imports_csv_and_json_files(
    running: Running, pos: PosdClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = tmp_path / "items.csv"
    items.write_text(
        "item_id;name;gross_price;vat_category;unit;fractional;barcodes;variants;units\n"
        "2001;T-Shirt;19,99;NORMAL;pcs;;;M:Größe M|XL:Größe XL:21,99:4000000000013;\n"
        "2002;Wasser;0,49;NORMAL;pcs;;4000000000020;;case:6:2,59:no:4000000000037\n"
        "2003;Äpfel;2,99;REDUCED;kg;ja;;;\n"
        "2004;Kaputt;1,234;NORMAL;;;;;\n"  # three decimals: not an amount in EUR
        "2005;Ohne Steuer;1,00;LUXURY;;;;;\n",
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "items", str(items))
    assert code == 1
    assert "NOTHING imported" in out
    assert "line 5: PARSE_ERROR" in out
    assert "line 6: PARSE_ERROR: vat_category: 'LUXURY' is not one of" in out
    with pytest.raises(PosdError):
        pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="2001"))

    code, out = run_posctl(running, capsys, "import", "items", str(items), "--skip-invalid")
    assert code == 1, out  # rows were rejected: scripts notice
    assert "imported 3 items (3 new, 0 replaced)" in out
    shirt = pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="2001")).item
    assert [(v.variant_id, v.price.amount_minor, list(v.barcodes)) for v in shirt.variants] == [
        ("M", 0, []),
        ("XL", 2199, ["4000000000013"]),
    ]
    water = pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="2002")).item
    assert [(u.unit, u.quantity_per_unit, u.price.amount_minor) for u in water.units] == [
        ("case", "6", 259)
    ]

    customers = tmp_path / "customers.json"
    customers.write_text(
        json.dumps(
            [
                {"customerNumber": "K100", "name": "Erika Muster", "email": "erika@example.org"},
                {
                    "customerNumber": "K200",
                    "name": "Bau GmbH",
                    "priceEntry": "PRICE_BASIS_NET",
                    "street": "Hauptstr. 1",
                    "postalCode": "10115",
                    "city": "Berlin",
                },
                {"customerNumber": "K300", "name": "Kaputt", "email": "not-an-address"},
            ]
        ),
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "customers", str(customers))
    assert code == 1
    assert "entry 3 [K300]: INVALID_EMAIL" in out
    assert "NOTHING imported" in out
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "posd_daemon.cli.posctl",
            *posctl_args(running, socket=False),
            "--json",
            "import",
            "customers",
            str(customers),
            "--skip-invalid",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # one row was rejected
    report = json.loads(proc.stdout)
    assert report["committed"] is True
    assert report["summary"]["imported"] == 2


def test_customers_duplicate_email_needs_confirmation_and_search(pos: PosdClient) -> None:
    first = pos.create_customer(
        customer("", "Erika Mustermann", email="Erika@Example.org", company="Muster KG")
    )
    assert first.created
    number = first.customer.customer_number
    assert number.startswith("C")
    dup = pos.create_customer(customer("", "E. Mustermann", email=" erika@example.ORG "))
    assert not dup.created
    assert [c.customer_number for c in dup.duplicates] == [number]
    assert not dup.HasField("customer")
    confirmed = pos.create_customer(
        customer("", "E. Mustermann", email="erika@example.org"), allow_duplicate_email=True
    )
    assert confirmed.created
    assert confirmed.customer.customer_number != number
    pos.create_customer(customer("B1", "Hans Bau", company="Bau GmbH", email="info@bau.de"))
    by_name = [c.customer_number for c in pos.search_customers("mustermann")]
    assert by_name == sorted([number, confirmed.customer.customer_number])
    assert [c.customer_number for c in pos.search_customers("muster kg")] == [number]
    assert [c.customer_number for c in pos.search_customers("BAU.DE")] == ["B1"]
    assert [c.customer_number for c in pos.search_customers("100%_")] == []
    with pytest.raises(PosdError) as err:
        pos.create_customer(customer("B1", "Zweiter"))
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert err.value.reason == "CUSTOMER_NUMBER_TAKEN"


def test_shop_register_and_rates(running: Running, pos: PosdClient) -> None:
    s = shop(pos)
    assert (s.shop_id, s.currency_code, s.default_customer_number) == ("SHOP-1", "EUR", "0")
    assert s.simplified_invoice_limit.amount_minor == 25_000
    anonymous = pos.call(
        pos.customers.GetCustomer, customer_pb2.GetCustomerRequest(customer_number="0")
    ).customer
    assert anonymous.anonymous
    updated = update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9412")],
        discounts=[shop_pb2.ShopDiscount(code="SOMMER10", name="Sommer", percent="10")],
        role_discount_limits=[shop_pb2.DiscountLimit(key="cashier", percent="5")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="CHF", increment_minor=5)],
        vat_rounding=shop_pb2.VAT_ROUNDING_LINE,
    )
    assert updated.fixed_rates[0].rate == "0.9412"
    assert shop(pos) == updated
    with pytest.raises(PosdError) as err:
        update_shop(pos, currency_code="CHF")
    assert err.value.reason == "CURRENCY_MISMATCH"
    with running.client("2", "0000") as cashier, pytest.raises(PosdError) as err:
        update_shop(cashier, name="Kassierer-Laden")
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert err.value.metadata["permission"] == "OPERATOR_MANAGE"
    rates = shop_pb2.ImportExchangeRatesRequest(
        request_id=new_request_id(),
        rates=[
            shop_pb2.ExchangeRate(
                base_currency_code="EUR", currency_code="USD", date="2026-11-20", rate="1.0832"
            ),
            shop_pb2.ExchangeRate(
                base_currency_code="EUR", currency_code="USD", date="gestern", rate="1"
            ),
        ],
        skip_invalid_rows=True,
    )
    summary = pos.call(pos.shops.ImportExchangeRates, rates).summary
    assert (summary.imported, [r.reason for r in summary.rejections]) == (1, ["INVALID_DATE"])


def test_stock_with_lots_and_serial_numbers(pos: PosdClient) -> None:
    import_items(
        pos,
        item(
            "3001",
            "Milch",
            119,
            vat=common_pb2.VAT_CATEGORY_REDUCED,
            tracking=catalog_pb2.TRACKING_LOT,
        ),
        item("3002", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL),
        item("3003", "Beratung", 5000, item_type=catalog_pb2.ITEM_TYPE_SERVICE),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(
            item_id="3001", lot_number="L-2026-47", quantity="24", expiry_date="2026-12-01"
        ),
        catalog_pb2.StockEntry(item_id="3001", lot_number="L-2026-48", quantity="12"),
        catalog_pb2.StockEntry(item_id="3002", serial_number="SN-A", quantity="1"),
        catalog_pb2.StockEntry(item_id="3002", serial_number="SN-B", quantity="1"),
        catalog_pb2.StockEntry(
            location_id="LAGER", item_id="3002", serial_number="SN-C", quantity="1"
        ),
    )
    levels = pos.call(pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id="3001")).levels
    assert [(lv.lot_number, lv.on_hand, lv.available) for lv in levels] == [
        ("L-2026-47", "24", "24"),
        ("L-2026-48", "12", "12"),
    ]
    phones = pos.call(pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id="3002")).levels
    assert [(lv.location_id, lv.on_hand) for lv in phones] == [("MAIN", "2")]
    bad = catalog_pb2.ImportStockRequest(
        request_id=new_request_id(),
        entries=[
            catalog_pb2.StockEntry(item_id="3001", quantity="5"),  # lot missing
            catalog_pb2.StockEntry(item_id="3002", serial_number="SN-D", quantity="2"),
            catalog_pb2.StockEntry(item_id="3003", quantity="1"),  # a service
            catalog_pb2.StockEntry(item_id="nope", quantity="1"),
            catalog_pb2.StockEntry(item_id="3001", lot_number="L1", quantity="1.0001"),
        ],
    )
    summary = pos.call(pos.catalog.ImportStock, bad).summary
    assert not summary.committed
    assert [r.reason for r in summary.rejections] == [
        "LOT_REQUIRED",
        "INVALID_QUANTITY",
        "NOT_STOCKED",
        "ITEM_NOT_FOUND",
        "INVALID_QUANTITY",
    ]


def test_vendors(pos: PosdClient) -> None:
    import_items(pos, item("4001", "Schraube M4", 10), item("4002", "Mutter M4", 8))
    req = catalog_pb2.UpsertVendorRequest(
        request_id=new_request_id(),
        vendor=catalog_pb2.Vendor(
            vendor_number="V-WUERTH",
            name="Würth",
            items=[
                catalog_pb2.VendorItem(item_id="4001", vendor_item_number="0057 4 16"),
                catalog_pb2.VendorItem(item_id="4002", vendor_item_number="0317 4"),
            ],
        ),
    )
    assert pos.call(pos.catalog.UpsertVendor, req).created
    got = pos.call(pos.catalog.GetVendor, catalog_pb2.GetVendorRequest(vendor_number="V-WUERTH"))
    assert [i.item_id for i in got.vendor.items] == ["4001", "4002"]
    bad = catalog_pb2.ImportVendorsRequest(
        request_id=new_request_id(),
        vendors=[
            catalog_pb2.Vendor(
                vendor_number="V2", name="X", items=[catalog_pb2.VendorItem(item_id="nope")]
            )
        ],
    )
    summary = pos.call(pos.catalog.ImportVendors, bad).summary
    assert [(r.reason, r.field) for r in summary.rejections] == [
        ("ITEM_NOT_FOUND", "vendor.items[0].item_id")
    ]


def test_money_is_never_a_float_in_imports(pos: PosdClient) -> None:
    rows = [item("5001", "Teuer", 0)]
    rows[0].gross_price.CopyFrom(money(10**13 + 1))
    req = catalog_pb2.ImportItemsRequest(request_id=new_request_id(), items=rows)
    summary = pos.call(pos.catalog.ImportItems, req).summary
    assert [r.field for r in summary.rejections] == ["item.gross_price.amount_minor"]


def upsert_item(pos: PosdClient, msg: catalog_pb2.Item) -> catalog_pb2.UpsertItemResponse:
    req = catalog_pb2.UpsertItemRequest(request_id=new_request_id(), item=msg)
    return pos.call(pos.catalog.UpsertItem, req)


@pytest.mark.parametrize("factor", ["1e30", "-1e30", "1e-30"])
def test_an_absurd_unit_factor_is_a_clear_error_not_an_internal_one(
    pos: PosdClient, factor: str
) -> None:
    unit = catalog_pb2.ItemUnit(unit="big", quantity_per_unit=factor)
    with pytest.raises(PosdError) as err:
        upsert_item(pos, item("X1", "Kiste", 100, units=[unit]))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in err.value.field_violations] == ["item.units[0].quantity_per_unit"]
    with pytest.raises(PosdError) as err:
        pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="X1"))
    assert err.value.reason == "ITEM_NOT_FOUND"


def test_a_unit_whose_derived_price_is_no_whole_cent_needs_its_own_price(pos: PosdClient) -> None:
    """500 g of cheese at 29.90/kg is 14.95: a gram priced 0.0299 rounded to 0.03 would
    make it 15.00, and a gram of apples at 2.49/kg (0.00249) would cost nothing."""
    pos.ensure_shift()
    gram = catalog_pb2.ItemUnit(unit="g", quantity_per_unit="0.001", fractional_quantity=True)
    cheese = item("CHEESE", "Käse", 2990, unit="kg", fractional_quantity=True, units=[gram])
    with pytest.raises(PosdError) as err:
        upsert_item(pos, cheese)
    assert err.value.reason == "UNIT_PRICE_REQUIRED"
    assert [f for f, _ in err.value.field_violations] == ["item.units[0].price"]
    # a variant whose own price does not divide either
    half = catalog_pb2.ItemUnit(unit="half", quantity_per_unit="0.5")
    shirt = item(
        "SHIRT",
        "Hemd",
        2000,
        units=[half],
        variants=[
            catalog_pb2.ItemVariant(variant_id="S", name="S"),
            catalog_pb2.ItemVariant(variant_id="XL", name="XL", price=money(2199)),
        ],
    )
    with pytest.raises(PosdError) as err:
        upsert_item(pos, shirt)
    assert err.value.reason == "UNIT_PRICE_REQUIRED"
    assert [f for f, _ in err.value.field_violations] == ["item.units[0].price"]
    # with its own price, or a factor that gives whole cents, it is sold as priced
    cheese.units[0].price.CopyFrom(money(3))
    upsert_item(pos, cheese)
    shirt.variants[1].price.CopyFrom(money(2198))
    upsert_item(pos, shirt)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="CHEESE", unit="g", quantity="500")
    pos.add_line(sid, item_id="SHIRT", variant_id="XL", unit="half")
    sale = pos.get_sale(sid)
    assert [ln.amount.amount_minor for ln in sale.lines] == [1500, 1099]


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("item.barcodes[1]", "4006381333932"),  # EAN-13, last digit mistyped (…931)
        ("item.barcodes[1]", "96385073"),  # EAN-8 (…074)
        ("item.barcodes[1]", "036000291453"),  # UPC-A (…452)
        ("item.variants[0].barcodes[0]", "4006381333913"),
        ("item.units[0].barcodes[0]", "5901234123458"),
    ],
)
def test_a_gtin_with_a_wrong_check_digit_is_refused(pos: PosdClient, where: str, code: str) -> None:
    """A mistyped EAN in the master data could never be scanned: the label carries the
    right one, and the scanner refuses a code whose check digit is wrong."""
    msg = item(
        "G1",
        "Artikel",
        100,
        barcodes=["4006381333931", code if where == "item.barcodes[1]" else "96385074"],
        variants=[
            catalog_pb2.ItemVariant(
                variant_id="A",
                name="A",
                barcodes=[code if where.startswith("item.variants") else "ABC-1"],
            )
        ],
        units=[
            catalog_pb2.ItemUnit(
                unit="case",
                quantity_per_unit="6",
                barcodes=[code if where.startswith("item.units") else "5901234123457"],
            )
        ],
    )
    with pytest.raises(PosdError) as err:
        upsert_item(pos, msg)
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_CHECK_DIGIT",
    )
    assert [f for f, _ in err.value.field_violations] == [where]
    with pytest.raises(PosdError) as err:
        pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="G1"))
    assert err.value.reason == "ITEM_NOT_FOUND"
