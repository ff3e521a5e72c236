"""The shop's own articles under in-store EAN-13s (prefix 29, the parking slips' range
by default) are scanned as the barcodes they are registered as: every such code without
a label layout was refused PARKING_SLIP_SCANNED, as the slip of a register that does not
exist, and the article could not be sold by its label. A parking slip typed into AddLine
(code) is refused as in Scan: read as a weight label it added whatever item its digits
named. Through Scan and AddLine of the in-process daemon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2

from posd_daemon.domain.parking import ean13_check_digit
from tests.conftest import Running, running_daemon
from tests.integration.api.test_parking_slip_scanned_into_a_sale import WEIGHT, zeroed_item_code
from tests.integration.api.test_sale_part2 import call
from tests.support.fullsale import import_items, item

BREAD = "2901234567896"  # an in-store EAN-13; as a slip: register 01, number 23456789


def test_an_instore_article_code_sells_its_article(pos: PosdClient) -> None:
    import_items(pos, item("BROT", "Hausbrot", 349, barcodes=[BREAD]))
    sid = pos.create_sale().sale_id
    result = pos.scan(sid, BREAD)
    assert [(line.item_id, line.quantity) for line in result.sale.lines] == [("BROT", "1")]


@pytest.fixture
def labelled(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"instore_codes": [WEIGHT]}) as r:
        yield r


def test_a_parking_slip_given_to_add_line_is_refused(labelled: Running) -> None:
    with labelled.client() as pos:
        import_items(pos, item("T-1", "Tee", 450))
        parked = pos.create_sale().sale_id
        pos.add_line(parked, item_id="T-1")
        slip = call(pos, "ParkSale", sale_id=parked).sale.parking_code
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
        with pytest.raises(PosdError) as err:
            pos.add_line(other, code=slip)
        assert err.value.reason == "PARKING_SLIP_SCANNED"
        assert list(pos.get_sale(other).lines) == []
