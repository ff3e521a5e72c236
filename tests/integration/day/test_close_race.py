"""Day commands racing each other through the real in-process daemon: every transaction
the TSE finishes belongs to exactly one record (DESIGN.md, crash-safety invariant).

Before the fix CloseShift and AddCashMovement had the TSE sign first and checked again
in the recording transaction afterwards: a second close of the same shift (two UIs, or a
retry with a new request id), a cash sale posted during the close
(SHIFT_CHANGED_WHILE_CLOSING) or a shift closed while a movement was signing left a
signed Kassendifferenz / cash movement that no Vorgang records."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import fiscal_pb2

from tests.conftest import start_in_thread
from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import CASH, K, db, seed
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly


def run_together(jobs: list[Callable[[], None]]) -> None:
    """Starts the jobs at the same moment, each on a thread of its own; waits for all."""
    barrier = threading.Barrier(len(jobs))
    failures: list[BaseException] = []

    def body(job: Callable[[], None]) -> None:
        barrier.wait(10)
        try:
            job()
        except BaseException as exc:  # reported in the test's thread below
            failures.append(exc)

    threads = [threading.Thread(target=body, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures


def recorded_tse_transactions(conn: sqlite3.Connection) -> int:
    """TSE transactions the register's records hold: sales (any state, a started one
    included) and cash movements (cash differences are movements too)."""
    sales = conn.execute(
        "SELECT COUNT(DISTINCT transaction_number) FROM sale_tse"
        " WHERE transaction_number IS NOT NULL"
    ).fetchone()[0]
    movements = conn.execute(
        "SELECT COUNT(*) FROM cash_movements WHERE transaction_number IS NOT NULL"
    ).fetchone()[0]
    return int(sales) + int(movements)


def test_concurrent_closes_of_one_shift_sign_one_difference(day: Day) -> None:
    pos = day.pos
    before = pos.tse_info().transaction_counter
    reasons: list[str] = []
    closed: list[K.Shift] = []
    lock = threading.Lock()

    def close() -> None:
        _, closing = day.client("1", "1234")
        with closing:
            try:
                shift = closing.close_shift(PosdClient.cash_counts(total=9000))
            except PosdError as e:
                with lock:
                    reasons.append(e.reason)
            else:
                with lock:
                    closed.append(shift)

    rounds = 5
    for _ in range(rounds):
        day.day.open_shift(PosdClient.cash_counts(total=10000))
        run_together([close, close, close])

    # one close per shift went through, each with its -10.00 difference signed; the
    # others found no open shift, before the TSE was asked
    assert len(closed) == rounds
    assert reasons == ["NO_OPEN_SHIFT"] * (2 * rounds)
    assert all(b.difference.amount_minor == -1000 for s in closed for b in s.balances)
    after = pos.tse_info().transaction_counter
    with db(day) as conn:
        signed = conn.execute(
            "SELECT COUNT(*) FROM cash_movements WHERE kind = 'DIFFERENCE' AND tse_state = 'SIGNED'"
        ).fetchone()[0]
        assert signed == rounds
        assert after - before == recorded_tse_transactions(conn) == rounds
    assert pos.verify_journal().ok


def test_cash_sales_and_movements_during_concurrent_closes_lose_no_signature(
    day: Day,
) -> None:
    pos = day.pos
    seed(pos)
    before = pos.tse_info().transaction_counter
    day.day.open_shift(PosdClient.cash_counts(total=50000))
    reasons: list[str] = []
    closed: list[K.Shift] = []
    lock = threading.Lock()
    stop = threading.Event()
    sold, moved = threading.Event(), threading.Event()

    def refused(e: PosdError) -> None:
        with lock:
            reasons.append(e.reason)

    def sell(operator: str, pin: str) -> Callable[[], None]:
        # one seller per operator: an operator's clients share the operator's open sale
        def job() -> None:
            sales, _ = day.client(operator, pin)
            with sales:
                while not stop.is_set():
                    try:
                        s = sales.create_sale()
                    except PosdError as e:  # the shift closed: no new sale
                        refused(e)
                        return
                    sales.add_line(s.sale_id, item_id="A")
                    sales.add_payment(s.sale_id, CASH, 1000)
                    try:
                        sales.post_sale(s.sale_id)
                    except PosdError as e:  # paid in the shift, closed before its post
                        refused(e)
                        return
                    sold.set()

        return job

    def move(kind: int) -> Callable[[], None]:
        def job() -> None:
            _, closing = day.client("1", "1234")
            with closing:
                while not stop.is_set():
                    try:
                        closing.add_cash_movement(kind, 100, "Wechselgeld")
                        moved.set()
                    except PosdError as e:
                        refused(e)
                        return

        return job

    def close() -> None:
        _, closing = day.client("1", "1234")
        with closing:
            try:
                # sales and movements first, then the close lands among them
                assert sold.wait(20) and moved.wait(20)
                for _ in range(1000):
                    try:
                        shift = closing.close_shift(PosdClient.cash_counts(total=1))
                        break
                    except PosdError as e:
                        # a seller's sale paid in cash but not yet posted holds the close
                        # (its cash is in the drawer, booked only at its post): again
                        if e.reason != "CASH_IN_UNFINISHED_SALES":
                            raise
                else:
                    raise AssertionError("the close never found the sales posted")
            except PosdError as e:
                refused(e)
            else:
                with lock:
                    closed.append(shift)
            finally:
                stop.set()

    run_together(
        [
            sell("1", "1234"),
            sell("2", "0000"),
            move(K.CASH_MOVEMENT_KIND_DEPOSIT),
            move(K.CASH_MOVEMENT_KIND_WITHDRAWAL),
            close,
            close,
        ]
    )

    assert len(closed) == 1
    assert "SHIFT_CHANGED_WHILE_CLOSING" not in reasons
    assert set(reasons) <= {"NO_OPEN_SHIFT"}, reasons
    after = pos.tse_info().transaction_counter
    with db(day) as conn:
        (posted,) = conn.execute("SELECT COUNT(*) FROM sales WHERE state = 'POSTED'").fetchone()
        (movements,) = conn.execute(
            "SELECT COUNT(*) FROM cash_movements WHERE kind <> 'DIFFERENCE'"
        ).fetchone()
        (unsigned,) = conn.execute(
            "SELECT COUNT(*) FROM cash_movements WHERE tse_state <> 'SIGNED'"
        ).fetchone()
        assert posted > 0 and movements > 0 and unsigned == 0
        # the TSE finished nothing that no record holds
        assert after - before == recorded_tse_transactions(conn)
        # the difference booked is the one of the cash as the close saw it
        (diff,) = conn.execute(
            "SELECT amount FROM cash_movements WHERE kind = 'DIFFERENCE'"
        ).fetchall()
    assert closed[0].balances[0].difference.amount_minor == diff[0]
    assert pos.verify_journal().ok


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def test_a_tse_failure_while_signing_a_movement_records_it_in_the_outage(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """The TSE fails inside the recording transaction: that attempt rolls back, the
    outage opens, and the movement (and a close's difference) is recorded once, marked
    with the outage; after recovery the TSE signs again."""
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client(open_shift=False) as pos:
            pos.open_shift(PosdClient.cash_counts(total=10000))
            fake.fail_all(status=503)
            m = pos.add_cash_movement(K.CASH_MOVEMENT_KIND_DEPOSIT, 500, "Wechselgeld")
            assert (m.tse.state, m.tse.outage_number) == ("OUTAGE", 1)
            closed = pos.close_shift(PosdClient.cash_counts(total=10000))
            assert closed.balances[0].difference.amount_minor == -500
            fake.clear_faults()
            assert pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest()).recovered
            pos.open_shift(PosdClient.cash_counts(total=10000))
            signed = pos.add_cash_movement(K.CASH_MOVEMENT_KIND_DEPOSIT, 700, "Wechselgeld")
            assert signed.tse.state == "SIGNED" and signed.tse.transaction_number > 0
            fake.wait_idle()
            with sqlite3.connect(running.config.database_path) as conn:
                rows = conn.execute(
                    "SELECT kind, amount, tse_state, outage_number FROM cash_movements"
                    " ORDER BY movement_id"
                ).fetchall()
                assert rows == [
                    ("DEPOSIT", 500, "OUTAGE", 1),
                    ("DIFFERENCE", -500, "OUTAGE", 1),
                    ("DEPOSIT", 700, "SIGNED", None),
                ]
                # the TSE finished nothing that no record holds
                finished = {t.number for t in fake.transactions.values() if t.state == "FINISHED"}
                assert finished == {signed.tse.transaction_number}
                assert len(fake.transactions) == recorded_tse_transactions(conn)
            assert pos.verify_journal().ok
    finally:
        running.stop()
