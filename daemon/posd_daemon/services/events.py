"""The in-process event bus: device and sale events with sequence numbers.

* ``publish`` is thread-safe and never blocks: device worker threads publish too. Each
  event gets the next sequence number (per daemon start, ``boot_id`` tells starts apart)
  and is kept in a bounded replay window.
* In-process listeners (the customer display, the scanner router) run on the event loop,
  in sequence order, right after the event is published.
* Subscribers (``SubscribeEvents`` streams) each have a bounded queue. A subscriber that
  falls behind by more than its queue never slows anybody down: it is cut off with
  :class:`SubscriberTooSlow` naming the last sequence it got, and can resume from the
  replay window.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from posd_daemon.domain.sale import Sale, format_quantity
from posd_daemon.ops import logging as plog

log = plog.get("posd.events")

#: Events kept for a resuming subscriber: a sale makes about 13 (its changes and the
#: display's), so about 80 sales; a busy register's hour. Each costs about 0.5 KB of
#: memory for good (4096 measured +1.6 MB of idle RSS against 1024).
DEFAULT_REPLAY = 1024
DEFAULT_QUEUE = 1024


@dataclass(frozen=True, slots=True)
class Event:
    sequence: int
    time: datetime
    #: What happened: a payload dataclass (``devices.model``, :class:`SaleChanged`,
    #: ``services.display.DisplayContent``).
    payload: object
    #: The device the event is about ("" for sale events).
    device_id: str = ""


@dataclass(frozen=True, slots=True)
class SaleChanged:
    """A sale changed through the API or a scan (published after the commit)."""

    #: created, line_added, line_updated, line_removed, payment_added, payment_removed,
    #: posted, cancelled
    kind: str
    sale_id: str
    state: str
    operator_id: str
    currency: str
    total_minor: int
    paid_minor: int
    change_minor: int
    line_count: int
    receipt_number: int = 0
    line_id: str = ""
    line_name: str = ""
    line_quantity: str = ""
    line_unit: str = ""
    line_total_minor: int = 0
    #: the currency the change goes back in when it is not the sale's (foreign cash
    #: whose change is paid out in the local currency, set at the post), and that
    #: change as paid out (cash-rounded in that currency); "" and 0 otherwise
    change_currency: str = ""
    change_paid_minor: int = 0


SALE_KINDS = frozenset(
    (
        "created",
        "line_added",
        "line_updated",
        "line_removed",
        "payment_added",
        "payment_removed",
        "posted",
        "cancelled",
    )
)


def sale_changed(kind: str, sale: Sale, operator_id: str, line_id: str = "") -> SaleChanged:
    """The event for a domain sale (the scanner path; the API converts its protos)."""
    line = next((ln for ln in sale.lines if ln.line_id == line_id), None) if line_id else None
    return SaleChanged(
        kind=kind,
        sale_id=sale.sale_id,
        state=sale.state.value,
        operator_id=operator_id,
        currency=sale.currency,
        total_minor=sale.total,
        paid_minor=sum(p.amount for p in sale.payments),
        change_minor=sale.change,
        line_count=len(sale.lines),
        receipt_number=sale.receipt_number,
        line_id=line_id,
        line_name=line.name if line else "",
        line_quantity=format_quantity(line.quantity) if line else "",
        line_unit=line.unit if line else "",
        line_total_minor=line.total if line else 0,
        **change_paid_out(sale.currency, sale.change_currency, sale.change_local),
    )


def change_paid_out(currency: str, change_currency: str, change_local: int) -> dict[str, Any]:
    """The change fields of :class:`SaleChanged`: set only when the change goes back in
    another currency than the sale's (then ``change_minor`` is not what is handed over)."""
    if not change_currency or change_currency == currency:
        return {}
    return {"change_currency": change_currency, "change_paid_minor": change_local}


#: The device id TSE events carry (the TSE as ListDevices shows it).
TSE_DEVICE_ID = "tse"


@dataclass(frozen=True, slots=True)
class TseStateChanged:
    """The TSE failed (an outage opened) or is back (the outage ended); also published
    at the start with a TSE configured, so the bus always holds the TSE's state."""

    #: OK or OUTAGE
    state: str
    #: OUTAGE: the open outage (the number on every receipt now); OK: the outage that
    #: ended (0 at a start without one)
    outage_number: int = 0
    error_code: str = ""
    error_message: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    #: "" when not known
    tse_serial: str = ""


TSE_OK = "OK"
TSE_OUTAGE = "OUTAGE"


class SubscriberTooSlow(Exception):
    """A subscriber's queue overflowed; it got every event up to ``last_sequence``."""

    def __init__(self, last_sequence: int) -> None:
        super().__init__(
            f"subscriber too slow: events after sequence {last_sequence} were dropped; "
            f"resume with after_sequence={last_sequence}"
        )
        self.last_sequence = last_sequence


class BusClosed(Exception):
    """The daemon is stopping: the bus delivers nothing more, subscribers end."""


class Subscription:
    """One subscriber's view of the bus. Use on the event loop; ``close`` when done."""

    def __init__(
        self,
        bus: EventBus,
        maxsize: int,
        accept: Callable[[Event], bool] | None,
        *,
        lost: int,
    ) -> None:
        self._bus = bus
        self._maxsize = maxsize
        self._accept = accept
        self._items: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._overflow = False
        self._closed = False
        self._ended = False
        #: Events the subscriber asked for that had already left the replay window.
        self.lost = lost
        self.last_sequence = 0
        #: The latest TSE state event, for a subscriber that would not get it otherwise
        #: (see :meth:`EventBus.subscribe`); sent before the queued events.
        self.tse_state: Event | None = None

    def _offer(self, event: Event) -> bool:
        """Called under the bus lock. False when the subscriber has overflowed."""
        if self._overflow or self._closed:
            return False
        if self._accept is not None and not self._accept(event):
            return True
        if len(self._items) >= self._maxsize:
            self._overflow = True
            self._items.clear()
            return False
        self._items.append(event)
        return True

    def _notify(self) -> None:
        self._wake.set()

    async def get(self) -> list[Event]:
        """The next events (at least one), oldest first. Raises SubscriberTooSlow, and
        BusClosed once the daemon stops (events still queued are delivered first)."""
        while True:
            self._wake.clear()
            with self._bus._lock:
                if self._ended and not self._items:
                    raise BusClosed
                if self._overflow:
                    raise SubscriberTooSlow(self.last_sequence)
                if self._items:
                    batch = list(self._items)
                    self._items.clear()
                    self.last_sequence = batch[-1].sequence
                    return batch
            await self._wake.wait()

    def close(self) -> None:
        self._closed = True
        self._bus._unsubscribe(self)


Listener = Callable[[Event], None]


class EventBus:
    def __init__(
        self,
        *,
        replay: int = DEFAULT_REPLAY,
        queue_size: int = DEFAULT_QUEUE,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.boot_id = uuid.uuid4().hex[:16]
        self.queue_size = queue_size
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._sequence = 0
        self._ring: deque[Event] = deque(maxlen=replay)
        #: the latest TseStateChanged event: a state, not only a happening (an outage
        #: lasts hours, far longer than the replay window keeps its event)
        self._tse_state: Event | None = None
        self._subs: list[Subscription] = []
        self._listeners: list[Listener] = []
        self._pending: deque[Event] = deque()
        self._scheduled = False
        self._dispatching = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._closed = False

    # -- set-up -------------------------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver to listeners and subscribers on ``loop`` (call from that loop)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def add_listener(self, listener: Listener) -> None:
        """An in-process listener, called on the event loop for every event."""
        self._listeners.append(listener)

    @property
    def last_sequence(self) -> int:
        with self._lock:
            return self._sequence

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)

    # -- publishing ---------------------------------------------------------------------

    def publish(self, payload: object, device_id: str = "") -> Event:
        """Thread-safe, never blocks."""
        with self._lock:
            self._sequence += 1
            event = Event(self._sequence, self._clock(), payload, device_id)
            self._ring.append(event)
            if isinstance(payload, TseStateChanged):
                self._tse_state = event
            for sub in self._subs:
                sub._offer(event)
            self._pending.append(event)
            loop = self._loop
            if loop is None:
                # not bound yet (start-up): nothing can be listening
                self._pending.clear()
                return event
            on_loop = threading.get_ident() == self._loop_thread
            schedule = not on_loop and not self._scheduled
            if schedule:
                self._scheduled = True
        if on_loop:
            self._dispatch()
        elif schedule:
            with contextlib.suppress(RuntimeError):  # the loop closed: stopping
                loop.call_soon_threadsafe(self._dispatch)
        return event

    def _dispatch(self) -> None:
        if self._dispatching:
            return  # a listener published: the outer loop below picks it up
        self._dispatching = True
        try:
            while True:
                with self._lock:
                    self._scheduled = False
                    if not self._pending:
                        subs = list(self._subs)
                        break
                    event = self._pending.popleft()
                for listener in list(self._listeners):
                    try:
                        listener(event)
                    except Exception:
                        log.exception("event_listener_failed", sequence=event.sequence)
        finally:
            self._dispatching = False
        for sub in subs:
            sub._notify()

    # -- subscribing --------------------------------------------------------------------

    def subscribe(
        self,
        after_sequence: int | None = None,
        *,
        accept: Callable[[Event], bool] | None = None,
        maxsize: int | None = None,
    ) -> Subscription:
        """A subscription to events after ``after_sequence`` (None: only new ones).

        Events still in the replay window are queued at once; ``lost`` counts those that
        have already left it.

        ``tse_state`` is set to the latest TSE state event (if ``accept`` takes it) when
        the subscriber would not learn the TSE's state otherwise: a new subscriber while
        an outage is open (every receipt is marked: the cashier must see it at once,
        not at the outage's end), and a resuming one whose replay lacks the latest state
        event (it left the window) although it came after ``after_sequence``.
        """
        size = maxsize or self.queue_size
        with self._lock:
            replay: Iterable[Event] = ()
            lost = 0
            if after_sequence is not None and after_sequence < self._sequence:
                after = max(0, after_sequence)
                oldest = self._ring[0].sequence if self._ring else self._sequence + 1
                lost = max(0, oldest - after - 1)
                replay = [e for e in self._ring if e.sequence > after]
            sub = Subscription(self, max(size, len(list(replay)) + 1), accept, lost=lost)
            # what a cut-off names as its resume point until the first read: the one
            # asked for (0 too: after a restart the servicer replays from the start),
            # never beyond the newest event (a number from another start would make
            # the resume skip this start's events)
            sub.last_sequence = (
                self._sequence
                if after_sequence is None
                else min(max(0, after_sequence), self._sequence)
            )
            for event in replay:
                sub._offer(event)
            sub.tse_state = self._missed_tse_state(after_sequence, replay, accept)
            self._subs.append(sub)
            sub._ended = self._closed
        if sub._items or sub._ended:
            sub._notify()
        return sub

    def _missed_tse_state(
        self,
        after_sequence: int | None,
        replay: Iterable[Event],
        accept: Callable[[Event], bool] | None,
    ) -> Event | None:
        """Called under the lock: the TSE state event a new subscription is told first."""
        event = self._tse_state
        if event is None or (accept is not None and not accept(event)):
            return None
        if after_sequence is None:
            assert isinstance(event.payload, TseStateChanged)
            return event if event.payload.state == TSE_OUTAGE else None
        if event.sequence <= after_sequence or any(e is event for e in replay):
            return None  # seen already, or replayed in its place
        return event

    def close(self) -> None:
        """Ends every subscription (call on the event loop): at stop, an open event stream
        must not hold the daemon for the whole grace period."""
        with self._lock:
            self._closed = True
            subs = list(self._subs)
            for sub in subs:
                sub._ended = True
        for sub in subs:
            sub._notify()

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def replay_window(self) -> tuple[int, int]:
        """(oldest, newest) sequence still replayable; (0, 0) when empty."""
        with self._lock:
            if not self._ring:
                return (0, 0)
            return (self._ring[0].sequence, self._ring[-1].sequence)
