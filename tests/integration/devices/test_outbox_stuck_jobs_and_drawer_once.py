"""The outbox under a job that can never print, a long backlog, and restarts around a
drawer kick.

The real daemon in-process with the embedded default's simulated printer (its paper is
``printer.txt``) and the drawer on the printer's kick connector, driven through
posd-client, on its real SQLite file. What a SIGKILL leaves behind at a given instant
is written into that file between two runs (the daemon stopped), as in
``test_outbox_faults``.

The choices these tests pin down:

* a print is at-least-once: printed again after a crash, then as a copy;
* a drawer kick is at-most-once: one that may have been sent before a crash is not
  repeated after the restart (recorded on the job), one that certainly was not sent is
  kicked.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posd.client import PosdClient

from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.outbox_worker import DRAWER_KICK_MAX_AGE_S
from posd_daemon.store import outbox
from posd_daemon.store.database import open_database
from tests.conftest import start_in_thread
from tests.integration.api.test_full_sale_api import seed
from tests.integration.devices.test_outbox_faults import documents, sell, wait_for
from tests.unit.test_outbox_drawer_expiry import NOW, Drawer, kick_queued, run_worker


def _drawer_openings(pos: PosdClient) -> int:
    return int(pos.get_device("drawer").statistics.drawer_openings)


def test_a_job_that_can_never_print_does_not_hold_up_the_receipts_behind_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            seed(pos)
            wait_for(lambda: pos.status().pending_jobs == 0)
    finally:
        db_path = r.config.database_path
        r.stop()
    # a job no renderer of this daemon can print (e.g. queued by a newer version before
    # a downgrade): it fails the same way on every attempt
    with sqlite3.connect(db_path) as conn:
        stuck = outbox.enqueue(
            conn,
            kind="print",
            ref="gift-1",
            receipt_number=None,
            payload={"document": "gift_voucher"},
            when=datetime.now(UTC),
        )
        # and one the renderer fails on with an error of its own (a payload it cannot
        # read: a renderer bug), not a device's
        broken = outbox.enqueue(
            conn,
            kind="print",
            ref="z",
            receipt_number=None,
            payload={"document": "z_report"},
            when=datetime.now(UTC),
        )
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            first, second = sell(pos), sell(pos)
            # the receipts behind it print, in order
            wait_for(lambda: documents(state, first) and documents(state, second))
            text = (state / "printer.txt").read_text("utf-8")
            assert text.index(f"Beleg-Nr. {first}") < text.index(f"Beleg-Nr. {second}")
            # it is not dropped: still pending, visible with its error
            wait_for(lambda: pos.status().pending_jobs == 2)
            jobs = pos.print_jobs()
            assert [j.job_id for j in jobs] == [stuck, broken]
            assert all(j.attempts >= 1 for j in jobs)
            assert "NO_DOCUMENT" in jobs[0].last_error
            assert "KeyError" in jobs[1].last_error
            assert "KOPIE" not in documents(state, first)[0]
    finally:
        r.stop()


def test_a_backlog_longer_than_one_batch_prints_to_the_end_without_a_new_sale(
    tmp_path: Path,
) -> None:
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
    # what a long printer outage leaves queued: more jobs than the worker reads at once
    backlog = 230
    with sqlite3.connect(db_path) as conn:
        (sale_id,) = conn.execute(
            "SELECT ref FROM outbox WHERE kind = 'print' AND receipt_number = ?", (number,)
        ).fetchone()
        for _ in range(backlog):
            outbox.enqueue(
                conn,
                kind="print",
                ref=sale_id,
                receipt_number=number,
                payload={"document": "receipt", "copy": True},
                when=datetime.now(UTC),
            )
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            # no sale comes (the shop is quiet): the backlog still prints to its end
            wait_for(lambda: pos.status().pending_jobs == 0, timeout=90)
            assert len(documents(state, number)) == 1 + backlog
    finally:
        r.stop()


def _drawer_job(db_path: Path) -> tuple[int, dict[str, object]]:
    with sqlite3.connect(db_path) as conn:
        (job_id, payload) = conn.execute(
            "SELECT job_id, payload FROM outbox WHERE kind = 'drawer' ORDER BY job_id DESC"
        ).fetchone()
    return int(job_id), json.loads(payload)


def test_a_drawer_kick_sent_before_a_crash_is_not_repeated_after_the_restart(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            seed(pos)
            sell(pos)
            wait_for(lambda: pos.status().pending_jobs == 0 and _drawer_openings(pos) == 1)
    finally:
        db_path = r.config.database_path
        r.stop()
    job_id, payload = _drawer_job(db_path)
    with sqlite3.connect(db_path) as conn:
        # what a SIGKILL after the kick, before its job was marked done, leaves
        conn.execute(
            "UPDATE outbox SET state = 'PENDING', done_at = NULL WHERE job_id = ?", (job_id,)
        )
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            wait_for(lambda: pos.status().pending_jobs == 0)
            # the drawer does not pop open a second time for the same sale
            assert _drawer_openings(pos) == 0
            (job,) = [j for j in pos.print_jobs(include_done=True) if j.job_id == job_id]
            assert "not repeated" in job.last_error
    finally:
        r.stop()
    # the kick's "sent" mark was on disk before the kick went out
    assert "sent_at" in payload


def test_a_drawer_kick_not_yet_sent_at_a_crash_is_kicked_after_the_restart(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            seed(pos)
            sell(pos)
            wait_for(lambda: pos.status().pending_jobs == 0 and _drawer_openings(pos) == 1)
    finally:
        db_path = r.config.database_path
        r.stop()
    job_id, payload = _drawer_job(db_path)
    payload.pop("sent_at", None)
    with sqlite3.connect(db_path) as conn:
        # what a SIGKILL right after the post's commit leaves: the kick queued, not sent
        conn.execute(
            "UPDATE outbox SET state = 'PENDING', done_at = NULL, payload = ? WHERE job_id = ?",
            (json.dumps(payload), job_id),
        )
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            wait_for(lambda: pos.status().pending_jobs == 0 and _drawer_openings(pos) == 1)
    finally:
        r.stop()


def test_a_drawer_kick_held_by_a_printer_fault_is_kicked_once_the_printer_is_back(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            seed(pos)
            wait_for(lambda: pos.status().pending_jobs == 0)
            fault = state / "printer.txt.fault"
            fault.write_text("cover_open", "utf-8")
            number = sell(pos)
            wait_for(lambda: any(j.kind == "drawer" and j.attempts > 0 for j in pos.print_jobs()))
            assert _drawer_openings(pos) == 0
            fault.unlink()
            # nothing was sent while the printer was not ready: the kick is not lost
            wait_for(lambda: pos.status().pending_jobs == 0 and _drawer_openings(pos) == 1)
            (doc,) = documents(state, number)
            assert "KOPIE" not in doc
    finally:
        r.stop()


def test_a_drawer_kick_dropped_as_too_late_says_so_on_its_job(tmp_path: Path) -> None:
    # a kick that expired (printer offline too long) did not open the drawer: its job
    # must not read like one that did (ListPrintJobs shows DONE with no error otherwise)
    db = DbExecutor(open_database(tmp_path / "db.sqlite3"))
    kick_queued(db, "s1", 1, NOW - timedelta(seconds=DRAWER_KICK_MAX_AGE_S + 60))
    kick_queued(db, "s2", 2, NOW)
    drawer = Drawer()
    run_worker(db, drawer)
    assert drawer.openings == 1
    stale, fresh = db.read_sync(
        lambda c: outbox.list_jobs(c, include_done=True, after_id=0, limit=10)
    )
    assert stale.state == fresh.state == outbox.DONE
    assert "DRAWER_KICK_EXPIRED" in stale.last_error
    assert fresh.last_error == ""
    db.close()
