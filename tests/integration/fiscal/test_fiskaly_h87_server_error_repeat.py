"""FiskalyTse repeats a 5xx and a connection lost before any answer within the call's budget.

A 502 of a proxy or a 503 during a fiskaly deploy was raised at once as transient: the
sale opened a TSE outage ("Technische Sicherheitseinrichtung ausgefallen") although a
repeat a few hundred ms later would have been signed. 5xx are temporary (fiskaly's error
reference, quoted in ``fiscal/fiskaly.py``); the identical request (same revision, same
body) is repeated after ``Retry-After`` or a short growing back-off while the budget
allows. A repeat of a revision fiskaly already applied gets the stored answer or a 409
that is settled by reading the transaction back: never a second signature. Real sockets
against the fake fiskaly server.
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
