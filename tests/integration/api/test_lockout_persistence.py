"""PIN lock-outs, the failures counting towards one and the escalation of lock-outs in a
row are kept in the database: a restart neither lifts them nor lets them outlive their
end. The daemon's (injected) clock stands for the time that passed while it was down."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from posd.client import PosdClient, PosdError

from posd_daemon.services import auth as auth_mod
from posd_daemon.store.timeutil import to_db
from tests.conftest import running_daemon

CASHIER, PIN, WRONG = "2", "0000", "1111"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _refusal(target: str, pin: str, operator: str = CASHIER) -> str:
    with PosdClient(target) as pos, pytest.raises(PosdError) as err:
        pos.login(operator, pin)
    return err.value.reason


def _logs_in(target: str, operator: str = CASHIER, pin: str = PIN) -> None:
    with PosdClient(target) as pos:
        pos.login(operator, pin)


def _lock(target: str) -> None:
    for _ in range(auth_mod.MAX_FAILURES):
        assert _refusal(target, WRONG) == "UNAUTHENTICATED"
    assert _refusal(target, PIN) == "LOGIN_LOCKED"


def test_a_lockout_outlives_a_restart_until_it_ends(tmp_path: Path) -> None:
    state = tmp_path / "s"
    clock = FixedClock(T0)
    with running_daemon(state, clock=clock) as r:
        _lock(r.target)
    clock.now = T0 + timedelta(seconds=auth_mod.LOCKOUT_SECONDS - 10)
    with running_daemon(state, clock=clock) as r:
        assert _refusal(r.target, PIN) == "LOGIN_LOCKED"
    clock.now = T0 + timedelta(seconds=auth_mod.LOCKOUT_SECONDS + 1)
    with running_daemon(state, clock=clock) as r:
        _logs_in(r.target)
    # the successful log-in cleared the record: the next start does not lock again
    with running_daemon(state, clock=clock) as r:
        _logs_in(r.target)


def test_the_escalation_survives_a_restart(tmp_path: Path) -> None:
    """The second lock-out in a row lasts twice as long, though the daemon restarted
    after the first (which ended while it was down)."""
    state = tmp_path / "s"
    clock = FixedClock(T0)
    with running_daemon(state, clock=clock) as r:
        _lock(r.target)
    second = T0 + timedelta(seconds=auth_mod.LOCKOUT_SECONDS + 1)
    clock.now = second
    with running_daemon(state, clock=clock) as r:
        _lock(r.target)
    clock.now = second + timedelta(seconds=1.5 * auth_mod.LOCKOUT_SECONDS)
    with running_daemon(state, clock=clock) as r:
        assert _refusal(r.target, PIN) == "LOGIN_LOCKED"  # a plain minute would be over
    clock.now = second + timedelta(seconds=2 * auth_mod.LOCKOUT_SECONDS + 1)
    with running_daemon(state, clock=clock) as r:
        _logs_in(r.target)


def test_failures_older_than_the_window_do_not_count_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "s"
    clock = FixedClock(T0)
    with running_daemon(state, clock=clock) as r:
        for _ in range(auth_mod.MAX_FAILURES - 1):
            assert _refusal(r.target, WRONG) == "UNAUTHENTICATED"
    clock.now = T0 + timedelta(seconds=auth_mod.LOCKOUT_SECONDS + 1)
    with running_daemon(state, clock=clock) as r:
        assert _refusal(r.target, WRONG) == "UNAUTHENTICATED"  # not the fifth in a minute
        _logs_in(r.target)


def test_unreadable_or_impossible_rows_neither_crash_nor_lock_for_long(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged row is dropped (never a crash, never anyone locked by it); a lock-out
    ending further ahead than any lock-out lasts (the clock was set back) lasts at most
    as long as such a lock-out does."""
    state = tmp_path / "s"
    clock = FixedClock(T0)
    with running_daemon(state, clock=clock):
        pass
    db = state / "posd.sqlite3"
    conn = sqlite3.connect(db)
    far = to_db(T0 + timedelta(days=400))
    rows = [
        (CASHIER, "not json", "garbage", "x", far),
        ("3", "[]", to_db(T0), 1, "never"),
        ("1", "[]", far, 1, far),  # a lock-out ending in 400 days
        # a count of lock-outs in a row no real run reaches (2.0 ** it overflows)
        ("nobody", "[]", to_db(T0 - timedelta(seconds=10)), 10**6, far),
    ]
    with conn:
        conn.executemany(
            "INSERT INTO operator_lockouts (operator_id, failures, locked_until, streak,"
            " expires_at) VALUES (?,?,?,?,?)",
            rows,
        )
    conn.close()
    with running_daemon(state, clock=clock) as r:
        _logs_in(r.target)  # the damaged row locks nobody
        out = capsys.readouterr().out
        dropped = [ln for ln in out.splitlines() if "lockout_record_unreadable" in ln]
        assert len(dropped) == 2 and "operator_id=3" in dropped[-1], out[-3000:]
        assert _refusal(r.target, "1234", operator="1") == "LOGIN_LOCKED"
        for _ in range(auth_mod.MAX_FAILURES):
            assert _refusal(r.target, WRONG, operator="nobody") == "UNAUTHENTICATED"
        assert _refusal(r.target, WRONG, operator="nobody") == "LOGIN_LOCKED"
    clock.now = T0 + timedelta(seconds=auth_mod.LOCKOUT_SECONDS + 1)
    with running_daemon(state, clock=clock) as r:
        _logs_in(r.target, "1", "1234")


def test_a_successful_log_in_clears_the_kept_failures(tmp_path: Path) -> None:
    state = tmp_path / "s"
    clock = FixedClock(T0)
    with running_daemon(state, clock=clock) as r:
        for _ in range(auth_mod.MAX_FAILURES - 1):
            assert _refusal(r.target, WRONG) == "UNAUTHENTICATED"
        _logs_in(r.target)
    with running_daemon(state, clock=clock) as r:
        # the four before the log-in no longer count: this is the first, not the fifth
        assert _refusal(r.target, WRONG) == "UNAUTHENTICATED"
        _logs_in(r.target)
    db = sqlite3.connect(state / "posd.sqlite3")
    try:
        assert db.execute("SELECT count(*) FROM operator_lockouts").fetchone() == (0,)
    finally:
        db.close()
