"""FiskalyTse: the repeat of a timed-out call while fiskaly still processes the first.

A transaction call that fiskaly is slow to process times out on our side and is sent
again with the same revision (idempotent). While the first is still being processed,
fiskaly answers the repeat 409 ``E_PENDING_TX_CONFLICT`` (fiskaly SIGN DE API v2 error
codes: a pending request on the transaction), and the first one is signed afterwards.
That 409 is no refusal: the revision may still be signed. Calling it a permanent error
with nothing pending made the sale code treat the transaction as refused (a late-signed
outage receipt kept its outage marking although fiskaly signed it; a start was forgotten
while fiskaly opened it). It is transient, the revision stays pending, and the next call
reads back what fiskaly signed. Over real sockets against the fake fiskaly server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from posd_daemon.fiscal.fiskaly import FiskalyTse
from posd_daemon.services.tse_port import TseError, TseOperation
from tests.support.fake_fiskaly import FakeFiskaly, registered_backend

CLIENT = "KASSE-01"
KB = "Kassenbeleg-V1"
RECEIPT = b"Beleg^8.99_0.00_0.00_0.00_0.00^8.99:Bar"
TIMEOUT_S = 1.0


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly(pending_tx_conflicts=True) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def tse(fake: FakeFiskaly, tmp_path: Path) -> Iterator[FiskalyTse]:
    with registered_backend(fake, tmp_path / "state", CLIENT, timeout_s=TIMEOUT_S) as backend:
        yield backend


def test_a_finish_still_processed_is_transient_and_read_back_after(
    fake: FakeFiskaly, tse: FiskalyTse
) -> None:
    number = tse.start_transaction(CLIENT, KB, b"").transaction_number
    # fiskaly takes longer than our whole timeout to process the finish
    fake.delay_next(1, seconds=TIMEOUT_S * 1.3, match="tx_revision=2", before=True)
    with pytest.raises(TseError) as err:
        tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert err.value.transient, err.value
    fake.wait_idle()
    fx = fake.transaction_by_number(number)
    assert fx.state == "FINISHED" and len(fx.revisions) == 2  # fiskaly did sign it

    again = tse.finish_transaction(CLIENT, number, KB, RECEIPT)
    assert again.operation is TseOperation.FINISH
    assert again.signature_counter == fx.revisions[1][1]["signature"]["counter"]
    assert number not in tse.open_transactions(CLIENT)
    assert len(fx.revisions) == 2  # read back, not signed twice


def test_a_start_still_processed_is_not_forgotten(fake: FakeFiskaly, tse: FiskalyTse) -> None:
    fake.delay_next(1, seconds=TIMEOUT_S * 1.3, match="tx_revision=1", before=True)
    with pytest.raises(TseError) as err:
        tse.start_transaction(CLIENT, KB, b"")
    assert err.value.transient, err.value
    fake.wait_idle()
    (fx,) = fake.transactions.values()
    assert fx.state == "ACTIVE"
    # the transaction fiskaly opened is known, so it can be finished or cancelled
    assert tse.open_transactions(CLIENT) == [fx.number]
    tse.cancel_transaction(CLIENT, fx.number)
    assert fx.state == "CANCELLED"
