"""Bon_Referenzen (references.csv, DSFinV-K 2.x Tz. 4.2.2): a storno refers to the
receipt it reverses from its Bonkopf, a return line to the receipt the goods came from,
an invoice paid at the register to the invoice (ExterneRechnung). A referenced receipt
of an earlier Z carries that closing's Z_KASSE_ID, Z_ERSTELLUNG and Z_NR."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.integration.api.test_open_items import import_open_items, open_item, pay_invoice
from tests.integration.api.test_sale_part2 import call, pay, post, sale_of, seed
from tests.integration.day.test_full_day import read_export
from tests.support.fullsale import customer, import_customers

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


def test_stornos_returns_and_invoice_payments_are_referenced(pos: PosdClient) -> None:
    pos.open_shift([])
    seed(pos)
    import_customers(pos, customer("K1", "Erika Muster"))
    import_open_items(pos, open_item("R-100", "K1", 5000))
    # Z 1: a TV by card (BON 1), two coffees in cash (BON 2)
    sid = sale_of(pos, ("TV", "1"))
    pay(pos, sid, CARD)
    tv = post(pos, sid)
    sid = sale_of(pos, ("COFFEE", "2"))
    pay(pos, sid, CASH, 1798)
    coffee = post(pos, sid)
    pos.close_shift(PosdClient.cash_counts(total=1798))
    z1 = pos.z_closing()
    # Z 2: the TV reversed (BON 3), one coffee returned (BON 4), a roll sold and reversed
    # the same day (BON 5, 6), an invoice paid (BON 7)
    pos.open_shift(PosdClient.cash_counts(total=1798))
    call(pos, "ReverseReceipt", sale_id=tv.sale_id, reason="Fehlbon")
    ret = pos.create_sale().sale_id
    call(
        pos,
        "AddReturnLine",
        sale_id=ret,
        original_sale_id=coffee.sale_id,
        original_line_id=coffee.lines[0].line_id,
        quantity="1",
    )
    pay(pos, ret, CASH, -899)
    post(pos, ret)
    sid = sale_of(pos, ("ROLL", "1"))
    pay(pos, sid, CASH, 35)
    roll = post(pos, sid)
    call(pos, "ReverseReceipt", sale_id=roll.sale_id, reason="Fehlbon")
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-100", 3000)
    pay(pos, sid, CASH, 3000)
    post(pos, sid)
    pos.close_shift(PosdClient.cash_counts(total=1798 - 899 + 3000))
    z2 = pos.z_closing()
    t, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z2.z_nr))

    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    assert [heads[b]["BON_NOTIZ"] for b in ("3", "6")] == ["Storno zu Beleg 1", "Storno zu Beleg 5"]
    created = {r["Z_NR"]: r["Z_ERSTELLUNG"] for r in t["cashpointclosing.csv"]}
    register = t["cashpointclosing.csv"][0]["Z_KASSE_ID"]
    refs = [
        (
            r["Z_NR"], r["BON_ID"], r["POS_ZEILE"], r["REF_TYP"], r["REF_NAME"],
            r["REF_DATUM"], r["REF_Z_KASSE_ID"], r["REF_Z_NR"], r["REF_BON_ID"],
        )
        for r in t["references.csv"]
    ]  # fmt: skip
    z_1, z_2 = str(z1.z_nr), str(z2.z_nr)
    assert refs == [
        # the storno of an earlier Z's receipt, from its Bonkopf: that closing's key
        (z_2, "3", "", "Transaktion", "", created[z_1], register, z_1, "1"),
        # the return line (POS_ZEILE 1) of a coffee of Z 1
        (z_2, "4", "1", "Transaktion", "", created[z_1], register, z_1, "2"),
        # a storno within the same Z
        (z_2, "6", "", "Transaktion", "", created[z_2], register, z_2, "5"),
        # the invoice paid: external, its number
        (z_2, "7", "1", "ExterneRechnung", "", "", "", "", "R-100"),
    ]
