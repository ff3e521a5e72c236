"""What every RPC shares: authentication, idempotency, error mapping, logs and metrics."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from posd_daemon.api.errors import internal_status, store_error, to_status
from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.operators import Operator
from posd_daemon.domain.text import check_code
from posd_daemon.ops import logging as plog
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services import idempotency
from posd_daemon.services.auth import Authenticator, LoginRefused, unauthenticated
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import DbExecutor, Tx
from posd_daemon.store import idempotency as idempotency_store

T = TypeVar("T")
M = TypeVar("M", bound=Message)

log = plog.get("posd.rpc")

#: session tokens cached in memory at most (each resolved once from the store)
MAX_CACHED_SESSIONS = 256

#: Mutations that only edit an OPEN sale (no receipt number, no money in the drawer, no
#: journal or TSE record). With ``store.open_sale_sync = "normal"`` they commit without
#: fsync; everything else (posting, cancelling, cash, closings, master data) always
#: commits with fsync.
OPEN_SALE_EDITS = frozenset(
    {
        "CreateSale",
        "AddLine",
        "UpdateLine",
        "AddPayment",
        "UpdatePayment",
        "SplitCardPayment",
        "Scan",
        "SetCustomer",
        "SetCurrency",
        "SetPickupDate",
    }
)

Context = grpc.aio.ServicerContext[Any, Any]

#: The calls whose answer the cashier waits for at the counter (the drawer, the receipt):
#: the work they set off that nobody waits for (the customer display's change, the event
#: bus, the call's log line) is held this long after the answer, so that it does not
#: compete with the client for the CPU while the answer is on its way (as the print job
#: is, outbox_worker.PRINT_DEFER_S). Measured on 2 cores: PostSale's answer 0.2 ms sooner
#: at the client. Not for edits: back to back, held work only lands on the next call.
ANSWER_FIRST_S = {"PostSale": 0.003}


def bearer_token(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""


def has_authorization(context: Context) -> bool:
    """Whether the call carries authorization metadata at all (of whatever form)."""
    return any(key == "authorization" for key, _ in context.invocation_metadata() or ())


def request_digest(request: Message) -> str:
    """SHA-256 of the request without its request_id (deterministic serialisation)."""
    copy = type(request)()
    copy.CopyFrom(request)
    if hasattr(copy, "request_id"):
        copy.ClearField("request_id")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


class AfterAnswer:
    """Work that follows answers, run on the loop in the order it was queued: soon, or
    held a little (ANSWER_FIRST_S). What is queued behind held work waits for it, so the
    customer display and the event bus never see a sale's events out of order. An error
    of one piece is logged and the rest still runs. Only on the event loop's thread."""

    def __init__(self) -> None:
        self._queue: deque[Callable[[], None]] = deque()
        self._due = 0.0
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None

    def add(self, fn: Callable[[], None], hold_s: float = 0.0) -> None:
        self._queue.append(fn)
        loop = asyncio.get_running_loop()
        if hold_s > 0:
            due = loop.time() + hold_s
            if due > self._due:
                self._due = due
                if self._handle is not None:
                    self._handle.cancel()
                self._handle = loop.call_at(due, self._run)
        elif self._handle is None:
            self._handle = loop.call_soon(self._run)

    def _run(self) -> None:
        self._handle = None
        self._due = 0.0
        queue = self._queue
        while queue:
            fn = queue.popleft()
            try:
                fn()
            except Exception:
                log.exception("after_answer_failed")


class Runtime:
    def __init__(self, db: DbExecutor, auth: Authenticator, metrics: Metrics, clock: Clock) -> None:
        self.db = db
        self.auth = auth
        self.metrics = metrics
        self.clock = clock
        self._sessions: dict[str, tuple[Operator, float]] = {}
        #: counts log-outs (forget_session): a lookup that a log-out overtook caches nothing
        self._logouts = 0
        self._metric_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._started_children: dict[str, Any] = {}
        #: request_id -> None while a call with it runs, or the future its repeats wait on
        self._in_flight: dict[str, asyncio.Future[None] | None] = {}
        self._after = AfterAnswer()

    async def operator(self, context: Context) -> Operator:
        token = bearer_token(context)
        cached = self._sessions.get(token)
        now = self.clock().timestamp()  # the clock the session's expiry was set by
        if cached is not None and cached[1] > now:
            return cached[0]
        if cached is not None:
            self._sessions.pop(token, None)
        if not token:
            if has_authorization(context):
                # a bare token or another scheme: "log in first" would send a client that
                # has just logged in looking for the wrong fault
                raise unauthenticated("authorization metadata must be 'Bearer <token>'")
            raise unauthenticated("missing session token: log in first")
        logouts = self._logouts
        op, expires = await self.db.read(lambda c: self.auth.resolve(c, token))
        if logouts != self._logouts:
            # A log-out cleared the cache while this lookup, queued before its delete,
            # was on its way back: caching the token now would keep it working until it
            # expired. This call began before the log-out and may finish; the next looks
            # the token up again.
            return op
        if len(self._sessions) >= MAX_CACHED_SESSIONS:
            # sessions that expired without a logout (shift changes, UI restarts) go;
            # should that not do, the oldest cached (the store stays the authority)
            for key in [k for k, (_, until) in self._sessions.items() if until <= now]:
                del self._sessions[key]
            while len(self._sessions) >= MAX_CACHED_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
        self._sessions[token] = (op, expires.timestamp())
        return op

    def _children(self, method: str, code: str) -> tuple[Any, Any]:
        """The RPC's labelled counter and histogram, looked up once per method and code."""
        key = (method, code)
        children = self._metric_children.get(key)
        if children is None:
            children = (
                self.metrics.rpc_total.labels(method, code),
                self.metrics.rpc_seconds.labels(method),
            )
            self._metric_children[key] = children
        return children

    def _started(self, method: str) -> Any:
        """The RPC's started counter, looked up once per method (as :meth:`_children`)."""
        child = self._started_children.get(method)
        if child is None:
            child = self._started_children[method] = self.metrics.rpc_started.labels(method)
        return child

    def audit_login_refused(self, refused: LoginRefused, peer: str) -> None:
        """The audit trail of a refused log-in: a warning naming the operator id tried and
        the peer (never the PIN), one more when it began a lock-out, and the metrics."""
        fields: dict[str, object] = {
            "operator_id": refused.operator_id,
            "peer": peer,
            "known_operator": refused.known,
            "failures": refused.failures,
        }
        if refused.locked:
            self.metrics.login_failures.labels("locked").inc()
            log.warning("login_refused_locked", **fields)
            return
        self.metrics.login_failures.labels("wrong_pin").inc()
        log.warning("login_failed", **fields)
        if refused.locked_out:
            self.metrics.login_lockouts.inc()
            log.warning("login_locked_out", **fields, lock_seconds=refused.lock_seconds)

    def forget_session(self, token: str) -> None:
        self._logouts += 1
        self._sessions.pop(token, None)

    async def answered(self, method: str, request: Message, response_type: type[M]) -> M | None:
        """The stored first answer when this request_id was already handled, else None.

        Lets a retried PostSale return its answer without touching the TSE again. A
        malformed request_id, or one used before for a different request, is refused
        here as mutate() would refuse it: callers do work outside the transaction before
        they reach mutate() (CancelSale finishes the TSE transaction, CreateSale removes
        empty sales, PurgeSales purges), and a refused call must not have done any."""
        request_id = check_code(str(getattr(request, "request_id", "")), "request_id")
        digest = request_digest(request)
        seen = self.db.read_now(lambda c: idempotency_store.lookup(c, request_id))
        if seen is None:
            return None
        idempotency.refuse_reuse(seen, method=method, request_id=request_id, digest=digest)
        return response_type.FromString(seen[2])

    async def mutate(
        self,
        method: str,
        request: Message,
        action: Callable[[Tx], T],
        encode: Callable[[T], M],
        response_type: type[M],
    ) -> M:
        request_id = str(getattr(request, "request_id", ""))
        digest = request_digest(request)

        built: list[M] = []

        def encoded(result: T) -> bytes:
            message = encode(result)
            built.append(message)
            return message.SerializeToString(deterministic=True)

        def work(tx: Tx) -> bytes:
            built.clear()
            return idempotency.run(
                tx,
                method=method,
                request_id=request_id,
                digest=digest,
                now=self.clock(),
                action=action,
                encode=encoded,
            )

        raw = await self.db.write(work, durable=method not in OPEN_SALE_EDITS)
        # a fresh answer is returned as built; a repeat is decoded from its stored bytes
        return built[0] if built else response_type.FromString(raw)

    async def _after_first(self, request_id: str, context: Context) -> None:
        """Waits while a call with the same request_id runs (a client's retry that came
        before the first answer, or several clients sending one request): then the
        repeat takes the usual path, whose idempotency lookup gives the first answer (or
        refuses a different request with REQUEST_ID_REUSED), instead of running into the
        first call's work in progress (SALE_BEING_POSTED). Bounded by the call's deadline.
        """
        loop = asyncio.get_running_loop()
        deadline = None
        remaining = context.time_remaining()
        if remaining is not None:
            deadline = loop.time() + remaining
        while request_id in self._in_flight:
            waiter = self._in_flight[request_id]
            if waiter is None:
                waiter = self._in_flight[request_id] = loop.create_future()
            timeout = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except TimeoutError:
                raise DomainError(
                    ErrorKind.UNAVAILABLE,
                    "REQUEST_IN_PROGRESS",
                    f"a call with request_id {request_id[:64]!r} is still running: retry"
                    " with the same request_id for its answer",
                ) from None

    def _done(self, request_id: str) -> None:
        waiter = self._in_flight.pop(request_id, None)
        if waiter is not None:
            waiter.set_result(None)

    def after_answer(self, fn: Callable[[], None], method: str = "") -> None:
        """Runs ``fn`` on the loop after the answer of the call being handled (see
        :class:`AfterAnswer`), held ANSWER_FIRST_S[method] when the call is one of those."""
        self._after.add(fn, ANSWER_FIRST_S.get(method, 0.0))

    def _summary(
        self,
        method: str,
        request_id: str,
        code: str,
        reason: str,
        elapsed: float,
        *,
        now: bool = False,
    ) -> None:
        """The call's metrics and its one log line: right after the answer went out (not
        before it), or ``now`` when no answer goes out (a cancelled call)."""
        counter, histogram = self._children(method, code)
        counter.inc()
        histogram.observe(elapsed)
        line = functools.partial(
            log.info,
            "rpc",
            method=method,
            request_id=request_id,
            status=code,
            reason=reason or None,
            duration_ms=round(elapsed * 1000, 3),
        )
        if now:
            line()
        else:
            self.after_answer(line, method)

    async def call(
        self,
        context: Context,
        method: str,
        request: Message,
        handler: Callable[[], Awaitable[M]],
    ) -> M:
        """Runs one RPC: logs one summary line, records metrics, maps errors."""
        start = time.perf_counter()
        # counted as it starts (its end is counted in _summary, whatever the outcome):
        # the difference is the calls in flight, what a graceful stop still waits for
        self._started(method).inc()
        request_id = str(getattr(request, "request_id", ""))
        status: grpc.Status | None = None
        reason = ""
        try:
            if request_id:
                if request_id in self._in_flight:
                    await self._after_first(request_id, context)
                self._in_flight[request_id] = None
                try:
                    response = await handler()
                finally:
                    self._done(request_id)
            else:
                response = await handler()
        except asyncio.CancelledError:
            # the client went away or its deadline passed (gRPC cancels the handler): no
            # answer goes out, but the call still gets its summary line and its metric
            remaining = context.time_remaining()
            expired = remaining is not None and remaining <= 0
            self._summary(
                method,
                request_id,
                "DEADLINE_EXCEEDED" if expired else "CANCELLED",
                "",
                time.perf_counter() - start,
                now=True,
            )
            raise
        except DomainError as exc:
            status = to_status(exc)
            reason = exc.reason
        except Exception as exc:
            mapped = store_error(exc)
            if mapped is not None:
                log.error("rpc_failed", method=method, request_id=request_id, error=str(exc))
                status = to_status(mapped)
                reason = mapped.reason
            else:
                log.exception("rpc_failed", method=method, request_id=request_id)
                status = internal_status(f"internal error in {method}; see the daemon log")
                reason = "INTERNAL"
        code = "OK" if status is None else status.code.name
        self._summary(method, request_id, code, reason, time.perf_counter() - start)
        if status is not None:
            await context.abort(status.code, status.details, status.trailing_metadata)
            raise AssertionError("abort returned")  # pragma: no cover
        return response
