"""Operator log-in, sessions and permission checks."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from posd_daemon.domain.errors import DomainError, ErrorKind, invalid
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.ops import logging as plog
from posd_daemon.ops.pins import verify_pin
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import DbExecutor, Tx
from posd_daemon.store import lockouts, sessions
from posd_daemon.store.lockouts import LockoutState

log = plog.get("posd.auth")

MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0
#: Each lock-out that follows the previous one (begun within this long after it ended,
#: no successful log-in between) lasts twice as long, up to this: at five guesses a
#: minute a 4-digit PIN falls in about 33 hours; doubling up to half an hour makes that
#: weeks, while an operator who mistyped five times still waits a minute.
MAX_LOCKOUT_SECONDS = 1800.0
#: how long a log-in waits at most for the checks in flight of the same operator
PIN_QUEUE_S = 5.0
#: operator ids with recent failures kept at most (a client trying random ids)
MAX_TRACKED_IDS = 1024
#: lock-outs in a row counted at most: the length stops growing at the fifth already
#: (MAX_LOCKOUT_SECONDS); uncapped, weeks of guessing (or a damaged stored count) would
#: overflow the float power
MAX_STREAK = 32
#: how long a PIN check waits at most for its failure record to be on disk
SAVE_WAIT_S = 10.0

#: queues a durable write on the database thread; the future ends with its COMMIT
SaveQueue = Callable[[Callable[[Tx], None]], concurrent.futures.Future[None]]


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    operator: Operator
    pin_hash: str


def unauthenticated(message: str) -> DomainError:
    return DomainError(ErrorKind.UNAUTHENTICATED, "UNAUTHENTICATED", message)


class LoginRefused(DomainError):
    """A log-in refused for its PIN (or an unknown operator id) or during a lock-out,
    with what the audit trail needs (the API logs it with the peer; never the PIN).
    Nothing of it beyond the error itself goes to the client."""

    def __init__(
        self,
        error: DomainError,
        *,
        operator_id: str,
        known: bool,
        failures: int,
        locked_out: bool = False,
        lock_seconds: float = 0.0,
    ) -> None:
        super().__init__(error.kind, error.reason, error.message)
        self.operator_id = operator_id
        #: whether the id names a configured operator
        self.known = known
        #: failed tries within the lock-out window, this one included
        self.failures = failures
        #: this failure began a lock-out
        self.locked_out = locked_out
        #: how long that lock-out lasts
        self.lock_seconds = lock_seconds

    @property
    def locked(self) -> bool:
        """Refused because the operator is locked out (the PIN was not checked)."""
        return self.reason == "LOGIN_LOCKED"


class Authenticator:
    def __init__(
        self,
        records: Iterable[OperatorRecord],
        clock: Clock,
        session_hours: int,
        *,
        max_tracked_ids: int = MAX_TRACKED_IDS,
    ) -> None:
        self._records = {r.operator.operator_id: r for r in records}
        self._dummy_hash = _dummy_like(r.pin_hash for r in self._records.values())
        self._max_tracked = max_tracked_ids
        self._clock = clock
        self._ttl = timedelta(hours=session_hours)
        self._failures: dict[str, list[float]] = {}
        #: operator id -> (lock-out ends at, lock-outs in a row so far): see
        #: MAX_LOCKOUT_SECONDS
        self._lockouts: dict[str, tuple[float, int]] = {}
        #: PIN checks running now, by operator id (see _begin_attempt)
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        #: where failures and lock-outs are kept across restarts (None: memory only)
        self._save: SaveQueue | None = None

    def operator(self, operator_id: str) -> Operator | None:
        rec = self._records.get(operator_id)
        return None if rec is None else rec.operator

    def check_pin(self, operator_id: str, pin: str) -> Operator:
        """Checks a PIN (slow scrypt). Locks the operator out after repeated failures."""
        if not operator_id or len(operator_id) > 64:
            raise invalid("operator_id", "1..64 characters")
        if not pin or len(pin) > 32:
            raise invalid("pin", "1..32 characters")
        rec = self._records.get(operator_id)
        try:
            self._begin_attempt(operator_id)
        except DomainError as exc:
            raise LoginRefused(
                exc,
                operator_id=operator_id,
                known=rec is not None,
                failures=self._recent_failures(operator_id),
            ) from None
        ok = False
        failures = 0
        try:
            # Hash even for unknown operators so timing does not tell which ids exist.
            ok = verify_pin(pin, rec.pin_hash if rec else self._dummy_hash) and rec is not None
        finally:
            failures, saved = self._end_attempt(operator_id, ok)
            # a failure is on disk before the refusal goes out: a restart right after
            # it (even SIGKILL) must not give the guesser this try back
            _wait_saved(saved, operator_id)
        if not ok or rec is None:
            locked_out = failures == MAX_FAILURES
            raise LoginRefused(
                unauthenticated("unknown operator or wrong PIN"),
                operator_id=operator_id,
                known=rec is not None,
                failures=failures,
                locked_out=locked_out,
                lock_seconds=self._lock_seconds(operator_id) if locked_out else 0.0,
            )
        return rec.operator

    def _recent_failures(self, operator_id: str) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(now - t < LOCKOUT_SECONDS for t in self._failures.get(operator_id, ()))

    def _begin_attempt(self, operator_id: str) -> None:
        """Admits one PIN check, or refuses it while the operator is locked out.

        Checks run at once on Login's thread pool: attempts in flight count against the
        tries left, so guesses sent together get no more tries than one by one (five a
        minute, not one per worker thread). An attempt that could use up the last try
        waits for those in flight to end instead of being refused: right PINs entered at
        once on several terminals all get in."""
        deadline = time.monotonic() + PIN_QUEUE_S
        with self._settled:
            while True:
                now = time.monotonic()
                recent = [
                    t for t in self._failures.get(operator_id, []) if now - t < LOCKOUT_SECONDS
                ]
                if recent:
                    self._failures[operator_id] = recent
                else:
                    self._failures.pop(operator_id, None)
                running = self._in_flight.get(operator_id, 0)
                until = self._lockouts.get(operator_id, (0.0, 0))[0]
                if len(recent) >= MAX_FAILURES or now < until or (running and now >= deadline):
                    raise DomainError(
                        ErrorKind.RESOURCE_EXHAUSTED,
                        "LOGIN_LOCKED",
                        f"too many failed log-ins for operator {operator_id[:64]}; wait"
                        f" {_minutes(max(until - now, LOCKOUT_SECONDS))}",
                    )
                if len(recent) + running < MAX_FAILURES:
                    self._in_flight[operator_id] = running + 1
                    return
                self._settled.wait(deadline - now)

    def _end_attempt(
        self, operator_id: str, ok: bool
    ) -> tuple[int, concurrent.futures.Future[None] | None]:
        """Ends a PIN check; returns the operator's failures within the lock-out window
        (0 after a success) and the write of the change to the database, queued (None:
        nothing to write). Admission (_begin_attempt) lets at most MAX_FAILURES of them
        into one window, so exactly one failure reaches MAX_FAILURES: the lock-out's."""
        with self._settled:
            left = self._in_flight.pop(operator_id, 1) - 1
            if left:
                self._in_flight[operator_id] = left
            failures = 0
            now = time.monotonic()
            saved: concurrent.futures.Future[None] | None = None
            if ok:
                had = self._failures.pop(operator_id, None)
                if self._lockouts.pop(operator_id, None) is not None or had:
                    saved = self._queue_save(operator_id, now)
            else:
                times = self._failures.setdefault(operator_id, [])
                times.append(now)
                failures = sum(now - t < LOCKOUT_SECONDS for t in times)
                if failures == MAX_FAILURES:
                    self._begin_lockout(operator_id, now)
                if len(self._failures) > self._max_tracked:
                    self._forget_old(now)
                saved = self._queue_save(operator_id, now)
            self._settled.notify_all()
            return failures, saved

    def _begin_lockout(self, operator_id: str, now: float) -> None:
        """A lock-out begins (under the lock): twice the previous one when that ended
        less than MAX_LOCKOUT_SECONDS ago without a successful log-in since."""
        until, streak = self._lockouts.get(operator_id, (0.0, 0))
        if streak and now - until > MAX_LOCKOUT_SECONDS:
            streak = 0
        streak = min(streak + 1, MAX_STREAK)
        self._lockouts[operator_id] = (now + _lock_length(streak), streak)

    def _lock_seconds(self, operator_id: str) -> float:
        with self._lock:
            streak = self._lockouts.get(operator_id, (0.0, 0))[1]
        return _lock_length(streak)

    # -- kept across restarts ----------------------------------------------------------

    def keep_lockouts(self, db: DbExecutor, loop: asyncio.AbstractEventLoop) -> None:
        """At start, before serving: takes up the failures and lock-outs kept in the
        database, and from now on keeps every change there (through ``db`` on ``loop``)."""
        db.write_sync(self._restore)
        self._save = lambda fn: asyncio.run_coroutine_threadsafe(db.write(fn), loop)

    def _restore(self, tx: Tx) -> None:
        """Reads the kept state back. What the daemon counts with in memory is the
        monotonic clock, which starts anew with each boot: the stored wall-clock times
        become ages. A time ahead of now (the clock was set back meanwhile) counts as
        now, and a lock-out lasts at most its length from now: the state is bounded by
        what it could have been, never longer. A row that cannot be read is dropped."""
        states, unreadable = lockouts.load_all(tx.conn)
        for operator_id in unreadable:
            log.warning("lockout_record_unreadable", operator_id=operator_id[:64])
            lockouts.delete(tx.conn, operator_id)
        wall = self._clock()
        with self._lock:
            now = time.monotonic()
            for state in states:
                op = state.operator_id
                ages = [max((wall - t).total_seconds(), 0.0) for t in state.failures]
                recent = sorted(now - a for a in ages if a < LOCKOUT_SECONDS)
                if recent:
                    self._failures[op] = recent[-MAX_FAILURES:]
                if state.locked_until is not None:
                    streak = min(max(state.streak, 1), MAX_STREAK)
                    left = (state.locked_until - wall).total_seconds()
                    left = min(left, _lock_length(streak))
                    if left >= -MAX_LOCKOUT_SECONDS:  # else its run is over
                        self._lockouts[op] = (now + left, streak)
                fresh = self._state_of(op, wall, now)
                if fresh is None:
                    lockouts.delete(tx.conn, op)
                else:
                    lockouts.save(tx.conn, fresh)  # bounded as above
            if len(self._failures) > self._max_tracked:
                self._forget_old(now)
        lockouts.prune(tx.conn, wall)

    def _state_of(self, operator_id: str, wall: datetime, now: float) -> LockoutState | None:
        """The operator's state (under the lock) in wall-clock times; None: nothing."""
        times = [t for t in self._failures.get(operator_id, ()) if now - t < LOCKOUT_SECONDS]
        lock = self._lockouts.get(operator_id)
        if not times and lock is None:
            return None

        def at(t: float) -> datetime:
            return wall + timedelta(seconds=t - now)

        ends = [t + LOCKOUT_SECONDS for t in times[-1:]]
        if lock is not None:
            ends.append(lock[0] + MAX_LOCKOUT_SECONDS)
        return LockoutState(
            operator_id,
            tuple(at(t) for t in times),
            None if lock is None else at(lock[0]),
            0 if lock is None else lock[1],
            at(max(ends)),
        )

    def _queue_save(self, operator_id: str, now: float) -> concurrent.futures.Future[None] | None:
        """Queues the write of the operator's state (under the lock, so that writes
        reach the database thread in the order the changes were made)."""
        if self._save is None:
            return None
        wall = self._clock()
        state = self._state_of(operator_id, wall, now)

        def write(tx: Tx) -> None:
            lockouts.prune(tx.conn, wall)
            if state is None:
                lockouts.delete(tx.conn, operator_id)
            else:
                lockouts.save(tx.conn, state)

        try:
            return self._save(write)
        except RuntimeError:  # the loop closed: the daemon is stopping
            log.error("lockout_not_saved", operator_id=operator_id[:64], error="stopping")
            return None

    def _forget_old(self, now: float) -> None:
        """Bounds the failure record (under the lock): ids of any kind are counted, known
        or not (a lock-out only for known ids would tell which ids exist), so a client
        trying random ids must not grow it without end. Ids whose failures are past the
        lock-out window go; should a flood within one window still exceed the bound, ids
        of no operator go first, longest ago first: a flood of made-up ids must not lift
        the lock-out of a real operator whose PIN is being guessed."""
        for key in [k for k, times in self._failures.items() if now - times[-1] >= LOCKOUT_SECONDS]:
            del self._failures[key]
        for key in [
            k for k, (until, _) in self._lockouts.items() if now - until > MAX_LOCKOUT_SECONDS
        ]:
            del self._lockouts[key]  # its run is over (see _begin_lockout)
        excess = len(self._failures) - self._max_tracked
        if excess > 0:
            unknown = [k for k in self._failures if k not in self._records]
            for key in sorted(unknown, key=lambda k: self._failures[k][-1])[:excess]:
                del self._failures[key]

    @property
    def tracked_ids(self) -> int:
        """How many operator ids have recent failures recorded (observability, tests)."""
        with self._lock:
            return len(self._failures)

    def open_session(self, tx: Tx, operator: Operator) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + self._ttl
        sessions.purge_expired(tx.conn, now)
        sessions.create(tx.conn, _digest(token), operator.operator_id, now, expires)
        return token, expires

    def resolve(self, conn: sqlite3.Connection, token: str) -> tuple[Operator, datetime]:
        if not token:
            raise unauthenticated("missing session token: log in first")
        if len(token) > 128:
            # not one of ours (they are 43 characters), but one was sent: "missing" sent
            # the client looking for a token it had
            raise unauthenticated("unknown or ended session: log in again")
        found = sessions.find(conn, _digest(token))
        if found is None:
            raise unauthenticated("unknown or ended session: log in again")
        operator_id, expires = found
        if expires <= self._clock():
            raise unauthenticated("session expired: log in again")
        op = self.operator(operator_id)
        if op is None:
            raise unauthenticated("operator no longer exists")
        return op, expires

    def end_sessions_of_changed_pins(self, tx: Tx) -> list[str]:
        """At start: a PIN is changed in the config because it leaked or its holder
        left, so that operator's sessions (which survive restarts) end with it; so do
        those of an operator no longer configured. Returns their ids."""
        return sessions.end_for_changed_pins(
            tx.conn, {op: _digest(rec.pin_hash) for op, rec in self._records.items()}
        )

    def close_session(self, tx: Tx, token: str) -> None:
        sessions.delete(tx.conn, _digest(token))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_DUMMY_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


def _dummy_like(pin_hashes: Iterable[str]) -> str:
    """What an unknown operator id's PIN is checked against: a hash of the scrypt cost
    (N, r, p, digest length) most of the configured ones have, so that "unknown operator"
    takes as long as "wrong PIN" (posctl's cost is four times that of hashes made with
    N=2^12, say). Its salt and digest match no PIN's."""
    costs: Counter[tuple[str, str, str, int]] = Counter()
    for encoded in pin_hashes:
        parts = encoded.split("$")
        try:  # as the config checked it (ops.pins.check_format)
            costs[(parts[1], parts[2], parts[3], len(base64.b64decode(parts[5])))] += 1
        except (IndexError, ValueError):
            continue
    if not costs:
        return _DUMMY_HASH
    n, r, p, size = costs.most_common(1)[0][0]
    zeros = base64.b64encode(bytes(size)).decode()
    return f"scrypt${n}${r}${p}$AAAAAAAAAAAAAAAAAAAAAA==${zeros}"


def _lock_length(streak: int) -> float:
    """How long the ``streak``-th lock-out in a row lasts (see MAX_LOCKOUT_SECONDS)."""
    return min(LOCKOUT_SECONDS * 2.0 ** min(max(streak - 1, 0), MAX_STREAK), MAX_LOCKOUT_SECONDS)


def _wait_saved(saved: concurrent.futures.Future[None] | None, operator_id: str) -> None:
    """Waits for a queued write of the failure record. A write that fails is logged and
    the answer stays what it is (a refusal is one either way; the in-memory record holds
    until the next restart)."""
    if saved is None:
        return
    try:
        saved.result(SAVE_WAIT_S)
    except Exception as exc:
        log.error("lockout_not_saved", operator_id=operator_id[:64], error=repr(exc))


def require(operator: Operator, permission: Permission) -> None:
    operator.require(permission)


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"
