"""DATEV's BelegDatum (TTMM) has no year: an export is cut at each new year on the
register's calendar, one file per year."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from posd_daemon.exports.datev import _years

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_period_over_two_year_ends_is_cut_at_berlins_midnights() -> None:
    start = datetime(2020, 12, 30, 12, tzinfo=BERLIN)
    end = datetime(2022, 1, 2, tzinfo=BERLIN)
    cuts = list(_years(start, end, BERLIN))
    assert cuts == [
        (start, datetime(2021, 1, 1, tzinfo=BERLIN)),
        (datetime(2021, 1, 1, tzinfo=BERLIN), datetime(2022, 1, 1, tzinfo=BERLIN)),
        (datetime(2022, 1, 1, tzinfo=BERLIN), end),
    ]
    # 1 January 00:00 in Berlin is 31 December 23:00 in UTC: the cut is Berlin's
    assert cuts[0][1].astimezone(UTC) == datetime(2020, 12, 31, 23, tzinfo=UTC)


def test_a_period_inside_one_year_is_one_piece_up_to_its_new_year() -> None:
    start = datetime(2021, 3, 1, tzinfo=UTC)
    assert list(_years(start, datetime(2021, 4, 1, tzinfo=UTC), UTC)) == [
        (start, datetime(2021, 4, 1, tzinfo=UTC))
    ]
    new_year = datetime(2022, 1, 1, tzinfo=UTC)  # end exclusive: still one year
    assert list(_years(start, new_year, UTC)) == [(start, new_year)]


def test_a_period_up_to_the_last_year_a_datetime_holds_is_cut_before_it() -> None:
    start = datetime(9998, 6, 1, tzinfo=UTC)
    end = datetime(9999, 12, 31, 23, tzinfo=UTC)
    last = datetime(9999, 1, 1, tzinfo=UTC)
    assert list(_years(start, end, UTC)) == [(start, last), (last, end)]
