"""Scan(code): one entry field, the fixed resolution order, choices, variants and units;
the hardware scanner resolves codes the same way."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import catalog_pb2, common_pb2, device_pb2, sale_pb2, shop_pb2

from tests.conftest import Running
from tests.integration.api.test_devices_api import Stream, scan, wait_for
from tests.support.fullsale import (
    customer,
    import_customers,
    import_items,
    import_stock,
    item,
    update_shop,
)

REDUCED = common_pb2.VAT_CATEGORY_REDUCED


def seed(pos: PosdClient) -> None:
    import_customers(pos, customer("4711", "Stammkundin", email="s@example.org"))
    import_items(
        pos,
        # "4711" is also this item's barcode: the customer number wins (step 1)
        item("1001", "Kölnisch Wasser", 1299, barcodes=["4711", "1002"]),
        # "1002" is this item's number but item 1001's barcode: the barcode wins (step 2)
        item("1002", "Kaffee", 899),
        item("1003", "Milch", 119, vat=REDUCED, tracking=catalog_pb2.TRACKING_LOT),
        item("1004", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL),
        item("5000112", "Cola", 129, barcodes=["5000112999"]),
        item("5000113", "Cola Zero", 139, barcodes=["5000112999"]),
        item(
            "1005",
            "T-Shirt",
            1999,
            variants=[
                catalog_pb2.ItemVariant(variant_id="M", name="M", barcodes=["2000000000015"]),
                catalog_pb2.ItemVariant(
                    variant_id="XL",
                    name="XL",
                    price=common_pb2.Money(amount_minor=2199, currency_code="EUR"),
                ),
            ],
        ),
        item(
            "1006",
            "Wasser",
            49,
            barcodes=["4000000000020"],
            units=[
                catalog_pb2.ItemUnit(
                    unit="case",
                    quantity_per_unit="6",
                    price=common_pb2.Money(amount_minor=259, currency_code="EUR"),
                    barcodes=["4000000000037"],
                )
            ],
        ),
        item("1007", "Äpfel", 299, vat=REDUCED, unit="kg", fractional_quantity=True),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="1003", lot_number="L-47", quantity="10"),
        catalog_pb2.StockEntry(item_id="1004", serial_number="SN-1", quantity="1"),
        catalog_pb2.StockEntry(
            location_id="LAGER", item_id="1004", serial_number="SN-9", quantity="1"
        ),
    )
    update_shop(
        pos,
        discounts=[shop_pb2.ShopDiscount(code="SOMMER10", name="Sommer", percent="10")],
    )
    req = catalog_pb2.UpsertVendorRequest(
        request_id=new_request_id(),
        vendor=catalog_pb2.Vendor(
            vendor_number="V-100",
            name="Getränke Meier",
            items=[
                catalog_pb2.VendorItem(item_id="5000112", vendor_item_number="M-1"),
                catalog_pb2.VendorItem(item_id="1006", vendor_item_number="M-2"),
            ],
        ),
    )
    pos.call(pos.catalog.UpsertVendor, req)


def test_resolution_order(pos: PosdClient) -> None:
    seed(pos)
    sale = pos.create_sale()
    sid = sale.sale_id
    assert sale.customer.customer_number == "0" and sale.customer.anonymous
    # (1) customer number before barcode
    r = pos.scan(sid, "4711")
    assert r.match == sale_pb2.SCAN_MATCH_CUSTOMER
    assert r.sale.customer.customer_number == "4711" and not r.line_id
    # (2) barcode before item number
    r = pos.scan(sid, "1002")
    assert (r.match, r.sale.lines[-1].item_id) == (sale_pb2.SCAN_MATCH_BARCODE, "1001")
    assert r.sale.lines[-1].scanned_code == "1002"
    # (3) lot number
    r = pos.scan(sid, "L-47", quantity="2")
    line = r.sale.lines[-1]
    assert (r.match, line.item_id, line.lot_number, line.quantity) == (
        sale_pb2.SCAN_MATCH_LOT,
        "1003",
        "L-47",
        "2",
    )
    # (4) serial number
    r = pos.scan(sid, "SN-1")
    assert (r.match, r.sale.lines[-1].serial_number) == (sale_pb2.SCAN_MATCH_SERIAL, "SN-1")
    # (5) item number
    r = pos.scan(sid, "1007", quantity="0.333")
    assert (r.match, r.sale.lines[-1].total.amount_minor) == (sale_pb2.SCAN_MATCH_ITEM_NUMBER, 100)
    # (6) shop discount code
    r = pos.scan(sid, "SOMMER10")
    assert (r.match, r.sale.discount_code, r.sale.discount_percent) == (
        sale_pb2.SCAN_MATCH_SHOP_DISCOUNT,
        "SOMMER10",
        "10",
    )
    # (7) vendor number only when the shop allows it
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "V-100")
    assert (err.value.code, err.value.reason) == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_CODE")
    update_shop(pos, vendor_scan_allowed=True)
    r = pos.scan(sid, "V-100")
    assert (r.match, r.choice) == (sale_pb2.SCAN_MATCH_VENDOR, sale_pb2.SCAN_CHOICE_VENDOR_ITEMS)
    assert [(c.item_id, c.vendor_item_number) for c in r.candidates] == [
        ("5000112", "M-1"),
        ("1006", "M-2"),
    ]
    # unknown: nothing changes
    before = pos.get_sale(sid)
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "0000000000000")
    assert err.value.reason == "UNKNOWN_CODE"
    assert pos.get_sale(sid).revision == before.revision
    assert len(before.lines) == 4


def test_ambiguous_barcode_lists_candidates_and_adds_nothing(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    r = pos.scan(sid, "5000112999")
    assert (r.match, r.choice) == (
        sale_pb2.SCAN_MATCH_BARCODE,
        sale_pb2.SCAN_CHOICE_AMBIGUOUS_BARCODE,
    )
    assert [(c.item_id, c.name, c.unit_price.amount_minor) for c in r.candidates] == [
        ("5000112", "Cola", 129),
        ("5000113", "Cola Zero", 139),
    ]
    assert not r.line_id and len(r.sale.lines) == 0 and r.sale.revision == 0
    chosen = pos.add_line(sid, item_id=r.candidates[1].item_id)
    assert chosen.sale.lines[0].name == "Cola Zero"


def test_variants_and_units(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    r = pos.scan(sid, "1005")
    assert r.choice == sale_pb2.SCAN_CHOICE_VARIANT_REQUIRED
    assert [(c.variant_id, c.name, c.unit_price.amount_minor) for c in r.candidates] == [
        ("M", "T-Shirt, M", 1999),
        ("XL", "T-Shirt, XL", 2199),
    ]
    assert len(r.sale.lines) == 0
    with pytest.raises(PosdError) as err:
        pos.add_line(sid, item_id="1005")
    assert err.value.reason == "VARIANT_REQUIRED"
    assert err.value.metadata["variants"] == "M,XL"
    r = pos.scan(sid, "2000000000015")  # the variant's own barcode
    assert (r.sale.lines[0].variant_id, r.sale.lines[0].name) == ("M", "T-Shirt, M")
    added = pos.add_line(sid, item_id="1005", variant_id="XL")
    assert added.sale.lines[1].unit_price.amount_minor == 2199
    # a case barcode sells the case unit with its own price
    r = pos.scan(sid, "4000000000037", quantity="2")
    case = r.sale.lines[-1]
    assert (case.unit, case.quantity, case.quantity_per_unit, case.total.amount_minor) == (
        "case",
        "2",
        "6",
        518,
    )
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "4000000000020", quantity="1.5")  # pieces are whole
    assert err.value.reason == "FRACTIONAL_QUANTITY_NOT_ALLOWED"
    with pytest.raises(PosdError) as err:
        pos.add_line(sid, item_id="1006", unit="pallet")
    assert err.value.reason == "UNKNOWN_UNIT"


def test_serial_numbers_sold_or_elsewhere_are_refused(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "SN-9")  # in stock at another location
    assert err.value.reason == "SERIAL_NOT_IN_STOCK"
    with pytest.raises(PosdError) as err:
        pos.add_line(sid, item_id="1004")
    assert err.value.reason == "SERIAL_REQUIRED"
    r = pos.scan(sid, "SN-1")
    other = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(other, "SN-1")
    assert err.value.reason == "SERIAL_IN_OTHER_SALE"
    pos.add_payment(sid, common_pb2.PAYMENT_METHOD_CARD, r.sale.total.amount_minor)
    pos.post_sale(sid)
    with pytest.raises(PosdError) as err:
        pos.scan(other, "SN-1")
    assert err.value.reason == "SERIAL_ALREADY_SOLD"
    assert err.value.metadata["sale_id"] == sid
    stock = pos.call(pos.catalog.GetStock, catalog_pb2.GetStockRequest(item_id="1004")).levels
    assert [lv.on_hand for lv in stock] == ["0"]


def test_a_lot_number_must_be_one_of_the_items_lots(pos: PosdClient) -> None:
    """A lot typed with AddLine is what a recall traces: one the item never had (a typo,
    another item's lot) is refused, not sold as a phantom lot."""
    seed(pos)
    import_items(pos, item("1008", "Joghurt", 59, vat=REDUCED, tracking=catalog_pb2.TRACKING_LOT))
    import_stock(pos, catalog_pb2.StockEntry(item_id="1008", lot_number="J-1", quantity="3"))
    sid = pos.create_sale().sale_id
    for lot in ("L-48", "J-1"):  # a typo, and the yoghurt's lot for the milk
        with pytest.raises(PosdError) as err:
            pos.add_line(sid, item_id="1003", lot_number=lot)
        assert (err.value.code, err.value.reason) == (grpc.StatusCode.NOT_FOUND, "LOT_NOT_FOUND")
        assert err.value.metadata["lot_number"] == lot
    assert pos.get_sale(sid).revision == 0
    added = pos.add_line(sid, item_id="1003", lot_number="L-47", quantity="2")
    assert [(ln.item_id, ln.lot_number) for ln in added.sale.lines] == [("1003", "L-47")]


def test_a_upc_a_code_is_found_in_its_twelve_and_thirteen_digit_forms(pos: PosdClient) -> None:
    """A UPC-A code is the EAN-13 with a leading 0: scanners set to EAN-13 (usual in
    Europe) send 0036000291452 for the 036000291452 on the label, others send 12 digits,
    and the catalog holds whichever the supplier's data had."""
    import_items(
        pos,
        item("US1", "Erdnussbutter", 499, barcodes=["036000291452"]),
        item("US2", "Ahornsirup", 899, barcodes=["0012345678905"]),
    )
    sid = pos.create_sale().sale_id
    for code, item_id in (
        ("0036000291452", "US1"),
        ("036000291452", "US1"),
        ("012345678905", "US2"),
        ("0012345678905", "US2"),
    ):
        r = pos.scan(sid, code)
        assert (r.match, r.choice, r.sale.lines[-1].item_id) == (
            sale_pb2.SCAN_MATCH_BARCODE,
            sale_pb2.SCAN_CHOICE_UNSPECIFIED,
            item_id,
        )
        assert r.sale.lines[-1].scanned_code == code
    added = pos.add_line(sid, code="0036000291452")
    assert added.sale.lines[-1].item_id == "US1"
    # one item listing both forms is one barcode twice
    twice = item("US3", "Doppelt", 100, barcodes=["036000291452", "0036000291452"])
    req = catalog_pb2.UpsertItemRequest(request_id=new_request_id(), item=twice)
    with pytest.raises(PosdError) as err:
        pos.call(pos.catalog.UpsertItem, req)
    assert err.value.field_violations == [("item.barcodes", "duplicate barcode")]


def test_scan_is_idempotent(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    rid = new_request_id()
    first = pos.scan(sid, "1002", request_id=rid)
    again = pos.scan(sid, "1002", request_id=rid)
    assert first == again
    assert len(pos.get_sale(sid).lines) == 1


@pytest.fixture
def events(pos: PosdClient) -> Iterator[Stream]:
    stream = Stream(pos)
    time.sleep(0.05)  # subscribed before the test acts
    yield stream
    stream.close()


def test_the_hardware_scanner_resolves_codes_like_scan(
    running: Running, pos: PosdClient, events: Stream
) -> None:
    seed(pos)

    def scanned(code: str) -> device_pb2.ScanData:
        before = len(events.of("scan"))
        scan(running, f"{code}\r\n".encode())
        wait_for(lambda: len(events.of("scan")) > before)
        data: device_pb2.ScanData = events.of("scan")[-1].scan
        assert (data.code, data.route) == (code, device_pb2.SCAN_ROUTE_SALE)
        return data

    sid = pos.create_sale().sale_id
    # (1) a customer card: the customer number wins over item 1001's barcode "4711"
    assert scanned("4711").error_reason == ""
    sale = pos.get_sale(sid)
    assert sale.customer.customer_number == "4711" and len(sale.lines) == 0
    # (3) lot and (4) serial labels, (6) a coupon
    for code in ("L-47", "SN-1", "SOMMER10"):
        assert scanned(code).error_reason == ""
    sale = pos.get_sale(sid)
    assert [(ln.item_id, ln.lot_number, ln.serial_number) for ln in sale.lines] == [
        ("1003", "L-47", ""),
        ("1004", "", "SN-1"),
    ]
    assert (sale.discount_code, sale.discount_percent) == ("SOMMER10", "10")
    # the same sale events as the Scan RPC
    wait_for(lambda: len(events.of("sale")) >= 5)
    kinds = [e.sale.kind for e in events.of("sale")]
    assert kinds == ["created", "line_updated", "line_added", "line_added", "line_updated"]
    # a choice changes nothing; the event says which, the UI asks Scan for the list
    before = pos.get_sale(sid)
    data = scanned("5000112999")
    assert (data.sale_id, data.error_reason) == (sid, "AMBIGUOUS_BARCODE")
    assert pos.get_sale(sid).revision == before.revision
    assert len(pos.scan(sid, "5000112999").candidates) == 2
    assert scanned("0000000000000").error_reason == "UNKNOWN_CODE"


def test_a_parking_slip_scanned_with_no_sale_open_goes_to_the_ui(
    running: Running, pos: PosdClient, events: Stream
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    pos.scan(sid, "1002")
    req = sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sid)
    code = pos.call(pos.sales.ParkSale, req).sale.parking_code
    scan(running, f"{code}\r\n".encode())
    wait_for(lambda: events.of("scan"))
    data = events.of("scan")[0].scan
    # README (Devices): with no sale open a scan is for the UI; it resumes the sale as
    # the operator who takes it up
    assert (data.route, data.code, data.error_reason) == (device_pb2.SCAN_ROUTE_UI, code, "")
    assert pos.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED
    req2 = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=data.code)
    assert pos.call(pos.sales.ResumeSale, req2).sale.state == sale_pb2.SALE_STATE_OPEN
