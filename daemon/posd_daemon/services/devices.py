"""Use cases around the peripherals: the outbox's printer and drawer ports on the device
manager, no-sale drawer opens, receipt reprints, and the open-drawer rule.

* The outbox worker prints and kicks through :class:`OutboxPrinter` /
  :class:`OutboxDrawer`, which put the job on the device's own queue and wait for it.
  A fault raises ``DeviceError`` so the outbox keeps the job and retries it.
* ``open_drawer_no_sale`` and ``reprint_receipt`` write their journal record and their
  outbox job in ONE transaction; the outbox performs them after the commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from posd_daemon.devices.manager import DeviceManager, DeviceUnavailable, DrawerDevice
from posd_daemon.devices.manager import PrinterDevice as ManagedPrinter
from posd_daemon.devices.model import DeviceClass
from posd_daemon.devices.templates import ReceiptTemplate
from posd_daemon.domain.document import Document
from posd_daemon.domain.errors import not_found, precondition
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.sale import SaleState
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.store import journal, outbox
from posd_daemon.store import sales as sale_store

#: How long the outbox waits for a device to finish one job (it may queue behind others).
JOB_TIMEOUT = 120.0


class OutboxPrinter:
    """The outbox's ``ReceiptPrinter``: the configured printer through the manager."""

    def __init__(
        self,
        manager: DeviceManager,
        ref: str,
        columns: int,
        template: ReceiptTemplate | None = None,
    ) -> None:
        self._manager = manager
        self._ref = ref
        self._columns = columns
        self.template = template or ReceiptTemplate()

    @property
    def columns(self) -> int:
        return self._columns

    def device(self) -> ManagedPrinter:
        device = self._manager.find(self._ref) if self._ref else None
        if not isinstance(device, ManagedPrinter):
            raise DeviceUnavailable("no receipt printer is configured", "NO_PRINTER")
        return device

    def print_document(self, document: Document) -> None:
        self.device().print_document(self.template.apply(document)).result(JOB_TIMEOUT)


class OutboxDrawer:
    """The outbox's ``CashDrawer``: kicks the configured drawer through the manager."""

    def __init__(self, manager: DeviceManager, ref: str) -> None:
        self._manager = manager
        self._ref = ref

    def device(self) -> DrawerDevice:
        device = self._manager.find(self._ref) if self._ref else None
        if not isinstance(device, DrawerDevice):
            raise DeviceUnavailable("no cash drawer is configured", "NO_DRAWER")
        return device

    def open(self, not_after: float | None = None) -> None:
        self.device().open(not_after).result(JOB_TIMEOUT)


@dataclass(frozen=True, slots=True)
class Queued:
    job_id: int
    journal_sequence: int = 0
    receipt_number: int = 0


class DeviceCommands:
    def __init__(
        self,
        register_id: str,
        clock: Clock,
        on_outbox: Callable[[], None],
        manager: DeviceManager,
        *,
        block_sale_while_drawer_open: bool = False,
    ) -> None:
        self._register_id = register_id
        self._clock = clock
        self._on_outbox = on_outbox
        self._manager = manager
        self.block_sale_while_drawer_open = block_sale_while_drawer_open

    def _after_commit(self, tx: Tx) -> None:
        tx.after_commit(self._on_outbox)

    def open_drawer_no_sale(self, tx: Tx, operator: Operator, reason: str) -> Queued:
        """A journaled no-sale drawer open (kicked by the outbox after the commit)."""
        operator.require(Permission.DRAWER_OPEN_NO_SALE)
        check_text(reason, "reason", max_len=200, required=False)
        drawer = self._manager.first(DeviceClass.DRAWER)
        if drawer is None:
            raise precondition("NO_DRAWER", "no cash drawer is configured")
        now = self._clock()
        seq = self._journal_no_sale(tx, operator, drawer.device_id, reason, now)
        job = outbox.enqueue(
            tx.conn,
            kind="drawer",
            ref=f"no-sale:{seq}",
            receipt_number=None,
            payload={"reason": "no sale", "operator_id": operator.operator_id},
            when=now,
        )
        self._after_commit(tx)
        return Queued(job, seq)

    def journal_drawer_test(self, tx: Tx, operator: Operator, device_id: str, level: str) -> int:
        """A drawer's external or interactive health check kicks it open: a no-sale open
        like ``open_drawer_no_sale`` (same permission, same journal record), journaled
        before the kick. The kick itself is the health check's, not an outbox job."""
        operator.require(Permission.DRAWER_OPEN_NO_SALE)
        reason = f"health check ({level})"
        return self._journal_no_sale(tx, operator, device_id, reason, self._clock())

    def _journal_no_sale(
        self, tx: Tx, operator: Operator, device_id: str, reason: str, now: datetime
    ) -> int:
        return journal.append(
            tx.conn,
            kind="DRAWER_OPENED_NO_SALE",
            register_id=self._register_id,
            ref=f"drawer:{device_id}",
            payload={"operator_id": operator.operator_id, "reason": reason},
            when=now,
        )

    def discard_print_job(
        self, tx: Tx, operator: Operator, job_id: int, reason: str
    ) -> tuple[outbox.OutboxJob, int]:
        """Removes a pending job that cannot be done (a document this daemon cannot
        render, a printer that rejects it): a job that fails by its own fault holds up
        nothing (OutboxWorker) but stays queued and counted until someone decides. The
        removal is journaled with who, why and the job as it was (its last error); a
        receipt stays in the archive and can be reprinted as a copy. (job, journal
        sequence)."""
        operator.require(Permission.DEVICE_TEST)
        reason = check_text(reason, "reason", max_len=200).strip()
        job = outbox.get_job(tx.conn, job_id)
        if job is None:
            raise not_found("JOB_NOT_FOUND", f"no print job {job_id}", job_id=str(job_id))
        now = self._clock()
        if not outbox.discard(tx.conn, job_id, now, f"discarded: {reason}"):
            raise precondition(
                "JOB_NOT_PENDING",
                f"print job {job_id} is {job.state.lower()}: only a pending job is discarded",
                job_id=str(job_id),
            )
        seq = journal.append(
            tx.conn,
            kind="PRINT_JOB_DISCARDED",
            register_id=self._register_id,
            ref=f"job:{job_id}",
            payload={
                "job_id": job_id,
                "kind": job.kind,
                "receipt_number": job.receipt_number,
                "document": str(job.payload.get("document", "")),
                "attempts": job.attempts,
                "last_error": job.last_error,
                "operator_id": operator.operator_id,
                "reason": reason,
            },
            when=now,
        )
        return job, seq

    def reprint_receipt(self, tx: Tx, operator: Operator, sale_id: str) -> Queued:
        """Queue a copy of a posted receipt, marked as a copy, journaled."""
        operator.require(Permission.SALE)
        check_code(sale_id, "sale_id")
        sale = sale_store.get(tx.conn, sale_id)
        if sale is None:
            raise not_found("SALE_NOT_FOUND", f"no sale {sale_id!r}", sale_id=sale_id)
        if sale.state is not SaleState.POSTED:
            raise precondition(
                "SALE_NOT_POSTED",
                f"sale {sale_id} is {sale.state.value.lower()}: only posted receipts are reprinted",
                sale_id=sale_id,
            )
        now = self._clock()
        seq = journal.append(
            tx.conn,
            kind="RECEIPT_REPRINTED",
            register_id=sale.register_id,
            ref=f"receipt:{sale.receipt_number}",
            payload={"sale_id": sale_id, "operator_id": operator.operator_id, "copy": True},
            when=now,
        )
        job = outbox.enqueue(
            tx.conn,
            kind="print",
            ref=sale_id,
            receipt_number=sale.receipt_number,
            payload={"document": "receipt", "copy": True},
            when=now,
        )
        self._after_commit(tx)
        return Queued(job, seq, sale.receipt_number)

    def check_sale_may_start(self) -> None:
        """The optional rule: no new sale while the cash drawer is open."""
        if not self.block_sale_while_drawer_open:
            return
        for drawer in self._manager.of_class(DeviceClass.DRAWER):
            if isinstance(drawer, DrawerDevice) and drawer.is_open:
                raise precondition(
                    "DRAWER_OPEN",
                    "close the cash drawer before starting a new sale",
                    device_id=drawer.device_id,
                )


def job_state(conn: sqlite3.Connection, job_id: int) -> tuple[str, str] | None:
    """(state, last error) of one outbox job."""
    jobs = outbox.list_jobs(conn, include_done=True, after_id=job_id - 1, limit=1)
    if not jobs or jobs[0].job_id != job_id:
        return None
    return jobs[0].state, jobs[0].last_error
