"""Vouchers and shop discounts as a demanding shop meets them: a line discounted once per
shop discount, a voucher's balance given back exactly once."""

from __future__ import annotations

from pathlib import Path

from posd.client import PosdClient
from posd.v1 import shop_pb2

from posd_daemon.ops import crashpoints
from tests.conftest import Running
from tests.integration.api.test_sale_part2 import (
    call,
    error,
    money,
    post,
    rows,
    sale_of,
    seed,
    sell_voucher,
)
from tests.support.fullsale import SUPERVISOR_PIN, register, update_shop

VOUCHER = "SELECT state, value, redeemed FROM vouchers WHERE code = ?"


def test_a_line_named_twice_in_one_percent_discount_is_discounted_once(
    running: Running, pos: PosdClient
) -> None:
    """10 % on line 1 given as line_ids [1, 1]: two discount lines of 10 % each, 20 % off
    the TV, past the rule that a line has one shop discount (and past the operator's
    limit: 10 % twice is 20 %)."""
    seed(pos)
    sid = sale_of(pos, ("TV", "1"))
    e = error(call, pos, "AddDiscountLine", sale_id=sid, percent="10", line_ids=["1", "1"])
    assert (e.code.name, e.reason) == ("INVALID_ARGUMENT", "DUPLICATE_LINE")
    sale = pos.get_sale(sid)
    assert sale.total.amount_minor == 10000  # refused as a whole: nothing given
    r = call(pos, "AddDiscountLine", sale_id=sid, percent="10", line_ids=["1"])
    assert r.sale.total.amount_minor == 9000


def test_a_redemption_reversed_gives_the_balance_back_once(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sell_voucher(pos, "GV-R", 3000)
    sid = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-R")
    done = post(pos, sid)
    assert rows(running, VOUCHER, "GV-R") == [("ISSUED", 3000, 899)]
    call(pos, "ReverseReceipt", sale_id=done.sale_id, reason="Irrtum")
    assert rows(running, VOUCHER, "GV-R") == [("ISSUED", 3000, 0)]
    e = error(call, pos, "ReverseReceipt", sale_id=done.sale_id, reason="nochmal")
    assert e.reason == "RECEIPT_ALREADY_REVERSED"
    assert rows(running, VOUCHER, "GV-R") == [("ISSUED", 3000, 0)]
    # a cancelled sale books nothing
    sid2 = sale_of(pos, ("TV", "1"))
    call(pos, "AddVoucherLine", sale_id=sid2, code="GV-R")
    call(pos, "CancelSale", sale_id=sid2, reason="neu")
    assert pos.get_voucher("GV-R").balance.amount_minor == 3000
    assert pos.get_voucher("GV-R").held.amount_minor == 0


def test_a_voucher_in_one_open_sale_is_refused_in_another(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sell_voucher(pos, "GV-2", 3000)
    a = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=a, code="GV-2")
    b = sale_of(pos, ("TV", "1"))
    e = error(call, pos, "AddVoucherLine", sale_id=b, code="GV-2")
    assert e.reason == "VOUCHER_IN_OTHER_SALE"
    code = call(pos, "ParkSale", sale_id=a).sale.parking_code
    e = error(call, pos, "AddVoucherLine", sale_id=b, code="GV-2")
    assert e.reason == "VOUCHER_IN_OTHER_SALE"
    assert code
    for odd in ("GV 2", "ä\u0000", "x" * 500, "GV-2\n"):
        e = error(call, pos, "AddVoucherLine", sale_id=b, code=odd)
        assert e.code.name in ("INVALID_ARGUMENT", "NOT_FOUND"), (odd, e)


def test_shop_discounts_by_amount_stay_within_the_operators_limit_together(
    tmp_path: Path,
) -> None:
    """A supervisor limited to 10 %: 10.00 off a 100.00 TV, then 9.00 more (10 % of the
    90.00 left), then 8.10, ...: each within 10 % of what was left, together any
    discount at all."""
    with register(tmp_path / "s") as (running, _):
        with running.client() as manager:
            seed(manager)
            update_shop(
                manager,
                role_discount_limits=[shop_pb2.DiscountLimit(key="supervisor", percent="10")],
            )
            sid = sale_of(manager, ("TV", "1"))
        with running.client("3", SUPERVISOR_PIN) as sup:
            call(sup, "AddDiscountLine", sale_id=sid, amount=money(600), name="Aktion")
            call(sup, "AddDiscountLine", sale_id=sid, amount=money(400), name="Aktion")
            e = error(call, sup, "AddDiscountLine", sale_id=sid, amount=money(900), name="x")
            assert e.reason == "DISCOUNT_LIMIT_EXCEEDED"
            e = error(call, sup, "AddDiscountLine", sale_id=sid, amount=money(1), name="x")
            assert e.reason == "DISCOUNT_LIMIT_EXCEEDED"
            assert sup.get_sale(sid).total.amount_minor == 9000
        with running.client() as manager:  # a manager (no limit) may give more
            call(manager, "AddDiscountLine", sale_id=sid, amount=money(900), name="Chef")
            assert manager.get_sale(sid).total.amount_minor == 8100


def test_a_redemption_whose_post_failed_after_signing_is_booked_once(
    running: Running, pos: PosdClient
) -> None:
    """The post fails after the TSE signed (inside its transaction): nothing of the
    redemption is booked, the voucher stays held by the sale and not by another, and the
    post asked again books it exactly once."""
    seed(pos)
    sell_voucher(pos, "GV-C", 3000)
    a = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=a, code="GV-C")
    pos.retries = 0
    crashpoints.arm_from_env("post.in_transaction:1:raise")
    try:
        error(post, pos, a)
    finally:
        crashpoints.arm_from_env("")
    assert rows(running, VOUCHER, "GV-C") == [("ISSUED", 3000, 0)]
    b = sale_of(pos, ("TV", "1"))
    e = error(call, pos, "AddVoucherLine", sale_id=b, code="GV-C")
    assert e.reason == "VOUCHER_IN_OTHER_SALE"
    post(pos, a)
    assert rows(running, VOUCHER, "GV-C") == [("ISSUED", 3000, 899)]
    line = call(pos, "AddVoucherLine", sale_id=b, code="GV-C").sale.lines[-1]
    assert line.amount.amount_minor == -(3000 - 899)
