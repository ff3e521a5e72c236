"""Which sale a hardware scan goes to (helper h98): the router's active sale, at the
daemon's start and as sale events come, on a real SQLite database.

* At the start the newest OPEN sale by creation became active, whatever it was: a storno
  left open (its post failed: REVERSAL_NOT_EDITABLE refuses every scan, which then is
  lost instead of reaching the UI), or a sale created earlier than the one the cashier
  worked on last (the first scan after a restart went into the other sale).
* An event of a sale that is not open (its ``state``) made that sale active whatever
  its kind, so the next scan was refused by it instead of reaching the UI.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from posd_daemon.domain.sale import Sale, SaleState
from posd_daemon.services.events import Event, EventBus, SaleChanged
from posd_daemon.services.scanner import ActiveSale, ScanRouter, newest_open_sale
from posd_daemon.store import sales as sale_store
from posd_daemon.store.database import open_database

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_database(tmp_path / "posd.sqlite3")
    try:
        yield c
    finally:
        c.close()


def _sale(conn: sqlite3.Connection, sale_id: str, at: datetime, **kw: Any) -> Sale:
    sale = Sale(sale_id, "R1", kw.pop("operator_id", "anna"), "EUR", at, updated_at=at, **kw)
    sale_store.insert(conn, sale)
    conn.commit()
    return sale


def test_a_storno_left_open_is_not_the_active_sale_after_a_restart(
    conn: sqlite3.Connection,
) -> None:
    _sale(conn, "S-orig", T0, state=SaleState.POSTED, receipt_number=7)
    _sale(conn, "S-open", T0 + timedelta(minutes=1))
    # the storno of receipt 7, built and left open (its post failed before the restart)
    _sale(
        conn,
        "S-storno",
        T0 + timedelta(minutes=2),
        reverses_sale_id="S-orig",
        reverses_receipt=7,
    )
    assert newest_open_sale(conn) == ActiveSale("S-open", "anna")


def test_only_a_storno_open_leaves_scans_to_the_ui_after_a_restart(
    conn: sqlite3.Connection,
) -> None:
    _sale(conn, "S-orig", T0, state=SaleState.POSTED, receipt_number=7)
    _sale(conn, "S-storno", T0, reverses_sale_id="S-orig", reverses_receipt=7)
    assert newest_open_sale(conn) is None


def test_the_sale_worked_on_last_is_active_after_a_restart(conn: sqlite3.Connection) -> None:
    older = _sale(conn, "S-a", T0)
    _sale(conn, "S-b", T0 + timedelta(minutes=1))
    # the cashier went back to the older sale (resumed it, scanned into it) last
    sale_store.update(conn, older, T0 + timedelta(minutes=5))
    conn.commit()
    assert newest_open_sale(conn) == ActiveSale("S-a", "anna")


def _router() -> ScanRouter:
    # on_event reads nothing but the event: the other collaborators stay unused
    return ScanRouter(EventBus(), cast(Any, None), cast(Any, None), cast(Any, None), print)


def _event(kind: str, sale_id: str, state: str) -> Event:
    return Event(1, T0, SaleChanged(kind, sale_id, state, "anna", "EUR", 0, 0, 0, 0))


@pytest.mark.parametrize("state", ["POSTED", "CANCELLED", "PARKED", "TRANSFERRED"])
def test_an_event_of_a_sale_not_open_does_not_make_it_active(state: str) -> None:
    router = _router()
    router.on_event(_event("line_updated", "S-done", state))
    assert router.active is None
    # nor does it take the place of the sale being worked on; and it is no longer
    # active itself once such an event says it is not open
    router.on_event(_event("line_added", "S-open", "OPEN"))
    router.on_event(_event("line_updated", "S-done", state))
    assert router.active == ActiveSale("S-open", "anna")
    router.on_event(_event("payment_removed", "S-open", state))
    assert router.active is None


def test_an_open_sale_changed_becomes_active() -> None:
    router = _router()
    router.on_event(_event("resumed", "S-1", "OPEN"))
    assert router.active == ActiveSale("S-1", "anna")
