"""The full sale, part 2, through the gRPC API: payment methods and their rules, change in
the local currency (three drawer entries), rounding per method, shop discount lines,
tracked vouchers with the balancing line, returns and exchanges, reversal receipts,
parking and resuming, orders-only registers, the audit trail."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import catalog_pb2, closing_pb2, common_pb2, sale_pb2, shop_pb2

from posd_daemon.ops import crashpoints
from posd_daemon.store.database import _migrations
from tests.conftest import Running, start_in_thread
from tests.support.fullsale import (
    customer,
    import_customers,
    import_items,
    item,
    update_register,
    update_shop,
)

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD
CREDIT = common_pb2.PAYMENT_METHOD_CONSUMER_CREDIT
BANK = common_pb2.PAYMENT_METHOD_BANK_TRANSFER
COD = common_pb2.PAYMENT_METHOD_CASH_ON_DELIVERY
BENEFIT = common_pb2.PAYMENT_METHOD_BENEFIT
GATEWAY = common_pb2.PAYMENT_METHOD_GATEWAY
REDUCED = common_pb2.VAT_CATEGORY_REDUCED
NOT_TAXABLE = common_pb2.VAT_CATEGORY_NOT_TAXABLE


def money(minor: int, currency: str = "EUR") -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency_code=currency)


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    if "request_id" in request_type.DESCRIPTOR.fields_by_name:
        fields["request_id"] = new_request_id()
    return pos.call(getattr(pos.sales, rpc), request_type(**fields))


def pay(pos: PosdClient, sale_id: str, method: int, amount: int | None = None, **kw: Any) -> Any:
    if amount is not None:
        kw["amount"] = money(amount, kw.pop("currency", "EUR"))
    return call(pos, "AddPayment", sale_id=sale_id, method=method, **kw)


def post(pos: PosdClient, sale_id: str, **kw: Any) -> sale_pb2.Sale:
    return call(pos, "PostSale", sale_id=sale_id, **kw).sale  # type: ignore[no-any-return]


def rows(running: Running, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(running.config.database_path) as conn:
        return conn.execute(sql, args).fetchall()


def seed(pos: PosdClient) -> None:
    import_items(
        pos,
        item("COFFEE", "Kaffee", 899),
        item("ROLL", "Brötchen", 35, vat=REDUCED),
        item("TV", "Fernseher", 10000),
        item(
            "GIFT",
            "Geschenkgutschein",
            2500,
            vat=NOT_TAXABLE,
            item_type=catalog_pb2.ITEM_TYPE_VOUCHER,
            barcodes=["2900000000001"],
        ),
    )


def sale_of(pos: PosdClient, *lines: tuple[str, str]) -> str:
    sid = pos.create_sale().sale_id
    for item_id, qty in lines:
        pos.add_line(sid, item_id=item_id, quantity=qty)
    return sid


def error(fn: Any, *args: Any, **kw: Any) -> PosdError:
    with pytest.raises(PosdError) as err:
        fn(*args, **kw)
    return err.value


# -- 1. payment methods ---------------------------------------------------------------------


def test_card_takes_the_open_amount_and_can_be_edited_down(pos: PosdClient) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"))
    r = pay(pos, sid, CARD, card_institute="VISA")  # no amount: the whole open amount
    assert r.sale.payments[0].amount.amount_minor == 10000
    assert r.sale.open_amount.amount_minor == 0
    e = error(call, pos, "UpdatePayment", sale_id=sid, payment_id=r.payment_id, amount=money(10001))
    assert e.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    s = call(pos, "UpdatePayment", sale_id=sid, payment_id=r.payment_id, amount=money(6000)).sale
    assert (s.payments[0].amount.amount_minor, s.open_amount.amount_minor) == (6000, 4000)
    e = error(pay, pos, sid, BANK, 4001)
    assert e.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"  # only cash may exceed
    s = pay(pos, sid, CASH, 5000).sale
    assert (s.change.amount_minor, s.payments[1].kept.amount_minor) == (1000, 4000)
    done = post(pos, sid)
    assert done.state == sale_pb2.SALE_STATE_POSTED


def test_several_cards_split_evenly_remainder_to_the_first(pos: PosdClient) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"))
    r = call(pos, "SplitCardPayment", sale_id=sid, parts=3, card_institute="girocard")
    amounts = [p.amount.amount_minor for p in r.sale.payments]
    assert amounts == [3334, 3333, 3333]
    assert [p.card_institute for p in r.sale.payments] == ["girocard"] * 3
    s = call(pos, "UpdatePayment", sale_id=sid, payment_id=r.payment_ids[2], amount=money(3000))
    assert s.sale.open_amount.amount_minor == 333
    e = error(call, pos, "SplitCardPayment", sale_id=sid, parts=11)
    assert e.reason == "INVALID_SPLIT"


def test_card_authorization_code_is_mandatory_when_the_shop_says_so(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    update_shop(pos, card_authorization_required=True)
    sid = sale_of(pos, ("TV", "1"))
    first = pay(pos, sid, CARD, 4000).payment_id
    second = pay(pos, sid, CARD, 6000, authorization_code="A1").payment_id
    third_sid = sid
    e = error(post, pos, third_sid)
    assert e.reason == "CARD_AUTHORIZATION_MISSING"
    assert e.metadata["payment_ids"] == first
    assert f"payment {first}" in e.message and f"payment {second}" not in e.message
    assert [f for f, _ in e.field_violations] == [f"payments[{first}].authorization_code"]
    assert pos.get_sale(sid).state == sale_pb2.SALE_STATE_OPEN  # nothing changed
    call(pos, "UpdatePayment", sale_id=sid, payment_id=first, authorization_code="B2")
    assert post(pos, sid).receipt_number == 1


def test_consumer_credit_needs_a_contract_and_may_have_a_down_payment(pos: PosdClient) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "3"))  # 300.00
    e = error(pay, pos, sid, CREDIT, 10000)
    assert (e.code, e.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONTRACT_NUMBER_REQUIRED")
    r = pay(
        pos,
        sid,
        CREDIT,
        contract_number="K-2026-0815",
        down_payment_method=CASH,
        down_payment_amount=money(5000),
    )
    assert r.down_payment_id
    kinds = [(p.method, p.amount.amount_minor, p.down_payment_for) for p in r.sale.payments]
    assert kinds == [(CASH, 5000, r.payment_id), (CREDIT, 25000, "")]
    assert r.sale.payments[1].contract_number == "K-2026-0815"
    s = call(pos, "RemovePayment", sale_id=sid, payment_id=r.payment_id).sale
    assert len(s.payments) == 0  # the down payment belongs to the credit


@pytest.mark.parametrize("method", [BANK, COD, BENEFIT, GATEWAY])
def test_other_methods_are_recorded_and_cannot_exceed(
    running: Running, pos: PosdClient, method: int
) -> None:
    seed(pos)
    sid = sale_of(pos, ("COFFEE", "2"))
    assert error(pay, pos, sid, method, 1799).reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    pay(pos, sid, method, 1000, reference="REF-1")
    pay(pos, sid, method)
    done = post(pos, sid)
    assert [p.amount.amount_minor for p in done.payments] == [1000, 798]
    assert done.tse.process_data.endswith("^17.98:Unbar")
    drawer = rows(running, "SELECT kind, method, amount FROM drawer_entries WHERE sale_id = ?", sid)
    name = common_pb2.PaymentMethod.Name(method).removeprefix("PAYMENT_METHOD_")
    assert drawer == [("SALE_PAYMENT", name, 1000), ("SALE_PAYMENT", name, 798)]


def test_payments_survive_parking_and_a_restart(tmp_path: Path) -> None:
    first = start_in_thread(tmp_path / "state")
    try:
        with first.client(open_shift=True) as pos:
            seed(pos)
            sid = sale_of(pos, ("TV", "1"))
            pay(pos, sid, CARD, 3000, card_institute="VISA", authorization_code="X9")
            pay(pos, sid, CREDIT, 2000, contract_number="C-1")
            parked = call(pos, "ParkSale", sale_id=sid).sale
    finally:
        first.stop()
    running = start_in_thread(tmp_path / "state")
    try:
        _resume_and_check(running, parked.parking_code)
    finally:
        running.stop()


def _resume_and_check(running: Running, code: str) -> None:
    with running.client() as again:
        back = call(again, "ResumeSale", code=code).sale
        got = [(p.method, p.amount.amount_minor, p.card_institute, p.authorization_code,
                p.contract_number) for p in back.payments]  # fmt: skip
        assert got == [(CARD, 3000, "VISA", "X9", ""), (CREDIT, 2000, "", "", "C-1")]


# -- 2. change in the local currency ----------------------------------------------------------


def test_foreign_cash_change_in_local_currency_makes_three_drawer_entries(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
    sid = sale_of(pos, ("TV", "1"))
    s = call(pos, "SetCurrency", sale_id=sid, currency_code="CHF").sale
    assert s.total.amount_minor == 9500  # 100.00 EUR at 0.95 CHF per EUR
    pay(pos, sid, CASH, 10000, currency="CHF")  # 100 CHF tendered, 5 CHF change
    e = error(post, pos, sid, change_currency_code="USD")
    assert e.reason == "CURRENCY_MISMATCH"
    done = post(pos, sid, change_currency_code="EUR")
    assert (done.change.amount_minor, done.change_local.amount_minor) == (500, 526)
    assert done.change_local.currency_code == "EUR"  # 5 / 0.95 = 5.263 -> 5.26 EUR
    assert done.payments[0].kept.amount_minor == 9500  # only what is kept is a payment
    drawer = rows(
        running,
        "SELECT kind, amount, currency FROM drawer_entries WHERE sale_id = ? ORDER BY entry_id",
        sid,
    )
    assert drawer == [
        ("SALE_PAYMENT", 9500, "CHF"),
        ("CHANGE_DEPOSIT", 500, "CHF"),
        ("CHANGE_PAYOUT", -526, "EUR"),
    ]
    # processData: the amounts per VAT rate in EUR (the local currency), the payments as
    # the drawer holds them: the CHF with its code (fiscal-de.md, processData), the change
    # paid out in EUR; 95.00 CHF at 0.95 = 100.00 EUR
    assert done.total_local.amount_minor == 10000
    assert done.tse.process_data == "Beleg^100.00_0.00_0.00_0.00_0.00^-5.26:Bar_100.00:Bar:CHF"


def test_change_in_a_local_currency_with_a_cash_step_is_rounded_to_it(
    running: Running, pos: PosdClient
) -> None:
    """A Dutch or Finnish shop rounds euro cash to 0.05: change paid out in euros for
    foreign cash is cash too (5.26 EUR cannot be paid, 5.25 can)."""
    seed(pos)
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="EUR", increment_minor=5)],
    )
    sid = sale_of(pos, ("TV", "1"))
    call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
    pay(pos, sid, CASH, 10000, currency="CHF")
    done = post(pos, sid, change_currency_code="EUR")
    assert (done.change.amount_minor, done.change_local.amount_minor) == (500, 525)
    drawer = rows(
        running,
        "SELECT kind, amount, currency FROM drawer_entries WHERE sale_id = ? ORDER BY entry_id",
        sid,
    )
    assert drawer[-1] == ("CHANGE_PAYOUT", -525, "EUR")


# -- 3. rounding per method -------------------------------------------------------------------


def test_chf_cash_rounds_to_five_rappen_cards_do_not(running: Running, pos: PosdClient) -> None:
    seed(pos)
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9513")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="CHF", increment_minor=5)],
    )
    sid = sale_of(pos, ("COFFEE", "1"))
    s = call(pos, "SetCurrency", sale_id=sid, currency_code="CHF").sale
    assert s.total.amount_minor == 855  # 8.99 * 0.9513 = 8.552
    assert s.open_amount_cash.amount_minor == 855
    card_sid = sale_of(pos, ("COFFEE", "1"))
    call(pos, "SetCurrency", sale_id=card_sid, currency_code="CHF")
    card = pay(pos, card_sid, CARD).sale
    assert (card.rounding.amount_minor, card.amount_due.amount_minor) == (0, 855)
    # 2 x 8.99 EUR = 17.98 EUR = 17.104 CHF -> 17.10; cash: 17.10 (no rounding needed)
    pos.add_line(sid, item_id="ROLL")  # + 0.35 EUR = 0.333 CHF -> 0.33: 8.88 CHF
    s = pos.get_sale(sid)
    assert s.total.amount_minor == 888
    assert s.open_amount_cash.amount_minor == 890
    s = pay(pos, sid, CASH).sale  # no amount: the open amount rounded for cash
    assert (s.payments[0].amount.amount_minor, s.rounding.amount_minor) == (890, 2)
    assert (s.amount_due.amount_minor, s.open_amount.amount_minor) == (890, 0)
    done = post(pos, sid)
    # the rounding difference is a separate, not taxable amount in the fiscal data. The
    # VAT slots are in EUR, the payment in CHF with its code (fiscal-de.md, processData):
    # the total 8.88 CHF is converted once, as total_local (8.88 / 0.9513 = 9.33 EUR), and
    # split over the rates (8.99 + 0.35 converted one by one would be 9.34, a cent too
    # many); the rounding is what 8.90 CHF holds beyond that: 9.36 - 9.33 = 0.03 EUR
    assert done.total_local.amount_minor == 933
    assert done.tse.process_data == "Beleg^8.98_0.35_0.00_0.00_0.03^8.90:Bar:CHF"
    assert rows(running, "SELECT rounding FROM sales WHERE sale_id = ?", sid) == [(2,)]


# -- 4. discounts and vouchers ------------------------------------------------------------------


def test_shop_discounts_by_amount_per_rate_and_by_percent_per_line(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = sale_of(pos, ("COFFEE", "2"), ("ROLL", "10"))  # 17.98 (19 %) + 3.50 (7 %)
    r = call(pos, "AddDiscountLine", sale_id=sid, amount=money(1000), name="Aktion")
    kinds = [(ln.kind, ln.vat_rate, ln.amount.amount_minor) for ln in r.sale.lines[2:]]
    # 10.00 over 17.98 : 3.50 -> 8.37 : 1.63 (largest remainder)
    assert kinds == [
        (sale_pb2.LINE_KIND_DISCOUNT, "19", -837),
        (sale_pb2.LINE_KIND_DISCOUNT, "7", -163),
    ]
    assert r.sale.total.amount_minor == 2148 - 1000
    sid2 = sale_of(pos, ("COFFEE", "1"), ("ROLL", "1"), ("TV", "1"))
    lines = [ln.line_id for ln in pos.get_sale(sid2).lines]
    r2 = call(pos, "AddDiscountLine", sale_id=sid2, percent="10", line_ids=[lines[0], lines[2]])
    assert [(ln.ref_line_id, ln.amount.amount_minor) for ln in r2.sale.lines[3:]] == [
        (lines[0], -90),
        (lines[2], -1000),
    ]
    with running.client("2", "0000") as cashier:
        e = error(call, cashier, "AddDiscountLine", sale_id=sid2, amount=money(100))
        assert (e.code, e.reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    s = call(pos, "RemoveLine", sale_id=sid2, line_id=lines[0]).sale
    assert len(s.lines) == 3  # its discount line went with it
    [event] = [
        json.loads(e.details_json)
        for e in call(pos, "ListAuditEvents", kinds=["DISCOUNT_LINE_ADDED"], sale_id=sid).events
    ]
    assert (event["amount"], event["operator_id"]) == (1000, "1")


def test_a_shop_discount_never_reduces_a_voucher_sold(running: Running, pos: PosdClient) -> None:
    """A voucher is sold at its value (it is paid back at that value): a shop discount
    by amount falls on the goods only, one by percent is refused on the voucher's line,
    so 50.00 of voucher are never sold for 25.00."""
    seed(pos)
    sid = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="GV-50", amount=money(5000))  # fmt: skip
    pos.add_line(sid, item_id="COFFEE")  # 8.99
    e = error(call, pos, "AddDiscountLine", sale_id=sid, amount=money(3000))
    assert (e.reason, e.metadata["goods_minor"]) == ("DISCOUNT_EXCEEDS_GOODS", "899")
    e = error(call, pos, "AddDiscountLine", sale_id=sid, percent="10", line_ids=["1"])
    assert (e.reason, e.metadata["line_id"]) == ("LINE_NOT_DISCOUNTABLE", "1")
    r = call(pos, "AddDiscountLine", sale_id=sid, amount=money(100))
    assert [(ln.vat_category, ln.amount.amount_minor) for ln in r.sale.lines[2:]] == [
        (common_pb2.VAT_CATEGORY_NORMAL, -100)
    ]
    pay(pos, sid, CASH, 5799)
    assert post(pos, sid).total.amount_minor == 5000 + 899 - 100
    assert rows(running, "SELECT value FROM vouchers WHERE code = 'GV-50'") == [(5000,)]


def test_a_voucher_is_sold_only_with_its_code(running: Running, pos: PosdClient) -> None:
    """A voucher item added as a plain line (AddLine, Scan of its barcode) was sold with
    no code: the customer paid for a voucher the register never knew and could never
    redeem. It is refused; AddVoucherLine sells it with its code."""
    seed(pos)
    sid = pos.create_sale().sale_id
    before = rows(running, "SELECT COUNT(*) FROM sale_lines")
    e = error(pos.add_line, sid, item_id="GIFT", quantity="2")
    assert (e.code, e.reason, e.metadata["item_id"]) == (
        grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_ACTION_REQUIRED", "GIFT"
    )  # fmt: skip
    e = error(call, pos, "Scan", sale_id=sid, code="2900000000001")
    assert e.reason == "VOUCHER_ACTION_REQUIRED"
    assert rows(running, "SELECT COUNT(*) FROM sale_lines") == before
    sold = call(pos, "AddVoucherLine", sale_id=sid, code="2900000000001",
                action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="GV-7")  # fmt: skip
    assert [ln.voucher_code for ln in sold.sale.lines] == ["GV-7"]


def test_vouchers_are_sold_redeemed_once_up_to_their_value_and_balanced(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    e = error(call, pos, "AddVoucherLine", sale_id=sid, code="2900000000001")
    assert e.reason == "VOUCHER_ACTION_REQUIRED"  # the item's code: sell or redeem?
    sold = call(pos, "AddVoucherLine", sale_id=sid, code="2900000000001",
                action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="GV-100",
                amount=money(3000))  # fmt: skip
    assert sold.action == sale_pb2.VOUCHER_ACTION_SELL
    assert sold.sale.lines[0].amount.amount_minor == 3000
    pay(pos, sid, CASH, 3000)
    post(pos, sid)
    assert rows(running, "SELECT state, value FROM vouchers WHERE code = 'GV-100'") == [
        ("ISSUED", 3000)
    ]
    # redeem: a registered code can only be redeemed; more than its value is refused
    sid2 = sale_of(pos, ("COFFEE", "1"))
    e = error(call, pos, "AddVoucherLine", sale_id=sid2, code="GV-100", amount=money(3001))
    assert e.reason == "VOUCHER_VALUE_EXCEEDED"
    # all of its value (not only the 8.99 open): the rest is forfeited
    r = call(pos, "AddVoucherLine", sale_id=sid2, code="GV-100", amount=money(3000))
    assert r.action == sale_pb2.VOUCHER_ACTION_REDEEM
    line = r.sale.lines[1]
    assert (line.kind, line.amount.amount_minor, line.vat_category) == (
        sale_pb2.LINE_KIND_VOUCHER_REDEMPTION,
        -3000,
        NOT_TAXABLE,
    )
    assert r.sale.total.amount_minor == 899 - 3000
    done = post(pos, sid2)  # redeemed vouchers exceed the goods: balancing line, total 0
    assert done.total.amount_minor == 0
    assert done.lines[-1].kind == sale_pb2.LINE_KIND_BALANCING
    assert done.lines[-1].amount.amount_minor == 2101
    assert rows(running, "SELECT COUNT(*) FROM drawer_entries WHERE sale_id = ?", sid2) == [(0,)]
    sid3 = sale_of(pos, ("COFFEE", "1"))
    e = error(call, pos, "AddVoucherLine", sale_id=sid3, code="GV-100")
    assert e.reason == "VOUCHER_ALREADY_REDEEMED"


def test_a_single_purpose_voucher_is_taxed_when_sold_not_again_when_redeemed(
    running: Running, pos: PosdClient
) -> None:
    import_items(
        pos,
        item("SHIRT", "Hemd", 11900),
        item("GIFT19", "Einzweckgutschein", 11900, item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
        item("GIFT", "Mehrzweckgutschein", 5000, vat=NOT_TAXABLE,
             item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
    )  # fmt: skip
    sid = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=sid, code="GIFT19",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="EZ-1")  # fmt: skip
    call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="MZ-1")  # fmt: skip
    pay(pos, sid, CASH, 16900)
    sold = post(pos, sid)
    taxes = {v.vat_category: v.tax.amount_minor for v in sold.vat_totals}
    assert taxes == {common_pb2.VAT_CATEGORY_NORMAL: 1900, NOT_TAXABLE: 0}
    # 119.00 shirt for the single-purpose voucher: its VAT was due when it was sold
    sid2 = sale_of(pos, ("SHIRT", "1"))
    line = call(pos, "AddVoucherLine", sale_id=sid2, code="EZ-1").sale.lines[1]
    assert (line.kind, line.vat_category, line.vat_rate, line.amount.amount_minor) == (
        sale_pb2.LINE_KIND_VOUCHER_REDEMPTION, common_pb2.VAT_CATEGORY_NORMAL, "19", -11900
    )  # fmt: skip
    done = post(pos, sid2)
    assert done.total.amount_minor == 0
    assert [(v.gross.amount_minor, v.tax.amount_minor) for v in done.vat_totals] == [(0, 0)]
    # 50.00 shirt part for the multi-purpose voucher: a means of payment, goods taxed now
    sid3 = sale_of(pos, ("SHIRT", "1"))
    call(pos, "AddVoucherLine", sale_id=sid3, code="MZ-1")
    pay(pos, sid3, CASH, 6900)
    paid = post(pos, sid3)
    taxes = {v.vat_category: v.tax.amount_minor for v in paid.vat_totals}
    assert taxes == {common_pb2.VAT_CATEGORY_NORMAL: 1900, NOT_TAXABLE: 0}
    x = pos.x_report()
    assert sum(v.tax.amount_minor for v in x.vat_totals) == 1900 + 1900  # not 3 x 19.00
    cases = {(c.business_case, c.gv_typ): c.gross.amount_minor for c in x.business_cases}
    assert cases[("VOUCHERS_SOLD", "EinzweckgutscheinKauf")] == 11900
    assert cases[("VOUCHERS_SOLD", "MehrzweckgutscheinKauf")] == 5000
    assert cases[("VOUCHERS_REDEEMED", "EinzweckgutscheinEinloesung")] == -11900
    assert cases[("VOUCHERS_REDEEMED", "MehrzweckgutscheinEinloesung")] == -5000


def test_a_voucher_redeemed_without_an_amount_pays_what_is_open_and_keeps_the_rest(
    running: Running, pos: PosdClient
) -> None:
    """Scanning a 30.00 voucher for an 8.99 coffee took all 30.00 and the balancing line
    forfeited the customer's 21.01; now it pays the 8.99 and 21.01 stay on it."""
    seed(pos)
    sell_voucher(pos, "GV-30", 3000)
    sid = sale_of(pos, ("COFFEE", "1"))
    line = call(pos, "AddVoucherLine", sale_id=sid, code="GV-30").sale.lines[1]
    assert line.amount.amount_minor == -899
    done = post(pos, sid)
    assert done.total.amount_minor == 0
    assert [ln.kind for ln in done.lines] == [sale_pb2.LINE_KIND_GOODS,
                                              sale_pb2.LINE_KIND_VOUCHER_REDEMPTION]  # fmt: skip
    assert pos.get_voucher("GV-30").balance.amount_minor == 3000 - 899


def test_a_partly_redeemed_voucher_keeps_its_rest_until_it_is_used_up(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="GV-5", amount=money(5000))  # fmt: skip
    pay(pos, sid, CASH, 5000)
    post(pos, sid)
    sid2 = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=sid2, code="GV-5", amount=money(899))
    post(pos, sid2)
    voucher = "SELECT state, value, redeemed FROM vouchers WHERE code = 'GV-5'"
    assert rows(running, voucher) == [("ISSUED", 5000, 899)]

    def balance() -> tuple[int, int, int, int, int]:
        v = pos.get_voucher("GV-5")  # what the cashier tells the customer
        amounts = (v.value, v.redeemed, v.balance, v.held)
        assert {m.currency_code for m in amounts} == {"EUR"}
        return (v.state, *(m.amount_minor for m in amounts))

    assert balance() == (sale_pb2.VOUCHER_STATE_ISSUED, 5000, 899, 4101, 0)
    # the rest (41.01) is taken by default; more than the rest is refused
    sid3 = sale_of(pos, ("TV", "1"))
    e = error(call, pos, "AddVoucherLine", sale_id=sid3, code="GV-5", amount=money(4102))
    assert (e.reason, e.metadata["value_minor"]) == ("VOUCHER_VALUE_EXCEEDED", "4101")
    line = call(pos, "AddVoucherLine", sale_id=sid3, code="GV-5").sale.lines[1]
    assert line.amount.amount_minor == -4101
    # held by the open sale until it posts
    assert balance() == (sale_pb2.VOUCHER_STATE_ISSUED, 5000, 899, 4101, 4101)
    pay(pos, sid3, CASH, 10000 - 4101)
    third = post(pos, sid3)
    assert rows(running, voucher) == [("REDEEMED", 5000, 5000)]
    assert balance() == (sale_pb2.VOUCHER_STATE_REDEEMED, 5000, 5000, 0, 0)
    e = error(pos.get_voucher, "GV-404")
    assert (e.code, e.reason) == (grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND")
    e = error(pos.get_voucher, "")
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    e = error(call, pos, "AddVoucherLine", sale_id=sale_of(pos, ("COFFEE", "1")), code="GV-5")
    assert e.reason == "VOUCHER_ALREADY_REDEEMED"
    # a storno of the last redemption gives its part back
    call(pos, "ReverseReceipt", sale_id=third.sale_id, reason="Irrtum")
    assert rows(running, voucher) == [("ISSUED", 5000, 899)]


def test_schema_11_gives_a_forfeited_voucher_rest_back(tmp_path: Path) -> None:
    first = start_in_thread(tmp_path / "state")
    try:
        with first.client() as pos:
            seed(pos)
            for code in ("GV-1", "GV-2"):
                sid = pos.create_sale().sale_id
                call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
                     action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code=code)  # fmt: skip
                pay(pos, sid, CASH, 2500)
                post(pos, sid)
    finally:
        first.stop()
    # as schema 10 left them: any redemption set REDEEMED, a partial one too; then
    # schema 11's own statements, as the migration runs them (later schemas that the
    # database has already are not run again)
    (eleven,) = [sql for version, sql in _migrations() if version == 11]
    with sqlite3.connect(first.config.database_path) as conn:
        conn.execute("UPDATE vouchers SET state = 'REDEEMED', redeemed = 1000 WHERE code = 'GV-1'")
        conn.execute("UPDATE vouchers SET state = 'REDEEMED', redeemed = 2500 WHERE code = 'GV-2'")
        conn.executescript(eleven)
        got = conn.execute("SELECT code, state, redeemed FROM vouchers ORDER BY code").fetchall()
    assert got == [("GV-1", "ISSUED", 1000), ("GV-2", "REDEEMED", 2500)]


def test_the_invoice_limit_is_on_the_supply_not_on_what_a_voucher_leaves_to_pay(
    pos: PosdClient,
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="GV-9", amount=money(10000))  # fmt: skip
    pay(pos, sid, CASH, 10000)
    post(pos, sid)
    # 300.00 of goods (above 250.00), 100.00 of them paid with a multi-purpose voucher
    sid = sale_of(pos, ("TV", "3"))
    s = call(pos, "AddVoucherLine", sale_id=sid, code="GV-9").sale
    assert (s.total.amount_minor, s.document_type) == (20000, shop_pb2.DOCUMENT_TYPE_INVOICE)
    pay(pos, sid, CASH, 20000)
    e = error(post, pos, sid)
    assert (e.reason, e.metadata["document_type"]) == ("DOCUMENT_ATTRIBUTE_MISSING", "INVOICE")
    # 200.00 of goods and the same voucher: a receipt
    call(pos, "CancelSale", sale_id=sid, reason="Kunde")
    sid = sale_of(pos, ("TV", "2"))
    s = call(pos, "AddVoucherLine", sale_id=sid, code="GV-9").sale
    assert s.document_type == shop_pb2.DOCUMENT_TYPE_RECEIPT
    pay(pos, sid, CASH, 10000)
    assert post(pos, sid).document_type == shop_pb2.DOCUMENT_TYPE_RECEIPT


def test_a_multi_purpose_voucher_above_the_invoice_limit_is_sold_on_a_receipt(
    pos: PosdClient,
) -> None:
    """Selling a Mehrzweckgutschein is no supply (§3 (14) UStG): a walk-in customer buys
    a 300.00 gift voucher on a receipt; a taxed single-purpose voucher is a supply."""
    seed(pos)
    sid = pos.create_sale().sale_id
    s = call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
             action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="GV-300",
             amount=money(30000)).sale  # fmt: skip
    assert s.document_type == shop_pb2.DOCUMENT_TYPE_RECEIPT
    pay(pos, sid, CASH, 30000)
    assert post(pos, sid).document_type == shop_pb2.DOCUMENT_TYPE_RECEIPT
    import_items(
        pos, item("GIFT19", "Einzweckgutschein", 30000, item_type=catalog_pb2.ITEM_TYPE_VOUCHER)
    )
    sid = pos.create_sale().sale_id
    s = call(pos, "AddVoucherLine", sale_id=sid, code="GIFT19",
             action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="EZ-300").sale  # fmt: skip
    assert s.document_type == shop_pb2.DOCUMENT_TYPE_INVOICE


# -- 5. returns and exchanges -------------------------------------------------------------------


def sold_receipt(pos: PosdClient) -> sale_pb2.Sale:
    sid = sale_of(pos, ("COFFEE", "3"))
    call(pos, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="10")
    pay(pos, sid, CASH, 5000)
    return post(pos, sid)


def test_a_return_takes_the_original_price_and_discount_and_is_limited(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    original = sold_receipt(pos)  # 3 x 8.99 = 26.97 - 10 % (2.70) = 24.27
    assert original.total.amount_minor == 2427
    found = call(pos, "ListReturnableLines", item_id="COFFEE").lines
    assert [(x.receipt_number, x.quantity_returnable) for x in found] == [(1, "3")]
    sid = pos.create_sale().sale_id
    r = call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
             original_line_id="1", quantity="2")  # fmt: skip
    ret = r.sale.lines[0]
    assert (ret.kind, ret.quantity, ret.amount.amount_minor, ret.ref_receipt_number) == (
        sale_pb2.LINE_KIND_RETURN, "-2", -1618, 1
    )  # fmt: skip
    assert ret.discount_percent == "10"
    e = error(call, pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
              original_line_id="1", quantity="2")  # fmt: skip
    assert (e.reason, e.metadata["returnable"]) == ("RETURN_EXCEEDS_SOLD", "1")
    e = error(post, pos, sid)
    assert e.reason == "REFUND_REQUIRED"
    e = error(pay, pos, sid, BANK, -1618)
    assert e.reason == "REFUND_METHOD_NOT_ALLOWED"
    s = pay(pos, sid, CASH, -1618).sale
    assert s.open_amount.amount_minor == 0
    done = post(pos, sid)
    assert done.tse.process_data == "Beleg^-16.18_0.00_0.00_0.00_0.00^-16.18:Bar"
    assert rows(running, "SELECT kind, amount FROM drawer_entries WHERE sale_id = ?", sid) == [
        ("SALE_PAYMENT", -1618)
    ]
    left = call(pos, "ListReturnableLines", receipt_number=1).lines
    assert [(x.quantity_returned, x.quantity_returnable) for x in left] == [("2", "1")]


def test_a_return_refunds_what_was_paid_after_shop_discounts_exactly_over_all_returns(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"), ("COFFEE", "3"))
    call(pos, "AddDiscountLine", sale_id=sid, percent="20", line_ids=["1"], name="Aktion")
    call(pos, "AddDiscountLine", sale_id=sid, amount=money(1000), name="Treue")
    pay(pos, sid, CASH, 20000)
    original = post(pos, sid)
    # 100.00 - 20 % = 80.00 and 26.97, then 10.00 off by their share: 7.48 and 2.52
    assert original.total.amount_minor == 8000 + 2697 - 1000

    def refund(line_id: str, quantity: str) -> int:
        ret = pos.create_sale().sale_id
        r = call(pos, "AddReturnLine", sale_id=ret, original_sale_id=original.sale_id,
                 original_line_id=line_id, quantity=quantity)  # fmt: skip
        amount = -int(r.sale.lines[0].amount.amount_minor)
        pay(pos, ret, CASH, -amount)
        post(pos, ret)
        return amount

    assert refund("1", "1") == 8000 - 748  # not the 100.00 on the shelf
    # one piece at a time: the three refunds add up to what the three cost, to the cent
    coffee = [refund("2", "1") for _ in range(3)]
    assert sum(coffee) == 2697 - 252
    assert max(coffee) - min(coffee) <= 1
    assert 8000 - 748 + sum(coffee) == original.total.amount_minor
    cash = rows(running, "SELECT SUM(amount) FROM drawer_entries WHERE kind = 'SALE_PAYMENT'")
    change = rows(running, "SELECT -SUM(amount) FROM drawer_entries WHERE kind = 'CHANGE'")
    assert cash[0][0] - change[0][0] == 0  # every cent taken was given back


def sell_voucher(pos: PosdClient, code: str, value: int = 2500) -> sale_pb2.Sale:
    sid = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code=code, amount=money(value))  # fmt: skip
    pay(pos, sid, CASH, value)
    return post(pos, sid)


def return_line(pos: PosdClient, original: sale_pb2.Sale) -> str:
    sid = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
         original_line_id="1")  # fmt: skip
    return sid


def test_a_voucher_is_returned_only_unused_and_is_void_then(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    voucher = "SELECT code, state, redeemed FROM vouchers WHERE code = ?"
    # unused: the return carries the code, refunds it and voids the voucher
    v1 = sell_voucher(pos, "GV-1")
    sid = return_line(pos, v1)
    ret = call(pos, "GetSale", sale_id=sid).sale.lines[0]
    assert (ret.kind, ret.voucher_code, ret.amount.amount_minor) == (
        sale_pb2.LINE_KIND_RETURN, "GV-1", -2500
    )  # fmt: skip
    pay(pos, sid, CASH, -2500)
    returned = post(pos, sid)
    assert rows(running, voucher, "GV-1") == [("GV-1", "VOID", 0)]
    e = error(call, pos, "AddVoucherLine", sale_id=sale_of(pos, ("TV", "1")), code="GV-1")
    assert e.reason == "VOUCHER_VOID"
    # a storno of the return makes it valid again
    call(pos, "ReverseReceipt", sale_id=returned.sale_id, reason="Irrtum")
    assert rows(running, voucher, "GV-1") == [("GV-1", "ISSUED", 0)]
    # partly redeemed: never refunded
    v2 = sell_voucher(pos, "GV-2")
    sid = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-2", amount=money(899))
    post(pos, sid)
    e = error(return_line, pos, v2)
    assert (e.reason, e.metadata["voucher_code"]) == ("VOUCHER_ALREADY_REDEEMED", "GV-2")
    # redeemed while its return was open: the return cannot be posted
    v3 = sell_voucher(pos, "GV-3")
    back = return_line(pos, v3)
    pay(pos, back, CASH, -2500)
    sid = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=sid, code="GV-3", amount=money(100))
    pay(pos, sid, CASH, 799)
    post(pos, sid)
    e = error(post, pos, back)
    assert e.reason == "VOUCHER_ALREADY_REDEEMED"
    assert rows(running, voucher, "GV-3") == [("GV-3", "ISSUED", 100)]
    assert rows(running, "SELECT COUNT(*) FROM drawer_entries WHERE sale_id = ?", back) == [(0,)]
    # the closing: a voucher taken back is its sale negative, not turnover
    cases = {(c.business_case, c.gv_typ): c.gross.amount_minor
             for c in pos.x_report().business_cases}  # fmt: skip
    assert cases[("VOUCHERS_SOLD", "MehrzweckgutscheinKauf")] == 3 * 2500 - 2500 + 2500
    assert cases[("RETURNS", "Umsatz")] == 0


def test_an_exchange_pays_the_difference_or_books_it_to_the_balancing_account(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    original = sold_receipt(pos)
    up = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=up, original_sale_id=original.sale_id,
         original_line_id="1", quantity="1")  # fmt: skip
    pos.add_line(up, item_id="TV")
    s = pay(pos, up, CARD).sale  # 100.00 - 8.09 = 91.91 paid normally
    assert s.payments[0].amount.amount_minor == 9191
    post(pos, up)
    down = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=down, original_sale_id=original.sale_id,
         original_line_id="1", quantity="2")  # fmt: skip
    pos.add_line(down, item_id="ROLL")
    done = post(pos, down, balance_negative_total=True)
    assert done.total.amount_minor == 0
    assert done.lines[-1].kind == sale_pb2.LINE_KIND_BALANCING
    assert done.lines[-1].item_id == "AUSGLEICH"
    assert rows(running, "SELECT COUNT(*) FROM drawer_entries WHERE sale_id = ?", down) == [(0,)]


# -- 6. storno ----------------------------------------------------------------------------------


def test_a_reversal_receipt_negates_everything_and_refunds_the_same_way(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"), ("ROLL", "2"))
    pay(pos, sid, CARD, 5000, card_institute="VISA", authorization_code="77")
    pay(pos, sid, CASH, 6000)
    original = post(pos, sid)
    with running.client("2", "0000") as cashier:
        e = error(call, cashier, "ReverseReceipt", sale_id=sid, reason="Fehlbon")
        assert e.code == grpc.StatusCode.PERMISSION_DENIED
    r = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    assert (r.state, r.receipt_number, r.reverses_receipt_number) == (
        sale_pb2.SALE_STATE_POSTED, 2, 1
    )  # fmt: skip
    assert r.total.amount_minor == -original.total.amount_minor == -10070
    assert [(ln.quantity, ln.amount.amount_minor) for ln in r.lines] == [("-1", -10000),
                                                                        ("-2", -70)]  # fmt: skip
    refunds = [(p.method, p.amount.amount_minor, p.card_institute) for p in r.payments]
    assert refunds == [(CARD, -5000, "VISA"), (CASH, -5070, "")]
    assert r.tse.process_data == "Beleg^-100.00_-0.70_0.00_0.00_0.00^-50.70:Bar_-50.00:Unbar"
    assert r.tse.signature  # signed like any receipt
    again = pos.get_sale(sid)  # never alters the original
    assert (again.state, again.revision, again.total.amount_minor) == (
        original.state, original.revision, 10070
    )  # fmt: skip
    e = error(call, pos, "ReverseReceipt", sale_id=sid)
    assert e.reason == "RECEIPT_ALREADY_REVERSED"
    [event] = call(pos, "ListAuditEvents", kinds=["RECEIPT_REVERSED"]).events
    body = json.loads(event.details_json)
    assert (body["original_receipt"], body["reason"], event.operator_id) == (1, "Fehlbon", "1")


# -- 7. parking ---------------------------------------------------------------------------------


def test_park_prints_a_slip_and_resume_by_barcode_one_register_at_a_time(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    update_register(pos, requirements=[shop_pb2.DocumentRequirement(
        document_type=shop_pb2.DOCUMENT_TYPE_RECEIPT, attribute="customer_email")])  # fmt: skip
    sid = sale_of(pos, ("COFFEE", "1"))
    parked = call(pos, "ParkSale", sale_id=sid).sale  # mandatory attributes not checked
    code = parked.parking_code
    assert parked.state == sale_pb2.SALE_STATE_PARKED
    assert len(code) == 13 and code.startswith("2901")
    jobs = rows(running, "SELECT payload FROM outbox WHERE ref = ? AND kind = 'print'", sid)
    assert [json.loads(j[0])["document"] for j in jobs] == ["parking_slip"]
    e = error(pos.add_line, sid, item_id="ROLL")
    assert e.reason == "SALE_PARKED"
    listed = [s.sale_id for s in pos.list_sales(state=sale_pb2.SALE_STATE_PARKED)]
    assert listed == [sid]
    back = call(pos, "ResumeSale", code=code).sale
    assert (back.state, back.held_by) == (sale_pb2.SALE_STATE_OPEN, "REG-1")
    e = error(call, pos, "ResumeSale", code=code)
    assert (e.reason, e.metadata["held_by"]) == ("SALE_HELD", "REG-1")
    pay(pos, sid, CASH)
    e = error(post, pos, sid)  # the register's required attributes at posting
    assert e.reason == "DOCUMENT_ATTRIBUTE_MISSING"
    e = error(call, pos, "ResumeSale", code="4006381333931")
    assert e.reason == "PARKED_SALE_NOT_FOUND"


def test_resuming_keeps_recorded_discounts_within_permissions(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    update_shop(pos, role_discount_limits=[shop_pb2.DiscountLimit(key="manager", percent="20")])
    sid = sale_of(pos, ("COFFEE", "1"))
    call(pos, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="15")
    code = call(pos, "ParkSale", sale_id=sid).sale.parking_code
    with running.client("2", "0000") as cashier:  # no DISCOUNT permission
        back = call(cashier, "ResumeSale", code=code).sale
        assert back.lines[0].discount_percent == "15"  # not recomputed
        assert back.lines[0].discount_cap == "15"
        e = error(call, cashier, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="0")
        assert e.code == grpc.StatusCode.PERMISSION_DENIED
    update_shop(pos, role_discount_limits=[shop_pb2.DiscountLimit(key="manager", percent="5")])
    # with DISCOUNT: between zero and the recorded 15 % (their own limit is 5 %)
    call(pos, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="12")
    e = error(call, pos, "SetLineDiscount", sale_id=sid, line_id="1", discount_percent="16")
    assert e.reason == "DISCOUNT_LIMIT_EXCEEDED"


# -- 8. orders-only register --------------------------------------------------------------------


def test_an_orders_only_register_builds_and_parks_but_does_not_post(pos: PosdClient) -> None:
    seed(pos)
    update_register(pos, orders_only=True)
    sid = sale_of(pos, ("COFFEE", "1"))
    assert error(pay, pos, sid, CASH, 899).reason == "REGISTER_ORDERS_ONLY"
    assert error(post, pos, sid).reason == "REGISTER_ORDERS_ONLY"
    code = call(pos, "ParkSale", sale_id=sid).sale.parking_code
    update_register(pos, orders_only=False)  # the same terminal as a payment register
    call(pos, "ResumeSale", code=code)
    pay(pos, sid, CASH, 899)
    assert post(pos, sid).state == sale_pb2.SALE_STATE_POSTED


# -- 9. audit -----------------------------------------------------------------------------------


def test_draft_delete_post_for_less_is_visible_in_the_audit_trail(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"), ("COFFEE", "1"))
    call(pos, "SetLinePrice", sale_id=sid, line_id="2", unit_price=money(500))
    call(pos, "RemoveLine", sale_id=sid, line_id="1")
    pay(pos, sid, CASH, 500)
    post(pos, sid)
    pos.open_drawer(reason="Wechselgeld")
    events = call(pos, "ListAuditEvents", sale_id=sid).events
    assert [e.kind for e in events] == ["LINE_REMOVED", "PRICE_OVERRIDE"]
    removed = json.loads(events[0].details_json)
    assert (removed["item_id"], removed["total_before"], removed["total_after"]) == (
        "TV", 10500, 500
    )  # fmt: skip
    assert all(e.operator_id == "1" and e.event_time.seconds > 0 for e in events)
    drawer = call(pos, "ListAuditEvents", kinds=["DRAWER_OPENED_NO_SALE"]).events
    assert len(drawer) == 1
    e = error(call, pos, "ListAuditEvents", kinds=["NOPE"])
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_reversed_return_gives_the_goods_back_to_the_receipt(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = sale_of(pos, ("TV", "1"))
    pay(pos, sid, CASH, 10000)
    original = post(pos, sid)
    ret = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=ret, original_sale_id=sid, original_line_id="1")
    pay(pos, ret, CASH, -10000)
    returned = post(pos, ret)

    def returnable() -> str:
        lines = call(pos, "ListReturnableLines", receipt_number=original.receipt_number).lines
        return str(lines[0].quantity_returnable)

    assert returnable() == "0"
    e = error(call, pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon")
    assert e.reason == "RECEIPT_HAS_RETURNS"
    # the return was a mistake: its storno gives the customer the TV (and the money) back
    call(pos, "ReverseReceipt", sale_id=returned.sale_id, reason="Irrtum")
    assert returnable() == "1"
    # so the receipt can be returned again (refunding its full price once) or reversed
    again = pos.create_sale().sale_id
    line = call(pos, "AddReturnLine", sale_id=again, original_sale_id=sid,
                original_line_id="1").sale.lines[0]  # fmt: skip
    assert line.amount.amount_minor == -10000
    pos.cancel_sale(again)
    storno = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    assert storno.total.amount_minor == -10000


def test_fixed_amount_lines_hold_the_currency_rate_and_price_basis(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    import_customers(
        pos,
        customer("B1", "Bau GmbH", price_entry=common_pb2.PRICE_BASIS_NET, street="Hauptstr. 1",
                 postal_code="10115", city="Berlin", country_code="DE", vat_id="DE999999999"),
    )  # fmt: skip
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.5")])
    sid = sale_of(pos, ("TV", "1"))
    pay(pos, sid, CASH, 10000)
    post(pos, sid)
    ret = pos.create_sale().sale_id
    before = call(
        pos, "AddReturnLine", sale_id=ret, original_sale_id=sid, original_line_id="1"
    ).sale
    # a net-priced customer or another currency would turn the 100.00 refund into 119.00
    # or 100 CHF (= 200.00): refused, the sale unchanged
    e = error(pos.set_customer, ret, "B1", recalculate_lines=False)
    assert (e.reason, e.metadata["lines"]) == ("TERMS_LOCKED_BY_LINES", "1")
    e = error(call, pos, "SetCurrency", sale_id=ret, currency_code="CHF")
    assert e.reason == "TERMS_LOCKED_BY_LINES"
    s = pos.get_sale(ret)
    assert s == before
    assert (s.total.amount_minor, s.total.currency_code) == (-10000, "EUR")
    pay(pos, ret, CASH, -10000)
    assert post(pos, ret).total.amount_minor == -10000
    # a plain sale changes its terms as before
    other = sale_of(pos, ("TV", "1"))
    changed = pos.set_customer(other, "B1", recalculate_lines=False)
    assert changed.customer.customer_number == "B1"


def test_recalculating_for_a_customer_keeps_a_shop_discount_line_its_own_percent(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    import_customers(pos, customer("K50", "Stammkunde", discount_percent="50"))
    sid = sale_of(pos, ("TV", "1"))
    s = call(pos, "AddDiscountLine", sale_id=sid, percent="2", line_ids=["1"], name="Aktion").sale
    assert [ln.amount.amount_minor for ln in s.lines] == [10000, -200]
    s = pos.set_customer(sid, "K50", recalculate_lines=True)
    # the customer's 50 % on the goods (50.00), the shop's 2 % of that (1.00): 49.00
    assert [(ln.discount_percent, ln.amount.amount_minor) for ln in s.lines] == [
        ("50", 5000),
        ("2", -100),
    ]
    assert s.total.amount_minor == 4900


def test_a_storno_is_checked_before_it_exists_and_is_never_edited(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    # the register's document rules changed after the sale: the storno inherits the
    # original's document, so a later e-mail requirement does not block it
    sid = sale_of(pos, ("TV", "1"))
    pay(pos, sid, CASH, 10000)
    post(pos, sid)
    update_register(pos, requirements=[shop_pb2.DocumentRequirement(
        document_type=shop_pb2.DOCUMENT_TYPE_RECEIPT, attribute="customer_email")])  # fmt: skip
    storno = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    assert storno.total.amount_minor == -10000
    update_register(pos, requirements=[])
    # a storno its checks refuse (the voucher it would take back was redeemed) leaves
    # nothing behind: no open sale that a cashier could rewrite or that blocks the Z
    sold = sell_voucher(pos, "GV-7")
    use = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=use, code="GV-7", amount=money(899))
    post(pos, use)
    e = error(call, pos, "ReverseReceipt", sale_id=sold.sale_id, reason="Fehlbon")
    assert e.reason == "VOUCHER_ALREADY_REDEEMED"
    sql = "SELECT COUNT(*) FROM sales WHERE reverses_sale_id = ?"
    assert rows(running, sql, sold.sale_id) == [(0,)]


def test_an_open_storno_left_by_a_failed_post_cannot_be_edited(tmp_path: Path) -> None:
    r = start_in_thread(tmp_path / "state", {"tse": {"backend": "none"}})
    try:
        with r.client() as pos:
            seed(pos)
            sid = sale_of(pos, ("TV", "1"))
            pay(pos, sid, CASH, 10000)
            post(pos, sid)
            pos.retries = 0
            crashpoints.arm_from_env("post.in_transaction:1:raise")
            try:
                error(call, pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon")
            finally:
                crashpoints.arm_from_env("")
            [(rid,)] = rows(r, "SELECT sale_id FROM sales WHERE reverses_sale_id = ?", sid)
            e = error(pos.add_line, rid, item_id="COFFEE")
            assert e.reason == "REVERSAL_NOT_EDITABLE"
            storno = pos.get_sale(rid)
            e = error(call, pos, "RemovePayment", sale_id=rid,
                      payment_id=storno.payments[0].payment_id)  # fmt: skip
            assert e.reason == "REVERSAL_NOT_EDITABLE"
            e = error(call, pos, "ParkSale", sale_id=rid)
            assert e.reason == "REVERSAL_NOT_EDITABLE"
            # asking again posts exactly the negated receipt
            again = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
            assert (again.sale_id, again.total.amount_minor) == (rid, -10000)
    finally:
        r.stop()


def test_yen_without_minor_units_are_signed_and_exported_as_yen(
    running: Running, pos: PosdClient
) -> None:
    """JPY has no minor unit: 16000 yen are "16000.00" in processData and the export, not
    160.00 (an amount formatted as if it had cents)."""
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="JPY", rate="160")])
    sid = sale_of(pos, ("TV", "1"))
    call(pos, "SetCurrency", sale_id=sid, currency_code="JPY")
    pay(pos, sid, CASH, 16000, currency="JPY")
    done = post(pos, sid)
    assert done.tse.process_data == "Beleg^100.00_0.00_0.00_0.00_0.00^16000.00:Bar:JPY"
    shift = pos.call(pos.closing.GetShift, closing_pb2.GetShiftRequest()).shift
    pos.close_shift(
        [
            closing_pb2.CashCount(currency_code=m.currency_code, total_minor=m.amount_minor)
            for m in shift.expected_cash
        ]
    )
    z = pos.z_closing()
    files = zipfile.ZipFile(io.BytesIO(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr)))
    datapayment = files.read("datapayment.csv").decode("utf-8")
    assert '"JPY";16000,00;100,00' in datapayment, datapayment
    assert '"JPY";16000,00' in files.read("cash_per_currency.csv").decode("utf-8")


def test_a_card_after_cash_pays_exact_cents_not_the_cash_rounding(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9513")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="CHF", increment_minor=5)],
    )
    sid = sale_of(pos, ("COFFEE", "1"), ("ROLL", "1"))
    assert call(pos, "SetCurrency", sale_id=sid, currency_code="CHF").sale.total.amount_minor == 888
    pay(pos, sid, CASH, 500, currency="CHF")
    s = pay(pos, sid, CARD).sale  # "the rest by card"
    assert [p.amount.amount_minor for p in s.payments] == [500, 388]
    assert (s.rounding.amount_minor, s.amount_due.amount_minor) == (0, 888)
    # split over two cards likewise: 3.88 in exact cents, no rounding for the shop to lose
    other = sale_of(pos, ("COFFEE", "1"), ("ROLL", "1"))
    call(pos, "SetCurrency", sale_id=other, currency_code="CHF")
    pay(pos, other, CASH, 500, currency="CHF")
    s = call(pos, "SplitCardPayment", sale_id=other, parts=2).sale
    assert [p.amount.amount_minor for p in s.payments] == [500, 194, 194]
    assert s.rounding.amount_minor == 0


def test_foreign_amounts_that_cannot_be_booked_are_refused_before_signing(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    import_items(pos, item("BIG", "Big", 1_000_000))
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.000001")])
    # a down payment in another currency than its payment
    sid = sale_of(pos, ("TV", "1"))
    e = error(call, pos, "AddPayment", sale_id=sid, method=CREDIT,
              contract_number="C-1", down_payment_method=CASH,
              down_payment_amount=money(2000, "USD"))  # fmt: skip
    assert (e.code, e.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CURRENCY_MISMATCH")
    assert not pos.get_sale(sid).payments
    # change in EUR beyond any amount, at a tiny CHF rate: refused, nothing signed
    big = sale_of(pos, ("BIG", "1"))
    call(pos, "SetCurrency", sale_id=big, currency_code="CHF")
    call(pos, "SetDocumentType", sale_id=big, document_type=shop_pb2.DOCUMENT_TYPE_RECEIPT)
    pay(pos, big, CASH, 10**13, currency="CHF")
    e = error(post, pos, big, change_currency_code="EUR")
    assert (e.code, e.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "AMOUNT_OUT_OF_RANGE")
    assert pos.get_sale(big).state == sale_pb2.SALE_STATE_OPEN
