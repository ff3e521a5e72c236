"""Closing a shift the way a cashier does it, through the gRPC API on a real SQLite file:
euro and Swiss franc cash in the drawer, a sale paid in francs with the change in euro,
the count short in one currency and over in the other. Each currency is balanced on its
own (never converted); each currency's difference is a signed Vorgang (DifferenzSollIst),
the franc one valued in euro at the shop's rate as a franc cash movement is; the Z shows
both.
A shift closes once; a count that cannot be right is refused and leaves the shift open
with nothing booked."""

from __future__ import annotations

import sqlite3

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, shop_pb2

from tests.integration.api.test_sale_part2 import seed
from tests.integration.day.conftest import Day
from tests.integration.day.test_foreign_cash_change import tv_in_chf
from tests.integration.day.test_full_day import db, journal
from tests.support.fullsale import update_shop

EUR_FLOAT = 10000
CHF_FLOAT = 5000


def floats() -> list[closing_pb2.CashCount]:
    return PosdClient.cash_counts({5000: 2}) + PosdClient.cash_counts({1000: 5}, currency="CHF")


def expected_of(shift: closing_pb2.Shift) -> dict[str, int]:
    return {m.currency_code: m.amount_minor for m in shift.expected_cash}


def balances_of(shift: closing_pb2.Shift) -> dict[str, tuple[int, int, int, int]]:
    return {
        b.currency_code: (
            b.opening.amount_minor,
            b.expected.amount_minor,
            b.counted.amount_minor,
            b.difference.amount_minor,
        )
        for b in shift.balances
    }


def count(c: sqlite3.Connection, sql: str) -> int:
    return int(c.execute(sql).fetchone()[0])


def test_each_currency_balances_on_its_own_and_the_z_shows_both(day: Day) -> None:
    pos, dc = day.pos, day.day
    dc.open_shift(floats())
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
    # 100.00 CHF for a 95.00 CHF TV: 5.00 CHF change paid out in euro
    done = tv_in_chf(pos, 10000, "EUR")
    change_eur = done.change_local.amount_minor
    assert done.change.amount_minor == 500 and change_eur > 0
    dc.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 2000, "Wechselgeld")
    expected = {"EUR": EUR_FLOAT - change_eur + 2000, "CHF": CHF_FLOAT + 10000}
    assert expected_of(dc.get_shift()) == expected
    x = dc.x_report()
    assert {m.currency_code: m.amount_minor for m in x.open_shift_expected_cash} == expected

    # francs 0.50 short, euro 1.00 over
    counted = {"EUR": expected["EUR"] + 100, "CHF": expected["CHF"] - 50}
    closed = dc.close_shift(
        PosdClient.cash_counts(total=counted["EUR"])
        + PosdClient.cash_counts(total=counted["CHF"], currency="CHF")
    )
    assert balances_of(closed) == {
        "EUR": (EUR_FLOAT, expected["EUR"], counted["EUR"], 100),
        "CHF": (CHF_FLOAT, expected["CHF"], counted["CHF"], -50),
    }
    with db(day) as c:
        moves = c.execute(
            "SELECT kind, amount, currency, amount_local, exchange_rate, tse_state,"
            " process_data FROM cash_movements ORDER BY number"
        )
        # -0.50 CHF at 0.95 CHF per euro: -0.526.. EUR, rounded half away from zero
        b = "Beleg^0.00_0.00_0.00_0.00_"
        assert moves.fetchall() == [
            ("DEPOSIT", 2000, "EUR", None, None, "SIGNED", f"{b}20.00^20.00:Bar"),
            ("DIFFERENCE", 100, "EUR", None, None, "SIGNED", f"{b}1.00^1.00:Bar"),
            ("DIFFERENCE", -50, "CHF", -53, "0.95", "SIGNED", f"{b}-0.53^-0.50:Bar:CHF"),
        ]
        diffs = c.execute(
            "SELECT amount, currency FROM drawer_entries WHERE kind = 'CASH_DIFFERENCE'"
            " ORDER BY currency"
        ).fetchall()
        assert diffs == [(-50, "CHF"), (100, "EUR")]
    (closed_j,) = journal(day, "SHIFT_CLOSED")
    assert {b["currency"]: b["difference"] for b in closed_j["balances"]} == {  # type: ignore[attr-defined]
        "EUR": 100,
        "CHF": -50,
    }

    z = dc.z_closing().report
    assert {
        b.currency_code: (
            b.expected.amount_minor,
            b.counted.amount_minor,
            b.difference.amount_minor,
        )
        for b in z.cash_balances
    } == {
        "EUR": (expected["EUR"], counted["EUR"], 100),
        "CHF": (expected["CHF"], counted["CHF"], -50),
    }
    cases = {c.business_case: c.gross.amount_minor for c in z.business_cases}
    assert cases["CASH_DIFFERENCES"] == 100 - 53  # both Vorgänge, in euro
    cash = {m.currency_code: m.amount_minor for m in z.cash_per_currency}
    assert cash["CHF"] == 10000 - 50  # the francs taken and found missing, in francs
    assert cash["EUR"] == -change_eur + 2000 + 100

    # the next shift starts from what was counted: the old differences are gone
    again = dc.open_shift(
        PosdClient.cash_counts(total=counted["EUR"])
        + PosdClient.cash_counts(total=counted["CHF"], currency="CHF")
    )
    assert expected_of(dc.get_shift(again.shift_id)) == counted


def test_a_shift_closes_once(day: Day) -> None:
    pos, dc = day.pos, day.day
    dc.open_shift(PosdClient.cash_counts(total=EUR_FLOAT))
    first = dc.close_shift(PosdClient.cash_counts(total=EUR_FLOAT - 300), request_id="close-1")
    assert balances_of(first)["EUR"][3] == -300
    # the same request again is the same answer, booked once
    again = dc.close_shift(PosdClient.cash_counts(total=EUR_FLOAT - 300), request_id="close-1")
    assert again == first
    with pytest.raises(PosdError) as err:
        dc.close_shift(PosdClient.cash_counts(total=EUR_FLOAT - 300))
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_OPEN_SHIFT",
    )
    with db(day) as c:
        assert count(c, "SELECT COUNT(*) FROM cash_movements") == 1
        assert count(c, "SELECT COUNT(*) FROM shift_balances") == 1
        assert count(c, "SELECT COUNT(*) FROM shift_counts WHERE phase = 'CLOSE'") == 1
    assert len(journal(day, "SHIFT_CLOSED")) == 1
    assert dc.get_shift().state == closing_pb2.SHIFT_STATE_CLOSED
    assert pos.verify_journal().ok


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (closing_pb2.CashCount(currency_code="EUR", denomination_minor=200, pieces=-3), "pieces"),
        (closing_pb2.CashCount(currency_code="EUR", total_minor=-500), "total"),
        (closing_pb2.CashCount(currency_code="EUR", denomination_minor=-200, pieces=3), "denom"),
        (
            closing_pb2.CashCount(
                currency_code="EUR", denomination_minor=200, pieces=3, total_minor=500
            ),
            "total",
        ),
        (closing_pb2.CashCount(currency_code="EU", total_minor=500), "currency_code"),
    ],
)
def test_a_count_that_cannot_be_right_is_refused_and_the_shift_stays_open(
    day: Day, line: closing_pb2.CashCount, field: str
) -> None:
    dc = day.day
    dc.open_shift(PosdClient.cash_counts(total=EUR_FLOAT))
    with pytest.raises(PosdError) as err:
        dc.close_shift([*PosdClient.cash_counts(total=EUR_FLOAT), line])
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    (violated,) = [f for f, _ in err.value.field_violations]
    assert violated.startswith("counts.") and field in violated
    assert dc.get_shift().state == closing_pb2.SHIFT_STATE_OPEN
    with db(day) as c:
        assert count(c, "SELECT COUNT(*) FROM shift_counts WHERE phase = 'CLOSE'") == 0
        assert count(c, "SELECT COUNT(*) FROM cash_movements") == 0
    assert journal(day, "SHIFT_CLOSED") == []
    # counted right, it closes
    closed = dc.close_shift(PosdClient.cash_counts(total=EUR_FLOAT))
    assert balances_of(closed)["EUR"] == (EUR_FLOAT, EUR_FLOAT, EUR_FLOAT, 0)
