"""Line and document discounts in the DSFinV-K export: the Z (businesscases.csv,
Z_GV_Typ) books a discounted receipt as turnover before the discount (``Umsatz``) and the
discount beside it (``Rabatt``, negative), so the receipt's lines (lines.csv GV_TYP with
lines_vat.csv, Bonpos/Bonpos_USt) must say the same: summed per GV_TYP and
UST_SCHLUESSEL over the Belege of a Z they are its Z_GV_Typ rows, to the cent. An
auditor's import (IDEA/AIS TaxAudit) reconciles Bonpos with Z_GV_Typ; before, the lines
held the discounted amounts as ``Umsatz`` and no ``Rabatt`` at all.

A real daemon (gRPC, SQLite file, software TSE) plays a day: euro sales with line and
document discounts, a voucher sold and redeemed, francs with a discount, a return, a
storno of a discounted receipt, a training sale, cash movements; then a net-priced
(business) sale with a line discount."""

from __future__ import annotations

from collections import defaultdict

from posd.v1 import common_pb2, customer_pb2, sale_pb2

from tests.integration.day.test_fiscal_crosscheck import (
    DaySpec,
    SaleSpec,
    Tables,
    close_day,
    play_day,
    register,
)
from tests.integration.day.test_full_day import cents

DAY = DaySpec(
    euro_step=5,
    sales=(
        SaleSpec((("N19", 2), ("R7", 1)), 15, 3, 0, False, "cash_change"),
        SaleSpec((("N19", 1),), 0, 0, 2500, False, "card"),
        SaleSpec((("Z0", 2), ("R7", 1)), 0, 10, 0, True, "cash_exact"),
        SaleSpec((("N19", 3), ("R7", 2)), 5, 10, 0, False, "chf_eur"),
        SaleSpec((("R7", 3),), 0, 0, 1000, False, "chf_chf"),
        SaleSpec((("N19", 1),), 15, 0, 0, False, "split", True),
    ),
    returns=1,
    stornos=1,
    deposit=1000,
    withdrawal=500,
)


def per_gv_and_key(tables: Tables) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(lines of the Belege, Z_GV_Typ) summed per (GV_TYP, UST_SCHLUESSEL), gross."""
    heads = {r["BON_ID"]: r for r in tables["transactions.csv"]}
    gv = {(r["BON_ID"], r["POS_ZEILE"]): r["GV_TYP"] for r in tables["lines.csv"]}
    lines: dict[tuple[str, str], int] = defaultdict(int)
    for r in tables["lines_vat.csv"]:
        if heads[r["BON_ID"]]["BON_TYP"] == "Beleg":
            lines[(gv[(r["BON_ID"], r["POS_ZEILE"])], r["UST_SCHLUESSEL"])] += cents(
                r["POS_BRUTTO"]
            )
    z: dict[tuple[str, str], int] = defaultdict(int)
    for r in tables["businesscases.csv"]:
        z[(r["GV_TYP"], r["UST_SCHLUESSEL"])] += cents(r["Z_UMS_BRUTTO"])
    return {k: v for k, v in lines.items() if v}, {k: v for k, v in z.items() if v}


def check_receipts(tables: Tables) -> None:
    """Each receipt on its own: one lines.csv row per lines_vat.csv row (same POS_ZEILE,
    each once), and its lines add up to UMS_BRUTTO and to its Bonkopf_USt per key."""
    ln = [(r["BON_ID"], r["POS_ZEILE"]) for r in tables["lines.csv"]]
    lv = [(r["BON_ID"], r["POS_ZEILE"]) for r in tables["lines_vat.csv"]]
    assert len(set(ln)) == len(ln) and sorted(ln) == sorted(lv)
    by_bon: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in tables["lines_vat.csv"]:
        by_bon[r["BON_ID"]][r["UST_SCHLUESSEL"]] += cents(r["POS_BRUTTO"])
    head_vat: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in tables["transactions_vat.csv"]:
        head_vat[r["BON_ID"]][r["UST_SCHLUESSEL"]] += cents(r["BON_BRUTTO"])
    for head in tables["transactions.csv"]:
        if head["BON_TYP"] not in ("Beleg", "AVTraining"):
            continue
        bon = head["BON_ID"]
        assert sum(by_bon[bon].values()) == cents(head["UMS_BRUTTO"]), bon
        assert {k: v for k, v in by_bon[bon].items() if v} == {
            k: v for k, v in head_vat[bon].items() if v
        }, bon


def test_discounted_lines_add_up_to_the_z_per_business_case_and_vat_key() -> None:
    with register() as (pos, _db):
        play_day(pos, DAY)
        _z, tables, _, _ = close_day(pos)
        lines, z_rows = per_gv_and_key(tables)
        assert ("Rabatt", "1") in z_rows and ("Rabatt", "2") in z_rows  # discounts given
        assert lines == z_rows
        check_receipts(tables)
        # a discount line says what it is, at the rate of the goods it reduced
        rebates = [
            r
            for r in tables["lines.csv"]
            if r["GV_TYP"] == "Rabatt" and r["ARTIKELTEXT"] != "Rundung"
        ]
        assert rebates and all(cents(r["STK_BR"]) != 0 for r in rebates)


def test_a_net_priced_discounted_sale_adds_up_to_the_z() -> None:
    with register() as (pos, _db):
        play_day(pos, DaySpec(1, (SaleSpec((("N19", 1),), 0, 0, 0, False, "card"),), 0, 0, 0, 0))
        pos.create_customer(
            customer_pb2.Customer(
                customer_number="B-1",
                name="Muster GmbH",
                company="Muster GmbH",
                street="Hauptstr. 1",
                postal_code="10115",
                city="Berlin",
                price_entry=common_pb2.PRICE_BASIS_NET,
            )
        )
        sid = pos.create_sale().sale_id
        pos.set_customer(sid, "B-1")
        line = pos.add_line(sid, item_id="N19", quantity="3").line_id
        pos.add_line(sid, item_id="R7", quantity="7")
        pos.call(
            pos.sales.SetLineDiscount,
            sale_pb2.SetLineDiscountRequest(
                request_id="nd1", sale_id=sid, line_id=line, discount_percent="12.5"
            ),
        )
        pos.call(
            pos.sales.SetSaleDiscount,
            sale_pb2.SetSaleDiscountRequest(request_id="nd2", sale_id=sid, discount_percent="3"),
        )
        total = pos.get_sale(sid).total.amount_minor
        pos.add_payment(sid, common_pb2.PAYMENT_METHOD_CARD, total)
        pos.post_sale(sid)
        _z, tables, _, _ = close_day(pos)
        lines, z_rows = per_gv_and_key(tables)
        assert ("Rabatt", "1") in z_rows
        assert lines == z_rows
        check_receipts(tables)
