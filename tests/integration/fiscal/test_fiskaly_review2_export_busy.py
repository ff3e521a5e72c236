"""FiskalyTse: an export asked for while fiskaly still works on an earlier one.

fiskaly SIGN DE v2 refuses a new export of a TSS with identical parameters while an
earlier one is PENDING or WORKING: 429 ``E_EXPORT_DUPLICATE_RATE_LIMITED`` (fiskaly Dev
News 27, https://developer.fiskaly.com/blog/dev-news-27). The daemon's full export always
has the same parameters, and an export the caller gave up on (its call cancelled, the
daemon's export timeout, a stop) goes on at fiskaly. The next export must then wait for
that one and deliver a complete TAR, not fail at once with an HTTP 429 the manager can do
nothing about. Over real sockets against the fake fiskaly server.
"""

from __future__ import annotations

import concurrent.futures
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.fiscal.verify_export import verify_export
from posd_daemon.services.tse_port import TseError
from tests.support.fake_fiskaly import FakeFiskaly

CLIENT = "KASSE-01"
KB = "Kassenbeleg-V1"
RECEIPT = b"Beleg^8.99_0.00_0.00_0.00_0.00^8.99:Bar"


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly(export_polls=10**6, reject_duplicate_exports=True) as server:
        try:
            yield server
        finally:
            with server._lock:  # nothing left polling when the server stops
                for export in server.exports.values():
                    export["polls"] = 0
    assert server.errors == []


def _make(fake: FakeFiskaly, tmp_path: Path, **kwargs: float) -> FiskalyTse:
    tse = FiskalyTse(
        fake.base_url,
        fake.api_key,
        fake.api_secret,
        fake.tss_id,
        timeout_s=2.0,
        clock=fake.now,
        state_dir=tmp_path / "state",
        export_poll_s=0.01,
        **kwargs,
    )
    tse.register_client(CLIENT)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    return tse


def _abandon_an_export(fake: FakeFiskaly, tse: FiskalyTse) -> str:
    """Starts an export and aborts it on our side; fiskaly goes on WORKING on it."""
    abort = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        job = pool.submit(tse.export, io.BytesIO(), abort)
        _wait_for(lambda: bool(fake.exports))
        abort.set()
        with pytest.raises(TseError) as aborted:
            job.result(10)
    assert aborted.value.code == "EXPORT_ABORTED"
    (first,) = fake.exports
    return first


def _refused_triggers(fake: FakeFiskaly) -> int:
    return sum(
        1 for r in fake.requests if r.method == "PUT" and "/export/" in r.path and r.status == 429
    )


def test_an_export_behind_an_unfinished_one_waits_for_it(fake: FakeFiskaly, tmp_path: Path) -> None:
    tse = _make(fake, tmp_path)
    try:
        first = _abandon_an_export(fake, tse)
        out = io.BytesIO()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            job = pool.submit(tse.export, out)
            _wait_for(lambda: _refused_triggers(fake) >= 1 or job.done())
            assert not job.done(), f"export ended at fiskaly's 429: {job.exception()!r}"
            # fiskaly finishes the earlier export; the new one may then start
            with fake._lock:
                fake.export_polls = 1
                fake.exports[first]["polls"] = 0
            job.result(10)
    finally:
        tse.close()
    assert out.getvalue() == fake.export_tar()
    assert verify_export(io.BytesIO(out.getvalue())).ok
    assert len(fake.exports) == 2  # a new export, covering everything signed until now


def test_a_busy_fiskaly_still_ends_the_export_at_its_timeout(
    fake: FakeFiskaly, tmp_path: Path
) -> None:
    tse = _make(fake, tmp_path, export_timeout_s=0.5)
    try:
        _abandon_an_export(fake, tse)
        begin = time.monotonic()
        with pytest.raises(TseError) as err:
            tse.export(io.BytesIO())
        took = time.monotonic() - begin
    finally:
        tse.close()
    assert err.value.code == "HTTP_429"
    assert err.value.transient
    assert 0.4 < took < 0.5 + 1.0
    assert _refused_triggers(fake) > 1  # asked again while it waited


def test_a_busy_fiskaly_does_not_hold_an_aborted_export(fake: FakeFiskaly, tmp_path: Path) -> None:
    tse = _make(fake, tmp_path)
    try:
        _abandon_an_export(fake, tse)
        abort = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            job = pool.submit(tse.export, io.BytesIO(), abort)
            _wait_for(lambda: _refused_triggers(fake) >= 1 or job.done())
            abort.set()
            with pytest.raises(TseError) as err:
                job.result(5)
    finally:
        tse.close()
    assert err.value.code == "EXPORT_ABORTED"
