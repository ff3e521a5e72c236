"""FiskalyTse against answers it must not trust, and its total time per call.

Over real sockets against the fake fiskaly server: an answer that does not describe the
revision just sent (other state, other transaction number, other revision), or carries
unusable values (no signature, a counter below 1, a time out of range, nesting too deep
for the JSON parser), is a clear ``BAD_RESPONSE`` TSE error (the outage path), never a
traceback or a receipt with wrong fiscal data; and the revision stays pending, so the
next call gets the real signature back without a second one.

One port call, retries and token renewal included, never takes longer than the
configured TSE timeout: the sale code gives up then and opens an outage, and a backend
still working on its single worker thread would hold up the next call (and could sign
after the sale was already recorded as unsigned).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.services.tse_port import TseError, TseOperation
from tests.support.fake_fiskaly import FakeFiskaly

CLIENT = "KASSE-01"
KB = "Kassenbeleg-V1"
RECEIPT = b"Beleg^75.33_7.99_0.00_0.00_0.00^10.00:Bar_5.00:Bar:CHF_64.30:Unbar"

MakeTse = Callable[..., FiskalyTse]


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def make_tse(fake: FakeFiskaly, tmp_path: Path) -> Iterator[MakeTse]:
    created: list[FiskalyTse] = []

    def make(**kwargs: Any) -> FiskalyTse:
        kwargs.setdefault("state_dir", tmp_path / "state")
        kwargs.setdefault("timeout_s", 2.0)
        kwargs.setdefault("clock", fake.now)
        tse = FiskalyTse(fake.base_url, fake.api_key, fake.api_secret, fake.tss_id, **kwargs)
        tse.register_client(CLIENT)
        created.append(tse)
        return tse

    yield make
    for tse in created:
        tse.close()


@pytest.fixture
def tse(make_tse: MakeTse) -> FiskalyTse:
    return make_tse()


# --------------------------------------------------------------------------- answers


def _set(path: str, value: Any) -> Callable[[Any], Any]:
    """A mangler setting one (dotted) field of the answer."""

    def mangle(data: Any) -> Any:
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[key]
        target[last] = value
        return data

    return mangle


def _bump_number(data: Any) -> Any:
    data["number"] += 1
    return data


BAD_FINISH_ANSWERS: dict[str, Callable[[Any], Any]] = {
    "state ACTIVE for a finish": _set("state", "ACTIVE"),
    "another transaction number": _bump_number,
    "another revision": _set("revision", 7),
    "another transaction id": _set("_id", "00000000-0000-4000-8000-000000000000"),
    "empty signature": _set("signature.value", ""),
    "signature counter 0": _set("signature.counter", 0),
    "negative signature counter": _set("signature.counter", -5),
    "negative transaction number": _set("number", -1),
    "log time out of range": _set("log.timestamp", 10**20),
    "start time out of range": _set("time_start", -(10**18)),
    "log time as a float": _set("log.timestamp", 1.7e9),
    "JSON nested too deep": lambda _data: b"[" * 200_000 + b"]" * 200_000,
    "HTML instead of JSON": lambda _data: b"<html>502 Bad Gateway</html>",
}


@pytest.mark.parametrize("mangle", BAD_FINISH_ANSWERS.values(), ids=BAD_FINISH_ANSWERS.keys())
def test_a_finish_answer_that_does_not_fit_is_a_tse_error_and_the_retry_reuses_it(
    fake: FakeFiskaly, tse: FiskalyTse, mangle: Callable[[Any], Any]
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.mangle_next(mangle, match="tx_revision=2")
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert err.value.code == "BAD_RESPONSE"
    tx = fake.transaction_by_number(number)
    assert (len(tx.revisions), tx.state) == (2, "FINISHED")  # fiskaly did sign it
    # The sale code tries the finish again: the one signature fiskaly made, not a second.
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert len(tx.revisions) == 2
    signed = tx.revisions[1][1]
    assert result.operation is TseOperation.FINISH
    assert result.transaction_number == number
    assert result.signature_counter == signed["signature"]["counter"]
    assert int(result.log_time.timestamp()) == signed["log"]["timestamp"]
    assert result.process_data == RECEIPT
    assert tse.open_transactions(CLIENT) == []


@pytest.mark.parametrize(
    "mangle",
    [_set("state", "FINISHED"), _set("signature.counter", "x"), _set("number", None)],
    ids=["state FINISHED for a start", "counter not a number", "no number"],
)
def test_a_start_answer_that_does_not_fit_is_a_tse_error(
    fake: FakeFiskaly, tse: FiskalyTse, mangle: Callable[[Any], Any]
) -> None:
    fake.mangle_next(mangle, match="tx_revision=1")
    with pytest.raises(TseError) as err:
        tse.start_transaction(CLIENT, KB, b"")
    assert err.value.code == "BAD_RESPONSE"
    # Reconciliation still finds the transaction fiskaly did start, to cancel it.
    (number,) = tse.open_transactions(CLIENT)
    assert tse.cancel_transaction(CLIENT, number).operation is TseOperation.FINISH


def test_a_null_client_list_in_the_tss_info_is_a_tse_error(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    fake.mangle_next(_set("data", None), match="/client")
    with pytest.raises(TseError) as err:
        tse.info()
    assert err.value.code == "BAD_RESPONSE"


# --------------------------------------------------------------------------- time budget


def _timed(call: Callable[[], object]) -> tuple[float, BaseException | None]:
    begin = time.monotonic()
    try:
        call()
    except TseError as exc:
        return time.monotonic() - begin, exc
    return time.monotonic() - begin, None


def test_a_slow_finish_gives_up_within_the_configured_timeout(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    tse = make_tse(timeout_s=1.0)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.delay_next(5, seconds=3.0, match="/tx/")  # signs, answers far too late
    elapsed, error = _timed(lambda: tse.finish_transaction(CLIENT, number, KB, RECEIPT))
    assert isinstance(error, TseError) and (error.code, error.transient) == ("TIMEOUT", True)
    # before: 2.0 s (two full timeouts); the margin is for a loaded machine
    assert elapsed < 1.0 + 0.6
    fake.clear_faults()
    fake.wait_idle()
    # Recovery: the finish fiskaly did sign is returned, nothing is signed twice.
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    tx = fake.transaction_by_number(number)
    assert len(tx.revisions) == 2
    assert result.signature_counter == tx.revisions[1][1]["signature"]["counter"]


def test_token_renewal_counts_against_the_same_timeout(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    tse = make_tse(timeout_s=1.0)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.advance(fake.refresh_ttl_s + 1)  # both tokens expired: a renewal comes first
    fake.delay_next(5, seconds=0.7, match="/auth")
    fake.delay_next(5, seconds=0.7, match="/tx/")
    elapsed, error = _timed(lambda: tse.finish_transaction(CLIENT, number, KB, RECEIPT))
    assert isinstance(error, TseError) and error.code == "TIMEOUT"
    assert elapsed < 1.0 + 0.35  # before: signed after 1.4 s


def test_connection_loss_is_still_retried_within_the_timeout(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    tse = make_tse(timeout_s=0.6)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.drop_next(1, match="/tx/", after=True)  # signed, the answer lost
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert len(fake.transaction_by_number(number).revisions) == 2
    assert result.operation is TseOperation.FINISH


def test_a_slow_but_timely_answer_is_not_cut_short(fake: FakeFiskaly, make_tse: MakeTse) -> None:
    # the first attempt may use half the time left (a retry must still fit): 1.5 s here,
    # far beyond the answer's 0.35 s even on a loaded machine
    tse = make_tse(timeout_s=3.0)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.delay_next(1, seconds=0.35, match="/tx/")
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    assert [r.query["tx_revision"] for r in fake.tx_requests()] == [["1"], ["2"]]


def test_a_tss_serial_that_is_no_sha256_is_a_tse_error(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    # TR-03151: the serial is the SHA-256 of the public key, 32 bytes (fiscal-de.md); a
    # shorter one would be printed on every receipt.
    fake.mangle_next(_set("serial_number", "abcd"), match=f"/tss/{fake.tss_id}", n=1)
    with pytest.raises(TseError) as err:
        tse.info()
    assert err.value.code == "BAD_RESPONSE"
    assert tse.info().serial_number == fake.serial


# --------------------------------------------------------------------------- export


def test_a_server_error_while_polling_does_not_end_the_export(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    tse = make_tse(export_poll_s=0.01)
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    fake.export_polls = 3
    fake.fail_next(2, status=503, match="/export/", method="GET")  # a blip on two polls
    out = io.BytesIO()
    tse.export(out)
    assert out.getvalue() == fake.export_tar()
    assert sum(1 for r in fake.requests if r.method == "PUT" and "/export/" in r.path) == 1


def test_an_export_refused_while_polling_still_fails(fake: FakeFiskaly, make_tse: MakeTse) -> None:
    tse = make_tse(export_poll_s=0.01)
    fake.export_polls = 3
    fake.fail_next(1, status=404, match="/export/", method="GET")
    with pytest.raises(TseError) as err:
        tse.export(io.BytesIO())
    assert err.value.code == "HTTP_404"


def test_polls_failing_for_good_end_at_the_export_timeout(
    fake: FakeFiskaly, make_tse: MakeTse
) -> None:
    tse = make_tse(export_poll_s=0.01, export_timeout_s=0.5)
    fake.export_polls = 3
    fake.fail_next(10**6, status=503, match="/export/", method="GET")
    begin = time.monotonic()
    with pytest.raises(TseError) as err:
        tse.export(io.BytesIO())
    assert err.value.code == "HTTP_503"
    assert time.monotonic() - begin < 0.5 + 1.0
