"""A parking slip's code as a wedge scanner sending AIM identifiers types it (h28)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from posd_daemon.domain.parking import (
    canonical_parking_code,
    parking_number_floor,
    parse_parking_code,
)


@pytest.mark.parametrize(
    ("scanned", "stored", "parsed"),
    [
        ("]E02901000000015", "2901000000015", (1, 1)),
        ("]E02901000000015\r\n", "2901000000015", (1, 1)),
        ("]C0p0300000042", "P0300000042", (3, 42)),
    ],
)
def test_a_symbology_identifier_is_not_part_of_the_code(
    scanned: str, stored: str, parsed: tuple[int, int]
) -> None:
    assert parse_parking_code(scanned, prefix="29" if stored[0] != "P" else None) == parsed
    assert canonical_parking_code(scanned) == stored


@pytest.mark.parametrize("bad", ["]E02901000000016", "]E0", "]]E02901000000015", "E02901000000015"])
def test_a_wrong_check_digit_or_a_lone_identifier_is_still_no_code(bad: str) -> None:
    assert parse_parking_code(bad) is None
    assert canonical_parking_code(bad) == bad


def test_parking_numbers_start_from_the_minutes_since_2024() -> None:
    assert parking_number_floor(datetime(2024, 1, 1, tzinfo=UTC)) == 0
    assert parking_number_floor(datetime(2024, 1, 2, 0, 0, 59, tzinfo=UTC)) == 1440
    assert parking_number_floor(datetime(2023, 12, 31, tzinfo=UTC)) == 0  # a clock set back
    # eight digits hold the minutes for about 190 years
    assert parking_number_floor(datetime(2214, 1, 1, tzinfo=UTC)) < 99_999_999
