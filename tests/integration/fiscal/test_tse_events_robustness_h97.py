"""TSE Vorgänge that are no sale (cash movements, booked differences: schema 18,
``tse_pending_events``) left by a crash, across a replaced TSE and a TSE refusing one of
them; and the time an outage is recorded to have begun. Real daemon in-process, real
SQLite files, the fiskaly contract server over real HTTP."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from posd.v1 import closing_pb2

from posd_daemon.fiscal import process_data as pd
from posd_daemon.store.timeutil import from_db
from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed, wait_for
from tests.integration.fiscal.test_outage_recovery import finished_as, fiskaly_config
from tests.integration.fiscal.test_outage_recovery_races import (
    StagedFiskaly,
    config,
    fake,  # noqa: F401  (the fixture)
    started_sale,
)
from tests.integration.fiscal.test_replaced_tse_rows_h93 import orphan_at
from tests.support.fake_fiskaly import FakeFiskaly, _Fault

MOVEMENT_DATA = pd.kassenbeleg_v1(
    "Beleg", [0, 0, 0, 0, 0], [pd.Payment(5000, pd.PaymentKind.CASH, "EUR")]
)


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def left_vorgang(db: Path, state: str, number: int, request_id: str) -> None:
    """A Vorgang row as a crash (PENDING), an outage (OUTAGE) or a crash-time
    cancellation (CANCELLED) left it, written before schema 28: it names no TSE."""
    query(
        db,
        "INSERT INTO tse_pending_events (kind, state, client_id, transaction_number,"
        " start_time, start_counter, process_data, payload, method, request_id, digest,"
        " created_at) VALUES ('MOVEMENT', ?, 'REG-1', ?, NULL, NULL, ?, '{}',"
        " 'AddCashMovement', ?, 'd', '2026-01-01T00:00:00.000000Z')",
        state,
        number,
        MOVEMENT_DATA,
        request_id,
    )


def test_vorgaenge_left_under_an_old_tse_never_end_the_new_tses_sales_transactions(
    tmp_path: Path,
) -> None:
    """Vorgänge left PENDING, OUTAGE and CANCELLED under TSE A hold A's numbers n1..n3.
    At the replacing TSE B, open sales hold B's transactions n1..n3. The next start
    must leave them open for their sales: before, reconciliation cancelled B's n1 and
    n3 (as the Vorgänge' own) and late signing finished B's n2 with the movement's data,
    so the sales' receipts could not be signed by them."""
    state = tmp_path / "state"
    with FakeFiskaly() as new:
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        db = running.config.database_path
        try:
            with running.client() as pos:
                seed(pos)
                sales = [started_sale(pos, new) for _ in range(3)]
        finally:
            running.stop()
        for (_, number, _), left in zip(sales, ("PENDING", "OUTAGE", "CANCELLED"), strict=True):
            left_vorgang(db, left, number, f"old-{left}")
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        try:
            assert [finished_as(new, n) for _, n, _ in sales] == [("ACTIVE", "")] * 3
            assert running.daemon.gateway.outage is None
            with running.client() as pos:
                for sid, number, total in sales:
                    pos.add_payment(sid, CASH, total)
                    got = pos.post_sale(sid).tse
                    assert (got.state, got.transaction_number) == ("SIGNED", number)
            # the old TSE's Vorgänge stay as they were, for a person
            assert query(
                db, "SELECT state FROM tse_pending_events ORDER BY transaction_number"
            ) == [("PENDING",), ("OUTAGE",), ("CANCELLED",)]
        finally:
            running.stop()


def test_a_vorgang_of_an_old_tse_neither_is_cancelled_at_the_new_one_nor_hides_its_orphan(
    tmp_path: Path,
) -> None:
    """A Vorgang of TSE A (its serial recorded, schema 28) left PENDING with A's number
    n. The replacing TSE B holds an open transaction n the register never recorded: it
    is an orphan of B, cancelled as one (TSE_ORPHAN_CANCELLED); the Vorgang is not
    journaled cancelled (it was A's transaction) and stays PENDING."""
    state = tmp_path / "state"
    with FakeFiskaly() as new:
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        db = running.config.database_path
        try:
            with running.client() as pos:
                seed(pos)
        finally:
            running.stop()
        orphan = orphan_at(new, tmp_path / "other")
        left_vorgang(db, "PENDING", orphan, "old-pending")
        query(db, "UPDATE tse_pending_events SET tse_serial = 'a1d0'")
        running = start_in_thread(state, fiskaly_config(new, timeout_ms=1500))
        try:
            assert finished_as(new, orphan)[0] == "CANCELLED"
            kinds = [
                k
                for (k,) in query(db, "SELECT kind FROM journal WHERE ref = ?", f"tse-tx:{orphan}")
            ]
            assert kinds == ["TSE_ORPHAN_CANCELLED"]
            assert query(db, "SELECT state FROM tse_pending_events") == [("PENDING",)]
        finally:
            running.stop()


def test_a_vorgang_the_tse_refuses_for_good_does_not_stop_the_others_or_open_an_outage(
    tmp_path: Path,
    fake: StagedFiskaly,  # noqa: F811
) -> None:
    """Two movements' Vorgänge are left PENDING by a crash after their finish. At the
    start the TSE refuses (HTTP 400, a permanent error) to give the first one's stored
    result: that Vorgang is left PENDING for a person, the second is recovered, and the
    TSE is not taken for failed: no outage (before, the refusal ended the whole
    reconciliation, an outage opened, and every recovery ended there again)."""
    state = tmp_path / "state"
    running = start_in_thread(state, config(fake))
    db = running.config.database_path
    try:
        with running.client() as pos:
            seed(pos)
            pos.ensure_shift()
            for amount in (5000, 700):
                moved = pos.add_cash_movement(
                    closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, amount, "Wechsel"
                )
                assert moved.tse.state == "SIGNED"
    finally:
        running.stop()
    events = query(db, "SELECT event_id, transaction_number FROM tse_pending_events")
    assert len(events) == 2
    # the crash came after each finish, before its record committed
    query(db, "UPDATE tse_pending_events SET state = 'PENDING', resolved_at = NULL")
    refused_tx = fake.transaction_by_number(events[0][1]).tx_id

    def hook(path: str) -> _Fault | None:
        if f"/tx/{refused_tx}" in path:
            return _Fault("fail", 1, None, status=400)
        return None

    fake.before_request = hook
    running = start_in_thread(state, config(fake))
    try:
        assert running.daemon.gateway.outage is None
        assert query(db, "SELECT state FROM tse_pending_events ORDER BY event_id") == [
            ("PENDING",),
            ("DONE",),
        ]
        assert query(db, "SELECT COUNT(*) FROM tse_outages") == [(0,)]
    finally:
        fake.before_request = None
        running.stop()


def test_an_outage_begins_when_the_call_the_tse_did_not_answer_was_made(
    tmp_path: Path,
    fake: StagedFiskaly,  # noqa: F811
) -> None:
    """The TSE stops answering: the background start of a sale's transaction gets no
    answer within the timeout. The outage (its receipt, the outage journal, DSFinV-K)
    begins when that call reached the TSE, not when its timeout ran out (seconds
    later): the outage's start is not after the moment the TSE got the call."""
    running = start_in_thread(tmp_path / "state", config(fake))
    db = running.config.database_path
    arrived: list[datetime] = []
    try:
        with running.client() as pos:
            seed(pos)

            def hook(path: str) -> _Fault | None:
                # every start hangs (the backend's own retry too): the TSE is out
                if "/tx/" in path and "tx_revision=1" in path:
                    arrived.append(datetime.now(UTC))
                    return _Fault("delay", 1, None, seconds=3.5)  # beyond the 3 s timeout
                return None

            fake.before_request = hook
            pos.add_line(pos.create_sale().sale_id, item_id="1002")
            wait_for(lambda: running.daemon.gateway.outage is not None, timeout=15)
            ((started,),) = query(db, "SELECT started_at FROM tse_outages")
            assert arrived
            assert from_db(started) <= arrived[0]
    finally:
        fake.before_request = None
        fake.wait_idle(timeout=10)
        running.stop()
