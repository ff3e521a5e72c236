"""The TSE outage journal under races: recovery run twice at once, a TSE that fails again
in the middle of a recovery, and a post that commits while the recovery closes the
outage. Real daemon in-process, real SQLite files, the fiskaly contract server over real
HTTP."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient
from posd.v1 import fiscal_pb2

from tests.conftest import Running, start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed, wait_for
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly, _Fault


class StagedFiskaly(FakeFiskaly):
    """The contract server, with one more knob: a hook run on every request before it
    is handled (outside the fake's lock), to stage what happens at an exact call."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.before_request: Any = None

    def _take_fault(self, path: str) -> _Fault | None:
        hook = self.before_request
        if hook is not None:
            fault = hook(path)
            if fault is not None:
                return fault  # type: ignore[no-any-return]
        return super()._take_fault(path)


def config(fake: FakeFiskaly) -> dict[str, Any]:
    """fiskaly with a 3 s timeout: the races here are staged, not timed out."""
    return fiskaly_config(fake, timeout_ms=3000)


@pytest.fixture
def fake() -> Iterator[StagedFiskaly]:
    with StagedFiskaly() as f:
        yield f


def rows(running: Running, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def recover(pos: PosdClient) -> fiscal_pb2.RecoverTseResponse:
    return pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest())


def started_sale(pos: PosdClient, fake: FakeFiskaly) -> tuple[str, int, int]:
    """A sale with a line whose TSE transaction the fake has started: (sale id, its
    transaction number, its total)."""
    before = set(fake.transactions)
    sid = pos.create_sale().sale_id
    total = pos.add_line(sid, item_id="1002").sale.total.amount_minor
    wait_for(lambda: set(fake.transactions) - before)
    fake.wait_idle()
    (tx_id,) = set(fake.transactions) - before
    return sid, fake.transactions[tx_id].number, total


def outage_sale(pos: PosdClient, fake: FakeFiskaly) -> str:
    """A sale whose TSE transaction started before the outage, posted during a fresh
    outage (the TSE answers 503): its id. Recovery signs it late."""
    sid, _, total = started_sale(pos, fake)
    fake.fail_all(status=503)
    pos.add_payment(sid, CASH, total)
    assert pos.post_sale(sid).tse.state == "OUTAGE"
    fake.clear_faults()
    return sid


def test_recovery_asked_twice_at_once_ends_the_outage_once(
    tmp_path: Path, fake: StagedFiskaly
) -> None:
    """Two RecoverTse at the same moment (two UIs, or one and the background probe):
    the outage ends once, with one TSE_OUTAGE_END journal record and one recovery
    receipt, not two."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            outage_sale(pos, fake)
            # the first recovery's first TSE call answers late: the second comes meanwhile
            fake.delay_next(1, seconds=0.5, before=True)
            answers: list[bool] = []

            def ask() -> None:
                with running.client(open_shift=False) as other:
                    answers.append(recover(other).recovered)

            threads = [threading.Thread(target=ask) for _ in range(2)]
            for t in threads:
                t.start()
                time.sleep(0.1)
            for t in threads:
                t.join(20)
            assert answers == [True, True]
        ends = rows(running, "SELECT ref FROM journal WHERE kind = 'TSE_OUTAGE_END'")
        assert ends == [("outage:1",)]
        prints = rows(
            running,
            "SELECT COUNT(*) FROM outbox WHERE ref = 'outage:1' AND payload LIKE '%outage_end%'",
        )
        assert prints == [(1,)]
    finally:
        running.stop()


def fail_second_list_of_open_transactions(fake: StagedFiskaly) -> dict[str, int]:
    """From now on, the 2nd request for the list of open transactions answers 503, and
    so does every repeat of it for longer than the 3 s TSE timeout (a 5xx is repeated
    within the call's budget): a recovery's reconciliation asks first, its late signing
    second, which fails."""
    calls = {"list": 0}
    failing_until = [0.0]

    def hook(path: str) -> _Fault | None:
        if "states" in path:
            calls["list"] += 1
            if calls["list"] == 2:
                failing_until[0] = time.monotonic() + 3.5
            if calls["list"] >= 2 and time.monotonic() < failing_until[0]:
                return _Fault("fail", 1, None, status=503)
        return None

    fake.before_request = hook
    return calls


def test_recover_tse_answers_still_unavailable_when_the_tse_fails_again_midway(
    tmp_path: Path, fake: StagedFiskaly
) -> None:
    """The TSE answers the recovery's checks, then fails at the list of open
    transactions the late signing asks for: RecoverTse says the outage goes on (no
    INTERNAL error), and the next RecoverTse closes it."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            outage_sale(pos, fake)
            fail_second_list_of_open_transactions(fake)
            answer = recover(pos)
            assert (answer.recovered, answer.active_outage_number) == (False, 1)
            fake.before_request = None
            assert recover(pos).recovered
        assert rows(running, "SELECT ended_at IS NOT NULL FROM tse_outages") == [(1,)]
    finally:
        running.stop()


def test_the_probe_survives_a_tse_failing_again_during_its_recovery(
    tmp_path: Path, fake: StagedFiskaly
) -> None:
    """The same failure met by the background probe: the probe keeps running and closes
    the outage at its next round (it had died with the exception, leaving the outage
    open until someone pressed RecoverTse or restarted the daemon)."""
    cfg = config(fake)
    cfg["tse"]["probe_seconds"] = 1
    running = start_in_thread(tmp_path / "state", cfg)
    try:
        with running.client() as pos:
            seed(pos)
            calls = fail_second_list_of_open_transactions(fake)
            outage_sale(pos, fake)  # clears the 503s: the probe's next round meets the hook
            wait_for(lambda: calls["list"] >= 2)
            # the failing round lasts the TSE timeout (3 s), the next one closes it
            wait_for(lambda: running.daemon.gateway.outage is None, timeout=12)
        assert rows(running, "SELECT ended_at IS NOT NULL FROM tse_outages") == [(1,)]
    finally:
        running.stop()


def test_a_receipt_posted_while_the_recovery_closes_the_outage_is_signed_late_too(
    tmp_path: Path, fake: StagedFiskaly
) -> None:
    """A sale whose TSE transaction started before the outage is posted (with the
    outage marking) while the recovery is between its late signing and the closing of
    the outage: its transaction is finished as that receipt too, not left open at the
    TSE for good (no later recovery came for it: the outage it belongs to is closed)."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            late, number, total = started_sale(pos, fake)
            pos.add_payment(late, CASH, total)
            outage_sale(pos, fake)
            posted: list[Any] = []

            calls = {"list": 0}

            def at_second_list(path: str) -> _Fault | None:
                if "states" in path:
                    calls["list"] += 1
                    if calls["list"] == 2:
                        # the recovery's late signing has read the outage receipts
                        fake.before_request = None
                        with running.client(open_shift=False) as other:
                            posted.append(other.post_sale(late))
                return None

            fake.before_request = at_second_list
            assert recover(pos).recovered
            assert posted and posted[0].tse.state == "OUTAGE"
            assert posted[0].tse.transaction_number == number
            receipt = posted[0].tse.process_data
            wait_for(lambda: fake.transaction_by_number(number).state != "ACTIVE")
            tx = fake.transaction_by_number(number)
            assert tx.state == "FINISHED"
            tse = pos.get_sale(late).tse
            assert (tse.state, tse.outage_number, tse.process_data) == (
                "SIGNED_LATE",
                1,
                receipt,
            )
    finally:
        running.stop()


@pytest.mark.parametrize("how", ["first line", "cancel"])
def test_an_outage_opened_in_the_background_names_the_sales_operator(
    tmp_path: Path, fake: StagedFiskaly, how: str
) -> None:
    """The outage journal names the cashier (JTL practice, fiscal-de.md: time, error,
    client, register, cashier, printer, TSE serial). The most common way an outage
    begins is the TSE start at a sale's first line, in the background; it (and a
    cancellation's TSE failure) recorded the operator as "-"."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            if how == "first line":
                fake.fail_all(status=503)
                sid = pos.create_sale().sale_id
                pos.add_line(sid, item_id="1002")
                wait_for(lambda: running.daemon.gateway.outage is not None)
            else:
                sid, _, _ = started_sale(pos, fake)
                fake.fail_all(status=503)
                assert pos.cancel_sale(sid, "weg").tse.outage_number == 1
            (outage,) = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages
            assert outage.operator_id == "1"
            assert outage.error_code == "HTTP_503"
            assert (outage.client_id, outage.register_id) == ("REG-1", "REG-1")
            assert outage.tse_manufacturer == "fiskaly" and outage.tse_serial
            assert outage.printer
    finally:
        running.stop()
