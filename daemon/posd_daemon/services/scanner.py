"""Where a scanned code goes.

* To the register's active sale (the open sale the UI worked on last; a parked, handed-over,
  posted or cancelled sale is no longer active): the code is resolved by the same use
  case as the ``Scan`` RPC (``SaleCommands.scan``, one transaction, the same order:
  customer number, barcode (a UPC-E also as its UPC-A), an in-store price/weight label
  (``instore_codes``), lot, serial, item number, shop discount code, vendor), the
  TSE transaction starts in the background when a line was added, and the same sale
  event as for ``Scan`` follows, so the customer display and every UI update. When the
  cashier must choose (several items, variants, a vendor's list) nothing changes and
  the ``ScanData`` event carries the choice as its reason and the candidates (a
  :class:`ScanChoiceData`), so the UI lists them without asking ``Scan`` again.
* To the UI as a ``ScanData`` event when no sale is open, when ``scanner.route`` is
  "event", or while a UI subscribed with ``handle_scans`` (it wants to handle scans
  itself, e.g. in a search field). A parking slip scanned with no sale open is such an
  event too (README, Devices): the UI resumes it with ``ResumeSale(code)``, as the
  operator who takes it up.
* To an interactive health check waiting for a scan (``posctl test scan``).

Scans are handled one at a time, in the order they were read.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from posd_daemon.devices.model import ScanData
from posd_daemon.devices.scanning import Code
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.sale import SaleState
from posd_daemon.ops import logging as plog
from posd_daemon.services.auth import Authenticator
from posd_daemon.services.events import Event, EventBus, SaleChanged, sale_changed
from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.sales import Candidate, SaleCommands, ScanChoice, ScanResult
from posd_daemon.store import sales as sale_store

log = plog.get("posd.scanner")


#: What SaleCommands.check_not_posting refuses a change of a sale with while its TSE
#: transaction is being finished (posted, cancelled, handed over to another register)
_BEING_FINISHED = frozenset(("SALE_BEING_POSTED", "SALE_BEING_CANCELLED", "SALE_BEING_HANDED_OVER"))


@dataclass(frozen=True, slots=True)
class ScanChoiceData(ScanData):
    """A scan into the sale that needs the cashier to choose (its ``error_reason`` says
    which choice): what to choose from, as the Scan use case found it, priced in the
    sale's ``currency``. Nothing was added."""

    candidates: tuple[Candidate, ...] = ()
    currency: str = ""


@dataclass(frozen=True, slots=True)
class ActiveSale:
    sale_id: str
    operator_id: str


def newest_open_sale(conn: sqlite3.Connection) -> ActiveSale | None:
    """The active sale at the daemon's start: the open sale changed last (the one the
    cashier worked on, not the one created last). A storno left open (its post failed)
    is never active: it refuses every scan (REVERSAL_NOT_EDITABLE), the code belongs to
    the UI."""
    sale = sale_store.last_changed_open_sale(conn)
    if sale is None:
        return None
    return ActiveSale(sale.sale_id, sale.operator_id)


class ScanRouter:
    def __init__(
        self,
        bus: EventBus,
        db: DbExecutor,
        sales: SaleCommands,
        auth: Authenticator,
        start_tse: Callable[[str], None],
        *,
        route: str = "sale",
        after: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.bus = bus
        #: how its events go out: through the queue the API's answers publish by
        #: (``Runtime.after_answer``), so a scan's line never reaches the UIs and the
        #: customer display before a UI's earlier change of the same sale (whose event
        #: waits there, held behind a PostSale's answer); None: at once
        self._after = after
        self.db = db
        self.sales = sales
        self.auth = auth
        self.start_tse = start_tse
        self.route = route
        self.active: ActiveSale | None = None
        #: Subscribers that asked to handle scans themselves.
        self.ui_claims = 0
        self._captures: dict[str, asyncio.Future[Code]] = {}
        self._queue: asyncio.Queue[tuple[str, Code]] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.bus.add_listener(self.on_event)
        self.active = await self.db.read(newest_open_sale)
        self._task = asyncio.create_task(self._consume(), name="scan-router")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- input (device threads) ---------------------------------------------------------

    def on_code(self, device_id: str, code: Code) -> None:
        """Thread-safe: called by a scanner's reader thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._queue.put_nowait, (device_id, code))

    # -- the active sale ------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        e = event.payload
        if not isinstance(e, SaleChanged):
            return
        # a parked or handed-over sale is no longer the one being worked on: the next
        # customer's first scan must reach the UI, not be refused by the parked sale
        # nor is a sale whose event says it is not open (whatever the event's kind): the
        # next scan would be refused by it instead of reaching the UI
        finished = e.kind in ("posted", "cancelled", "parked", "transferred")
        if finished or e.state != SaleState.OPEN.value:
            if self.active is not None and self.active.sale_id == e.sale_id:
                self.active = None
        else:
            self.active = ActiveSale(e.sale_id, e.operator_id)

    # -- interactive checks ---------------------------------------------------------------

    async def capture_next(self, device_id: str, wait_s: float) -> Code | None:
        """The next code from ``device_id`` (it does not go to the sale), or None."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Code] = loop.create_future()
        self._captures[device_id] = future
        try:
            return await asyncio.wait_for(future, wait_s)
        except TimeoutError:
            return None
        finally:
            if self._captures.get(device_id) is future:
                del self._captures[device_id]

    # -- routing ----------------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            device_id, code = await self._queue.get()
            try:
                await self.route_code(device_id, code)
            except Exception:
                log.exception("scan_routing_failed", device=device_id)

    async def route_code(self, device_id: str, code: Code) -> ScanData:
        capture = self._captures.get(device_id)
        if capture is not None and not capture.done():
            capture.set_result(code)
            return self._publish(device_id, code, "health_check")
        active = self.active
        if self.route == "event" or self.ui_claims > 0 or active is None:
            return self._publish(device_id, code, "ui")
        operator = self.auth.operator(active.operator_id)
        if operator is None:
            return self._publish(device_id, code, "ui")
        sale_id = active.sale_id
        try:
            # the Scan RPC's use case, so a code means the same from the scanner as typed
            # into the UI: customer card, barcode, lot, serial, item number, coupon, vendor
            result: ScanResult = await self.db.write(
                lambda tx: self.sales.scan(tx, operator, sale_id, code.code)
            )
        except DomainError as exc:
            # the sale was posted, cancelled or handed over and its event has not come
            # yet (it follows the call's answer), or it is being finished right now (the
            # TSE signing its receipt): the code is the next customer's, for the UI, not
            # refused by a finished sale and lost
            state = await self.db.read(lambda c: sale_store.state_of(c, sale_id))
            if state is not SaleState.OPEN or exc.reason in _BEING_FINISHED:
                # a sale still open stays active: should its post fail, the cashier
                # scans on into it
                finished = state is not SaleState.OPEN
                if finished and self.active is not None and self.active.sale_id == sale_id:
                    self.active = None
                return self._publish(device_id, code, "ui")
            log.info("scan_not_added", device=device_id, code=code.code, reason=exc.reason)
            return self._publish(device_id, code, "sale", sale_id, exc.reason, exc.message)
        if result.choice is not ScanChoice.NONE:
            # nothing changed; the event lists what to choose from (the choice as the
            # reason says which list), the same candidates as the Scan RPC's answer
            message = f"code {code.code!r}: choose one of {len(result.candidates)} candidates"
            choice = ScanChoiceData(
                device_id,
                code.code,
                code.symbology,
                "sale",
                sale_id,
                result.choice.value,
                message,
                result.candidates,
                result.sale.currency,
            )
            self._emit(lambda: self.bus.publish(choice, choice.device_id))
            return choice
        # the same events as the Scan RPC: a line starts the TSE transaction
        if result.line_id:
            self.start_tse(sale_id)
            kind = "line_added"
        else:
            kind = "line_updated"
        event = sale_changed(kind, result.sale, operator.operator_id, result.line_id)
        self._emit(lambda: self.bus.publish(event))
        return self._publish(device_id, code, "sale", sale_id)

    def _publish(self, device_id: str, code: Code, routed: str, *rest: str) -> ScanData:
        """Publishes where the scan went (``routed``; for a sale: its id, and a reason and
        message when nothing changed) as a ScanData event."""
        data = ScanData(device_id, code.code, code.symbology, routed, *rest)
        self._emit(lambda: self.bus.publish(data, data.device_id))
        return data

    def _emit(self, publish: Callable[[], object]) -> None:
        if self._after is None:
            publish()
        else:

            def run() -> None:
                publish()

            self._after(run)
