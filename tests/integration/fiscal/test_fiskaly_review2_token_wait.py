"""FiskalyTse: a sale's TSE call waiting for a token renewal of the running export.

The signing calls and an export share the access token, renewed under one lock so that
the single-use refresh token is spent once. An export renews on its own budget (each of
its requests has the full TSE timeout, a refused refresh then a login two of them), so
a sale's call that waits behind it must still give up at its own deadline: the sale code
waits exactly the configured TSE timeout and then opens an outage (AEAO zu §146a Nr. 7),
and a call still running after it holds the single TSE worker. Over real sockets against
the fake fiskaly server.
"""

from __future__ import annotations

import concurrent.futures
import io
import time
from pathlib import Path

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.services.tse_port import TseError
from tests.support.fake_fiskaly import FakeFiskaly

CLIENT = "KASSE-01"
KB = "Kassenbeleg-V1"
TIMEOUT_S = 1.0


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def _auth_requests(fake: FakeFiskaly) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path == "/auth")


def test_a_sale_behind_the_exports_slow_token_renewal_keeps_its_timeout(
    tmp_path: Path,
) -> None:
    with FakeFiskaly(export_polls=10**6) as fake:
        tse = FiskalyTse(
            fake.base_url,
            fake.api_key,
            fake.api_secret,
            fake.tss_id,
            timeout_s=TIMEOUT_S,
            clock=fake.now,
            state_dir=tmp_path / "state",
            export_poll_s=0.01,
        )
        exporting = concurrent.futures.ThreadPoolExecutor(1)
        signing = concurrent.futures.ThreadPoolExecutor(1)
        try:
            tse.register_client(CLIENT)
            job = exporting.submit(tse.export, io.BytesIO())
            _wait_for(lambda: bool(fake.exports))
            logins = _auth_requests(fake)
            # Both tokens become invalid: the export's next poll gets 401, its refresh
            # is refused (late) and its login answers later still.
            fake.delay_next(1, seconds=0.45, match="/auth")
            fake.delay_next(2, seconds=5.0, match="/auth")
            fake.revoke_all_tokens()
            _wait_for(lambda: _auth_requests(fake) > logins)  # the export renews now
            time.sleep(0.05)

            def sell() -> float:
                begin = time.monotonic()
                with pytest.raises(TseError) as err:
                    tse.start_transaction(CLIENT, KB, b"")
                assert err.value.code == "TIMEOUT"
                assert err.value.transient
                return time.monotonic() - begin

            took = signing.submit(sell).result(timeout=10)
            assert took < TIMEOUT_S + 0.25, f"the sale's TSE call took {took:.2f}s"
            assert not job.done()
        finally:
            with fake._lock:
                for export in fake.exports.values():
                    export["polls"] = 0
            fake.clear_faults()
            exporting.shutdown(wait=True)
            signing.shutdown(wait=True)
            tse.close()
        assert fake.errors == []
