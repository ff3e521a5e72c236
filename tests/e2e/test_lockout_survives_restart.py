"""An operator's PIN lock-out holds across a restart of the real daemon process: whoever
can make the daemon restart (a crash, systemd restarting it) must not get fresh guesses."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient, PosdError

from tests.support.daemon_process import DaemonProcess

CASHIER = "2"  # the embedded defaults' demo cashier, PIN 0000
WRONG = "1111"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    with DaemonProcess(tmp_path / "state") as d:
        yield d


def _refusal(pos: PosdClient, pin: str) -> PosdError:
    with pytest.raises(PosdError) as err:
        pos.login(CASHIER, pin)
    return err.value


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_a_lockout_holds_after_a_restart(daemon: DaemonProcess, how: str) -> None:
    daemon.start()
    pos = daemon.client(login=False)
    for _ in range(5):
        assert _refusal(pos, WRONG).reason == "UNAUTHENTICATED"
    before = _refusal(pos, "0000")  # the right PIN, refused while locked
    assert before.reason == "LOGIN_LOCKED"

    if how == "sigkill":
        assert daemon.kill() == -signal.SIGKILL
    else:
        assert daemon.terminate() == 0
    daemon.start()

    pos = daemon.client(login=False)
    after = _refusal(pos, "0000")
    assert after.reason == before.reason == "LOGIN_LOCKED"
    # other operators are not affected
    daemon.client(login=True, open_shift=False)


def test_failures_short_of_a_lockout_still_count_after_a_restart(
    daemon: DaemonProcess,
) -> None:
    daemon.start()
    pos = daemon.client(login=False)
    for _ in range(4):
        assert _refusal(pos, WRONG).reason == "UNAUTHENTICATED"
    assert daemon.kill() == -signal.SIGKILL
    daemon.start()
    pos = daemon.client(login=False)
    assert _refusal(pos, WRONG).reason == "UNAUTHENTICATED"  # the fifth: locks
    assert _refusal(pos, "0000").reason == "LOGIN_LOCKED"
