"""A shared drawer's opening difference and a crash, on the real daemon process: the TSE
finished the DifferenzSollIst Vorgang of an OpenShift, then the daemon was SIGKILLed
before the open committed (crash points ``event.after_finish``: nothing of the open
written; ``event.in_transaction``: all written, not committed). Start-up reconciliation
must open the shift as the call would have (its float, the signed difference booked
once, outside the shift's expected cash), and the client's retry with the same
request_id must get that shift, booking nothing twice."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2

from tests.support.daemon_process import TEST_CONFIG, DaemonProcess
from tests.support.e2e import db_query

pytestmark = pytest.mark.e2e


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    state = tmp_path / "state"
    state.mkdir()
    config = state / "posd-test.toml"
    config.write_text(TEST_CONFIG + "\n[drawer]\nshared = true\n", encoding="utf-8")
    d = DaemonProcess(state, config=config)
    try:
        yield d
    finally:
        if d.running:
            d.kill()
        d.close_clients()


def boot(daemon: DaemonProcess, crashpoints: str = "") -> PosdClient:
    if daemon.running:
        daemon.kill()
        daemon.close_clients()
    daemon.start(crashpoints=crashpoints)
    return daemon.client(retries=0, open_shift=False)


def eur(shift: closing_pb2.Shift) -> int:
    return sum(m.amount_minor for m in shift.expected_cash if m.currency_code == "EUR")


@pytest.mark.parametrize("point", ["event.after_finish", "event.in_transaction"])
def test_an_open_killed_after_the_tse_signed_its_difference_is_completed_at_start(
    daemon: DaemonProcess, point: str
) -> None:
    pos = boot(daemon)
    first = pos.open_shift(PosdClient.cash_counts(total=15000))
    pos.close_shift(PosdClient.cash_counts(total=15000), shift_id=first.shift_id)

    pos = boot(daemon, f"{point}:1")
    float_ = PosdClient.cash_counts(total=14000)  # 10.00 gone between the shifts
    with pytest.raises(PosdError) as cut:
        pos.open_shift(float_, request_id="open-2")
    assert cut.value.code == grpc.StatusCode.UNAVAILABLE, cut.value
    assert daemon.wait_exit(10) == -signal.SIGKILL, daemon.stderr()[-3000:]
    daemon.close_clients()

    pos = boot(daemon)
    rows = db_query(
        daemon.db_path,
        "SELECT amount, shift_id, tse_state, signature != '' FROM cash_movements"
        " WHERE kind = 'DIFFERENCE'",
    )
    # recorded by reconciliation, in the shift it opened
    assert rows == [(-1000, first.shift_id + 1, "SIGNED", 1)], rows
    opened = pos.get_shift()
    assert opened.shift_id == first.shift_id + 1
    assert opened.state == closing_pb2.SHIFT_STATE_OPEN
    # the float holds the loss: the shift expects its float, not 130.00
    assert eur(opened) == 14000

    again = pos.open_shift(float_, request_id="open-2")
    assert again.shift_id == opened.shift_id
    assert pos.open_shift(float_, request_id="open-2") == again
    assert len(db_query(daemon.db_path, "SELECT 1 FROM shifts")) == 2
    assert len(db_query(daemon.db_path, "SELECT 1 FROM cash_movements")) == 1

    pos.close_shift(float_, shift_id=opened.shift_id)
    report = pos.z_closing().report
    (balance,) = [b for b in report.cash_balances if b.currency_code == "EUR"]
    assert (balance.opening.amount_minor, balance.counted.amount_minor) == (15000, 14000)
    assert balance.difference.amount_minor == -1000
