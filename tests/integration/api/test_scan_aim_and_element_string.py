"""Codes as scanners at a UI send them, not only as printed under the bars:

* with an AIM symbology identifier before the data (ISO/IEC 15424: "]", a code
  character, a modifier; ``]E0`` for EAN-13, ``]C1`` for GS1-128), as a keyboard-wedge
  scanner set to transmit it types it into the UI: the code is what follows;
* as a GS1 element string holding the GTIN alone (AI 01 + the GTIN in 14 digits), as a
  2D or GS1-128 reader sends a GTIN: the article of that GTIN.

The scanner the daemon reads itself strips the identifier already (devices/scanning.py);
through Scan and AddLine such codes were UNKNOWN_CODE."""

from __future__ import annotations

import pytest
from posd.client import PosdClient, PosdError

from tests.support.fullsale import import_items, item


def test_a_code_with_an_aim_identifier_is_the_code_after_it(pos: PosdClient) -> None:
    import_items(pos, item("M-1", "Milch", 119, barcodes=["4006381333931"]))
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, "]E04006381333931").sale.lines[-1]
    assert (line.item_id, line.scanned_code) == ("M-1", "4006381333931")
    line = pos.add_line(sid, code="]E04006381333931").sale.lines[-1]
    assert (line.item_id, line.scanned_code) == ("M-1", "4006381333931")
    # an item number that only looks like it (no identifier: "]" and two characters of
    # which the first is no letter) is looked up as it is
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "]104006381333931")
    assert err.value.reason == "UNKNOWN_CODE"


def test_a_gs1_element_string_of_a_gtin_sells_that_article(pos: PosdClient) -> None:
    import_items(
        pos,
        item("M-1", "Milch", 119, barcodes=["4006381333931"]),
        item("K-1", "Milch, Kiste", 1190, barcodes=["14006381333938"]),
    )
    sid = pos.create_sale().sale_id
    assert pos.scan(sid, "0104006381333931").sale.lines[-1].item_id == "M-1"
    assert pos.scan(sid, "]C10114006381333938").sale.lines[-1].item_id == "K-1"
    assert pos.add_line(sid, code="0104006381333931").sale.lines[-1].item_id == "M-1"
    # a wrong check digit in the GTIN: no article, nothing added
    before = len(pos.get_sale(sid).lines)
    with pytest.raises(PosdError) as err:
        pos.scan(sid, "0104006381333932")
    assert err.value.reason == "UNKNOWN_CODE"
    assert len(pos.get_sale(sid).lines) == before


def test_a_code_of_16_digits_in_the_catalog_is_found_as_it_is(pos: PosdClient) -> None:
    # the element string is only a fallback: an item number that happens to start with 01
    import_items(pos, item("0104006381333931", "Sonderposten", 500))
    sid = pos.create_sale().sale_id
    assert pos.scan(sid, "0104006381333931").sale.lines[-1].item_id == "0104006381333931"
