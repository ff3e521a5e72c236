"""A TSE export runs beside selling (review finding): an export (minutes, for the tax
office, during business hours) used to occupy the daemon's one TSE thread and, with the
fiskaly backend, the backend's lock for its whole run, so every start and finish of a
sale queued behind it, timed out and opened a TSE outage.

Now an export runs on its own thread (the software TSE reads a snapshot on its own
SQLite connection, fiskaly triggers and polls on its own HTTP connection without the
signing lock): posts during an export are signed normally and in their usual time, the
export still verifies, only one export runs at a time (FAILED_PRECONDITION
``EXPORT_RUNNING``), and stopping the daemon aborts a running export instead of waiting
for it.

The slow exports are real: the software TSE's export writes into a sink of the test that
is slow (or held until the test lets it go), the fiskaly contract server keeps its
export WORKING until the test completes it. Nothing of the project is replaced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, error_from_rpc
from posd.v1 import common_pb2, fiscal_pb2, sale_pb2

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.fiscal.verify_export import verify_export
from posd_daemon.services.fiscal import TseUnavailable
from tests.conftest import Running, running_daemon, start_in_thread
from tests.integration.fiscal.test_fiscal_api import wait_for
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly

CASH = common_pb2.PAYMENT_METHOD_CASH
CLIENT = "REG-1"

#: a post's TSE calls may take this long before the post becomes an outage receipt; the
#: usual TSE time (software TSE, local fake) is a few milliseconds
TSE_TIMEOUT_MS = 600
#: what a post may take during an export: its usual time with room for a slow machine,
#: below what a post that waited for the TSE timeout and then posted again would need
POST_LIMIT_S = 2.0


class HeldSink(io.RawIOBase):
    """The export's output: the first write waits until the test releases it (at most
    ``hold_s``), later writes take ``per_write_s`` each. Every byte is kept."""

    def __init__(self, *, hold_s: float = 0.0, per_write_s: float = 0.0) -> None:
        super().__init__()
        self.data = bytearray()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.writes = 0
        self._hold_s = hold_s
        self._per_write_s = per_write_s

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.writes += 1
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(self._hold_s)
        elif self._per_write_s:
            self.release.wait(self._per_write_s)
        self.data += bytes(b)
        return len(b)


def seed(pos: PosdClient) -> None:
    pos.upsert_item("1001", "Brot", 349, vat_category=2)
    pos.upsert_item("1002", "Kaffee", 899)


def sale_with_line(pos: PosdClient) -> str:
    s = pos.create_sale()
    pos.add_line(s.sale_id, item_id="1002")
    return s.sale_id


def pay_and_post(pos: PosdClient, sale_id: str) -> tuple[sale_pb2.Sale, float]:
    pos.add_line(sale_id, item_id="1001")
    total = pos.get_sale(sale_id).total.amount_minor
    pos.add_payment(sale_id, CASH, total)
    t0 = time.perf_counter()
    posted = pos.post_sale(sale_id)
    return posted, time.perf_counter() - t0


def stop_aborts_export(running: Running, job: concurrent.futures.Future[None]) -> None:
    """The daemon's stop ends the running export at once (EXPORT_ABORTED), not after it."""
    t0 = time.perf_counter()
    running.stop()
    took = time.perf_counter() - t0
    assert took < 5.0, f"the stop waited {took:.1f} s for the export"
    with pytest.raises(TseUnavailable) as aborted:
        job.result(5)
    assert aborted.value.code == "EXPORT_ABORTED"


def assert_signed_in_time(posted: sale_pb2.Sale, took: float) -> None:
    assert posted.tse.state == "SIGNED", (posted.tse.state, posted.tse.outage_number)
    assert posted.tse.outage_number == 0
    assert took < POST_LIMIT_S, f"the post took {took:.2f} s during the export"


def assert_no_outage(running: Running, pos: PosdClient) -> None:
    assert running.daemon.gateway.outage is None
    assert pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages == []


def export_rpc(pos: PosdClient, timeout: float = 60.0) -> bytes:
    chunks = pos.fiscal.ExportTse(
        fiscal_pb2.ExportTseRequest(), timeout=timeout, metadata=tuple(pos._metadata())
    )
    return b"".join(c.chunk for c in chunks)


def finish_names(tar: bytes) -> set[int]:
    """Transaction numbers with a FinishTransaction log message in the export."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        names = archive.getnames()
    return {int(n.split("_No-")[1].split("_")[0]) for n in names if "_Finish_Client-" in n}


def start_export(running: Running, sink: HeldSink) -> concurrent.futures.Future[None]:
    """The export as ExportTse runs it (the gateway's export), into the test's sink."""
    return asyncio.run_coroutine_threadsafe(
        running.daemon.gateway.export(sink),  # type: ignore[arg-type]
        running.loop,
    )


# -- software TSE --------------------------------------------------------------------------


@pytest.fixture
def register(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"tse": {"timeout_ms": TSE_TIMEOUT_MS}}) as r:
        yield r


def test_software_tse_posts_are_signed_while_an_export_runs(register: Running) -> None:
    running = register
    with running.client() as pos:
        seed(pos)
        # a transaction open when the export starts: the export shows its start only
        # (as before: an open transaction is exported as far as it is signed)
        open_sale = sale_with_line(pos)
        tse = running.daemon.gateway.tse
        assert tse is not None
        wait_for(lambda: bool(tse.open_transactions(CLIENT)))
        (open_number,) = tse.open_transactions(CLIENT)

        sink = HeldSink(hold_s=30.0)
        job = start_export(running, sink)
        try:
            assert sink.entered.wait(10), "the export did not start writing"
            posted = []
            first, took = pay_and_post(pos, open_sale)
            assert_signed_in_time(first, took)
            posted.append(first)
            for _ in range(3):
                sale, took = pay_and_post(pos, sale_with_line(pos))
                assert_signed_in_time(sale, took)
                posted.append(sale)
            assert_no_outage(running, pos)
            assert not job.done(), "the export should still be held by the test"
        finally:
            sink.release.set()
        job.result(30)

        # the export is the snapshot at its start: every counter up to it, the open
        # transaction's start but none of the posts made meanwhile
        report = verify_export(io.BytesIO(bytes(sink.data)), allow_open_transactions=True)
        assert report.ok, report.summary()
        assert report.open_transactions == (open_number,)
        assert report.first_signature_counter == 1
        assert report.last_signature_counter is not None
        assert report.last_signature_counter < min(p.tse.signature_counter for p in posted)
        assert first.tse.transaction_number == open_number

        # an export after them has them all, complete
        tar = export_rpc(pos)
        full = verify_export(io.BytesIO(tar))
        assert full.ok, full.summary()
        assert {p.tse.transaction_number for p in posted} <= finish_names(tar)


def test_a_second_export_is_refused_while_one_runs(register: Running) -> None:
    running = register
    with running.client() as pos:
        seed(pos)
        sink = HeldSink(hold_s=30.0)
        job = start_export(running, sink)
        try:
            assert sink.entered.wait(10)
            with pytest.raises(grpc.RpcError) as refused:
                export_rpc(pos, timeout=5.0)
            error = error_from_rpc(refused.value)
            assert (error.code, error.reason) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "EXPORT_RUNNING",
            )
        finally:
            sink.release.set()
        job.result(30)
        assert verify_export(io.BytesIO(bytes(sink.data))).ok
        # once it ended, the next export runs
        assert verify_export(io.BytesIO(export_rpc(pos))).ok


def test_stopping_the_daemon_aborts_a_running_export(tmp_path: Path) -> None:
    running = start_in_thread(tmp_path / "state", {"tse": {"timeout_ms": TSE_TIMEOUT_MS}})
    stopped = False
    try:
        tse = running.daemon.gateway.tse
        assert tse is not None
        for _ in range(60):  # enough log messages for an export of many writes
            started = tse.start_transaction(CLIENT, "Kassenbeleg-V1", b"")
            tse.cancel_transaction(CLIENT, started.transaction_number)
        sink = HeldSink(hold_s=0.5, per_write_s=0.5)  # >= 10 s for the whole export
        job = start_export(running, sink)
        assert sink.entered.wait(10)
        stopped = True
        stop_aborts_export(running, job)
    finally:
        if not stopped:
            running.stop()


# -- fiskaly ---------------------------------------------------------------------------------


def complete_exports(fake: FakeFiskaly) -> None:
    with fake._lock:
        for export in fake.exports.values():
            export["polls"] = 0


@pytest.fixture
def fiskaly_register(tmp_path: Path) -> Iterator[tuple[Running, FakeFiskaly]]:
    with FakeFiskaly(export_polls=10**6) as fake:
        r = start_in_thread(
            tmp_path / "state",
            fiskaly_config(fake, timeout_ms=TSE_TIMEOUT_MS),
        )
        try:
            yield r, fake
        finally:
            complete_exports(fake)  # an export still polling must not hold the stop
            r.stop()
        assert fake.errors == []


def test_fiskaly_posts_are_signed_while_an_export_runs(
    fiskaly_register: tuple[Running, FakeFiskaly],
) -> None:
    running, fake = fiskaly_register
    with running.client() as pos, running.client(open_shift=False) as manager:
        seed(pos)
        exporting = concurrent.futures.ThreadPoolExecutor(1)
        try:
            job = exporting.submit(export_rpc, manager)
            wait_for(lambda: bool(fake.exports))  # triggered; fiskaly says WORKING
            posted = []
            for _ in range(3):
                sale, took = pay_and_post(pos, sale_with_line(pos))
                assert_signed_in_time(sale, took)
                posted.append(sale)
            assert_no_outage(running, pos)
            with pytest.raises(grpc.RpcError) as refused:
                export_rpc(pos, timeout=5.0)
            assert error_from_rpc(refused.value).reason == "EXPORT_RUNNING"
            assert not job.done()
            complete_exports(fake)
            tar = job.result(30)
        finally:
            complete_exports(fake)
            exporting.shutdown(wait=True)
        report = verify_export(io.BytesIO(tar))
        assert report.ok, report.summary()
        assert {p.tse.transaction_number for p in posted} <= finish_names(tar)
        assert len(fake.exports) == 1  # the refused second export never reached fiskaly


def test_fiskaly_signing_and_export_share_one_token_refresh(tmp_path: Path) -> None:
    """Two threads (an export polling, a sale signing) that find the access token expired
    at the same moment renew it once: the refresh token is single use, and a second
    refresh with it would be refused (and cost a full login)."""
    with FakeFiskaly(export_polls=10**6) as fake:
        tse = FiskalyTse(
            fake.base_url,
            fake.api_key,
            fake.api_secret,
            fake.tss_id,
            timeout_s=2.0,
            clock=fake.now,
            state_dir=tmp_path / "state",
            export_poll_s=0.01,
        )
        exporting = concurrent.futures.ThreadPoolExecutor(1)
        signing = concurrent.futures.ThreadPoolExecutor(1)
        try:
            tse.register_client(CLIENT)
            out = io.BytesIO()
            job = exporting.submit(tse.export, out)
            wait_for(lambda: bool(fake.exports))
            assert (fake.logins, fake.refreshes) == (1, 0)
            fake.delay_next(1, seconds=0.5, match="/auth")  # the refresh answers late
            fake.advance(fake.access_ttl_s + 1)  # both threads need a new token now

            def sell() -> None:
                started = tse.start_transaction(CLIENT, "Kassenbeleg-V1", b"")
                tse.finish_transaction(
                    CLIENT,
                    started.transaction_number,
                    "Kassenbeleg-V1",
                    b"Beleg^8.99_0.00_0.00_0.00_0.00^8.99:Bar",
                )

            # its own thread, so that a sale stuck behind the export fails the test
            # instead of hanging it
            t0 = time.perf_counter()
            signing.submit(sell).result(timeout=3.0)
            assert time.perf_counter() - t0 < 1.5
            assert not job.done()
            complete_exports(fake)
            job.result(10)
        finally:
            complete_exports(fake)
            exporting.shutdown(wait=True)
            signing.shutdown(wait=True)
            tse.close()
        assert (fake.logins, fake.refreshes) == (1, 1)
        assert verify_export(io.BytesIO(out.getvalue())).ok
        assert fake.errors == []


def test_stopping_the_daemon_aborts_a_polling_fiskaly_export(tmp_path: Path) -> None:
    with FakeFiskaly(export_polls=10**6) as fake:
        running = start_in_thread(
            tmp_path / "state",
            fiskaly_config(fake, timeout_ms=TSE_TIMEOUT_MS),
        )
        stopped = False
        try:
            job = start_export(running, HeldSink())
            wait_for(lambda: bool(fake.exports))  # triggered; fiskaly keeps it WORKING
            stopped = True
            stop_aborts_export(running, job)
        finally:
            complete_exports(fake)
            if not stopped:
                running.stop()
        assert fake.errors == []
