"""The DSFinV-K export of a register that keeps a currency without minor units (JPY,
``register.currency``): every amount column is a number of currency units with the
decimals index.xml declares for it (N2, or N5 for STK_BR, the POS_/BON_ amounts and
Z_GV_Typ's; DSFinV-K 2.x chapters 3.1-3.3, ``dsfinvk_spec``), so 1,600 yen are
``1600,00`` or ``1600,00000``, never ``16,00`` (the minor units read as if they were
cents). Real
daemon over gRPC, real SQLite, the software TSE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import closing_pb2, common_pb2

from tests.conftest import running_daemon
from tests.integration.api.test_sale_part2 import pay, post
from tests.integration.day.test_full_day import cents, read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import import_items, item, money

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


@pytest.fixture
def yen(tmp_path: Path) -> Iterator[PosdClient]:
    with (
        running_daemon(tmp_path / "state", {"register": {"currency": "JPY"}}) as r,
        r.client() as pos,
    ):
        yield pos


def test_amounts_of_a_yen_register_are_written_in_yen(yen: PosdClient) -> None:
    pos = yen
    tea = item("TEA", "Tee", 0, vat=common_pb2.VAT_CATEGORY_REDUCED)
    tea.gross_price.CopyFrom(money(1600, "JPY"))
    import_items(pos, tea)
    move = pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 5000, "Wechselgeld")
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="TEA", quantity="3")
    pay(pos, sid, CASH, 2000, currency="JPY")
    pay(pos, sid, CARD, 2800, currency="JPY")
    done = post(pos, sid)
    assert done.total.amount_minor == 4800 and done.total.currency_code == "JPY"

    close_as_expected(pos)
    z = pos.z_closing()
    t, _ = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))

    (head,) = [h for h in t["transactions.csv"] if h["BON_TYP"] == "Beleg" and h["BON_NAME"] == ""]
    assert head["UMS_BRUTTO"] == "4800,00"
    (line,) = [ln for ln in t["lines.csv"] if ln["BON_ID"] == head["BON_ID"]]
    assert (line["MENGE"], line["STK_BR"]) == ("3,000", "1600,00000")
    (lv,) = [r for r in t["lines_vat.csv"] if r["BON_ID"] == head["BON_ID"]]
    (tv,) = [r for r in t["transactions_vat.csv"] if r["BON_ID"] == head["BON_ID"]]
    # 4800 * 7 / 107 = 314.02 -> 314 yen of tax
    for vat, brutto, netto, ust in ((lv, "POS_BRUTTO", "POS_NETTO", "POS_UST"),
                                    (tv, "BON_BRUTTO", "BON_NETTO", "BON_UST")):  # fmt: skip
        assert (vat[brutto], vat[netto], vat[ust]) == ("4800,00000", "4486,00000", "314,00000")
    paid = {
        r["ZAHLART_TYP"]: (r["ZAHLWAEH_CODE"], r["ZAHLWAEH_BETRAG"], r["BASISWAEH_BETRAG"])
        for r in t["datapayment.csv"]
        if r["BON_ID"] == head["BON_ID"]
    }
    assert paid == {"Bar": ("JPY", "", "2000,00"), "Unbar": ("JPY", "", "2800,00")}

    (moved,) = [
        h for h in t["transactions.csv"] if h["BON_NAME"] and h["BON_NR"] == str(move.number)
    ]
    assert moved["UMS_BRUTTO"] == "5000,00"
    moved_lines = [r for r in t["lines.csv"] if r["BON_ID"] == moved["BON_ID"]]
    assert [r["STK_BR"] for r in moved_lines] == ["5000,00000"]
    assert [
        (r["ZAHLWAEH_CODE"], r["ZAHLWAEH_BETRAG"], r["BASISWAEH_BETRAG"])
        for r in t["datapayment.csv"]
        if r["BON_ID"] == moved["BON_ID"]
    ] == [("JPY", "", "5000,00")]
    moved_vat = [r for r in t["transactions_vat.csv"] if r["BON_ID"] == moved["BON_ID"]]
    assert [(r["UST_SCHLUESSEL"], r["BON_BRUTTO"]) for r in moved_vat] == [("5", "5000,00000")]

    (closing,) = t["cashpointclosing.csv"]
    assert closing["Z_SE_ZAHLUNGEN"] == "9800,00"  # the sale and the deposit
    sales = [g for g in t["businesscases.csv"] if g["GV_TYP"] == "Umsatz"]
    assert [(g["Z_UMS_BRUTTO"], g["Z_UMS_NETTO"], g["Z_UST"]) for g in sales] == [
        ("4800,00000", "4486,00000", "314,00000")
    ]
    z_pay = {r["ZAHLART_TYP"]: r["Z_ZAHLART_BETRAG"] for r in t["payment.csv"]}
    assert z_pay["Unbar"] == "2800,00"
    assert z_pay["Bar"].endswith(",00") and cents(z_pay["Bar"]) >= 200000
    (cash,) = t["cash_per_currency.csv"]
    assert cash["ZAHLART_WAEH"] == "JPY" and cents(cash["ZAHLART_BETRAG_WAEH"]) >= 200000
