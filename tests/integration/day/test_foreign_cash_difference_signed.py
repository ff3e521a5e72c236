"""A cash difference in a foreign currency is a signed DifferenzSollIst Vorgang, as the
register currency's is: one Vorgang per currency, the foreign one valued in euro at the
shop's rate (as a franc cash movement is). Through the day's use cases on a real SQLite
file, with the TSE's part played by a signer that records what it is asked to sign and
can "crash" after the signature: a close (or a shared drawer's open) whose one signed
difference never committed is completed at start-up exactly as the call would have; a
close that signed two (euro and francs) has each signed difference booked on its own,
and the cashier's second close books nothing twice. A currency no rate values keeps its
difference in the drawer ledger; the close is never refused for it."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.shift import ShiftState, count_line
from posd_daemon.fiscal import process_data as pd
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.services.fiscal import EventIntent
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import shops as shop_store
from posd_daemon.store.database import open_database, transaction

NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)
MANAGER = Operator("1", "M", "manager", frozenset(Permission))


class Crash(Exception):
    pass


def _day(tmp_path: Path, *, shared: bool = False) -> tuple[sqlite3.Connection, DayCommands]:
    """A EUR register whose shop takes CHF at 0.95 (no rate for USD)."""
    conn = open_database(tmp_path / "posd.sqlite3")
    with transaction(conn):
        reg = shop_store.ensure_defaults(conn, "REG-1", "EUR", NOW)
        shop = shop_store.get_shop(conn, reg.shop_id)
        assert shop is not None
        shop_store.upsert_shop(
            conn, dataclasses.replace(shop, fixed_rates=(("CHF", Decimal("0.95")),)), NOW
        )
    settings = DaySettings("REG-1", "EUR", UTC, shared_drawer=shared)
    return conn, DayCommands(settings, lambda: NOW, lambda: None)


def _signer(
    seen: list[EventIntent], *, crash_after: int = 0
) -> Callable[[Tx, EventIntent], fstore.SaleTse | None]:
    """Signs each intent as transaction 100, 101 ...; raises Crash after the
    ``crash_after``-th signature (0: never)."""

    def sign(tx: Tx, intent: EventIntent) -> fstore.SaleTse | None:
        seen.append(intent)
        row = _signed(intent, 99 + len(seen))
        if crash_after and len(seen) == crash_after:
            raise Crash  # the TSE finished, the process died before the commit
        return row

    return sign


def _signed(intent: EventIntent, number: int) -> fstore.SaleTse:
    return fstore.SaleTse(
        "", "client", number, "FINISHED", process_type=pd.PROCESS_TYPE_KASSENBELEG,
        process_data=intent.process_data, signature=f"sig-{number}",
    )  # fmt: skip


def _open(conn: sqlite3.Connection, day: DayCommands, eur: int, chf: int) -> None:
    with transaction(conn):
        day.open_shift(
            Tx(conn), MANAGER, [count_line("EUR", 0, 0, eur), count_line("CHF", 0, 0, chf)]
        )


def _differences(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT amount, currency, amount_local, exchange_rate, transaction_number,"
        " process_data, shift_id FROM cash_movements WHERE kind = 'DIFFERENCE'"
        " ORDER BY movement_id"
    ).fetchall()


def test_each_currency_s_difference_is_signed_at_the_close(tmp_path: Path) -> None:
    conn, day = _day(tmp_path)
    _open(conn, day, 10000, 5000)
    seen: list[EventIntent] = []
    with transaction(conn):
        closed = day.close_shift(
            Tx(conn),
            MANAGER,
            [count_line("EUR", 0, 0, 10100), count_line("CHF", 0, 0, 4810)],
            _signer(seen),
        )
    assert [i.process_data for i in seen] == [
        "Beleg^0.00_0.00_0.00_0.00_1.00^1.00:Bar",
        # -1.90 CHF / 0.95 = -2.00 EUR
        "Beleg^0.00_0.00_0.00_0.00_-2.00^-1.90:Bar:CHF",
    ]
    assert [i.payload["parts"] for i in seen] == [["EUR", "CHF"]] * 2
    assert _differences(conn) == [
        (100, "EUR", None, None, 100, seen[0].process_data, closed.shift_id),
        (-190, "CHF", -200, "0.95", 101, seen[1].process_data, closed.shift_id),
    ]
    ((record,),) = conn.execute("SELECT payload FROM journal WHERE kind = 'SHIFT_CLOSED'")
    bons = json.loads(record)
    assert len(bons["difference_bon_ids"]) == 2
    assert bons["difference_bon_id"] == bons["difference_bon_ids"][0]
    # the drawer ledger holds each difference once, in its own currency
    assert conn.execute(
        "SELECT currency, SUM(amount) FROM drawer_entries WHERE kind = 'CASH_DIFFERENCE'"
        " GROUP BY currency ORDER BY currency"
    ).fetchall() == [("CHF", -190), ("EUR", 100)]
    # the period's report counts both Vorgänge among its cash differences, in euro, and
    # each in its own currency's cash
    x = day.x_report(conn, MANAGER)
    assert {c.case: c.gross for c in x.cases}["CASH_DIFFERENCES"] == 100 - 200
    assert dict(x.cash_per_currency) == {"EUR": 100, "CHF": -190}
    conn.close()


def test_a_signed_franc_difference_is_completed_after_a_crash(tmp_path: Path) -> None:
    """Only the francs are off: one Vorgang; signed, then the crash: the close is
    completed at start-up with the TSE's row, as the call would have closed."""
    conn, day = _day(tmp_path)
    _open(conn, day, 10000, 5000)
    counts = [count_line("EUR", 0, 0, 10000), count_line("CHF", 0, 0, 5095)]
    seen: list[EventIntent] = []
    with pytest.raises(Crash), transaction(conn):
        day.close_shift(Tx(conn), MANAGER, counts, _signer(seen, crash_after=1))
    (intent,) = seen
    assert intent.process_data == "Beleg^0.00_0.00_0.00_0.00_1.00^0.95:Bar:CHF"
    assert intent.payload["parts"] == ["CHF"]
    assert _differences(conn) == []
    with transaction(conn):
        closed = day.recover_close(Tx(conn), intent.payload, _signed(intent, 100))
    assert closed is not None and closed.state is ShiftState.CLOSED
    assert closed.closed_at == NOW
    assert [(b.currency, b.difference) for b in closed.balances] == [("CHF", 95), ("EUR", 0)]
    assert _differences(conn) == [
        (95, "CHF", 100, "0.95", 100, intent.process_data, closed.shift_id)
    ]
    conn.close()


def test_two_signed_differences_after_a_crash_are_each_booked_once(tmp_path: Path) -> None:
    """Euro and francs signed, then the crash: each signed Vorgang is booked on its own
    into the shift, which stays open; counted again, the drawer holds what it is now
    expected to hold, so the second close books no difference again."""
    conn, day = _day(tmp_path)
    _open(conn, day, 10000, 5000)
    counts = [count_line("EUR", 0, 0, 9900), count_line("CHF", 0, 0, 5095)]
    seen: list[EventIntent] = []
    with pytest.raises(Crash), transaction(conn):
        day.close_shift(Tx(conn), MANAGER, counts, _signer(seen, crash_after=2))
    assert len(seen) == 2
    for n, intent in enumerate(seen):
        with transaction(conn):
            assert day.recover_close(Tx(conn), intent.payload, _signed(intent, 100 + n)) is None
    open_shift = day.current_shift(conn)
    assert open_shift is not None
    assert [(a, c, tx) for a, c, _, _, tx, _, _ in _differences(conn)] == [
        (-100, "EUR", 100),
        (95, "CHF", 101),
    ]
    again: list[EventIntent] = []
    with transaction(conn):
        closed = day.close_shift(Tx(conn), MANAGER, counts, _signer(again))
    assert again == []  # nothing left to sign
    assert [(b.currency, b.expected, b.counted, b.difference) for b in closed.balances] == [
        ("CHF", 5095, 5095, 0),
        ("EUR", 9900, 9900, 0),
    ]
    assert len(_differences(conn)) == 2
    # the period's balances name the differences as booked (each drawer holds its own
    # insert: the shifts add up), as do its cash differences
    x = day.x_report(conn, MANAGER)
    assert {(b.currency, b.expected, b.counted, b.difference) for b in x.balances} == {
        ("EUR", 10000, 9900, -100),
        ("CHF", 5000, 5095, 95),
    }
    assert {c.case: c.gross for c in x.cases}["CASH_DIFFERENCES"] == -100 + 100
    conn.close()


def test_a_shared_drawer_s_franc_difference_at_the_open_is_signed_and_recovered(
    tmp_path: Path,
) -> None:
    conn, day = _day(tmp_path, shared=True)
    _open(conn, day, 10000, 5000)
    same = [count_line("EUR", 0, 0, 10000), count_line("CHF", 0, 0, 5000)]
    with transaction(conn):
        first = day.close_shift(Tx(conn), MANAGER, same, _signer([]))
    # 0.95 CHF missing between the shifts
    float_ = [count_line("EUR", 0, 0, 10000), count_line("CHF", 0, 0, 4905)]
    seen: list[EventIntent] = []
    with pytest.raises(Crash), transaction(conn):
        day.open_shift(Tx(conn), MANAGER, float_, _signer(seen, crash_after=1))
    (intent,) = seen
    assert intent.payload["phase"] == "OPEN"
    assert intent.process_data == "Beleg^0.00_0.00_0.00_0.00_-1.00^-0.95:Bar:CHF"
    with transaction(conn):
        opened = day.recover_close(Tx(conn), intent.payload, _signed(intent, 100))
    assert opened is not None and opened.state is ShiftState.OPEN
    assert _differences(conn) == [
        (-95, "CHF", -100, "0.95", 100, intent.process_data, opened.shift_id)
    ]
    assert first.shift_id != opened.shift_id
    conn.close()


def test_a_currency_no_rate_values_stays_in_the_drawer_ledger(tmp_path: Path) -> None:
    """Dollars in the float, no rate for them: their difference cannot be valued, so it
    is no Vorgang, but the close goes through and the drawer ledger keeps it."""
    conn, day = _day(tmp_path)
    with transaction(conn):
        day.open_shift(
            Tx(conn), MANAGER, [count_line("EUR", 0, 0, 0), count_line("USD", 0, 0, 2000)]
        )
    seen: list[EventIntent] = []
    with transaction(conn):
        closed = day.close_shift(
            Tx(conn),
            MANAGER,
            [count_line("EUR", 0, 0, 0), count_line("USD", 0, 0, 1900)],
            _signer(seen),
        )
    assert seen == []
    assert [(b.currency, b.difference) for b in closed.balances] == [("EUR", 0), ("USD", -100)]
    assert _differences(conn) == []
    assert conn.execute(
        "SELECT currency, amount FROM drawer_entries WHERE kind = 'CASH_DIFFERENCE'"
    ).fetchall() == [("USD", -100)]
    conn.close()
