"""GS1 element strings with a group separator (GS, 0x1D: FNC1 ending a variable-length
field, GS1 General Specifications 7.8.6), as a GS1 DataMatrix or GS1-128 scanner
transmits them: a lot followed by an expiry date, a serial and a lot on one pack (EU
FMD medicine packs carry GTIN, serial, lot and expiry; 70 characters and more). Before,
every such scan was refused as control characters (CONTROL_CHARACTERS at the scanner,
INVALID_ARGUMENT at Scan), so only codes with the lot last could be sold. A GS is still
refused in anything that is no element string, and so is a code over 64 characters."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2

from tests.conftest import Running
from tests.integration.api.test_devices_api import scan, wait_for
from tests.integration.api.test_scan_gs1_element_string_fields import MILK_GTIN, PHONE_GTIN, seed
from tests.support.fullsale import import_items, import_stock, item

GS = "\x1d"
MED_GTIN = "04000000000044"
SERIAL = "SN0123456789ABCDEFGH"  # 20 characters, the most AI (21) takes
LOT = "LOT-0123456789ABCDEF"  # 20 characters
# (01) GTIN, (21) serial, GS, (10) lot, GS, (17) expiry: 70 characters
MED_CODE = f"01{MED_GTIN}21{SERIAL}{GS}10{LOT}{GS}17301231"


def seed_medicine(pos: PosdClient) -> None:
    import_items(
        pos,
        item(
            "MED",
            "Ibuprofen 400",
            595,
            barcodes=[MED_GTIN[1:]],
            tracking=catalog_pb2.TRACKING_SERIAL,
        ),
    )
    import_stock(pos, catalog_pb2.StockEntry(item_id="MED", serial_number=SERIAL, quantity="1"))


def test_a_lot_before_an_expiry_date_sells_through_scan_and_add_line(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, f"01{MILK_GTIN}10L47{GS}17301231").sale.lines[-1]
    assert (line.item_id, line.lot_number) == ("MILK", "L47")
    line = pos.add_line(sid, code=f"{GS}01{MILK_GTIN}10L47{GS}17301231").sale.lines[-1]
    assert (line.item_id, line.lot_number) == ("MILK", "L47")


def test_a_medicine_pack_code_of_70_characters_sells_its_serial(pos: PosdClient) -> None:
    seed_medicine(pos)
    assert len(MED_CODE) == 70
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, f"]d2{MED_CODE}").sale.lines[-1]
    assert (line.item_id, line.serial_number) == ("MED", SERIAL)


@pytest.mark.parametrize(
    "code",
    [
        f"4006381333931{GS}",  # an EAN with a GS: no element string
        f"L47{GS}17301231",
        f"01{PHONE_GTIN}21SN7{GS}{GS}17301231",  # two in a row
        "4" * 65,  # over 64 characters and no element string
    ],
)
def test_a_separator_or_a_long_code_outside_an_element_string_is_refused(
    pos: PosdClient, code: str
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(sid, code)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert pos.get_sale(sid).lines == []


def test_the_scanner_passes_the_separators_on(running: Running, pos: PosdClient) -> None:
    seed_medicine(pos)
    sid = pos.create_sale().sale_id
    scan(running, f"]d2{MED_CODE}\r\n".encode("ascii"))
    wait_for(lambda: len(pos.get_sale(sid).lines) == 1)
    (line,) = pos.get_sale(sid).lines
    assert (line.item_id, line.serial_number) == ("MED", SERIAL)
