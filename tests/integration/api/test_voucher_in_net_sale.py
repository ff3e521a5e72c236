"""A taxed voucher redeemed in a net-priced sale is worth its (gross) value."""

from __future__ import annotations

import sqlite3
from typing import Any

from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import call
from tests.support.fullsale import customer, import_customers, import_items, item, money

CASH = common_pb2.PAYMENT_METHOD_CASH


def voucher_row(running: Running, code: str) -> tuple[Any, ...]:
    with sqlite3.connect(running.config.database_path) as conn:
        row = conn.execute(
            "SELECT state, value, redeemed FROM vouchers WHERE code = ?", (code,)
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_a_single_purpose_voucher_redeemed_in_a_net_priced_sale_is_worth_its_value(
    running: Running, pos: PosdClient
) -> None:
    """A 50.00 single-purpose voucher (taxed at 19 % when sold) redeemed for a business
    customer (net prices) took 50.00 off the net, i.e. 59.50 off what the customer paid,
    and the voucher register booked 50.00: 9.50 of goods given away."""
    import_items(
        pos,
        item("SHIRT", "Hemd", 11900),
        item("GIFT19", "Einzweckgutschein", 5000, item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
    )
    import_customers(
        pos,
        customer("B1", "Bau GmbH", price_entry=common_pb2.PRICE_BASIS_NET, street="Hauptstr. 1",
                 postal_code="10115", city="Berlin", country_code="DE", vat_id="DE999999999"),
    )  # fmt: skip
    sold = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=sold, code="GIFT19",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="EZ-50")  # fmt: skip
    call(pos, "AddPayment", sale_id=sold, method=CASH, amount=money(5000))
    assert call(pos, "PostSale", sale_id=sold).sale.total.amount_minor == 5000
    assert voucher_row(running, "EZ-50") == ("ISSUED", 5000, 0)

    sid = pos.create_sale().sale_id
    pos.set_customer(sid, "B1", recalculate_lines=False)
    pos.add_line(sid, item_id="SHIRT", quantity="1")  # 100.00 net, 119.00 gross
    s = call(pos, "AddVoucherLine", sale_id=sid, code="EZ-50").sale
    assert s.vat_direction == common_pb2.PRICE_BASIS_NET
    assert s.total.amount_minor == 11900 - 5000
    assert pos.get_voucher("EZ-50").held.amount_minor == 5000  # what the open sale takes
    call(pos, "AddPayment", sale_id=sid, method=CASH, amount=money(6900))
    done = call(pos, "PostSale", sale_id=sid).sale
    assert (done.total.amount_minor, done.change.amount_minor) == (6900, 0)
    assert voucher_row(running, "EZ-50") == ("REDEEMED", 5000, 5000)
    # the storno gives the voucher its value back, no more
    call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon")
    assert voucher_row(running, "EZ-50") == ("ISSUED", 5000, 0)
    assert pos.get_voucher("EZ-50").balance.amount_minor == 5000
