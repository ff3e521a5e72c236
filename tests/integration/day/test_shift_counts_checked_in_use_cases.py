"""The shift use cases check the cash count themselves (not only the gRPC layer): a close
with a negative count or a total that is no pieces x denomination is refused, books no
difference and leaves the shift open. On a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.shift import CountLine, ShiftState
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.store.database import open_database, transaction

NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)
MANAGER = Operator("1", "M", "manager", frozenset(Permission))


@pytest.mark.parametrize("bad", [CountLine("EUR", 0, 1, -500), CountLine("EUR", 200, 3, 100_000)])
def test_a_close_with_an_impossible_count_books_nothing(tmp_path: Path, bad: CountLine) -> None:
    conn = open_database(tmp_path / "posd.sqlite3")
    day = DayCommands(DaySettings("REG-1", "EUR", UTC), lambda: NOW, lambda: None)
    with transaction(conn):
        shift = day.open_shift(Tx(conn), MANAGER, [CountLine("EUR", 0, 1, 1000)])
    with pytest.raises(DomainError), transaction(conn):
        day.close_shift(Tx(conn), MANAGER, [CountLine("EUR", 0, 1, 1000), bad])
    assert day.get_shift(conn, shift.shift_id).state is ShiftState.OPEN
    assert conn.execute("SELECT COUNT(*) FROM cash_movements").fetchone() == (0,)
    assert conn.execute("SELECT COUNT(*) FROM shift_balances").fetchone() == (0,)
    with pytest.raises(DomainError), transaction(conn):
        day.open_shift(Tx(conn), MANAGER, [bad])  # (refused before it finds the open shift)
    conn.close()
