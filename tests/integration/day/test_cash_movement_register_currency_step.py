"""A cash movement in the register currency is money that physically moves, so it must
be an amount the shop's coins can make, as a foreign one and a cash payment must: at a
CHF register whose smallest coin is 0.05 (cash_rounding CHF 5), a Geldtransit of 100.03
was booked, the drawer then "expected" x.x3 francs that no count can ever find, and
every close booked a signed cash difference for money nobody lost. On a real SQLite
file, through the day's use cases."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.domain.closing import CashMovementKind
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.shift import count_line
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.store import shops as shop_store
from posd_daemon.store.database import open_database, transaction

NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)
MANAGER = Operator("1", "M", "manager", frozenset(Permission))


def _chf_register(tmp_path: Path) -> tuple[sqlite3.Connection, DayCommands]:
    conn = open_database(tmp_path / "posd.sqlite3")
    with transaction(conn):
        reg = shop_store.ensure_defaults(conn, "REG-1", "CHF", NOW)
        shop = shop_store.get_shop(conn, reg.shop_id)
        assert shop is not None
        shop_store.upsert_shop(conn, dataclasses.replace(shop, cash_rounding=(("CHF", 5),)), NOW)
    day = DayCommands(DaySettings("REG-1", "CHF", UTC), lambda: NOW, lambda: None)
    with transaction(conn):
        day.open_shift(Tx(conn), MANAGER, [count_line("CHF", 0, 0, 10000)])
    return conn, day


@pytest.mark.parametrize(
    ("kind", "outgoing"),
    [
        (CashMovementKind.TRANSIT, True),
        (CashMovementKind.DEPOSIT, None),
        (CashMovementKind.WITHDRAWAL, None),
        (CashMovementKind.TIP, True),
    ],
)
def test_a_register_currency_movement_off_the_cash_step_is_refused(
    tmp_path: Path, kind: CashMovementKind, outgoing: bool | None
) -> None:
    conn, day = _chf_register(tmp_path)
    with pytest.raises(DomainError) as err:
        day.validate_movement(conn, MANAGER, kind, 5003, "CHF", "Bank", outgoing=outgoing)
    assert err.value.reason == "AMOUNT_NOT_IN_STEP"
    assert [v.field for v in err.value.violations] == ["amount.amount_minor"]
    assert "0.05" in err.value.message
    assert conn.execute("SELECT COUNT(*) FROM cash_movements").fetchone() == (0,)

    # on the step it is booked, and the shift closes on the count without a difference
    req = day.validate_movement(conn, MANAGER, kind, 5005, "CHF", "Bank", outgoing=outgoing)
    with transaction(conn):
        day.add_movement(Tx(conn), MANAGER, req)
    with transaction(conn):
        closed = day.close_shift(Tx(conn), MANAGER, [count_line("CHF", 0, 0, 10000 + req.amount)])
    assert [(b.currency, b.difference) for b in closed.balances] == [("CHF", 0)]
    conn.close()


def test_a_register_without_master_data_still_books_its_movements(tmp_path: Path) -> None:
    """No shop configured (no cash step known): nothing to check against."""
    conn = open_database(tmp_path / "posd.sqlite3")
    day = DayCommands(DaySettings("REG-1", "EUR", UTC), lambda: NOW, lambda: None)
    with transaction(conn):
        day.open_shift(Tx(conn), MANAGER, [count_line("EUR", 0, 0, 10000)])
    req = day.validate_movement(
        conn, MANAGER, CashMovementKind.DEPOSIT, 5003, "EUR", "Wechselgeld", outgoing=None
    )
    with transaction(conn):
        assert day.add_movement(Tx(conn), MANAGER, req).amount == 5003
    conn.close()
