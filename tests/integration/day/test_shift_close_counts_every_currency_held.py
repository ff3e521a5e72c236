"""A shift close counts every currency the drawer is expected to hold, through the gRPC
API on a real SQLite file.

Francs taken for a sale sit in the drawer beside the euro. A count that leaves the
francs out is no count of them: booking their whole expected amount as missing would
turn a forgotten line into a shortage. Such a close is refused (INVALID_ARGUMENT on
``counts``, reason COUNT_MISSING_CURRENCY, naming the currency) and changes nothing; a
franc line of 0.00 says "none there" and closes with the shortage it means."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, shop_pb2

from tests.integration.api.test_sale_part2 import seed
from tests.integration.day.conftest import Day
from tests.integration.day.test_foreign_cash_change import tv_in_chf
from tests.integration.day.test_shift_close_names_shift_and_needs_count import nothing_booked
from tests.support.fullsale import update_shop

EUR_FLOAT = 10000


def expected_of(shift: closing_pb2.Shift) -> dict[str, int]:
    return {m.currency_code: m.amount_minor for m in shift.expected_cash}


def francs_in_drawer(day: Day) -> dict[str, int]:
    pos, dc = day.pos, day.day
    dc.open_shift(PosdClient.cash_counts(total=EUR_FLOAT))
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
    tv_in_chf(pos, 9500)  # exactly 95.00 CHF: no change
    expected = expected_of(dc.get_shift())
    assert expected == {"EUR": EUR_FLOAT, "CHF": 9500}
    return expected


def test_a_close_without_the_francs_is_refused_and_changes_nothing(day: Day) -> None:
    dc = day.day
    expected = francs_in_drawer(day)
    shift = dc.get_shift()
    before = nothing_booked(day)
    with pytest.raises(PosdError) as err:
        dc.close_shift(PosdClient.cash_counts(total=expected["EUR"]), shift_id=shift.shift_id)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.reason == "COUNT_MISSING_CURRENCY"
    assert [f for f, _ in err.value.field_violations] == ["counts"]
    assert "CHF" in err.value.message
    assert nothing_booked(day) == before
    assert dc.get_shift(shift.shift_id).state == closing_pb2.SHIFT_STATE_OPEN
    assert expected_of(dc.get_shift()) == expected


def test_a_count_of_only_francs_names_the_missing_euro(day: Day) -> None:
    dc = day.day
    expected = francs_in_drawer(day)
    before = nothing_booked(day)
    with pytest.raises(PosdError) as err:
        dc.close_shift(PosdClient.cash_counts(total=expected["CHF"], currency="CHF"))
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "COUNT_MISSING_CURRENCY",
    )
    assert "EUR" in err.value.message and "CHF" not in err.value.message.split(":")[-1]
    assert nothing_booked(day) == before
    assert dc.get_shift().state == closing_pb2.SHIFT_STATE_OPEN


def test_an_explicit_zero_for_the_francs_closes_with_their_shortage(day: Day) -> None:
    dc = day.day
    expected = francs_in_drawer(day)
    closed = dc.close_shift(
        PosdClient.cash_counts(total=expected["EUR"])
        + PosdClient.cash_counts(total=0, currency="CHF")
    )
    assert closed.state == closing_pb2.SHIFT_STATE_CLOSED
    diffs = {b.currency_code: b.difference.amount_minor for b in closed.balances}
    assert diffs == {"EUR": 0, "CHF": -9500}
