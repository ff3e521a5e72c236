"""The single database thread: every read and write runs here, one at a time.

One writer thread means transactions never contend and a sale is never changed by two
calls at once; the asyncio loop never blocks on SQLite or fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from posd_daemon.ops import logging as plog
from posd_daemon.store.database import transaction

T = TypeVar("T")
C = TypeVar("C")
log = plog.get("posd.store")


class Tx:
    """A transaction in progress: the connection plus work to do after COMMIT."""

    def __init__(self, conn: sqlite3.Connection, *, durable: bool = False) -> None:
        self.conn = conn
        self._after: list[Callable[[], None]] = []
        self._before: list[Callable[[], None]] = []
        #: its COMMIT is fsync'd (synchronous=FULL; see DbExecutor.write_sync)
        self.durable = durable

    def commit_so_far(self) -> None:
        """COMMITs what the transaction wrote so far (fsync'd) and goes on in a new one.

        For a step that must be on disk before something outside the database happens
        (a TSE finish, see ``FiscalGateway.event_signer``): no other write can come
        between the two parts (one writer thread, which is running this), so what the
        first part checked still holds in the second; a crash in between leaves the
        first part only. Work queued with :meth:`after_commit` runs after the last
        COMMIT. Only in a durable write (a relaxed one would not be on disk)."""
        if not self.durable:
            raise RuntimeError("commit_so_far needs a durable (fsync'd) write")
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after.append(fn)

    def before_commit(self, fn: Callable[[], None]) -> None:
        """Queues a write for the last part of the transaction, after the work is done:
        never in what :meth:`commit_so_far` commits. (A Vorgang signed after another in
        the same call: the earlier one's row must stay PENDING in what the later one's
        start commits, else a crash would leave it DONE and never recorded.)"""
        self._before.append(fn)

    def finish(self) -> None:
        """Runs the queued :meth:`before_commit` writes (the caller COMMITs next)."""
        before, self._before = self._before, []
        for fn in before:
            fn()


#: how long background work (see DbExecutor.write) waits for a parked speculation to be
#: claimed before it abandons it, and stays out of the way once it ended
BACKGROUND_WAIT_S = 0.2
AFTER_SPECULATION_S = 0.002


class Abandoned(Exception):
    """A speculative transaction was given up before it was claimed: it rolled back."""


class Speculation(Generic[C]):
    """Work run ahead on the database thread inside a transaction of its own, which parks
    (:meth:`park`) at the point where it needs something only a later call brings: that
    call claims it (:meth:`claim`) with what it needs, and it goes on and commits. Any
    other use of the database thread abandons it first: it then rolls back (nothing of it
    was ever visible) and the thread is free. ``result`` is the transaction's outcome."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._cond = threading.Condition()
        self._state = "running"
        self._claim: C | None = None
        self._offer: Any = None
        #: it reached the park point (False: it failed before, e.g. a check refused)
        self.parked = False
        self.result: asyncio.Future[Any] | None = None

    def park(self, offer: Any = None) -> C:
        """On the database thread, inside the transaction: waits for the claim. ``offer``
        is shown to the claimer (what it may start ahead of the work going on)."""
        with self._cond:
            self.parked = True
            self._offer = offer
            while self._state == "running":
                self._cond.wait()
            if self._state != "claimed" or self._claim is None:
                raise Abandoned(self.key)
            return self._claim

    def offered(self) -> Any:
        """What it offered, while it is parked and not yet claimed or abandoned (None
        otherwise). Never waits."""
        with self._cond:
            return self._offer if self._state == "running" and self.parked else None

    def claimed(self) -> C | None:
        """The claim, if it was claimed already (never waits)."""
        with self._cond:
            return self._claim if self._state == "claimed" else None

    def claim(self, make: Callable[[Any], C]) -> bool:
        """Claims the work with ``make(offer)``: ``offer`` is what the parked work offered
        (None: not parked yet). False: it was abandoned already."""
        with self._cond:
            if self._state != "running":
                return False
            try:
                self._claim = make(self._offer)
            except BaseException:
                self._state = "abandoned"  # never left parked without a claimer
                raise
            finally:
                if self._state == "running":
                    self._state = "claimed"
                self._cond.notify_all()
            return True

    def abandon(self) -> None:
        with self._cond:
            if self._state == "running":
                self._state = "abandoned"
                self._cond.notify_all()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # an abandoned speculation's Abandoned is expected


class DbExecutor:
    def __init__(
        self,
        conn: sqlite3.Connection,
        reader: sqlite3.Connection | None = None,
        pool_reader: sqlite3.Connection | None = None,
    ) -> None:
        self._conn = conn
        #: A second connection for tiny point reads on the event loop thread itself (a
        #: primary-key lookup costs microseconds; a hop to the database thread costs a
        #: context switch). WAL readers never block on, or see half of, a write.
        self._reader = reader
        #: A third one for the reads :meth:`read` runs on the database thread (rendering
        #: a receipt, listing, exporting): they see committed data only and never hold
        #: up a relaxed write running on the loop thread meanwhile.
        self._pool_reader = pool_reader
        #: store.open_sale_sync = "normal": open-sale edits commit without fsync
        self.relaxed_edits = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posd-db")
        self._lock = threading.Lock()
        #: the writer connection's synchronous mode: FULL (True) or NORMAL (relaxed edits)
        self._sync_full = True
        self._flusher: WalFlusher | None = None
        #: syncs the WAL on request only (make_durable with relaxed edits, no flusher)
        self._on_request: WalFlusher | None = None
        # the file SQLite opened (a symlinked database keeps its WAL beside the target);
        # read once here: later the connection may be in a transaction on another thread
        self._wal_path = f"{conn.execute('PRAGMA database_list').fetchone()[2]}-wal"
        self._speculation: Speculation[Any] | None = None

    def flush_relaxed_when_quiet(self, quiet_s: float) -> None:
        """Makes relaxed commits durable in the background once the writer has been quiet
        for ``quiet_s`` (see :class:`WalFlusher`). Call on the event loop, before serving."""
        self._flusher = WalFlusher(self._wal_path, quiet_s, asyncio.get_running_loop())

    async def make_durable(self) -> None:
        """Returns once every commit that ended before the call is durable against power
        loss; for a step that must be on disk before something outside the database
        happens (a print's in-flight mark before its bytes go to the printer). On the loop.

        Takes no SQLite lock, so it never holds up the writer (the next sale's edits go
        on meanwhile): a relaxed commit is made durable by an fdatasync of the WAL on the
        flusher's own thread (:meth:`WalFlusher.sync_now`; requests made together share
        one). Without relaxed edits every commit was fsync'd already: nothing to do.
        Raises OSError when the sync failed (an fsync'd commit is the fallback)."""
        if not self.relaxed_edits:
            return
        syncer = self._flusher
        if syncer is None:  # store.open_sale_flush_ms = 0: no background flush
            if self._on_request is None:
                loop = asyncio.get_running_loop()
                self._on_request = WalFlusher(self._wal_path, None, loop)
            syncer = self._on_request
        await syncer.sync_now()

    def speculate(
        self, key: str, fn: Callable[[Tx, Speculation[C]], T], ttl_s: float
    ) -> Speculation[C]:
        """Runs ``fn`` ahead in a transaction on the database thread (see
        :class:`Speculation`); abandoned when not claimed within ``ttl_s``. On the loop."""
        self.abandon_speculation()
        loop = asyncio.get_running_loop()
        spec: Speculation[C] = Speculation(key)
        work = functools.partial(self.write_sync, lambda tx: fn(tx, spec))
        spec.result = loop.run_in_executor(self._pool, work)
        spec.result.add_done_callback(_retrieve)
        loop.call_later(ttl_s, spec.abandon)
        self._speculation = spec
        return spec

    def claim_speculation(self, key: str, make: Callable[[Any], Any]) -> Speculation[Any] | None:
        """The speculation for ``key``, now claimed (see :meth:`Speculation.claim`);
        None: there is none."""
        spec = self._speculation
        if spec is None or spec.key != key:
            return None
        self._speculation = None
        return spec if spec.claim(make) else None

    def parked_offer(self, key: str) -> Any:
        """What the speculation for ``key`` offered, while it is parked and claimable
        (see :meth:`Speculation.offered`); None: there is none. On the loop."""
        spec = self._speculation
        return None if spec is None or spec.key != key else spec.offered()

    async def _make_way(self, background: bool) -> None:
        """Before work on the database thread: a parked speculation is abandoned (it
        holds the thread), or for background work waited for a little first."""
        spec = self._speculation
        if spec is None:
            return
        if background and spec.result is not None:
            # claimed and committed meanwhile, or abandoned; then the answer of the call
            # that claimed it goes out first
            await asyncio.wait([spec.result], timeout=BACKGROUND_WAIT_S)
            await asyncio.sleep(AFTER_SPECULATION_S)
        if self._speculation is spec:
            self.abandon_speculation()

    @property
    def speculating(self) -> bool:
        """A speculation runs or is parked (work that may wait should, see :meth:`write`)."""
        return self._speculation is not None

    def abandon_speculation(self) -> None:
        spec, self._speculation = self._speculation, None
        if spec is not None:
            spec.abandon()

    async def read(self, fn: Callable[[sqlite3.Connection], T], *, background: bool = False) -> T:
        """Runs ``fn`` on the database thread, after every write queued before it.
        ``background``: see :meth:`write`."""
        await self._make_way(background)
        loop = asyncio.get_running_loop()
        if self._pool_reader is not None:
            return await loop.run_in_executor(self._pool, fn, self._pool_reader)
        # on the writer's connection only under the lock: a relaxed write may run on the
        # loop thread meanwhile, and a read must neither interleave with it nor see it
        # uncommitted
        return await loop.run_in_executor(self._pool, self.read_sync, fn)

    def read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs a small read on the calling (event loop) thread. Committed data only."""
        if self._reader is None:
            self.abandon_speculation()  # it holds the lock read_sync needs
            return self.read_sync(fn)
        return fn(self._reader)

    async def write(
        self, fn: Callable[[Tx], T], *, durable: bool = True, background: bool = False
    ) -> T:
        """Runs ``fn`` in one transaction on the database thread. ``background``: work
        that may wait a little (the outbox's printing and bookkeeping): it gives a parked
        speculation up to BACKGROUND_WAIT_S to be claimed before abandoning it."""
        await self._make_way(background)
        loop = asyncio.get_running_loop()
        if durable or not self.relaxed_edits:
            return await loop.run_in_executor(self._pool, self.write_sync, fn)
        # A relaxed commit (no fsync) takes well under a millisecond: run it right here
        # when the database thread is idle, saving two thread switches; else queue it.
        if self._lock.acquire(blocking=False):
            try:
                return self._relaxed_locked(fn)
            finally:
                self._lock.release()
        return await loop.run_in_executor(self._pool, self._write_relaxed, fn)

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        """Runs ``fn`` in one transaction (call only on the database thread or before start).

        The commit is fsync'd (``synchronous=FULL``): durable against power loss."""
        with self._lock:
            if not self._sync_full:
                self._conn.execute("PRAGMA synchronous = FULL")
                self._sync_full = True
            tx = Tx(self._conn, durable=True)
            changes = self._conn.total_changes
            with transaction(self._conn):
                result = fn(tx)
                tx.finish()
            # SQLite fsyncs a commit that wrote something; that covers every relaxed one
            if self._flusher is not None and self._conn.total_changes != changes:
                self._flusher.synced()
            for hook in tx._after:
                hook()
            return result

    def _write_relaxed(self, fn: Callable[[Tx], T]) -> T:
        """One transaction committed without fsync (``synchronous=NORMAL`` in WAL mode).

        Survives any crash of the process (the WAL is in the OS page cache); only a
        power loss before the next fsync'd commit can undo it. The next durable commit
        fsyncs the WAL and so makes every earlier relaxed commit durable too. Used only
        for edits of open sales when ``store.open_sale_sync = "normal"``."""
        if not self.relaxed_edits:
            return self.write_sync(fn)
        with self._lock:
            return self._relaxed_locked(fn)

    def _relaxed_locked(self, fn: Callable[[Tx], T]) -> T:
        # the connection stays at NORMAL until the next durable write switches it back
        # (one statement per change of kind, not two per edit)
        if self._sync_full:
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._sync_full = False
        tx = Tx(self._conn)
        with transaction(self._conn):
            result = fn(tx)
            tx.finish()
        if self._flusher is not None:
            self._flusher.unsynced()
        for hook in tx._after:
            hook()
        return result

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return fn(self._conn)

    def close(self) -> None:
        self.abandon_speculation()
        self._pool.shutdown(wait=True)
        for flusher in (self._flusher, self._on_request):
            if flusher is not None:
                flusher.close()
        # the writer last: SQLite's last connection to close checkpoints the WAL and
        # removes it (a read-only one cannot), so a stopped register leaves one file
        if self._reader is not None:
            self._reader.close()
        if self._pool_reader is not None:
            self._pool_reader.close()
        self._conn.close()


class WalFlusher:
    """Group commit for relaxed edits: once no relaxed commit has come for ``quiet_s``,
    one ``fdatasync`` of the WAL on a thread of its own makes them all durable.

    A relaxed commit (an open-sale edit) skips the fsync so that a burst of scans never
    waits for the disk; without this a power loss could take back every edit since the
    last fsync'd commit, possibly minutes of a slow sale. With it, an edit is on disk
    ``quiet_s`` after the burst it belongs to ends (at the latest ``MAX_DELAY_QUIETS``
    times that after it, should edits never pause), and the next fsync'd commit (the
    post) no longer writes those edits' frames back itself (measured: its COMMIT
    0.65 -> 0.45 ms after a 50 ms pause).

    The deadline is a timer on the event loop, re-armed only when it fires, so a burst
    costs no thread wake-up: waking a thread per edit (or syncing per edit) made
    back-to-back edits 0.2-0.4 ms slower each on a 2-core machine. The WAL is synced
    through a descriptor of its own, which needs no SQLite lock and never blocks a
    writer (fdatasync covers the whole file; SQLite syncs the WAL header itself when it
    restarts the log). A commit that SQLite fsync'd (a durable one that changed rows)
    cancels a pending flush; closing runs it at once.

    :meth:`sync_now` flushes on request, on the same thread: for the commit that must be
    on disk before something outside happens. ``quiet_s`` None: only on request (its
    owner tells it of no commit; one it was told of anyway is left to sync_now)."""

    #: the longest a relaxed edit waits for its flush, in quiet times
    MAX_DELAY_QUIETS = 20

    def __init__(
        self, wal_path: str, quiet_s: float | None, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._path = wal_path
        self._quiet_s = quiet_s
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._lock = threading.Lock()
        #: monotonic times of the oldest and the newest relaxed commit no fsync has
        #: covered yet (0: none)
        self._first = 0.0
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posd-walsync")
        #: the outcome of the requested flush queued and not yet begun (see sync_now)
        self._asked: asyncio.Future[None] | None = None
        #: flushes done (observability, tests)
        self.flushes = 0

    def unsynced(self) -> None:
        """A relaxed commit happened (any thread): flush once the writer is quiet."""
        with self._lock:
            self._last = time.monotonic()
            self._first = self._first or self._last
            armed = self._timer is not None or self._closed
        if armed:
            return  # the timer finds the newer deadline when it fires
        if threading.get_ident() == self._loop_thread:
            self._arm()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: stopping
                self._loop.call_soon_threadsafe(self._arm)

    def synced(self) -> None:
        """SQLite fsync'd the WAL with a commit (any thread): nothing is left to flush."""
        with self._lock:
            self._first = self._last = 0.0

    async def sync_now(self) -> None:
        """Returns once an fdatasync of the WAL that began after this call has ended: every
        commit made before the call is then durable. On the loop.

        A flush begun earlier is not enough (it may have begun before the commit the
        caller is about); requests made before the next flush begins all share it, so a
        burst of them costs one sync at most after the one under way. Raises OSError
        when the sync failed, RuntimeError once closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the WAL flusher is closed")
            asked = self._asked
            if asked is None:
                asked = self._asked = self._loop.create_future()
                # a failure whose waiters were all cancelled (the daemon stopping) is
                # no "exception never retrieved" for the loop's error handler
                asked.add_done_callback(_retrieve)
                # a request's flush runs behind a flush under way (one thread)
                self._pool.submit(self._flush_asked)
        # shielded: one waiter given up (cancelled) must not cancel the others' outcome
        await asyncio.shield(asked)

    def _flush_asked(self) -> None:
        """On the flusher's thread: the flush the requests queued so far wait for."""
        with self._lock:
            # taken before the sync begins: a request from now on needs a flush of its
            # own; relaxed commits so far are covered, a background one is not needed
            asked, self._asked = self._asked, None
            self._first = self._last = 0.0
        error = self._flush()
        if asked is None:
            return

        def settle() -> None:
            if asked.done():
                return
            if error is None:
                asked.set_result(None)
            else:
                asked.set_exception(error)

        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            self._loop.call_soon_threadsafe(settle)

    def close(self) -> None:
        """Runs a pending flush now and stops (call on the loop, after the last write)."""
        with self._lock:
            self._closed = True
            pending = self._last != 0.0
            self._first = self._last = 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pool.shutdown(wait=True)  # a flush under way ends first
        if pending:
            self._flush()

    def _due(self) -> float:
        """When the pending flush is due (0: none pending). Under the lock."""
        if not self._last or self._quiet_s is None:
            return 0.0
        return min(self._last + self._quiet_s, self._first + self.MAX_DELAY_QUIETS * self._quiet_s)

    def _arm(self) -> None:
        if self._timer is None:
            self._fire()  # not due yet: it sets the timer

    def _fire(self) -> None:
        """On the loop: flushes if due, else waits until it is (the loop's clock is
        time.monotonic(), the clock of the commit times)."""
        self._timer = None
        with self._lock:
            due = 0.0 if self._closed else self._due()
            if not due:
                return  # a commit SQLite fsync'd came first
            if time.monotonic() < due:
                self._timer = self._loop.call_at(due, self._fire)
                return
            self._first = self._last = 0.0
        with contextlib.suppress(RuntimeError):  # shut down: the daemon is stopping
            self._pool.submit(self._flush)

    def _flush(self) -> OSError | None:
        """One fdatasync of the WAL; its error (logged), None when it succeeded."""
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None  # no WAL (yet, or any more): nothing to make durable
            log.warning("wal_flush_failed", path=self._path, error=str(exc))
            return exc
        try:
            os.fdatasync(fd)
            self.flushes += 1
            return None
        except OSError as exc:  # the next fsync'd commit syncs the WAL itself
            log.warning("wal_flush_failed", path=self._path, error=str(exc))
            return exc
        finally:
            os.close(fd)
