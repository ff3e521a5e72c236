"""Foreign cash whose change goes back in the local currency (CHF tendered in a EUR
shop): every cent that enters the drawer is in the books. The shift's expected cash
(from the drawer entries), the Z and the DSFinV-K export agree per currency; what the
change's cash rounding leaves over is a rounding line (Rundung) of its own, so that each
receipt's lines, VAT keys and payments still add up to the same local amount."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, common_pb2, sale_pb2, shop_pb2

from posd_daemon.ops import crashpoints
from tests.conftest import start_in_thread
from tests.integration.api.test_sale_part2 import call, pay, post, sale_of, seed
from tests.integration.day.test_full_day import cents, read_export
from tests.support.fullsale import update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH
FLOAT = 1000  # the euro float the shift opens with (change can be paid out of it)
Tables = dict[str, list[dict[str, str]]]


def chf_shop(pos: PosdClient, *, euro_step: int) -> None:
    """0.95 CHF per EUR; euro cash rounded to ``euro_step`` (a Dutch or Finnish shop)."""
    pos.open_shift(PosdClient.cash_counts(total=FLOAT))
    seed(pos)
    rounding = [shop_pb2.CashRounding(currency_code="EUR", increment_minor=euro_step)]
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")],
        cash_rounding=rounding if euro_step > 1 else [],
    )


def tv_in_chf(pos: PosdClient, tendered: int, change_currency: str = "") -> Any:
    """The TV (100.00 EUR = 95.00 CHF) paid with ``tendered`` CHF cash."""
    sid = sale_of(pos, ("TV", "1"))
    chf = call(pos, "SetCurrency", sale_id=sid, currency_code="CHF").sale
    assert chf.total.amount_minor == 9500
    pay(pos, sid, CASH, tendered, currency="CHF")
    return post(pos, sid, change_currency_code=change_currency)


def close_day(pos: PosdClient) -> tuple[dict[str, int], closing_pb2.Closing, Tables]:
    """Counts exactly what the shift expects, closes it and the day; returns the cash
    the day's sales left in the drawer per currency (expected less the float), the Z and
    its DSFinV-K export."""
    expected = {m.currency_code: m.amount_minor for m in pos.get_shift().expected_cash}
    counts = [
        c for cur, a in expected.items() for c in PosdClient.cash_counts(total=a, currency=cur)
    ]
    closed = pos.close_shift(counts)
    assert all(b.difference.amount_minor == 0 for b in closed.balances)
    left = {**expected, "EUR": expected["EUR"] - FLOAT}
    drawer = {cur: a for cur, a in left.items() if a}
    z = pos.z_closing()
    tables = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))[0]
    return drawer, z, tables


def z_figures(z: closing_pb2.Closing) -> dict[str, Any]:
    r = z.report
    cases = defaultdict(int)
    for c in r.business_cases:
        cases[c.business_case] += c.gross.amount_minor
    return {
        "cash": {m.currency_code: m.amount_minor for m in r.cash_per_currency if m.amount_minor},
        "pay": {
            (p.method, p.amount.currency_code): p.amount.amount_minor
            for p in r.payments
            if p.amount.amount_minor
        },
        "rounding": cases["ROUNDING"],
        "gross": r.gross.amount_minor,
        "payments_total": r.payments_total.amount_minor,
    }


def assert_receipts_add_up(t: Tables) -> None:
    """Each receipt: UMS_BRUTTO = its lines = its VAT keys = its payments (local)."""
    for head in t["transactions.csv"]:
        b = head["BON_ID"]
        gross = cents(head["UMS_BRUTTO"])
        for table, column in (
            ("lines_vat.csv", "POS_BRUTTO"),
            ("transactions_vat.csv", "BON_BRUTTO"),
            ("datapayment.csv", "BASISWAEH_BETRAG"),
        ):
            assert gross == sum(cents(x[column]) for x in t[table] if x["BON_ID"] == b), table


def payments_of(t: Tables) -> set[tuple[str, str, int]]:
    return {
        (p["ZAHLWAEH_CODE"], p["ZAHLWAEH_BETRAG"], cents(p["BASISWAEH_BETRAG"]))
        for p in t["datapayment.csv"]
    }


def rounding_lines(t: Tables) -> list[tuple[str, int]]:
    return [(r["GV_TYP"], cents(r["STK_BR"])) for r in t["lines.csv"] if r["GV_NAME"] == "Rundung"]


def test_a_foreign_residual_whose_change_rounds_to_nothing_is_in_the_books(
    pos: PosdClient,
) -> None:
    """95.02 CHF for 95.00 CHF: 0.02 CHF (0.021 EUR) change is 0.00 EUR in 0.05 steps.
    The drawer keeps the 0.02 CHF; the Z and the export took only 95.00."""
    chf_shop(pos, euro_step=5)
    done = tv_in_chf(pos, 9502, "EUR")
    assert (done.change.amount_minor, done.change_local.amount_minor) == (2, 0)
    drawer, z, t = close_day(pos)
    assert drawer == {"CHF": 9502}
    f = z_figures(z)
    assert f["cash"] == drawer  # what the drawer holds, per currency
    assert f["pay"] == {("CASH", "CHF"): 9502}
    # 95.02 CHF are 100.02 EUR (100.021): turnover 100.00 plus 0.02 rounding, none paid out
    assert f["rounding"] == 2
    assert f["payments_total"] == f["gross"] + f["rounding"] == 10002
    assert payments_of(t) == {("CHF", "95,02", 10002)}
    assert rounding_lines(t) == [("Aufschlag", 2)]
    assert_receipts_add_up(t)
    cur = {c["ZAHLART_WAEH"]: cents(c["ZAHLART_BETRAG_WAEH"]) for c in t["cash_per_currency.csv"]}
    assert {k: v for k, v in cur.items() if v} == {"CHF": 9502}


def test_the_cash_rounding_of_local_change_is_a_rounding_line(pos: PosdClient) -> None:
    """100.00 CHF for 95.00 CHF: 5.00 CHF change are 5.263 EUR, paid out as 5.25 EUR.
    The 100.00 CHF are worth 105.26 EUR: 100.00 turnover, 5.25 paid out, 0.01 rounding
    (it was hidden in the foreign cash's value, 105.25)."""
    chf_shop(pos, euro_step=5)
    done = tv_in_chf(pos, 10000, "EUR")
    assert (done.change.amount_minor, done.change_local.amount_minor) == (500, 525)
    drawer, z, t = close_day(pos)
    assert drawer == {"CHF": 10000, "EUR": -525}
    f = z_figures(z)
    assert f["cash"] == drawer
    assert f["pay"] == {("CASH", "CHF"): 10000, ("CASH", "EUR"): -525}
    chf = next(p for p in z.report.payments if p.amount.currency_code == "CHF")
    assert chf.count == 1
    assert f["rounding"] == 1
    assert f["payments_total"] == f["gross"] + f["rounding"] == 10001
    assert payments_of(t) == {("CHF", "100,00", 10526), ("EUR", "", -525)}
    assert rounding_lines(t) == [("Aufschlag", 1)]
    assert_receipts_add_up(t)


def test_change_in_the_foreign_currency_leaves_the_due_amount(pos: PosdClient) -> None:
    """The reverse case: the 0.02 CHF go back in CHF; the drawer and books keep 95.00."""
    chf_shop(pos, euro_step=5)
    done = tv_in_chf(pos, 9502)
    assert (done.change.amount_minor, done.change_currency_code) == (2, "CHF")
    drawer, z, t = close_day(pos)
    assert drawer == {"CHF": 9500}
    f = z_figures(z)
    assert f["cash"] == drawer and f["pay"] == {("CASH", "CHF"): 9500}
    assert f["rounding"] == 0 and f["payments_total"] == f["gross"] == 10000
    assert payments_of(t) == {("CHF", "95,00", 10000)}
    assert rounding_lines(t) == []
    assert_receipts_add_up(t)


def test_a_storno_refunds_what_was_kept_and_the_residual_stays_booked(pos: PosdClient) -> None:
    """The storno of the 95.02 CHF sale gives back the 95.00 CHF kept; the 0.02 CHF stay
    in the drawer and in the books (as the rounding of the first receipt)."""
    chf_shop(pos, euro_step=5)
    done = tv_in_chf(pos, 9502, "EUR")
    back = call(pos, "ReverseReceipt", sale_id=done.sale_id, reason="Fehlbon").reversal
    assert [p.amount.amount_minor for p in back.payments] == [-9500]
    drawer, z, t = close_day(pos)
    assert drawer == {"CHF": 2}
    f = z_figures(z)
    assert f["cash"] == drawer
    assert f["pay"] == {("CASH", "CHF"): 2}
    assert f["gross"] == 0 and f["rounding"] == 2
    assert f["payments_total"] == 2
    assert payments_of(t) == {("CHF", "95,02", 10002), ("CHF", "-95,00", -10000)}
    assert_receipts_add_up(t)


def test_the_tse_signs_the_change_in_euros_as_it_is_booked(pos: PosdClient) -> None:
    """processData carries what the exports and the Z book: the change's rounding in the
    fifth slot (Rundung, key 5), the francs tendered whole and the euros paid out. It
    left both out (95.00:Bar:CHF, no rounding), so the signed receipt disagreed with its
    own datapayment.csv and VAT rows."""
    chf_shop(pos, euro_step=5)
    whole = tv_in_chf(pos, 9502, "EUR")  # 0.02 CHF over, 0.00 EUR paid out
    assert whole.tse.process_data == "Beleg^100.00_0.00_0.00_0.00_0.02^95.02:Bar:CHF"
    paid_out = tv_in_chf(pos, 10000, "EUR")  # 5.00 CHF over, 5.25 EUR paid out
    assert paid_out.tse.process_data == (
        "Beleg^100.00_0.00_0.00_0.00_0.01^-5.25:Bar_100.00:Bar:CHF"
    )
    in_francs = tv_in_chf(pos, 9502)  # change in CHF: as before
    assert in_francs.tse.process_data == "Beleg^100.00_0.00_0.00_0.00_0.00^95.00:Bar:CHF"
    _, _, t = close_day(pos)
    signed = {int(r["TSE_TANR"]): r["TSE_VORGANGSDATEN"] for r in t["transactions_tse.csv"]}
    assert signed[whole.tse.transaction_number] == whole.tse.process_data
    assert payments_of(t) >= {("CHF", "100,00", 10526), ("EUR", "", -525)}


def test_a_post_completed_after_a_failed_commit_signs_the_same_change(tmp_path: Path) -> None:
    """The change currency is stored on the sale before the TSE signs: the post whose
    commit failed after the TSE finished is completed at the next start from the stored
    sale, with the very processData signed (change in euros and its rounding). Without
    it the finish asked again differed from the signed one and the sale stayed open."""
    running = start_in_thread(tmp_path / "state")
    try:
        with running.client(open_shift=False) as pos:
            chf_shop(pos, euro_step=5)
            pos.retries = 0
            crashpoints.arm_from_env("post.in_transaction:1:raise")
            try:
                with pytest.raises(PosdError) as err:
                    tv_in_chf(pos, 10000, "EUR")
            finally:
                crashpoints.arm_from_env("")
            assert err.value.reason == "POST_NOT_SAVED"
    finally:
        running.stop()
    running = start_in_thread(tmp_path / "state")  # start-up reconciliation posts it
    try:
        with running.client(open_shift=False) as pos:
            (listed,) = pos.list_sales(sale_pb2.SALE_STATE_POSTED)
            posted = pos.get_sale(listed.sale_id)
            assert posted.tse.state == "SIGNED"
            assert posted.tse.process_data == (
                "Beleg^100.00_0.00_0.00_0.00_0.01^-5.25:Bar_100.00:Bar:CHF"
            )
            assert (posted.change_currency_code, posted.change_local.amount_minor) == ("EUR", 525)
            drawer, z, t = close_day(pos)
            assert drawer == {"CHF": 10000, "EUR": -525}
            assert z_figures(z)["rounding"] == 1
            assert t["transactions_tse.csv"][0]["TSE_VORGANGSDATEN"] == posted.tse.process_data
    finally:
        running.stop()
