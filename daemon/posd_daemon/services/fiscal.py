"""Fiscal signing in the sale flow: the TSE gateway and the outage journal.

* The TSE transaction starts when a sale gets its first line, in the background, so
  scanning never waits for the TSE. PostSale then only needs "finish" + one commit.
* Every TSE call runs on one dedicated thread (a TSE is one serialised device) with a
  timeout. A failure or timeout opens an outage (AEAO zu §146a Nr. 7): selling goes on,
  receipts are marked with the outage number, a probe retries the TSE in the background
  and closes the outage on recovery with a recovery receipt listing the affected ones.
* The TSE export (minutes) runs on a thread of its own beside those calls, one export at
  a time: selling never waits for it (:meth:`FiscalGateway.export`).
* Crash reconciliation at start-up: a sale whose TSE transaction was finished but whose
  post was not committed is completed (re-finishing is idempotent and returns the stored
  signature), only if its post is allowed (``Sale.check_postable``): a sale its post
  refuses is not asked to be signed as a receipt; its transaction is completed as the
  cancellation the TSE finished, or, should the TSE hold a receipt for it, the sale is
  left as it is and journaled ``TSE_SALE_UNRESOLVED`` for a person (SaleCommands follows
  the journal and locks it, SALE_UNRESOLVED: a change and a post would ask the TSE to
  finish that transaction again with other data, which it refuses); a parked sale's
  transaction found finished is the AVTransfer of a hand-over that did not commit:
  stored so, the sale stays locked for that hand-over; TSE transactions no sale knows are
  finished as AVBelegabbruch.
* A TSE whose counters are behind what the register recorded from it (its state lost,
  e.g. the software TSE's tse.sqlite3 deleted beside its key) is not signed with: the
  start or a recovery opens (or keeps) an outage ``TSE_COUNTERS_BEHIND`` naming both.
* Vorgänge that are no sale (cash movements, a shift's booked difference) are signed in
  two steps around a durable pending row (schema 18, :meth:`FiscalGateway.event_signer`):
  start + pending row committed, finish, then the record with the row DONE. At start-up
  a PENDING row is resolved: the transaction finished at the TSE -> the Vorgang is
  recorded from the row as the call would have (journaled ``TSE_EVENT_RECOVERED``, its
  stored answer given to the client's retry); still open -> cancelled (AVBelegabbruch,
  journaled ``TSE_EVENT_CANCELLED``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.pricing import split_converted
from posd_daemon.domain.sale import Sale, SaleState
from posd_daemon.domain.vat import VatCategory, VatTotal
from posd_daemon.fiscal import process_data as pd
from posd_daemon.ops import crashpoints
from posd_daemon.ops import logging as plog
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services.clock import Clock
from posd_daemon.services.events import TSE_OK, TSE_OUTAGE, TseStateChanged
from posd_daemon.services.executor import DbExecutor, Tx
from posd_daemon.services.tse_port import Tse, TseError, TseInfo, TseLogResult
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import journal, outbox, tse_events
from posd_daemon.store import sales as sale_store
from posd_daemon.store.timeutil import to_db

log = plog.get("posd.fiscal")

T = TypeVar("T")

#: Kassenbeleg-V1 amount slot of each VAT category (DSFinV-K fixed order). Not taxable
#: turnover goes with the 0 % slot, the last of the five.
VAT_SLOT = {
    VatCategory.NORMAL: pd.VatSlot.NORMAL,
    VatCategory.REDUCED: pd.VatSlot.REDUCED,
    VatCategory.AVERAGE_24_3: pd.VatSlot.AVERAGE_24_1_NR3,
    VatCategory.AVERAGE_24_1: pd.VatSlot.AVERAGE_24_1_NR1,
    VatCategory.ZERO: pd.VatSlot.ZERO,
    VatCategory.NOT_TAXABLE: pd.VatSlot.ZERO,
}

EXPORT_TIMEOUT_S = 900.0
#: How long the stop (or an export's timeout) waits for an aborted export to end: a
#: backend ends it between two log messages or polls, an HTTP call is bounded by its own
#: timeout.
EXPORT_ABORT_WAIT_S = 10.0

#: how often a post is tried when the TSE's state changes under it (see signed_post)
POST_ATTEMPTS = 4

OUTAGE_TEXT = "Technische Sicherheitseinrichtung ausgefallen. Ausfallnummer: {n}"

#: How a post's transaction gets the receipt's fiscal row (``SaleCommands.post_signed``):
#: called inside that transaction, once everything that could refuse the post was checked,
#: with the receipt's processData, it hands the data to the TSE at once and returns the
#: wait for the row (None: no TSE). The database thread goes on writing the post's rows
#: while the TSE signs; the wait raises :class:`TseUnavailable` when the TSE fails or
#: times out, and the post then rolls back (nothing of it was committed).
Signer = Callable[[sqlite3.Connection, str], Callable[[], "fstore.SaleTse | None"]]


def no_tse(conn: sqlite3.Connection, data: str) -> Callable[[], fstore.SaleTse | None]:
    return lambda: None


@dataclass(frozen=True, slots=True)
class EventIntent:
    """A Vorgang that is no sale, as its signer gets it: ``kind`` (tse_events.MOVEMENT or
    SHIFT_CLOSE), its processData, and ``payload`` (JSON-able): everything needed to
    record it as the call would have, should a crash come between the TSE's finish and
    the commit (``DayCommands.recover_movement``/``recover_close``)."""

    kind: str
    process_data: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventCall:
    """The call recording a Vorgang: its stored answer is what a retry with the same
    request_id gets, also when reconciliation recorded it after a crash."""

    method: str
    request_id: str
    digest: str


#: How a Vorgang that is no sale (a cash movement, a booked cash difference) gets its
#: fiscal row (``DayCommands.close_shift``/``add_movement``): called inside the
#: transaction that records it, once every check that could refuse it passed; returns
#: the signed row (the TSE signs right then, the database thread waits for it), the
#: outage row, or None without a TSE. Raises :class:`TseUnavailable` or
#: :class:`SignerStale`, and the transaction then rolls back. Signing only there makes
#: a refused Vorgang that is signed impossible: a refusal (a second close of the same
#: shift, a movement into a shift closed meanwhile) comes before the TSE is asked. The
#: TSE signer commits the transaction's first part (nothing written yet, then the
#: pending row) before the finish (:meth:`Tx.commit_so_far`): see
#: :meth:`FiscalGateway.event_signer`.
EventSigner = Callable[[Tx, EventIntent], "fstore.SaleTse | None"]

#: How reconciliation records a Vorgang the TSE signed before a crash: in its
#: transaction, from the pending row, with the signed row; stores the call's answer under
#: its request_id. False: that request_id has an answer already (nothing recorded).
EventRecorder = Callable[[Tx, tse_events.PendingEvent, fstore.SaleTse], bool]


def no_event_tse(tx: Tx, intent: EventIntent) -> fstore.SaleTse | None:
    return None


class FinishSigner:
    """The signer of a sale's started TSE transaction: hands the receipt to the TSE thread.
    It reads nothing from the connection, so a post run ahead may call it as soon as its
    transaction is parked at the wait for the signature (see SaleServicer.post_ahead)."""

    def __init__(self, gateway: FiscalGateway, started: fstore.SaleTse) -> None:
        self._gateway = gateway
        self._started = started

    def __call__(
        self, conn: sqlite3.Connection | None, data: str
    ) -> Callable[[], fstore.SaleTse | None]:
        return self._gateway._finish_now(self._started, data)


class SignerStale(Exception):
    """The signer no longer fits (an outage opened or closed, the sale was resumed or got
    its first line meanwhile): nothing was signed or committed; get a new one and post
    again."""


def stale_signer(conn: sqlite3.Connection, data: str) -> Callable[[], fstore.SaleTse | None]:
    """The signer of a post expected to be refused by its checks before signing (the sale
    was not open, or empty): when it gets here anyway, the sale changed meanwhile."""
    raise SignerStale("the sale became postable after the look before the post")


def receipt_process_data(sale: Sale) -> str:
    """``Kassenbeleg-V1`` processData of a sale (the change is not part of the payments)."""
    with sale.frozen_totals():
        return _receipt_process_data(sale)


def _receipt_process_data(sale: Sale) -> str:
    slots = [0] * 5
    # The amounts per VAT rate are in EUR, the local currency; only a payment names its
    # currency, its amount then in that currency (fiscal-de.md, processData). A foreign
    # sale's total is converted once, as its stored total_local, and split over the
    # rates, so the slots add up to the local total (local_vat_gross).
    vat = sale.vat_totals()
    for vt, gross in zip(vat, local_vat_gross(sale, vat), strict=True):
        slots[VAT_SLOT[vt.category]] += gross
    # the cash rounding difference is not taxable: DSFinV-K books it as business case
    # "Rundung" with UST_SCHLUESSEL 5 (0 % / nicht steuerbar), i.e. the fifth slot here;
    # in the local currency: what the amount due holds beyond the total, both converted
    slots[pd.VatSlot.ZERO] += sale.to_local(sale.total + sale.rounding) - sale.total_local
    # foreign cash whose change went back in the local currency: what the foreign surplus
    # is worth beyond the change paid out is a rounding difference of its own ("Rundung",
    # Sale.local_change_rounding), booked beside the one above
    slots[pd.VatSlot.ZERO] += sale.local_change_rounding()
    payments = []
    for p, kept in sale.kept_amounts():  # what is booked: cash less the change
        kind = pd.PaymentKind.CASH if p.method.is_cash else pd.PaymentKind.NON_CASH
        payments.append(pd.Payment(kept, kind, sale.currency))
    if sale.change_in_local:
        # booked as the drawer holds it (the Z, datapayment.csv): the foreign cash stays
        # whole (its surplus too) and the change leaves in the local currency
        payments.append(pd.Payment(sale.change, pd.PaymentKind.CASH, sale.currency))
        paid_out = sale.change_paid_locally()
        payments.append(pd.Payment(-paid_out, pd.PaymentKind.CASH, sale.local_currency))
    # a training sale is signed as AVTraining (DSFinV-K BON_TYP, fiscal-de.md processData)
    return pd.kassenbeleg_v1("AVTraining" if sale.training else "Beleg", slots, payments)


def transfer_process_data(sale: Sale) -> str:
    """``Kassenbeleg-V1`` processData of a parked sale handed to another register:
    ``AVTransfer`` with the sale's amounts and no payments (DSFinV-K BON_TYP AVTransfer,
    fiscal-de.md processData); the same for the same parked sale, so a finish asked again
    after a crash gets the TSE's stored result."""
    slots = [0] * 5
    with sale.frozen_totals():  # in the local currency, as a receipt's slots
        vat = sale.vat_totals()
        for vt, gross in zip(vat, local_vat_gross(sale, vat), strict=True):
            slots[VAT_SLOT[vt.category]] += gross
    return pd.kassenbeleg_v1("AVTransfer", slots, [])


def local_vat_gross(sale: Sale, vat: list[VatTotal]) -> list[int]:
    """The gross of each of the sale's VAT totals in the local currency, adding up to its
    ``total_local`` (the same amounts as the sale's own currency for a local sale)."""
    return split_converted([vt.gross for vt in vat], sale.total_local, sale.to_local)


def _refused_again(sale_id: str, exc: TseUnavailable) -> DomainError:
    """A sale the TSE may hold finished (SaleCommands.signed_unposted) whose finish, made
    again as it was, the TSE refuses for good: no outage (the TSE is there and signs the
    other sales; an outage would print this receipt unsigned while the TSE may hold it
    signed), and the sale stays locked as it is, for a person."""
    return DomainError(
        ErrorKind.FAILED_PRECONDITION,
        "SALE_TSE_REFUSED",
        f"sale {sale_id}: the TSE refuses for good to finish the sale's transaction again"
        f" as it did before ({exc.code}: {exc.message}); the sale stays as it is: report"
        " it to whoever keeps the register's fiscal records (the TSE export shows how the"
        " TSE finished it), and go on with a new sale",
        metadata={"sale_id": sale_id, "tse_error": exc.code},
    )


class TseUnavailable(Exception):
    """A TSE call failed or timed out. ``transient``: the TSE itself is out (no answer in
    time, the network, a server error), not a refusal of this one call (e.g. a
    transaction the TSE does not hold open): see :class:`TseError`."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        transient: bool = True,
        asked_at: datetime | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.transient = transient
        #: when the failed call was made (None: not known): an outage it opens began
        #: then, when the TSE got a call it did not answer, not when its timeout ran out
        self.asked_at = asked_at


class FiscalGateway:
    def __init__(
        self,
        tse: Tse | None,
        db: DbExecutor,
        *,
        client_id: str,
        register_id: str,
        printer_name: str,
        timeout_s: float,
        probe_s: float,
        print_outage_receipts: bool,
        metrics: Metrics,
        clock: Clock,
        on_outbox: Callable[[], None],
        on_state: Callable[[TseStateChanged], object] | None = None,
    ) -> None:
        self.tse = tse
        self._db = db
        self.client_id = client_id
        self.register_id = register_id
        self._printer_name = printer_name
        self._timeout = timeout_s
        self._probe_s = probe_s
        self._print_outage_receipts = print_outage_receipts
        self._metrics = metrics
        self._clock = clock
        self._on_outbox = on_outbox
        #: told when an outage opens or ends (the event bus: a UI must show the cashier
        #: at once that receipts are marked instead of signed, and when that ends)
        self._on_state = on_state
        #: the (state, outage number) last told, so a state is told once
        self._told: tuple[str, int] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="posd-tse")
        #: The export's own thread (see :meth:`export`): an export takes minutes, and on
        #: ``_pool`` every start and finish of a sale waited behind it into an outage.
        self._export_pool = ThreadPoolExecutor(1, thread_name_prefix="posd-tse-export")
        #: the export running (one at a time) and the event that aborts it
        self._export: asyncio.Future[None] | None = None
        self._export_abort: threading.Event | None = None
        self._starts: dict[str, asyncio.Task[fstore.SaleTse | None]] = {}
        #: sales whose transaction is known to be started (skips a lookup per scan)
        self._started: OrderedDict[str, None] = OrderedDict()
        self.info: TseInfo | None = None
        #: the serial of the TSE an outage open at the start names (see :meth:`open`), for
        #: the outage rows while :attr:`info` is unknown ("" when it named none)
        self._outage_serial = ""
        self.outage: int | None = None
        self._probe: asyncio.Task[None] | None = None
        #: one recovery at a time: the probe and RecoverTse (or two of them) at once ended
        #: the outage twice (two TSE_OUTAGE_END records, two recovery receipts)
        self._recovering = asyncio.Lock()
        self._closing = False
        #: pending Vorgänge (schema 18) written by this process: their calls resolve them
        self._live_events: set[int] = set()

    @property
    def enabled(self) -> bool:
        return self.tse is not None

    # -- TSE calls -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _unavailable_on_failure(self, operation: str, asked_at: datetime) -> Iterator[None]:
        """Any failure of a TSE call made at ``asked_at``, as the TseUnavailable that
        opens an outage (which began then: :meth:`_begin_outage`)."""
        try:
            yield
        except TimeoutError:
            raise TseUnavailable(
                "TIMEOUT",
                f"TSE did not answer {operation} within {self._timeout:g} s",
                asked_at=asked_at,
            ) from None
        except TseError as exc:
            raise TseUnavailable(
                exc.code, exc.message, transient=exc.transient, asked_at=asked_at
            ) from exc
        except Exception as exc:  # a backend bug must not stop selling either
            log.exception("tse_backend_failed", operation=operation)
            raise TseUnavailable(
                "BACKEND_ERROR",
                f"{type(exc).__name__}: {exc}",
                transient=False,
                asked_at=asked_at,
            ) from exc

    async def _call(self, operation: str, fn: Callable[[], T]) -> T:
        assert self.tse is not None
        loop = asyncio.get_running_loop()
        asked_at = self._clock()
        start = time.perf_counter()
        try:
            with self._unavailable_on_failure(operation, asked_at):
                return await asyncio.wait_for(loop.run_in_executor(self._pool, fn), self._timeout)
        finally:
            self._metrics.tse_seconds.labels(operation).observe(time.perf_counter() - start)

    # -- start-up ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Registers the client, caches the TSE info, reconciles after a crash."""
        current = await self._db.read(fstore.open_outage)
        self.outage = current.outage_number if current else None
        if current is not None and current.tse_serial != fstore.UNKNOWN_TSE:
            # an outage open at the stop names its TSE: the receipts of this process
            # carry that serial until the TSE answers (KassenSichV § 6 Nr. 6, the TSE's
            # serial number when known); they showed none after a restart
            self._outage_serial = current.tse_serial
        self._metrics.tse_outage_active.set(1 if self.outage else 0)
        if self.tse is None:
            return
        tse = self.tse
        try:
            # the counters are checked before anything is signed (the registration logs)
            await self._check_counters(await self._call("info", tse.info))
            await self._call("register_client", lambda: tse.register_client(self.client_id))
            self.info = await self._call("info", tse.info)
            await self.reconcile()
            if self.outage is None:
                # outage receipts a recovery closed without signing them late (the
                # TSE failed again right after the close)
                await self._sign_late()
        except TseUnavailable as exc:
            await self._begin_outage(exc, operator_id="-")
        else:
            if self.outage is not None:
                # an outage open at the stop (or crash), and the TSE answered every call
                # of this start: it ends now, with its recovery receipt. Left to the
                # probe, every receipt until its first round (probe_seconds) was marked
                # "ausgefallen" although the TSE signs.
                await self.try_recover()
        if self.outage is not None:
            self._ensure_probe()
        await self._tell_current_state()

    async def _tell_current_state(self) -> None:
        """The TSE's state at the start, unless this start's begin or recovery told it:
        an outage carried over from the last run is told to the UIs of this one too."""
        if self.outage is None:
            if self._told is None:
                self._tell(TseStateChanged(TSE_OK))
            return
        if self._told == (TSE_OUTAGE, self.outage):
            return
        number = self.outage
        row = await self._db.read(lambda c: fstore.get_outage(c, number))
        if row is not None:
            self._tell(self._outage_state(TSE_OUTAGE, row))

    def _outage_state(self, state: str, o: fstore.Outage) -> TseStateChanged:
        serial = o.tse_serial if o.tse_serial != fstore.UNKNOWN_TSE else self._marking_serial()
        return TseStateChanged(
            state=state,
            outage_number=o.outage_number,
            error_code=o.error_code,
            error_message=o.error_message,
            started_at=o.started_at,
            ended_at=o.ended_at,
            tse_serial=serial,
        )

    def _tell(self, state: TseStateChanged) -> None:
        self._told = (state.state, state.outage_number)
        if self._on_state is None:
            return
        try:
            self._on_state(state)
        except Exception:  # telling the UIs must never undo the outage bookkeeping
            log.exception("tse_state_event_failed", state=state.state)

    async def _check_counters(self, info: TseInfo) -> None:
        """Refuses a TSE whose counters are behind what the register recorded from it
        (same serial): its state was lost or reset, e.g. the software TSE's tse.sqlite3
        deleted while its key was kept. Signing with it would repeat signature counters
        and transaction numbers already on receipts (BSI TR-03151: both only ever grow),
        and reconciliation would take its new transactions for the register's old ones.
        Raised as :class:`TseUnavailable` ``TSE_COUNTERS_BEHIND``: an outage opens (or
        goes on), selling goes on in outage mode, and every recovery checks again."""
        serial = info.serial_hex
        counter, number = await self._db.read(lambda c: fstore.recorded_counters(c, serial))
        if info.signature_counter >= counter and info.transaction_counter >= number:
            return
        self.info = info  # the outage names this TSE
        raise TseUnavailable(
            "TSE_COUNTERS_BEHIND",
            f"TSE {serial} reports signature counter {info.signature_counter} and"
            f" transaction counter {info.transaction_counter}, but this register recorded"
            f" signature counter {counter} and transaction number {number} from it: its"
            " state was lost or reset, so it would repeat counters; it is not used"
            " (restore its state, or replace it and register the new TSE)",
        )

    async def reconcile(self) -> None:
        """Brings the register and the TSE into agreement after a crash."""
        tse = self.tse
        assert tse is not None
        open_tx = await self._open_tx()
        await self._resolve_events(open_tx)
        started = await self._db.read(_started_rows)
        for row in started:
            assert row.transaction_number is not None
            sale = await self._db.read(functools.partial(self._load_sale, sale_id=row.sale_id))
            if sale is None or row.transaction_number in open_tx:
                continue  # still open at the TSE: the sale goes on normally
            if not self._of_this_tse(row):
                # started at a TSE since replaced: this TSE's transaction of that number
                # is another (its numbers start again at 1), never this sale's; the
                # sale starts one here when it goes on (see _start)
                continue
            if sale.state is SaleState.PARKED:
                # a parked sale's transaction ends only as a hand-over's AVTransfer
                await self._transfer_found_finished(sale, row)
                continue
            if sale.state is not SaleState.OPEN:
                continue
            # Finished at the TSE but not committed here: crash between the two.
            await self._complete_after_crash(sale, row)
        await self._finish_ended(open_tx)
        serial = self._marking_serial()
        known = await self._db.read(lambda c: fstore.known_transactions(c, self.client_id, serial))
        for number in sorted(open_tx - known):
            # journal first (once), then cancel: a crash in between leaves the transaction
            # open at the TSE, so the next start finds it again and only cancels it
            await self._db.write(self._orphan_record(number))
            crashpoints.reached("reconcile.orphan_journaled")
            await self._cancel_tx(number)
            log.warning("tse_orphan_cancelled", transaction_number=number)

    # -- Vorgänge of the day left pending by a crash ------------------------------------

    async def _resolve_events(self, open_tx: set[int]) -> None:
        """Pending Vorgänge (schema 18) a crash left between the TSE start and the
        record: finished at the TSE -> recorded now (the finish asked again with the same
        data returns the TSE's stored result: software TSE, fiskaly); still open ->
        never recorded, so cancelled (AVBelegabbruch, the TSE's end of an aborted
        Vorgang). Each is journaled before the TSE is asked to cancel, so a crash in
        between only leaves the cancellation to repeat. Rows of calls still running in
        this process (a finish that failed, the call not done) are left to that call.
        Outage Vorgänge that name a transaction get its signature (journaled)."""
        tse = self.tse
        assert tse is not None
        if self.event_recorded is None:
            return  # nothing can record them yet (wired in bootstrap before open())
        for ev in await self._db.read(lambda c: tse_events.by_state(c, tse_events.CANCELLED)):
            # journaled, then killed before cancelling; only this TSE's: a replaced TSE's
            # number n is this TSE's transaction n, another sale's or Vorgang's
            if ev.transaction_number in open_tx and await self._event_of_this_tse(ev):
                await self._cancel_tx(ev.transaction_number)
        pending = await self._db.read(lambda c: tse_events.by_state(c, tse_events.PENDING))
        for ev in pending:
            if ev.event_id in self._live_events:
                continue
            number = ev.transaction_number
            if not await self._event_of_this_tse(ev):
                # started at a TSE since replaced: this TSE's transaction of that number
                # is another's (cancelled or finished here, it ended another sale or
                # Vorgang). The old TSE cannot be asked any more: the row stays PENDING
                # for a person (its Vorgang was never recorded)
                log.error(
                    "tse_event_of_replaced_tse",
                    kind=ev.kind,
                    transaction_number=number,
                    event_tse_serial=ev.tse_serial or "",
                    request_id=ev.request_id,
                )
                continue
            if number in open_tx:
                if await self._db.write(self._event_cancel_record(ev, "not finished")):
                    crashpoints.reached("reconcile.event_journaled")
                    await self._cancel_tx(number)
                    log.warning(
                        "event_cancelled_after_crash", kind=ev.kind, transaction_number=number
                    )
                continue
            try:
                result, unknown = await self._finish_event_again(ev)
            except TseUnavailable as exc:
                if exc.transient:
                    raise  # the TSE is out: the reconciliation ends, an outage opens
                # this one Vorgang's finish is refused for good (as in _sign_late): it is
                # left PENDING (known, so never taken for an orphan) for a person, and
                # the reconciliation goes on with the others. Raised, it ended every
                # start and recovery here: an outage for good, with a TSE that signs.
                log.error(
                    "tse_event_refused",
                    kind=ev.kind,
                    transaction_number=number,
                    request_id=ev.request_id,
                    error=str(exc),
                )
                continue
            if result is None:
                # not open, and the backend gives no result for it (the software TSE
                # does; the fiskaly backend for the last few hundred it closed): only
                # this Vorgang's finish can have ended it (a cancellation is journaled
                # first), so it is neither cancelled nor dropped: the row stays PENDING
                # (known, so never taken for an orphan) for a person to look at
                log.error(
                    "tse_event_unresolved",
                    kind=ev.kind,
                    transaction_number=number,
                    request_id=ev.request_id,
                    error=unknown,
                )
                continue
            signed = self._signed_row(self._event_started_row(ev), result)
            await self._db.write(functools.partial(self._event_recover, ev=ev, signed=signed))
            log.warning("event_completed_after_crash", kind=ev.kind, transaction_number=number)
        await self._sign_events_late()

    async def _finish_event_again(
        self, ev: tse_events.PendingEvent
    ) -> tuple[TseLogResult | None, str]:
        """The pending Vorgang's finish asked again with its data: the TSE's (stored)
        result, or None and why when the backend has none for that transaction any more
        (UNKNOWN_TRANSACTION); any other failure raises (an outage)."""
        number = ev.transaction_number
        try:
            result = await self._call("finish", self._finisher(number, pd.encode(ev.process_data)))
        except TseUnavailable as exc:
            if exc.code != "UNKNOWN_TRANSACTION":
                raise
            return None, exc.message
        return result, ""

    async def _event_of_this_tse(self, ev: tse_events.PendingEvent) -> bool:
        """The Vorgang's transaction is one of this TSE's (as :meth:`_of_this_tse` for a
        sale's row): it names this TSE (schema 28), or no TSE is known. A row naming none
        (written before schema 28) counts as this TSE's, as it did, unless a sale of this
        TSE holds that number: then it is another TSE's (BSI TR-03151: a number names a
        transaction of one TSE; a replaced TSE numbers from 1 again), and this TSE's
        transaction is that sale's, never to be cancelled or finished as the Vorgang."""
        current = self._marking_serial()
        if not current:
            return True
        if ev.tse_serial is not None:
            return ev.tse_serial in ("", current)
        number = ev.transaction_number
        held = await self._db.read(lambda c: fstore.sale_holds(c, self.client_id, current, number))
        return not held

    def _event_started_row(self, ev: tse_events.PendingEvent) -> fstore.SaleTse:
        return fstore.SaleTse(
            "",
            ev.client_id,
            ev.transaction_number,
            fstore.STARTED,
            start_time=ev.start_time,
            start_counter=ev.start_counter,
            tse_serial=ev.tse_serial or "",
        )

    def _event_journal(self, tx: Tx, kind: str, ev: tse_events.PendingEvent, **extra: Any) -> None:
        journal.append(
            tx.conn,
            kind=kind,
            register_id=self.register_id,
            ref=f"tse-tx:{ev.transaction_number}",
            payload={
                "event_id": ev.event_id,
                "kind": ev.kind,
                "transaction_number": ev.transaction_number,
                "process_data": ev.process_data,
                "request_id": ev.request_id,
                **ev.payload,
                **extra,
            },
            when=self._clock(),
        )

    def _event_cancel_record(
        self, ev: tse_events.PendingEvent, reason: str
    ) -> Callable[[Tx], bool]:
        def write(tx: Tx) -> bool:
            if not tse_events.resolve(tx.conn, ev.event_id, tse_events.CANCELLED, self._clock()):
                return False
            self._event_journal(tx, "TSE_EVENT_CANCELLED", ev, reason=reason)
            return True

        return write

    def _event_recover(self, tx: Tx, ev: tse_events.PendingEvent, signed: fstore.SaleTse) -> None:
        if not tse_events.resolve(tx.conn, ev.event_id, tse_events.DONE, self._clock()):
            return  # resolved meanwhile
        assert self.event_recorded is not None
        recorded = self.event_recorded(tx, ev, signed)
        if not recorded:
            log.error(
                "tse_event_signed_not_recorded",
                transaction_number=ev.transaction_number,
                request_id=ev.request_id,
            )
        self._event_journal(
            tx,
            "TSE_EVENT_RECOVERED",
            ev,
            recorded=recorded,
            signature_counter=signed.finish_counter,
            signature=signed.signature,
        )

    async def _sign_events_late(self) -> None:
        """Vorgänge recorded in an outage whose TSE transaction was started before it
        (the finish failed): finished now with the same data (or its stored result, when
        the TSE finished it and only the answer was lost), so the transaction the
        record names ends as that Vorgang. The record stays as it is (schema 3 forbids
        changes): the signature goes to the journal, ``TSE_EVENT_SIGNED_LATE``."""
        rows = await self._db.read(lambda c: tse_events.by_state(c, tse_events.OUTAGE))
        for ev in rows:
            number = ev.transaction_number
            if not await self._event_of_this_tse(ev):
                # a replaced TSE's transaction: finished here, this TSE's transaction of
                # that number (another sale's) would end as this Vorgang. It keeps its
                # outage marking
                continue
            try:
                result, unknown = await self._finish_event_again(ev)
            except TseUnavailable as exc:
                if exc.transient:
                    raise  # the TSE is out again: the recovery ends, the outage goes on
                # this one transaction is refused (as in _sign_late): the Vorgang keeps
                # its outage marking and the row stays OUTAGE for the next recovery or
                # start. Raised, it ended every recovery here: an outage that never
                # closed, with a TSE that signs everything else.
                log.warning(
                    "tse_event_late_signing_refused", transaction_number=number, error=str(exc)
                )
                continue
            if result is None:
                # finished, and the backend no longer gives its result (the fiskaly
                # backend keeps only the last few hundred it closed): the record still
                # names it; its signature is in the TSE export
                log.warning(
                    "tse_event_late_signature_unavailable",
                    transaction_number=number,
                    error=unknown,
                )
                signed = None
            else:
                signed = self._signed_row(self._event_started_row(ev), result)

            def write(
                tx: Tx, ev: tse_events.PendingEvent = ev, signed: fstore.SaleTse | None = signed
            ) -> None:
                tse_events.set_state(tx.conn, ev.event_id, tse_events.DONE, self._clock())
                self._event_journal(
                    tx,
                    "TSE_EVENT_SIGNED_LATE",
                    ev,
                    signature_counter=signed.finish_counter if signed else None,
                    signature=signed.signature if signed else "",
                    finish_time=to_db(signed.finish_time)
                    if signed and signed.finish_time
                    else None,
                )

            await self._db.write(write)

    async def _finish_ended(self, open_tx: set[int] | None = None) -> None:
        """Sales cancelled or handed over during an outage left their TSE transaction
        open (the TSE could not be asked then). Now that it answers, each is finished as
        the sale ended, AVBelegabbruch or its stored AVTransfer processData: recovery
        "finishes what can be finished", and a TSS takes at most 2000 active transactions
        (fiscal-de.md, TSE outage and fiskaly). The row keeps its state and outage
        number, so the export still shows the outage (TSE_TA_FEHLER). A failure leaves
        the transaction open for the next recovery or start to try again. ``open_tx``:
        the TSE's open transactions, asked for here (only when there are such rows) if
        not given."""
        tse = self.tse
        assert tse is not None
        rows = await self._db.read(fstore.unfinished_ended)
        if rows and open_tx is None:
            open_tx = await self._open_tx()
        for row in rows:
            assert open_tx is not None
            number = row.transaction_number
            if number is None or number not in open_tx or not self._of_this_tse(row):
                continue  # a replaced TSE's number n is not this TSE's transaction n
            if row.state == fstore.TRANSFERRED and row.process_data:
                finish = self._finisher(number, pd.encode(row.process_data))
            else:
                finish = self._canceller(number)
            try:
                result = await self._call("finish", finish)
            except TseUnavailable as exc:
                log.warning("tse_late_finish_failed", transaction_number=number, error=str(exc))
                continue
            done = replace(
                self._signed_row(row, result), state=row.state, outage_number=row.outage_number
            )
            await self._db.write(self._late_finish_saver(done))
            log.warning(
                "tse_finished_after_outage",
                sale_id=row.sale_id,
                transaction_number=number,
                state=row.state,
            )

    def _late_finish_saver(self, row: fstore.SaleTse) -> Callable[[Tx], None]:
        """Stores a transaction finished after the outage; a sale of a closed period
        stays frozen (schema 3 triggers), so there the finish goes to the journal."""

        def write(tx: Tx) -> None:
            if not fstore.in_closed_period(tx.conn, row.sale_id):
                _save(tx, row)
                return
            journal.append(
                tx.conn,
                kind="TSE_FINISHED_AFTER_CLOSING",
                register_id=self.register_id,
                ref=f"tse-tx:{row.transaction_number}",
                payload={
                    "sale_id": row.sale_id,
                    "state": row.state,
                    "transaction_number": row.transaction_number,
                    "outage_number": row.outage_number,
                    "finish_counter": row.finish_counter,
                    "process_data": row.process_data,
                    "signature": row.signature,
                },
                when=self._clock(),
            )

        return write

    async def _open_tx(self) -> set[int]:
        tse = self.tse
        assert tse is not None
        numbers = await self._call(
            "open_transactions", lambda: tse.open_transactions(self.client_id)
        )
        return set(numbers)

    def _orphan_record(self, number: int) -> Callable[[Tx], int]:
        def write(tx: Tx) -> int:
            ref = f"tse-tx:{number}"
            seq = journal.seq_by_ref(tx.conn, "TSE_ORPHAN_CANCELLED", ref)
            if seq is not None:
                return seq
            return journal.append(
                tx.conn,
                kind="TSE_ORPHAN_CANCELLED",
                register_id=self.register_id,
                ref=f"tse-tx:{number}",
                payload={"transaction_number": number, "reason": "started, never recorded"},
                when=self._clock(),
            )

        return write

    async def _complete_after_crash(self, sale: Sale, row: fstore.SaleTse) -> None:
        tse = self.tse
        assert tse is not None
        assert row.transaction_number is not None
        number = row.transaction_number
        # Completed as a post only if the post itself is allowed (the checks PostSale ran
        # before the TSE was asked to sign): nothing to pay is not enough, e.g. card
        # payments above the total after lines were removed. A sale its post refuses
        # was never signed as a receipt by this register, so the TSE is not asked for
        # one: its transaction ended as a cancellation (AVBelegabbruch), or it is left
        # for a person.
        refused: DomainError | None = None
        try:
            sale.check_postable()
        except DomainError as exc:
            refused = exc
        data = "" if refused is not None else receipt_process_data(sale)
        result: TseLogResult | None = None
        if data:
            try:
                result = await self._call(
                    "finish",
                    lambda: tse.finish_transaction(
                        self.client_id, number, pd.PROCESS_TYPE_KASSENBELEG, pd.encode(data)
                    ),
                )
            except TseUnavailable as exc:
                if exc.code != "UNKNOWN_TRANSACTION":
                    # not asked for the abort: the TSE may hold this receipt (the post
                    # then completes it, signed once), ended here as an abort it is lost
                    self._leave_refused(exc, sale, number, "receipt", data)
                    return
        if result is not None:
            signed = self._signed_row(row, result)
            await self._db.write(lambda tx: self._post_recovered(tx, sale, signed))
            log.warning(
                "post_completed_after_crash", sale_id=sale.sale_id, transaction_number=number
            )
            return
        # finished as an abort: complete the cancellation
        abort = pd.encode(pd.AVBELEGABBRUCH)
        try:
            result = await self._call(
                "finish",
                lambda: tse.finish_transaction(
                    self.client_id, number, pd.PROCESS_TYPE_KASSENBELEG, abort
                ),
            )
        except TseUnavailable as exc:
            if exc.code != "UNKNOWN_TRANSACTION":
                self._leave_refused(exc, sale, number, "abort", pd.AVBELEGABBRUCH)
                return
            # Not open, and the TSE gives no stored result for either ending (e.g. the
            # fiskaly backend no longer remembers it). One sale must not keep every
            # reconciliation (and so the end of an outage) failing: it is logged and left
            # as it is, the sale OPEN and its row STARTED (known, so never taken for an
            # orphan and never posted unsigned here), for a person to look at.
            log.error(
                "tse_sale_unresolved",
                sale_id=sale.sale_id,
                transaction_number=number,
                error=exc.message,
                post_refused=refused.reason if refused is not None else "",
            )
            if refused is not None:
                # the TSE holds another ending (a receipt) for a sale whose post is
                # refused: neither posted against its checks nor signed again, journaled
                # (once) so that the register's record names it
                await self._db.write(self._unresolved_record(sale, number, refused))
            return
        cancelled = replace(self._signed_row(row, result), state=fstore.CANCELLED)
        await self._db.write(lambda tx: self._cancel_recovered(tx, sale, cancelled))
        log.warning("cancel_completed_after_crash", sale_id=sale.sale_id, transaction_number=number)

    def _leave_refused(
        self, exc: TseUnavailable, sale: Sale, number: int, ending: str, data: str
    ) -> None:
        """A sale's transaction found finished, the TSE out (``exc`` transient): raised,
        the reconciliation ends and an outage opens. Refused for good (e.g. an HTTP 400
        for this one transaction): as for a Vorgang (``tse_event_refused`` in
        :meth:`_resolve_events`), the sale and its row stay as they are (its row STARTED:
        known, so never taken for an orphan; never posted unsigned or signed again here)
        for a person, and the reconciliation goes on with the others. Raised, it ended
        every start and recovery at this sale: an outage for good, with a TSE that signs.

        The TSE may hold the ending asked for (``data``, the processData it finished the
        transaction with before the crash): the sale is locked to that ending
        (:attr:`refused_locked`). Changed, its post or cancellation would ask the TSE to
        finish the transaction with other data, which it refuses for good."""
        if exc.transient:
            raise exc
        if self.refused_locked is not None:
            self.refused_locked(sale.sale_id, data)
        log.error(
            "tse_sale_refused",
            sale_id=sale.sale_id,
            sale_state=sale.state.value,
            transaction_number=number,
            ending=ending,
            error=str(exc),
        )

    def _unresolved_record(
        self, sale: Sale, number: int, refused: DomainError
    ) -> Callable[[Tx], int]:
        def write(tx: Tx) -> int:
            ref = f"tse-tx:{number}"
            hook = self.unresolved_recorded
            if hook is not None:
                locked = fstore.Unresolved(sale.sale_id, number, refused.reason, refused.message)
                tx.after_commit(functools.partial(hook, locked))
            seq = journal.seq_by_ref(tx.conn, "TSE_SALE_UNRESOLVED", ref)
            if seq is not None:
                return seq
            return journal.append(
                tx.conn,
                kind="TSE_SALE_UNRESOLVED",
                register_id=self.register_id,
                ref=ref,
                payload={
                    "sale_id": sale.sale_id,
                    "transaction_number": number,
                    "reason": refused.reason,
                    "message": refused.message,
                },
                when=self._clock(),
            )

        return write

    async def _transfer_found_finished(self, sale: Sale, row: fstore.SaleTse) -> None:
        """A parked sale whose transaction the TSE finished: the TSE finished it as the
        AVTransfer of a hand-over to another register whose saving did not commit (a
        crash, an I/O error, then a restart). The finish is asked again with the same
        data, which returns the TSE's stored result; the row is stored as TRANSFERRED
        and signed while the sale stays parked, locked so that only the hand-over
        completes it (SaleCommands.transfer_recovered; after a restart the lock is read
        back from that row, SaleCommands.restore_finished_locks). A transaction the TSE
        finished with other data is left as it is, and logged."""
        assert row.transaction_number is not None
        number = row.transaction_number
        data = transfer_process_data(sale)
        finish = self._finisher(number, pd.encode(data))
        try:
            result = await self._call("finish", finish)
        except TseUnavailable as exc:
            if exc.code != "UNKNOWN_TRANSACTION":
                self._leave_refused(exc, sale, number, "transfer", data)
                return
            log.error(
                "tse_parked_sale_finished_otherwise",
                sale_id=sale.sale_id,
                transaction_number=number,
                error=exc.message,
            )
            return
        done = replace(self._signed_row(row, result), state=fstore.TRANSFERRED)
        await self._db.write(lambda tx: self._transfer_recovered(tx, sale, done))
        log.warning(
            "transfer_finished_before_crash", sale_id=sale.sale_id, transaction_number=number
        )

    #: set in bootstrap: records a Vorgang of the day the TSE signed before a crash
    event_recorded: EventRecorder | None = None

    #: set in bootstrap: a stored sale as the sale commands see it, with the shop's
    #: settings that are not stored on it (its cash rounding steps: processData carries
    #: the rounding, so a sale read without them is signed with other data)
    sale_loader: Callable[[sqlite3.Connection, str], Sale | None] | None = None

    def _load_sale(self, conn: sqlite3.Connection, sale_id: str) -> Sale | None:
        if self.sale_loader is None:
            return sale_store.get(conn, sale_id)
        return self.sale_loader(conn, sale_id)

    # hooks set by the sale commands (post/cancel inside one transaction)
    post_recovered: Callable[[Tx, Sale, fstore.SaleTse], None] | None = None
    cancel_recovered: Callable[[Tx, Sale, fstore.SaleTse], None] | None = None
    transfer_recovered: Callable[[Tx, Sale, fstore.SaleTse], None] | None = None
    #: a sale left unresolved (journaled TSE_SALE_UNRESOLVED): locked from its commit on
    unresolved_recorded: Callable[[fstore.Unresolved], None] | None = None
    #: a sale left as it was after the TSE refused for good to repeat the ending it may
    #: hold (see _leave_refused): locked to that ending, (sale id, processData)
    refused_locked: Callable[[str, str], None] | None = None

    def _post_recovered(self, tx: Tx, sale: Sale, row: fstore.SaleTse) -> None:
        """Reconciliation's post, counted in posd_sales_posted_total at its commit: posts
        are counted where they commit, and this one commits here, not in the PostSale
        retry that later claims it (no post duration: no call waited for it). Not
        counted when the hook posted nothing (a PostSale under way posts and counts it,
        or it was posted meanwhile)."""
        assert self.post_recovered is not None
        was_open = sale_store.state_of(tx.conn, sale.sale_id) is SaleState.OPEN
        self.post_recovered(tx, sale, row)
        if was_open and sale_store.state_of(tx.conn, sale.sale_id) is SaleState.POSTED:
            tx.after_commit(self._metrics.sales_posted.inc)

    def _cancel_recovered(self, tx: Tx, sale: Sale, row: fstore.SaleTse) -> None:
        assert self.cancel_recovered is not None
        self.cancel_recovered(tx, sale, row)

    def _transfer_recovered(self, tx: Tx, sale: Sale, row: fstore.SaleTse) -> None:
        assert self.transfer_recovered is not None
        self.transfer_recovered(tx, sale, row)

    def _signed_row(self, row: fstore.SaleTse, result: TseLogResult) -> fstore.SaleTse:
        info = self.info
        return replace(
            row,
            state=fstore.SIGNED,
            start_time=result.start_time,
            finish_time=result.log_time,
            finish_counter=result.signature_counter,
            process_type=result.process_type,
            process_data=result.process_data.decode("utf-8"),
            signature=base64.b64encode(result.signature).decode("ascii"),
            tse_serial=info.serial_hex if info else "",
            public_key=base64.b64encode(info.public_key).decode("ascii") if info else "",
            signature_algorithm=info.signature_algorithm if info else "",
            time_format=info.time_format if info else "",
        )

    # -- sale flow ---------------------------------------------------------------------------

    def schedule_start(self, sale_id: str) -> None:
        """Starts the sale's TSE transaction in the background (off the scan path)."""
        if (
            self.tse is None
            or self.outage is not None
            or sale_id in self._starts
            or sale_id in self._started
        ):
            return
        task = asyncio.create_task(self._start(sale_id))
        self._starts[sale_id] = task
        # a finished start is recorded in the database; forget the task so abandoned
        # sales do not pile up here (ensure_started then reads the row)
        task.add_done_callback(lambda t: self._forget(sale_id, t))

    def pending_start(self, sale_id: str) -> asyncio.Task[fstore.SaleTse | None] | None:
        """The sale's TSE start still under way (it writes its row when done), if any."""
        return self._starts.get(sale_id)

    def _forget(self, sale_id: str, task: asyncio.Task[fstore.SaleTse | None]) -> None:
        if self._starts.get(sale_id) is task:
            del self._starts[sale_id]

    def _remember(self, sale_id: str) -> None:
        self._started[sale_id] = None
        while len(self._started) > 256:
            self._started.popitem(last=False)

    async def _start(self, sale_id: str) -> fstore.SaleTse | None:
        existing = self._db.read_now(lambda c: fstore.get(c, sale_id))
        replaced = (
            existing is not None
            and existing.state == fstore.STARTED
            and not self._of_this_tse(existing)
        )
        if existing is not None and not replaced:
            self._remember(sale_id)
            return existing
        if self.tse is None or self.outage is not None:
            return None  # a replaced TSE's row: not started at this TSE
        tse = self.tse
        try:
            result = await self._call(
                "start",
                lambda: tse.start_transaction(self.client_id, pd.PROCESS_TYPE_KASSENBELEG, b""),
            )
        except TseUnavailable as exc:
            await self._begin_outage(exc, operator_id=await self._operator_of(sale_id))
            return None
        crashpoints.reached("tse.after_start")
        row = fstore.SaleTse(
            sale_id=sale_id,
            client_id=self.client_id,
            transaction_number=result.transaction_number,
            state=fstore.STARTED,
            start_time=result.log_time,
            start_counter=result.signature_counter,
            # the TSE that started it: its transaction numbers are its own (schema 27)
            tse_serial=self._marking_serial(),
        )
        if replaced and existing is not None:
            # started at a TSE since replaced, which can never finish it: the sale's
            # receipt is signed by a transaction of this TSE
            log.warning(
                "tse_sale_restarted_on_new_tse",
                sale_id=sale_id,
                old_tse_serial=existing.tse_serial,
                old_transaction_number=existing.transaction_number,
                transaction_number=result.transaction_number,
            )

        def record(tx: Tx) -> fstore.SaleTse | None:
            state = sale_store.state_of(tx.conn, sale_id)
            if state not in (SaleState.OPEN, SaleState.PARKED):
                return None  # the sale ended meanwhile; reconciliation cancels the tx
            _save(tx, row)
            return row

        # not fsync'd when open-sale edits are relaxed: if a power loss takes this row,
        # start-up reconciliation cancels the then unknown TSE transaction as an orphan
        saved = await self._db.write(record, durable=False)
        if saved is not None:
            self._remember(sale_id)
        if saved is None:
            await self._cancel_tx(result.transaction_number)
        return saved

    async def _operator_of(self, sale_id: str) -> str:
        """The sale's operator, for an outage a TSE call for the sale opens where no
        caller names one (the background start at the first line, a cancellation)."""
        if self.outage is not None:
            return "-"  # the outage is open already: nothing is recorded
        operator = await self._db.read(lambda c: fstore.sale_operator(c, sale_id))
        return operator or "-"

    async def ensure_started(self, sale_id: str) -> fstore.SaleTse | None:
        task = self._starts.pop(sale_id, None)
        if task is not None:
            return await task
        return await self._start(sale_id)

    async def signer(
        self,
        sale_id: str,
        *,
        signed_before: bool = False,
        started: fstore.SaleTse | None = None,
    ) -> Signer:
        """The fiscal row of a post (see :data:`Signer`): the finish signature of the
        sale's started TSE transaction, else the outage marking (None: no TSE). The
        start is awaited here, before the post's transaction (it writes).

        ``signed_before``: the TSE already finished this receipt (its post then failed to
        commit); its signature is asked for even during an outage, since it exists.
        ``started``: the sale's TSE row as the caller knows it already, current (read in
        a transaction that nothing can have written after); used while it is STARTED."""
        if self.tse is None:
            return no_tse
        ask = self.outage is None or signed_before
        if (
            ask
            and started is not None
            and started.state == fstore.STARTED
            and self._of_this_tse(started)
        ):
            self._starts.pop(sale_id, None)  # as ensure_started: done with the start
        else:
            started = await self.ensure_started(sale_id) if ask else None
        if started is None or started.transaction_number is None:
            return self._outage_signer(sale_id)
        return FinishSigner(self, started)

    async def signer_after_failure(
        self, exc: TseUnavailable, sale_id: str, operator_id: str
    ) -> Signer:
        """The finish failed and the post rolled back: the outage begins (its own
        committed write) and the receipt, posted again, carries the outage number."""
        await self._begin_outage(exc, operator_id=operator_id)
        return self._outage_signer(sale_id)

    def _outage_signer(self, sale_id: str) -> Signer:
        """Marks the receipt with the outage open now; inside the post's transaction it
        checks that this outage is still the open one (the probe may have closed it, or
        none was open: the start failed without one), else the post is done again."""
        outage = self.outage

        def sign(conn: sqlite3.Connection, data: str) -> Callable[[], fstore.SaleTse | None]:
            current = fstore.open_outage_number(conn)
            if outage is None or current != outage:
                raise SignerStale(f"outage {outage} is not the open one any more")
            row = self._outage_row(sale_id, fstore.get(conn, sale_id), data, outage)
            return lambda: row

        return sign

    async def signed_post(
        self,
        sale_id: str,
        operator_id: str,
        post: Callable[[Signer], Awaitable[T]],
        *,
        needs_tse: bool = True,
        signed_before: bool = False,
        started: fstore.SaleTse | None = None,
    ) -> T:
        """Runs ``post`` (one transaction that calls its signer once its checks passed)
        until it commits: signed by the TSE, or in an outage the TSE's failure opened
        (nothing of the failed attempt was committed), or again with a fresh signer when
        the one it had no longer fits. ``needs_tse`` False: the post is expected to be
        refused before signing, so no TSE transaction is started for it. ``started``: see
        :meth:`signer` (its first attempt only)."""
        sign = (
            await self.signer(sale_id, signed_before=signed_before, started=started)
            if needs_tse
            else stale_signer
        )
        for _ in range(POST_ATTEMPTS):
            try:
                return await post(sign)
            except TseUnavailable as exc:
                if signed_before and not exc.transient:
                    raise _refused_again(sale_id, exc) from exc
                sign = await self.signer_after_failure(exc, sale_id, operator_id)
            except SignerStale:
                sign = await self.signer(sale_id)
        raise DomainError(
            ErrorKind.UNAVAILABLE,
            "FISCAL_STATE_CHANGING",
            f"the TSE's state changed during each of {POST_ATTEMPTS} attempts to post sale"
            f" {sale_id}; nothing was posted, try again",
            metadata={"sale_id": sale_id},
        )

    def _finish_now(
        self, started: fstore.SaleTse, data: str
    ) -> Callable[[], fstore.SaleTse | None]:
        """Hands the receipt to the TSE thread now (called on the database thread) and
        returns the wait for the signed row, with the timeout and errors of :meth:`_call`."""
        tse = self.tse
        number = started.transaction_number
        assert tse is not None
        assert number is not None
        asked_at = self._clock()
        begin = time.perf_counter()
        observe = self._metrics.tse_seconds.labels("finish").observe
        try:
            future: Future[TseLogResult] = self._pool.submit(
                tse.finish_transaction,
                self.client_id,
                number,
                pd.PROCESS_TYPE_KASSENBELEG,
                pd.encode(data),
            )
        except RuntimeError as exc:  # the pool is shut down: the daemon is stopping
            failure = TseUnavailable("BACKEND_ERROR", f"{type(exc).__name__}: {exc}")

            def refused() -> fstore.SaleTse:
                raise failure

            return refused
        future.add_done_callback(lambda f: observe(time.perf_counter() - begin))

        def wait() -> fstore.SaleTse:
            left = max(0.0, begin + self._timeout - time.perf_counter())
            with self._unavailable_on_failure("finish", asked_at):
                result = future.result(timeout=left)
            crashpoints.reached("post.after_tse_finish")
            return self._signed_row(started, result)

        return wait

    def _outage_row(
        self, sale_id: str, started: fstore.SaleTse | None, data: str, outage: int
    ) -> fstore.SaleTse:
        return fstore.SaleTse(
            sale_id=sale_id,
            client_id=self.client_id,
            transaction_number=started.transaction_number if started else None,
            state=fstore.OUTAGE,
            start_time=started.start_time if started else None,
            start_counter=started.start_counter if started else None,
            process_type=pd.PROCESS_TYPE_KASSENBELEG,
            process_data=data,
            # the TSE that started its transaction (the number is that TSE's)
            tse_serial=started.tse_serial
            if started and started.tse_serial
            else self._marking_serial(),
            outage_number=outage,
        )

    async def cancel_sale(self, sale_id: str) -> fstore.SaleTse | None:
        """Finishes the sale's transaction as AVBelegabbruch (if it has one)."""
        if self.tse is None:
            return None
        task = self._starts.pop(sale_id, None)
        started = await task if task is not None else None
        if started is None:
            started = await self._db.read(lambda c: fstore.get(c, sale_id))
        if started is None or started.transaction_number is None:
            return None
        if self.outage is not None or not self._of_this_tse(started):
            # a transaction of a replaced TSE stays as it is (this TSE's transaction of
            # that number is another's), its row unsigned; _finish_ended skips it
            return replace(started, state=fstore.CANCELLED, outage_number=self.outage)
        tse = self.tse
        number = started.transaction_number
        try:
            result = await self._call(
                "cancel", lambda: tse.cancel_transaction(self.client_id, number)
            )
        except TseUnavailable as exc:
            await self._begin_outage(exc, operator_id=await self._operator_of(sale_id))
            return replace(started, state=fstore.CANCELLED, outage_number=self.outage)
        return replace(self._signed_row(started, result), state=fstore.CANCELLED)

    async def finish_transfer(self, sale: Sale) -> fstore.SaleTse | None:
        """A parked sale leaves for another register: its transaction here finishes as
        ``AVTransfer`` with the sale's amounts and no payments (DSFinV-K BON_TYP
        AVTransfer, fiscal-de.md processData); the other register starts its own."""
        if self.tse is None:
            return None
        started = await self.ensure_started(sale.sale_id) if self.outage is None else None
        if started is None:
            started = await self._db.read(lambda c: fstore.get(c, sale.sale_id))
        if started is None or started.transaction_number is None:
            return None
        data = transfer_process_data(sale)
        if started.state == fstore.TRANSFERRED and started.signature:
            # finished before a crash and stored by reconciliation: the TSE's result is
            # that row (also during an outage); only its data must be this hand-over's
            if started.process_data != data:
                raise DomainError(
                    ErrorKind.FAILED_PRECONDITION,
                    "SALE_SIGNED_NOT_POSTED",
                    f"sale {sale.sale_id}: the TSE finished its transaction as"
                    f" {started.process_data!r}, not as this hand-over ({data!r})",
                    metadata={"sale_id": sale.sale_id},
                )
            return started
        if self.outage is not None:
            return replace(started, state=fstore.TRANSFERRED, outage_number=self.outage,
                           process_data=data)  # fmt: skip
        tse = self.tse
        number = started.transaction_number
        try:
            result = await self._call(
                "finish",
                lambda: tse.finish_transaction(
                    self.client_id, number, pd.PROCESS_TYPE_KASSENBELEG, pd.encode(data)
                ),
            )
        except TseUnavailable as exc:
            await self._begin_outage(exc, operator_id=await self._operator_of(sale.sale_id))
            return replace(started, state=fstore.TRANSFERRED, outage_number=self.outage,
                           process_data=data)  # fmt: skip
        return replace(self._signed_row(started, result), state=fstore.TRANSFERRED)

    async def _cancel_tx(self, number: int) -> None:
        tse = self.tse
        assert tse is not None
        try:
            await self._call("cancel", lambda: tse.cancel_transaction(self.client_id, number))
        except TseUnavailable as exc:
            log.warning("tse_cancel_failed", transaction_number=number, error=str(exc))

    # -- Vorgänge of the day (cash movements, booked cash differences) ----------------------

    def event_signer(self, call: EventCall, created: set[int] | None = None) -> EventSigner:
        """The signer of a Vorgang that is no sale (see :data:`EventSigner`) for ``call``:
        the TSE signs it (start + finish, ``Kassenbeleg-V1``) inside the transaction that
        records it; during an outage it gets the outage row (checked to be the open outage
        still, else :class:`SignerStale`); without a TSE None. ``created``: gets the ids
        of the pending rows it writes (see :meth:`signed_event`)."""
        if self.tse is None:
            return no_event_tse
        outage = self.outage
        if outage is None:
            return lambda tx, intent: self._sign_event_now(tx, intent, call, created)

        def sign(tx: Tx, intent: EventIntent) -> fstore.SaleTse | None:
            if fstore.open_outage_number(tx.conn) != outage:
                raise SignerStale(f"outage {outage} is not the open one any more")
            row = self._event_outage_row(intent.process_data, outage)
            failed = tse_events.pending_for_request(
                tx.conn, call.method, call.request_id, intent.process_data, self._marking_serial()
            )
            if failed is not None:
                # the finish of an earlier attempt failed (the outage began there): the
                # record names that transaction, which recovery finishes with these data
                # (or whose lost answer it fetches), so it ends as this Vorgang
                tse_events.resolve(tx.conn, failed.event_id, tse_events.OUTAGE, self._clock())
                row = replace(
                    row,
                    transaction_number=failed.transaction_number,
                    start_time=failed.start_time,
                    start_counter=failed.start_counter,
                )
            return row

        return sign

    async def signed_event(
        self, operator_id: str, call: EventCall, record: Callable[[EventSigner], Awaitable[T]]
    ) -> T:
        """Runs ``record`` (one transaction that calls its signer once its checks passed,
        as :meth:`signed_post`) until it commits: signed by the TSE, or in the outage the
        TSE's failure opened (nothing of the failed attempt was recorded), or again with
        a fresh signer when the one it had no longer fits. A refused ``record`` never
        reached its signer, so the TSE signed nothing for it. A pending row this call
        leaves (a finish that failed, then no attempt recorded it) is no longer its own
        once it returns: the next reconciliation resolves it."""
        created: set[int] = set()
        try:
            sign = self.event_signer(call, created)
            for _ in range(POST_ATTEMPTS):
                try:
                    return await record(sign)
                except TseUnavailable as exc:
                    await self._begin_outage(exc, operator_id=operator_id)
                    sign = self.event_signer(call, created)
                except SignerStale:
                    sign = self.event_signer(call, created)
        finally:
            self._live_events.difference_update(created)
        raise DomainError(
            ErrorKind.UNAVAILABLE,
            "FISCAL_STATE_CHANGING",
            f"the TSE's state changed during each of {POST_ATTEMPTS} attempts; nothing was"
            " recorded, try again",
        )

    def _sign_event_now(
        self, tx: Tx, intent: EventIntent, call: EventCall, created: set[int] | None
    ) -> fstore.SaleTse:
        """Start + finish of a ``Kassenbeleg-V1`` transaction, called on the database
        thread inside the recording transaction (it waits for the TSE thread, each call
        bounded by the TSE timeout), crash-safe in three steps:

        1. the TSE starts the transaction; its number, the processData and the intent's
           payload go into a PENDING row (schema 18), committed and fsync'd with
           :meth:`Tx.commit_so_far` (nothing else was written yet: the checks only read);
        2. the TSE finishes it;
        3. the row becomes DONE in the rest of the transaction, which records the
           Vorgang: both commit, or neither.

        A crash before 1 commits leaves an unknown open transaction: cancelled as an
        orphan at start-up (TSE_ORPHAN_CANCELLED). A crash after 1 leaves the PENDING
        row: start-up reconciliation records the Vorgang when the TSE finished it, else
        cancels the transaction (:meth:`_resolve_events`). A failed finish raises
        :class:`TseUnavailable` with the row PENDING: the outage retry of the same call
        takes it over, and so does a retry with the same request_id (the same data
        finished again gives the TSE's stored result)."""
        tse = self.tse
        assert tse is not None
        conn = tx.conn
        process_type = pd.PROCESS_TYPE_KASSENBELEG
        failed = tse_events.pending_for_request(
            conn, call.method, call.request_id, intent.process_data, self._marking_serial()
        )
        if failed is not None:
            ev = failed  # an earlier attempt's finish failed: the same transaction again
        else:
            start = self._call_now(
                "start", lambda: tse.start_transaction(self.client_id, process_type, b"")
            )
            crashpoints.reached("event.after_start")
            event_id = tse_events.insert(
                conn,
                kind=intent.kind,
                client_id=self.client_id,
                transaction_number=start.transaction_number,
                start_time=start.log_time,
                start_counter=start.signature_counter,
                process_data=intent.process_data,
                payload=intent.payload,
                method=call.method,
                request_id=call.request_id,
                digest=call.digest,
                when=self._clock(),
                # the TSE that started it: its transaction numbers are its own (schema 28)
                tse_serial=self._marking_serial(),
            )
            tx.commit_so_far()
            self._live_events.add(event_id)
            if created is not None:
                created.add(event_id)
            crashpoints.reached("event.before_finish")
            ev = tse_events.PendingEvent(
                event_id=event_id,
                kind=intent.kind,
                state=tse_events.PENDING,
                client_id=self.client_id,
                transaction_number=start.transaction_number,
                start_time=start.log_time,
                start_counter=start.signature_counter,
                process_data=intent.process_data,
                payload=intent.payload,
                method=call.method,
                request_id=call.request_id,
                digest=call.digest,
                created_at=None,
                tse_serial=self._marking_serial(),
            )
        number = ev.transaction_number
        data = pd.encode(intent.process_data)
        result = self._call_now(
            "finish",
            lambda: tse.finish_transaction(self.client_id, number, process_type, data),
        )
        crashpoints.reached("event.after_finish")
        # DONE with the record, in the transaction's last part: a second Vorgang signed
        # in the same call (a close's differences in two currencies) commits the first
        # part again at its start, and must leave this row PENDING there
        event_id = ev.event_id
        tx.before_commit(lambda: self._resolve_done(conn, event_id))
        return self._signed_row(self._event_started_row(ev), result)

    def _resolve_done(self, conn: sqlite3.Connection, event_id: int) -> None:
        tse_events.resolve(conn, event_id, tse_events.DONE, self._clock())

    def _call_now(self, operation: str, fn: Callable[[], T]) -> T:
        """:meth:`_call` for a caller on another thread than the loop (it blocks)."""
        asked_at = self._clock()
        begin = time.perf_counter()
        try:
            with self._unavailable_on_failure(operation, asked_at):
                try:
                    future = self._pool.submit(fn)
                except RuntimeError as exc:  # the pool is shut down: the daemon is stopping
                    raise TseError("BACKEND_ERROR", f"{type(exc).__name__}: {exc}") from exc
                return future.result(timeout=self._timeout)
        finally:
            self._metrics.tse_seconds.labels(operation).observe(time.perf_counter() - begin)

    def _event_outage_row(self, data: str, outage: int) -> fstore.SaleTse:
        return fstore.SaleTse(
            "",
            self.client_id,
            None,
            fstore.OUTAGE,
            process_type=pd.PROCESS_TYPE_KASSENBELEG,
            process_data=data,
            tse_serial=self._marking_serial(),
            outage_number=outage,
        )

    # -- outages ---------------------------------------------------------------------------

    def _marking_serial(self) -> str:
        """The TSE serial an outage row carries: the TSE's as last read, else the one the
        outage open at the start names ("" when none is known)."""
        return self.info.serial_hex if self.info is not None else self._outage_serial

    def _of_this_tse(self, row: fstore.SaleTse) -> bool:
        """The row's transaction is one of this TSE's: it names this TSE, or names none
        (started before schema 27, or no TSE known then) and counts as this one's, as
        before; so does every row while no TSE is known. A replaced TSE numbers its
        transactions from 1 again (BSI TR-03151: a number names a transaction of one
        TSE): another TSE's transaction n is never finished or cancelled here."""
        current = self._marking_serial()
        return not row.tse_serial or not current or row.tse_serial == current

    async def _begin_outage(self, exc: TseUnavailable, *, operator_id: str) -> None:
        if self.outage is not None:
            return
        info = self.info
        when = self._clock()
        record = fstore.Outage(
            outage_number=0,
            # the Ausfall began when the TSE got the call it did not answer (or refused),
            # not when that call's timeout ran out seconds later: the outage records
            # "the moment of the first failure" (fiscal-de.md, TSE outage)
            started_at=exc.asked_at if exc.asked_at is not None else when,
            ended_at=None,
            error_code=exc.code,
            error_message=exc.message,
            tse_manufacturer=info.manufacturer if info else fstore.UNKNOWN_TSE,
            tse_serial=info.serial_hex if info else fstore.UNKNOWN_TSE,
            client_id=self.client_id,
            register_id=self.register_id,
            operator_id=operator_id,
            printer=self._printer_name,
        )

        def write(tx: Tx) -> tuple[int, bool]:
            current = fstore.open_outage_number(tx.conn)
            if current is not None:
                return current, False
            number = fstore.insert_outage(tx.conn, record)
            journal.append(
                tx.conn,
                kind="TSE_OUTAGE_BEGIN",
                register_id=self.register_id,
                ref=f"outage:{number}",
                payload={
                    "outage_number": number,
                    "error_code": exc.code,
                    "error_message": exc.message,
                    "tse_serial": record.tse_serial,
                },
                when=when,
            )
            if self._print_outage_receipts:
                outbox.enqueue(
                    tx.conn,
                    kind="print",
                    ref=f"outage:{number}",
                    receipt_number=None,
                    payload={"document": "outage_begin", "outage": number},
                    when=when,
                )
                tx.after_commit(self._on_outbox)
            return number, True

        # Two failures at once (two posts, a post and a movement) both get here before
        # either's write set self.outage: the database opens one outage, and only the
        # caller whose write opened it counts and logs it.
        number, opened = await self._db.write(write)
        self.outage = number
        self._metrics.tse_outage_active.set(1)
        if opened:
            self._metrics.tse_outages.inc()
            log.error(
                "tse_outage_begin",
                outage_number=self.outage,
                error_code=exc.code,
                error=exc.message,
            )
            self._tell(self._outage_state(TSE_OUTAGE, replace(record, outage_number=number)))
        self._ensure_probe()

    def _ensure_probe(self) -> None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_loop(), name="tse-probe")

    async def _probe_loop(self) -> None:
        while self.outage is not None and not self._closing:
            await asyncio.sleep(self._probe_s)
            try:
                # not left on success: an outage that began while this recovery was
                # still finishing (its late signing after the close) found this task
                # running and started no probe of its own; the loop goes on with it
                await self.try_recover()
            except Exception:  # e.g. a database error: the next round tries again
                log.exception("tse_probe_failed", outage_number=self.outage)

    async def try_recover(self) -> bool:
        """Retries the TSE; on success closes the outage and queues the recovery receipt.
        One recovery at a time: a second caller waits and gets the first one's outcome."""
        async with self._recovering:
            return await self._try_recover()

    async def _try_recover(self) -> bool:
        if self.tse is None or self.outage is None:
            return self.outage is None
        tse = self.tse
        try:
            await self._check_counters(await self._call("info", tse.info))
            await self._call("self_test", tse.self_test)
            await self._call("register_client", lambda: tse.register_client(self.client_id))
            self.info = await self._call("info", tse.info)
            await self.reconcile()
            await self._sign_late()
        except TseUnavailable as exc:
            # the TSE failed again midway (the late signing too: its list of open
            # transactions, a finish not answered in time): the outage goes on and the
            # probe keeps trying
            log.info("tse_still_unavailable", outage_number=self.outage, error=str(exc))
            return False
        number = self.outage
        when = self._clock()

        info = self.info

        def write(tx: Tx) -> fstore.Outage:
            fstore.close_outage(tx.conn, number, when)
            if info is not None:
                fstore.name_outage_tse(tx.conn, number, info.manufacturer, info.serial_hex)
            o = fstore.get_outage(tx.conn, number)
            assert o is not None
            journal.append(
                tx.conn,
                kind="TSE_OUTAGE_END",
                register_id=self.register_id,
                ref=f"outage:{number}",
                payload={
                    "outage_number": number,
                    "receipts": list(o.receipts),
                    "movements": [m.label for m in o.movements],
                },
                when=when,
            )
            outbox.enqueue(
                tx.conn,
                kind="print",
                ref=f"outage:{number}",
                receipt_number=None,
                payload={"document": "outage_end", "outage": number},
                when=when,
            )
            tx.after_commit(self._on_outbox)
            return o

        ended = await self._db.write(write)
        self.outage = None
        self._metrics.tse_outage_active.set(0)
        log.warning("tse_outage_end", outage_number=number)
        self._tell(self._outage_state(TSE_OK, replace(ended, ended_at=when)))
        # A post may have committed with the outage marking after the late signing read
        # the outage receipts and before the close (its signer checks only that the
        # outage is open): sign those now. No receipt can get this outage's marking any
        # more. The same for a sale cancelled or handed over after the reconciliation
        # read those (cancel_sale and finish_transfer ask the TSE nothing while the
        # outage is open): its transaction is finished as the sale ended, not left open
        # at the TSE until the next start. Should the TSE fail here, the next start (or
        # recovery) finishes them. A cancellation that found the outage still open queued
        # its write in the same loop step (no await between cancel_sale's check and the
        # caller's write), before this task resumed from the close: _finish_ended's read
        # runs on the one database thread after every write queued before it
        # (DbExecutor.read), so it sees that cancellation.
        try:
            await self._finish_ended()
            await self._sign_late()
        except TseUnavailable as exc:
            log.warning("tse_late_signing_failed", outage_number=number, error=str(exc))
        return True

    async def _sign_late(self) -> None:
        """Outage receipts with a TSE transaction get their signature: the TSE finished
        it (the answer was lost) or, started before the outage, it is still open and is
        finished now with the receipt's own processData. Nothing requires signing outage
        receipts later, but recovery "finishes what can be finished" (fiscal-de.md, TSE
        outage), and finished as an abort the TSE log would say aborted where the
        register says sold. The receipt keeps its outage number (SIGNED_LATE, printed
        and exported as "nachsigniert"), so the outage stays documented."""
        tse = self.tse
        assert tse is not None
        # only this TSE's transactions: a replaced TSE's receipt n finished here would
        # end this TSE's own transaction n (another sale's) with that receipt's data
        rows = [
            r
            for r in await self._db.read(_outage_rows)
            if r.transaction_number is not None and self._of_this_tse(r)
        ]
        if not rows:
            return
        open_tx = await self._open_tx()
        for row in rows:
            n = row.transaction_number
            if n is None:
                continue
            if not row.process_data:
                # no receipt to sign (not written by a post): only close the transaction
                if n in open_tx:
                    await self._cancel_tx(n)
                continue
            data = pd.encode(row.process_data)
            try:
                result = await self._call("finish", self._finisher(n, data))
            except TseUnavailable as exc:
                if exc.transient:
                    # the TSE is out again (e.g. no answer within the timeout): the
                    # recovery ends here and the outage goes on. Going on with the next
                    # receipt cost one timeout per outage receipt, and then the outage
                    # was closed anyway, with a TSE that does not answer.
                    raise
                # this one transaction is refused (e.g. not open, finished with other
                # data): it keeps its outage marking; the others are signed
                log.warning("tse_late_signing_refused", transaction_number=n, error=str(exc))
                continue
            late = replace(
                self._signed_row(row, result),
                state=fstore.SIGNED_LATE,
                outage_number=row.outage_number,
            )
            await self._db.write(_saver(late))

    def _canceller(self, number: int) -> Callable[[], TseLogResult]:
        tse = self.tse
        assert tse is not None
        return lambda: tse.cancel_transaction(self.client_id, number)

    def _finisher(self, number: int, data: bytes) -> Callable[[], TseLogResult]:
        tse = self.tse
        assert tse is not None
        return lambda: tse.finish_transaction(
            self.client_id, number, pd.PROCESS_TYPE_KASSENBELEG, data
        )

    async def export(self, out: BinaryIO) -> None:
        """Writes the TSE export TAR (no short timeout: an export can take minutes).

        It runs on a thread of its own beside the sales' TSE calls (the backends read a
        snapshot or poll without their signing lock, see ``Tse.export``): a manager
        exporting for the tax office during business hours must not turn receipts into
        outage receipts. One export at a time: a second one is refused with
        FAILED_PRECONDITION ``EXPORT_RUNNING`` rather than queued (an export holds a
        15-minute budget; a queued one would hold its caller just as long, with nothing
        to show). ``EXPORT_TIMEOUT_S``, the caller going away (its call cancelled) and
        the daemon's stop abort the running export (``EXPORT_ABORTED``) instead of
        leaving it behind.
        """
        tse = self.tse
        if tse is None:
            raise TseUnavailable("NO_TSE", "no TSE is configured (tse.backend = none)")
        if self._closing:
            raise TseUnavailable("STOPPING", "the daemon is stopping")
        if self._export is not None:
            raise DomainError(
                ErrorKind.FAILED_PRECONDITION,
                "EXPORT_RUNNING",
                "a TSE export is running; start the next one when it has finished",
            )
        loop = asyncio.get_running_loop()
        abort = threading.Event()
        job = loop.run_in_executor(self._export_pool, tse.export, out, abort)
        self._export, self._export_abort = job, abort
        job.add_done_callback(self._export_ended)
        begin = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.shield(job), EXPORT_TIMEOUT_S)
        except TimeoutError:
            abort.set()
            await asyncio.wait({job}, timeout=EXPORT_ABORT_WAIT_S)
            raise TseUnavailable("TIMEOUT", "the TSE export did not finish") from None
        except asyncio.CancelledError:
            abort.set()  # its caller is gone: nobody would get the rest
            raise
        except TseError as exc:
            raise TseUnavailable(exc.code, exc.message) from exc
        except Exception as exc:  # a backend bug
            log.exception("tse_export_failed")
            raise TseUnavailable("BACKEND_ERROR", f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._metrics.tse_seconds.labels("export").observe(time.perf_counter() - begin)

    def _export_ended(self, job: asyncio.Future[None]) -> None:
        """The export's thread is done: the next export may start."""
        if self._export is job:
            self._export, self._export_abort = None, None
        if not job.cancelled():
            job.exception()  # retrieved: its caller reported it, or is gone

    def abort_export(self) -> bool:
        """Aborts the running export, if any (it ends soon with ``EXPORT_ABORTED``)."""
        abort = self._export_abort
        if abort is None:
            return False
        abort.set()
        return True

    async def self_test(self) -> None:
        tse = self.tse
        if tse is None:
            raise TseUnavailable("NO_TSE", "no TSE is configured (tse.backend = none)")
        await self._call("self_test", tse.self_test)

    async def current_info(self) -> TseInfo:
        tse = self.tse
        if tse is None:
            raise TseUnavailable("NO_TSE", "no TSE is configured (tse.backend = none)")
        self.info = await self._call("info", tse.info)
        return self.info

    async def close(self) -> None:
        self._closing = True
        if self.abort_export():
            log.info("tse_export_aborted", reason="the daemon is stopping")
        if self._probe is not None:
            self._probe.cancel()
        for task in self._starts.values():
            task.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        export = self._export
        if export is not None:
            done, _ = await asyncio.wait({export}, timeout=EXPORT_ABORT_WAIT_S)
            if not done:
                log.warning("tse_export_still_running", waited_s=EXPORT_ABORT_WAIT_S)
        self._export_pool.shutdown(wait=False, cancel_futures=True)
        if self.tse is not None:
            self.tse.close()


def _started_rows(conn: sqlite3.Connection) -> list[fstore.SaleTse]:
    return fstore.by_state(conn, fstore.STARTED)


def _outage_rows(conn: sqlite3.Connection) -> list[fstore.SaleTse]:
    return fstore.by_state(conn, fstore.OUTAGE)


def _saver(row: fstore.SaleTse) -> Callable[[Tx], None]:
    return lambda tx: _save(tx, row)


def _save(tx: Tx, row: fstore.SaleTse) -> None:
    """:func:`fstore.save`; a row refused because another sale's row holds its TSE
    transaction is logged as an error (fiscal data would have been lost) and raised."""
    try:
        fstore.save(tx.conn, row)
    except fstore.TransactionTaken as exc:
        log.error(
            "tse_transaction_taken",
            sale_id=exc.sale_id,
            other_sale_id=exc.other_sale_id,
            transaction_number=exc.transaction_number,
            tse_serial=exc.tse_serial,
        )
        raise
