"""A shift close names the shift it closes and brings a count, through the gRPC API on
a real SQLite file.

A close that names its shift (``CloseShiftRequest.shift_id``) closes that shift or
nothing: a late retry with a new request id, or a second UI, must not close the shift
another terminal opened in the meantime and book its whole expected cash as a shortage.
A close without count lines is no count: it is refused, unless the client says the
drawer is empty with an explicit 0.00 total."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2

from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import db, journal

FLOAT = 10000


def count(day: Day, sql: str) -> int:
    with db(day) as c:
        return int(c.execute(sql).fetchone()[0])


def nothing_booked(day: Day) -> tuple[int, int, int, int]:
    return (
        count(day, "SELECT COUNT(*) FROM cash_movements"),
        count(day, "SELECT COUNT(*) FROM shift_balances"),
        count(day, "SELECT COUNT(*) FROM shift_counts WHERE phase = 'CLOSE'"),
        len(journal(day, "SHIFT_CLOSED")),
    )


def test_a_late_close_of_the_old_shift_leaves_the_new_one_open(day: Day) -> None:
    dc = day.day
    old = dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    dc.close_shift(PosdClient.cash_counts(total=FLOAT), shift_id=old.shift_id)
    new = dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    before = nothing_booked(day)
    # the first terminal retries its close of the old shift with a new request id
    with pytest.raises(PosdError) as err:
        dc.close_shift(PosdClient.cash_counts(total=FLOAT), shift_id=old.shift_id)
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SHIFT_MISMATCH",
    )
    assert str(old.shift_id) in err.value.message and str(new.shift_id) in err.value.message
    assert dc.get_shift(new.shift_id).state == closing_pb2.SHIFT_STATE_OPEN
    assert nothing_booked(day) == before
    # named right, it closes
    closed = dc.close_shift(PosdClient.cash_counts(total=FLOAT), shift_id=new.shift_id)
    assert (closed.shift_id, closed.state) == (new.shift_id, closing_pb2.SHIFT_STATE_CLOSED)


def test_closing_a_named_shift_when_none_is_open_is_refused(day: Day) -> None:
    dc = day.day
    old = dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    dc.close_shift(PosdClient.cash_counts(total=FLOAT), shift_id=old.shift_id)
    before = nothing_booked(day)
    with pytest.raises(PosdError) as err:
        dc.close_shift(PosdClient.cash_counts(total=FLOAT), shift_id=old.shift_id)
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_OPEN_SHIFT",
    )
    assert str(old.shift_id) in err.value.message
    assert nothing_booked(day) == before


def test_a_negative_shift_id_is_refused(day: Day) -> None:
    dc = day.day
    dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    with pytest.raises(PosdError) as err:
        dc.close_shift(PosdClient.cash_counts(total=FLOAT), shift_id=-1)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in err.value.field_violations] == ["shift_id"]
    assert dc.get_shift().state == closing_pb2.SHIFT_STATE_OPEN


def test_a_close_without_a_count_is_refused_and_books_nothing(day: Day) -> None:
    dc = day.day
    shift = dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    with pytest.raises(PosdError) as err:
        dc.close_shift([])
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.reason == "COUNT_REQUIRED"
    assert [f for f, _ in err.value.field_violations] == ["counts"]
    assert dc.get_shift(shift.shift_id).state == closing_pb2.SHIFT_STATE_OPEN
    assert nothing_booked(day) == (0, 0, 0, 0)


def test_an_explicit_empty_drawer_closes_with_the_shortage(day: Day) -> None:
    dc = day.day
    dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    empty = PosdClient.cash_counts(total=0)
    assert [(c.currency_code, c.total_minor) for c in empty] == [("EUR", 0)]
    closed = dc.close_shift(empty)
    (b,) = closed.balances
    assert (b.expected.amount_minor, b.counted.amount_minor) == (FLOAT, 0)
    assert b.difference.amount_minor == -FLOAT


def test_posctl_closes_only_the_shift_it_names(
    day: Day, capsys: pytest.CaptureFixture[str]
) -> None:
    from posd_daemon.cli import posctl_day
    from tests.integration.day.test_posctl_day import day_args, run

    shift = day.day.open_shift(PosdClient.cash_counts(total=FLOAT))
    args = day_args(day, "shift", "close", "--total", "100.00", "--shift", str(shift.shift_id + 1))
    with pytest.raises(PosdError) as err:
        posctl_day.HANDLERS[("shift", "close")](args)
    assert err.value.reason == "SHIFT_MISMATCH"
    assert day.day.get_shift(shift.shift_id).state == closing_pb2.SHIFT_STATE_OPEN
    out = run(day, capsys, "shift", "close", "--total", "100.00", "--shift", str(shift.shift_id))
    assert f"shift {shift.shift_id} (closed)" in out and "difference 0.00 EUR" in out
