"""A taxed voucher sold at its catalog price (no typed value) in a net-priced sale: the
catalog's gross price is the voucher's face value, and the customer never pays more."""

from __future__ import annotations

import pytest
from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import call
from tests.integration.api.test_voucher_in_net_sale import voucher_row
from tests.integration.api.test_voucher_sold_in_net_sale import net_sale, seed
from tests.support.fullsale import import_items, item, money

CASH = common_pb2.PAYMENT_METHOD_CASH
VOUCHER = catalog_pb2.ITEM_TYPE_VOUCHER


def sell_at_catalog_price(pos: PosdClient, sid: str, code: str, voucher_code: str) -> sale_pb2.Sale:
    return call(pos, "AddVoucherLine", sale_id=sid, code=code,  # type: ignore[no-any-return]
                action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code=voucher_code).sale  # fmt: skip


def test_a_catalog_voucher_no_net_price_gives_is_sold_a_cent_short_never_over(
    running: Running, pos: PosdClient
) -> None:
    """A 15.00 voucher (19 %) in a net-priced sale: 15.00 / 1.19 = 12.605 was rounded half
    up to a net of 12.61, whose gross is 15.01: the customer paid a cent over the face
    value. No net gives 15.00 (12.60 -> 14.99): sold at 14.99, with the warning a typed
    value gets."""
    seed(pos)
    import_items(pos, item("GIFT15", "Gutschein 15", 1500, item_type=VOUCHER))
    sid = net_sale(pos)
    s = sell_at_catalog_price(pos, sid, "GIFT15", "EZ-15")
    assert (s.total.amount_minor, s.lines[0].amount.amount_minor) == (1499, 1260)
    assert [w for w in s.warnings if "EZ-15" in w] == [
        "VOUCHER_VALUE_ROUNDED: voucher EZ-15: no net price at 19 % gives 15.00 EUR; sold at 14.99"
    ]
    call(pos, "AddPayment", sale_id=sid, method=CASH, amount=money(1499))
    call(pos, "PostSale", sale_id=sid)
    assert voucher_row(running, "EZ-15") == ("ISSUED", 1499, 0)


@pytest.mark.parametrize("price", [1500, 2500, 1300, 1, 99999])
def test_a_catalog_voucher_in_a_net_sale_never_costs_more_than_its_face_value(
    running: Running, pos: PosdClient, price: int
) -> None:
    seed(pos)
    import_items(pos, item("GIFTX", "Gutschein", price, item_type=VOUCHER))
    sid = net_sale(pos)
    s = sell_at_catalog_price(pos, sid, "GIFTX", "EZ-X")
    assert price - 1 <= s.total.amount_minor <= price


def test_a_net_priced_catalog_voucher_keeps_its_net_price(
    running: Running, pos: PosdClient
) -> None:
    """A voucher item priced net (12.61 net) is worth 15.01 gross: that is its price."""
    seed(pos)
    import_items(pos, item("GIFTN", "Gutschein netto", 1261, item_type=VOUCHER, net=True))
    sid = net_sale(pos)
    s = sell_at_catalog_price(pos, sid, "GIFTN", "EZ-N")
    assert (s.total.amount_minor, s.lines[0].amount.amount_minor) == (1501, 1261)
    assert not [w for w in s.warnings if "EZ-N" in w]
