"""A foreign cash movement through the day's use cases on a real SQLite file: the
Geldtransit of francs the TSE signed just before a crash is booked at start-up from its
payload exactly as the call would have booked it (the same processData, with its EUR
value), and the Z counts it in EUR per business case and in francs per currency."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from posd_daemon.domain.closing import CashMovementKind
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.shift import count_line
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


def _day(tmp_path: Path) -> tuple[sqlite3.Connection, DayCommands]:
    """A EUR register whose shop takes CHF at 0.95; the shift opens with 50.00 CHF."""
    conn = open_database(tmp_path / "posd.sqlite3")
    with transaction(conn):
        reg = shop_store.ensure_defaults(conn, "REG-1", "EUR", NOW)
        shop = shop_store.get_shop(conn, reg.shop_id)
        assert shop is not None
        shop_store.upsert_shop(
            conn, dataclasses.replace(shop, fixed_rates=(("CHF", Decimal("0.95")),)), NOW
        )
    day = DayCommands(DaySettings("REG-1", "EUR", UTC), lambda: NOW, lambda: None)
    with transaction(conn):
        day.open_shift(
            Tx(conn), MANAGER, [count_line("EUR", 0, 0, 10000), count_line("CHF", 0, 0, 5000)]
        )
    return conn, day


def test_a_signed_chf_transit_is_recovered_as_booked_and_counted_in_the_z(
    tmp_path: Path,
) -> None:
    conn, day = _day(tmp_path)
    req = day.validate_movement(
        conn, MANAGER, CashMovementKind.TRANSIT, 1900, "CHF", "Bank", outgoing=True
    )
    assert (req.amount, req.amount_local) == (-1900, -2000)
    seen: list[EventIntent] = []

    def crash_after_sign(tx: Tx, intent: EventIntent) -> fstore.SaleTse | None:
        seen.append(intent)
        raise Crash  # the TSE finished, the process died before the commit

    with pytest.raises(Crash), transaction(conn):
        day.add_movement(Tx(conn), MANAGER, req, crash_after_sign)
    (intent,) = seen
    assert intent.process_data == "Beleg^0.00_0.00_0.00_0.00_-20.00^-19.00:Bar:CHF"
    signed = fstore.SaleTse(
        "", "client", 7, "FINISHED", process_type=pd.PROCESS_TYPE_KASSENBELEG,
        process_data=intent.process_data, signature="sig",
    )  # fmt: skip
    with transaction(conn):
        moved = day.recover_movement(Tx(conn), intent.payload, signed)
    assert (moved.amount, moved.currency) == (-1900, "CHF")
    assert moved.tse.process_data == intent.process_data
    ((record,),) = conn.execute("SELECT payload FROM journal WHERE kind = 'CASH_MOVEMENT'")
    booked = json.loads(record)
    assert (booked["amount"], booked["amount_local"], booked["rate"]) == (-1900, -2000, "0.95")

    shift = day.current_shift(conn)
    assert shift is not None
    # the francs left: 50.00 - 19.00; asking for more than that is refused
    with pytest.raises(DomainError) as err:
        day.validate_movement(
            conn, MANAGER, CashMovementKind.WITHDRAWAL, 3105, "CHF", "x", outgoing=None
        )
    assert err.value.reason == "CASH_INSUFFICIENT"
    assert err.value.metadata["expected_minor"] == "3100"

    x = day.x_report(conn, MANAGER)
    assert dict(x.open_shift_expected) == {"EUR": 10000, "CHF": 3100}
    cases = {c.case: c.gross for c in x.cases}
    assert cases["CASH_TRANSITS"] == -2000  # in EUR
    assert dict(x.cash_per_currency) == {"CHF": -1900}
    assert x.cash_total == -2000
    assert {o.operator_id: o.cash for o in x.operators} == {"1": 0}  # EUR cash only
    conn.close()


def test_a_currency_without_a_rate_is_refused_before_anything_is_signed(
    tmp_path: Path,
) -> None:
    conn, day = _day(tmp_path)
    with pytest.raises(DomainError) as err:
        day.validate_movement(
            conn, MANAGER, CashMovementKind.DEPOSIT, 1000, "USD", "x", outgoing=None
        )
    assert err.value.reason == "EXCHANGE_RATE_NOT_AVAILABLE"
    conn.close()
