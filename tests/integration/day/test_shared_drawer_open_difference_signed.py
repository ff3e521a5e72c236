"""A register configured with one shared drawer (``drawer.shared = true``), through the
real API: the next shift's float is what the last closing counted; a float short of it is
a cash difference booked at the open, signed by the TSE like a close's (OpenShift signs
inside its transaction), and the Z counts the carried cash once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient

from tests.conftest import Running, running_daemon
from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import db


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"drawer": {"shared": True}}) as r:
        yield r


def test_a_float_short_of_the_last_count_is_a_signed_difference(day: Day) -> None:
    dc = day.day
    first = dc.open_shift(PosdClient.cash_counts(total=15000))
    dc.close_shift(PosdClient.cash_counts(total=15000), shift_id=first.shift_id)
    # 5.00 gone from the drawer between the shifts
    second = dc.open_shift(PosdClient.cash_counts(total=14500))
    with db(day) as c:
        rows = c.execute(
            "SELECT kind, amount, shift_id, tse_state, signature != '' FROM cash_movements"
            " ORDER BY number"
        ).fetchall()
    assert rows == [("DIFFERENCE", -500, second.shift_id, "SIGNED", 1)]
    dc.close_shift(PosdClient.cash_counts(total=14500), shift_id=second.shift_id)
    (eur,) = [b for b in dc.z_closing().report.cash_balances if b.currency_code == "EUR"]
    # opened with the first float, counted once (not 150.00 + 145.00)
    assert (eur.opening.amount_minor, eur.counted.amount_minor) == (15000, 14500)
    assert eur.difference.amount_minor == -500
