"""A cash count is checked wherever its lines come from: ``merge_counts`` (what every
shift open and close goes through) refuses a line ``count_line`` would refuse, so a caller
of the use cases that builds CountLines itself cannot book a negative count or a total
that is not pieces x denomination."""

from __future__ import annotations

import pytest

from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.shift import CountLine, count_line, merge_counts


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (CountLine("EUR", 0, 1, -500), "counts.total"),
        (CountLine("EUR", 200, -3, -600), "counts.pieces"),
        (CountLine("EUR", -200, 3, -600), "counts.denomination_minor"),
        (CountLine("EUR", 200, 3, 500), "counts.total"),
        (CountLine("EUR", 200, 0, 400), "counts.total"),
        (CountLine("eur", 0, 1, 500), "counts.currency_code"),
    ],
)
def test_a_line_that_cannot_be_a_count_is_refused(line: CountLine, field: str) -> None:
    with pytest.raises(DomainError) as err:
        merge_counts([count_line("EUR", 0, 0, 1000), line])
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert [v.field for v in err.value.violations] == [field]


def test_totals_merge_into_one_total_line() -> None:
    """Two plain totals of a currency are one total (pieces 1, as ``count_line`` gives a
    total), beside the denominations counted."""
    lines = merge_counts(
        [
            count_line("EUR", 0, 0, 150),
            count_line("EUR", 0, 0, 50),
            count_line("EUR", 200, 3),
            CountLine("EUR", 200, 2, 400),
        ]
    )
    assert lines == [CountLine("EUR", 0, 1, 200), CountLine("EUR", 200, 5, 1000)]
