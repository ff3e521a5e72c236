"""Crash safety of the real daemon: SIGKILL at many moments, restart, check what survived.

DESIGN.md's invariant: after a SIGKILL at any instant and a restart, every post the client
saw acknowledged is there exactly once, no receipt number is skipped or reused, the
journal chain verifies and no print job is lost (printing is at-least-once).

The client is the only source of truth about acknowledgements: it records every PostSale
answer it received. Every mutation is retried after a crash with the SAME request_id (as
``posd-client`` does after a network blip), so the test also shows idempotency across
restarts for CreateSale, AddLine, AddPayment and PostSale; some interrupted posts are
deliberately left alone to show that an unacknowledged post is either cleanly open or
cleanly posted, never half.
"""

from __future__ import annotations

import os
import random
import re
import signal
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
from posd.v1 import sale_pb2

from tests.support.daemon_process import DaemonError, DaemonProcess
from tests.support.e2e import CARD, CASH, ITEMS, OPEN, POSTED, db_query, wait_until

pytestmark = pytest.mark.e2e

T = TypeVar("T")


RANDOM_KILLS = 16  # at least 15 random-timing kills
RANDOM_PHASE_SECONDS = 45.0  # bound on the random phase (it usually needs ~15 s)
SEED = int(os.environ.get("POSD_CRASH_SEED", "0")) or random.randrange(1, 2**31)

RECEIPT_RE = re.compile(r"Beleg-Nr\. (\d+)")
SEPARATOR = "======== cut ========"


class Crashed(Exception):
    """The daemon died under a call; it has been restarted."""


@dataclass
class Ledger:
    """What the client knows: acknowledged posts and posts whose answer never came."""

    acked: dict[str, int] = field(default_factory=dict)  # sale_id -> receipt number
    unacked: list[str] = field(default_factory=list)  # interrupted, not retried
    sales: list[str] = field(default_factory=list)  # every sale the client created


class Register:
    """Drives sales against a daemon that may die at any moment and restarts it."""

    def __init__(self, daemon: DaemonProcess, rng: random.Random) -> None:
        self.daemon = daemon
        self.rng = rng
        self.ledger = Ledger()
        self.crashpoints = ""  # armed on the next start
        self.chaos = False  # random-timing SIGKILLs
        self.chaos_window = (0.02, 0.6)  # seconds after READY
        self.chaos_startup_share = 0.2  # the share of kills aimed at start-up instead
        self.chaos_kills = 0
        self.crashes = 0
        self.reconciled = 0  # interrupted posts completed by start-up reconciliation
        self._timer: threading.Timer | None = None
        self._kill_lock = threading.Lock()
        self.pos: PosdClient = self._boot()

    # -- daemon life ----------------------------------------------------------------------

    def _boot(self) -> PosdClient:
        """Starts the daemon (retrying when a chaos kill hits the start) and logs in."""
        while True:
            pid = self.daemon.spawn(crashpoints=self.crashpoints)
            self.crashpoints = ""
            self._disarm()
            if self.chaos and self.rng.random() < self.chaos_startup_share:
                self._arm(pid, self.rng.uniform(0.0, 0.6))  # somewhere in start-up
            try:
                self.daemon.wait_ready()
                if self.chaos and self._timer is None:
                    self._arm(pid, self.rng.uniform(*self.chaos_window))  # while serving
                return self.daemon.client(retries=0)
            except DaemonError as exc:
                if exc.returncode != -signal.SIGKILL:
                    raise
            except PosdError as exc:
                if exc.code != grpc.StatusCode.UNAVAILABLE:
                    raise
            self._reap()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, pid: int, delay: float) -> None:
        self._timer = threading.Timer(delay, self._chaos_kill, args=(pid,))
        self._timer.daemon = True
        self._timer.start()

    def _chaos_kill(self, pid: int) -> None:
        with self._kill_lock:
            proc = self.daemon.proc
            if proc is not None and proc.pid == pid and self.daemon.send_signal(signal.SIGKILL):
                self.chaos_kills += 1
                if self.chaos_kills >= RANDOM_KILLS:
                    self.chaos = False  # enough: the current sale completes undisturbed

    def _reap(self) -> None:
        code = self.daemon.wait_exit(10)
        assert code == -signal.SIGKILL, (
            f"posd died with exit code {code}, not by SIGKILL:\n{self.daemon.stderr()[-3000:]}"
        )
        self.crashes += 1

    def recover(self) -> None:
        """The daemon is dead (or dying): reap it, start it again, reconnect."""
        self._reap()
        self.pos = self._boot()

    def stop_chaos(self) -> None:
        self.chaos = False
        self._disarm()

    # -- calls ---------------------------------------------------------------------------

    def once(self, fn: Callable[[PosdClient], T]) -> T:
        """One call; a crash under it restarts the daemon and raises :class:`Crashed`."""
        try:
            return fn(self.pos)
        except PosdError as exc:
            if exc.code != grpc.StatusCode.UNAVAILABLE:
                raise
        self.recover()
        raise Crashed

    def retrying(self, fn: Callable[[PosdClient], T], tries: int = 8) -> T:
        """Retries across crashes; ``fn`` must carry a fixed request_id (idempotent)."""
        for _ in range(tries):
            try:
                return self.once(fn)
            except Crashed:
                continue
        raise AssertionError(f"no answer after {tries} crashes in a row")

    def restart(self, *, crashpoints: str = "") -> None:
        """SIGKILLs the running daemon and starts it again (with ``crashpoints`` armed)."""
        self.crashpoints = crashpoints
        self.daemon.kill()
        self.recover()

    def post_into_crashpoint(self, point: str, *, retry: bool) -> None:
        """A sale whose post dies at the armed post crashpoint ``point``; checks the aftermath."""
        last = self.retrying(lambda pos: pos.status().last_receipt_number)
        crashes = self.crashes
        sale = self.retrying(lambda pos: pos.create_sale(request_id=f"{point}-{retry}"))
        self.ledger.sales.append(sale.sale_id)
        for item_id, *_ in ITEMS:
            self.add_line(sale.sale_id, item_id=item_id)
        paid = self.add_payment(sale.sale_id, CASH, 10_000)
        assert paid.sale.change.amount_minor > 0
        rid = uuid.uuid4().hex
        with pytest.raises(Crashed):
            self.once(lambda pos: pos.post_sale(sale.sale_id, request_id=rid))
        assert self.crashes == crashes + 1, f"{point} did not kill the daemon"
        after = self.retrying(lambda pos: pos.get_sale(sale.sale_id))
        if point == "post.in_transaction":
            # killed before COMMIT. Either nothing of the post survived, not even its number,
            # or (the TSE had already finished the transaction) start-up reconciliation
            # completed the post with the next number. Never anything in between.
            assert (after.state, after.receipt_number) in ((OPEN, 0), (POSTED, last + 1))
            if after.state == POSTED:
                self.reconciled += 1
        else:
            # killed after COMMIT, before the answer: posted, with the next number
            assert after.state == POSTED
            assert after.receipt_number == last + 1
        if not retry:
            self.ledger.unacked.append(sale.sale_id)
            return
        # the client's retry with the same request id: the first answer, or the post now
        posted = self.repost(sale.sale_id, rid)
        assert posted.receipt_number == last + 1
        assert posted.state == POSTED
        self._ack(posted, lines=5)

    def add_line(
        self, sale_id: str, *, item_id: str = "", code: str = ""
    ) -> sale_pb2.AddLineResponse:
        rid = uuid.uuid4().hex  # one request id for all tries
        return self.retrying(
            lambda pos: pos.add_line(sale_id, item_id=item_id, code=code, request_id=rid)
        )

    def add_payment(self, sale_id: str, method: int, amount: int) -> sale_pb2.AddPaymentResponse:
        rid = uuid.uuid4().hex
        return self.retrying(lambda pos: pos.add_payment(sale_id, method, amount, request_id=rid))

    # -- the workload ---------------------------------------------------------------------------

    def sale(self, n: int, *, retry_post: bool = True) -> sale_pb2.Sale | None:
        """One complete sale: create, 5 lines, card and/or cash, post.

        Returns the acknowledged posted sale, or None when the post was interrupted and
        (``retry_post=False``) deliberately left unresolved.
        """
        rid = uuid.uuid4().hex
        sale = self.retrying(lambda pos: pos.create_sale(request_id=rid))
        self.ledger.sales.append(sale.sale_id)
        total = 0
        for i in range(5):
            item_id, _, _, code = ITEMS[(n + i) % len(ITEMS)]
            if i % 2:
                resp = self.add_line(sale.sale_id, code=code)  # scanned
            else:
                resp = self.add_line(sale.sale_id, item_id=item_id)
            total = resp.sale.total.amount_minor
        assert len(resp.sale.lines) == 5, "a retried AddLine was applied twice (or not at all)"
        match n % 3:
            case 0:
                payments = [(CARD, total)]
            case 1:
                payments = [(CASH, (total // 500 + 1) * 500)]  # with change
            case _:
                payments = [(CARD, 100), (CASH, total - 100)]
        for method, amount in payments:
            paid = self.add_payment(sale.sale_id, method, amount)
        assert len(paid.sale.payments) == len(payments), "a retried AddPayment was doubled"

        rid = uuid.uuid4().hex
        try:
            posted = self.once(lambda pos: pos.post_sale(sale.sale_id, request_id=rid))
        except Crashed:
            if not retry_post:
                self.ledger.unacked.append(sale.sale_id)
                return None
            posted = self.repost(sale.sale_id, rid)
        self._ack(posted, lines=5)
        return posted

    def repost(self, sale_id: str, rid: str) -> sale_pb2.Sale:
        """Retries an interrupted PostSale with its request id until it is answered.

        Whether the post committed before the crash, was completed by start-up
        reconciliation, or never happened, the retry must return the posted sale."""
        return self.retrying(lambda pos: pos.post_sale(sale_id, request_id=rid))

    def _ack(self, posted: sale_pb2.Sale, *, lines: int) -> None:
        assert posted.state == POSTED
        assert posted.receipt_number > 0
        assert len(posted.lines) == lines
        assert posted.sale_id not in self.ledger.acked, "one sale acknowledged twice"
        self.ledger.acked[posted.sale_id] = posted.receipt_number


# -- inspection helpers ----------------------------------------------------------------------


def printed_receipts(path: Path) -> Counter[int]:
    """How often each receipt number was printed (complete, cut documents only)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return Counter()
    counts: Counter[int] = Counter()
    for doc in text.split(SEPARATOR + "\n")[:-1]:
        found = RECEIPT_RE.search(doc)
        assert found is not None, f"a printed document without a receipt number:\n{doc}"
        counts[int(found.group(1))] += 1
    return counts


def printed_documents(path: Path) -> dict[int, list[str]]:
    """The printed documents (complete, cut) of each receipt number, in print order."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    docs: dict[int, list[str]] = {}
    for doc in text.split(SEPARATOR + "\n")[:-1]:
        found = RECEIPT_RE.search(doc)
        assert found is not None, f"a printed document without a receipt number:\n{doc}"
        docs.setdefault(int(found.group(1)), []).append(doc)
    return docs


def all_sales(pos: PosdClient) -> dict[str, sale_pb2.Sale]:
    out: dict[str, sale_pb2.Sale] = {}
    for s in pos.list_sales(page_size=200):
        assert s.sale_id not in out, f"sale {s.sale_id} listed twice"
        out[s.sale_id] = s
    return out


def setup_catalog(pos: PosdClient) -> int:
    for item_id, name, price, code in ITEMS:
        pos.upsert_item(item_id, name, price, barcodes=(code,))
    return len(ITEMS)


# -- the tests ------------------------------------------------------------------------------------


def test_sigkill_at_random_moments_and_at_every_crashpoint(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    t0 = time.monotonic()

    def phase(name: str) -> None:
        print(f"{time.monotonic() - t0:6.1f} s  {name}")

    print(f"POSD_CRASH_SEED={SEED}")
    daemon = DaemonProcess(tmp_path / "state")
    try:
        reg = Register(daemon, rng)
        reg.retrying(setup_catalog)
        n = 0

        # (a) random timing: a timer SIGKILLs each incarnation, 0.02..0.6 s after READY (in
        # the middle of sales: any RPC, the TSE, the outbox) or, one time in five, somewhere
        # in its start-up (migrations, reconciliation, outbox replay)
        reg.chaos = True
        reg.restart()
        deadline = time.monotonic() + RANDOM_PHASE_SECONDS
        while reg.chaos_kills < RANDOM_KILLS and time.monotonic() < deadline:
            reg.sale(n, retry_post=n % 2 == 0)
            n += 1
        reg.stop_chaos()
        phase(f"random kills: {reg.chaos_kills}, sales: {n}")
        assert reg.chaos_kills >= 15, f"only {reg.chaos_kills} random kills in time"
        assert reg.crashes >= reg.chaos_kills

        # (b) each post crashpoint; the answer to the interrupted post never comes. The
        # client retries it with the same request id, or (the 2nd time) leaves it alone.
        for point, nth, retry in (
            ("post.in_transaction", 2, True),
            ("post.after_commit", 2, True),
            ("post.in_transaction", 1, False),
            ("post.after_commit", 1, False),
        ):
            reg.restart(crashpoints=f"{point}:{nth}")
            crashes = reg.crashes
            for _ in range(nth - 1):
                assert reg.sale(n) is not None
                n += 1
            assert reg.crashes == crashes, f"{point}:{nth} fired too early"
            reg.post_into_crashpoint(point, retry=retry)

        phase("post crashpoints")
        # print.after_device: the receipt is on paper, its job not yet marked done
        reg.crashpoints = "print.after_device:2"
        daemon.kill()
        before = printed_receipts(daemon.printer_path)
        reg.recover()
        crashes = reg.crashes
        for _ in range(20):
            reg.sale(n)
            n += 1
            if reg.crashes > crashes:
                break
        else:
            pytest.fail("print.after_device never killed the daemon")
        time.sleep(0.3)  # let the outbox settle: re-printing is what we look at below
        wait_until(
            lambda: not reg.retrying(lambda pos: pos.print_jobs()), 15, "the print queue to drain"
        )
        after_print = printed_receipts(daemon.printer_path)
        reprinted = [r for r, c in after_print.items() if c > before.get(r, 0) + 1]
        assert reprinted, "the job printed just before the crash was not printed again"
        # its bytes had reached the printer: the second print is a copy, not an original
        docs = printed_documents(daemon.printer_path)
        for number in reprinted:
            last = docs[number][-1]
            assert "*** KOPIE ***" in last, f"receipt {number} printed twice as original"

        phase("print crashpoint")
        # -- end: one final clean restart, then check everything -------------------------------
        reg.restart()
        pos = reg.pos
        check_invariants(daemon, pos, reg.ledger)
        phase("invariants checked")

        # unacknowledged posts left alone: OPEN ones can still be posted, numbering goes on
        sales = all_sales(pos)
        last = max(s.receipt_number for s in sales.values())
        opened = [sid for sid in reg.ledger.unacked if sales[sid].state == OPEN]
        for sid in opened:
            posted = pos.post_sale(sid)
            last += 1
            assert posted.receipt_number == last
            reg._ack(posted, lines=5)
        check_invariants(daemon, pos, reg.ledger)

        assert daemon.terminate() == 0
        rc = daemon.posctl("journal", "verify", "--db", str(daemon.db_path))
        assert rc.returncode == 0, rc.stdout + rc.stderr
        print(
            f"sales={len(reg.ledger.sales)} acked={len(reg.ledger.acked)}"
            f" unacked={len(reg.ledger.unacked)} (still open: {len(opened)})"
            f" crashes={reg.crashes} random_kills={reg.chaos_kills}"
            f" reconciled={reg.reconciled}"
        )
    finally:
        daemon.close()


def check_invariants(daemon: DaemonProcess, pos: PosdClient, ledger: Ledger) -> None:
    sales = all_sales(pos)
    posted = {sid: s for sid, s in sales.items() if s.state == POSTED}

    # every acknowledged post: present exactly once, POSTED, the same receipt number
    for sid, number in ledger.acked.items():
        assert sid in posted, f"acknowledged post of {sid} (receipt {number}) is lost"
        assert posted[sid].receipt_number == number, f"receipt of {sid} changed"

    # receipt numbers 1..N, no gap, no duplicate; the counter agrees
    numbers = sorted(s.receipt_number for s in posted.values())
    assert numbers == list(range(1, len(numbers) + 1)), "receipt numbers have gaps/duplicates"
    assert pos.status().last_receipt_number == len(numbers)

    # an interrupted, unretried post: OPEN without a number, or POSTED in the sequence
    for sid in ledger.unacked:
        s = sales[sid]
        assert s.state in (OPEN, POSTED), f"{sid} is {s.state}"
        if s.state == OPEN:
            assert s.receipt_number == 0, f"open sale {sid} holds receipt {s.receipt_number}"
    # nothing else the client created went missing or changed state on its own
    for sid in ledger.sales:
        assert sid in sales, f"sale {sid} vanished"
        if sid not in ledger.acked and sid not in ledger.unacked:
            assert sales[sid].state == OPEN

    # the journal: verifies, and holds exactly one SALE_POSTED record per posted sale
    rc = daemon.posctl("journal", "verify")
    assert rc.returncode == 0, rc.stdout + rc.stderr
    assert pos.verify_journal().ok
    refs = db_query(daemon.db_path, "SELECT ref FROM journal WHERE kind = 'SALE_POSTED'")
    assert sorted(int(str(r[0]).removeprefix("receipt:")) for r in refs) == numbers

    # money: each posted sale's drawer entries add up to its total; none for open sales
    drawer = {
        str(sid): int(str(total))
        for sid, total in db_query(
            daemon.db_path, "SELECT sale_id, SUM(amount) FROM drawer_entries GROUP BY sale_id"
        )
    }
    for sid, s in sales.items():
        if s.state == POSTED:
            assert drawer.get(sid) == s.total.amount_minor, f"drawer entries of {sid}"
        else:
            assert sid not in drawer, f"open sale {sid} has drawer entries"

    # exactly one print job per posted sale, and all of them get printed (at least once)
    jobs = db_query(
        daemon.db_path, "SELECT receipt_number, ref FROM outbox WHERE kind = 'print' ORDER BY 1"
    )
    by_number = sorted((s.receipt_number, sid) for sid, s in posted.items())
    assert [(int(str(n)), str(ref)) for n, ref in jobs] == by_number, "print jobs lost/doubled"
    wait_until(lambda: not pos.print_jobs(), 20, "all print jobs to be DONE")
    states = db_query(daemon.db_path, "SELECT DISTINCT state FROM outbox")
    assert states == [("DONE",)]
    printed = printed_receipts(daemon.printer_path)
    missing = set(numbers) - set(printed)
    assert not missing, f"receipts never printed: {sorted(missing)}"
    assert set(printed) <= set(numbers), "printed a receipt number that is not posted"
    # printing is at-least-once, but a receipt printed again after a crash is a copy:
    # never two originals of one receipt
    for number, docs in printed_documents(daemon.printer_path).items():
        originals = [d for d in docs if "*** KOPIE ***" not in d]
        assert len(originals) <= 1, f"receipt {number} printed {len(originals)} times as original"


def test_post_retry_after_crash_returns_the_first_answer(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "state")
    try:
        daemon.start(crashpoints="post.after_commit:1")
        pos = daemon.client(retries=0)
        setup_catalog(pos)
        sale = pos.create_sale()
        line_rid = "line-1"
        first_line = pos.add_line(sale.sale_id, item_id="kaffee", request_id=line_rid)
        pos.add_line(sale.sale_id, code="4000000000013")
        pos.add_payment(sale.sale_id, CASH, 2000, request_id="pay-1")

        with pytest.raises(PosdError) as killed:
            pos.post_sale(sale.sale_id, request_id="post-1")
        assert killed.value.code == grpc.StatusCode.UNAVAILABLE
        assert daemon.wait_exit() == -signal.SIGKILL

        daemon.start()
        pos = daemon.client(retries=0)
        # AddLine and AddPayment repeated after the restart: first answers, no change
        again = pos.add_line(sale.sale_id, item_id="kaffee", request_id=line_rid)
        assert again == first_line
        pos.add_payment(sale.sale_id, CASH, 2000, request_id="pay-1")

        first = pos.post_sale(sale.sale_id, request_id="post-1")
        assert first.state == POSTED
        assert first.receipt_number == 1
        assert len(first.lines) == 2
        assert len(first.payments) == 1
        assert first.change.amount_minor == 2000 - (799 + 349)
        second = pos.post_sale(sale.sale_id, request_id="post-1")
        assert second == first

        # a new request id is a new request: the sale is already posted
        with pytest.raises(PosdError) as again_post:
            pos.post_sale(sale.sale_id)
        assert again_post.value.reason == "SALE_ALREADY_POSTED"

        # one more crash and restart: the stored answer is still the same
        daemon.kill()
        daemon.start()
        pos = daemon.client(retries=0)
        assert pos.post_sale(sale.sale_id, request_id="post-1") == first
        assert pos.status().last_receipt_number == 1
        assert db_query(
            daemon.db_path, "SELECT COUNT(*) FROM journal WHERE kind <> 'SHIFT_OPENED'"
        ) == [(1,)]
        assert db_query(daemon.db_path, "SELECT COUNT(*) FROM outbox WHERE kind = 'print'") == [
            (1,)
        ]
        assert db_query(
            daemon.db_path,
            "SELECT SUM(amount) FROM drawer_entries WHERE sale_id = ?",
            (sale.sale_id,),
        ) == [(799 + 349,)]
    finally:
        daemon.close()


def test_post_retry_after_a_reconciled_crash_returns_the_posted_sale(tmp_path: Path) -> None:
    """SIGKILL inside the post transaction, after the TSE finished: the daemon completes the
    post at start-up; the client's retry with the same request id must get that post."""
    daemon = DaemonProcess(tmp_path / "state")
    try:
        daemon.start(crashpoints="post.in_transaction:1")
        pos = daemon.client(retries=0)
        setup_catalog(pos)
        sale = pos.create_sale()
        pos.add_line(sale.sale_id, item_id="kaffee")
        pos.add_payment(sale.sale_id, CARD, 799)
        with pytest.raises(PosdError) as killed:
            pos.post_sale(sale.sale_id, request_id="post-1")
        assert killed.value.code == grpc.StatusCode.UNAVAILABLE
        assert daemon.wait_exit() == -signal.SIGKILL

        daemon.start()
        pos = daemon.client(retries=0)
        after = pos.get_sale(sale.sale_id)
        assert (after.state, after.receipt_number) in ((OPEN, 0), (POSTED, 1))
        posted = pos.post_sale(sale.sale_id, request_id="post-1")
        assert posted.state == POSTED
        assert posted.receipt_number == 1
        assert pos.post_sale(sale.sale_id, request_id="post-1").receipt_number == 1
        assert db_query(
            daemon.db_path, "SELECT COUNT(*) FROM journal WHERE kind = 'SALE_POSTED'"
        ) == [(1,)]
    finally:
        daemon.close()
