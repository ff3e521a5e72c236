"""The operator's discount limit bounds what a line gets off in total: its own discount,
its share of the sale (document) discount and the shop discounts on it (by percent, and
its share of those by amount) together. Before, each kind was checked alone, so a
supervisor limited to 10 % gave 10 % on a line and 10 % on the sale: 19 % off."""

from __future__ import annotations

from pathlib import Path

from posd.v1 import shop_pb2

from tests.integration.api.test_sale_part2 import call, error, money, sale_of, seed
from tests.support.fullsale import (
    SUPERVISOR_PIN,
    customer,
    import_customers,
    register,
    update_shop,
)


def test_a_line_and_a_sale_discount_together_stay_within_the_limit(tmp_path: Path) -> None:
    with register(tmp_path / "s") as (running, _):
        with running.client() as manager:
            seed(manager)
            update_shop(
                manager,
                role_discount_limits=[shop_pb2.DiscountLimit(key="supervisor", percent="10")],
            )
            sid = sale_of(manager, ("TV", "1"), ("COFFEE", "1"))
            other = sale_of(manager, ("TV", "1"))
        with running.client("3", SUPERVISOR_PIN) as sup:
            call(sup, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="10")
            e = error(call, sup, "SetSaleDiscount", sale_id=sid, discount_percent="10")
            assert e.reason == "DISCOUNT_LIMIT_EXCEEDED"
            assert e.metadata["limit_percent"] == "10"
            assert e.metadata["line_id"] == "1"
            assert e.metadata["given_percent"] == "10"
            assert e.metadata["requested_percent"] == "19"
            assert "10 %" in e.message and "19 %" in e.message
            sale = sup.get_sale(sid)  # nothing changed
            assert sale.discount_percent in ("", "0")
            assert sale.total.amount_minor == 9000 + 899
            # the other order: the sale discount first, then the line's
            call(sup, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="0")
            call(sup, "SetSaleDiscount", sale_id=sid, discount_percent="10")
            e = error(call, sup, "SetLineDiscount", sale_id=sid, line_id="2", discount_percent="1")
            assert e.reason == "DISCOUNT_LIMIT_EXCEEDED"
            # a shop discount on the line, by percent or by amount, counts as well
            e = error(call, sup, "AddDiscountLine", sale_id=sid, percent="1", line_ids=["1"])
            assert e.reason == "DISCOUNT_LIMIT_EXCEEDED"
            e = error(call, sup, "AddDiscountLine", sale_id=sid, amount=money(100), name="x")
            assert e.reason == "DISCOUNT_LIMIT_EXCEEDED"
            assert sup.get_sale(sid).total.amount_minor == 9000 + 809  # 10 % off each
            # within the limit together: 5 % and 5 % of the rest is 9.75 %
            call(sup, "SetSaleDiscount", sale_id=sid, discount_percent="5")
            call(sup, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="5")
            # lowering a discount is always allowed
            call(sup, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="0")

            call(sup, "SetLineDiscount", sale_id=other, line_id="1", discount_percent="6")
            e = error(call, sup, "AddDiscountLine", sale_id=other, amount=money(500), name="x")
            assert e.reason == "DISCOUNT_LIMIT_EXCEEDED"  # 6 % and 5.32 % of the rest
            call(sup, "AddDiscountLine", sale_id=other, amount=money(376), name="x")  # 4 %
            assert sup.get_sale(other).total.amount_minor == 9400 - 376
        with running.client() as manager:  # a manager (no limit) may give more
            call(manager, "SetSaleDiscount", sale_id=sid, discount_percent="10")
            call(manager, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="10")
            assert manager.get_sale(sid).total.amount_minor == 8100 + 809


def test_a_customers_standing_discount_and_a_shop_code_do_not_count(tmp_path: Path) -> None:
    """Master data gives a customer's discount and the shop's codes theirs: not the
    operator's, as before; the operator's own discount on top is checked alone."""
    with register(tmp_path / "s") as (running, _):
        with running.client() as manager:
            seed(manager)
            import_customers(manager, customer("K3", "Stammkunde", discount_percent="20"))
            update_shop(
                manager,
                role_discount_limits=[shop_pb2.DiscountLimit(key="supervisor", percent="10")],
                discounts=[shop_pb2.ShopDiscount(code="SOMMER10", name="Sommer", percent="10")],
            )
            sid = sale_of(manager, ("TV", "1"))
            manager.set_customer(sid, "K3", recalculate_lines=True)
            coded = sale_of(manager, ("TV", "1"))
            manager.scan(coded, "SOMMER10")
        with running.client("3", SUPERVISOR_PIN) as sup:
            # 20 % of the customer's and 10 % of the operator's on the rest
            sale = call(sup, "SetSaleDiscount", sale_id=sid, discount_percent="10").sale
            assert sale.total.amount_minor == 7200
            # 10 % of the code's and 10 % of the operator's on the line
            call(sup, "SetLineDiscount", sale_id=coded, line_id="1", discount_percent="10")
            assert sup.get_sale(coded).total.amount_minor == 8100
