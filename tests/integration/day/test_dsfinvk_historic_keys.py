"""DSFinV-K UST_SCHLUESSEL of lines taxed at a rate that is not the one in force: a storno
keeps the rate of the receipt it reverses (§ 17 UStG), and a Z closed after midnight for
the day before holds receipts of both sides of a rate change. DSFinV-K Anlage 2 gives the
historic rates keys of their own (11: 19 %, 12: 7 %, 21: 16 %, 22: 5 %, ...), so that a
Z's vat.csv (Stamm_USt: one UST_SATZ per key and closing) can name every rate its
Vorgänge carry. Also: an empty Z's Z_START_ID/Z_ENDE_ID.

The daemon runs in-process with an injected clock (register.timezone UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from posd.client import PosdClient, new_request_id
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.exports import dsfinvk
from posd_daemon.store.database import connect
from tests.conftest import Running, start_in_thread
from tests.integration.day.test_business_day import FixedClock
from tests.integration.day.test_full_day import cents, read_export
from tests.support.cash import close_as_expected

CASH = common_pb2.PAYMENT_METHOD_CASH
Tables = dict[str, list[dict[str, str]]]


def reverse(pos: PosdClient, sale_id: str) -> Any:
    req = sale_pb2.ReverseReceiptRequest(
        request_id=new_request_id(), sale_id=sale_id, reason="Fehlbon"
    )
    return pos.call(pos.sales.ReverseReceipt, req)


def sell(pos: PosdClient, item_id: str, price: int) -> sale_pb2.Sale:
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id=item_id)
    pos.add_payment(sid, CASH, price)
    return pos.post_sale(sid)


def vat_of(t: Tables, z: str) -> dict[str, str]:
    """vat.csv of closing ``z``: UST_SCHLUESSEL -> UST_SATZ (each key once)."""
    rows = [r for r in t["vat.csv"] if r["Z_NR"] == z]
    out = {r["UST_SCHLUESSEL"]: r["UST_SATZ"] for r in rows}
    assert len(out) == len(rows), rows
    return out


def assert_reconciles(t: Tables) -> None:
    """Every file agrees per VAT key: each key used is in its Z's vat.csv and its rate
    explains the tax; lines_vat per Vorgang and key is transactions_vat; Beleg lines per
    Z, GV_TYP and key are businesscases.csv."""
    rates = {(r["Z_NR"], r["UST_SCHLUESSEL"]): r["UST_SATZ"] for r in t["vat.csv"]}
    for name, g, n, v in (
        ("lines_vat.csv", "POS_BRUTTO", "POS_NETTO", "POS_UST"),
        ("transactions_vat.csv", "BON_BRUTTO", "BON_NETTO", "BON_UST"),
        ("businesscases.csv", "Z_UMS_BRUTTO", "Z_UMS_NETTO", "Z_UST"),
    ):
        for r in t[name]:
            rate = rates[(r["Z_NR"], r["UST_SCHLUESSEL"])]  # the key is in vat.csv
            net, tax = cents(r[n]), cents(r[v])
            assert cents(r[g]) == net + tax, (name, r)
            expected = round(net * cents(rate) / 10000)
            assert abs(tax - expected) <= 1, (name, r, rate)
    per_bon: dict[tuple[str, str], int] = {}
    for r in t["lines_vat.csv"]:
        k = (r["BON_ID"], r["UST_SCHLUESSEL"])
        per_bon[k] = per_bon.get(k, 0) + cents(r["POS_BRUTTO"])
    heads = {
        (r["BON_ID"], r["UST_SCHLUESSEL"]): cents(r["BON_BRUTTO"])
        for r in t["transactions_vat.csv"]
    }
    assert {k: v for k, v in per_bon.items() if v} == {k: v for k, v in heads.items() if v}
    belege = {r["BON_ID"] for r in t["transactions.csv"] if r["BON_TYP"] == "Beleg"}
    gv = {(r["BON_ID"], r["POS_ZEILE"]): (r["Z_NR"], r["GV_TYP"]) for r in t["lines.csv"]}
    lines: dict[tuple[str, str, str], int] = {}
    for r in t["lines_vat.csv"]:
        if r["BON_ID"] in belege:
            z, typ = gv[(r["BON_ID"], r["POS_ZEILE"])]
            k3 = (z, typ, r["UST_SCHLUESSEL"])
            lines[k3] = lines.get(k3, 0) + cents(r["POS_BRUTTO"])
    cases: dict[tuple[str, str, str], int] = {}
    for r in t["businesscases.csv"]:
        k3 = (r["Z_NR"], r["GV_TYP"], r["UST_SCHLUESSEL"])
        cases[k3] = cases.get(k3, 0) + cents(r["Z_UMS_BRUTTO"])
    assert {k: v for k, v in lines.items() if v} == {k: v for k, v in cases.items() if v}


def export_both_ways(
    running: Running, register: str, tmp_path: Path, z_from: int, z_to: int
) -> dict[bool, dict[str, bytes]]:
    """The export of Z ``z_from``-``z_to`` with the lines pass in child processes (two
    parts) and inline: each file's bytes."""
    conn = connect(running.config.database_path, readonly=True)
    try:
        closings = dsfinvk.select_closings(conn, register, z_from=z_from, z_to=z_to)
        assert len(dsfinvk._line_parts(closings, dsfinvk.LINE_PARTS)) == 2
        settings = dsfinvk.ExportSettings(
            register, "EUR", dsfinvk.Company("M"), "t", vat_table=running.config.vat_table()
        )
        files = {}
        for parallel in (True, False):
            folder = tmp_path / f"out-{parallel}"
            dsfinvk.export(conn, settings, closings, folder, as_zip=False, parallel=parallel)
            files[parallel] = {p.name: p.read_bytes() for p in folder.iterdir()}
    finally:
        conn.close()
    return files


def test_a_storno_after_a_rate_change_carries_the_historic_key(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2020, 12, 31, 12, 0, tzinfo=UTC))  # 16 %
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            old = sell(pos, "KAFFEE", 250)
            assert [ln.vat_rate for ln in old.lines] == ["16"]
            sell(pos, "KAFFEE", 250)
            close_as_expected(pos)
            z1 = pos.z_closing()
            clock.now = datetime(2021, 1, 2, 12, 0, tzinfo=UTC)  # 19 %
            pos.open_shift(PosdClient.cash_counts(total=500))
            storno = reverse(pos, old.sale_id)
            assert storno is not None
            new = sell(pos, "KAFFEE", 250)
            assert [ln.vat_rate for ln in new.lines] == ["19"]
            close_as_expected(pos)
            z2 = pos.z_closing()
            t, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z2.z_nr))
    finally:
        running.stop()
    z_1, z_2 = str(z1.z_nr), str(z2.z_nr)
    # Z 1: 16 % was the rate in force, key 1
    assert vat_of(t, z_1)["1"] == "16,00"
    tv1 = [
        (r["BON_ID"], r["UST_SCHLUESSEL"]) for r in t["transactions_vat.csv"] if r["Z_NR"] == z_1
    ]
    assert tv1 == [("1", "1"), ("2", "1")]
    # Z 2: the storno keeps 16 %: historic key 21; the new sale 19 % under key 1
    vat2 = vat_of(t, z_2)
    assert (vat2["1"], vat2["21"]) == ("19,00", "16,00")
    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    storno_bon = next(b for b, r in heads.items() if r["BON_NOTIZ"].startswith("Storno"))
    tv = {(r["BON_ID"], r["UST_SCHLUESSEL"]): r["BON_BRUTTO"] for r in t["transactions_vat.csv"]}
    assert tv[(storno_bon, "21")] == "-2,50000"
    assert (storno_bon, "1") not in tv
    lv = [r["UST_SCHLUESSEL"] for r in t["lines_vat.csv"] if r["BON_ID"] == storno_bon]
    assert lv == ["21"]
    cases = {(r["Z_NR"], r["GV_TYP"], r["UST_SCHLUESSEL"]): r for r in t["businesscases.csv"]}
    assert cases[(z_2, "Umsatz", "21")]["Z_UMS_BRUTTO"] == "-2,50000"
    assert cases[(z_2, "Umsatz", "21")]["Z_UST"] == "-0,34000"
    assert cases[(z_2, "Umsatz", "1")]["Z_UMS_BRUTTO"] == "2,50000"
    assert_reconciles(t)

    # the lines pass in child processes (one per closing here) and inline say the same
    register = t["cashpointclosing.csv"][0]["Z_KASSE_ID"]
    files = export_both_ways(running, register, tmp_path, z1.z_nr, z2.z_nr)
    assert files[True] == files[False]
    assert b";21;16,00;" in files[True]["vat.csv"]
    assert b";21;-2,50000;" in files[True]["businesscases.csv"]


def test_a_z_closed_after_midnight_across_a_rate_change_lists_both_rates(
    tmp_path: Path,
) -> None:
    clock = FixedClock(datetime(2020, 6, 30, 23, 50, tzinfo=UTC))  # 19 % until midnight
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            pos.upsert_item("BROT", "Brot", 300, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
            before = sell(pos, "KAFFEE", 250)
            bread = sell(pos, "BROT", 300)
            assert [ln.vat_rate for ln in (*before.lines, *bread.lines)] == ["19", "7"]
            clock.now = datetime(2020, 7, 1, 0, 10, tzinfo=UTC)  # 16 % / 5 %
            after = sell(pos, "KAFFEE", 250)
            assert [ln.vat_rate for ln in after.lines] == ["16"]
            close_as_expected(pos)
            z = pos.z_closing("2020-06-30")
            t, _ = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    finally:
        running.stop()
    vat = vat_of(t, str(z.z_nr))
    # the rates of the day the Z was made (and of its last Vorgang) are keys 1 and 2; the
    # ones of the day before are historic: 11 (19 %) and 12 (7 %)
    assert (vat["1"], vat["2"], vat["11"], vat["12"]) == ("16,00", "5,00", "19,00", "7,00")
    tv = sorted((r["BON_ID"], r["UST_SCHLUESSEL"]) for r in t["transactions_vat.csv"])
    assert tv == [("1", "11"), ("2", "12"), ("3", "1")]
    cases = sorted(
        (r["GV_TYP"], r["UST_SCHLUESSEL"], r["Z_UMS_BRUTTO"]) for r in t["businesscases.csv"]
    )
    assert cases == [
        ("Umsatz", "1", "2,50000"),
        ("Umsatz", "11", "2,50000"),
        ("Umsatz", "12", "3,00000"),
    ]
    assert_reconciles(t)


def test_an_empty_z_names_an_empty_range_after_the_last_vorgang(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2024, 5, 2, 12, 0, tzinfo=UTC))
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            sell(pos, "KAFFEE", 250)
            sell(pos, "KAFFEE", 250)
            close_as_expected(pos)
            z1 = pos.z_closing()
            clock.now = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
            z2 = pos.z_closing()  # nothing happened that day
            t, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z2.z_nr))
    finally:
        running.stop()
    ids = {r["Z_NR"]: (r["Z_START_ID"], r["Z_ENDE_ID"]) for r in t["cashpointclosing.csv"]}
    assert ids[str(z1.z_nr)] == ("1", "2")
    # no Vorgang: the range after the last one (start = end + 1), never blank
    assert ids[str(z2.z_nr)] == ("3", "2")


def discounted_sale(pos: PosdClient, percent: str) -> sale_pb2.Sale:
    """A coffee (normal rate) with a line discount of ``percent`` and a bread (reduced)."""
    sid = pos.create_sale().sale_id
    line = pos.add_line(sid, item_id="KAFFEE", quantity="3").line_id
    pos.add_line(sid, item_id="BROT")
    req = sale_pb2.SetLineDiscountRequest(
        request_id=new_request_id(), sale_id=sid, line_id=line, discount_percent=percent
    )
    pos.call(pos.sales.SetLineDiscount, req)
    pos.add_payment(sid, CASH, pos.get_sale(sid).total.amount_minor)
    return pos.post_sale(sid)


def test_returns_and_stornos_of_discounted_receipts_reconcile_under_historic_keys(
    tmp_path: Path,
) -> None:
    clock = FixedClock(datetime(2020, 12, 30, 12, 0, tzinfo=UTC))  # 16 % / 5 %
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            pos.upsert_item("BROT", "Brot", 333, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
            first = discounted_sale(pos, "12.5")
            second = discounted_sale(pos, "10")
            assert {ln.vat_rate for ln in first.lines} == {"16", "5"}
            close_as_expected(pos)
            z1 = pos.z_closing()
            clock.now = datetime(2021, 1, 4, 12, 0, tzinfo=UTC)  # 19 % / 7 %
            pos.open_shift(
                PosdClient.cash_counts(total=first.total.amount_minor + second.total.amount_minor)
            )
            reverse(pos, first.sale_id)
            ret = pos.create_sale().sale_id
            req = sale_pb2.AddReturnLineRequest(
                request_id=new_request_id(),
                sale_id=ret,
                original_sale_id=second.sale_id,
                original_line_id=second.lines[0].line_id,
                quantity="2",
            )
            pos.call(pos.sales.AddReturnLine, req)
            pos.add_payment(ret, CASH, pos.get_sale(ret).total.amount_minor)
            pos.post_sale(ret)
            now = discounted_sale(pos, "10")
            assert {ln.vat_rate for ln in now.lines} == {"19", "7"}
            close_as_expected(pos)
            z2 = pos.z_closing()
            t, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z2.z_nr))
    finally:
        running.stop()
    z_2 = str(z2.z_nr)
    assert set(vat_of(t, z_2)) == {"1", "2", "3", "4", "5", "6", "7", "21", "22"}
    cases = {(r["GV_TYP"], r["UST_SCHLUESSEL"]) for r in t["businesscases.csv"] if r["Z_NR"] == z_2}
    assert {("Umsatz", "21"), ("Umsatz", "22"), ("Rabatt", "21"), ("Umsatz", "1")} <= cases
    assert_reconciles(t)
