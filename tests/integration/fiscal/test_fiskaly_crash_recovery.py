"""A sale the fiskaly TSE finished but the register did not save, through the gRPC API.

The TSE port promises that finishing a transaction again with the same data returns the
stored result; the sale code relies on it twice: a post signed but not saved is posted
again with the same signature, and start-up reconciliation completes a sale finished
before a crash. The fiskaly backend keeps the transactions it closed for that (first
found by a reviewer: it forgot them, so the repeat opened an outage that never ended)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import fiscal_pb2, sale_pb2

from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly
from tests.support.fullsale import post_not_saved


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as server:
        yield server
    assert server.errors == []


def _post_signed_not_saved(pos: PosdClient) -> str:
    """A paid sale whose post fails after fiskaly finished its transaction."""
    seed(pos)
    pos.retries = 0
    sid = pos.create_sale().sale_id
    total = pos.add_line(sid, item_id="1002").sale.total.amount_minor
    pos.add_payment(sid, CASH, total)
    post_not_saved(lambda: pos.post_sale(sid))
    return sid


def test_signed_not_saved_posts_again_with_the_same_signature(
    fake: FakeFiskaly, tmp_path: Path
) -> None:
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            sid = _post_signed_not_saved(pos)
            (tx,) = fake.transactions.values()
            signature = tx.revisions[-1][1]["signature"]["value"]
            posted = pos.post_sale(sid)
            assert posted.state == sale_pb2.SALE_STATE_POSTED
            assert posted.tse.state == "SIGNED"
            assert posted.tse.signature == signature
            assert len(tx.revisions) == 2  # read back, not signed again
            outages = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest())
            assert len(outages.outages) == 0
    finally:
        running.stop()


def test_restart_completes_a_sale_finished_before_the_crash(
    fake: FakeFiskaly, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    running = start_in_thread(state, fiskaly_config(fake))
    try:
        with running.client() as pos:
            sid = _post_signed_not_saved(pos)
    finally:
        running.stop()
    assert [t.state for t in fake.transactions.values()] == ["FINISHED"]

    running = start_in_thread(state, fiskaly_config(fake))
    try:
        with running.client() as pos:
            outages = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest())
            assert len(outages.outages) == 0, "restart opened an outage"
            sale = pos.get_sale(sid)
            assert sale.state == sale_pb2.SALE_STATE_POSTED
            assert sale.tse.state == "SIGNED"
    finally:
        running.stop()


def test_restart_skips_a_sale_the_tse_cannot_resolve(
    fake: FakeFiskaly, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Backstop: the fiskaly state file is lost, so the finished transaction is unknown.
    Reconciliation logs it and goes on (no outage for good); the sale is not posted."""
    state = tmp_path / "state"
    running = start_in_thread(state, fiskaly_config(fake))
    try:
        with running.client() as pos:
            sid = _post_signed_not_saved(pos)
    finally:
        running.stop()
    (state_file,) = state.rglob(f"fiskaly-{fake.tss_id}.json")
    state_file.unlink()

    running = start_in_thread(state, fiskaly_config(fake))
    try:
        with running.client() as pos:
            outages = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest())
            assert len(outages.outages) == 0, "one unresolved sale blocked reconciliation"
            sale = pos.get_sale(sid)
            assert sale.state == sale_pb2.SALE_STATE_OPEN  # never posted unsigned here
    finally:
        running.stop()
    assert "tse_sale_unresolved" in capfd.readouterr().out
    (tx,) = fake.transactions.values()
    assert (tx.state, len(tx.revisions)) == ("FINISHED", 2)

    running = start_in_thread(state, fiskaly_config(fake))  # and again: still no outage
    try:
        with running.client() as pos:
            outages = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest())
            assert len(outages.outages) == 0
    finally:
        running.stop()
