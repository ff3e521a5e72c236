"""Historic UST_SCHLUESSEL (DSFinV-K Anlage 2) in harder cases: a storno of a receipt in
francs taxed at the 2020 rates, a voucher taxed when sold (Einzweckgutschein) at 16 %
and redeemed at 19 %, and several closings across a rate change (one of them closed
after midnight) in one export. Every file must reconcile (``assert_reconciles``): each
key in its Z's vat.csv, lines_vat per Vorgang and key = transactions_vat, the Belege's
lines per Z, GV_TYP and key = businesscases.csv; businesscases.csv adds up to each Z's
totals; and the lines pass run in child processes writes the very bytes the inline one
does.

The daemon runs in-process with an injected clock (register.timezone UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from posd.client import PosdClient, new_request_id
from posd.v1 import catalog_pb2, common_pb2, sale_pb2, shop_pb2

from tests.conftest import start_in_thread
from tests.integration.day.test_business_day import FixedClock
from tests.integration.day.test_dsfinvk_historic_keys import (
    Tables,
    assert_reconciles,
    export_both_ways,
    reverse,
    sell,
    vat_of,
)
from tests.integration.day.test_full_day import cents, read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, item, update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH


def call(pos: PosdClient, rpc: str, **fields: object) -> sale_pb2.Sale:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    req = request_type(request_id=new_request_id(), **fields)
    sale: sale_pb2.Sale = pos.call(getattr(pos.sales, rpc), req).sale
    return sale


def assert_z_totals(t: Tables) -> None:
    """businesscases.csv of each closing adds up to what its Vorgänge booked: the Belege's
    UMS_BRUTTO (the rounding included) and the cash movements."""
    belege: dict[str, int] = {}
    for r in t["transactions.csv"]:
        if r["BON_TYP"] == "Beleg":
            belege[r["Z_NR"]] = belege.get(r["Z_NR"], 0) + cents(r["UMS_BRUTTO"])
    cases: dict[str, int] = {}
    for r in t["businesscases.csv"]:
        cases[r["Z_NR"]] = cases.get(r["Z_NR"], 0) + cents(r["Z_UMS_BRUTTO"])
    assert {z: v for z, v in cases.items() if v} == {z: v for z, v in belege.items() if v}


def test_a_storno_of_a_franc_receipt_after_a_rate_change_reconciles(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2020, 12, 30, 12, 0, tzinfo=UTC))  # 16 % / 5 %
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            import_items(
                pos,
                item("KAFFEE", "Kaffee", 257),
                item("BROT", "Brot", 333, vat=common_pb2.VAT_CATEGORY_REDUCED),
            )
            update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
            sid = pos.create_sale().sale_id
            call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
            line = pos.add_line(sid, item_id="KAFFEE", quantity="3").line_id
            pos.add_line(sid, item_id="BROT")
            pos.add_line(sid, item_id="BROT")
            call(pos, "SetLineDiscount", sale_id=sid, line_id=line, discount_percent="12.5")
            call(pos, "SetSaleDiscount", sale_id=sid, discount_percent="3")
            due = pos.get_sale(sid).total.amount_minor
            pos.add_payment(sid, CASH, due, currency="CHF")
            francs = pos.post_sale(sid)
            assert {ln.vat_rate for ln in francs.lines} == {"16", "5"}
            close_as_expected(pos)
            z1 = pos.z_closing()
            clock.now = datetime(2021, 1, 4, 12, 0, tzinfo=UTC)  # 19 % / 7 %
            pos.open_shift(
                PosdClient.cash_counts(total=0) + PosdClient.cash_counts(total=due, currency="CHF")
            )
            reverse(pos, francs.sale_id)
            sell(pos, "KAFFEE", 257)
            close_as_expected(pos)
            z2 = pos.z_closing()
            t, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z2.z_nr))
    finally:
        running.stop()
    z_2 = str(z2.z_nr)
    assert {"21", "22"} <= set(vat_of(t, z_2))
    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    storno = next(b for b, r in heads.items() if r["BON_NOTIZ"].startswith("Storno"))
    # the storno takes back exactly what the receipt booked, under the historic keys
    original = next(b for b, r in heads.items() if r["Z_NR"] == str(z1.z_nr))
    assert cents(heads[storno]["UMS_BRUTTO"]) == -cents(heads[original]["UMS_BRUTTO"])
    keys = {r["UST_SCHLUESSEL"] for r in t["transactions_vat.csv"] if r["BON_ID"] == storno}
    assert keys <= {"21", "22", "5"}
    assert_reconciles(t)
    assert_z_totals(t)


def test_a_voucher_taxed_when_sold_redeemed_after_a_rate_change_reconciles(
    tmp_path: Path,
) -> None:
    clock = FixedClock(datetime(2020, 12, 30, 12, 0, tzinfo=UTC))  # 16 %
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            import_items(
                pos,
                item("KAFFEE", "Kaffee", 1999),
                item("EZG", "Einzweckgutschein", 1000, item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
            )
            sid = pos.create_sale().sale_id
            value = common_pb2.Money(amount_minor=1000, currency_code="EUR")
            sell_voucher = sale_pb2.VOUCHER_ACTION_SELL
            call(pos, "AddVoucherLine", sale_id=sid, code="EZG", action=sell_voucher,
                 voucher_code="EZ-1", amount=value)  # fmt: skip
            pos.add_payment(sid, CASH, 1000)
            sold = pos.post_sale(sid)
            assert [ln.vat_rate for ln in sold.lines] == ["16"]
            close_as_expected(pos)
            z1 = pos.z_closing()
            clock.now = datetime(2021, 1, 4, 12, 0, tzinfo=UTC)  # 19 %
            pos.open_shift(PosdClient.cash_counts(total=1000))
            sid = pos.create_sale().sale_id
            pos.add_line(sid, item_id="KAFFEE")
            call(pos, "AddVoucherLine", sale_id=sid, code="EZ-1")
            pos.add_payment(sid, CASH, pos.get_sale(sid).open_amount.amount_minor)
            pos.post_sale(sid)
            close_as_expected(pos)
            z2 = pos.z_closing()
            t, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z2.z_nr))
    finally:
        running.stop()
    z_2 = str(z2.z_nr)
    cases = {
        (r["GV_TYP"], r["UST_SCHLUESSEL"]): cents(r["Z_UMS_BRUTTO"])
        for r in t["businesscases.csv"]
        if r["Z_NR"] == z_2
    }
    # the redemption takes the voucher's value off, under the key of the rate its line
    # carries as posted (whichever that is: every key used is in vat.csv)
    redeemed = {k: v for (gv, k), v in cases.items() if gv == "EinzweckgutscheinEinloesung"}
    assert sum(redeemed.values()) == -1000
    assert set(redeemed) <= set(vat_of(t, z_2))
    assert cases[("Umsatz", "1")] == 1999
    assert_reconciles(t)
    assert_z_totals(t)


def test_closings_across_a_rate_change_reconcile_and_export_alike_in_parts(
    tmp_path: Path,
) -> None:
    clock = FixedClock(datetime(2020, 6, 29, 12, 0, tzinfo=UTC))  # 19 % / 7 %
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            import_items(
                pos,
                item("KAFFEE", "Kaffee", 257),
                item("BROT", "Brot", 333, vat=common_pb2.VAT_CATEGORY_REDUCED),
            )
            first = sell(pos, "KAFFEE", 257)
            sell(pos, "BROT", 333)
            close_as_expected(pos)
            z1 = pos.z_closing()
            # the next day's Z is made after midnight, across the change to 16 % / 5 %
            clock.now = datetime(2020, 6, 30, 23, 0, tzinfo=UTC)
            pos.open_shift(PosdClient.cash_counts(total=590))
            bread = sell(pos, "BROT", 333)
            clock.now = datetime(2020, 7, 1, 0, 5, tzinfo=UTC)
            reverse(pos, first.sale_id)  # 19 %: key 11 in a Z whose key 1 is 16 %
            sell(pos, "KAFFEE", 257)
            close_as_expected(pos)
            z2 = pos.z_closing("2020-06-30")
            clock.now = datetime(2020, 7, 2, 12, 0, tzinfo=UTC)
            pos.open_shift(PosdClient.cash_counts(total=590 + 333))
            reverse(pos, bread.sale_id)  # 7 %: key 12
            sell(pos, "BROT", 333)
            close_as_expected(pos)
            z3 = pos.z_closing()
            clock.now = datetime(2020, 7, 3, 12, 0, tzinfo=UTC)
            z4 = pos.z_closing()  # a day without any Vorgang
            t, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z4.z_nr))
        register = t["cashpointclosing.csv"][0]["Z_KASSE_ID"]
        files = export_both_ways(running, register, tmp_path, z1.z_nr, z4.z_nr)
    finally:
        running.stop()
    assert vat_of(t, str(z1.z_nr))["1"] == "19,00"
    vat2 = vat_of(t, str(z2.z_nr))
    assert (vat2["1"], vat2["11"], vat2["12"]) == ("16,00", "19,00", "7,00")
    vat3 = vat_of(t, str(z3.z_nr))
    assert (vat3["2"], vat3["12"]) == ("5,00", "7,00")
    assert "11" not in vat3
    assert_reconciles(t)
    assert_z_totals(t)
    assert files[True] == files[False]
    assert b";12;-3,33000;" in files[True]["businesscases.csv"]


def test_the_vat_of_a_historic_key_is_the_receipts_not_the_sum_of_its_lines(
    tmp_path: Path,
) -> None:
    """A storno of ten lines of 1.03 at 16 %: the receipt's tax is 1.42 (16 % of 10.30,
    rounded once), its lines' taxes add up to 1.40 (0.14 each). The Z books the
    receipt's 1.42; businesscases.csv must book it under key 21 too, and leave the key
    1 (19 %) row its own tax, not one 2 cents off its rate."""
    clock = FixedClock(datetime(2020, 12, 30, 12, 0, tzinfo=UTC))  # 16 %
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            import_items(pos, item("KEKS", "Keks", 103), item("KAFFEE", "Kaffee", 257))
            sid = pos.create_sale().sale_id
            for _ in range(10):
                pos.add_line(sid, item_id="KEKS")
            pos.add_payment(sid, CASH, 1030)
            old = pos.post_sale(sid)
            close_as_expected(pos)
            z1 = pos.z_closing()
            clock.now = datetime(2021, 1, 4, 12, 0, tzinfo=UTC)  # 19 %
            pos.open_shift(PosdClient.cash_counts(total=1030))
            reverse(pos, old.sale_id)
            sell(pos, "KAFFEE", 257)
            close_as_expected(pos)
            z2 = pos.z_closing()
            t, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z2.z_nr))
    finally:
        running.stop()
    z_2 = str(z2.z_nr)
    heads = {r["BON_ID"]: r for r in t["transactions.csv"] if r["Z_NR"] == z_2}
    storno = next(b for b, r in heads.items() if r["BON_NOTIZ"].startswith("Storno"))
    (head_vat,) = [r for r in t["transactions_vat.csv"] if r["BON_ID"] == storno]
    assert (head_vat["UST_SCHLUESSEL"], head_vat["BON_UST"]) == ("21", "-1,42000")
    cases = {(r["GV_TYP"], r["UST_SCHLUESSEL"]): r for r in t["businesscases.csv"]}
    assert (cases[("Umsatz", "21")]["Z_UMS_BRUTTO"], cases[("Umsatz", "21")]["Z_UST"]) == (
        "-10,30000",
        "-1,42000",
    )
    # 2.57 at 19 %: 0.41 of tax
    assert (cases[("Umsatz", "1")]["Z_UMS_BRUTTO"], cases[("Umsatz", "1")]["Z_UST"]) == (
        "2,57000",
        "0,41000",
    )
    assert_reconciles(t)
    assert_z_totals(t)
