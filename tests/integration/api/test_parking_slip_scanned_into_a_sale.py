"""A parking slip scanned into another open sale is refused as what it is. Its EAN-13 is
in an in-store range (prefix 29 by default), which the shop's scale labels may use too:
read as a weight label, the slip added whatever item its digits named, at a "weight"
made of its parking number. The cashier is told to finish or park the open sale and
resume the slip; nothing is added, and the slip still resumes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from posd.client import PosdError
from posd.v1 import common_pb2

from posd_daemon.domain.barcode import LabelKind, LabelLayout, read_label
from posd_daemon.domain.parking import ean13_check_digit
from tests.conftest import Running, running_daemon
from tests.integration.api.test_sale_part2 import call
from tests.support.fullsale import import_items, item

WEIGHT = {"prefixes": ["29"], "item_digits": 5, "kind": "weight", "weight_decimals": 3}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"instore_codes": [WEIGHT]}) as r:
        yield r


def zeroed_item_code(code: str) -> str:
    layout = LabelLayout(prefixes=("29",), item_digits=5, kind=LabelKind.WEIGHT, weight_decimals=3)
    label = read_label(code, (layout,))
    assert label is not None  # the slip's code is also a well-formed weight label
    return label.item_code


def test_a_parking_slip_scanned_into_an_open_sale_is_refused_and_still_resumes(
    running: Running,
) -> None:
    with running.client() as pos:
        import_items(pos, item("T-1", "Tee", 450))
        parked = pos.create_sale().sale_id
        pos.add_line(parked, item_id="T-1")
        slip = call(pos, "ParkSale", sale_id=parked).sale.parking_code
        assert slip.startswith("29") and len(slip) == 13
        # an item registered under the code the slip's digits name as a weight label
        twelve = zeroed_item_code(slip)[:12]
        import_items(
            pos,
            item(
                "K-9",
                "Käse lose",
                1990,
                vat=common_pb2.VAT_CATEGORY_REDUCED,
                unit="kg",
                fractional_quantity=True,
                barcodes=[twelve + str(ean13_check_digit(twelve))],
            ),
        )
        other = pos.create_sale().sale_id
        pos.add_line(other, item_id="T-1")
        with pytest.raises(PosdError) as err:
            pos.scan(other, slip)
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "PARKING_SLIP_SCANNED",
        )
        assert "ResumeSale" in err.value.message or "resume" in err.value.message
        assert [line.item_id for line in pos.get_sale(other).lines] == ["T-1"]
        # the same with the scanner's symbology identifier in front
        with pytest.raises(PosdError) as err:
            pos.scan(other, "]E0" + slip)
        assert err.value.reason == "PARKING_SLIP_SCANNED"
        pos.cancel_sale(other, "Kunde geht")
        resumed = call(pos, "ResumeSale", code=slip).sale
        assert resumed.sale_id == parked
        assert [line.item_id for line in resumed.lines] == ["T-1"]


def test_a_code128_slip_is_refused_too(running: Running) -> None:
    with running.client() as pos:
        import_items(pos, item("T-1", "Tee", 450))
        sid = pos.create_sale().sale_id
        pos.add_line(sid, item_id="T-1")
        with pytest.raises(PosdError) as err:
            pos.scan(sid, "P0100000001")
        assert err.value.reason == "PARKING_SLIP_SCANNED"
        assert [line.item_id for line in pos.get_sale(sid).lines] == ["T-1"]


def test_a_scale_label_that_reads_like_another_register_s_slip_sells_its_item(
    running: Running,
) -> None:
    """The shop's weight labels use the parking prefix 29 too: a label whose digits are
    also a well-formed slip of no sale here sells its item, as before."""
    label = "2954321012342"  # 1.234 kg of item 54321; as a slip: register 54, number 32101234
    with running.client() as pos:
        import_items(
            pos,
            item(
                "A-1",
                "Äpfel",
                299,
                vat=common_pb2.VAT_CATEGORY_REDUCED,
                unit="kg",
                fractional_quantity=True,
                barcodes=["2954321000004"],
            ),
        )
        sid = pos.create_sale().sale_id
        pos.scan(sid, label)
        (line,) = pos.get_sale(sid).lines
        assert (line.item_id, line.quantity) == ("A-1", "1.234")
