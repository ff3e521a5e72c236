"""The day's use cases (``services.day.DayCommands``) on a real SQLite file, without a
daemon: shared by the shift and drawer tests. The ``conn`` fixture (a fresh database
file) is in tests/integration/day/conftest.py."""

from __future__ import annotations

from datetime import UTC, datetime

from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.shift import CountLine
from posd_daemon.services.day import DayCommands, DaySettings

NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)
MANAGER = Operator("1", "M", "manager", frozenset(Permission))


def day_of(shared: bool) -> DayCommands:
    """Register REG-1 in EUR, clock at NOW, no TSE; ``shared``: drawer.shared."""
    return DayCommands(
        DaySettings("REG-1", "EUR", UTC, shared_drawer=shared), lambda: NOW, lambda: None
    )


def eur(total: int) -> list[CountLine]:
    """A count of ``total`` EUR without denominations."""
    return [CountLine("EUR", 0, 1, total)]
