"""TSE outages at their edges: a start that fails and a TSE back before the post, a
TSE that flaps (fails, recovers, fails again), a restart in the middle of an outage, a
TSE slow but within its timeout at the probe. Every receipt ends with exactly one of a
signature or an outage marking, each outage receipt in exactly one outage, the outage
numbers running without gaps. Real daemon in-process, real SQLite files, the fiskaly
contract server over real HTTP."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient
from posd.v1 import fiscal_pb2, sale_pb2

from tests.conftest import Running, start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, printed, seed, wait_for
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.integration.fiscal.test_outage_recovery_races import (
    StagedFiskaly,
    outage_sale,
    started_sale,
)
from tests.support.fake_fiskaly import FakeFiskaly, _Fault


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


@pytest.fixture
def staged() -> Iterator[StagedFiskaly]:
    with StagedFiskaly() as f:
        yield f


def config(fake: FakeFiskaly, **tse: Any) -> dict[str, Any]:
    cfg = fiskaly_config(fake, timeout_ms=1500)
    cfg["tse"].update(tse)
    return cfg


def rows(running: Running, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def recover(pos: PosdClient) -> fiscal_pb2.RecoverTseResponse:
    return pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest())


def outages(pos: PosdClient) -> list[fiscal_pb2.Outage]:
    return list(pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages)


def sell(pos: PosdClient) -> sale_pb2.Sale:
    sid = pos.create_sale().sale_id
    total = pos.add_line(sid, item_id="1002").sale.total.amount_minor
    pos.add_payment(sid, CASH, total)
    return pos.post_sale(sid)


def assert_signature_xor_marking(running: Running) -> None:
    """Every posted receipt: a signature (its transaction finished at the TSE) or an
    outage marking naming an outage that lists it; never neither, and an outage
    receipt in exactly one outage."""
    posted = rows(
        running,
        "SELECT s.receipt_number, t.state, t.signature, t.outage_number"
        " FROM sales s LEFT JOIN sale_tse t ON t.sale_id = s.sale_id"
        " WHERE s.state = 'POSTED'",
    )
    listed = rows(running, "SELECT receipt_number, outage_number FROM tse_outage_receipts")
    by_receipt: dict[int, list[int]] = {}
    for receipt, outage in listed:
        by_receipt.setdefault(receipt, []).append(outage)
    for receipt, state, signature, outage in posted:
        if state == "SIGNED":
            assert signature and outage is None, receipt
            assert receipt not in by_receipt, receipt
        else:
            assert state in ("OUTAGE", "SIGNED_LATE"), (receipt, state)
            assert outage is not None, receipt
            assert by_receipt.get(receipt) == [outage], receipt


@pytest.mark.parametrize("pause", [0.0, 0.3])  # 0.3 s: the post ran ahead and waits
def test_a_start_that_failed_before_a_tse_back_at_the_post_is_signed_as_a_new_transaction(
    tmp_path: Path, fake: FakeFiskaly, pause: float
) -> None:
    """The TSE fails the sale's start (an outage opens) and is back before its post:
    the post starts a transaction of its own and signs it; the receipt carries that
    signature and no outage marking, and the outage (its number) lists no receipt."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            fake.fail_all(status=503)
            sid = pos.create_sale().sale_id
            total = pos.add_line(sid, item_id="1002").sale.total.amount_minor
            wait_for(lambda: running.daemon.gateway.outage == 1)
            fake.clear_faults()
            assert recover(pos).recovered
            pos.add_payment(sid, CASH, total)
            time.sleep(pause)
            posted = pos.post_sale(sid)
            assert posted.tse.state == "SIGNED" and posted.tse.signature
            assert posted.tse.outage_number == 0
            tx = fake.transaction_by_number(posted.tse.transaction_number)
            assert tx.state == "FINISHED"
            (o,) = outages(pos)
            assert (o.outage_number, list(o.receipt_numbers)) == (1, [])
        assert_signature_xor_marking(running)
    finally:
        running.stop()


def test_a_flapping_tse_numbers_outages_without_gaps_and_lists_each_receipt_once(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            signed = sell(pos)
            assert signed.tse.state == "SIGNED"
            receipts: dict[int, list[int]] = {}
            for n in (1, 2, 3):
                fake.fail_all(status=503)
                a, b = sell(pos), sell(pos)
                assert (a.tse.outage_number, b.tse.outage_number) == (n, n)
                receipts[n] = [a.receipt_number, b.receipt_number]
                fake.clear_faults()
                assert recover(pos).recovered
                assert sell(pos).tse.state == "SIGNED"
            listed = {o.outage_number: list(o.receipt_numbers) for o in outages(pos)}
            assert listed == receipts
            csv = pos.call(pos.fiscal.ExportOutages, fiscal_pb2.ExportOutagesRequest()).csv
            lines = csv.decode("utf-8").split("\r\n")[1:-1]
            in_csv = [(int(line.split(";")[4]), int(line.split(";")[2])) for line in lines]
            assert in_csv == [(n, r) for n, rs in receipts.items() for r in rs]
            wait_for(lambda: printed(running).count("TSE wieder verfügbar") == 3)
            text = printed(running)
            for n, rs in receipts.items():
                for r in rs:
                    assert text.count(f"Beleg-Nr. {r}  Ausfallnummer") == 1
                    assert f"Beleg-Nr. {r}  Ausfallnummer {n}" in text
        assert_signature_xor_marking(running)
    finally:
        running.stop()


def test_an_outage_open_at_a_restart_keeps_its_number_and_its_receipts(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """A restart (here: a stop; a crash leaves the same rows) during an outage: the
    outage is still open with its number, receipts after the restart join it, the
    recovery lists those before the restart too, and the next outage is number 2."""
    state = tmp_path / "state"
    running = start_in_thread(state, config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            fake.fail_all(status=503)
            before = sell(pos)
            assert before.tse.outage_number == 1
    finally:
        running.stop()
    running = start_in_thread(state, config(fake))
    try:
        with running.client() as pos:
            assert running.daemon.gateway.outage == 1
            after = sell(pos)
            assert (after.tse.state, after.tse.outage_number) == ("OUTAGE", 1)
            assert len(outages(pos)) == 1
            fake.clear_faults()
            assert recover(pos).recovered
            (o,) = outages(pos)
            assert list(o.receipt_numbers) == [before.receipt_number, after.receipt_number]
            wait_for(lambda: "TSE wieder verfügbar" in printed(running))
            text = printed(running)
            for r in (before.receipt_number, after.receipt_number):
                assert f"Beleg-Nr. {r}  Ausfallnummer 1" in text
            fake.fail_all(status=503)
            assert sell(pos).tse.outage_number == 2
            fake.clear_faults()
        assert_signature_xor_marking(running)
        assert rows(running, "SELECT outage_number FROM tse_outages") == [(1,), (2,)]
    finally:
        running.stop()


def test_a_slow_tse_within_its_timeout_recovers_at_the_probe(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """Each of the recovery's TSE calls answers late but within the timeout: the outage
    ends, and the sale after it is signed."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            fake.fail_all(status=503)
            marked = sell(pos)
            assert marked.tse.outage_number == 1
            fake.clear_faults()
            fake.delay_next(40, seconds=0.2, before=True)
            assert recover(pos).recovered
            fake.wait_idle()
            fake.clear_faults()
            assert sell(pos).tse.state == "SIGNED"
        assert_signature_xor_marking(running)
    finally:
        running.stop()


def test_an_outage_open_at_a_restart_ends_at_the_start_when_the_tse_answers(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """The daemon stops during an outage and starts with the TSE back: the start itself
    talked to the TSE (its registration, its reconciliation), so the outage ends there,
    with its recovery receipt listing the receipts from before the restart, and the
    next sale is signed; not marked "ausgefallen" until the probe's next round (an hour
    here, probe_seconds)."""
    state = tmp_path / "state"
    running = start_in_thread(state, config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            fake.fail_all(status=503)
            before = sell(pos)
            assert before.tse.outage_number == 1
    finally:
        running.stop()
    fake.clear_faults()
    running = start_in_thread(state, config(fake))
    try:
        with running.client() as pos:
            after = sell(pos)
            assert (after.tse.state, after.tse.outage_number) == ("SIGNED", 0)
            (o,) = outages(pos)
            assert o.HasField("end_time")
            assert list(o.receipt_numbers) == [before.receipt_number]
            wait_for(lambda: "TSE wieder verfügbar" in printed(running))
            assert f"Beleg-Nr. {before.receipt_number}  Ausfallnummer 1" in printed(running)
        assert_signature_xor_marking(running)
    finally:
        running.stop()


def test_a_sale_cancelled_while_the_recovery_closes_the_outage_is_aborted_at_the_tse(
    tmp_path: Path, staged: StagedFiskaly
) -> None:
    """A sale whose TSE transaction started before the outage is cancelled (during the
    outage: nothing asked of the TSE) while the recovery is past finishing the
    cancellations and before it closes the outage: its transaction is finished as
    AVBelegabbruch too, not left open at the TSE until the daemon's next start."""
    running = start_in_thread(tmp_path / "state", config(staged, timeout_ms=3000))
    try:
        with running.client() as pos:
            seed(pos)
            cancelled, number, _ = started_sale(pos, staged)
            outage_sale(pos, staged)  # a receipt for the late signing: it lists again
            done: list[sale_pb2.Sale] = []
            calls = {"list": 0}

            def at_second_list(path: str) -> _Fault | None:
                if "states" in path:
                    calls["list"] += 1
                    if calls["list"] == 2:
                        # the recovery has finished the cancellations it found
                        staged.before_request = None
                        with running.client(open_shift=False) as other:
                            done.append(other.cancel_sale(cancelled, "weg"))
                return None

            staged.before_request = at_second_list
            assert recover(pos).recovered
            assert done and (done[0].tse.state, done[0].tse.outage_number) == ("CANCELLED", 1)
            wait_for(lambda: staged.transaction_by_number(number).state != "ACTIVE")
            assert staged.transaction_by_number(number).state == "CANCELLED"
            tse = pos.get_sale(cancelled).tse
            assert (tse.state, tse.outage_number) == ("CANCELLED", 1)
            assert tse.signature and tse.process_data.startswith("AVBelegabbruch^")
    finally:
        running.stop()


def test_a_start_answered_after_its_timeout_leaves_no_transaction_open(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """The TSE starts the sale's transaction but answers after the timeout (an outage
    opens): the recovery ends that transaction the register never recorded
    (AVBelegabbruch), the post signs a transaction of its own, and nothing stays open
    at the TSE."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            fake.delay_next(3, seconds=2.0, match="tx_revision=1")
            sid = pos.create_sale().sale_id
            total = pos.add_line(sid, item_id="1002").sale.total.amount_minor
            wait_for(lambda: running.daemon.gateway.outage == 1)
            fake.wait_idle()
            fake.clear_faults()
            assert recover(pos).recovered
            pos.add_payment(sid, CASH, total)
            posted = pos.post_sale(sid)
            assert posted.tse.state == "SIGNED"
            fake.wait_idle()
            states = {t.number: t.state for t in fake.transactions.values()}
            assert states[posted.tse.transaction_number] == "FINISHED"
            assert "ACTIVE" not in states.values(), states
            (o,) = outages(pos)
            assert o.error_code == "TIMEOUT" and list(o.receipt_numbers) == []
        assert_signature_xor_marking(running)
    finally:
        running.stop()


def test_a_finish_answered_after_its_timeout_is_signed_late_with_that_signature(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """The TSE finishes the receipt but answers after the timeout: the receipt posts with
    the outage marking, naming that transaction (not a second one); the recovery gets
    the signature the TSE made then, and the receipt is in that one outage."""
    running = start_in_thread(tmp_path / "state", config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            sid, number, total = started_sale(pos, fake)
            pos.add_payment(sid, CASH, total)
            fake.delay_next(3, seconds=2.0, match="tx_revision=2")
            posted = pos.post_sale(sid)
            assert (posted.tse.state, posted.tse.outage_number) == ("OUTAGE", 1)
            assert posted.tse.transaction_number == number and not posted.tse.signature
            fake.wait_idle()
            fake.clear_faults()
            assert recover(pos).recovered
            tse = pos.get_sale(sid).tse
            assert (tse.state, tse.outage_number, tse.transaction_number) == (
                "SIGNED_LATE", 1, number
            )  # fmt: skip
            assert tse.signature and tse.process_data == posted.tse.process_data
            assert fake.transaction_by_number(number).state == "FINISHED"
            (o,) = outages(pos)
            assert list(o.receipt_numbers) == [posted.receipt_number]
        assert_signature_xor_marking(running)
    finally:
        running.stop()


def test_a_tse_timing_out_again_during_the_late_signing_keeps_the_outage_open(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """The TSE answers the recovery's checks, then stops answering in time at the late
    signing of the outage receipts: the outage goes on (a TSE that does not answer
    within the timeout is out, the rule that opened it), the recovery says so after one
    timeout, not one per outage receipt (twice over), and the next recovery signs them."""
    running = start_in_thread(tmp_path / "state", config(fake, timeout_ms=1000))
    try:
        with running.client() as pos:
            seed(pos)
            started = [started_sale(pos, fake) for _ in range(3)]
            fake.fail_all(status=503)
            for sid, _, total in started:
                pos.add_payment(sid, CASH, total)
                assert pos.post_sale(sid).tse.outage_number == 1
            fake.clear_faults()
            fake.delay_next(100, seconds=2.5, match="tx_revision=2")
            t0 = time.monotonic()
            answer = recover(pos)
            elapsed = time.monotonic() - t0
            assert (answer.recovered, answer.active_outage_number) == (False, 1)
            assert elapsed < 2.5, elapsed
            fake.clear_faults()
            fake.wait_idle()
            assert recover(pos).recovered
            for sid, number, _ in started:
                tse = pos.get_sale(sid).tse
                assert (tse.state, tse.outage_number, tse.transaction_number) == (
                    "SIGNED_LATE", 1, number
                )  # fmt: skip
            (o,) = outages(pos)
            assert o.HasField("end_time") and len(o.receipt_numbers) == 3
        assert_signature_xor_marking(running)
    finally:
        running.stop()
