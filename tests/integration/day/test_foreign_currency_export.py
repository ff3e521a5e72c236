"""A sale in a foreign currency (CHF in a EUR shop) in the DSFinV-K export: the single
records carry the register currency, as the Z and datapayment's BASISWAEH_BETRAG do, and
as the receipt's processData VAT slots (fiscal-de.md, processData: amounts in EUR, only
the payments in their own currency)."""

from __future__ import annotations

import io
import sqlite3
from collections import defaultdict

from posd.client import PosdClient
from posd.v1 import common_pb2, shop_pb2

from posd_daemon.exports import dsfinvk
from tests.conftest import Running
from tests.integration.api.test_sale_part2 import call, pay, post, sale_of, seed
from tests.integration.day.test_full_day import cents, read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH


def export(pos: PosdClient) -> dict[str, list[dict[str, str]]]:
    close_as_expected(pos)  # the francs too: a close counts every currency held
    z = pos.z_closing()
    return read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]


def per_key(rows: list[dict[str, str]], column: str) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for row in rows:
        out[int(row["UST_SCHLUESSEL"])] += cents(row[column])
    return dict(out)


def test_single_records_of_a_chf_sale_are_in_euro_and_match_the_z(pos: PosdClient) -> None:
    pos.ensure_shift()
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
    sid = sale_of(pos, ("COFFEE", "1"))
    assert call(pos, "SetCurrency", sale_id=sid, currency_code="CHF").sale.total.amount_minor == 854
    pay(pos, sid, CASH, 854, currency="CHF")
    done = post(pos, sid)
    assert done.total_local.amount_minor == 899  # 8.54 CHF / 0.95 = 8.989 -> 8.99 EUR
    assert done.tse.process_data == "Beleg^8.99_0.00_0.00_0.00_0.00^8.54:Bar:CHF"
    t = export(pos)
    (head,) = t["transactions.csv"]
    assert head["UMS_BRUTTO"] == "8,99"
    assert per_key(t["transactions_vat.csv"], "BON_BRUTTO") == {1: 899}
    # the receipt's tax as posted (1.36 CHF) converted, as the Z converts it: 1.43 EUR
    assert per_key(t["transactions_vat.csv"], "BON_UST") == {1: 143}
    (line,) = t["lines.csv"]
    assert line["STK_BR"] == "8,99000"
    assert per_key(t["lines_vat.csv"], "POS_BRUTTO") == {1: 899}
    (paid,) = t["datapayment.csv"]
    assert (paid["ZAHLWAEH_CODE"], paid["ZAHLWAEH_BETRAG"], paid["BASISWAEH_BETRAG"]) == (
        "CHF", "8,54", "8,99"
    )  # fmt: skip
    # the Z's turnover per VAT key is what the single records add up to
    z_sales = [c for c in t["businesscases.csv"] if c["GV_TYP"] == "Umsatz"]
    assert per_key(z_sales, "Z_UMS_BRUTTO") == per_key(t["transactions_vat.csv"], "BON_BRUTTO")
    assert per_key(z_sales, "Z_UST") == per_key(t["transactions_vat.csv"], "BON_UST")


def test_a_chf_sale_of_two_rates_with_rounding_adds_up_to_its_local_total(
    pos: PosdClient,
) -> None:
    """Converted one by one, 8.55 CHF + 0.33 CHF would be 8.99 + 0.35 = 9.34 EUR, a cent
    more than the total converted (8.88 CHF = 9.33 EUR): the export, like processData,
    splits the converted total over the rates, and the cash rounding (0.02 CHF) is what
    the 8.90 CHF due holds beyond the total in EUR (9.36 - 9.33)."""
    pos.ensure_shift()
    seed(pos)
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9513")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="CHF", increment_minor=5)],
    )
    sid = sale_of(pos, ("COFFEE", "1"), ("ROLL", "1"))
    call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
    pay(pos, sid, CASH)
    done = post(pos, sid)
    assert done.tse.process_data == "Beleg^8.98_0.35_0.00_0.00_0.03^8.90:Bar:CHF"
    t = export(pos)
    (head,) = t["transactions.csv"]
    assert head["UMS_BRUTTO"] == "9,36"
    assert per_key(t["transactions_vat.csv"], "BON_BRUTTO") == {1: 898, 2: 35, 5: 3}
    (paid,) = t["datapayment.csv"]
    assert paid["BASISWAEH_BETRAG"] == "9,36"
    rounding = [ln for ln in t["lines.csv"] if ln["ARTIKELTEXT"] == "Rundung"]
    assert [r["STK_BR"] for r in rounding] == ["0,03000"]


def test_payments_of_a_chf_sale_are_converted_as_the_z_converts_them(pos: PosdClient) -> None:
    """8.55 CHF paid 4.00 by card and 4.55 in cash: converted one by one 4.20 + 4.78 =
    8.98 EUR, a cent short of the total converted once (8.99 EUR), which the Z books."""
    pos.ensure_shift()
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9513")])
    sid = sale_of(pos, ("COFFEE", "1"))
    call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
    pay(pos, sid, common_pb2.PAYMENT_METHOD_CARD, 400, currency="CHF", authorization_code="A1")
    pay(pos, sid, CASH, 455, currency="CHF")
    assert post(pos, sid).total_local.amount_minor == 899
    t = export(pos)
    paid = {p["ZAHLART_TYP"]: cents(p["BASISWAEH_BETRAG"]) for p in t["datapayment.csv"]}
    assert sum(paid.values()) == 899
    assert sum(cents(c["Z_ZAHLART_BETRAG"]) for c in t["payment.csv"]) == 899


def test_lines_vat_of_a_chf_sale_add_up_to_its_transactions_vat(
    running: Running, pos: PosdClient
) -> None:
    """Bonpos_USt (lines_vat.csv) must add up to Bonkopf_USt (transactions_vat.csv) key by
    key. Each line converted on its own, 0.33 + 0.33 CHF gave 0.35 + 0.35 EUR where the
    receipt's key 2 holds 0.69 (26.31 CHF = 27.66 EUR split over the keys): the export
    splits each key's converted totals over its lines (largest remainder)."""
    pos.ensure_shift()
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9513")])
    sid = sale_of(pos, ("COFFEE", "1"), ("ROLL", "1"), ("COFFEE", "2"), ("ROLL", "1"))
    call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
    pay(pos, sid, CASH)
    post(pos, sid)
    close_as_expected(pos)
    z = pos.z_closing()
    t = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]
    (head,) = t["transactions.csv"]
    assert len(t["lines_vat.csv"]) == 4
    assert per_key(t["transactions_vat.csv"], "BON_BRUTTO") == {1: 2697, 2: 69}
    for line_col, head_col in (
        ("POS_BRUTTO", "BON_BRUTTO"), ("POS_NETTO", "BON_NETTO"), ("POS_UST", "BON_UST")
    ):  # fmt: skip
        assert per_key(t["lines_vat.csv"], line_col) == per_key(
            t["transactions_vat.csv"], head_col
        ), line_col
    assert sum(per_key(t["lines_vat.csv"], "POS_BRUTTO").values()) == cents(head["UMS_BRUTTO"])
    for row in t["lines_vat.csv"]:
        assert cents(row["POS_BRUTTO"]) - cents(row["POS_NETTO"]) == cents(row["POS_UST"])
    # the lines pass runs in a child process; inline (no child) it writes the same
    with sqlite3.connect(running.config.database_path) as conn:
        closings = dsfinvk.select_closings(conn, head["Z_KASSE_ID"], z_from=z.z_nr, z_to=z.z_nr)
        settings = dsfinvk.ExportSettings(head["Z_KASSE_ID"], "EUR", dsfinvk.Company("M"), "t")
        out = io.BytesIO()
        dsfinvk.export(conn, settings, closings, out, parallel=False)
    inline = read_export(out.getvalue())[0]
    assert inline["lines_vat.csv"] == t["lines_vat.csv"]
    assert inline["transactions_vat.csv"] == t["transactions_vat.csv"]
