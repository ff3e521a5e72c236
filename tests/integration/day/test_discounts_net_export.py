"""A day with discounted and net-priced (business) sales: the Z closing and the DSFinV-K
export state exactly what the receipts said, to the cent."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

from posd.client import PosdClient
from posd.v1 import common_pb2, customer_pb2, sale_pb2

from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import cents, read_export
from tests.support.cash import close_as_expected

CARD = common_pb2.PAYMENT_METHOD_CARD


def pay_and_post(pos: PosdClient, sale_id: str) -> sale_pb2.Sale:
    total = pos.get_sale(sale_id).total.amount_minor
    pos.add_payment(sale_id, CARD, total)
    return pos.post_sale(sale_id)


def test_discounts_and_net_pricing_reach_the_z_and_the_export(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("A", "Kaffee", 899)
    pos.upsert_item("B", "Brot", 349, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
    pos.upsert_item("K", "Kabel", 333)
    dc.open_shift([])

    # a consumer sale with a line discount and a document discount
    s = pos.create_sale()
    a = pos.add_line(s.sale_id, item_id="A", quantity="3").line_id
    pos.add_line(s.sale_id, item_id="B", quantity="7")
    pos.call(
        pos.sales.SetLineDiscount,
        sale_pb2.SetLineDiscountRequest(
            request_id="d1", sale_id=s.sale_id, line_id=a, discount_percent="12.5"
        ),
    )
    pos.call(
        pos.sales.SetSaleDiscount,
        sale_pb2.SetSaleDiscountRequest(request_id="d2", sale_id=s.sale_id, discount_percent="3"),
    )
    discounted = pay_and_post(pos, s.sale_id)
    assert discounted.total.amount_minor < 3 * 899 + 7 * 349  # the discounts took effect

    # a business customer: prices entered net, tax computed per rate on the net sum
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
    b = pos.create_sale()
    pos.set_customer(b.sale_id, "B-1")
    for _ in range(3):
        pos.add_line(b.sale_id, item_id="K", quantity="1")
    pos.add_line(b.sale_id, item_id="B", quantity="2")
    business = pay_and_post(pos, b.sale_id)

    close_as_expected(dc)
    z = dc.z_closing()
    tables, _ = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))

    # the receipts' own VAT totals, as journaled at posting
    with sqlite3.connect(day.running.config.database_path) as c:
        posted = [
            json.loads(r[0])
            for r in c.execute(
                "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' ORDER BY seq"
            )
        ]
    assert {p["receipt_number"] for p in posted} == {
        discounted.receipt_number,
        business.receipt_number,
    }
    journal_vat: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in posted:
        for v in p["vat"]:
            acc = journal_vat[int(v["category"])]
            acc[0] += v["gross"]
            acc[1] += v["net"]
            acc[2] += v["tax"]

    sales = [
        t
        for t in tables["transactions.csv"]
        if t["BON_TYP"] == "Beleg" and t["BON_ID"] in {r["BON_ID"] for r in tables["lines.csv"]}
    ]
    by_total = sorted(cents(t["UMS_BRUTTO"]) for t in sales)
    assert by_total == sorted([discounted.total.amount_minor, business.total.amount_minor])
    export_vat: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    bons = {t["BON_ID"] for t in sales}
    for row in tables["transactions_vat.csv"]:
        if row["BON_ID"] in bons:
            acc = export_vat[int(row["UST_SCHLUESSEL"])]
            acc[0] += cents(row["BON_BRUTTO"])
            acc[1] += cents(row["BON_NETTO"])
            acc[2] += cents(row["BON_UST"])
    assert dict(export_vat) == dict(journal_vat)
    # each receipt's lines add up to its gross, per receipt and per rate
    for t in sales:
        lines = [r for r in tables["lines_vat.csv"] if r["BON_ID"] == t["BON_ID"]]
        assert sum(cents(r["POS_BRUTTO"]) for r in lines) == cents(t["UMS_BRUTTO"])
    # the Z closing's VAT totals are the receipts' too
    z_vat = {
        int(v.vat_category): (v.gross.amount_minor, v.net.amount_minor, v.tax.amount_minor)
        for v in z.report.vat_totals
    }
    assert z_vat == {k: tuple(v) for k, v in journal_vat.items()}


def test_discounts_are_a_business_case_of_the_z(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("A", "Kaffee", 1000)
    dc.open_shift([])
    s = pos.create_sale()
    line = pos.add_line(s.sale_id, item_id="A", quantity="2").line_id
    pos.call(
        pos.sales.SetLineDiscount,
        sale_pb2.SetLineDiscountRequest(
            request_id="ld", sale_id=s.sale_id, line_id=line, discount_percent="10"
        ),
    )
    posted = pay_and_post(pos, s.sale_id)
    assert posted.total.amount_minor == 1800  # 2 x 10.00 less 10 %
    close_as_expected(dc)
    z = dc.z_closing()
    cases = {c.business_case: c for c in z.report.business_cases}
    rebate = cases["DISCOUNTS"]
    assert rebate.gv_typ == "Rabatt"
    # 2.00 granted at 19 %: 1.68 net + 0.32 tax, reported negative (sales are after it)
    assert (rebate.gross.amount_minor, rebate.net.amount_minor, rebate.tax.amount_minor) == (
        -200,
        -168,
        -32,
    )
    assert cases["SALES"].gross.amount_minor == 2000  # turnover before the discount
    tables, _ = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    bc = tables["businesscases.csv"]
    assert sum(cents(g["Z_UMS_BRUTTO"]) for g in bc if g["GV_TYP"] == "Rabatt") == -200
    assert sum(cents(g["Z_UMS_BRUTTO"]) for g in bc if g["GV_TYP"] == "Umsatz") == 2000
    # together: what the receipt says
    together = sum(cents(g["Z_UMS_BRUTTO"]) for g in bc if g["GV_TYP"] in ("Umsatz", "Rabatt"))
    assert together == posted.total.amount_minor


def test_a_full_storno_of_a_discounted_receipt_nets_every_business_case(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("A", "Kaffee", 899)
    dc.open_shift([])
    s = pos.create_sale()
    a = pos.add_line(s.sale_id, item_id="A", quantity="3").line_id
    pos.call(
        pos.sales.SetLineDiscount,
        sale_pb2.SetLineDiscountRequest(
            request_id="ld", sale_id=s.sale_id, line_id=a, discount_percent="10"
        ),
    )
    original = pay_and_post(pos, s.sale_id)
    reversal = pos.call(
        pos.sales.ReverseReceipt,
        sale_pb2.ReverseReceiptRequest(request_id="st", sale_id=s.sale_id, reason="Fehlbon"),
    ).reversal
    assert reversal.total.amount_minor == -original.total.amount_minor == -2427
    close_as_expected(dc)
    z = dc.z_closing()
    # the receipt booked Umsatz 26.97 and Rabatt -2.70; its storno takes back both
    cases = {
        (c.business_case, c.gv_typ): c.gross.amount_minor
        for c in z.report.business_cases
        if c.gross.amount_minor
    }
    tables, _ = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for row in tables["businesscases.csv"]:
        sums[(row["GV_TYP"], row["UST_SCHLUESSEL"])] += cents(row["Z_UMS_BRUTTO"])
    assert {k: v for k, v in sums.items() if v} == {}, cases
