"""A taxed voucher sold in a net-priced sale with a typed value: the typed value is the
voucher's face value, what the customer pays (gross), not a net price taxed on top."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import call
from tests.integration.api.test_voucher_in_net_sale import voucher_row
from tests.support.fullsale import customer, import_customers, import_items, item, money

CASH = common_pb2.PAYMENT_METHOD_CASH
NOT_TAXABLE = common_pb2.VAT_CATEGORY_NOT_TAXABLE


def net_sale(pos: PosdClient) -> str:
    sid = pos.create_sale().sale_id
    pos.set_customer(sid, "B1", recalculate_lines=False)
    return sid


def seed(pos: PosdClient) -> None:
    import_items(
        pos,
        item("SHIRT", "Hemd", 11900),
        item("GIFT19", "Einzweckgutschein", 2500, item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
        item("GIFT", "Geschenkgutschein", 2500, vat=NOT_TAXABLE,
             item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
    )  # fmt: skip
    import_customers(
        pos,
        customer("B1", "Bau GmbH", price_entry=common_pb2.PRICE_BASIS_NET, street="Hauptstr. 1",
                 postal_code="10115", city="Berlin", country_code="DE", vat_id="DE999999999"),
    )  # fmt: skip


def sell(pos: PosdClient, sid: str, code: str, voucher_code: str, amount: int) -> sale_pb2.Sale:
    return call(pos, "AddVoucherLine", sale_id=sid, code=code,  # type: ignore[no-any-return]
                action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code=voucher_code,
                amount=money(amount)).sale  # fmt: skip


def test_a_typed_single_purpose_voucher_in_a_net_sale_costs_its_face_value(
    running: Running, pos: PosdClient
) -> None:
    """A 50.00 single-purpose voucher (19 %) typed in for a business customer charged
    59.50 (50.00 taken as net, 9.50 VAT on top) and was registered as worth 59.50."""
    seed(pos)
    sid = net_sale(pos)
    s = sell(pos, sid, "GIFT19", "EZ-50", 5000)
    assert s.vat_direction == common_pb2.PRICE_BASIS_NET
    assert s.total.amount_minor == 5000
    assert s.lines[0].amount.amount_minor == 4202  # net: 42.02 + 7.98 VAT = 50.00
    call(pos, "AddPayment", sale_id=sid, method=CASH, amount=money(5000))
    done = call(pos, "PostSale", sale_id=sid).sale
    assert (done.total.amount_minor, done.change.amount_minor) == (5000, 0)
    assert voucher_row(running, "EZ-50") == ("ISSUED", 5000, 0)


def test_a_typed_voucher_beside_goods_in_a_net_sale_adds_its_face_value(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = net_sale(pos)
    pos.add_line(sid, item_id="SHIRT", quantity="1")  # 100.00 net, 119.00 gross
    s = sell(pos, sid, "GIFT19", "EZ-20", 2000)
    assert s.total.amount_minor == 11900 + 2000
    # a multi-purpose voucher is not taxable: net and gross are the same anyway
    s = sell(pos, sid, "GIFT", "MZ-30", 3000)
    assert s.total.amount_minor == 11900 + 2000 + 3000
    call(pos, "AddPayment", sale_id=sid, method=CASH, amount=money(s.total.amount_minor))
    call(pos, "PostSale", sale_id=sid)
    assert voucher_row(running, "EZ-20") == ("ISSUED", 2000, 0)
    assert voucher_row(running, "MZ-30") == ("ISSUED", 3000, 0)


def test_a_typed_value_no_net_price_gives_is_sold_a_cent_short_with_a_warning(
    running: Running, pos: PosdClient
) -> None:
    """At 19 % no net price gives 13.00 gross (10.92 -> 12.99, 10.93 -> 13.01): the
    voucher is never charged nor registered above its face value, and the sale says so."""
    seed(pos)
    sid = net_sale(pos)
    s = sell(pos, sid, "GIFT19", "EZ-13", 1300)
    assert s.total.amount_minor == 1299
    assert [w for w in s.warnings if "EZ-13" in w] == [
        "VOUCHER_VALUE_ROUNDED: voucher EZ-13: no net price at 19 % gives 13.00 EUR; sold at 12.99"
    ]
    call(pos, "AddPayment", sale_id=sid, method=CASH, amount=money(1299))
    call(pos, "PostSale", sale_id=sid)
    assert voucher_row(running, "EZ-13") == ("ISSUED", 1299, 0)
