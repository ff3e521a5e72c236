"""Cash checks of shifts and cash movements, through the gRPC API of the real daemon on
a real SQLite file.

- A cashier without CLOSING counts blind: a close refused for a currency left out of
  the count (COUNT_MISSING_CURRENCY) names the currency only, not the expected amount
  (which GetShift hides from them too); a manager's refusal still names it.
- A cash movement in the register currency is checked against the shop's cash step
  (AMOUNT_NOT_IN_STEP), as foreign cash movements and cash payments are: nothing is
  booked or signed.
- A count whose total for one currency exceeds the largest amount (MAX_MINOR) is
  refused, although each of its lines is in range: OpenShift and CloseShift change
  nothing."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, shop_pb2

from posd_daemon.domain.money import MAX_MINOR
from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import db, seed
from tests.integration.day.test_shift_close_names_shift_and_needs_count import nothing_booked
from tests.support.fullsale import update_shop

FLOAT = 12345
TRANSIT = closing_pb2.CASH_MOVEMENT_KIND_TRANSIT
OUT = closing_pb2.CASH_DIRECTION_OUT


def booked(day: Day) -> tuple[int, int, int, int, int, int]:
    """Movements, balances, close counts, closes, shifts and TSE rows."""
    with db(day) as c:
        shifts = int(c.execute("SELECT COUNT(*) FROM shifts").fetchone()[0])
        tse = int(c.execute("SELECT COUNT(*) FROM sale_tse").fetchone()[0])
    return (*nothing_booked(day), shifts, tse)


# -- blind count -----------------------------------------------------------------------


def test_a_cashiers_close_without_the_euro_does_not_name_the_expected_cash(day: Day) -> None:
    _, closing = day.client("2", "0000")  # SALE, no CLOSING
    closing.open_shift(PosdClient.cash_counts(total=FLOAT))
    assert not closing.get_shift().expected_cash  # counted blind
    before = booked(day)
    with pytest.raises(PosdError) as err:
        closing.close_shift(PosdClient.cash_counts(total=0, currency="CHF"))
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "COUNT_MISSING_CURRENCY",
    )
    assert "EUR" in err.value.message
    assert "123.45" not in err.value.message and "123,45" not in err.value.message
    assert "expected" not in err.value.message
    assert booked(day) == before
    assert closing.get_shift().state == closing_pb2.SHIFT_STATE_OPEN


def test_a_managers_close_without_the_euro_names_the_expected_cash(day: Day) -> None:
    dc = day.day  # the manager (CLOSING)
    dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    with pytest.raises(PosdError) as err:
        dc.close_shift(PosdClient.cash_counts(total=0, currency="CHF"))
    assert err.value.reason == "COUNT_MISSING_CURRENCY"
    assert "EUR (expected 123.45 EUR)" in err.value.message


# -- cash step of a register-currency movement ------------------------------------------


def five_cent_steps(day: Day) -> None:
    seed(day.pos)
    update_shop(
        day.pos, cash_rounding=[shop_pb2.CashRounding(currency_code="EUR", increment_minor=5)]
    )
    day.day.open_shift(PosdClient.cash_counts(total=10000))


def test_a_euro_movement_off_the_cash_step_is_refused_and_books_nothing(day: Day) -> None:
    five_cent_steps(day)
    before = booked(day)
    with pytest.raises(PosdError) as err:
        day.day.add_cash_movement(TRANSIT, 4503, "Bank", direction=OUT)
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "AMOUNT_NOT_IN_STEP",
    )
    assert booked(day) == before
    expected = {m.currency_code: m.amount_minor for m in day.day.get_shift().expected_cash}
    assert expected == {"EUR": 10000}


def test_a_euro_movement_on_the_cash_step_is_booked(day: Day) -> None:
    five_cent_steps(day)
    day.day.add_cash_movement(TRANSIT, 4505, "Bank", direction=OUT)
    expected = {m.currency_code: m.amount_minor for m in day.day.get_shift().expected_cash}
    assert expected == {"EUR": 10000 - 4505}


# -- a count's total per currency --------------------------------------------------------

#: each line in range, together 10^13 + 500.00 x 1,000,000 EUR: above MAX_MINOR
TOO_MUCH = PosdClient.cash_counts({50000: 1_000_000}, total=MAX_MINOR)


def test_a_close_counting_more_than_the_largest_amount_is_refused(day: Day) -> None:
    dc = day.day
    dc.open_shift(PosdClient.cash_counts(total=0))
    before = booked(day)
    with pytest.raises(PosdError) as err:
        dc.close_shift(TOO_MUCH)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in err.value.field_violations] == ["counts"]
    assert "out of range" in err.value.message
    assert booked(day) == before
    assert dc.get_shift().state == closing_pb2.SHIFT_STATE_OPEN


def test_an_open_counting_more_than_the_largest_amount_is_refused(day: Day) -> None:
    before = booked(day)
    with pytest.raises(PosdError) as err:
        day.day.open_shift(TOO_MUCH)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in err.value.field_violations] == ["counts"]
    assert booked(day) == before


def test_a_count_of_exactly_the_largest_amount_closes(day: Day) -> None:
    dc = day.day
    dc.open_shift(PosdClient.cash_counts(total=0))
    closed = dc.close_shift(
        PosdClient.cash_counts({50000: 1_000_000}, total=MAX_MINOR - 50000 * 1_000_000)
    )
    assert closed.state == closing_pb2.SHIFT_STATE_CLOSED
    assert [b.counted.amount_minor for b in closed.balances] == [MAX_MINOR]


DEPOSIT = closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT


def test_a_deposit_taking_the_expected_cash_above_the_largest_amount_is_refused(
    day: Day,
) -> None:
    dc = day.day
    dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    dc.add_cash_movement(DEPOSIT, MAX_MINOR - FLOAT, "Einlage")  # exactly the largest
    before = booked(day)
    with pytest.raises(PosdError) as err:
        dc.add_cash_movement(DEPOSIT, 1, "Einlage")
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "AMOUNT_OUT_OF_RANGE",
    )
    assert booked(day) == before
    expected = {m.currency_code: m.amount_minor for m in dc.get_shift().expected_cash}
    assert expected == {"EUR": MAX_MINOR}
