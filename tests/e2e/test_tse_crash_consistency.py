"""Crash consistency between the TSE and the database (issue 3, point 7), on the real daemon.

The daemon is SIGKILLed at each TSE crash point and at random moments during PostSale:

* ``tse.after_start``: the TSE started a sale's transaction, the daemon never recorded it;
* ``post.after_tse_finish``: the TSE signed the receipt, the post was not committed;
* ``post.in_transaction``: all post rows written, not committed;
* ``post.after_commit``: committed, the answer never sent;
* random timing: a timer kills the daemon somewhere in (or just after) a PostSale.

After each crash the daemon is restarted and the client retries the interrupted call with
the SAME request id; a retried PostSale must return the posted sale. At the end the TSE
export (the TSE's own record, independent of the database) must agree with the sales:

* the export verifies (signatures, counters, transaction structure);
* every transaction the TSE finished as a receipt (``Beleg^``) belongs to exactly one
  POSTED sale, whose signed processData, counter and signature are the TSE's;
* no posted sale lacks a signature or an outage marking; receipt numbers have no gap;
* no TSE transaction stays open except those of sales still open;
* transactions the daemon never recorded are finished as ``AVBelegabbruch`` and journaled
  as ``TSE_ORPHAN_CANCELLED``.

Without a crash: a post whose transaction fails after the TSE signed (injected disk I/O
error) leaves the sale locked as signed until it is posted again with the same signature.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import os
import random
import signal
import tarfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import closing_pb2, sale_pb2

from posd_daemon.fiscal import log_message as lm
from posd_daemon.fiscal.verify_export import verify_export
from tests.support.daemon_process import DaemonProcess
from tests.support.e2e import CARD, CASH, ITEMS, OPEN, POSTED, db_query, wait_until

pytestmark = pytest.mark.e2e

T = TypeVar("T")


RANDOM_KILLS = 8
SEED = int(os.environ.get("POSD_CRASH_SEED", "0")) or random.randrange(1, 2**31)

BELEG = "Beleg^"
ABORT = "AVBelegabbruch^"
#: what start-up reconciliation logs (counted for the summary line)
RECONCILE_EVENTS = (
    "post_completed_after_crash",
    "cancel_completed_after_crash",
    "tse_orphan_cancelled",
)


class Crashed(Exception):
    """The daemon died under a call; it has been restarted."""


@dataclass
class Ledger:
    posted: dict[str, sale_pb2.Sale] = field(default_factory=dict)  # acknowledged posts
    open_sales: list[str] = field(default_factory=list)  # deliberately left open
    crashes_by_point: Counter[str] = field(default_factory=Counter)


def add_line(
    sale_id: str, rid: str, *, item_id: str = "", code: str = ""
) -> Callable[[PosdClient], sale_pb2.AddLineResponse]:
    """An AddLine with a fixed request id (safe to retry across crashes)."""
    return lambda pos: pos.add_line(sale_id, item_id=item_id, code=code, request_id=rid)


def add_payment(
    sale_id: str, rid: str, method: int, amount: int
) -> Callable[[PosdClient], sale_pb2.AddPaymentResponse]:
    """An AddPayment with a fixed request id (safe to retry across crashes)."""
    return lambda pos: pos.add_payment(sale_id, method, amount, request_id=rid)


class Till:
    """Drives sales against a daemon that dies at armed points, and restarts it."""

    def __init__(self, daemon: DaemonProcess, rng: random.Random) -> None:
        self.daemon = daemon
        self.rng = rng
        self.ledger = Ledger()
        self.crashes = 0
        self.n = 0
        self.post_seconds: list[float] = []
        self.pos = self._boot("")

    # -- daemon life ----------------------------------------------------------------------

    def _boot(self, crashpoints: str) -> PosdClient:
        self.daemon.start(crashpoints=crashpoints)
        pos = self.daemon.client(retries=0)
        pos.ensure_shift()
        return pos

    def _reap(self) -> None:
        code = self.daemon.wait_exit(10)
        assert code == -signal.SIGKILL, (
            f"posd died with exit code {code}, not by SIGKILL:\n{self.daemon.stderr()[-3000:]}"
        )
        self.crashes += 1

    def recover(self) -> None:
        self._reap()
        self.pos = self._boot("")

    def restart(self, crashpoints: str = "") -> None:
        """SIGKILL (no clean shutdown) and start again, with ``crashpoints`` armed."""
        self.daemon.kill()
        self.pos = self._boot(crashpoints)

    def once(self, fn: Callable[[PosdClient], T]) -> T:
        """One call; a crash under it restarts the daemon and raises :class:`Crashed`."""
        try:
            return fn(self.pos)
        except PosdError as exc:
            if exc.code != grpc.StatusCode.UNAVAILABLE:
                raise
        self.recover()
        raise Crashed

    def retrying(self, fn: Callable[[PosdClient], T], tries: int = 5) -> T:
        """Retries across crashes; ``fn`` must carry a fixed request id."""
        for _ in range(tries):
            try:
                return self.once(fn)
            except Crashed:
                continue
        raise AssertionError(f"no answer after {tries} crashes in a row")

    # -- sales ----------------------------------------------------------------------------

    def prepare(self, *, wait_for_start: bool = True) -> str:
        """Creates a sale with 5 lines and a payment (cash with change, card, or both)."""
        n = self.n
        self.n += 1
        rid = f"create-{n}"
        sale = self.retrying(lambda pos: pos.create_sale(request_id=rid))
        resp: sale_pb2.AddLineResponse | None = None
        for i in range(5):
            item_id, _, _, code = ITEMS[(n + i) % len(ITEMS)]
            if i % 2:  # scanned, or chosen from the catalog
                resp = self.retrying(add_line(sale.sale_id, f"line-{n}-{i}", code=code))
            else:
                resp = self.retrying(add_line(sale.sale_id, f"line-{n}-{i}", item_id=item_id))
        assert resp is not None
        assert len(resp.sale.lines) == 5, "a retried AddLine was applied twice (or not at all)"
        total = resp.sale.total.amount_minor
        match n % 3:
            case 0:
                payments = [(CASH, (total // 500 + 1) * 500)]  # with change
            case 1:
                payments = [(CARD, total)]
            case _:
                payments = [(CARD, 100), (CASH, total - 100)]
        paid: sale_pb2.AddPaymentResponse | None = None
        for k, (method, amount) in enumerate(payments):
            paid = self.retrying(add_payment(sale.sale_id, f"pay-{n}-{k}", method, amount))
        assert paid is not None
        assert len(paid.sale.payments) == len(payments), "a retried AddPayment was doubled"
        if wait_for_start:
            self.wait_tse_started(sale.sale_id)
        return sale.sale_id

    def wait_tse_started(self, sale_id: str) -> int:
        """Waits for the background TSE start of the sale to be recorded; its tx number."""
        found: list[int] = []

        def started() -> bool:
            rows = db_query(
                self.daemon.db_path,
                "SELECT transaction_number FROM sale_tse WHERE sale_id = ?",
                (sale_id,),
            )
            if rows and rows[0][0] is not None:
                found.append(int(str(rows[0][0])))
                return True
            return False

        wait_until(started, 5, f"the TSE start of {sale_id}")
        return found[0]

    def post(self, sale_id: str, rid: str) -> sale_pb2.Sale:
        t0 = time.perf_counter()
        posted = self.pos.post_sale(sale_id, request_id=rid)
        self.post_seconds.append(time.perf_counter() - t0)
        return posted

    def repost(self, sale_id: str, rid: str) -> sale_pb2.Sale:
        """The client's retry of an interrupted PostSale: must return the posted sale."""
        posted = self.retrying(lambda pos: pos.post_sale(sale_id, request_id=rid))
        assert posted.state == POSTED, f"retried post of {sale_id} answered {posted.state}"
        return posted

    def ack(self, posted: sale_pb2.Sale, rid: str, expected_receipt: int) -> None:
        assert posted.state == POSTED
        assert posted.receipt_number == expected_receipt, (
            f"receipt {posted.receipt_number}, expected {expected_receipt}"
        )
        assert len(posted.lines) == 5
        assert posted.tse.state == "SIGNED", f"posted sale's TSE state is {posted.tse.state!r}"
        assert posted.tse.process_data.startswith(BELEG)
        assert posted.sale_id not in self.ledger.posted, "one sale acknowledged twice"
        # once more with the same request id: the same answer, nothing posted twice
        again = self.retrying(lambda pos: pos.post_sale(posted.sale_id, request_id=rid))
        assert again == posted, "a repeated PostSale gave another answer"
        self.ledger.posted[posted.sale_id] = posted

    def last_receipt(self) -> int:
        return self.retrying(lambda pos: pos.status().last_receipt_number)

    def sale(self) -> sale_pb2.Sale:
        """One undisturbed sale."""
        last = self.last_receipt()
        sale_id = self.prepare()
        rid = uuid.uuid4().hex
        posted = self.post(sale_id, rid)
        self.ack(posted, rid, last + 1)
        return posted

    # -- crashes ----------------------------------------------------------------------------

    def post_into(self, point: str) -> None:
        """A sale whose PostSale dies at the armed post crash point; then the retry."""
        self.restart(f"{point}:1")
        last = self.last_receipt()
        sale_id = self.prepare()
        crashes = self.crashes
        rid = uuid.uuid4().hex
        with pytest.raises(Crashed):
            self.once(lambda pos: pos.post_sale(sale_id, request_id=rid))
        assert self.crashes == crashes + 1, f"{point} did not kill the daemon"
        self.ledger.crashes_by_point[point] += 1
        # the TSE signed before the database transaction began: after any of these points
        # the receipt exists at the TSE, so after the restart the sale must be posted
        # (committed before the crash, or completed by start-up reconciliation)
        after = self.retrying(lambda pos: pos.get_sale(sale_id))
        assert after.state == POSTED, f"after a crash at {point} the sale is {after.state}"
        assert after.receipt_number == last + 1
        self.ack(self.repost(sale_id, rid), rid, last + 1)

    def start_into_orphan(self) -> int:
        """``tse.after_start``: the TSE started a transaction the daemon never recorded."""
        self.restart("tse.after_start:1")
        before = orphan_numbers(self.daemon.db_path)
        last = self.last_receipt()
        crashes = self.crashes
        # the 1st line starts the transaction in the background; the daemon dies there, so
        # one of the next calls finds it dead and retries after the restart (or, when the
        # client was faster than the TSE start, all were answered before it died)
        sale_id = self.prepare(wait_for_start=False)
        if self.crashes == crashes:
            wait_until(lambda: not self.daemon.running, 5, "tse.after_start to kill the daemon")
            self.recover()
        assert self.crashes == crashes + 1, "tse.after_start did not kill the daemon"
        self.ledger.crashes_by_point["tse.after_start"] += 1
        orphans = orphan_numbers(self.daemon.db_path) - before
        assert len(orphans) == 1, f"expected one orphan cancelled at start-up, got {orphans}"
        (orphan,) = orphans
        # the sale goes on with a new transaction (started by a later line, or by the post)
        rid = uuid.uuid4().hex
        posted = self.post(sale_id, rid)
        assert posted.tse.transaction_number > orphan
        self.ack(posted, rid, last + 1)
        return orphan

    def post_with_random_kill(self, window: float) -> bool:
        """A PostSale with a SIGKILL armed 0..window s after the call; True if it crashed."""
        last = self.last_receipt()
        sale_id = self.prepare(wait_for_start=self.rng.random() < 0.75)
        rid = uuid.uuid4().hex
        pid = self.daemon.pid
        delay = self.rng.uniform(0.0, window)

        def kill() -> None:
            proc = self.daemon.proc
            if proc is not None and proc.pid == pid:
                self.daemon.send_signal(signal.SIGKILL)

        timer = threading.Timer(delay, kill)
        timer.daemon = True
        crashes = self.crashes
        timer.start()
        try:
            posted = self.once(lambda pos: pos.post_sale(sale_id, request_id=rid))
        except Crashed:
            posted = self.repost(sale_id, rid)
        timer.join()
        if self.crashes == crashes:  # the kill came after the answer: restart, retry anyway
            self.recover()
            assert self.repost(sale_id, rid) == posted
            self.ledger.crashes_by_point["random (after the answer)"] += 1
            self.ack(posted, rid, last + 1)
            return False
        self.ledger.crashes_by_point["random (during PostSale)"] += 1
        self.ack(posted, rid, last + 1)
        return True


def orphan_numbers(db: Path) -> set[int]:
    rows = db_query(db, "SELECT ref, payload FROM journal WHERE kind = 'TSE_ORPHAN_CANCELLED'")
    out: set[int] = set()
    for ref, payload in rows:
        number = int(json.loads(str(payload))["transaction_number"])
        assert ref == f"tse-tx:{number}"
        out.add(number)
    return out


@dataclass(frozen=True)
class Finish:
    process_type: str
    process_data: str
    signature_counter: int
    signature: bytes


def tse_finishes(tar: bytes) -> tuple[dict[int, Finish], set[int]]:
    """FinishTransaction per transaction number, and all started numbers, from the export."""
    finishes: dict[int, Finish] = {}
    started: set[int] = set()
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:*") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".log"):
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            message = lm.parse_log_message(handle.read())
            tx = message.transaction
            if tx is None:
                continue
            if tx.operation_type == lm.OPERATION_START:
                started.add(tx.transaction_number)
            elif tx.operation_type == lm.OPERATION_FINISH:
                assert tx.transaction_number not in finishes, (
                    f"transaction {tx.transaction_number} finished twice"
                )
                finishes[tx.transaction_number] = Finish(
                    tx.process_type,
                    tx.process_data.decode("utf-8"),
                    message.signature_counter,
                    message.signature_value,
                )
    return finishes, started


def check_consistency(daemon: DaemonProcess, pos: PosdClient, ledger: Ledger) -> dict[str, int]:
    tar = pos.export_tse()
    report = verify_export(io.BytesIO(tar), allow_open_transactions=True)
    assert report.ok, report.summary()
    finishes, started = tse_finishes(tar)

    sales = {s.sale_id: pos.get_sale(s.sale_id) for s in pos.list_sales(page_size=200)}
    posted = {sid: s for sid, s in sales.items() if s.state == POSTED}
    still_open = {sid for sid, s in sales.items() if s.state == OPEN}
    assert set(ledger.posted) <= set(posted), "an acknowledged post is lost"
    for sid, acked in ledger.posted.items():
        assert posted[sid].receipt_number == acked.receipt_number, f"receipt of {sid} changed"
        assert posted[sid].tse.transaction_number == acked.tse.transaction_number
    assert set(ledger.open_sales) <= still_open
    assert pos.list_outages() == [], "a TSE outage was recorded (none was provoked)"

    # receipt numbers 1..N without gap or duplicate
    numbers = sorted(s.receipt_number for s in posted.values())
    assert numbers == list(range(1, len(numbers) + 1)), f"receipt numbers: {numbers}"
    assert pos.status().last_receipt_number == len(numbers)

    # no posted sale without a signature or an outage marking
    for sid, s in posted.items():
        t = s.tse
        if t.state in ("SIGNED", "SIGNED_LATE"):
            assert t.transaction_number > 0, f"{sid}: signed without a transaction"
            assert t.signature, f"{sid}: signed without a signature"
        else:
            assert t.state == "OUTAGE", f"posted sale {sid} has TSE state {t.state!r}"
            assert t.outage_number > 0, f"{sid}: outage marking without an outage number"

    # every receipt the TSE finished belongs to exactly one posted, signed sale
    beleg = {n: f for n, f in finishes.items() if f.process_data.startswith(BELEG)}
    aborted = {n for n, f in finishes.items() if f.process_data.startswith(ABORT)}
    other = set(finishes) - set(beleg) - aborted
    assert not other, f"transactions finished as neither receipt nor abort: {sorted(other)}"
    owners: dict[int, list[str]] = {n: [] for n in beleg}
    for sid, s in posted.items():
        n = s.tse.transaction_number
        if n in owners:
            owners[n].append(sid)
    for n, f in sorted(beleg.items()):
        assert len(owners[n]) == 1, f"TSE receipt transaction {n} belongs to sales {owners[n]}"
        s = posted[owners[n][0]]
        assert s.tse.state == "SIGNED", f"transaction {n}: sale TSE state {s.tse.state}"
        assert s.tse.process_data == f.process_data, f"transaction {n}: processData differs"
        assert s.tse.process_type == f.process_type
        assert s.tse.signature_counter == f.signature_counter
        assert base64.b64decode(s.tse.signature) == f.signature, f"transaction {n}: signature"
    # ... and every signed sale is such a receipt
    for sid, s in posted.items():
        if s.tse.state in ("SIGNED", "SIGNED_LATE"):
            assert s.tse.transaction_number in beleg, (
                f"{sid} claims TSE transaction {s.tse.transaction_number}, not a finished receipt"
            )

    # open TSE transactions: exactly those of the sales still open
    open_tx = set(report.open_transactions)
    assert open_tx == started - set(finishes)
    open_sale_tx = {
        int(str(n))
        for sid in still_open
        for (n,) in db_query(
            daemon.db_path,
            "SELECT transaction_number FROM sale_tse WHERE sale_id = ? AND state = 'STARTED'",
            (sid,),
        )
        if n is not None
    }
    assert open_tx <= open_sale_tx, f"open TSE transactions of no open sale: {open_tx}"
    for sid in ledger.open_sales:  # the ones left open on purpose had started theirs
        assert any(
            n in open_tx
            for (n,) in db_query(
                daemon.db_path, "SELECT transaction_number FROM sale_tse WHERE sale_id = ?", (sid,)
            )
        ), f"the TSE transaction of open sale {sid} is not open"

    # transactions the daemon never recorded: finished as AVBelegabbruch and journaled
    orphans = orphan_numbers(daemon.db_path)
    recorded = {
        int(str(n))
        for (n,) in db_query(
            daemon.db_path,
            "SELECT transaction_number FROM sale_tse WHERE transaction_number IS NOT NULL",
        )
    }
    assert orphans, "no TSE_ORPHAN_CANCELLED record"
    assert not orphans & recorded, "an orphan transaction is recorded for a sale"
    assert orphans <= aborted, f"orphans not finished as AVBelegabbruch: {orphans - aborted}"
    # no sale was cancelled in this test: every abort is an orphan the journal explains
    assert aborted == orphans, f"AVBelegabbruch without a journal record: {aborted - orphans}"
    assert started - recorded - orphans == set(), "a TSE transaction nobody accounts for"

    assert pos.verify_journal().ok
    return {
        "transactions": len(started),
        "receipts": len(beleg),
        "aborted": len(aborted),
        "open": len(open_tx),
        "posted": len(posted),
    }


def test_tse_and_database_agree_after_crashes(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    t0 = time.monotonic()
    print(f"POSD_CRASH_SEED={SEED}")
    daemon = DaemonProcess(tmp_path / "state")
    try:
        till = Till(daemon, rng)
        for item_id, name, price, code in ITEMS:
            till.pos.upsert_item(item_id, name, price, barcodes=(code,))
        for _ in range(3):
            till.sale()

        orphans = [till.start_into_orphan()]
        for point in ("post.after_tse_finish", "post.in_transaction", "post.after_commit"):
            till.post_into(point)
            till.sale()  # numbering and signing go on normally after the crash
        orphans.append(till.start_into_orphan())  # a second time, after reconciled posts

        # random timing: the window spans the whole PostSale (call to answer) and a bit
        typical = sorted(till.post_seconds)[len(till.post_seconds) // 2]
        window = max(0.002, 1.25 * typical)
        till.restart()
        during = sum(till.post_with_random_kill(window) for _ in range(RANDOM_KILLS))
        assert during >= 1, f"no random kill landed inside a PostSale (window {window:.4f} s)"

        # one sale left open with its TSE transaction started
        open_id = till.prepare()
        till.ledger.open_sales.append(open_id)

        # a last crash while idle, a restart, then the TSE and the register must agree
        till.restart()
        figures = check_consistency(daemon, till.pos, till.ledger)
        assert set(orphans) <= orphan_numbers(daemon.db_path)

        # the open sale still posts, with its own transaction; then nothing stays open
        last = till.last_receipt()
        rid = uuid.uuid4().hex
        till.ack(till.post(open_id, rid), rid, last + 1)
        till.ledger.open_sales.clear()
        final = check_consistency(daemon, till.pos, till.ledger)
        assert final["open"] == 0
        reconciled = Counter(
            str(e["event"]) for e in daemon.log_events() if e.get("event") in RECONCILE_EVENTS
        )
        print(
            f"{time.monotonic() - t0:.1f} s: crashes={till.crashes} reconciled={dict(reconciled)}"
            f" by point={dict(till.ledger.crashes_by_point)} random window={window * 1e3:.1f} ms"
            f" before the last post={figures} final={final}"
        )
        assert daemon.terminate() == 0
    finally:
        daemon.close()


@pytest.mark.e2e
def test_orphan_cancelled_at_start_up_is_journaled_even_if_killed_in_between(
    tmp_path: Path,
) -> None:
    """SIGKILL inside start-up reconciliation, after the orphan's journal record and before
    its cancellation at the TSE: the next start cancels it without a second record."""
    state = tmp_path / "state"
    daemon = DaemonProcess(state)
    try:
        daemon.start(crashpoints="tse.after_start:1")
        pos = daemon.client(retries=0)
        pos.ensure_shift()
        pos.upsert_item(*ITEMS[0][:3], barcodes=(ITEMS[0][3],))
        sale = pos.create_sale()
        with contextlib.suppress(PosdError):
            pos.add_line(sale.sale_id, item_id=ITEMS[0][0])
        assert daemon.wait_exit() == -signal.SIGKILL
        daemon.close_clients()

        # reconciliation journals orphan 1, then dies before cancelling it at the TSE
        daemon.spawn(crashpoints="reconcile.orphan_journaled:1")
        assert daemon.wait_exit() == -signal.SIGKILL
        assert orphan_numbers(daemon.db_path) == {1}

        daemon.start()
        pos = daemon.client(retries=0)
        finishes, started = tse_finishes(pos.export_tse())
        assert started == {1}
        aborted = {n for n, f in finishes.items() if f.process_data.startswith(ABORT)}
        assert aborted == {1}, finishes
        assert daemon.posctl("journal", "verify").returncode == 0
        assert orphan_numbers(daemon.db_path) == {1}
        records = db_query(
            daemon.db_path, "SELECT COUNT(*) FROM journal WHERE kind = 'TSE_ORPHAN_CANCELLED'"
        )
        assert records == [(1,)]
    finally:
        daemon.close()


@pytest.mark.e2e
def test_a_post_that_fails_after_the_tse_signed_locks_the_sale_until_posted_again(
    tmp_path: Path,
) -> None:
    """The TSE finished the receipt, then the post's transaction failed (injected: the
    error a failing disk gives, right before the commit). The daemon stays up, the sale
    stays exactly as signed (no edit, no cancel, no park), and posting it again gets the
    TSE's one signature: the transaction is finished once, it belongs to the posted sale,
    and no outage was opened."""
    state = tmp_path / "state"
    daemon = DaemonProcess(state)
    try:
        daemon.start(crashpoints="post.in_transaction:1:raise")
        pos = daemon.client(retries=0)
        pos.ensure_shift()
        for item_id, name, price, code in ITEMS[:2]:
            pos.upsert_item(item_id, name, price, barcodes=(code,))
        sale = pos.create_sale()
        total = pos.add_line(sale.sale_id, item_id=ITEMS[0][0]).sale.total.amount_minor
        pos.add_payment(sale.sale_id, CASH, total)

        with pytest.raises(PosdError) as failed:
            pos.post_sale(sale.sale_id)
        assert failed.value.code == grpc.StatusCode.UNAVAILABLE
        assert failed.value.reason == "POST_NOT_SAVED"
        assert db_query(
            daemon.db_path, "SELECT state FROM sales WHERE sale_id = ?", (sale.sale_id,)
        ) == [("OPEN",)]

        for change in (
            lambda: pos.add_line(sale.sale_id, item_id=ITEMS[1][0]),
            lambda: pos.cancel_sale(sale.sale_id, "customer left"),
            lambda: pos.call(
                pos.sales.ParkSale,
                sale_pb2.ParkSaleRequest(request_id=uuid.uuid4().hex, sale_id=sale.sale_id),
            ),
        ):
            with pytest.raises(PosdError) as refused:
                change()
            assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert refused.value.reason == "SALE_SIGNED_NOT_POSTED"
        unchanged = pos.get_sale(sale.sale_id)
        assert len(unchanged.lines) == 1
        assert unchanged.state == sale_pb2.SALE_STATE_OPEN

        posted = pos.post_sale(sale.sale_id)
        assert posted.state == sale_pb2.SALE_STATE_POSTED
        assert posted.tse.state == "SIGNED"
        assert posted.tse.outage_number == 0
        assert pos.status().last_receipt_number == posted.receipt_number == 1

        finishes, started = tse_finishes(pos.export_tse())
        number = posted.tse.transaction_number
        assert number in started
        assert set(finishes) == {number}  # finished once: the retry got the same signature
        finish = finishes[number]
        assert finish.process_data == posted.tse.process_data
        assert finish.signature_counter == posted.tse.signature_counter
        assert base64.b64encode(finish.signature).decode() == posted.tse.signature
        assert db_query(daemon.db_path, "SELECT COUNT(*) FROM tse_outages") == [(0,)]

        # once posted the lock is gone: the next sale of the register is unaffected
        other = pos.create_sale()
        pos.add_line(other.sale_id, item_id=ITEMS[1][0])
        assert daemon.posctl("journal", "verify").returncode == 0
        assert daemon.terminate() == 0
    finally:
        daemon.close()


# -- Vorgänge that are no sale: cash movements and a shift's booked cash difference ----------

#: the direction a TRANSIT or TIP must name (the others imply theirs)
_DIRECTIONS = {
    closing_pb2.CASH_MOVEMENT_KIND_TRANSIT: closing_pb2.CASH_DIRECTION_OUT,
    closing_pb2.CASH_MOVEMENT_KIND_TIP: closing_pb2.CASH_DIRECTION_IN,
}

#: (crash point, kind, amount, finished at the TSE before the crash)
MOVEMENT_CRASHES = (
    ("event.after_finish", closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 5000, True),
    ("event.in_transaction", closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL, 2000, True),
    ("event.before_finish", closing_pb2.CASH_MOVEMENT_KIND_TRANSIT, 1500, False),
    ("event.after_start", closing_pb2.CASH_MOVEMENT_KIND_TIP, 300, False),
)


def _dies_under(daemon: DaemonProcess, call: Callable[[], object]) -> None:
    """``call`` is cut off by the armed crash point: the daemon dies by SIGKILL."""
    with pytest.raises(PosdError) as cut:
        call()
    assert cut.value.code == grpc.StatusCode.UNAVAILABLE, cut.value
    assert daemon.wait_exit(10) == -signal.SIGKILL, daemon.stderr()[-3000:]
    daemon.close_clients()


def _boot(daemon: DaemonProcess, crashpoints: str = "") -> PosdClient:
    if daemon.running:
        daemon.kill()
        daemon.close_clients()
    daemon.start(crashpoints=crashpoints)
    return daemon.client(retries=0, open_shift=False)


def _movements(db: Path, reason: str) -> list[tuple[object, ...]]:
    return db_query(
        db,
        "SELECT movement_id, transaction_number, tse_state, created_at FROM cash_movements"
        " WHERE reason = ?",
        (reason,),
    )


def _journaled_numbers(db: Path, kind: str) -> set[int]:
    rows = db_query(db, "SELECT payload FROM journal WHERE kind = ?", (kind,))
    return {int(json.loads(str(p))["transaction_number"]) for (p,) in rows}


def _expected_cash(shift: closing_pb2.Shift) -> int:
    return sum(m.amount_minor for m in shift.expected_cash if m.currency_code == "EUR")


@pytest.mark.e2e
def test_cash_movements_and_shift_closes_agree_with_the_tse_after_crashes(
    tmp_path: Path,
) -> None:
    """Cash movements and a shift close with a difference, the daemon SIGKILLed at each
    crash point of their signing: ``event.after_start`` (TSE started, nothing recorded),
    ``event.before_finish`` (pending row committed, not finished), ``event.after_finish``
    (finished, nothing of the record committed), ``event.in_transaction`` (all written,
    not committed). After the restart the client retries with the same request id. In
    the end every TSE transaction belongs to exactly one record: a finished Kassenbeleg
    to one movement (with the TSE's data, counter and signature), an abort to one journal
    record (an orphan, or a pending Vorgang cancelled at start-up); movement numbers run
    without a gap; the journal verifies."""
    daemon = DaemonProcess(tmp_path / "state")
    db = daemon.db_path
    try:
        pos = _boot(daemon)
        pos.ensure_shift()
        pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 10000, "Wechselgeld")

        for point, kind, amount, finished in MOVEMENT_CRASHES:
            reason = f"crash at {point}"
            rid = f"movement-{point}"
            way = _DIRECTIONS.get(kind, closing_pb2.CASH_DIRECTION_UNSPECIFIED)
            pos = _boot(daemon, f"{point}:1")
            called = time.time()
            add = functools.partial(
                pos.add_cash_movement, kind, amount, reason, direction=way, request_id=rid
            )
            _dies_under(daemon, add)
            died = time.time()
            pos = _boot(daemon)
            recovered = _movements(db, reason)
            # finished at the TSE: recorded by start-up reconciliation; else not at all
            assert len(recovered) == (1 if finished else 0), (point, recovered)
            got = pos.add_cash_movement(kind, amount, reason, direction=way, request_id=rid)
            again = pos.add_cash_movement(kind, amount, reason, direction=way, request_id=rid)
            assert again == got, f"{point}: a repeated AddCashMovement gave another answer"
            rows = _movements(db, reason)
            assert len(rows) == 1, f"{point}: {len(rows)} movements for one request"
            assert got.movement_id == rows[0][0]
            assert got.tse.state == "SIGNED", (point, got.tse)
            assert got.tse.signature
            if finished:
                assert got.tse.transaction_number == rows[0][1] == recovered[0][1]
                # recorded as the call would have: at its own time, not at the restart
                at = got.create_time.ToNanoseconds() / 1e9
                assert called - 1 <= at <= died, (point, called, at, died)
        cancelled = _journaled_numbers(db, "TSE_EVENT_CANCELLED")
        assert len(cancelled) == 1, cancelled  # event.before_finish
        assert len(orphan_numbers(db)) == 1  # event.after_start

        # a shift close with a difference, killed after the TSE signed the difference
        pos = _boot(daemon, "event.after_finish:1")
        shift = pos.get_shift()
        counted = PosdClient.cash_counts(total=_expected_cash(shift) - 123)
        _dies_under(daemon, lambda: pos.close_shift(counted, request_id="close-1"))
        pos = _boot(daemon)
        assert pos.get_shift(shift.shift_id).state == closing_pb2.SHIFT_STATE_CLOSED
        closed = pos.close_shift(counted, request_id="close-1")
        assert closed.shift_id == shift.shift_id
        assert closed.state == closing_pb2.SHIFT_STATE_CLOSED
        assert pos.close_shift(counted, request_id="close-1") == closed
        differences = _movements(db, f"Kassendifferenz Schicht {shift.shift_id}")
        assert len(differences) == 1 and differences[0][2] == "SIGNED", differences

        # the next shift's close killed before the finish: nothing closed, then the retry
        pos.open_shift([], request_id="open-2")
        pos.add_cash_movement(
            closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 1000, "Wechselgeld 2", request_id="dep-2"
        )
        pos = _boot(daemon, "event.before_finish:1")
        shift = pos.get_shift()
        counted = PosdClient.cash_counts(total=_expected_cash(shift) + 50)
        _dies_under(daemon, lambda: pos.close_shift(counted, request_id="close-2"))
        pos = _boot(daemon)
        assert pos.get_shift(shift.shift_id).state == closing_pb2.SHIFT_STATE_OPEN
        assert len(_journaled_numbers(db, "TSE_EVENT_CANCELLED")) == 2
        closed = pos.close_shift(counted, request_id="close-2")
        assert closed.state == closing_pb2.SHIFT_STATE_CLOSED
        assert pos.close_shift(counted, request_id="close-2") == closed
        differences = _movements(db, f"Kassendifferenz Schicht {shift.shift_id}")
        assert len(differences) == 1 and differences[0][2] == "SIGNED", differences

        # the TSE's own record against the register's
        tar = pos.export_tse()
        report = verify_export(io.BytesIO(tar), allow_open_transactions=True)
        assert report.ok, report.summary()
        finishes, started = tse_finishes(tar)
        assert started == set(finishes), f"open: {sorted(started - set(finishes))}"
        rows = db_query(
            db,
            "SELECT number, transaction_number, tse_state, process_data, finish_counter,"
            " signature FROM cash_movements ORDER BY number",
        )
        assert [int(str(r[0])) for r in rows] == list(range(1, len(rows) + 1))
        owners: Counter[int] = Counter()
        for _, number, state, data, counter, signature in rows:
            assert state == "SIGNED", rows
            n = int(str(number))
            owners[n] += 1
            finish = finishes[n]
            assert finish.process_data == data, n
            assert finish.process_data.startswith(BELEG)
            assert finish.signature_counter == counter, n
            assert base64.b64encode(finish.signature).decode() == signature, n
        assert all(c == 1 for c in owners.values()), owners
        beleg = {n for n, f in finishes.items() if f.process_data.startswith(BELEG)}
        aborted = {n for n, f in finishes.items() if f.process_data.startswith(ABORT)}
        assert beleg == set(owners), f"Kassenbelege of no movement: {beleg - set(owners)}"
        cancelled = _journaled_numbers(db, "TSE_EVENT_CANCELLED")
        orphans = orphan_numbers(db)
        assert not cancelled & orphans
        assert aborted == cancelled | orphans, (aborted, cancelled, orphans)
        assert beleg | aborted == set(finishes)
        assert len(_journaled_numbers(db, "TSE_EVENT_RECOVERED")) == 3
        assert db_query(
            db,
            "SELECT COUNT(*) FROM tse_pending_events WHERE state <> 'DONE'"
            " AND state <> 'CANCELLED'",
        ) == [(0,)]
        assert pos.list_outages() == []
        assert pos.verify_journal().ok
        assert daemon.posctl("journal", "verify").returncode == 0
        assert daemon.terminate() == 0
    finally:
        daemon.close()


@pytest.mark.e2e
def test_a_pending_movement_cancelled_at_start_up_is_journaled_once_if_killed_in_between(
    tmp_path: Path,
) -> None:
    """A movement killed before its finish; the next start journals its cancellation and
    dies before cancelling at the TSE (``reconcile.event_journaled``); the start after
    that cancels it without a second record, and no orphan record either."""
    daemon = DaemonProcess(tmp_path / "state")
    db = daemon.db_path
    try:
        pos = _boot(daemon, "event.before_finish:1")
        pos.ensure_shift()
        deposit = functools.partial(
            pos.add_cash_movement, closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 700, "Einlage"
        )
        _dies_under(daemon, deposit)
        daemon.spawn(crashpoints="reconcile.event_journaled:1")
        assert daemon.wait_exit(10) == -signal.SIGKILL
        assert _journaled_numbers(db, "TSE_EVENT_CANCELLED") == {1}

        pos = _boot(daemon)
        finishes, started = tse_finishes(pos.export_tse())
        assert started == {1}
        assert finishes[1].process_data.startswith(ABORT)
        assert db_query(db, "SELECT COUNT(*) FROM journal WHERE kind = 'TSE_EVENT_CANCELLED'") == [
            (1,)
        ]
        assert orphan_numbers(db) == set()
        assert _movements(db, "Einlage") == []
        assert daemon.posctl("journal", "verify").returncode == 0
        assert daemon.terminate() == 0
    finally:
        daemon.close()
