"""FiskalyTse against a busy fiskaly: 423 Locked, 429 with Retry-After, 409, 5xx, 401.

fiskaly answers 423 Locked while the TSS is busy (e.g. during an export) or a transaction
is locked by a concurrent call (RFC 4918 section 11.3), and 429 Too Many Requests with
``Retry-After`` when rate limited (RFC 6585 section 4, RFC 9110 section 10.2.3). Neither
took effect. A 423 was taken for a permanent refusal: a sale posted during a running TSE
export opened an outage marked non-transient (a bug) and a start was forgotten. Both are
"not now": repeated within the call's time budget, else reported transient (the outage the
probe closes). Nothing is signed twice and revisions only go up.

A 5xx (a proxy's 502, a 503 during a deploy) and a connection lost before any answer were
raised at once: the sale opened an outage although a repeat a few hundred ms later would
have been signed. They are repeated the same way (same revision, same body); a repeat of a
revision fiskaly already applied gets the stored answer or a 409 settled by reading the
transaction back: never a second signature (the tests after ``_assert_signed_once``).
Real sockets against the fake fiskaly server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.services.tse_port import TseError, TseLogResult, TseOperation
from tests.support.fake_fiskaly import FakeFiskaly, registered_backend

CLIENT = "KASSE-01"
KB = "Kassenbeleg-V1"
RECEIPT = b"Beleg^8.99_0.00_0.00_0.00_0.00^8.99:Bar"
TIMEOUT_S = 3.0
#: Only a guard against a hang (a call that never ends), no statement about speed.
HANG_GUARD_S = 60.0


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def tse(fake: FakeFiskaly, tmp_path: Path) -> Iterator[FiskalyTse]:
    with registered_backend(fake, tmp_path / "state", CLIENT, timeout_s=TIMEOUT_S) as backend:
        yield backend


def _revisions(fake: FakeFiskaly) -> list[str]:
    return [r.query["tx_revision"][0] for r in fake.tx_requests()]


def test_a_finish_during_an_export_lock_is_signed_once_the_lock_ends(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(2, status=423, match="tx_revision=2")  # TSS busy exporting
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    fx = fake.transaction_by_number(number)
    assert (fx.state, len(fx.revisions)) == ("FINISHED", 2)
    assert result.signature_counter == fx.revisions[1][1]["signature"]["counter"]
    assert _revisions(fake) == ["1", "2", "2", "2"]  # the same revision, repeated


def test_a_lock_outlasting_the_budget_is_transient_and_the_next_call_recovers(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.retry_after = "1"
    fake.fail_next(10**6, status=423, match="/tx/")
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert (err.value.code, err.value.transient) == ("HTTP_423", True)
    # the background probe's view: still locked is still transient
    with pytest.raises(TseError) as probe:
        tse.open_transactions(CLIENT)
    assert probe.value.transient
    fake.clear_faults()
    assert tse.open_transactions(CLIENT) == [number]
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    fx = fake.transaction_by_number(number)
    assert (fx.state, len(fx.revisions)) == ("FINISHED", 2)
    assert {r for r in _revisions(fake)} == {"1", "2"}


def test_a_locked_start_is_transient_and_not_left_open(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    fake.retry_after = "100"  # longer than the whole budget: no waiting, at once transient
    fake.fail_next(1, status=423, match="tx_revision=1")
    with pytest.raises(TseError) as err:
        tse.start_transaction(CLIENT, KB, b"")
    assert (err.value.code, err.value.transient) == ("HTTP_423", True)
    assert _revisions(fake) == ["1"]
    assert fake.transactions == {}
    assert tse.open_transactions(CLIENT) == []  # read back: never started
    result = tse.start_transaction(CLIENT, KB, b"")
    assert result.operation is TseOperation.START


def test_rate_limit_waits_for_retry_after_within_the_budget(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.retry_after = "1"
    fake.fail_next(1, status=429, match="tx_revision=2")
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    assert _revisions(fake) == ["1", "2", "2"]
    assert len(fake.transaction_by_number(number).revisions) == 2


def test_rate_limit_with_an_http_date_retry_after(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.retry_after = "Thu, 01 Jan 1970 00:00:00 GMT"  # in the past: at once
    fake.fail_next(1, status=429, match="tx_revision=2")
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    assert _revisions(fake) == ["1", "2", "2"]


def test_rate_limit_beyond_the_budget_is_transient_without_waiting(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.retry_after = "60"
    fake.fail_next(1, status=429, match="tx_revision=2")
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert (err.value.code, err.value.transient) == ("HTTP_429", True)
    assert _revisions(fake) == ["1", "2"]
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    assert len(fake.transaction_by_number(number).revisions) == 2


def test_token_expiry_mid_transaction_repeats_the_same_revision(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.revoke_all_tokens()  # fiskaly no longer knows our access nor refresh token
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    assert _revisions(fake) == ["1", "2", "2"]  # 401, then the same revision again
    assert len(fake.transaction_by_number(number).revisions) == 2


def test_server_error_is_repeated_and_nothing_is_signed_twice(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(1, status=502, match="tx_revision=2")
    # repeated within the call (same revision): signed, and only once
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    assert _revisions(fake).count("2") == 2
    assert len(fake.transaction_by_number(number).revisions) == 2


def test_revision_conflict_moves_on_to_the_next_revision(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(1, status=409, match="tx_revision=2")
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    revisions = [int(r) for r in _revisions(fake)]
    assert revisions == sorted(revisions)
    assert len(fake.transaction_by_number(number).revisions) == 2


def test_a_stale_read_back_never_takes_revisions_back(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    tse.update_transaction(CLIENT, number, KB, b"Beleg^1.00_0.00_0.00_0.00_0.00^")
    tx_id = fake.transaction_by_number(number).tx_id
    fake.fail_next(1, status=409, match="tx_revision=3")
    # the read-back after the conflict answers from a replica that lags behind
    fake.mangle_next(lambda d: {**d, "revision": 1, "latest_revision": 1}, match=f"/tx/{tx_id}")
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert result.operation is TseOperation.FINISH
    assert _revisions(fake) == ["1", "2", "3", "3"]  # never back to revision 2
    assert len(fake.transaction_by_number(number).revisions) == 3


# -- 5xx and lost connections ------------------------------------------------------------


def _assert_signed_once(fake: FakeFiskaly, number: int, result: TseLogResult) -> None:
    fx = fake.transaction_by_number(number)
    assert (fx.state, len(fx.revisions)) == ("FINISHED", 2)
    assert result.operation is TseOperation.FINISH
    assert result.signature_counter == fx.revisions[1][1]["signature"]["counter"]


def test_one_502_then_success_is_signed_without_an_outage(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(1, status=502, match="tx_revision=2")  # a proxy's 502, nothing applied
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    _assert_signed_once(fake, number, result)
    assert _revisions(fake) == ["1", "2", "2"]  # the same revision, repeated


def test_a_502_after_fiskaly_signed_gets_the_stored_answer(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(1, status=502, match="tx_revision=2", after=True)  # signed, answer lost
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    _assert_signed_once(fake, number, result)
    assert _revisions(fake) == ["1", "2", "2"]
    assert tse.open_transactions(CLIENT) == []
    assert tse.finish_transaction(CLIENT, number, KB, RECEIPT) == result


def test_a_500_on_a_finish_whose_repeat_gets_409_is_settled(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(1, status=500, match="tx_revision=2", after=True)  # signed, answer lost
    fake.fail_next(1, status=409, match="tx_revision=2")  # the repeat: revision taken
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    _assert_signed_once(fake, number, result)
    assert _revisions(fake) == ["1", "2", "2"]  # read back, no third revision
    assert tse.open_transactions(CLIENT) == []


def test_a_5xx_outlasting_the_budget_is_transient_and_the_next_call_recovers(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.fail_next(10**6, status=503, match="/tx/")
    outcome: list[BaseException | TseLogResult] = []

    def finish() -> None:
        try:
            outcome.append(tse.finish_transaction(CLIENT, number, KB, RECEIPT))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=finish, daemon=True)
    worker.start()
    worker.join(HANG_GUARD_S)
    assert not worker.is_alive(), "the call did not end (no deadline)"
    (error,) = outcome
    assert isinstance(error, TseError)
    assert (error.code, error.transient) == ("HTTP_503", True)
    assert set(_revisions(fake)) == {"1", "2"}  # only ever the same revision
    assert _revisions(fake).count("2") > 1  # repeated, not given up at once
    fake.clear_faults()
    assert tse.open_transactions(CLIENT) == [number]
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    _assert_signed_once(fake, number, result)


def test_a_503_waits_for_retry_after_within_the_budget(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.retry_after = "1"
    fake.fail_next(1, status=503, match="tx_revision=2")
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    _assert_signed_once(fake, number, result)
    assert _revisions(fake) == ["1", "2", "2"]


def test_a_503_with_retry_after_beyond_the_budget_is_transient_at_once(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.retry_after = "100"
    fake.fail_next(1, status=503, match="tx_revision=2")
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert (err.value.code, err.value.transient) == ("HTTP_503", True)
    assert _revisions(fake) == ["1", "2"]  # no repeat past the deadline
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    _assert_signed_once(fake, number, result)


def test_connections_closed_before_any_answer_are_repeated(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    fake.drop_next(3, match="tx_revision=2")  # a flapping proxy: closed, nothing applied
    result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    _assert_signed_once(fake, number, result)
    assert _revisions(fake) == ["1", "2", "2", "2", "2"]


def test_a_502_of_the_login_is_repeated(fake: FakeFiskaly, tmp_path: Path) -> None:
    fake.fail_next(1, status=502, match="/auth", method="POST")
    with registered_backend(fake, tmp_path / "state", CLIENT, timeout_s=TIMEOUT_S) as tse:
        number = tse.start_transaction(CLIENT, KB, b"").transaction_number
        result = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
        _assert_signed_once(fake, number, result)
    logins = [r for r in fake.requests if r.method == "POST" and r.path == "/auth"]
    assert [r.status for r in logins[:2]] == [502, 200]


def test_a_503_of_the_client_registration_is_repeated(fake: FakeFiskaly, tmp_path: Path) -> None:
    fake.fail_next(1, status=503, match="/client/", method="PUT")
    with registered_backend(fake, tmp_path / "state", CLIENT, timeout_s=TIMEOUT_S) as tse:
        number = tse.start_transaction(CLIENT, KB, b"").transaction_number
        assert tse.open_transactions(CLIENT) == [number]
    puts = [r for r in fake.requests if r.method == "PUT" and "/client/" in r.path]
    assert [r.status for r in puts] == [503, 200]
