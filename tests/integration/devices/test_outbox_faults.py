"""The outbox's print loop under faults other than a printer fault, and across restarts.

The real daemon in-process with the embedded default's simulated printer (its paper is
``printer.txt``), driven through posd-client; faults are injected with the project's
own crash points in their "raise and go on" mode (the error a failing disk raises).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2, device_pb2

from posd_daemon.ops import crashpoints
from tests.conftest import Running, start_in_thread
from tests.integration.api.test_full_sale_api import seed

CASH = common_pb2.PAYMENT_METHOD_CASH
SEPARATOR = "======== cut ========"


@pytest.fixture
def armed() -> Iterator[Callable[[str], None]]:
    yield crashpoints.arm_from_env
    crashpoints.arm_from_env("")


def wait_for(cond: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def sell(pos: PosdClient) -> int:
    sale_id = pos.create_sale().sale_id
    total = pos.add_line(sale_id, item_id="COFFEE").sale.total.amount_minor
    pos.add_payment(sale_id, CASH, total)
    return pos.post_sale(sale_id).receipt_number


def documents(state_dir: Path, receipt_number: int) -> list[str]:
    """The printed documents of one receipt, in print order."""
    out = state_dir / "printer.txt"
    text = out.read_text("utf-8") if out.exists() else ""
    mark = re.compile(rf"Beleg-Nr\. {receipt_number}\b")
    return [d for d in text.split(SEPARATOR) if mark.search(d)]


def test_a_failed_done_mark_keeps_the_job_and_the_loop_goes_on(
    running: Running, pos: PosdClient, armed: Callable[[str], None]
) -> None:
    seed(pos)
    # the receipt is printed, then marking its job done fails (disk I/O error)
    armed("print.after_device:1:raise")
    first = sell(pos)
    wait_for(lambda: len(documents(running.config.state_dir, first)) == 1)
    # the error is kept on the job, which stays queued, then printed again as a copy
    # (its bytes reached the printer before the error)
    wait_for(lambda: len(documents(running.config.state_dir, first)) == 2)
    original, again = documents(running.config.state_dir, first)
    assert "KOPIE" not in original
    assert "*** KOPIE ***" in again
    # later receipts print: the loop is alive
    second, third = sell(pos), sell(pos)
    wait_for(lambda: documents(running.config.state_dir, second))
    wait_for(lambda: documents(running.config.state_dir, third))
    wait_for(lambda: pos.status().pending_jobs == 0)
    jobs = {j.receipt_number: j for j in pos.print_jobs(include_done=True)}
    assert jobs[first].attempts == 2
    assert "disk I/O error" in jobs[first].last_error
    assert "KOPIE" not in documents(running.config.state_dir, second)[0]
    # teardown stops the daemon: it must not raise the loop's error (fixture `running`)


def test_a_print_loop_that_dies_is_started_again(
    running: Running, pos: PosdClient, armed: Callable[[str], None]
) -> None:
    seed(pos)
    wait_for(lambda: pos.status().pending_jobs == 0)
    # an error outside any job (reading the queue) ends the loop's task
    armed("outbox.print_queue:1:raise,outbox.drawer_queue:1:raise")
    number = sell(pos)
    wait_for(lambda: documents(running.config.state_dir, number))
    assert not crashpoints.armed()  # both loops did die once
    assert "KOPIE" not in documents(running.config.state_dir, number)[0]
    wait_for(lambda: pos.status().pending_jobs == 0)  # the drawer kick too
    assert pos.get_device("drawer").statistics.drawer_openings == 1


def test_a_receipt_sent_before_a_crash_is_printed_again_as_a_copy(tmp_path: Path) -> None:
    state = tmp_path / "state"
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            seed(pos)
            number = sell(pos)
            wait_for(lambda: pos.status().pending_jobs == 0 and documents(state, number))
    finally:
        db_path = r.config.database_path
        r.stop()
    assert len(documents(state, number)) == 1
    with sqlite3.connect(db_path) as conn:
        (payload,) = conn.execute(
            "SELECT payload FROM outbox WHERE kind = 'print' AND receipt_number = ?", (number,)
        ).fetchone()
        assert '"sent_at"' in payload  # committed before the printer got a byte
        # what a SIGKILL after the printer took the job leaves: the job not marked done
        conn.execute(
            "UPDATE outbox SET state = 'PENDING', done_at = NULL, attempts = 0 WHERE kind = 'print'"
        )
    r = start_in_thread(state)
    try:
        wait_for(lambda: len(documents(state, number)) == 2)
    finally:
        r.stop()
    original, again = documents(state, number)
    assert "KOPIE" not in original
    assert "*** KOPIE ***" in again


def test_a_receipt_held_by_a_printer_fault_prints_as_the_original(
    running: Running, pos: PosdClient
) -> None:
    # nothing was sent while the printer was not ready: no copy mark is earned
    seed(pos)
    wait_for(lambda: pos.status().pending_jobs == 0)
    fault = running.config.state_dir / "printer.txt.fault"
    fault.write_text("cover_open", "utf-8")
    wait_for(lambda: pos.get_device("printer").state == device_pb2.DEVICE_STATE_ERROR)
    number = sell(pos)
    wait_for(lambda: any(j.attempts > 0 for j in pos.print_jobs()))
    assert "COVER_OPEN" in pos.print_jobs()[0].last_error
    fault.unlink()
    wait_for(lambda: documents(running.config.state_dir, number))
    wait_for(lambda: pos.status().pending_jobs == 0)
    (doc,) = documents(running.config.state_dir, number)
    assert "KOPIE" not in doc
