"""A Geldtransit or Trinkgeld goes either way (to the safe or back from it, a tip paid in
or paid out), so the cashier must say which: guessing one books the opposite of what
happened, twice the amount off in the drawer and in the DSFinV-K export. Einlage and
Entnahme say it by their kind and need no direction. On a real SQLite file, through the
day's use cases."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.domain.closing import CashMovementKind
from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.shift import count_line
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.store.database import open_database, transaction

NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)
MANAGER = Operator("1", "M", "manager", frozenset(Permission))


def _day(tmp_path: Path) -> tuple[sqlite3.Connection, DayCommands]:
    conn = open_database(tmp_path / "posd.sqlite3")
    day = DayCommands(DaySettings("REG-1", "EUR", UTC), lambda: NOW, lambda: None)
    with transaction(conn):
        day.open_shift(Tx(conn), MANAGER, [count_line("EUR", 0, 0, 10000)])
    return conn, day


def _movements(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM cash_movements").fetchone()[0])


@pytest.mark.parametrize("kind", [CashMovementKind.TRANSIT, CashMovementKind.TIP])
def test_a_transit_or_tip_without_a_direction_is_refused_naming_the_field(
    tmp_path: Path, kind: CashMovementKind
) -> None:
    conn, day = _day(tmp_path)
    with pytest.raises(DomainError) as err:
        day.validate_movement(conn, MANAGER, kind, 500, "EUR", "Tresor", outgoing=None)
    e = err.value
    assert e.kind is ErrorKind.INVALID_ARGUMENT
    assert [v.field for v in e.violations] == ["direction"]
    assert "in or out" in e.message
    assert _movements(conn) == 0
    # with a direction it is booked the way the cashier said
    for outgoing, signed in ((True, -500), (False, 500)):
        req = day.validate_movement(conn, MANAGER, kind, 500, "EUR", "x", outgoing=outgoing)
        with transaction(conn):
            moved = day.add_movement(Tx(conn), MANAGER, req)
        assert (moved.kind, moved.amount) == (kind, signed)
    conn.close()


@pytest.mark.parametrize(
    ("kind", "signed"), [(CashMovementKind.DEPOSIT, 700), (CashMovementKind.WITHDRAWAL, -700)]
)
def test_a_deposit_or_withdrawal_needs_no_direction(
    tmp_path: Path, kind: CashMovementKind, signed: int
) -> None:
    conn, day = _day(tmp_path)
    req = day.validate_movement(conn, MANAGER, kind, 700, "EUR", "Wechselgeld", outgoing=None)
    assert req.amount == signed
    with transaction(conn):
        assert day.add_movement(Tx(conn), MANAGER, req).amount == signed
    assert _movements(conn) == 1
    conn.close()


@pytest.mark.parametrize(
    ("kind", "outgoing"), [(CashMovementKind.DEPOSIT, True), (CashMovementKind.WITHDRAWAL, False)]
)
def test_a_direction_against_the_kind_is_refused(
    tmp_path: Path, kind: CashMovementKind, outgoing: bool
) -> None:
    conn, day = _day(tmp_path)
    with pytest.raises(DomainError) as err:
        day.validate_movement(conn, MANAGER, kind, 700, "EUR", "x", outgoing=outgoing)
    assert [v.field for v in err.value.violations] == ["direction"]
    assert _movements(conn) == 0
    conn.close()
