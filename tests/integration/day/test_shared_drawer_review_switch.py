"""Switching a register from inserts per cashier to a shared drawer between two Z
closings (README: "Switch drawer.shared only between two Z closings"), on a real SQLite
file through the day's use cases.

The last insert's cashier took it away at the close: nothing of its count is in the
drawer. The shared drawer's first float is then the register's opening stock, as on a
new register: compared with that insert's count it booked a signed DifferenzSollIst
for money nobody lost (300.00 counted into an insert, a float of 150.00: -150.00), and
a Z of the switched register without a shift showed the insert's cash as still in the
drawer."""

from __future__ import annotations

import sqlite3

from posd_daemon.domain.closing import ClosingReport
from posd_daemon.services.day import DayCommands
from posd_daemon.services.executor import Tx
from posd_daemon.store.database import transaction
from tests.support.day_use_cases import MANAGER, day_of, eur


def shift(day: DayCommands, conn: sqlite3.Connection, opening: int, counted: int) -> None:
    with transaction(conn):
        day.open_shift(Tx(conn), MANAGER, eur(opening))
    with transaction(conn):
        day.close_shift(Tx(conn), MANAGER, eur(counted))


def z(day: DayCommands, conn: sqlite3.Connection) -> ClosingReport:
    with transaction(conn):
        return day.z_closing(Tx(conn), MANAGER).report


def rows(report: ClosingReport) -> list[tuple[str, int, int, int, int]]:
    return [(b.currency, b.opening, b.expected, b.counted, b.difference) for b in report.balances]


def differences(conn: sqlite3.Connection) -> list[tuple[int, int | None]]:
    return conn.execute(
        "SELECT amount, shift_id FROM cash_movements WHERE kind = 'DIFFERENCE' ORDER BY number"
    ).fetchall()


def test_the_first_shared_float_after_inserts_is_no_difference(conn: sqlite3.Connection) -> None:
    shift(day_of(shared=False), conn, 15000, 15000)  # the insert's cashier leaves with it
    z(day_of(shared=False), conn)
    shared = day_of(shared=True)
    with transaction(conn):
        opened = shared.open_shift(Tx(conn), MANAGER, eur(10000))
    assert differences(conn) == []
    assert [b for b in opened.balances] == []
    with transaction(conn):
        shared.close_shift(Tx(conn), MANAGER, eur(10000))
    assert rows(z(shared, conn)) == [("EUR", 10000, 10000, 10000, 0)]
    # from now on the drawer is handed on: the next float is compared with this count
    with transaction(conn):
        shared.open_shift(Tx(conn), MANAGER, eur(9000))
    assert differences(conn) == [(-1000, 3)]


def test_an_empty_shared_period_after_inserts_shows_no_insert_cash(
    conn: sqlite3.Connection,
) -> None:
    shift(day_of(shared=False), conn, 15000, 30000)
    z(day_of(shared=False), conn)
    assert rows(z(day_of(shared=True), conn)) == []
