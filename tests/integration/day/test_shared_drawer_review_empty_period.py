"""A Z closing of a shared drawer in a period without any shift, on a real SQLite file
through the day's use cases.

With one drawer the shifts hand on, the cash the last closing counted stays in the
drawer across a period in which nobody opened a shift (a closed day, a Z taken twice).
That period's Z must still show it (opening = expected = counted = the last count, no
difference): a Z without a cash balance reads as an empty drawer to the manager
comparing the report with the drawer, and breaks the chain of closing balances (each
period opens with what the one before it left). With inserts per cashier the insert
left with its cashier: nothing to show."""

from __future__ import annotations

import sqlite3

from posd_daemon.domain.closing import ClosingReport
from posd_daemon.domain.shift import CountLine
from posd_daemon.services.day import DayCommands
from posd_daemon.services.executor import Tx
from posd_daemon.store.database import transaction
from tests.support.day_use_cases import MANAGER, day_of


def shift(day: DayCommands, conn: sqlite3.Connection, opening: int, counted: int) -> None:
    with transaction(conn):
        day.open_shift(Tx(conn), MANAGER, [CountLine("EUR", 0, 1, opening)])
    with transaction(conn):
        day.close_shift(Tx(conn), MANAGER, [CountLine("EUR", 0, 1, counted)])


def z(day: DayCommands, conn: sqlite3.Connection) -> ClosingReport:
    with transaction(conn):
        return day.z_closing(Tx(conn), MANAGER).report


def rows(report: ClosingReport) -> list[tuple[str, int, int, int, int]]:
    return [(b.currency, b.opening, b.expected, b.counted, b.difference) for b in report.balances]


def test_a_shared_drawers_z_without_a_shift_shows_the_cash_still_in_it(
    conn: sqlite3.Connection,
) -> None:
    day = day_of(shared=True)
    shift(day, conn, 15000, 24500)  # 95.00 found at the close
    first = z(day, conn)
    assert rows(first) == [("EUR", 15000, 15000, 24500, 9500)]
    empty = z(day, conn)  # the next day nobody opened a shift
    assert rows(empty) == [("EUR", 24500, 24500, 24500, 0)]
    with transaction(conn):
        x = day.x_report(conn, MANAGER)
    assert rows(x) == [("EUR", 24500, 24500, 24500, 0)]
    # the chain goes on: the next period opens with what the last closing counted
    shift(day, conn, 24500, 24500)
    assert rows(z(day, conn)) == [("EUR", 24500, 24500, 24500, 0)]


def test_inserts_per_cashier_leave_an_empty_period_without_cash(
    conn: sqlite3.Connection,
) -> None:
    day = day_of(shared=False)
    shift(day, conn, 15000, 15000)
    z(day, conn)
    assert rows(z(day, conn)) == []
