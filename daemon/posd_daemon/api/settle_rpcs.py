"""SaleService RPCs of the full sale, part 2: payments, shop discount lines, vouchers,
returns, reversal receipts, parking, the audit trail.

Mixed into ``SaleServicer`` (api/servicers.py), like api/sale_rpcs.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from posd.v1 import sale_pb2

from posd_daemon.api import convert
from posd_daemon.api.register_link import StoreLink
from posd_daemon.api.runtime import Context, Runtime
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid, not_found
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.parking import canonical_parking_code
from posd_daemon.domain.pricing import fmt_decimal
from posd_daemon.domain.sale import Sale, format_quantity
from posd_daemon.ops import crashpoints
from posd_daemon.ops import logging as plog
from posd_daemon.services.executor import Tx
from posd_daemon.services.fiscal import FiscalGateway, Signer
from posd_daemon.services.open_items import InvoicePaymentAdded
from posd_daemon.services.sale_ops import LinesAdded, VoucherAdded, voucher_status
from posd_daemon.services.sales import SaleCommands
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import sales as sale_store

log = plog.get("posd.sales")

#: Start-up completion of pending imports (see SettleRpcs._complete_pending_imports):
#: rounds while the other register cannot be reached, and the pause between them.
IMPORT_RECOVERY_ROUNDS = 10
IMPORT_RECOVERY_PAUSE_S = 3.0


def _may_be_handed_over(exc: DomainError) -> bool:
    """Whether the other register may have handed the sale over (or will) although this
    register got no sale: it stopped waiting (the hand-over runs to its end there), or
    that register's TSE finished the hand-over and saving it failed (only a hand-over to
    this register completes it). A refusal, or a register that could not be reached,
    handed nothing over: no import is pending then (and the slip's sale is not taken
    from a register that still has it parked, long after the scan, at the next start)."""
    meta = exc.metadata or {}
    return exc.kind is ErrorKind.UNAVAILABLE and (
        meta.get("peer_status") == "DEADLINE_EXCEEDED"
        or meta.get("peer_reason") == "TRANSFER_NOT_SAVED"
    )


def _operator_json(op: Operator) -> str:
    return json.dumps(
        {
            "operator_id": op.operator_id,
            "name": op.name,
            "role": op.role,
            "permissions": sorted(p.value for p in op.permissions),
        },
        sort_keys=True,
    )


def _operator_from_json(text: str) -> Operator:
    d = json.loads(text)
    return Operator(
        operator_id=str(d["operator_id"]),
        name=str(d["name"]),
        role=str(d["role"]),
        permissions=frozenset(Permission(p) for p in d["permissions"]),
    )


class SettleRpcs:
    rt: Runtime
    sales: SaleCommands
    fiscal: FiscalGateway

    #: defined by SaleRpcs (publishes sale events)
    _notify: Callable[..., None]
    #: defined by SaleServicer (publishes a sale event at its transaction's commit)
    _publish_at_commit: Callable[..., None]
    #: defined by SaleServicer (runs a post ahead)
    post_ahead: Callable[[sale_pb2.Sale, Operator], None]
    #: the other registers of the store (None: this register stands alone)
    link: StoreLink | None = None
    _recovering: asyncio.Task[None] | None = None

    def complete_pending_imports(self) -> None:
        """At start (bootstrap, on the event loop, once :attr:`link` is set): the
        hand-overs this register asked for and did not import before it stopped are
        completed in the background (:meth:`_complete_pending_imports`)."""
        if self.link is not None:
            self._import_round(asyncio.get_running_loop(), IMPORT_RECOVERY_ROUNDS)

    def _import_round(self, loop: asyncio.AbstractEventLoop, rounds_left: int) -> None:
        """One round of :meth:`_complete_pending_imports` in a task of its own. Rounds
        are timed by the loop (``call_later``), not by a task sleeping between them: a
        stopping daemon leaves no task pending for long (nothing cancels it)."""
        self._recovering = loop.create_task(self._complete_pending_imports(loop, rounds_left))

    async def _run(
        self,
        context: Context,
        method: str,
        request: Any,
        action: Callable[[Tx, Operator], Any],
        encode: Callable[[Any], Any],
        response_type: Any,
        event: str = "line_updated",
    ) -> Any:
        async def run() -> Any:
            op = await self.rt.operator(context)
            response = await self.rt.mutate(
                method, request, lambda tx: action(tx, op), encode, response_type
            )
            sale = getattr(response, "sale", None)
            if sale is not None and event:
                self._notify(event, sale, op)
            if method == "AddPayment" and sale is not None:
                self.post_ahead(sale, op)
            return response

        return await self.rt.call(context, method, request, run)

    # -- payments ---------------------------------------------------------------------------

    async def AddPayment(
        self, request: sale_pb2.AddPaymentRequest, context: Context
    ) -> sale_pb2.AddPaymentResponse:
        method = request.method
        amount = request.amount.amount_minor if request.HasField("amount") else 0
        currency = request.amount.currency_code if request.HasField("amount") else ""

        def action(tx: Tx, op: Operator) -> tuple[Sale, str, str]:
            m = convert.payment_method_from_pb(method)
            cur = currency or self.sales.get(tx.conn, request.sale_id).currency
            down = None
            if request.down_payment_method or request.HasField("down_payment_amount"):
                down_currency = request.down_payment_amount.currency_code
                if down_currency and down_currency != cur:
                    raise invalid(
                        "down_payment_amount.currency_code",
                        f"the down payment is in the payment's currency ({cur})",
                        "CURRENCY_MISMATCH",
                    )
                down = (
                    convert.payment_method_from_pb(
                        request.down_payment_method, "down_payment_method"
                    ),
                    request.down_payment_amount.amount_minor,
                )
            return self.sales.add_payment(
                tx,
                op,
                request.sale_id,
                m,
                amount,
                cur,
                card_institute=request.card_institute,
                authorization_code=request.authorization_code,
                contract_number=request.contract_number,
                reference=request.reference,
                down_payment=down,
            )

        def encode(r: tuple[Sale, str, str]) -> sale_pb2.AddPaymentResponse:
            return sale_pb2.AddPaymentResponse(
                sale=convert.sale_to_pb(r[0]), payment_id=r[1], down_payment_id=r[2]
            )

        result: sale_pb2.AddPaymentResponse = await self._run(
            context, "AddPayment", request, action, encode, sale_pb2.AddPaymentResponse,
            "payment_added",
        )  # fmt: skip
        return result

    async def UpdatePayment(
        self, request: sale_pb2.UpdatePaymentRequest, context: Context
    ) -> sale_pb2.UpdatePaymentResponse:
        details = {
            name: getattr(request, name) if request.HasField(name) else None
            for name in ("card_institute", "authorization_code", "contract_number", "reference")
        }
        has_amount = request.HasField("amount")

        def action(tx: Tx, op: Operator) -> Sale:
            return self.sales.update_payment(
                tx,
                op,
                request.sale_id,
                request.payment_id,
                amount=request.amount.amount_minor if has_amount else None,
                currency=request.amount.currency_code,
                details=details,
            )

        result: sale_pb2.UpdatePaymentResponse = await self._run(
            context, "UpdatePayment", request, action,
            lambda s: sale_pb2.UpdatePaymentResponse(sale=convert.sale_to_pb(s)),
            sale_pb2.UpdatePaymentResponse, "payment_added",
        )  # fmt: skip
        return result

    async def SplitCardPayment(
        self, request: sale_pb2.SplitCardPaymentRequest, context: Context
    ) -> sale_pb2.SplitCardPaymentResponse:
        def action(tx: Tx, op: Operator) -> tuple[Sale, list[str]]:
            return self.sales.split_card_payment(
                tx, op, request.sale_id, request.parts, request.card_institute
            )

        result: sale_pb2.SplitCardPaymentResponse = await self._run(
            context, "SplitCardPayment", request, action,
            lambda r: sale_pb2.SplitCardPaymentResponse(
                sale=convert.sale_to_pb(r[0]), payment_ids=r[1]
            ),
            sale_pb2.SplitCardPaymentResponse, "payment_added",
        )  # fmt: skip
        return result

    # -- discounts, vouchers, returns --------------------------------------------------------

    async def AddDiscountLine(
        self, request: sale_pb2.AddDiscountLineRequest, context: Context
    ) -> sale_pb2.AddDiscountLineResponse:
        which = request.WhichOneof("discount")

        def action(tx: Tx, op: Operator) -> LinesAdded:
            if which is None:
                raise invalid("discount", "give an amount or a percent")
            return self.sales.add_discount_line(
                tx,
                op,
                request.sale_id,
                amount=request.amount.amount_minor if which == "amount" else None,
                currency=request.amount.currency_code,
                percent_text=request.percent if which == "percent" else None,
                line_ids=list(request.line_ids),
                name=request.name,
            )

        result: sale_pb2.AddDiscountLineResponse = await self._run(
            context, "AddDiscountLine", request, action,
            lambda r: sale_pb2.AddDiscountLineResponse(
                sale=convert.sale_to_pb(r.sale), line_ids=list(r.line_ids)
            ),
            sale_pb2.AddDiscountLineResponse,
        )  # fmt: skip
        return result

    async def AddVoucherLine(
        self, request: sale_pb2.AddVoucherLineRequest, context: Context
    ) -> sale_pb2.AddVoucherLineResponse:
        sell = {
            sale_pb2.VOUCHER_ACTION_SELL: True,
            sale_pb2.VOUCHER_ACTION_REDEEM: False,
        }.get(request.action)
        if sell is None and request.action != sale_pb2.VOUCHER_ACTION_UNSPECIFIED:
            sell_error = True
        else:
            sell_error = False

        def action(tx: Tx, op: Operator) -> VoucherAdded:
            if sell_error:
                raise invalid("action", "unknown voucher action")
            return self.sales.add_voucher_line(
                tx,
                op,
                request.sale_id,
                request.code,
                sell=sell,
                amount=request.amount.amount_minor if request.HasField("amount") else None,
                currency=request.amount.currency_code,
                voucher_code=request.voucher_code,
            )

        def encode(r: VoucherAdded) -> sale_pb2.AddVoucherLineResponse:
            return sale_pb2.AddVoucherLineResponse(
                sale=convert.sale_to_pb(r.sale),
                line_id=r.line_id,
                action=sale_pb2.VOUCHER_ACTION_SELL if r.sold else sale_pb2.VOUCHER_ACTION_REDEEM,
            )

        result: sale_pb2.AddVoucherLineResponse = await self._run(
            context, "AddVoucherLine", request, action, encode, sale_pb2.AddVoucherLineResponse
        )
        return result

    async def GetVoucher(
        self, request: sale_pb2.GetVoucherRequest, context: Context
    ) -> sale_pb2.GetVoucherResponse:
        async def run() -> sale_pb2.GetVoucherResponse:
            await self.rt.operator(context)
            found = await self.rt.db.read(lambda c: voucher_status(c, request.code))
            return sale_pb2.GetVoucherResponse(voucher=convert.voucher_to_pb(found))

        return await self.rt.call(context, "GetVoucher", request, run)

    async def AddInvoicePayment(
        self, request: sale_pb2.AddInvoicePaymentRequest, context: Context
    ) -> sale_pb2.AddInvoicePaymentResponse:
        def action(tx: Tx, op: Operator) -> InvoicePaymentAdded:
            return self.sales.add_invoice_payment(
                tx,
                op,
                request.sale_id,
                request.invoice_number,
                amount=request.amount.amount_minor,
                currency=request.amount.currency_code,
            )

        def encode(r: InvoicePaymentAdded) -> sale_pb2.AddInvoicePaymentResponse:
            return sale_pb2.AddInvoicePaymentResponse(
                sale=convert.sale_to_pb(r.sale), line_id=r.line_id
            )

        result: sale_pb2.AddInvoicePaymentResponse = await self._run(
            context,
            "AddInvoicePayment",
            request,
            action,
            encode,
            sale_pb2.AddInvoicePaymentResponse,
        )
        return result

    async def ListReturnableLines(
        self, request: sale_pb2.ListReturnableLinesRequest, context: Context
    ) -> sale_pb2.ListReturnableLinesResponse:
        async def run() -> sale_pb2.ListReturnableLinesResponse:
            await self.rt.operator(context)
            lines, token = await self.rt.db.read(
                lambda c: self.sales.returnable_lines(
                    c,
                    item_id=request.item_id,
                    receipt_number=request.receipt_number,
                    page_size=request.page_size,
                    page_token=request.page_token,
                )
            )
            out = sale_pb2.ListReturnableLinesResponse(next_page_token=token)
            for r in lines:
                line = out.lines.add(
                    sale_id=r.sale_id,
                    receipt_number=r.receipt_number,
                    line_id=r.line_id,
                    item_id=r.item_id,
                    name=r.name,
                    quantity_sold=format_quantity(r.sold),
                    quantity_returned=format_quantity(r.returned),
                    quantity_returnable=format_quantity(r.returnable),
                    amount=convert.money(r.amount, r.currency),
                    unit_price=convert.money(r.unit_price, r.currency),
                    discount_percent=fmt_decimal(r.discount_percent),
                )
                ts = convert.timestamp(r.posted_at)
                if ts is not None:
                    line.post_time.CopyFrom(ts)
            return out

        return await self.rt.call(context, "ListReturnableLines", request, run)

    async def AddReturnLine(
        self, request: sale_pb2.AddReturnLineRequest, context: Context
    ) -> sale_pb2.AddReturnLineResponse:
        def action(tx: Tx, op: Operator) -> tuple[Sale, str]:
            return self.sales.add_return_line(
                tx,
                op,
                request.sale_id,
                request.original_sale_id,
                request.original_line_id,
                request.quantity,
            )

        result: sale_pb2.AddReturnLineResponse = await self._run(
            context, "AddReturnLine", request, action,
            lambda r: sale_pb2.AddReturnLineResponse(sale=convert.sale_to_pb(r[0]), line_id=r[1]),
            sale_pb2.AddReturnLineResponse,
        )  # fmt: skip
        return result

    # -- storno ---------------------------------------------------------------------------------

    async def ReverseReceipt(
        self, request: sale_pb2.ReverseReceiptRequest, context: Context
    ) -> sale_pb2.ReverseReceiptResponse:
        """Builds the reversal receipt (one transaction), then posts it like any receipt:
        TSE-signed (or outage-marked), receipt number, refunds, journal, print."""

        async def run() -> sale_pb2.ReverseReceiptResponse:
            op = await self.rt.operator(context)
            answered = await self.rt.answered(
                "ReverseReceipt", request, sale_pb2.ReverseReceiptResponse
            )
            if answered is not None:
                return answered
            start = time.perf_counter()
            reversal = await self.rt.db.write(
                lambda tx: self.sales.build_checked_reversal(
                    tx, op, request.sale_id, request.reason
                )
            )
            rid = reversal.sale_id
            self.sales.check_may_finish(rid, "post")  # a reversal signed, not saved posts again
            self.sales.start_finish(rid, "post")
            loop = asyncio.get_running_loop()
            try:

                async def posted(sign: Signer) -> sale_pb2.ReverseReceiptResponse:
                    def post(tx: Tx) -> tuple[Sale, fstore.SaleTse | None]:
                        result = self.sales.post_signed(
                            tx, op, rid, sign, reversal_reason=request.reason
                        )
                        # published and counted at the commit: the reversal commits also
                        # when this call is gone (its deadline passed while the TSE signed)
                        self._publish_at_commit(
                            tx,
                            loop,
                            "posted",
                            op,
                            lambda: convert.sale_to_pb(result[0], result[1]),
                            post_started=start,
                        )
                        return result

                    return await self.rt.mutate(
                        "ReverseReceipt",
                        request,
                        post,
                        lambda r: sale_pb2.ReverseReceiptResponse(
                            reversal=convert.sale_to_pb(r[0], r[1])
                        ),
                        sale_pb2.ReverseReceiptResponse,
                    )

                with self.sales.failures_after_signing(rid):
                    response = await self.fiscal.signed_post(
                        rid,
                        op.operator_id,
                        posted,
                        signed_before=rid in self.sales.signed_unposted,
                    )
            finally:
                self.sales.end_finish(rid)
            return response

        return await self.rt.call(context, "ReverseReceipt", request, run)

    # -- parking ------------------------------------------------------------------------------

    async def ParkSale(
        self, request: sale_pb2.ParkSaleRequest, context: Context
    ) -> sale_pb2.ParkSaleResponse:
        result: sale_pb2.ParkSaleResponse = await self._run(
            context, "ParkSale", request,
            lambda tx, op: self.sales.park(tx, op, request.sale_id),
            lambda s: sale_pb2.ParkSaleResponse(sale=convert.sale_to_pb(s)),
            sale_pb2.ParkSaleResponse, "parked",
        )  # fmt: skip
        return result

    async def ResumeSale(
        self, request: sale_pb2.ResumeSaleRequest, context: Context
    ) -> sale_pb2.ResumeSaleResponse:
        which = request.WhichOneof("sale_ref")
        # once, in the stored form (a caps-lock "p"): the local lookup, the owner of the
        # code and the other register all see the same code
        code = canonical_parking_code(request.code) if which == "code" else ""

        def action(tx: Tx, op: Operator) -> Sale:
            if which is None:
                raise invalid("sale_ref", "give a sale id or the parking slip's code")
            return self.sales.resume(
                tx, op, sale_id=request.sale_id if which == "sale_id" else "", code=code
            )

        if code and self.link is not None:
            return await self._resume_linked(request, context, code, action)
        result: sale_pb2.ResumeSaleResponse = await self._run(
            context, "ResumeSale", request, action,
            lambda s: sale_pb2.ResumeSaleResponse(sale=convert.sale_to_pb(s)),
            sale_pb2.ResumeSaleResponse, "resumed",
        )  # fmt: skip
        return result

    async def _resume_linked(
        self,
        request: sale_pb2.ResumeSaleRequest,
        context: Context,
        code: str,
        action: Callable[[Tx, Operator], Sale],
    ) -> sale_pb2.ResumeSaleResponse:
        """A slip when registers are linked: this register's own parked sale is resumed
        here; a slip from another register makes it hand the sale over (its TSE
        transaction ends as AVTransfer), this register continues it and starts its own
        transaction."""
        link = self.link
        assert link is not None

        async def run() -> sale_pb2.ResumeSaleResponse:
            op = await self.rt.operator(context)
            # before anything is asked of another register: once asked, it hands the sale
            # over (its TSE transaction ends), whether this register then takes it or not
            op.require(Permission.SALE)
            # the lookup runs after login and inside the RPC's error mapping: a malformed
            # code is INVALID_ARGUMENT (not UNKNOWN), and only operators learn of codes
            local = self.rt.db.read_now(lambda c: self.sales.find_parked(c, sale_id="", code=code))
            if local is not None:  # parked here
                response: sale_pb2.ResumeSaleResponse = await self.rt.mutate(
                    "ResumeSale",
                    request,
                    lambda tx: action(tx, op),
                    lambda s: sale_pb2.ResumeSaleResponse(sale=convert.sale_to_pb(s)),
                    sale_pb2.ResumeSaleResponse,
                )
                self._notify("resumed", response.sale, op)
                return response
            answered = await self.rt.answered("ResumeSale", request, sale_pb2.ResumeSaleResponse)
            if answered is not None:
                return answered
            # the shop's prefix tells a slip from an ordinary product EAN
            prefix = self.rt.db.read_now(lambda c: self.sales.context(c).shop.parking_prefix)
            owner = link.owner_of(code, prefix)
            if owner is None:
                raise invalid("code", "not a parking code of this store", "PARKED_SALE_NOT_FOUND")
            if owner == link.register_id:
                # this register's own slip whose sale it does not have (a slip printed
                # before its database was replaced): no other register has it to hand
                # over, and it is a code of this store; refused as an unlinked register
                # refuses it (SaleOps.resume), nothing asked and nothing left pending
                raise not_found(
                    "PARKED_SALE_NOT_FOUND", f"no parked sale with code {code!r}", code=code
                )
            # no order is loaded here from before the other register is asked until the
            # sale is imported (StoreLink.hand_over): it may be a sale of that order
            async with link.hand_over():
                # Durably, before the other register is asked: once it has committed the
                # hand-over, the sale exists nowhere else. Should this register fail or crash
                # before its import commits, this row makes it import the sale at its next
                # start (asking again: the other register hands the same sale over again to
                # this register only, so it is never taken over twice).
                await self.rt.db.write(
                    lambda tx: sale_store.add_pending_import(
                        tx.conn,
                        code,
                        _operator_json(op),
                        request.SerializeToString(),
                        self.rt.clock(),
                    )
                )
                try:
                    fetched = await link.fetch(code, prefix)
                except DomainError as exc:
                    if not _may_be_handed_over(exc):
                        await self._drop_pending_import(code)
                    raise
                if fetched is None:
                    await self._drop_pending_import(code)
                    raise invalid(
                        "code", "not a parking code of this store", "PARKED_SALE_NOT_FOUND"
                    )
                crashpoints.reached("resume.after_transfer")
                return await self._import(request, op, code, *fetched)

        return await self.rt.call(context, "ResumeSale", request, run)

    async def _import(
        self,
        request: sale_pb2.ResumeSaleRequest,
        op: Operator,
        code: str,
        data: dict[str, Any],
        origin: str,
    ) -> sale_pb2.ResumeSaleResponse:
        """Takes the handed-over sale in; its pending import ends in the same commit."""

        def take(tx: Tx) -> Sale:
            sale = self.sales.import_transferred(tx, op, data, origin)
            sale_store.drop_pending_import(tx.conn, code)
            return sale

        response: sale_pb2.ResumeSaleResponse = await self.rt.mutate(
            "ResumeSale",
            request,
            take,
            lambda s: sale_pb2.ResumeSaleResponse(sale=convert.sale_to_pb(s)),
            sale_pb2.ResumeSaleResponse,
        )
        self.fiscal.schedule_start(response.sale.sale_id)
        self._notify("resumed", response.sale, op)
        return response

    async def _drop_pending_import(self, code: str) -> None:
        await self.rt.db.write(lambda tx: sale_store.drop_pending_import(tx.conn, code))

    async def _complete_pending_imports(
        self, loop: asyncio.AbstractEventLoop, rounds_left: int
    ) -> None:
        """At start: the hand-overs this register asked for before it stopped and never
        imported (schema 20). Each slip's sale is asked for again, as the scan did: the
        register that handed it over to this one answers with the same sale (handed
        over once, to this register only), and it is imported with the scanning
        operator and the scan's request (its client's retry gets this answer). A
        refusal (the sale was not handed over here) ends the pending import; a
        register that cannot be reached is asked again a few times, after that the
        next start (or a scan of the slip here) completes it."""
        link = self.link
        if link is None or rounds_left <= 0:
            return
        unreachable = False
        try:
            for row in await self.rt.db.read(sale_store.pending_imports):
                try:
                    await self._complete_import(link, row)
                except DomainError as exc:
                    if exc.kind is ErrorKind.UNAVAILABLE:
                        unreachable = True
                        continue
                    log.warning("pending_import_refused", code=row.code, error=str(exc))
                    await self._drop_pending_import(row.code)
        except Exception as exc:  # the daemon stopping (its database closed), a fault
            log.warning("pending_imports_failed", error=f"{type(exc).__name__}: {exc}")
            return
        if unreachable and rounds_left > 1:
            loop.call_later(IMPORT_RECOVERY_PAUSE_S, self._import_round, loop, rounds_left - 1)

    async def _complete_import(self, link: StoreLink, row: sale_store.PendingImport) -> None:
        op = _operator_from_json(row.operator_json)
        request = sale_pb2.ResumeSaleRequest.FromString(row.request)
        answered = await self.rt.answered("ResumeSale", request, sale_pb2.ResumeSaleResponse)
        if answered is not None:  # imported (its row went with it): nothing left
            await self._drop_pending_import(row.code)
            return
        prefix = self.rt.db.read_now(lambda c: self.sales.context(c).shop.parking_prefix)
        async with link.hand_over():  # as a scan's (_resume_linked)
            fetched = await link.fetch(row.code, prefix)
            if fetched is None:
                await self._drop_pending_import(row.code)
                return
            response = await self._import(request, op, row.code, *fetched)
        log.info("pending_import_completed", code=row.code, sale_id=response.sale.sale_id)

    # -- audit --------------------------------------------------------------------------------

    async def ListAuditEvents(
        self, request: sale_pb2.ListAuditEventsRequest, context: Context
    ) -> sale_pb2.ListAuditEventsResponse:
        async def run() -> sale_pb2.ListAuditEventsResponse:
            await self.rt.operator(context)
            events, token = await self.rt.db.read(
                lambda c: self.sales.audit_events(
                    c,
                    kinds=list(request.kinds),
                    sale_id=request.sale_id,
                    operator_id=request.operator_id,
                    page_size=request.page_size,
                    page_token=request.page_token,
                )
            )
            out = sale_pb2.ListAuditEventsResponse(next_page_token=token)
            for e in events:
                ev = out.events.add(
                    seq=e.seq,
                    kind=e.kind,
                    operator_id=e.operator_id,
                    sale_id=e.sale_id,
                    details_json=e.details,
                )
                ts = convert.timestamp(e.when)
                if ts is not None:
                    ev.event_time.CopyFrom(ts)
            return out

        return await self.rt.call(context, "ListAuditEvents", request, run)
