"""The log-in failure record and the session cache stay bounded however many ids or
tokens clients throw at the daemon (a register runs for months)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.ops.pins import hash_pin
from posd_daemon.services import auth as auth_mod
from posd_daemon.services.auth import Authenticator, OperatorRecord


def clock() -> datetime:
    return datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make(cap: int) -> Authenticator:
    op = Operator("1", "Anna", "cashier", frozenset({Permission.SALE}))
    return Authenticator([OperatorRecord(op, hash_pin("1234"))], clock, 12, max_tracked_ids=cap)


def fail(a: Authenticator, operator_id: str) -> str:
    with pytest.raises(DomainError) as err:
        a.check_pin(operator_id, "0000")
    return err.value.reason


def test_random_ids_do_not_grow_the_failure_record(monkeypatch: pytest.MonkeyPatch) -> None:
    a = make(cap=8)
    for n in range(20):
        assert fail(a, f"guess-{n}") == "UNAUTHENTICATED"
    assert a.tracked_ids <= 8
    # a known operator under attack stays locked although others were forgotten
    for _ in range(auth_mod.MAX_FAILURES):
        fail(a, "1")
    for n in range(20, 30):
        fail(a, f"guess-{n}")
    assert fail(a, "1") == "LOGIN_LOCKED"
    assert a.tracked_ids <= 8


def test_failures_past_the_lockout_window_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(auth_mod.time, "monotonic", lambda: now[0])
    a = make(cap=4)
    for n in range(4):
        fail(a, f"old-{n}")
    now[0] += auth_mod.LOCKOUT_SECONDS + 1
    fail(a, "new")  # over the cap: the old ones are past their window and go
    assert a.tracked_ids == 1
    assert a.check_pin("1", "1234").operator_id == "1"


def test_concurrent_guesses_get_no_more_tries_than_the_lockout_allows() -> None:
    """Login checks PINs on a thread pool, so guesses arrive at once. Each must count
    before its (slow) scrypt, not after: else every guess in flight passes the lock-out
    check first and an attacker gets a try per worker thread instead of five a minute."""
    a = make(cap=64)
    guesses = 4 * auth_mod.MAX_FAILURES
    start = threading.Barrier(guesses)

    def guess(n: int) -> str:
        start.wait()
        return fail(a, "1")

    with ThreadPoolExecutor(guesses) as pool:
        reasons = list(pool.map(guess, range(guesses)))
    assert reasons.count("UNAUTHENTICATED") == auth_mod.MAX_FAILURES
    assert reasons.count("LOGIN_LOCKED") == guesses - auth_mod.MAX_FAILURES
    assert fail(a, "1") == "LOGIN_LOCKED"


def test_a_right_pin_clears_the_failures() -> None:
    a = make(cap=8)
    for _ in range(auth_mod.MAX_FAILURES - 1):
        fail(a, "1")
    assert a.check_pin("1", "1234").operator_id == "1"
    for _ in range(auth_mod.MAX_FAILURES - 1):
        fail(a, "1")
    assert a.check_pin("1", "1234").operator_id == "1"


def test_right_pins_entered_at_once_all_get_in() -> None:
    """Several terminals logging the same operator in at once: the attempts in flight
    count against the tries left, but right PINs must not lock each other out."""
    a = make(cap=64)
    logins = 3 * auth_mod.MAX_FAILURES
    start = threading.Barrier(logins)

    def login(n: int) -> str:
        start.wait()
        return a.check_pin("1", "1234").operator_id

    with ThreadPoolExecutor(logins) as pool:
        assert list(pool.map(login, range(logins))) == ["1"] * logins
    assert a.tracked_ids == 0


def test_each_lock_out_in_a_row_lasts_twice_as_long_up_to_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five guesses a minute for ever search a 4-digit PIN in about 33 hours: each
    lock-out that follows another without a successful log-in lasts twice as long as the
    one before (1, 2, 4 ... minutes, at most MAX_LOCKOUT_SECONDS); a right PIN ends the
    run. An operator who mistyped five times waits a minute, as before."""
    now = [1000.0]
    monkeypatch.setattr(auth_mod.time, "monotonic", lambda: now[0])
    a = make(cap=8)

    def lock_out() -> None:
        for _ in range(auth_mod.MAX_FAILURES):
            assert fail(a, "1") == "UNAUTHENTICATED"
        assert fail(a, "1") == "LOGIN_LOCKED"

    def locked_for(seconds: float) -> None:
        """Still locked a second before ``seconds`` (a try while locked is refused before
        the PIN is checked and counts nothing), free a second after."""
        now[0] += seconds - 1
        assert fail(a, "1") == "LOGIN_LOCKED", f"the lock-out ended before {seconds} s"
        now[0] += 2

    lock_out()
    locked_for(60)
    assert a.check_pin("1", "1234").operator_id == "1"  # the right PIN ends the run
    lock_out()
    locked_for(60)  # so the next lock-out is a minute again
    expected = [60 * 2**n for n in range(1, 8)]
    for seconds in expected:
        lock_out()
        locked_for(min(seconds, auth_mod.MAX_LOCKOUT_SECONDS))
    assert expected[-1] > auth_mod.MAX_LOCKOUT_SECONDS  # the cap was reached above
    assert a.check_pin("1", "1234").operator_id == "1"
