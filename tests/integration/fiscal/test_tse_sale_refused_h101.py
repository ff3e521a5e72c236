"""Sales the start-up reconciliation finds finished at the TSE (a crash between the
finish and the commit) while the TSE refuses one of them for good (the cancellation
racing the end of an outage is test_outage_edge_cases.py's). Real daemon in-process,
real SQLite files, the fiskaly contract server over real HTTP."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import structlog
from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from posd_daemon.ops import crashpoints
from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed
from tests.integration.fiscal.test_outage_recovery_races import (
    StagedFiskaly,
    config,
    fake,  # noqa: F401  (the fixture)
    started_sale,
)
from tests.support.fake_fiskaly import _Fault


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def signed_not_saved(pos: PosdClient, fake: StagedFiskaly) -> tuple[str, int]:  # noqa: F811
    """A paid sale the TSE signed whose post did not commit (the error a failing disk
    gives, as a crash between the finish and the commit leaves it): (sale id, number)."""
    sid, number, total = started_sale(pos, fake)
    pos.add_payment(sid, CASH, total)
    crashpoints.arm_from_env("post.in_transaction:1:raise")
    try:
        with pytest.raises(PosdError) as failed:
            pos.post_sale(sid)
    finally:
        crashpoints.arm_from_env("")
    assert failed.value.reason == "POST_NOT_SAVED"
    assert fake.transaction_by_number(number).state == "FINISHED"
    return sid, number


def test_a_sale_the_tse_refuses_for_good_does_not_stop_the_reconciliation(
    tmp_path: Path,
    fake: StagedFiskaly,  # noqa: F811
) -> None:
    """Two sales signed before a crash, not saved. At the start the TSE refuses (HTTP
    400, a permanent error) to give the first one's stored result: that sale is left as
    it was (OPEN, its row STARTED, logged) for a person, the second is posted as signed,
    and no outage opens (before, the refusal ended the whole reconciliation: an outage
    opened, and every start and recovery ended at the same sale). Once the TSE gives the
    result, the till's retry posts the refused sale with the TSE's one signature."""
    state = tmp_path / "state"
    running = start_in_thread(state, config(fake))
    db = running.config.database_path
    try:
        with running.client() as pos:
            pos.retries = 0
            seed(pos)
            refused, refused_number = signed_not_saved(pos, fake)
            other, _ = signed_not_saved(pos, fake)
    finally:
        running.stop()
    refused_tx = fake.transaction_by_number(refused_number)
    revisions = len(refused_tx.revisions)

    def hook(path: str) -> _Fault | None:
        if f"/tx/{refused_tx.tx_id}" in path:
            return _Fault("fail", 1, None, status=400)
        return None

    fake.before_request = hook
    with structlog.testing.capture_logs() as logs:
        running = start_in_thread(state, config(fake))
    try:
        assert running.daemon.gateway.outage is None
        assert query(db, "SELECT COUNT(*) FROM tse_outages") == [(0,)]
        with running.client() as pos:
            assert pos.get_sale(other).state == sale_pb2.SALE_STATE_POSTED
            assert pos.get_sale(refused).state == sale_pb2.SALE_STATE_OPEN
        assert query(db, "SELECT state, signature FROM sale_tse WHERE sale_id = ?", refused) == [
            ("STARTED", "")
        ]
        told = [e for e in logs if e.get("event") == "tse_sale_refused"]
        assert [(e["sale_id"], e["transaction_number"]) for e in told] == [
            (refused, refused_number)
        ]
        fake.before_request = None
        with running.client() as pos:
            posted = pos.post_sale(refused)
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert (posted.tse.state, posted.tse.transaction_number) == ("SIGNED", refused_number)
        # signed once: the TSE's transaction has no revision more than its one finish
        assert len(fake.transaction_by_number(refused_number).revisions) == revisions
    finally:
        fake.before_request = None
        running.stop()


def test_a_sale_the_tse_refused_for_good_can_only_be_posted_as_signed(
    tmp_path: Path,
    fake: StagedFiskaly,  # noqa: F811
) -> None:
    """The sale left as it was by that refusal may be held by the TSE as the receipt it
    signed before the crash: changed or cancelled, its post or cancellation would ask the
    TSE to finish that transaction again with other data, which it refuses (the sale
    stuck for good). It is locked as a sale signed and not saved: only posting it with
    the signed data is allowed, and that completes it once the TSE answers."""
    state = tmp_path / "state"
    running = start_in_thread(state, config(fake))
    try:
        with running.client() as pos:
            pos.retries = 0
            seed(pos)
            refused, refused_number = signed_not_saved(pos, fake)
    finally:
        running.stop()
    refused_tx = fake.transaction_by_number(refused_number)
    revisions = len(refused_tx.revisions)
    fake.before_request = lambda path: (
        _Fault("fail", 1, None, status=400) if f"/tx/{refused_tx.tx_id}" in path else None
    )
    running = start_in_thread(state, config(fake))
    try:
        with running.client() as pos:
            pos.retries = 0
            before = pos.get_sale(refused)
            for change in (
                lambda: pos.add_line(refused, item_id="1002"),
                lambda: pos.cancel_sale(refused, "Kunde geht"),
                lambda: pos.add_payment(refused, CASH, 100),
            ):
                with pytest.raises(PosdError) as locked:
                    change()
                assert locked.value.reason == "SALE_SIGNED_NOT_POSTED"
            assert pos.get_sale(refused) == before  # nothing changed
            # the TSE still refuses it for good: the post is refused, naming the TSE's
            # refusal, and no outage opens (the TSE signs every other sale)
            with pytest.raises(PosdError) as still:
                pos.post_sale(refused)
            assert still.value.reason == "SALE_TSE_REFUSED", still.value
            assert "400" in str(still.value)
            assert running.daemon.gateway.outage is None
            assert query(running.config.database_path, "SELECT COUNT(*) FROM tse_outages") == [(0,)]
            assert pos.get_sale(refused) == before
            fake.before_request = None
            posted = pos.post_sale(refused)
            assert (posted.tse.state, posted.tse.transaction_number) == ("SIGNED", refused_number)
        assert len(fake.transaction_by_number(refused_number).revisions) == revisions
    finally:
        fake.before_request = None
        running.stop()
