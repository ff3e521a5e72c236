"""A GS1 element string (GS1 DataMatrix / GS1-128 on the pack, AI 01 first) carrying
more than the GTIN sells its article with what it carries: the lot (10) or serial (21)
of a tracked item, the expiry date (17) checked as a lot's, the net weight (310n) as
the quantity, the price (392n) as a price label's. Before, any such code matched
nothing (UNKNOWN_CODE). Through Scan and AddLine of the in-process daemon."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import call
from tests.support.fullsale import import_items, import_stock, item

CHEESE_GTIN = "04000000000020"  # GTIN-13 4000000000020 in 14 digits
MILK_GTIN = "04006381333931"
PHONE_GTIN = "04000000000037"


def yymmdd(day: date) -> str:
    return day.strftime("%y%m%d")


def seed(pos: PosdClient) -> None:
    import_items(
        pos,
        item("MILK", "Milch", 119, barcodes=[MILK_GTIN[1:]], tracking=catalog_pb2.TRACKING_LOT),
        item("SOAP", "Seife", 250, barcodes=["4006381333948"]),
        item(
            "CHEESE",
            "Gouda",
            1290,
            barcodes=[CHEESE_GTIN[1:]],
            unit="kg",
            fractional_quantity=True,
        ),
        item(
            "PHONE",
            "Telefon",
            19900,
            barcodes=[PHONE_GTIN[1:]],
            tracking=catalog_pb2.TRACKING_SERIAL,
        ),
    )
    import_stock(
        pos,
        catalog_pb2.StockEntry(item_id="MILK", lot_number="L47", quantity="10"),
        catalog_pb2.StockEntry(item_id="PHONE", serial_number="SN7", quantity="1"),
    )


def test_a_lot_tracked_items_code_sells_its_lot(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    later = yymmdd(date.today() + timedelta(days=30))
    line = pos.scan(sid, f"01{MILK_GTIN}17{later}10L47").sale.lines[-1]
    assert (line.item_id, line.lot_number) == ("MILK", "L47")
    line = pos.add_line(sid, code=f"01{MILK_GTIN}10L47").sale.lines[-1]
    assert (line.item_id, line.lot_number) == ("MILK", "L47")
    # a lot the request names must be the code's
    with pytest.raises(PosdError) as err:
        pos.add_line(sid, code=f"01{MILK_GTIN}10L47", lot_number="L48")
    assert err.value.reason == "CODE_MISMATCH"


def test_a_serial_items_code_sells_its_serial(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, f"01{PHONE_GTIN}21SN7").sale.lines[-1]
    assert (line.item_id, line.serial_number) == ("PHONE", "SN7")


def test_an_untracked_items_pack_code_sells_it_without_a_lot(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    later = yymmdd(date.today() + timedelta(days=30))
    line = pos.scan(sid, f"010400638133394817{later}10X1").sale.lines[-1]
    assert (line.item_id, line.lot_number, line.quantity) == ("SOAP", "", "1")


def test_a_weight_is_the_quantity_and_a_price_the_labels(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    weighed = pos.scan(sid, f"01{CHEESE_GTIN}3103001250").sale.lines[-1]
    assert (weighed.item_id, weighed.quantity) == ("CHEESE", "1.25")
    assert weighed.total.amount_minor == 1613  # 1.25 kg x 12.90, half up
    priced = pos.scan(sid, f"01{CHEESE_GTIN}3103001250392201599").sale.lines[-1]
    assert priced.item_id == "CHEESE" and priced.price_from_label
    assert priced.total.amount_minor == 1599  # the pack's printed price


def test_an_expired_code_is_refused_to_a_cashier_and_changes_nothing(
    running: Running,
) -> None:
    with running.client() as manager:
        seed(manager)
    with running.client("2", "0000") as cashier:
        sid = cashier.create_sale().sale_id
        gone = yymmdd(date.today() - timedelta(days=2))
        with pytest.raises(PosdError) as err:
            cashier.scan(sid, f"010400638133394817{gone}10X1")
        assert err.value.reason == "LOT_EXPIRED"
        assert list(cashier.get_sale(sid).lines) == []


def test_a_malformed_element_string_is_refused_clearly(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    for bad in (f"01{MILK_GTIN}17261399", f"01{MILK_GTIN}99ABC", f"01{MILK_GTIN}3103"):
        with pytest.raises(PosdError) as err:
            pos.scan(sid, bad)
        assert err.value.reason == "INVALID_ELEMENT_STRING", bad
    assert list(pos.get_sale(sid).lines) == []


def test_a_serial_on_a_parked_sale_is_not_sold_in_another(pos: PosdClient) -> None:
    seed(pos)
    parked = pos.create_sale().sale_id
    pos.scan(parked, f"01{PHONE_GTIN}21SN7")
    call(pos, "ParkSale", sale_id=parked)
    other = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(other, "SN7")
    assert err.value.reason == "SERIAL_IN_OTHER_SALE"
    assert "parked sale" in str(err.value)
    assert list(pos.get_sale(other).lines) == []
