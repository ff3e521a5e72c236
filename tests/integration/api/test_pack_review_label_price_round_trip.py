"""At the real daemon: a piece sold by its price label (1.30 on the label, 19.90 in the
catalog) costs the printed price after the sale went to francs and back, and after a
business customer (net prices) was set on it and taken off again, as a weighed pack and
a catalog line do. Converted from the last terms' rounded price each time, it cost 1.31
after francs (1.30 x 0.95 = 1.235 -> 1.24 CHF -> 1.3053 EUR), 1.29 after net prices
(1.30 / 1.07 = 1.2150 -> 1.21 net -> 1.2947 gross), and the TSE signed that."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2, shop_pb2

from tests.conftest import running_daemon
from tests.integration.api.test_sale_part2 import call, pay, post
from tests.support.fullsale import customer, import_customers, import_items, item, update_shop

REDUCED = common_pb2.VAT_CATEGORY_REDUCED
CASH = common_pb2.PAYMENT_METHOD_CASH
LAYOUTS = {"instore_codes": [{"prefixes": ["21"], "item_digits": 5, "kind": "price"}]}
LABEL_1_30 = "2112345001302"  # Käseaufschnitt, 1.30 on the label (catalog: 19.90)


@pytest.fixture
def pos(tmp_path: Path) -> Iterator[PosdClient]:
    with running_daemon(tmp_path / "state", LAYOUTS) as running, running.client() as c:
        import_items(
            c, item("K-1", "Käseaufschnitt", 1990, vat=REDUCED, barcodes=["2112345000008"])
        )
        update_shop(c, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
        yield c


def test_a_label_s_price_after_francs_and_back_is_the_printed_price(pos: PosdClient) -> None:
    sid = pos.create_sale().sale_id
    pos.scan(sid, LABEL_1_30)
    chf = call(pos, "SetCurrency", sale_id=sid, currency_code="CHF").sale
    assert chf.total.amount_minor == 124  # 1.235 CHF
    eur = call(pos, "SetCurrency", sale_id=sid, currency_code="EUR").sale
    assert eur.total.amount_minor == 130
    pay(pos, sid, CASH, 130)
    done = post(pos, sid)
    assert done.total.amount_minor == 130
    assert done.tse.process_data == "Beleg^0.00_1.30_0.00_0.00_0.00^1.30:Bar"


def test_a_label_s_price_after_a_business_customer_came_and_went(pos: PosdClient) -> None:
    import_customers(
        pos,
        customer("B1", "Bau GmbH", price_entry=common_pb2.PRICE_BASIS_NET, street="Hauptstr. 1",
                 postal_code="10115", city="Berlin", country_code="DE", vat_id="DE999999999"),
    )  # fmt: skip
    sid = pos.create_sale().sale_id
    pos.scan(sid, LABEL_1_30)
    net = call(pos, "SetCustomer", sale_id=sid, customer_number="B1", recalculate_lines=True)
    # the label's 1.30 gross at 7 %, net: 1.2150 -> 1.21 (and 0.08 tax: 1.29 in all)
    assert net.sale.lines[0].unit_price.amount_minor == 121
    back = call(pos, "SetCustomer", sale_id=sid, customer_number="", recalculate_lines=True)
    assert (back.sale.lines[0].unit_price.amount_minor, back.sale.total.amount_minor) == (
        130,
        130,
    )
