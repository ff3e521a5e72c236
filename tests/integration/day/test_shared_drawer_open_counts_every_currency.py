"""A shared drawer's next shift opens with the count of the cash the last closing left.

A float with no line for a currency that closing counted is no count of it: booked as
counted at 0, its whole amount became a signed shortage (a DifferenzSollIst the TSE
signed, printed and in the Z) for cash nobody looked at. An OpenShift without any count
(``PosdClient.ensure_shift`` sends one) booked the whole drawer as missing. Such an open
is refused before anything is signed or written, as a close without a line for a
currency it holds is (COUNT_MISSING_CURRENCY); an empty drawer is counted explicitly
(a total of 0)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError

from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.shift import CountLine
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.services.fiscal import EventIntent
from posd_daemon.store import day as store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.database import transaction
from tests.conftest import Running, running_daemon
from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import db
from tests.support.day_use_cases import MANAGER, NOW


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"drawer": {"shared": True}}) as r:
        yield r


def shared_day() -> DayCommands:
    return DayCommands(
        DaySettings("REG-1", "EUR", UTC, shared_drawer=True), lambda: NOW, lambda: None
    )


def never_signs(tx: Tx, intent: EventIntent) -> fstore.SaleTse | None:
    raise AssertionError(f"signed a Vorgang for an uncounted float: {intent.process_data}")


def test_a_float_without_a_line_for_a_carried_currency_is_refused_unsigned(
    conn: sqlite3.Connection,
) -> None:
    day = shared_day()
    drawer = [CountLine("CHF", 0, 1, 5000), CountLine("EUR", 0, 1, 15000)]
    with transaction(conn):
        first = day.open_shift(Tx(conn), MANAGER, drawer)
    with transaction(conn):
        day.close_shift(Tx(conn), MANAGER, drawer)
    for float_ in ([], [CountLine("EUR", 0, 1, 15000)], [CountLine("CHF", 0, 1, 5000)]):
        with pytest.raises(DomainError) as refused, transaction(conn):
            day.open_shift(Tx(conn), MANAGER, float_, never_signs)
        assert refused.value.reason == "COUNT_MISSING_CURRENCY", float_
        assert store.last_shift(conn, "REG-1") == store.get_shift(conn, first.shift_id)
    assert conn.execute("SELECT COUNT(*) FROM cash_movements").fetchone() == (0,)
    assert conn.execute(
        "SELECT COUNT(*) FROM drawer_entries WHERE kind = 'CASH_DIFFERENCE'"
    ).fetchone() == (0,)
    # counted, an empty drawer is a difference (the cash was taken away)
    with transaction(conn):
        second = day.open_shift(
            Tx(conn), MANAGER, [CountLine("CHF", 0, 1, 0), CountLine("EUR", 0, 1, 0)]
        )
    assert conn.execute(
        "SELECT amount, currency, shift_id FROM cash_movements ORDER BY number"
    ).fetchall() == [(-15000, "EUR", second.shift_id)]


def test_an_open_shift_without_a_count_books_no_shortage(day: Day) -> None:
    dc = day.day
    first = dc.open_shift(PosdClient.cash_counts(total=15000))
    dc.close_shift(PosdClient.cash_counts(total=15000), shift_id=first.shift_id)
    with pytest.raises(PosdError) as refused:
        dc.open_shift([])  # what PosdClient.ensure_shift sends
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT, refused.value
    assert refused.value.reason == "COUNT_MISSING_CURRENCY"
    assert "150.00" not in str(refused.value)  # the float is counted blind
    with db(day) as c:
        assert c.execute("SELECT COUNT(*) FROM cash_movements").fetchone() == (0,)
        assert c.execute("SELECT COUNT(*) FROM shifts").fetchone() == (1,)
    second = dc.open_shift(PosdClient.cash_counts(total=15000))
    assert second.shift_id == first.shift_id + 1
