"""Vouchers, returns and exchanges as a cashier and an auditor meet them: no cent refunded
twice, no voucher value lost without the cashier saying so, no VAT rate made negative
by a voucher taxed when it was sold."""

from __future__ import annotations

from typing import Any

from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import (
    CASH,
    REDUCED,
    call,
    error,
    money,
    pay,
    post,
    rows,
    sale_of,
    seed,
    sell_voucher,
)
from tests.support.fullsale import import_items, item

VOUCHER = "SELECT state, value, redeemed FROM vouchers WHERE code = ?"


def receipt_of(pos: PosdClient, item_id: str, quantity: str, discount: int) -> sale_pb2.Sale:
    """A receipt of ``quantity`` pieces with a shop discount of ``discount`` on them."""
    sid = sale_of(pos, (item_id, quantity))
    call(pos, "AddDiscountLine", sale_id=sid, amount=money(discount), name="Rabatt")
    pay(pos, sid, CASH, 100000)
    return post(pos, sid)


def add_return(pos: PosdClient, sid: str, original: sale_pb2.Sale, quantity: str) -> Any:
    return call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
                original_line_id="1", quantity=quantity)  # fmt: skip


def refund_all(pos: PosdClient, sid: str) -> int:
    """Refunds what the return sale gives back in cash and posts it: the refund."""
    total = pos.get_sale(sid).total.amount_minor
    assert total < 0
    pay(pos, sid, CASH, total)
    post(pos, sid)
    return -total


def test_a_return_line_removed_again_never_makes_the_returns_refund_more_than_was_paid(
    running: Running, pos: PosdClient
) -> None:
    """3 pens for 10.00 (10.02 less 0.02): one returned, then two. The cashier had
    scanned the return twice and removed the first line: the one piece left refunded
    3.34 (the second piece's share), and the later return of two refunded 6.67 as if
    3.33 had gone back: 10.01 refunded for 10.00 paid."""
    seed(pos)
    import_items(pos, item("PEN", "Füller", 334))
    original = receipt_of(pos, "PEN", "3", 2)
    assert original.total.amount_minor == 1000
    first = pos.create_sale().sale_id
    add_return(pos, first, original, "1")
    add_return(pos, first, original, "1")
    call(pos, "RemoveLine", sale_id=first, line_id="1")
    refunded = refund_all(pos, first)
    second = pos.create_sale().sale_id
    add_return(pos, second, original, "2")
    refunded += refund_all(pos, second)
    assert refunded == 1000


def test_two_returns_of_one_line_open_at_once_never_refund_more_than_was_paid(
    running: Running, pos: PosdClient
) -> None:
    """2 pieces for 10.01: two returns of one piece each, opened before either posted,
    each refunded 5.01 (half of 10.01 rounded up): 10.02 refunded for 10.01 paid."""
    seed(pos)
    import_items(pos, item("CUP", "Tasse", 501))
    original = receipt_of(pos, "CUP", "2", 1)
    assert original.total.amount_minor == 1001
    a = pos.create_sale().sale_id
    add_return(pos, a, original, "1")
    b = pos.create_sale().sale_id
    add_return(pos, b, original, "1")
    refunded = refund_all(pos, a)
    # b was worked out before a posted: it is refused rather than refunding a cent too many
    pay(pos, b, CASH, pos.get_sale(b).total.amount_minor)
    e = error(post, pos, b)
    assert e.reason == "RETURN_CHANGED"
    call(pos, "CancelSale", sale_id=b, reason="neu")
    c = pos.create_sale().sale_id
    add_return(pos, c, original, "1")
    refunded += refund_all(pos, c)
    assert refunded == 1001


def test_a_voucher_taxed_when_sold_pays_only_for_goods_at_its_rate(
    running: Running, pos: PosdClient
) -> None:
    """A 19 % single-purpose voucher on a coffee (19 %) and rolls (7 %): it took the rolls
    too, the 19 % rate went negative (-3.50, tax -0.56) and the VAT it was sold with was
    given back for goods taxed at 7 %."""
    seed(pos)
    import_items(
        pos, item("GIFT19", "Einzweckgutschein", 5000, item_type=catalog_pb2.ITEM_TYPE_VOUCHER)
    )
    sid = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=sid, code="GIFT19",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="EZ-1")  # fmt: skip
    pay(pos, sid, CASH, 5000)
    post(pos, sid)

    sid = sale_of(pos, ("COFFEE", "1"), ("ROLL", "10"))  # 8.99 at 19 %, 3.50 at 7 %
    e = error(call, pos, "AddVoucherLine", sale_id=sid, code="EZ-1", amount=money(1249))
    assert e.reason == "VOUCHER_EXCEEDS_GOODS"
    line = call(pos, "AddVoucherLine", sale_id=sid, code="EZ-1").sale.lines[-1]
    assert line.amount.amount_minor == -899  # the coffee only
    # the coffee cannot go while the voucher pays for it
    e = error(call, pos, "RemoveLine", sale_id=sid, line_id="1")
    assert e.reason == "VOUCHER_EXCEEDS_GOODS"
    pay(pos, sid, CASH, 350)
    done = post(pos, sid)
    assert all(v.gross.amount_minor >= 0 for v in done.vat_totals)
    taxes = {v.vat_category: v.tax.amount_minor for v in done.vat_totals}
    assert taxes == {common_pb2.VAT_CATEGORY_NORMAL: 0, REDUCED: 23}
    assert rows(running, VOUCHER, "EZ-1") == [("ISSUED", 5000, 899)]


def test_a_voucher_scanned_with_nothing_to_pay_is_refused_not_forfeited(
    running: Running, pos: PosdClient
) -> None:
    """Scanned before the goods, a 30.00 voucher took all of its value; the 8.99 coffee
    scanned after it left -21.01, booked to the balancing account at the post: the
    customer's rest was gone without anyone deciding so."""
    seed(pos)
    sell_voucher(pos, "GV-1", 3000)
    sid = pos.create_sale().sale_id
    e = error(call, pos, "AddVoucherLine", sale_id=sid, code="GV-1")
    assert e.reason == "VOUCHER_NOTHING_TO_PAY"
    pos.add_line(sid, item_id="COFFEE")
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-1")
    assert post(pos, sid).total.amount_minor == 0
    assert rows(running, VOUCHER, "GV-1") == [("ISSUED", 3000, 899)]


def test_goods_taken_off_after_a_voucher_do_not_forfeit_its_rest(
    running: Running, pos: PosdClient
) -> None:
    """4 coffees, a 30.00 voucher pays 30.00 of them; the customer takes one: the sale
    went to -21.01 and the post booked the voucher's 21.01 to the balancing account,
    silently. The change is refused: the voucher is taken off and scanned again (it then
    takes the 8.99 left and keeps 21.01)."""
    seed(pos)
    sell_voucher(pos, "GV-2", 3000)
    sid = sale_of(pos, ("COFFEE", "4"), ("TV", "1"))
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-2")
    call(pos, "RemoveLine", sale_id=sid, line_id="2")  # 35.96 left for 30.00: fine
    e = error(pos.update_line, sid, "1", quantity="1")
    assert e.reason == "VOUCHER_EXCEEDS_GOODS"
    e = error(call, pos, "RemoveLine", sale_id=sid, line_id="1")
    assert e.reason == "VOUCHER_EXCEEDS_GOODS"
    call(pos, "RemoveLine", sale_id=sid, line_id="3")  # the voucher
    pos.update_line(sid, "1", quantity="1")
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-2")
    assert post(pos, sid).total.amount_minor == 0
    assert rows(running, VOUCHER, "GV-2") == [("ISSUED", 3000, 899)]


def test_a_return_after_a_voucher_is_refused_rather_than_eating_the_voucher(
    running: Running, pos: PosdClient
) -> None:
    """A coffee paid by voucher, then a return of 100.00: the post booked the voucher's
    8.99 to the balancing account and asked for 91.01 only."""
    seed(pos)
    tv = sale_of(pos, ("TV", "1"))
    pay(pos, tv, CASH, 10000)
    original = post(pos, tv)
    sell_voucher(pos, "GV-3", 3000)
    sid = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-3")
    e = error(add_return, pos, sid, original, "1")
    assert e.reason == "VOUCHER_EXCEEDS_GOODS"


def test_a_voucher_given_in_full_in_an_exchange_keeps_the_refund_of_the_returned_goods(
    running: Running, pos: PosdClient
) -> None:
    """Return of a 100.00 TV, a coffee, and the cashier redeems a 30.00 voucher in full
    (the rest forfeited, as typed). The post booked 121.01 to the balancing account: the
    forfeited 21.01 and, silently, the 100.00 refund of the TV. Only the voucher's
    surplus is balanced; the TV's refund is still to be given (91.01 = 100.00 - 8.99)."""
    seed(pos)
    tv = sale_of(pos, ("TV", "1"))
    pay(pos, tv, CASH, 10000)
    original = post(pos, tv)
    sell_voucher(pos, "GV-4", 3000)
    sid = pos.create_sale().sale_id
    add_return(pos, sid, original, "1")
    pos.add_line(sid, item_id="COFFEE")
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-4", amount=money(3000))
    e = error(post, pos, sid)
    assert (e.reason, e.metadata["open_amount_minor"]) == ("REFUND_REQUIRED", "-9101")
    s = pos.get_sale(sid)
    assert s.lines[-1].kind == sale_pb2.LINE_KIND_BALANCING
    assert s.lines[-1].amount.amount_minor == 3000  # the voucher (the coffee by the TV)
    pay(pos, sid, CASH, -9101)
    done = post(pos, sid)
    assert done.total.amount_minor == -9101
    assert rows(running, VOUCHER, "GV-4") == [("REDEEMED", 3000, 3000)]


def test_a_discount_given_after_a_voucher_paid_all_does_not_forfeit_voucher_value(
    running: Running, pos: PosdClient
) -> None:
    """A coffee paid by a voucher, then 1.00 off: the sale went to -1.00 and the post
    booked 1.00 of the voucher to the balancing account. Refused; given before the
    voucher, the discount makes the voucher take 7.99 only."""
    seed(pos)
    sell_voucher(pos, "GV-5", 3000)
    sid = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-5")
    e = error(call, pos, "AddDiscountLine", sale_id=sid, amount=money(100), name="Rabatt")
    assert e.reason == "VOUCHER_EXCEEDS_GOODS"
    assert [ln.kind for ln in pos.get_sale(sid).lines] == [
        sale_pb2.LINE_KIND_GOODS, sale_pb2.LINE_KIND_VOUCHER_REDEMPTION
    ]  # fmt: skip
    call(pos, "RemoveLine", sale_id=sid, line_id="2")
    call(pos, "AddDiscountLine", sale_id=sid, amount=money(100), name="Rabatt")
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-5")
    assert post(pos, sid).total.amount_minor == 0
    assert rows(running, VOUCHER, "GV-5") == [("ISSUED", 3000, 799)]
