"""Stored timestamps: the fast isoformat path writes and reads exactly the strict form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.store.timeutil import from_db, to_db

STRICT = "%Y-%m-%dT%H:%M:%S.%fZ"

aware = st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)).flatmap(
    lambda d: st.integers(-14 * 60, 14 * 60).map(
        lambda m: d.replace(tzinfo=timezone(timedelta(minutes=m)))
    )
)


@given(aware)
def test_written_text_is_the_strict_form_and_reads_back(when: datetime) -> None:
    text = to_db(when)
    assert text == when.astimezone(UTC).strftime(STRICT)
    assert len(text) == 27
    back = from_db(text)
    assert back == when
    assert back.tzinfo is UTC
    assert back == datetime.strptime(text, STRICT).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-22T21:46:06.857868",  # no Z
        "2026-11-22T21:46:06.857868+00:00",
        "2026-11-22 21:46:06.857868Z",
        "2026-11-22T21:46:06,857868Z",
        "2026-11-22T21:46:06.85786xZ",
        "2026-13-22T21:46:06.857868Z",
        "2026-11-22T21:46:06Z",
        "2026-01-01T12:00:00.1+0100Z",  # 27 characters, an offset inside
        "2026-W01-1T12:00:00.000000Z",  # an ISO week date
    ],
)
def test_other_shapes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        from_db(text)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_db(datetime(2026, 11, 22, 12, 0))
