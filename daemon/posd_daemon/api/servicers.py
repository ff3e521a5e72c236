"""gRPC servicers: thin translation between proto messages and the use cases."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from posd.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
    sale_pb2,
    sale_pb2_grpc,
    system_pb2,
    system_pb2_grpc,
)

from posd_daemon import __version__
from posd_daemon.api import convert
from posd_daemon.api.runtime import Context, Runtime, bearer_token, request_digest
from posd_daemon.api.sale_rpcs import CatalogRpcs, SaleRpcs
from posd_daemon.api.settle_rpcs import SettleRpcs

if TYPE_CHECKING:
    from posd_daemon.api.device_servicer import SaleEvents
from posd_daemon.domain.digital_receipt import Delivery
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid, precondition
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.sale import LineKind, Sale, SaleState
from posd_daemon.domain.text import check_code
from posd_daemon.ops import logging as plog
from posd_daemon.services import paging
from posd_daemon.services.auth import LoginRefused
from posd_daemon.services.catalog import CatalogCommands
from posd_daemon.services.digital_receipts import DigitalLink, DigitalReceipts
from posd_daemon.services.executor import Abandoned, Speculation, Tx
from posd_daemon.services.fiscal import FinishSigner, FiscalGateway, Signer
from posd_daemon.services.sales import LineAdded, SaleCommands, receipt_counter
from posd_daemon.services.shielded import log_failure
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import idempotency as idempotency_store
from posd_daemon.store import journal, outbox
from posd_daemon.store import sales as sale_store

log = plog.get("posd.rpc")

#: How long a post run ahead waits for its PostSale before it gives the database back.
POST_AHEAD_TTL_S = 1.0
#: A post runs ahead only once its PostSale has not come this soon after the payment: a
#: client that posts at once gets the usual post, without a run-ahead competing with it.
POST_AHEAD_DELAY_S = 0.005


@dataclass(frozen=True)
class _AheadOffer:
    """What a post run ahead offers while it is parked: the receipt's processData (the
    claim hands it to the TSE at once) and the sale's TSE row as the run-ahead's own
    transaction read it. No other write can have come since (any write rolls the
    run-ahead back first), so the PostSale that finds it parked knows the sale is open
    and not empty and which TSE transaction to finish, without reading either again."""

    process_data: str | None
    tse: fstore.SaleTse | None
    #: the business day it checked the post for (VAT rates, lots' expiry dates)
    day: date


class _Caller:
    """Whether the PostSale that claimed a post run ahead is still waiting for it."""

    __slots__ = ("gone",)

    def __init__(self) -> None:
        self.gone = False


@dataclass(frozen=True)
class _PostClaim:
    """What a post run ahead needs from the PostSale that claims it."""

    sign: Signer
    #: the TSE's wait, when the signature was asked for at the claim already
    signed: Callable[[], fstore.SaleTse | None] | None
    request_id: str
    #: the claiming request: its digest (for the idempotency record) is taken on the
    #: database thread while the TSE signs, not on the claim's way
    request: sale_pb2.PostSaleRequest
    now: datetime
    #: the business day of ``now``
    day: date
    #: the PostSale's start (``time.perf_counter()``): the post's duration runs from it
    started: float
    #: gone: the PostSale was cancelled (deadline, closed channel) while the claimed post
    #: went on; it commits all the same and its answer is kept for the repeat
    caller: _Caller = field(default_factory=_Caller)


def _paid_in_full(sale: sale_pb2.Sale) -> bool:
    """The payment left the sale open and paid in full: its PostSale is likely next."""
    return (
        sale.state == sale_pb2.SALE_STATE_OPEN
        and sale.total.amount_minor > 0
        and sale.open_amount.amount_minor == 0
    )


class _AwaitingStart:
    """A run-ahead that waits for its sale's TSE start (its timer has fired)."""

    __slots__ = ()


def _runs_ahead(sale: Sale) -> bool:
    """A post runs ahead only for a plain sale: goods and discounts, no serial numbers,
    no vouchers, not a reversal (their other timed rows are not re-dated, see
    SaleCommands.redate_post). Checked on the sale as the post loaded it."""
    return not sale.reverses_sale_id and all(
        ln.kind in (LineKind.GOODS, LineKind.DISCOUNT) and not ln.serial and not ln.voucher_code
        for ln in sale.lines
    )


def _post_key(sale_id: str, op: Operator) -> str:
    """A post run ahead is claimed only by a PostSale of the same sale and operator."""
    return f"post:{sale_id}:{op.operator_id}"


class SaleServicer(SettleRpcs, SaleRpcs, sale_pb2_grpc.SaleServiceServicer):
    def __init__(
        self,
        rt: Runtime,
        sales: SaleCommands,
        fiscal: FiscalGateway,
        events: SaleEvents | None = None,
    ) -> None:
        self.rt = rt
        self.sales = sales
        self.fiscal = fiscal
        #: Publishes sale events (customer display, scanner, SubscribeEvents).
        self.events = events
        #: posts due to run ahead (see post_ahead), by sale: the timer, or a marker while
        #: the run-ahead waits for the sale's TSE start
        self._ahead: dict[str, asyncio.TimerHandle | _AwaitingStart] = {}
        #: digital receipts, when [digital_receipt] is on (bootstrap sets it)
        self.digital: DigitalReceipts | None = None

    def _publish(self, kind: str, sale: sale_pb2.Sale, op_id: str, line_id: str = "") -> None:
        events = self.events
        if events is not None:
            # after the answer (the display and the bus follow in order)
            self.rt.after_answer(
                lambda: events.changed(kind, sale, op_id, line_id),
                "PostSale" if kind == "posted" else "",
            )

    def _publish_at_commit(
        self,
        tx: Tx,
        loop: asyncio.AbstractEventLoop,
        kind: str,
        op: Operator,
        sale: Callable[[], sale_pb2.Sale],
        *,
        post_started: float | None = None,
    ) -> None:
        """Publishes ``kind`` ("posted", "cancelled") for the sale ``sale()`` builds once
        the transaction commits: at the commit, not on the call's return, since a post, a
        reversal or a cancellation goes on and commits when its caller is gone (its
        deadline passed while the TSE signed, see _claim_post); the display, the drawer and
        the event stream must see that sale finished all the same, and once (a repeat
        commits nothing). ``post_started``: the commit is a post, counted once in the post
        metrics, its duration from that ``time.perf_counter()`` (the call's start) to the
        commit."""

        def committed() -> None:  # on the database thread, after the commit
            pb = sale()
            at = time.perf_counter()

            def publish() -> None:
                if post_started is not None:
                    self.rt.metrics.post_seconds.observe(at - post_started)
                    self.rt.metrics.sales_posted.inc()
                self._publish(kind, pb, op.operator_id)

            loop.call_soon_threadsafe(publish)

        tx.after_commit(committed)

    async def CreateSale(
        self, request: sale_pb2.CreateSaleRequest, context: Context
    ) -> sale_pb2.CreateSaleResponse:
        async def run() -> sale_pb2.CreateSaleResponse:
            op = await self.rt.operator(context)
            if self.events is not None:
                self.events.before_create()  # e.g. no new sale while the drawer is open
            answered = await self.rt.answered("CreateSale", request, sale_pb2.CreateSaleResponse)
            if answered is not None:
                return answered
            await self.replace_empty_sales(op)  # a new sale replaces empty abandoned ones
            response = await self.rt.mutate(
                "CreateSale",
                request,
                lambda tx: self.sales.create(tx, op, training=request.training),
                lambda s: sale_pb2.CreateSaleResponse(sale=convert.sale_to_pb(s)),
                sale_pb2.CreateSaleResponse,
            )
            self._publish("created", response.sale, op.operator_id)
            return response

        return await self.rt.call(context, "CreateSale", request, run)

    async def GetSale(
        self, request: sale_pb2.GetSaleRequest, context: Context
    ) -> sale_pb2.GetSaleResponse:
        async def run() -> sale_pb2.GetSaleResponse:
            # receipts (lines, payments) are read with SALE, as ListReceipts is
            (await self.rt.operator(context)).require(Permission.SALE)
            sale, row = await self.rt.db.read(
                lambda c: (self.sales.get(c, request.sale_id), fstore.get(c, request.sale_id))
            )
            return sale_pb2.GetSaleResponse(sale=convert.sale_to_pb(sale, row))

        return await self.rt.call(context, "GetSale", request, run)

    async def ListSales(
        self, request: sale_pb2.ListSalesRequest, context: Context
    ) -> sale_pb2.ListSalesResponse:
        async def run() -> sale_pb2.ListSalesResponse:
            # receipts (lines, payments) are read with SALE, as ListReceipts is
            (await self.rt.operator(context)).require(Permission.SALE)
            state = convert.sale_state_from_pb(request.state)
            sales, token = await self.rt.db.read(
                lambda c: self.sales.list(c, state, request.page_size, request.page_token)
            )
            return sale_pb2.ListSalesResponse(
                sales=[convert.sale_to_pb(s) for s in sales], next_page_token=token
            )

        return await self.rt.call(context, "ListSales", request, run)

    async def AddLine(
        self, request: sale_pb2.AddLineRequest, context: Context
    ) -> sale_pb2.AddLineResponse:
        async def run() -> sale_pb2.AddLineResponse:
            op = await self.rt.operator(context)
            which = request.WhichOneof("item_ref")
            if which is None:
                raise invalid("item_ref", "give item_id or code")

            def encode(r: LineAdded) -> sale_pb2.AddLineResponse:
                return sale_pb2.AddLineResponse(sale=convert.sale_to_pb(r.sale), line_id=r.line_id)

            response = await self.rt.mutate(
                "AddLine",
                request,
                lambda tx: self.sales.add_line(
                    tx,
                    op,
                    request.sale_id,
                    item_id=request.item_id if which == "item_id" else "",
                    code=request.code if which == "code" else "",
                    quantity=request.quantity,
                    variant_id=request.variant_id,
                    unit=request.unit,
                    lot=request.lot_number,
                    serial=request.serial_number,
                    note=request.note,
                ),
                encode,
                sale_pb2.AddLineResponse,
            )
            # the TSE transaction starts with the first line, in the background
            self.fiscal.schedule_start(response.sale.sale_id)
            self._publish("line_added", response.sale, op.operator_id, response.line_id)
            return response

        return await self.rt.call(context, "AddLine", request, run)

    async def UpdateLine(
        self, request: sale_pb2.UpdateLineRequest, context: Context
    ) -> sale_pb2.UpdateLineResponse:
        async def run() -> sale_pb2.UpdateLineResponse:
            op = await self.rt.operator(context)
            response = await self.rt.mutate(
                "UpdateLine",
                request,
                lambda tx: self.sales.update_line(
                    tx,
                    op,
                    request.sale_id,
                    request.line_id,
                    request.quantity,
                    note=request.note if request.HasField("note") else None,
                ),
                lambda s: sale_pb2.UpdateLineResponse(sale=convert.sale_to_pb(s)),
                sale_pb2.UpdateLineResponse,
            )
            self._publish("line_updated", response.sale, op.operator_id, request.line_id)
            return response

        return await self.rt.call(context, "UpdateLine", request, run)

    async def RemoveLine(
        self, request: sale_pb2.RemoveLineRequest, context: Context
    ) -> sale_pb2.RemoveLineResponse:
        async def run() -> sale_pb2.RemoveLineResponse:
            op = await self.rt.operator(context)
            response = await self.rt.mutate(
                "RemoveLine",
                request,
                lambda tx: self.sales.remove_line(tx, op, request.sale_id, request.line_id),
                lambda s: sale_pb2.RemoveLineResponse(sale=convert.sale_to_pb(s)),
                sale_pb2.RemoveLineResponse,
            )
            self._publish("line_removed", response.sale, op.operator_id)
            return response

        return await self.rt.call(context, "RemoveLine", request, run)

    async def RemovePayment(
        self, request: sale_pb2.RemovePaymentRequest, context: Context
    ) -> sale_pb2.RemovePaymentResponse:
        async def run() -> sale_pb2.RemovePaymentResponse:
            op = await self.rt.operator(context)
            response = await self.rt.mutate(
                "RemovePayment",
                request,
                lambda tx: self.sales.remove_payment(tx, op, request.sale_id, request.payment_id),
                lambda s: sale_pb2.RemovePaymentResponse(sale=convert.sale_to_pb(s)),
                sale_pb2.RemovePaymentResponse,
            )
            self._publish("payment_removed", response.sale, op.operator_id)
            return response

        return await self.rt.call(context, "RemovePayment", request, run)

    async def PostSale(
        self, request: sale_pb2.PostSaleRequest, context: Context
    ) -> sale_pb2.PostSaleResponse:
        async def run() -> sale_pb2.PostSaleResponse:
            self._not_ahead(request.sale_id)  # too soon to run ahead: the usual post
            op = await self.rt.operator(context)
            self._check_delivery(request)
            start = time.perf_counter()
            # no separate look for a repeated request_id: mutate() answers a repeat with the
            # stored answer before anything is done, and the TSE is asked for a signature
            # only inside the post (see SaleCommands.post_signed)
            sale_id = request.sale_id
            ahead = self.rt.db.parked_offer(_post_key(sale_id, op))
            if isinstance(ahead, _AheadOffer):
                recovered, signs = False, True  # see _AheadOffer
            else:
                ahead = None
                recovered, signs = self.rt.db.read_now(
                    lambda c: self.sales.post_outlook(c, sale_id)
                )
            if recovered:
                # posted by crash reconciliation: this retry gets the posted sale
                def claim(tx: Tx) -> tuple[Sale, fstore.SaleTse | None, DigitalLink | None]:
                    sale, row = self.sales.claim_recovered(tx, op, sale_id, request.request_id)
                    return sale, row, self._link(tx.conn, sale_id)

                return await self.rt.mutate(
                    "PostSale",
                    request,
                    claim,
                    lambda r: self._post_response((r[0], r[1]), [], r[2]),
                    sale_pb2.PostSaleResponse,
                )
            try:
                response = await self._signed_post(request, op, start, signs, ahead)
            except DomainError as exc:
                if exc.reason == "VAT_RATES_OUTDATED":
                    # a gross-priced sale open across a VAT rate change: the post's day's
                    # rates (same gross) are committed on their own first, for the same
                    # reason as the balancing line below (SaleCommands.check_vat_rates)
                    await self.rt.db.write(
                        lambda tx: self.sales.apply_vat_rates_for_post(tx, op, sale_id)
                    )
                elif exc.reason == "REFUND_REQUIRED":
                    # a negative total: vouchers beyond the goods (always) or an exchange
                    # the client books to the balancing account. The balancing line is
                    # committed on its own first, so that a post whose TSE finish survives
                    # a crash before its commit finds the line it signed; then the post
                    # again.
                    await self.rt.db.write(
                        lambda tx: self.sales.balance(
                            tx, op, sale_id, requested=request.balance_negative_total
                        )
                    )
                else:
                    raise
                response = await self._signed_post(request, op, start, True)
            # "posted" was published and counted at the commit (see _publish_at_commit)
            return response

        return await self.rt.call(context, "PostSale", request, run)

    async def _signed_post(
        self,
        request: sale_pb2.PostSaleRequest,
        op: Operator,
        started: float,
        signs: bool,
        ahead: _AheadOffer | None = None,
    ) -> sale_pb2.PostSaleResponse:
        """The post with its signature (see FiscalGateway.signed_post); no other change
        may touch the sale meanwhile. ``signs`` False: the look before the post found
        it not open or empty (refused before signing: no TSE transaction is started)."""
        sale_id = request.sale_id
        self.sales.check_may_finish(sale_id, "post")  # a sale signed, not saved posts again
        self.sales.start_finish(sale_id, "post")
        try:
            with self.sales.failures_after_signing(sale_id):
                return await self.fiscal.signed_post(
                    sale_id,
                    op.operator_id,
                    lambda sign: self._post(request, op, sign, started),
                    needs_tse=signs,
                    signed_before=sale_id in self.sales.signed_unposted,
                    started=None if ahead is None else ahead.tse,
                )
        finally:
            self.sales.end_finish(sale_id)

    def post_ahead(self, paid: sale_pb2.Sale, op: Operator) -> None:
        """A payment made the sale postable: its post runs now, in a transaction parked on
        the database thread once its checks, receipt number, sale row, stock levels and
        jobs are written, for the PostSale that usually follows (claimed by :meth:`_post`,
        which hands the receipt to the TSE at once and then only waits for the dated
        rows, the signature and the commit). Anything else that needs the database thread
        first, or POST_AHEAD_TTL_S without that PostSale, rolls it back: nothing of it was
        ever visible. At its claim it takes the call's time (SaleCommands.redate_post)."""
        self._not_ahead(paid.sale_id)
        if not _paid_in_full(paid):
            return
        self._ahead[paid.sale_id] = asyncio.get_running_loop().call_later(
            POST_AHEAD_DELAY_S, self._post_ahead_due, paid.sale_id, op
        )

    def _not_ahead(self, sale_id: str) -> None:
        """Cancels the sale's run-ahead still to come (its timer, or its wait for the
        sale's TSE start)."""
        pending = self._ahead.pop(sale_id, None)
        # not isinstance(pending, asyncio.TimerHandle): uvloop's timers are no subclass
        if pending is not None and not isinstance(pending, _AwaitingStart):
            pending.cancel()

    def _post_ahead_due(self, sale_id: str, op: Operator) -> None:
        starting = self.fiscal.pending_start(sale_id)
        if starting is None:
            del self._ahead[sale_id]
            self._run_post_ahead(sale_id, op)
            return
        # its write would roll the run-ahead back: run ahead once it is done, unless a
        # change of the sale (or its PostSale) cancelled this meanwhile
        waiting = _AwaitingStart()
        self._ahead[sale_id] = waiting

        def started(_: object) -> None:
            if self._ahead.get(sale_id) is waiting:
                del self._ahead[sale_id]
                self._run_post_ahead(sale_id, op)

        starting.add_done_callback(started)

    def _run_post_ahead(self, sale_id: str, op: Operator) -> None:
        if sale_id in self.sales.posting:
            return  # its PostSale came first

        loop = asyncio.get_running_loop()

        def work(tx: Tx, spec: Speculation[_PostClaim]) -> sale_pb2.PostSaleResponse:
            day = self.sales.today()  # the day its checks are made for
            built: list[sale_pb2.PostSaleResponse] = []
            receipt: list[str] = []
            signing: list[Callable[[], fstore.SaleTse | None]] = []

            def start(claim: _PostClaim) -> None:
                # the TSE signs from the claim on (asked by the claim itself, when it came
                # while this was parked), while the dated rows are written
                if not signing:
                    signed = claim.signed or claim.sign(tx.conn, receipt[0])
                    signing.append(signed)

            def sign(conn: sqlite3.Connection, data: str) -> Callable[[], fstore.SaleTse | None]:
                # the claim may hand it to the TSE at once; claimed before it got here, the
                # TSE is asked only in ahead(), once the post is sure to go on: should it
                # give way (not a plain sale, another day), the PostSale that claimed it
                # may be gone, and no post would follow a finish asked for here
                receipt.append(data)

                def wait() -> fstore.SaleTse | None:
                    start(spec.park())  # claimed already: returns at once
                    return signing[0]()

                return wait

            def ahead(sale: Sale) -> datetime:
                if not _runs_ahead(sale):  # rolls back what it wrote so far
                    raise Abandoned(f"sale {sale_id} is not a plain sale")
                offer = _AheadOffer(
                    receipt[0] if receipt else None, fstore.get(tx.conn, sale_id), day
                )
                claim = spec.park(offer)
                if claim.day != day:
                    # midnight came in between: the usual post checks it for its own day
                    # (the claim asked the TSE for nothing, see _claim_post)
                    raise Abandoned(f"sale {sale_id}: ran on {day}, claimed on {claim.day}")
                if receipt:
                    start(claim)
                if idempotency_store.lookup(tx.conn, claim.request_id) is not None:
                    # looked up here, while the TSE signs, not on the claim's way: a sale
                    # with a post run ahead is not posted, so this id is another request's
                    # (reused by the client). The usual post answers it (REQUEST_ID_REUSED,
                    # or that request's stored answer); a signature the claim asked for
                    # locks the sale as signed (the TSE cannot take it back) until a post
                    # with its own id saves it, as any post failing after its signature
                    if signing:
                        row = signing[0]()
                        if row is not None and row.state == fstore.SIGNED:
                            self.sales.signed_unposted[sale_id] = row.process_data
                    raise Abandoned(f"sale {sale_id}: request id {claim.request_id} is in use")
                post_time = convert.timestamp(claim.now)
                if built and post_time is not None:  # the answer was built ahead
                    built[0].sale.post_time.CopyFrom(post_time)
                return claim.now

            result = self.sales.post_signed(
                tx,
                op,
                sale_id,
                sign,
                while_signing=lambda sale: built.append(convert.post_answer(sale)),
                ahead=ahead,
            )
            claim = spec.park()  # claimed: returns at once
            response = self._post_response(result, built, self._link(tx.conn, sale_id))
            idempotency_store.store(
                tx.conn,
                claim.request_id,
                "PostSale",
                request_digest(claim.request),
                response.SerializeToString(deterministic=True),
                claim.now,
            )
            self._publish_at_commit(
                tx, loop, "posted", op, lambda: response.sale, post_started=claim.started
            )
            return response

        try:
            spec = self.rt.db.speculate(_post_key(sale_id, op), work, POST_AHEAD_TTL_S)
        except RuntimeError:  # the database thread is shut down: the daemon is stopping
            return
        if spec.result is not None:
            spec.result.add_done_callback(lambda f: self._count_ahead(spec, f))

    def _count_ahead(self, spec: Speculation[_PostClaim], done: asyncio.Future[object]) -> None:
        failure = None if done.cancelled() else done.exception()
        if failure is None:
            claim = spec.claimed()
            # committed either way; "claimed_caller_gone": no PostSale got this answer
            # (only a repeat of its request id will)
            outcome = "claimed_caller_gone" if claim and claim.caller.gone else "claimed"
        elif isinstance(failure, Abandoned):
            outcome = "abandoned"
        else:
            outcome = "failed" if spec.parked else "refused"
        self.rt.metrics.posts_ahead.labels(outcome).inc()

    def _check_delivery(self, request: sale_pb2.PostSaleRequest) -> None:
        """Refuses a delivery the register cannot make, before anything is signed."""
        delivery = convert.delivery_from_pb(request.receipt_delivery)
        if delivery is Delivery.DIGITAL and self.digital is None:
            raise precondition(
                "DIGITAL_RECEIPTS_OFF",
                "digital receipts are off on this register ([digital_receipt] enabled ="
                " false): print the receipt",
            )

    def _link(self, conn: sqlite3.Connection, sale_id: str) -> DigitalLink | None:
        return None if self.digital is None else self.digital.link(conn, sale_id)

    def _post_response(
        self,
        r: tuple[Sale, fstore.SaleTse | None],
        built: list[sale_pb2.PostSaleResponse],
        link: DigitalLink | None = None,
    ) -> sale_pb2.PostSaleResponse:
        """The answer: ``built`` holds it when it was built while the TSE signed
        (convert.post_answer), which then only gets its fiscal part and link."""
        sale, row = r
        digital = None if link is None else convert.digital_receipt_to_pb(link, sale.receipt_number)
        if not built:
            return sale_pb2.PostSaleResponse(
                sale=convert.sale_to_pb(sale, row), digital_receipt=digital
            )
        answer = built[0]
        if row is not None and row.state != fstore.STARTED:
            answer.sale.tse.CopyFrom(convert.tse_to_pb(row))
        if digital is not None:
            answer.digital_receipt.CopyFrom(digital)
        return answer

    async def GetDigitalReceipt(
        self, request: sale_pb2.GetDigitalReceiptRequest, context: Context
    ) -> sale_pb2.GetDigitalReceiptResponse:
        async def run() -> sale_pb2.GetDigitalReceiptResponse:
            await self.rt.operator(context)
            digital = self.digital
            if digital is None:
                raise precondition(
                    "DIGITAL_RECEIPTS_OFF",
                    "digital receipts are off on this register ([digital_receipt] enabled = false)",
                )
            sale_id = request.sale_id
            check_code(sale_id, "sale_id")

            def read(c: sqlite3.Connection) -> tuple[DigitalLink | None, int, bool]:
                link = digital.link(c, sale_id)
                revoked = link is None and digital.revoked(c, sale_id) is not None
                return link, sale_store.receipt_number_of(c, sale_id), revoked

            link, number, revoked = await self.rt.db.read(read)
            if revoked:
                raise precondition(
                    "DIGITAL_RECEIPT_REVOKED",
                    f"the digital receipt link of sale {sale_id!r} was revoked"
                    " (RevokeDigitalReceipt): it no longer works",
                    sale_id=sale_id,
                )
            if link is None:
                raise DomainError(
                    ErrorKind.NOT_FOUND,
                    "DIGITAL_RECEIPT_NOT_FOUND",
                    f"sale {sale_id!r} has no valid digital receipt (not posted, posted"
                    " before digital receipts were on, or its link expired)",
                    metadata={"sale_id": sale_id},
                )
            return sale_pb2.GetDigitalReceiptResponse(
                digital_receipt=convert.digital_receipt_to_pb(link, number)
            )

        return await self.rt.call(context, "GetDigitalReceipt", request, run)

    async def RevokeDigitalReceipt(
        self, request: sale_pb2.RevokeDigitalReceiptRequest, context: Context
    ) -> sale_pb2.RevokeDigitalReceiptResponse:
        async def run() -> sale_pb2.RevokeDigitalReceiptResponse:
            op = await self.rt.operator(context)
            digital = self.digital
            if digital is None:
                raise precondition(
                    "DIGITAL_RECEIPTS_OFF",
                    "digital receipts are off on this register ([digital_receipt] enabled = false)",
                )

            def encode(r: tuple[DigitalLink, int]) -> sale_pb2.RevokeDigitalReceiptResponse:
                return sale_pb2.RevokeDigitalReceiptResponse(
                    digital_receipt=convert.digital_receipt_to_pb(*r)
                )

            return await self.rt.mutate(
                "RevokeDigitalReceipt",
                request,
                lambda tx: digital.revoke(tx, op, request.sale_id, request.reason),
                encode,
                sale_pb2.RevokeDigitalReceiptResponse,
            )

        return await self.rt.call(context, "RevokeDigitalReceipt", request, run)

    async def _claim_post(
        self, request: sale_pb2.PostSaleRequest, op: Operator, sign: Signer, started: float
    ) -> sale_pb2.PostSaleResponse | None:
        """The post run ahead for this sale (see :meth:`post_ahead`), claimed and
        completed; None: there is none to claim, and the usual post runs."""
        if request.change_currency_code or request.receipt_delivery == (
            sale_pb2.RECEIPT_DELIVERY_DIGITAL
        ):
            return None  # the run-ahead wrote the paper receipt's print job
        try:
            check_code(request.request_id, "request_id")
        except DomainError:
            return None
        request_id = request.request_id
        # a repeat or a reuse of request_id: looked up by the run-ahead once claimed (see
        # post_ahead's ahead()), which then gives way to the usual path that answers it
        now = self.rt.clock()
        day = self.sales.day_of(now)

        def make(offered: _AheadOffer | None) -> _PostClaim:
            # parked at the wait for the signature (offering its processData): the TSE
            # starts signing right here, while the database thread wakes up; not when it
            # ran on the day before (it then gives way to the usual post, see post_ahead)
            offer = None if offered is None or offered.day != day else offered.process_data
            early = (
                sign(None, offer) if offer is not None and isinstance(sign, FinishSigner) else None
            )
            return _PostClaim(sign, early, request_id, request, now, day, started)

        spec = self.rt.db.claim_speculation(_post_key(request.sale_id, op), make)
        if spec is None or spec.result is None:
            return None
        try:
            # shielded: claimed, the post goes on and commits even when this call is
            # cancelled (its deadline, a closed channel); a cancelled wait must not
            # cancel the work still queued for the database thread
            response: sale_pb2.PostSaleResponse = await asyncio.shield(spec.result)
        except asyncio.CancelledError:
            claim = spec.claimed()
            if claim is not None:
                claim.caller.gone = True
            raise
        except Abandoned:
            return None
        except Exception:
            if spec.parked:
                raise
            return None  # refused before it parked: the usual post gives the answer
        return response

    async def _post(
        self, request: sale_pb2.PostSaleRequest, op: Operator, sign: Signer, started: float
    ) -> sale_pb2.PostSaleResponse:
        """Validation, the TSE finish signature and the post: one transaction. The answer
        is built while the TSE signs; only its fiscal part waits for the signature."""
        claimed = await self._claim_post(request, op, sign, started)
        if claimed is not None:
            return claimed
        built: list[sale_pb2.PostSaleResponse] = []
        links: list[DigitalLink | None] = []
        delivery = convert.delivery_from_pb(request.receipt_delivery)
        loop = asyncio.get_running_loop()

        def post(tx: Tx) -> tuple[Sale, fstore.SaleTse | None]:
            built.clear()
            links.clear()
            result = self.sales.post_signed(
                tx,
                op,
                request.sale_id,
                sign,
                change_currency=request.change_currency_code,
                while_signing=lambda sale: built.append(convert.post_answer(sale)),
                delivery=delivery,
            )
            link = self._link(tx.conn, request.sale_id)
            links.append(link)
            self._publish_at_commit(
                tx,
                loop,
                "posted",
                op,
                lambda: self._post_response(result, built, link).sale,
                post_started=started,
            )
            return result

        return await self.rt.mutate(
            "PostSale",
            request,
            post,
            lambda r: self._post_response(r, built, links[0] if links else None),
            sale_pb2.PostSaleResponse,
        )

    async def CancelSale(
        self, request: sale_pb2.CancelSaleRequest, context: Context
    ) -> sale_pb2.CancelSaleResponse:
        async def run() -> sale_pb2.CancelSaleResponse:
            op = await self.rt.operator(context)
            answered = await self.rt.answered("CancelSale", request, sale_pb2.CancelSaleResponse)
            if answered is not None:
                return answered
            sale_id = request.sale_id
            await self.rt.db.read(
                lambda c: self.sales.validate_cancel(c, op, sale_id, request.reason)
            )
            self.sales.check_may_finish(sale_id, "cancel")
            self.sales.start_finish(sale_id, "cancel")
            loop = asyncio.get_running_loop()

            async def finish() -> sale_pb2.CancelSaleResponse:
                try:
                    with self.sales.failures_after_signing(sale_id):
                        row = await self.fiscal.cancel_sale(sale_id)
                        self.sales.lock_finished(sale_id, row)

                        def cancel(tx: Tx) -> Sale:
                            sale = self.sales.cancel(tx, op, sale_id, request.reason, row)
                            self._publish_at_commit(
                                tx,
                                loop,
                                "cancelled",
                                op,
                                lambda: convert.sale_to_pb(sale, row),
                            )
                            return sale

                        return await self.rt.mutate(
                            "CancelSale",
                            request,
                            cancel,
                            lambda s: sale_pb2.CancelSaleResponse(sale=convert.sale_to_pb(s, row)),
                            sale_pb2.CancelSaleResponse,
                        )
                finally:
                    self.sales.end_finish(sale_id)

            # shielded: once the TSE is asked to finish the transaction as AVBelegabbruch
            # the cancellation goes on and commits when this call is cancelled (its
            # deadline, a closed channel); cut off, the TSE's transaction would be
            # finished while the sale stayed open and unlocked. The repeat of its
            # request_id gets the stored answer.
            task = asyncio.ensure_future(finish())
            task.add_done_callback(log_failure("cancel_sale_failed"))
            return await asyncio.shield(task)

        return await self.rt.call(context, "CancelSale", request, run)


class CatalogServicer(CatalogRpcs, catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, rt: Runtime, catalog: CatalogCommands) -> None:
        self.rt = rt
        self.catalog = catalog

    async def UpsertItem(
        self, request: catalog_pb2.UpsertItemRequest, context: Context
    ) -> catalog_pb2.UpsertItemResponse:
        async def run() -> catalog_pb2.UpsertItemResponse:
            op = await self.rt.operator(context)
            if not request.HasField("item"):
                raise invalid("item", "is required")
            item = convert.item_from_pb(request.item)
            return await self.rt.mutate(
                "UpsertItem",
                request,
                lambda tx: self.catalog.upsert(tx, op, item),
                lambda r: catalog_pb2.UpsertItemResponse(
                    item=convert.item_to_pb(r[0]), created=r[1]
                ),
                catalog_pb2.UpsertItemResponse,
            )

        return await self.rt.call(context, "UpsertItem", request, run)

    async def GetItem(
        self, request: catalog_pb2.GetItemRequest, context: Context
    ) -> catalog_pb2.GetItemResponse:
        async def run() -> catalog_pb2.GetItemResponse:
            await self.rt.operator(context)
            item = await self.rt.db.read(lambda c: self.catalog.get(c, request.item_id))
            return catalog_pb2.GetItemResponse(item=convert.item_to_pb(item))

        return await self.rt.call(context, "GetItem", request, run)

    async def ListItems(
        self, request: catalog_pb2.ListItemsRequest, context: Context
    ) -> catalog_pb2.ListItemsResponse:
        async def run() -> catalog_pb2.ListItemsResponse:
            await self.rt.operator(context)
            items, token = await self.rt.db.read(
                lambda c: self.catalog.list(c, request.page_size, request.page_token)
            )
            return catalog_pb2.ListItemsResponse(
                items=[convert.item_to_pb(i) for i in items], next_page_token=token
            )

        return await self.rt.call(context, "ListItems", request, run)


class OperatorServicer(operator_pb2_grpc.OperatorServiceServicer):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def Login(
        self, request: operator_pb2.LoginRequest, context: Context
    ) -> operator_pb2.LoginResponse:
        async def run() -> operator_pb2.LoginResponse:
            # scrypt is slow on purpose: run it off the event loop and the DB thread.
            loop = asyncio.get_running_loop()
            try:
                op = await loop.run_in_executor(
                    None, self.rt.auth.check_pin, request.operator_id, request.pin
                )
            except LoginRefused as refused:
                self.rt.audit_login_refused(refused, context.peer())
                raise
            token, expires = await self.rt.db.write(lambda tx: self.rt.auth.open_session(tx, op))
            return operator_pb2.LoginResponse(
                token=token,
                expire_time=convert.timestamp(expires),
                operator=convert.operator_to_pb(op),
            )

        return await self.rt.call(context, "Login", request, run)

    async def Logout(
        self, request: operator_pb2.LogoutRequest, context: Context
    ) -> operator_pb2.LogoutResponse:
        async def run() -> operator_pb2.LogoutResponse:
            await self.rt.operator(context)
            token = bearer_token(context)
            self.rt.forget_session(token)
            await self.rt.db.write(lambda tx: self.rt.auth.close_session(tx, token))
            return operator_pb2.LogoutResponse()

        return await self.rt.call(context, "Logout", request, run)

    async def WhoAmI(
        self, request: operator_pb2.WhoAmIRequest, context: Context
    ) -> operator_pb2.WhoAmIResponse:
        async def run() -> operator_pb2.WhoAmIResponse:
            op = await self.rt.operator(context)
            token = bearer_token(context)
            _, expires = await self.rt.db.read(lambda c: self.rt.auth.resolve(c, token))
            return operator_pb2.WhoAmIResponse(
                operator=convert.operator_to_pb(op), expire_time=convert.timestamp(expires)
            )

        return await self.rt.call(context, "WhoAmI", request, run)


_JOB_STATES = {
    outbox.PENDING: system_pb2.PRINT_JOB_STATE_PENDING,
    outbox.DONE: system_pb2.PRINT_JOB_STATE_DONE,
    outbox.DISCARDED: system_pb2.PRINT_JOB_STATE_DISCARDED,
}


class SystemServicer(system_pb2_grpc.SystemServiceServicer):
    def __init__(
        self,
        rt: Runtime,
        register_id: str,
        started: datetime,
        db_path: str,
        currency: str,
        timezone: str = "",
    ) -> None:
        self.rt = rt
        self.register_id = register_id
        self.currency = currency
        self.timezone = timezone
        self.started = started
        self.started_mono = time.monotonic()
        self.db_path = db_path

    async def GetStatus(
        self, request: system_pb2.GetStatusRequest, context: Context
    ) -> system_pb2.GetStatusResponse:
        async def run() -> system_pb2.GetStatusResponse:
            def query(c: sqlite3.Connection) -> tuple[int, int, int, int, int]:
                return (
                    journal.count(c),
                    sale_store.counter(c, receipt_counter(self.register_id)),
                    sale_store.count_by_state(c, SaleState.OPEN),
                    outbox.count_pending(c),
                    sale_store.count_by_state(c, SaleState.PARKED),
                )

            records, last, open_sales, pending, parked = await self.rt.db.read(query)
            size = await asyncio.to_thread(self._database_bytes)
            return system_pb2.GetStatusResponse(
                version=__version__,
                start_time=convert.timestamp(self.started),
                uptime_seconds=int(time.monotonic() - self.started_mono),
                register_id=self.register_id,
                journal_records=records,
                database_bytes=size,
                last_receipt_number=last,
                open_sales=open_sales,
                pending_jobs=pending,
                parked_sales=parked,
                currency_code=self.currency,
                timezone=self.timezone,
            )

        return await self.rt.call(context, "GetStatus", request, run)

    def _database_bytes(self) -> int:
        return sum(
            os.path.getsize(p) for p in (self.db_path, self.db_path + "-wal") if os.path.exists(p)
        )

    async def VerifyJournal(
        self, request: system_pb2.VerifyJournalRequest, context: Context
    ) -> system_pb2.VerifyJournalResponse:
        async def run() -> system_pb2.VerifyJournalResponse:
            await self.rt.operator(context)
            result = await self.rt.db.read(journal.verify)
            return system_pb2.VerifyJournalResponse(
                ok=result.ok,
                records_checked=result.records_checked,
                first_bad_sequence=result.first_bad_sequence,
                problem=result.problem,
            )

        return await self.rt.call(context, "VerifyJournal", request, run)

    async def ListPrintJobs(
        self, request: system_pb2.ListPrintJobsRequest, context: Context
    ) -> system_pb2.ListPrintJobsResponse:
        async def run() -> system_pb2.ListPrintJobsResponse:
            await self.rt.operator(context)
            size = paging.page_size(request.page_size, default=100)
            scope = (request.include_done,)
            after = paging.decode_int(request.page_token, "j", empty=0, scope=scope)
            jobs = await self.rt.db.read(
                lambda c: outbox.list_jobs(
                    c, include_done=request.include_done, after_id=after, limit=size + 1
                )
            )
            more = len(jobs) > size
            jobs = jobs[:size]
            resp = system_pb2.ListPrintJobsResponse(
                next_page_token=paging.encode("j", jobs[-1].job_id, scope) if more and jobs else ""
            )
            for j in jobs:
                resp.jobs.append(
                    system_pb2.PrintJob(
                        job_id=j.job_id,
                        kind=j.kind,
                        receipt_number=j.receipt_number,
                        state=_JOB_STATES.get(j.state, system_pb2.PRINT_JOB_STATE_UNSPECIFIED),
                        attempts=j.attempts,
                        last_error=j.last_error,
                        create_time=convert.timestamp(j.created_at),
                    )
                )
            return resp

        return await self.rt.call(context, "ListPrintJobs", request, run)
