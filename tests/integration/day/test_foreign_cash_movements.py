"""Cash movements in a foreign currency the shop takes in cash (CHF at a EUR register),
through the gRPC API on a real SQLite file: the francs a sale took in leave the drawer
as a Geldtransit to the bank, so the shift closes with CHF 0 expected and no
difference. The movement is checked against the francs the drawer holds, signed as a
Kassenbeleg with a "Bar:CHF" payment and its value in EUR in the gross slot, and enters
the Z (business case, cash per currency) and the DATEV cash book in EUR at the rate. A
currency the shop does not take stays refused."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, shop_pb2

from tests.integration.api.test_devices_api import printed, wait_for
from tests.integration.api.test_sale_part2 import seed
from tests.integration.day.conftest import Day
from tests.integration.day.test_foreign_cash_change import tv_in_chf
from tests.integration.day.test_full_day import cents, db, journal, read_export
from tests.support.fullsale import update_shop

TRANSIT = closing_pb2.CASH_MOVEMENT_KIND_TRANSIT
OUT = closing_pb2.CASH_DIRECTION_OUT
EUR_FLOAT = 10000


def chf_day(day: Day) -> None:
    """A shift with a EUR float; 95.00 CHF (= 100.00 EUR at 0.95) taken for a TV."""
    day.day.open_shift(PosdClient.cash_counts(total=EUR_FLOAT))
    seed(day.pos)
    update_shop(day.pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
    done = tv_in_chf(day.pos, 9500)
    assert done.change.amount_minor == 0


def expected_of(shift: closing_pb2.Shift) -> dict[str, int]:
    return {m.currency_code: m.amount_minor for m in shift.expected_cash}


def test_chf_taken_in_goes_to_the_bank_and_the_shift_closes_at_chf_zero(day: Day) -> None:
    dc = day.day
    chf_day(day)
    assert expected_of(dc.get_shift()) == {"EUR": EUR_FLOAT, "CHF": 9500}

    moved = dc.add_cash_movement(TRANSIT, 9500, "Bank", direction=OUT, currency="CHF")
    assert (moved.amount.amount_minor, moved.amount.currency_code) == (-9500, "CHF")
    # Kassenbeleg-V1: the gross slot in EUR (95.00 CHF / 0.95), the payment in francs
    assert moved.tse.process_data == "Beleg^0.00_0.00_0.00_0.00_-100.00^-95.00:Bar:CHF"
    (record,) = journal(day, "CASH_MOVEMENT")
    assert (record["amount"], record["currency"], record["amount_local"]) == (-9500, "CHF", -10000)
    assert record["rate"] == "0.95"
    assert expected_of(dc.get_shift()) == {"EUR": EUR_FLOAT, "CHF": 0}

    closed = dc.close_shift(
        PosdClient.cash_counts(total=EUR_FLOAT) + PosdClient.cash_counts(total=0, currency="CHF")
    )
    assert {b.currency_code: b.difference.amount_minor for b in closed.balances} == {
        "EUR": 0,
        "CHF": 0,
    }
    with db(day) as c:
        moves = c.execute(
            "SELECT kind, amount, currency, amount_local, exchange_rate FROM cash_movements"
        ).fetchall()
    assert moves == [("TRANSIT", -9500, "CHF", -10000, "0.95")]  # no difference booked

    z = dc.z_closing().report
    cases = {c.business_case: c.gross.amount_minor for c in z.business_cases}
    assert cases["CASH_TRANSITS"] == -10000  # in EUR, at the rate
    cash = {m.currency_code: m.amount_minor for m in z.cash_per_currency}
    assert cash["CHF"] == 0  # 95.00 in, 95.00 out
    assert z.cash_total.amount_minor == 0  # Z_SE_BARZAHLUNGEN: 100.00 EUR in, 100.00 out
    stored = json.loads(_report_json(day, z.z_nr))
    transits = [g for g in stored["gv_totals"] if g["gv_typ"] == "Geldtransit"]
    assert [(g["ust_key"], g["gross"]) for g in transits] == [(5, -10000)]

    now = datetime.now(UTC)
    start, end = now - timedelta(days=1), now + timedelta(days=1)
    (book,) = dc.export_datev(start, end)
    rows = [r for r in book.content.decode("utf-8").split("\r\n")[1:] if r]
    (row,) = rows
    assert row.startswith('"EUR";-100,00;"K1";')
    assert "-95,00 CHF" in row.split(";")[-1]  # the foreign amount in the note
    (ext,) = dc.export_cash_book(start, end)
    rows = [r for r in ext.content.decode("utf-8").split("\r\n")[1:] if r]
    # the cash book balances to what the drawer gained in EUR: nothing
    assert sum(cents(r.split(";")[1].replace("+", "")) for r in rows) == 0

    # DSFinV-K: the movement's Vorgang in EUR as booked, its payment in francs
    tables, _ = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    (line,) = [r for r in tables["lines.csv"] if r["GV_TYP"] == "Geldtransit"]
    assert line["STK_BR"] == "-100,00000"
    bon = line["BON_ID"]
    (head,) = [r for r in tables["transactions.csv"] if r["BON_ID"] == bon]
    assert (head["BON_TYP"], head["UMS_BRUTTO"]) == ("Beleg", "-100,00")
    (line_vat,) = [r for r in tables["lines_vat.csv"] if r["BON_ID"] == bon]
    assert (line_vat["UST_SCHLUESSEL"], line_vat["POS_BRUTTO"]) == ("5", "-100,00000")
    (head_vat,) = [r for r in tables["transactions_vat.csv"] if r["BON_ID"] == bon]
    assert (head_vat["UST_SCHLUESSEL"], head_vat["BON_BRUTTO"]) == ("5", "-100,00000")
    (paid,) = [r for r in tables["datapayment.csv"] if r["BON_ID"] == bon]
    assert (paid["ZAHLART_TYP"], paid["ZAHLWAEH_CODE"]) == ("Bar", "CHF")
    assert (paid["ZAHLWAEH_BETRAG"], paid["BASISWAEH_BETRAG"]) == ("-95,00", "-100,00")


def _report_json(day: Day, z_nr: int) -> str:
    with db(day) as c:
        (text,) = c.execute("SELECT report FROM closings WHERE z_nr = ?", (z_nr,)).fetchone()
    return str(text)


def test_more_chf_than_the_drawer_holds_is_refused(day: Day) -> None:
    dc = day.day
    chf_day(day)
    dc.add_cash_movement(TRANSIT, 5000, "Bank", direction=OUT, currency="CHF")
    with pytest.raises(PosdError) as err:
        dc.add_cash_movement(TRANSIT, 4505, "Bank", direction=OUT, currency="CHF")
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CASH_INSUFFICIENT",
    )
    assert "45.05 CHF" in err.value.message and "45.00 CHF" in err.value.message
    # euro there, but it is no franc: the EUR float does not cover a CHF withdrawal
    assert expected_of(dc.get_shift()) == {"EUR": EUR_FLOAT, "CHF": 4500}
    dc.add_cash_movement(TRANSIT, 4500, "Bank", direction=OUT, currency="CHF")
    assert expected_of(dc.get_shift()) == {"EUR": EUR_FLOAT, "CHF": 0}


def test_a_currency_the_shop_does_not_take_is_refused(day: Day) -> None:
    dc = day.day
    chf_day(day)
    with pytest.raises(PosdError) as err:
        dc.add_cash_movement(
            closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 1000, "Dollars", currency="USD"
        )
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "EXCHANGE_RATE_NOT_AVAILABLE",
    )
    assert "USD" in err.value.message
    with db(day) as c:
        assert c.execute("SELECT COUNT(*) FROM cash_movements").fetchone()[0] == 0
    assert expected_of(dc.get_shift()) == {"EUR": EUR_FLOAT, "CHF": 9500}


def test_francs_move_in_coins_of_the_shops_cash_step(day: Day) -> None:
    """CHF cash is rounded to 0.05 at this shop: 45.03 francs cannot be handed to the bank
    any more than they could be paid (AMOUNT_NOT_IN_STEP), and nothing is booked."""
    dc = day.day
    chf_day(day)
    update_shop(
        day.pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="CHF", increment_minor=5)],
    )
    with pytest.raises(PosdError) as err:
        dc.add_cash_movement(TRANSIT, 4503, "Bank", direction=OUT, currency="CHF")
    assert err.value.reason == "AMOUNT_NOT_IN_STEP"
    assert "45.00" in err.value.message and "45.05" in err.value.message
    with db(day) as c:
        assert c.execute("SELECT COUNT(*) FROM cash_movements").fetchone()[0] == 0
    dc.add_cash_movement(TRANSIT, 4505, "Bank", direction=OUT, currency="CHF")
    assert expected_of(dc.get_shift()) == {"EUR": EUR_FLOAT, "CHF": 9500 - 4505}


def test_the_slip_of_foreign_cash_says_what_it_was_worth(day: Day) -> None:
    """The printed slip of a CHF Geldtransit names the francs and, beside them, the EUR
    value it was booked and signed with, at its rate."""
    dc = day.day
    chf_day(day)
    moved = dc.add_cash_movement(TRANSIT, 9500, "Bank", direction=OUT, currency="CHF")
    wait_for(lambda: f"Beleg-Nr. K{moved.number}" in printed(day.running), 10)
    slip = printed(day.running).split(f"Beleg-Nr. K{moved.number}")[1]
    assert re.search(r"Geldtransit\s+-95,00 CHF", slip)
    assert re.search(r"entspricht \(Kurs 0\.95\)\s+-100,00 EUR", slip)
