"""A job that can never print stays queued with its error (it holds up nothing); a
technician or manager removes it with DiscardPrintJob (`posctl print discard JOB
--reason TEXT`): journaled with who, why and what the job was, gone from the pending
count, shown as discarded with the reason. A cashier cannot; a job already printed, or
already discarded, is not "discarded" afterwards; a repeat of the request gets its first
answer. A receipt's print job may go this way too: the receipt stays in the archive and
can be reprinted as a copy."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from posd.client import PosdError
from posd.v1 import device_pb2, system_pb2

from posd_daemon.store import outbox
from tests.conftest import start_in_thread
from tests.integration.api.test_full_sale_api import seed
from tests.integration.devices.test_outbox_faults import sell, wait_for
from tests.integration.fiscal.test_posctl_fiscal import posctl


def _stuck_job(db_path: Path) -> int:
    # a job no renderer of this daemon can print (e.g. queued by a newer version before a
    # downgrade): it fails the same way on every attempt
    with sqlite3.connect(db_path) as conn:
        return outbox.enqueue(
            conn,
            kind="print",
            ref="gift-1",
            receipt_number=None,
            payload={"document": "gift_voucher"},
            when=datetime.now(UTC),
        )


def _register_with_a_stuck_job(tmp_path: Path) -> tuple[Path, Path, int, int]:
    """(state dir, database, the stuck job, a receipt printed before it) of a stopped
    register: one sale printed, then a job queued that no renderer can print."""
    state = tmp_path / "state"
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            seed(pos)
            number = sell(pos)
            wait_for(lambda: pos.status().pending_jobs == 0)
    finally:
        db_path = r.config.database_path
        r.stop()
    return state, db_path, _stuck_job(db_path), number


def _journal(db_path: Path, kind: str) -> list[dict[str, object]]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT payload FROM journal WHERE kind = ?", (kind,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_a_job_that_can_never_print_is_discarded_journaled_and_counted_no_more(
    tmp_path: Path,
) -> None:
    state, db_path, stuck, number = _register_with_a_stuck_job(tmp_path)
    r = start_in_thread(state)
    try:
        with r.client() as pos, r.client("2", "0000", open_shift=False) as cashier:
            wait_for(lambda: pos.status().pending_jobs == 1 and pos.print_jobs()[0].attempts)
            with pytest.raises(PosdError) as err:
                cashier.discard_print_job(stuck, "paper jam")
            assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(PosdError) as err:
                pos.discard_print_job(stuck, "  ")
            assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
            assert [f for f, _ in err.value.field_violations] == ["reason"]
            assert pos.status().pending_jobs == 1  # nothing changed

            answer = pos.discard_print_job(stuck, "gift voucher layout unknown", request_id="d-1")
            assert (answer.job_id, answer.kind) == (stuck, "print")
            assert pos.status().pending_jobs == 0
            assert pos.print_jobs() == []
            (job,) = [j for j in pos.print_jobs(include_done=True) if j.job_id == stuck]
            assert job.state == system_pb2.PRINT_JOB_STATE_DISCARDED
            assert "gift voucher layout unknown" in job.last_error
            (record,) = _journal(db_path, "PRINT_JOB_DISCARDED")
            assert record["job_id"] == stuck and record["operator_id"] == "1"
            assert record["reason"] == "gift voucher layout unknown"
            assert "NO_DOCUMENT" in str(record["last_error"])
            assert answer.journal_sequence > 0

            # the same request again: its first answer, nothing journaled twice
            again = pos.discard_print_job(stuck, "gift voucher layout unknown", request_id="d-1")
            assert again == answer
            assert len(_journal(db_path, "PRINT_JOB_DISCARDED")) == 1
            # another request for it: it is no longer pending
            with pytest.raises(PosdError) as err:
                pos.discard_print_job(stuck, "again")
            assert (err.value.code, err.value.reason) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "JOB_NOT_PENDING",
            )
            # a job that printed cannot be discarded afterwards
            (printed,) = [
                j
                for j in pos.print_jobs(include_done=True)
                if j.receipt_number == number and j.kind == "print"
            ]
            with pytest.raises(PosdError) as err:
                pos.discard_print_job(printed.job_id, "too late")
            assert err.value.reason == "JOB_NOT_PENDING"
            with pytest.raises(PosdError) as err:
                pos.discard_print_job(10**9, "no such job")
            assert (err.value.code, err.value.reason) == (
                grpc.StatusCode.NOT_FOUND,
                "JOB_NOT_FOUND",
            )
            # the worker never prints (nor marks done) a discarded job
            sell(pos)
            wait_for(lambda: pos.status().pending_jobs == 0)
            (job,) = [j for j in pos.print_jobs(include_done=True) if j.job_id == stuck]
            assert job.state == system_pb2.PRINT_JOB_STATE_DISCARDED
    finally:
        r.stop()


def test_posctl_discards_a_job_and_shows_it_as_discarded(tmp_path: Path) -> None:
    state, _, stuck, _ = _register_with_a_stuck_job(tmp_path)
    r = start_in_thread(state)
    try:
        with r.client() as pos:
            wait_for(lambda: pos.print_jobs() and pos.print_jobs()[0].attempts > 0)
        out = posctl(r, "print", "discard", str(stuck), "--reason", "layout unknown")
        assert out.returncode == 0, out.stderr
        assert f"job {stuck} discarded" in out.stdout
        out = posctl(r, "print", "queue", "--all")
        assert out.returncode == 0, out.stderr
        (line,) = [ln for ln in out.stdout.splitlines() if ln.split()[0] == str(stuck)]
        assert "discarded" in line and "layout unknown" in line
    finally:
        r.stop()


def test_the_device_service_names_the_rpc() -> None:
    assert (
        "DiscardPrintJob" in device_pb2.DESCRIPTOR.services_by_name["DeviceService"].methods_by_name
    )
