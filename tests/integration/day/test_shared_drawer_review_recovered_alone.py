"""A shared drawer's opening difference signed before a crash, recovered when the
register is no longer where it was, on the real daemon process against a fiskaly fake.

The TSE finished the DifferenzSollIst of an OpenShift (10.00 gone between the shifts),
then the daemon was SIGKILLed before the open committed. It came back while the TSE was
down: in the outage the cashier opened the shift again (a new request), booking the
10.00 once more (an outage Vorgang). When the TSE returns, reconciliation finds the
signed Vorgang of the first attempt with a shift open: it cannot open that shift, so it
records the signed difference alone (in no shift; the TSE signed it, so it is in the
books). The drawer lost 10.00 once and the books now hold it twice: the signed entry is
cash the open shift no longer expects, so its close finds the 10.00 again (+10.00). The
period's DifferenzSollIst Vorgänge then add up to the real loss, and the Z's cash
balance must say the same: opening 150.00, counted 140.00, difference -10.00 (expected
150.00), as its CASH_DIFFERENCES business case."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2

from tests.integration.day.test_shared_drawer_open_crash_recovery import boot
from tests.support.daemon_process import TEST_CONFIG, DaemonProcess
from tests.support.e2e import db_query
from tests.support.fake_fiskaly import FakeFiskaly

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


@pytest.fixture
def daemon(tmp_path: Path, fake: FakeFiskaly) -> Iterator[DaemonProcess]:
    state = tmp_path / "state"
    state.mkdir()
    config = state / "posd-test.toml"
    config.write_text(
        TEST_CONFIG
        + "\n[drawer]\nshared = true\n"
        + "\n[tse]\n"
        + 'backend = "fiskaly"\n'
        + f'fiskaly_url = "{fake.base_url}"\n'
        + f'fiskaly_api_key = "{fake.api_key}"\n'
        + f'fiskaly_api_secret = "{fake.api_secret}"\n'
        + f'fiskaly_tss_id = "{fake.tss_id}"\n'
        + "timeout_ms = 400\n"
        + "probe_seconds = 3600\n",
        encoding="utf-8",
    )
    d = DaemonProcess(state, config=config)
    try:
        yield d
    finally:
        if d.running:
            d.kill()
        d.close_clients()


def test_an_opening_difference_recovered_alone_keeps_the_zs_difference_the_booked_one(
    daemon: DaemonProcess, fake: FakeFiskaly
) -> None:
    pos, float_, second = recovered_alone(daemon, fake, close_first=False)
    assert len(db_query(daemon.db_path, "SELECT 1 FROM shifts")) == 2

    closed = pos.close_shift(float_, shift_id=second)
    (eur,) = [b for b in closed.balances if b.currency_code == "EUR"]
    assert eur.difference.amount_minor == 1000  # the duplicate comes back at the count
    report = pos.z_closing().report
    (balance,) = [b for b in report.cash_balances if b.currency_code == "EUR"]
    booked = sum(
        c.gross.amount_minor for c in report.business_cases if c.business_case == "CASH_DIFFERENCES"
    )
    assert booked == -1000  # -10.00 -10.00 +10.00: the drawer lost 10.00 once
    assert (balance.opening.amount_minor, balance.counted.amount_minor) == (15000, 14000)
    assert balance.difference.amount_minor == booked
    assert balance.expected.amount_minor == 15000


def recovered_alone(
    daemon: DaemonProcess, fake: FakeFiskaly, *, close_first: bool
) -> tuple[PosdClient, list[closing_pb2.CashCount], int]:
    """The open of shift 2 killed after the TSE signed its -10.00, the shift opened again
    in a TSE outage (-10.00 booked once more) and, with ``close_first``, closed (140.00
    counted, no difference) before the TSE returns. Reconciliation then books the
    signed -10.00 alone, in no shift. Returns the client, the float and shift 2's id."""
    pos = boot(daemon)
    first = pos.open_shift(PosdClient.cash_counts(total=15000))
    pos.close_shift(PosdClient.cash_counts(total=15000), shift_id=first.shift_id)
    pos = boot(daemon, "event.after_finish:1")
    float_ = PosdClient.cash_counts(total=14000)  # 10.00 gone between the shifts
    with pytest.raises(PosdError) as cut:
        pos.open_shift(float_, request_id="open-2")
    assert cut.value.code == grpc.StatusCode.UNAVAILABLE, cut.value
    assert daemon.wait_exit(10) == -signal.SIGKILL, daemon.stderr()[-3000:]
    daemon.close_clients()
    fake.fail_all(status=503)
    pos = boot(daemon)  # in a TSE outage: the signed open is not reconciled yet
    second = pos.open_shift(float_, request_id="open-3")
    assert second.shift_id == first.shift_id + 1
    if close_first:
        pos.close_shift(float_, shift_id=second.shift_id)
    fake.clear_faults()
    assert pos.recover_tse().recovered
    fake.wait_idle()
    rows = db_query(
        daemon.db_path,
        "SELECT amount, shift_id, tse_state FROM cash_movements WHERE kind = 'DIFFERENCE'"
        " ORDER BY number",
    )
    # the outage open's, then the first attempt's as the TSE signed it, in no shift
    assert rows == [(-1000, second.shift_id, "OUTAGE"), (-1000, None, "SIGNED")], rows
    return pos, float_, second.shift_id


def differences(daemon: DaemonProcess) -> list[tuple[object, ...]]:
    """The booked cash differences (amount, shift) in booking order."""
    return db_query(
        daemon.db_path,
        "SELECT amount, shift_id FROM cash_movements WHERE kind = 'DIFFERENCE' ORDER BY number",
    )


def eur_balance(report: closing_pb2.ClosingReport) -> tuple[int, int, int, int]:
    (b,) = [b for b in report.cash_balances if b.currency_code == "EUR"]
    return (
        b.opening.amount_minor,
        b.expected.amount_minor,
        b.counted.amount_minor,
        b.difference.amount_minor,
    )


def cash_differences(report: closing_pb2.ClosingReport) -> int:
    return sum(
        c.gross.amount_minor for c in report.business_cases if c.business_case == "CASH_DIFFERENCES"
    )


def test_a_duplicate_recovered_with_no_shift_open_is_booked_back_at_the_next_open(
    daemon: DaemonProcess, fake: FakeFiskaly
) -> None:
    pos, float_, closed = recovered_alone(daemon, fake, close_first=True)
    # the drawer still holds 140.00; the books hold -10.00 twice: the next float is
    # compared with 130.00, and its open books +10.00 back (signed, as every difference)
    third = pos.open_shift(float_)
    assert third.shift_id == closed + 1
    rows = differences(daemon)
    assert rows[2:] == [(1000, third.shift_id)], rows
    pos.close_shift(float_, shift_id=third.shift_id)
    report = pos.z_closing().report
    assert cash_differences(report) == -1000  # -10.00 -10.00 +10.00: lost once
    # opening 150.00, expected 150.00, counted 140.00, difference the booked -10.00
    assert eur_balance(report) == (15000, 15000, 14000, -1000)


def test_a_z_right_after_such_a_duplicate_ends_with_the_cash_the_books_hold(
    daemon: DaemonProcess, fake: FakeFiskaly
) -> None:
    pos, float_, _ = recovered_alone(daemon, fake, close_first=True)
    report = pos.z_closing().report
    assert cash_differences(report) == -2000
    # the period's differences are the booked ones, and it ends with the 130.00 the
    # next float is compared with (the next open books the +10.00 back)
    assert eur_balance(report) == (15000, 15000, 13000, -2000)
    third = pos.open_shift(float_)
    rows = differences(daemon)
    assert rows[2:] == [(1000, third.shift_id)], rows
