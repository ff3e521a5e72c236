"""Abandoned sales: empty sales replaced or timed out, and the purge of idle open sales.

Removing a sale that may have a TSE transaction follows the CancelSale path: the sale
is locked against changes (``SaleCommands.start_finish``), its TSE transaction is finished
as AVBelegabbruch (``FiscalGateway.cancel_sale``), then one database transaction
cancels it (journaled, a DSFinV-K Vorgang). An empty sale that never had a TSE
transaction was never anything fiscally and is simply deleted.

* A new sale replaces the operator's empty sales on this register.
* A background sweep removes empty sales idle longer than the shop's
  ``empty_sale_timeout_seconds``.
* ``PurgeSales`` (``posctl sales purge --older-than``) cancels open sales idle longer
  than asked, except those with payments (money was taken: a person must decide) and
  reservations whose pick-up date is still ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from posd_daemon.domain.business_day import business_day
from posd_daemon.domain.errors import DomainError, invalid
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.sale import Sale, SaleState
from posd_daemon.ops import logging as plog
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import DbExecutor, Tx
from posd_daemon.services.fiscal import FiscalGateway
from posd_daemon.services.sales import SaleCommands
from posd_daemon.services.shielded import log_failure
from posd_daemon.store import fiscal as fiscal_store
from posd_daemon.store import sales as sale_store

log = plog.get("posd.housekeeping")

MIN_PURGE_AGE = timedelta(minutes=1)
#: a bound no stored time reaches: "changed at any time", whatever the clock says now
_ANY_TIME = datetime.max.replace(tzinfo=UTC)


class PurgeAction(enum.Enum):
    CANCELLED = "CANCELLED"
    DELETED = "DELETED"
    KEPT = "KEPT"


@dataclass(frozen=True, slots=True)
class PurgedSale:
    sale_id: str
    action: PurgeAction
    reason: str
    updated_at: datetime


class Housekeeping:
    def __init__(
        self, db: DbExecutor, sales: SaleCommands, fiscal: FiscalGateway, clock: Clock
    ) -> None:
        self._db = db
        self._sales = sales
        self._fiscal = fiscal
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        #: further jobs of the sweep: (name, every seconds, one write returning the rows
        #: it removed); bootstrap adds the pruning of expired digital receipt tokens
        self.periodic: list[tuple[str, float, Callable[[Tx], int]]] = []
        self._periodic_at: dict[str, float] = {}
        #: empty sales last changed at a time ahead of the wall clock (it was stepped back
        #: since): the monotonic time the sweep first saw each (see sweep_empty)
        self._ahead_since: dict[str, float] = {}

    # -- one sale ------------------------------------------------------------------------------

    async def remove(
        self,
        sale_id: str,
        *,
        only_if_empty: bool,
        still_abandoned: Callable[[Sale], bool] | None = None,
    ) -> PurgeAction:
        """Cancels the sale's TSE transaction and removes or cancels the sale.

        ``still_abandoned``: asked of the sale as read once it is locked (KEPT when it
        says no), so that a decision taken on an earlier read is not acted on after the
        sale changed.

        Shielded, as CancelSale: once the sale is locked for its cancel, the removal runs
        to its commit when the caller is cancelled (a CreateSale's deadline passed or its
        channel closed while the TSE cancelled); cut off, the TSE's transaction would be
        finished as AVBelegabbruch while the sale stayed open."""
        sales = self._sales
        if not sales.may_finish(sale_id, "cancel"):
            return PurgeAction.KEPT
        # no change may slip in while the TSE cancels; one that tries is told the sale is
        # being cancelled (SaleCommands.check_not_posting), as for CancelSale
        sales.start_finish(sale_id, "cancel")
        task = asyncio.ensure_future(
            self._remove_locked(sale_id, only_if_empty=only_if_empty, still=still_abandoned)
        )
        task.add_done_callback(log_failure("abandoned_sale_removal_failed"))
        return await asyncio.shield(task)

    async def _remove_locked(
        self, sale_id: str, *, only_if_empty: bool, still: Callable[[Sale], bool] | None
    ) -> PurgeAction:
        """The removal of a sale locked by :meth:`remove`, which it unlocks."""
        sales = self._sales
        try:
            sale = await self._db.read(lambda c: sale_store.get(c, sale_id))
            if sale is None or sale.state is not SaleState.OPEN:
                return PurgeAction.KEPT
            if only_if_empty and not sale.is_empty:
                return PurgeAction.KEPT
            if still is not None and not still(sale):
                return PurgeAction.KEPT
            row = await self._fiscal.cancel_sale(sale_id)
            sales.lock_finished(sale_id, row)  # should the write fail (see SaleCommands)
            result = await self._db.write(lambda tx: sales.remove_abandoned(tx, sale_id, row))
        finally:
            sales.end_finish(sale_id)
        action = PurgeAction(result)
        log.info("abandoned_sale_removed", sale_id=sale_id, action=action.value)
        return action

    # -- a new sale replaces the operator's empty ones --------------------------------------

    async def replace_empty(self, operator: Operator) -> list[str]:
        # on the loop thread's reader: an indexed look at the few open sales, and this
        # runs before every CreateSale. All of the operator's empty sales, whenever last
        # changed: after the wall clock was stepped back (NTP correcting a clock that ran
        # ahead) the sales changed before the step carry times ahead of "now", and a
        # bound at "now" left them open beside the new one
        ids = self._db.read_now(
            lambda c: sale_store.empty_open_sale_ids(
                c,
                register_id=self._sales.register_id,
                operator_id=operator.operator_id,
                idle_since=_ANY_TIME,
            )
        )
        removed = []
        for sale_id in ids:
            if await self.remove(sale_id, only_if_empty=True) is not PurgeAction.KEPT:
                removed.append(sale_id)
        return removed

    # -- timeout sweep -----------------------------------------------------------------------

    def _timeout(self) -> int:
        """The shop's empty-sale timeout (seconds)."""
        return self._db.read_now(
            # the cached context (read again only after master data changed): this runs
            # twice a second, and reading the shop afresh took six queries each time
            lambda c: self._sales.context(c).shop.empty_sale_timeout_seconds
        )

    async def sweep_empty(self) -> list[str]:
        """Removes empty sales idle longer than the shop's timeout.

        The look runs on the loop thread's reader (two indexed reads, as before every
        CreateSale): on the database thread, once a second, it rolled back a post parked
        for its PostSale (SaleServicer.post_ahead) whenever the customer took a moment."""
        try:
            timeout = self._timeout()
        except DomainError:
            return []
        now = self._clock()
        register_id = self._sales.register_id

        def empty_since(bound: datetime) -> list[str]:
            return self._db.read_now(
                lambda c: sale_store.empty_open_sale_ids(
                    c, register_id=register_id, operator_id=None, idle_since=bound
                )
            )

        ids = empty_since(now - timedelta(seconds=timeout))
        # Empty sales last changed "in the future": the wall clock was stepped back since
        # (by an hour when NTP corrects a hardware clock kept in local time and read as
        # UTC). Their idle time is unknown on the wall clock until it catches up, so it
        # is counted on the monotonic clock from when the sweep first saw them: they
        # time out after the shop's timeout, not after the step plus the timeout.
        up_to_now = set(empty_since(now + timedelta(microseconds=1)))
        ahead = [sid for sid in empty_since(_ANY_TIME) if sid not in up_to_now]
        mono = time.monotonic()
        seen = {sid: self._ahead_since.get(sid, mono) for sid in ahead}
        self._ahead_since = seen
        ids += [sid for sid, since in seen.items() if mono - since >= timeout]
        removed = []
        for sale_id in ids:
            if await self.remove(sale_id, only_if_empty=True) is not PurgeAction.KEPT:
                removed.append(sale_id)
        return removed

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                timeout = self._timeout()
            except DomainError:
                timeout = 900
            except Exception:  # the database is closing
                return
            # a cheap indexed query; once a second keeps a changed timeout responsive
            await asyncio.sleep(min(1.0, max(0.2, timeout / 10)))
            if self._stopping:
                return
            try:
                await self.sweep_empty()
            except Exception:  # never let the sweep die silently; retry next round
                log.exception("empty_sale_sweep_failed")
            await self.run_periodic()

    async def run_periodic(self, *, force: bool = False) -> dict[str, int]:
        """Runs the periodic jobs that are due (all with ``force``); rows removed by name.
        Not while a post is parked for its PostSale: pruning can wait a round, the post's
        run-ahead would be rolled back."""
        done: dict[str, int] = {}
        if self._db.speculating and not force:
            return done
        for name, every, job in self.periodic:
            now = time.monotonic()
            last = self._periodic_at.get(name)
            if not force and last is not None and now - last < every:
                continue
            self._periodic_at[name] = now
            try:
                done[name] = await self._db.write(job, background=True)
            except Exception:  # logged; retried when due again
                log.exception("housekeeping_job_failed", job=name)
                continue
            if done[name]:
                log.info("housekeeping_pruned", job=name, rows=done[name])
        return done

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="empty-sale-sweep")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # -- purge -------------------------------------------------------------------------------

    async def purge(
        self, operator: Operator, older_than: timedelta, *, validate_only: bool
    ) -> list[PurgedSale]:
        operator.require(Permission.STORNO)
        if older_than < MIN_PURGE_AGE:
            raise invalid("older_than", "at least 1 minute (sales in use are never purged)")
        now = self._clock()
        today = business_day(now, self._sales.zone)
        idle_since = now - older_than
        ids = await self._db.read(
            lambda c: sale_store.open_sale_ids(
                c, register_id=self._sales.register_id, idle_since=idle_since
            )
        )

        def abandoned(s: Sale) -> bool:
            return _kept_reason(s, idle_since, today) == ""

        out: list[PurgedSale] = []
        for sale_id in ids:
            # each sale read afresh: the TSE calls for the sales before it take their time,
            # and the cashier may have taken this one up again meanwhile
            sale = await self._db.read(lambda c, sid=sale_id: sale_store.get(c, sid))  # type: ignore[misc]
            reason = _kept_reason(sale, idle_since, today)
            if sale is None or reason is None:
                continue
            updated = sale.updated_at or sale.created_at
            if not reason and not self._sales.may_finish(sale_id, "cancel"):
                reason = self._locked_reason(sale_id)
            if reason:
                out.append(PurgedSale(sale_id, PurgeAction.KEPT, reason, updated))
                continue
            if validate_only:
                has_tse = await self._db.read(
                    lambda c, sid=sale_id: fiscal_store.get(c, sid) is not None  # type: ignore[misc]
                )
                would = (
                    PurgeAction.DELETED if sale.is_empty and not has_tse else PurgeAction.CANCELLED
                )
                out.append(PurgedSale(sale_id, would, "", updated))
                continue
            # decided again on the sale as read once it is locked for its cancel: a change
            # that was committed after the read above keeps it
            action = await self.remove(sale_id, only_if_empty=False, still_abandoned=abandoned)
            if action is PurgeAction.KEPT:
                sale = await self._db.read(lambda c, sid=sale_id: sale_store.get(c, sid))  # type: ignore[misc]
                reason = _kept_reason(sale, idle_since, today)
                if sale is None or reason is None:
                    continue  # in use again (or finished meanwhile): no longer abandoned
                updated = sale.updated_at or sale.created_at
                reason = reason or self._locked_reason(sale_id)
                out.append(PurgedSale(sale_id, action, reason, updated))
                continue
            out.append(PurgedSale(sale_id, action, "", updated))
        log.info(
            "purge",
            operator_id=operator.operator_id,
            older_than_s=int(older_than.total_seconds()),
            validate_only=validate_only,
            purged=sum(1 for p in out if p.action is not PurgeAction.KEPT),
            kept=sum(1 for p in out if p.action is PurgeAction.KEPT),
        )
        return out

    def _locked_reason(self, sale_id: str) -> str:
        """Why a sale SaleCommands.may_finish refuses to cancel is kept, in the words of
        the error a change of it gets: a finish under way (SALE_BEING_POSTED), the TSE's
        receipt signed but its post not saved (SALE_SIGNED_NOT_POSTED: post it again),
        or that post refused for good (SALE_UNRESOLVED: for the fiscal records). Only the
        first is over by itself; the others wait for a person, so they are not called a
        post in progress."""
        sales = self._sales
        if sale_id in sales.posting:
            return "BEING_POSTED"
        if sale_id in sales.unresolved:
            return "UNRESOLVED"
        if sale_id in sales.signed_unposted:
            return "SIGNED_NOT_POSTED"
        return "BEING_POSTED"  # a finish that ended since may_finish was asked


def _kept_reason(sale: Sale | None, idle_since: datetime, today: date) -> str | None:
    """Whether the purge removes the sale: None when it is no candidate (gone, no longer
    open, or changed since ``idle_since``: in use), "" when it goes, else why it is kept."""
    if sale is None or sale.state is not SaleState.OPEN:
        return None
    if (sale.updated_at or sale.created_at) >= idle_since:
        return None
    if sale.payments:
        return "HAS_PAYMENTS"  # money was taken: a person must decide
    if sale.pickup_date is not None and sale.pickup_date >= today:
        return "PICKUP_PENDING"
    return ""
