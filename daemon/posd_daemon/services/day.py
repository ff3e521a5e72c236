"""The register's day: shifts, cash movements, X reports and Z closings.

Every command runs in one database transaction on the database thread. TSE signing
(cash movements, booked cash differences) happens inside that transaction, through the
signer the command is given (``FiscalGateway.event_signer``), once every check that could
refuse the command passed: so the TSE never signs a Vorgang that is then not recorded
(two UIs closing the same shift, a sale posted during the close, a shift closed while a
movement waited: the later one sees the state the earlier one committed, and is refused
before anything is signed, or books what it sees). During a TSE outage the Vorgang is
recorded with the outage number instead (AEAO zu §146a Nr. 7), like a sale.

The signer commits the started TSE transaction with what recording needs (an
:class:`EventIntent`: the payload written here) before the TSE finishes it, so that a
crash between the finish and the commit is completed at start-up: reconciliation books
the Vorgang from that payload (``recover_movement``/``recover_close``), with the TSE's
signature and the original time, exactly as the call would have.

TSE processType of cash movements: ``Kassenbeleg-V1`` with BON_TYP ``Beleg``. A cash
movement is a Geschäftsvorfall (it changes the Vermögenszusammensetzung), and DSFinV-K
signs Geschäftsvorfälle as Kassenbelege; fiskaltrust maps "cash deposit / pay-in /
pay-out" to ``Beleg``/``Kassenbeleg-V1`` too (interface-doc, ftReceiptCase 0x...0011).
The amount goes to the fifth gross slot (UST_SCHLUESSEL 5, "Nicht Steuerbar": Geldtransit,
Privatentnahme/-einlage and TrinkgeldAN carry no VAT, DSFinV-K Anhang C) and is paid
``Bar``: ``Beleg^0.00_0.00_0.00_0.00_-50.00^-50.00:Bar``. A movement of foreign cash the
shop takes (one with a fixed or daily exchange rate, as a sale in that currency needs)
is written like a foreign cash sale: the gross slot in the register currency at the
shop's rate of the day, the payment in its own currency with its code
(``Beleg^0.00_0.00_0.00_0.00_-100.00^-95.00:Bar:CHF``; DSFinV-K names the currency only
when it is not EUR). ``SonstigerVorgang`` is not
used: it is meant for "andere Vorgänge" that are no Geschäftsvorfall, and fiskaly SIGN DE
v2 has no schema for it (fiscal/fiskaly.py ``process_data_to_schema``).

The Z closing itself is not signed: it is an evaluation of signed Vorgänge, not a
Vorgang (KassenSichV §2 protects "Vorgänge"); it is journaled (hash-chained) instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from posd_daemon.domain.business_day import business_day
from posd_daemon.domain.closing import (
    CashMovementKind,
    ClosingBuilder,
    ClosingReport,
)
from posd_daemon.domain.errors import DomainError, invalid, not_found, precondition
from posd_daemon.domain.money import (
    MAX_MINOR,
    amount_out_of_range,
    check_currency,
    format_minor,
)
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.payments import PaymentMethod, check_in_step
from posd_daemon.domain.pricing import fmt_decimal, local_amount
from posd_daemon.domain.shift import (
    CashBalance,
    CountLine,
    CountPhase,
    ShiftState,
    balances,
    merge_counts,
    totals_by_currency,
    uncounted,
)
from posd_daemon.domain.text import check_text
from posd_daemon.fiscal import process_data as pd
from posd_daemon.ops import crashpoints
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.services.fiscal import EventIntent, EventSigner, no_event_tse
from posd_daemon.services.shops import context as shop_context
from posd_daemon.services.shops import terms_for
from posd_daemon.store import day as store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import journal, outbox, tse_events
from posd_daemon.store import sales as sale_store
from posd_daemon.store.facts import book_fact, period_facts
from posd_daemon.store.journal import canonical_json
from posd_daemon.store.timeutil import from_db, to_db

#: tse_state of a Vorgang recorded without any TSE configured (tse.backend = none)
NO_TSE = "NONE"

NO_OPEN_SHIFT = "NO_OPEN_SHIFT"

#: how many of the open sales a refused Z closing names
SALES_OPEN_NAMED = 5

#: a Z's business date as the client must write it (``date.fromisoformat`` alone also
#: takes ``20240101`` and ``2024W011``, which then reached the DSFinV-K export)
BUSINESS_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def shift_guard(conn: sqlite3.Connection) -> None:
    """Refuses when no shift is open (call it in SaleCommands.create before inserting).

    One database belongs to one register, so any open shift is this register's."""
    if not store.any_shift_open(conn):
        raise precondition(
            NO_OPEN_SHIFT,
            "no shift is open on this register: open a shift (counted float) before selling",
        )


def movement_counter(register_id: str) -> str:
    return f"cash_movement:{register_id}"


def z_counter(register_id: str) -> str:
    return f"z:{register_id}"


def movement_process_data(amount: int, currency: str, local: int | None = None) -> str:
    """Kassenbeleg-V1 processData of a cash movement (see the module docstring):
    ``local`` is the amount in the register currency (None: ``amount`` is in it)."""
    gross = amount if local is None else local
    return pd.kassenbeleg_v1(
        "Beleg", [0, 0, 0, 0, gross], [pd.Payment(amount, pd.PaymentKind.CASH, currency)]
    )


@dataclass(frozen=True, slots=True)
class DaySettings:
    register_id: str
    currency: str
    #: the register's time zone: its calendar is the business day (``register.timezone``)
    zone: tzinfo
    #: ``register.exchange_rate_max_age_days``: the oldest daily rate a foreign cash
    #: movement may use (as for a sale in that currency)
    exchange_rate_max_age_days: int | None = 7
    #: one drawer shared by the shifts that follow one another (True), or one cash
    #: insert per cashier, brought in with the float and taken away at the close
    #: (False). Shared, the next shift's float is the cash the last closing counted: a
    #: float that differs is a cash difference booked at the open, and the Z counts the
    #: carried cash once (first float, last count). Inserts: every float is cash of its
    #: own and the Z sums the shifts.
    shared_drawer: bool = False


@dataclass(frozen=True, slots=True)
class MovementRequest:
    kind: CashMovementKind
    amount: int  # signed: + into the drawer
    currency: str
    reason: str
    #: foreign cash: its value in the register currency at ``rate`` (None: ``amount``)
    local: int | None = None
    #: foreign units per register-currency unit (1: the register currency)
    rate: Decimal = Decimal(1)

    @property
    def process_data(self) -> str:
        return movement_process_data(self.amount, self.currency, self.local)

    @property
    def amount_local(self) -> int:
        return self.amount if self.local is None else self.local


@dataclass(frozen=True, slots=True)
class ShiftClosePlan:
    """What a shift close will book: balances and the difference Vorgang to sign."""

    shift: store.Shift
    counts: tuple[CountLine, ...]
    balances: tuple[CashBalance, ...]

    def difference(self, currency: str) -> int:
        for b in self.balances:
            if b.currency == currency:
                return b.difference
        return 0


@dataclass(frozen=True, slots=True)
class ZResult:
    closing: store.Closing
    report: ClosingReport


class DayCommands:
    def __init__(self, settings: DaySettings, clock: Clock, on_outbox: Callable[[], None]) -> None:
        self.s = settings
        self._clock = clock
        self._on_outbox = on_outbox

    # -- shifts -------------------------------------------------------------------------

    def current_shift(self, conn: sqlite3.Connection) -> store.Shift | None:
        return store.open_shift_of(conn, self.s.register_id)

    def get_shift(self, conn: sqlite3.Connection, shift_id: int) -> store.Shift:
        """``shift_id`` 0: the open shift, else the last one. A negative id is refused
        (as ``close_shift`` refuses it): answered like 0, it showed another shift's
        counts and balances as the ones asked for."""
        if shift_id < 0:
            raise invalid("shift_id", "must be 0 (the open or last shift) or a shift number")
        if shift_id == 0:
            shift = store.open_shift_of(conn, self.s.register_id) or store.last_shift(
                conn, self.s.register_id
            )
        else:
            shift = store.get_shift(conn, shift_id)
        if shift is None:
            raise not_found("SHIFT_NOT_FOUND", f"no shift {shift_id or ''}".strip())
        return shift

    def open_shift(
        self,
        tx: Tx,
        op: Operator,
        counts: Sequence[CountLine],
        sign: EventSigner = no_event_tse,
    ) -> store.Shift:
        """Opens a shift with its counted float.

        Shared drawer (``DaySettings.shared_drawer``): the float should be the cash the
        previous closing counted, still in the drawer. A float that differs is money
        missing or found between the shifts: booked here as the close books its
        difference (a DifferenzSollIst Vorgang per currency, signed by ``sign`` before
        anything is written; see ``_difference_requests``),
        and outside the new shift's cash, since its float already holds it. A float
        without a line for a currency the previous closing counted is refused
        (COUNT_MISSING_CURRENCY), as a close's count without one is."""
        op.require(Permission.SALE)
        return self._open(
            tx,
            op.operator_id,
            merge_counts(counts),
            sign,
            self._clock(),
            self.s.shared_drawer,
            every_currency=True,
        )

    def _open(
        self,
        tx: Tx,
        operator_id: str,
        lines: Sequence[CountLine],
        sign: EventSigner,
        now: datetime,
        shared: bool,
        *,
        every_currency: bool = False,
    ) -> store.Shift:
        """``shared``: the drawer is shared (an open recovered after a crash was, when its
        difference was signed, whatever the configuration says now). ``every_currency``:
        refuse a shared drawer's float without a line for a currency the last closing
        counted (an open asked for now; one completed after a crash books what was
        signed then)."""
        conn = tx.conn
        current = store.open_shift_of(conn, self.s.register_id)
        if current is not None:
            raise precondition(
                "SHIFT_ALREADY_OPEN",
                f"shift {current.shift_id} is open since {to_db(current.opened_at)}: close it"
                " first",
                shift_id=str(current.shift_id),
            )
        float_total = totals_by_currency(lines)
        before = store.last_shift(conn, self.s.register_id) if shared else None
        if before is not None and not store.handed_on(conn, before):
            # the last shift's insert left with its cashier (drawer.shared switched on
            # since): none of its count is in the drawer, compared with it the float
            # booked a signed difference for money nobody lost
            before = None
        # the register's first float is its opening stock (Anfangsbestand): nothing to
        # compare it with
        carried = {} if before is None else _carried(conn, before)
        if every_currency:
            _check_carried_currencies_counted(carried, float_total)
        differences = {} if before is None else _float_differences(float_total, carried)
        signed: list[tuple[MovementRequest, fstore.SaleTse | None]] = []
        unvalued: dict[str, int] = {}
        if differences:
            assert before is not None
            requests, unvalued = self._difference_requests(
                conn, differences, f"Kassendifferenz nach Schicht {before.shift_id}", now
            )
            # signed before the first write: the signer commits what is written so far
            signed = self._sign_differences(
                tx,
                requests,
                {
                    # recorded after a crash by recover_close (the phase tells it apart)
                    "phase": "OPEN",
                    "operator_id": operator_id,
                    "previous_shift_id": before.shift_id,
                    "counts": [_count_record(x) for x in lines],
                    "time": to_db(now),
                },
                sign,
            )
        shift_id = store.insert_shift(conn, self.s.register_id, operator_id, now)
        store.insert_counts(conn, shift_id, CountPhase.OPEN, lines)
        bons = [
            self._insert_movement(
                conn, req, operator_id, shift_id, now, tse, drawer_kind="CASH_DIFFERENCE"
            )[1]
            for req, tse in signed
        ]
        for c, amount in unvalued.items():
            self._foreign_difference(conn, c, amount, now)  # as at a close
        if differences:
            store.start_after_opening_entries(conn, shift_id)
        payload: dict[str, Any] = {
            "shift_id": shift_id,
            "operator_id": operator_id,
            "float": float_total,
            "counts": [_count_record(x) for x in lines],
        }
        if shared:
            payload["carried"] = carried
            payload["difference"] = differences
            payload["difference_bon_id"] = _register_bon(signed, bons, self.s.currency)
            payload["difference_bon_ids"] = bons
        journal.append(
            conn,
            kind="SHIFT_OPENED",
            register_id=self.s.register_id,
            ref=f"shift:{shift_id}",
            payload=payload,
            when=now,
        )
        if bons:
            tx.after_commit(self._on_outbox)  # the differences' slips
            # all written, not committed: a crash here is completed at start-up as one
            # after the TSE's finish (ops/crashpoints.py)
            crashpoints.reached("event.in_transaction")
        shift = store.get_shift(conn, shift_id)
        assert shift is not None
        return shift

    def _foreign_difference(
        self, conn: sqlite3.Connection, currency: str, amount: int, now: datetime
    ) -> None:
        """A cash difference in a foreign currency no rate values (see
        ``_difference_requests``): booked in the drawer ledger only (no DSFinV-K
        Vorgang: it has no base-currency value without an exchange rate)."""
        sale_store.add_drawer_entry(
            conn,
            register_id=self.s.register_id,
            sale_id=None,
            receipt_number=None,
            kind="CASH_DIFFERENCE",
            method="CASH",
            amount=amount,
            currency=currency,
            when=to_db(now),
        )

    def recover_open(
        self, tx: Tx, payload: dict[str, Any], tse: fstore.SaleTse
    ) -> store.Shift | None:
        """An open whose difference the TSE signed before a crash and that never
        committed (start-up reconciliation): opened now as it would have been, with the
        TSE's row and the original time. Should the register no longer be where it was
        (a shift open, another one closed since, the difference otherwise), the signed
        difference is booked alone, in no shift, and None returned."""
        lines = merge_counts([CountLine(**c) for c in payload["counts"]])
        now = from_db(str(payload["time"]))
        conn = tx.conn
        before = store.last_shift(conn, self.s.register_id)
        if (
            len(payload.get("parts") or [payload["currency"]]) == 1
            and before is not None
            and before.state is ShiftState.CLOSED
            and before.shift_id == payload["previous_shift_id"]
        ):
            differences = _float_differences(totals_by_currency(lines), _carried(conn, before))
            if self._as_signed(conn, differences, payload, now):
                return self._open(
                    tx, str(payload["operator_id"]), lines, lambda t, i: tse, now, True
                )
        self._book_alone(conn, payload, tse, None)
        return None

    def plan_close(
        self, conn: sqlite3.Connection, op: Operator, counts: Sequence[CountLine]
    ) -> ShiftClosePlan:
        """Expected vs counted as it stands now (read-only; ``close_shift`` computes it
        again in its own transaction)."""
        op.require(Permission.SALE)
        return self._plan(conn, merge_counts(counts))

    def _plan(
        self, conn: sqlite3.Connection, lines: Sequence[CountLine], shift_id: int = 0
    ) -> ShiftClosePlan:
        """``shift_id``: the shift the client means to close (0: the open one); any
        other open shift is refused, so that a late retry or a second UI cannot close
        the shift another terminal opened since."""
        shift = store.open_shift_of(conn, self.s.register_id)
        if shift is None:
            named = f"shift {shift_id} is not open: " if shift_id else ""
            raise precondition(NO_OPEN_SHIFT, f"{named}no shift is open on this register")
        if shift_id and shift.shift_id != shift_id:
            raise precondition(
                "SHIFT_MISMATCH",
                f"shift {shift_id} is not open: shift {shift.shift_id} is open since"
                f" {to_db(shift.opened_at)}; nothing was closed",
                shift_id=str(shift.shift_id),
                requested_shift_id=str(shift_id),
            )
        opening = totals_by_currency(shift.opening)
        moved = store.shift_cash(conn, shift)
        counted = totals_by_currency(lines)
        return ShiftClosePlan(shift, tuple(lines), tuple(balances(opening, moved, counted)))

    def close_shift(
        self,
        tx: Tx,
        op: Operator,
        counts: Sequence[CountLine],
        sign: EventSigner = no_event_tse,
        *,
        shift_id: int = 0,
    ) -> store.Shift:
        """Closes the open shift: balances, the booked differences (a DifferenzSollIst
        Vorgang per currency, each signed here by ``sign`` after the checks; see
        ``_difference_requests``), drawer entries, journal,
        printed slip. The balances are those of this transaction: a sale posted or a
        movement booked before it is in the expected cash, one after it finds the shift
        closed.

        ``shift_id`` (0: whichever is open) must be the open shift (SHIFT_MISMATCH).
        ``counts`` must have a line: a close without one would book the whole expected
        cash as a signed shortage for a drawer nobody counted; an empty drawer is
        counted explicitly (a total line of 0). Every currency the drawer is expected to
        hold needs a line too (COUNT_MISSING_CURRENCY): a currency left out would be
        booked as counted at 0, its whole expected amount a shortage."""
        op.require(Permission.SALE)
        if shift_id < 0:
            raise invalid("shift_id", "must be 0 (the open shift) or a shift number")
        if not counts:
            raise invalid(
                "counts",
                "a shift closes with the counted cash: give at least one count line"
                " (an empty drawer: a total of 0)",
                "COUNT_REQUIRED",
            )
        lines = merge_counts(counts)
        return self._close(
            tx,
            op.operator_id,
            lines,
            sign,
            self._clock(),
            shift_id,
            every_currency=True,
            # only to one who may read the X report: anyone else counts blind
            show_expected=Permission.CLOSING in op.permissions,
        )

    def recover_close(
        self, tx: Tx, payload: dict[str, Any], tse: fstore.SaleTse
    ) -> store.Shift | None:
        """A close whose difference the TSE signed before a crash and that never
        committed (start-up reconciliation, see the module docstring): closed now as it
        would have been, with the TSE's row and the original time. Nothing has written
        since (the close held the only writer until the crash), so the shift is open
        with the same expected cash; should it not be, or should the difference come out
        otherwise, the signed difference is booked alone (the shift is closed again by
        the cashier) and None returned."""
        if payload.get("phase") == "OPEN":
            # a difference booked at a shift's open (shared drawer): the same kind of
            # Vorgang, recorded by the same reconciliation
            return self.recover_open(tx, payload, tse)
        lines = merge_counts([CountLine(**c) for c in payload["counts"]])
        now = from_db(str(payload["time"]))
        shift = store.open_shift_of(tx.conn, self.s.register_id)
        if (
            len(payload.get("parts") or [payload["currency"]]) == 1
            and shift is not None
            and shift.shift_id == payload["shift_id"]
        ):
            plan = self._plan(tx.conn, lines)
            differences = {b.currency: b.difference for b in plan.balances}
            if self._as_signed(tx.conn, differences, payload, now):
                return self._close(tx, str(payload["operator_id"]), lines, lambda t, i: tse, now)
        self._book_alone(tx.conn, payload, tse, int(payload["shift_id"]))
        return None

    def _check_no_cash_in_unfinished_sales(
        self, conn: sqlite3.Connection, shift: store.Shift
    ) -> None:
        """Refuses the close while an open or parked sale of the register holds cash
        payments (CASH_IN_UNFINISHED_SALES, naming each sale and its cash). The cashier
        took that cash into this drawer, but its drawer entries are written only at the
        post: counted now, it would be booked as a signed surplus of this shift (a
        DifferenzSollIst Vorgang, an insert's cashier credited with a customer's money),
        and the post would expect it again in the next shift's drawer, or another
        cashier's insert, as a shortage there. A shift's count must equal its expected
        cash (the Kassensturz a tax auditor makes), so the sale is finished first: posted
        (a parked one resumed), or its cash payment removed and the cash given back.
        Card and other payments are not in the drawer, and a parked sale without cash
        (goods waiting for pick-up) does not hold the close."""
        holding = store.unfinished_cash(conn, self.s.register_id)
        if not holding:
            return
        listed = ", ".join(
            f"sale {h.sale_id} ({_unfinished_state(h)}):"
            f" {format_minor(h.amount, h.currency)} {h.currency}"
            for h in holding
        )
        raise precondition(
            "CASH_IN_UNFINISHED_SALES",
            f"shift {shift.shift_id} is not closed: cash was taken into the drawer on"
            f" sale{'s' if len(holding) > 1 else ''} not yet posted ({listed}); that cash"
            " is booked only when the sale is posted. Post each of them (resume a parked"
            " one first) or remove its cash payment and give the cash back, then count"
            " the drawer and close the shift",
            shift_id=str(shift.shift_id),
            sale_ids=",".join(h.sale_id for h in holding),
        )

    # -- cash differences ------------------------------------------------------------------

    def _difference_requests(
        self, conn: sqlite3.Connection, differences: dict[str, int], reason: str, now: datetime
    ) -> tuple[list[MovementRequest], dict[str, int]]:
        """The DifferenzSollIst Vorgänge a count's ``differences`` (per currency) book:
        one per currency, the register currency's first. A foreign currency's is valued
        in the register currency at the shop's rate (as a foreign cash movement is), so
        that DSFinV-K's cash in that currency (Z_WAEHRUNGEN, Bonkopf_Zahlarten) follows
        the count as the register currency's does. Second: the foreign differences no
        rate values (none ever known, or a shop currency that is not the register's):
        booked in the drawer ledger only."""
        requests: list[MovementRequest] = []
        unvalued: dict[str, int] = {}
        for currency in sorted(differences, key=lambda c: (c != self.s.currency, c)):
            amount = differences[currency]
            if not amount:
                continue
            if currency == self.s.currency:
                requests.append(
                    MovementRequest(CashMovementKind.DIFFERENCE, amount, currency, reason)
                )
                continue
            rate = self._difference_rate(conn, currency, now)
            if rate is None:
                unvalued[currency] = amount
                continue
            local = local_amount(
                amount, currency=currency, local_currency=self.s.currency, rate=rate
            )
            requests.append(
                MovementRequest(CashMovementKind.DIFFERENCE, amount, currency, reason, local, rate)
            )
        return requests, unvalued

    def _difference_rate(
        self, conn: sqlite3.Connection, currency: str, now: datetime
    ) -> Decimal | None:
        """The rate a foreign cash difference is valued at: the shop's fixed rate, else
        its latest daily rate of any age. Not refused for an old rate (as a movement
        is): the cash was counted, and a close must not wait for a rate import. None:
        no rate for ``currency`` ever, or the shop's currency is not the register's."""
        try:
            ctx = shop_context(conn, self.s.register_id)
            if ctx.shop.currency != self.s.currency:
                return None
            terms = terms_for(
                conn, ctx.shop, None, business_day(now, self.s.zone), currency=currency
            )
        except DomainError:
            return None
        return terms.exchange_rate

    def _sign_differences(
        self,
        tx: Tx,
        requests: Sequence[MovementRequest],
        common: dict[str, Any],
        sign: EventSigner,
    ) -> list[tuple[MovementRequest, fstore.SaleTse | None]]:
        """Signs each difference Vorgang (before any write). Each intent's payload is
        the whole count (``common``) plus its own difference and the currencies of all
        the call signs (``parts``): recovery completes the call from a lone part only."""
        parts = [r.currency for r in requests]
        signed: list[tuple[MovementRequest, fstore.SaleTse | None]] = []
        for req in requests:
            payload = {
                **common,
                "amount": req.amount,
                "currency": req.currency,
                "reason": req.reason,
                "amount_local": req.amount_local,
                "rate": fmt_decimal(req.rate),
                "parts": parts,
            }
            intent = EventIntent(tse_events.SHIFT_CLOSE, req.process_data, payload)
            signed.append((req, sign(tx, intent)))
        return signed

    def _as_signed(
        self,
        conn: sqlite3.Connection,
        differences: dict[str, int],
        payload: dict[str, Any],
        now: datetime,
    ) -> bool:
        """Recovery: whether the open or close would book exactly the one difference
        Vorgang ``payload`` signed (same currency, amount, value and rate)."""
        requests, _ = self._difference_requests(conn, differences, str(payload["reason"]), now)
        return requests == [_difference_of(payload, self.s.currency)]

    def _book_alone(
        self,
        conn: sqlite3.Connection,
        payload: dict[str, Any],
        tse: fstore.SaleTse,
        shift_id: int | None,
    ) -> None:
        """A signed difference recorded on its own (its open or close cannot be
        completed as it was): nothing the TSE signed goes unrecorded. Booked into
        the drawer, the difference is cash the shift expects from then on, so closing
        it again does not book it twice."""
        self._insert_movement(
            conn,
            _difference_of(payload, self.s.currency),
            str(payload["operator_id"]),
            shift_id,
            from_db(str(payload["time"])),
            tse,
            drawer_kind="CASH_DIFFERENCE",
        )

    def _close(
        self,
        tx: Tx,
        operator_id: str,
        lines: Sequence[CountLine],
        sign: EventSigner,
        now: datetime,
        shift_id: int = 0,
        *,
        every_currency: bool = False,
        show_expected: bool = False,
    ) -> store.Shift:
        """``every_currency``: a close asked for now: refuse a count without a line for
        a currency the drawer is expected to hold, and a close while an open or parked
        sale holds cash (:meth:`_check_no_cash_in_unfinished_sales`); a close completed
        after a crash books what was signed then. ``show_expected``: that refusal may
        name the expected cash (the operator has CLOSING)."""
        conn = tx.conn
        plan = self._plan(conn, lines, shift_id)
        if every_currency:
            self._check_no_cash_in_unfinished_sales(conn, plan.shift)
            _check_every_currency_counted(plan, show_expected=show_expected)
        shift = plan.shift
        requests, unvalued = self._difference_requests(
            conn,
            {b.currency: b.difference for b in plan.balances},
            f"Kassendifferenz Schicht {shift.shift_id}",
            now,
        )
        # the last step that may fail before the writes: nothing refuses after it
        signed = self._sign_differences(
            tx,
            requests,
            {
                "operator_id": operator_id,
                "shift_id": shift.shift_id,
                "counts": [_count_record(x) for x in plan.counts],
                "time": to_db(now),
            },
            sign,
        )
        store.insert_counts(conn, shift.shift_id, CountPhase.CLOSE, plan.counts)
        bons = [
            self._insert_movement(
                conn, req, operator_id, shift.shift_id, now, tse, drawer_kind="CASH_DIFFERENCE"
            )[1]
            for req, tse in signed
        ]
        for currency, amount in unvalued.items():
            self._foreign_difference(conn, currency, amount, now)
        store.close_shift(
            conn, shift.shift_id, operator_id, now, plan.balances, store.max_drawer_entry(conn)
        )
        journal.append(
            conn,
            kind="SHIFT_CLOSED",
            register_id=self.s.register_id,
            ref=f"shift:{shift.shift_id}",
            payload={
                "shift_id": shift.shift_id,
                "operator_id": operator_id,
                "counts": [_count_record(x) for x in plan.counts],
                "balances": [
                    {
                        "currency": b.currency,
                        "opening": b.opening,
                        "expected": b.expected,
                        "counted": b.counted,
                        "difference": b.difference,
                    }
                    for b in plan.balances
                ],
                "difference_bon_id": _register_bon(signed, bons, self.s.currency),
                "difference_bon_ids": bons,
            },
            when=now,
        )
        outbox.enqueue(
            conn,
            kind="print",
            ref=f"shift:{shift.shift_id}",
            receipt_number=None,
            payload={"document": "shift_close", "shift_id": shift.shift_id},
            when=now,
        )
        tx.after_commit(self._on_outbox)
        crashpoints.reached("event.in_transaction")
        closed = store.get_shift(conn, shift.shift_id)
        assert closed is not None
        return closed

    # -- cash movements -------------------------------------------------------------------

    def validate_movement(
        self,
        conn: sqlite3.Connection,
        op: Operator,
        kind: CashMovementKind,
        amount: int,
        currency: str,
        reason: str,
        *,
        outgoing: bool | None,
    ) -> MovementRequest:
        """Checks a cash movement (a look before ``add_movement``, which checks the
        shift and the cash again in its transaction); gives the signed amount.

        ``outgoing``: the direction the client gave (None: none given). Einlage and
        Entnahme imply theirs; Geldtransit and Trinkgeld go either way and are refused
        without one."""
        op.require(Permission.DRAWER_OPEN_NO_SALE)
        if kind is CashMovementKind.DIFFERENCE:
            raise invalid("kind", "cash differences are booked by closing the shift")
        if amount > MAX_MINOR:
            raise amount_out_of_range("amount.amount_minor")
        if amount <= 0:
            raise invalid("amount.amount_minor", "must be greater than zero", "INVALID_AMOUNT")
        currency = currency or self.s.currency
        check_currency(currency, "amount.currency_code")
        check_text(reason, "reason", max_len=60)
        implied = kind.implied_outgoing
        if implied is not None:
            if outgoing is not None and outgoing != implied:
                raise invalid(
                    "direction",
                    f"a {kind.label} ({kind.value}) always goes {'out of' if implied else 'into'}"
                    " the drawer",
                )
            outgoing = implied
        elif outgoing is None:
            # no default: a guessed direction books the opposite of what happened
            raise invalid(
                "direction",
                f"a {kind.label} ({kind.value}) goes in or out of the drawer: say which"
                " (IN or OUT)",
            )
        signed = -amount if outgoing else amount
        req = MovementRequest(kind, signed, currency, reason)
        if currency != self.s.currency:
            rate = self._cash_rate(conn, currency)
            local = local_amount(
                signed, currency=currency, local_currency=self.s.currency, rate=rate
            )
            req = MovementRequest(kind, signed, currency, reason, local, rate)
        # cash moves in its coins, the register currency's too: an amount they cannot
        # make (45.03 where the shop's cash step is 0.05) is refused as a cash payment of
        # it would be
        check_in_step(PaymentMethod.CASH, amount, self._cash_step(conn, currency), currency)
        self._movement_shift(conn, op, req)
        return req

    def _cash_step(self, conn: sqlite3.Connection, currency: str) -> int:
        """The shop's cash step in ``currency`` (1: exact minor units). A register
        without master data (the daemon writes the defaults at start-up; the use cases
        run without) has no step: a foreign movement was refused by ``_cash_rate``
        already."""
        try:
            ctx = shop_context(conn, self.s.register_id)
        except DomainError:
            return 1
        return ctx.shop.cash_increment(currency)

    def _cash_rate(self, conn: sqlite3.Connection, currency: str) -> Decimal:
        """The rate a foreign cash movement is booked at: the one a sale in ``currency``
        would get today (the shop's fixed rate, else the daily rate, not older than
        ``exchange_rate_max_age_days``). A currency without one is no currency the shop
        takes in cash, so none of it can be in the drawer: refused as SetCurrency
        refuses it (EXCHANGE_RATE_NOT_AVAILABLE / EXCHANGE_RATE_TOO_OLD)."""
        ctx = shop_context(conn, self.s.register_id)
        if ctx.shop.currency != self.s.currency:
            raise precondition(
                "CURRENCY_MISMATCH",
                f"the shop's currency {ctx.shop.currency} is not the register currency"
                f" {self.s.currency}: no foreign cash can be booked",
            )
        terms = terms_for(
            conn,
            ctx.shop,
            None,
            business_day(self._clock(), self.s.zone),
            currency=currency,
            max_age_days=self.s.exchange_rate_max_age_days,
        )
        return terms.exchange_rate

    def _movement_shift(
        self, conn: sqlite3.Connection, op: Operator, req: MovementRequest
    ) -> store.Shift:
        """The open shift a movement goes to; refuses one taking out more cash than the
        drawer is expected to hold. The expected cash is named only to an operator with
        CLOSING (who may read the X report): anyone else is about to count blind."""
        shift = store.open_shift_of(conn, self.s.register_id)
        if shift is None:
            raise precondition(NO_OPEN_SHIFT, "no shift is open on this register")
        currency = req.currency
        expected = totals_by_currency(shift.opening).get(currency, 0) + store.shift_cash(
            conn, shift
        ).get(currency, 0)
        if req.amount > 0 and expected + req.amount > MAX_MINOR:
            # each deposit in range, their sum need not be: the close would book (and
            # sign) a difference beyond any amount against that expected cash
            raise amount_out_of_range("amount.amount_minor")
        if req.amount < 0:
            # more than the drawer holds would make its expected cash negative (a
            # Kassenfehlbetrag): refused before the TSE signs anything
            amount = -req.amount
            if amount > expected:
                if Permission.CLOSING not in op.permissions:
                    raise precondition(
                        "CASH_INSUFFICIENT",
                        f"{format_minor(amount, currency)} {currency} is more than the cash"
                        " expected in the drawer",
                        currency=currency,
                    )
                raise precondition(
                    "CASH_INSUFFICIENT",
                    f"{format_minor(amount, currency)} {currency} is more than the cash"
                    f" expected in the drawer ({format_minor(expected, currency)} {currency})",
                    expected_minor=str(expected),
                    currency=currency,
                )
        return shift

    def add_movement(
        self, tx: Tx, op: Operator, req: MovementRequest, sign: EventSigner = no_event_tse
    ) -> store.CashMovement:
        """Books a checked movement (``validate_movement``): its checks again, as of this
        transaction, then ``sign`` (the TSE signs it here), then the records."""
        shift = self._movement_shift(tx.conn, op, req)
        now = self._clock()
        intent = EventIntent(
            tse_events.MOVEMENT,
            req.process_data,
            {
                "kind": req.kind.value,
                "amount": req.amount,
                "currency": req.currency,
                "reason": req.reason,
                "amount_local": req.amount_local,
                "rate": fmt_decimal(req.rate),
                "operator_id": op.operator_id,
                "shift_id": shift.shift_id,
                "time": to_db(now),
            },
        )
        tse = sign(tx, intent)
        return self._book_movement(tx, req, op.operator_id, shift.shift_id, now, tse)

    def recover_movement(
        self, tx: Tx, payload: dict[str, Any], tse: fstore.SaleTse
    ) -> store.CashMovement:
        """A movement the TSE signed before a crash and that never committed (start-up
        reconciliation, see the module docstring): booked now as it would have been, into
        its shift, with the TSE's row and the original time. Not checked again: the TSE
        signed it, so it is recorded (it passed its checks before the TSE was asked, and
        nothing wrote since)."""
        amount = int(payload["amount"])
        # payloads before foreign cash movements: the register currency only
        local = payload.get("amount_local")
        req = MovementRequest(
            CashMovementKind(str(payload["kind"])),
            amount,
            str(payload["currency"]),
            str(payload["reason"]),
            None if local is None or str(payload["currency"]) == self.s.currency else int(local),
            Decimal(str(payload.get("rate") or 1)),
        )
        shift_id = payload["shift_id"]
        return self._book_movement(
            tx,
            req,
            str(payload["operator_id"]),
            None if shift_id is None else int(shift_id),
            from_db(str(payload["time"])),
            tse,
        )

    def _book_movement(
        self,
        tx: Tx,
        req: MovementRequest,
        operator_id: str,
        shift_id: int | None,
        now: datetime,
        tse: fstore.SaleTse | None,
    ) -> store.CashMovement:
        conn = tx.conn
        movement_id, _ = self._insert_movement(conn, req, operator_id, shift_id, now, tse)
        outbox.enqueue(
            conn,
            kind="drawer",
            ref=f"movement:{movement_id}",
            receipt_number=None,
            payload={"reason": f"cash movement {req.kind.value.lower()}"},
            when=now,
        )
        tx.after_commit(self._on_outbox)
        crashpoints.reached("event.in_transaction")
        moved = store.get_movement(conn, movement_id)
        assert moved is not None
        return moved

    def _insert_movement(
        self,
        conn: sqlite3.Connection,
        req: MovementRequest,
        operator_id: str,
        shift_id: int | None,
        now: datetime,
        tse: fstore.SaleTse | None,
        *,
        drawer_kind: str = "CASH_MOVEMENT",
    ) -> tuple[int, int]:
        if tse is None:
            tse = fstore.SaleTse(
                "",
                "",
                None,
                NO_TSE,
                process_type=pd.PROCESS_TYPE_KASSENBELEG,
                process_data=req.process_data,
            )
        number = sale_store.next_counter(conn, movement_counter(self.s.register_id))
        movement_id, bon_id = store.insert_movement(
            conn,
            register_id=self.s.register_id,
            number=number,
            kind=req.kind,
            amount=req.amount,
            currency=req.currency,
            reason=req.reason,
            operator_id=operator_id,
            shift_id=shift_id,
            when=now,
            tse=tse,
            amount_local=req.local,
            exchange_rate=None if req.local is None else fmt_decimal(req.rate),
        )
        sale_store.add_drawer_entry(
            conn,
            register_id=self.s.register_id,
            sale_id=None,
            receipt_number=None,
            kind=drawer_kind,
            method="CASH",
            amount=req.amount,
            currency=req.currency,
            when=to_db(now),
        )
        journal.append(
            conn,
            kind="CASH_MOVEMENT",
            register_id=self.s.register_id,
            ref=f"movement:{number}",
            payload={
                "movement_id": movement_id,
                "number": number,
                "bon_id": bon_id,
                "kind": req.kind.value,
                "gv_typ": req.kind.gv_typ,
                "amount": req.amount,
                "currency": req.currency,
                "amount_local": req.amount_local,
                "rate": fmt_decimal(req.rate),
                "reason": req.reason,
                "operator_id": operator_id,
                "shift_id": shift_id,
                "tse": {
                    "state": tse.state,
                    "transaction_number": tse.transaction_number,
                    "signature_counter": tse.finish_counter,
                    "process_data": tse.process_data,
                    "signature": tse.signature,
                    "outage_number": tse.outage_number,
                },
            },
            when=now,
        )
        outbox.enqueue(
            conn,
            kind="print",
            ref=f"movement:{movement_id}",
            receipt_number=None,
            # the register currency names what foreign cash was worth on the slip
            payload={
                "document": "cash_movement",
                "movement_id": movement_id,
                "local_currency": self.s.currency,
            },
            when=now,
        )
        return movement_id, bon_id

    # -- X and Z ------------------------------------------------------------------------

    def x_report(self, conn: sqlite3.Connection, op: Operator) -> ClosingReport:
        """The open period's totals so far; changes nothing."""
        op.require(Permission.CLOSING)
        builder = self._period(conn)
        shift = store.open_shift_of(conn, self.s.register_id)
        if shift is not None:
            opening = totals_by_currency(shift.opening)
            moved = store.shift_cash(conn, shift)
            builder.add_open_shift_expected(
                {c: opening.get(c, 0) + moved.get(c, 0) for c in set(opening) | set(moved)}
            )
        return builder.report(z_nr=0, created_at=to_db(self._clock()))

    def print_x_report(self, tx: Tx, op: Operator) -> ClosingReport:
        """The X report now, queued for the printer (a Zwischenbericht at a shift
        handover). The job carries the report as computed: printed after a paper jam or
        a restart, it still shows the totals of the moment it was asked for, not those
        of the moment the printer came back."""
        report = self.x_report(tx.conn, op)
        outbox.enqueue(
            tx.conn,
            kind="print",
            ref=f"x:{self.s.register_id}",
            receipt_number=None,
            payload={
                "document": "x_report",
                "register_id": self.s.register_id,
                "report": report.to_dict(),
            },
            when=self._clock(),
        )
        tx.after_commit(self._on_outbox)
        return report

    def z_closing(self, tx: Tx, op: Operator, business_date: str = "") -> ZResult:
        """Closes the open period: gapless Z number, totals stored, journaled, printed."""
        op.require(Permission.CLOSING)
        conn = tx.conn
        shift = store.open_shift_of(conn, self.s.register_id)
        if shift is not None:
            raise precondition(
                "SHIFT_OPEN",
                f"shift {shift.shift_id} is still open: close it (count the cash) before the"
                " Z closing",
                shift_id=str(shift.shift_id),
            )
        count, sale_ids = store.unfinished_sales(conn, self.s.register_id, SALES_OPEN_NAMED)
        if count:
            listed = ", ".join(sale_ids) + (
                f" and {count - len(sale_ids)} more" if count > len(sale_ids) else ""
            )
            raise precondition(
                "SALES_OPEN",
                f"{count} sale(s) still open or parked on this register ({listed}): post or"
                " cancel them (resume a parked one first) before the Z closing",
                count=str(count),
                sale_ids=",".join(sale_ids),
            )
        now = self._clock()
        business_date = self._business_date(conn, business_date, now)
        z_nr = sale_store.next_counter(conn, z_counter(self.s.register_id))
        report = self._period(conn).report(z_nr=z_nr, created_at=to_db(now))
        store.close_period(conn, self.s.register_id, z_nr)
        body = canonical_json(report.to_dict())
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
        closing = store.Closing(
            z_nr=z_nr,
            register_id=self.s.register_id,
            created_at=now,
            business_date=business_date,
            operator_id=op.operator_id,
            first_bon_id=report.first_bon_id or None,
            last_bon_id=report.last_bon_id or None,
            report=body,
            report_sha256=digest,
        )
        store.insert_closing(conn, closing)
        journal.append(
            conn,
            kind="Z_CLOSING",
            register_id=self.s.register_id,
            ref=f"z:{z_nr}",
            payload={
                "z_nr": z_nr,
                "business_date": business_date,
                "operator_id": op.operator_id,
                "report_sha256": digest,
                "report": report.to_dict(),
            },
            when=now,
        )
        outbox.enqueue(
            conn,
            kind="print",
            ref=f"z:{z_nr}",
            receipt_number=None,
            payload={"document": "z_report", "z_nr": z_nr, "register_id": self.s.register_id},
            when=now,
        )
        tx.after_commit(self._on_outbox)
        return ZResult(closing, report)

    def _business_date(self, conn: sqlite3.Connection, text: str, now: datetime) -> str:
        """The Z's business date, normalised: today's date when not given, else strictly
        YYYY-MM-DD, not after today and not before the previous Z's business date (nor,
        before the first Z, before the register's first shift). Today is the register's
        business day: the date of its clock in the register's time zone (``register.timezone``),
        so a register in Berlin closes 1 January at 00:30 local time although UTC is still
        on 31 December."""
        today = business_day(now, self.s.zone)
        if not text:
            day = today
        else:
            if not BUSINESS_DATE.fullmatch(text):
                raise invalid(
                    "business_date",
                    "must be a date written YYYY-MM-DD, like 2024-05-31",
                    "INVALID_DATE",
                )
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise invalid(
                    "business_date", f"{text} is no calendar date", "INVALID_DATE"
                ) from None
            if day > today:
                raise invalid(
                    "business_date",
                    f"{text} is after today ({today.isoformat()})",
                    "BUSINESS_DATE_IN_FUTURE",
                )
        floor, what = store.business_date_floor(conn, self.s.register_id, self.s.zone)
        if floor is not None:
            floor = min(floor, today)  # an older Z's date ahead of today (before this check)
            if day < floor:
                raise invalid(
                    "business_date",
                    f"{day.isoformat()} is before {what} ({floor.isoformat()})",
                    "BUSINESS_DATE_TOO_EARLY",
                )
        return day.isoformat()

    def _period(self, conn: sqlite3.Connection) -> ClosingBuilder:
        builder = ClosingBuilder(
            self.s.register_id, self.s.currency, shared_drawer=self.s.shared_drawer
        )
        for fact in period_facts(conn, self.s.register_id):
            book_fact(builder, fact)
        shifts = store.unclosed_shifts(conn, self.s.register_id)
        for shift in shifts:
            # the differences as booked (Vorgänge, drawer ledger), not the close's alone:
            # a signed one recorded alone into the shift after a crash is one of them
            # (the shift's expected cash holds it, so its close found no difference)
            booked = store.booked_differences(conn, shift)
            if not self.s.shared_drawer:
                for b in shift.balances:
                    builder.add_balance(shift.shift_id, b, differences=booked.get(b.currency, 0))
                continue
            at_open = store.opening_differences(conn, shift)
            for b in shift.balances:
                builder.add_balance(
                    shift.shift_id,
                    b,
                    at_open.pop(b.currency, 0),
                    differences=booked.pop(b.currency, 0),
                )
            for currency in sorted(set(at_open) | set(booked)):
                builder.add_balance(
                    shift.shift_id,
                    CashBalance(currency, 0, 0, 0),
                    at_open.get(currency, 0),
                    differences=booked.get(currency, 0),
                )
        if (
            self.s.shared_drawer
            and not shifts
            and store.open_shift_of(conn, self.s.register_id) is None
        ):
            # no shift in the period: the shared drawer still holds what the last
            # closing counted (an open shift's X report names its expected cash instead)
            last = store.last_shift(conn, self.s.register_id)
            if (
                last is not None
                and last.state is ShiftState.CLOSED
                and store.handed_on(conn, last)  # not an insert taken away
            ):
                booked = store.unshifted_differences(conn, self.s.register_id)
                for currency, amount in _carried(conn, last).items():
                    builder.add_carried(currency, amount, booked.get(currency, 0))
        elif (
            self.s.shared_drawer
            and shifts
            and store.open_shift_of(conn, self.s.register_id) is None
            and (last := store.last_shift(conn, self.s.register_id)) is not None
            and last.shift_id == shifts[-1].shift_id
        ):
            for currency, amount in store.drawer_cash_after(conn, last).items():
                builder.add_after_last_shift(currency, amount)
        return builder

    # -- closings ---------------------------------------------------------------------

    def get_closing(self, conn: sqlite3.Connection, z_nr: int) -> ZResult:
        c = store.get_closing(conn, self.s.register_id, z_nr)
        if c is None:
            raise not_found("CLOSING_NOT_FOUND", f"no Z closing {z_nr}", z_nr=str(z_nr))
        return ZResult(c, ClosingReport.from_dict(json.loads(c.report)))


def _carried(conn: sqlite3.Connection, last: store.Shift) -> dict[str, int]:
    """The cash a shared drawer is taken to hold after its ``last`` (closed) shift, per
    currency: that closing's count plus what was booked in no shift since -- a
    difference the TSE signed for an open before a crash, reconciled when no shift was
    open (the shift it belonged to was opened again in a TSE outage, booking the
    difference once more). The next float is compared with this, so that its open books
    the duplicate back (signed) instead of the period keeping it twice."""
    carried = {b.currency: b.counted for b in last.balances}
    for currency, amount in store.drawer_cash_after(conn, last).items():
        carried[currency] = carried.get(currency, 0) + amount
    return {c: a for c, a in carried.items() if a}


def _float_differences(float_total: dict[str, int], carried: dict[str, int]) -> dict[str, int]:
    """A shared drawer's float against the cash it is taken to hold, per currency."""
    return {
        c: float_total.get(c, 0) - carried.get(c, 0)
        for c in sorted(set(float_total) | set(carried))
        if float_total.get(c, 0) != carried.get(c, 0)
    }


def _difference_of(payload: dict[str, Any], register_currency: str) -> MovementRequest:
    """The difference Vorgang a signed intent's payload names (payloads from before
    foreign differences were signed: the register currency's, no value of its own)."""
    currency = str(payload["currency"])
    local = payload.get("amount_local")
    if currency == register_currency or local is None:
        return MovementRequest(
            CashMovementKind.DIFFERENCE, int(payload["amount"]), currency, str(payload["reason"])
        )
    return MovementRequest(
        CashMovementKind.DIFFERENCE,
        int(payload["amount"]),
        currency,
        str(payload["reason"]),
        int(local),
        Decimal(str(payload.get("rate") or 1)),
    )


def _unfinished_state(sale: store.UnfinishedCash) -> str:
    """How a close refused for a sale's cash names the sale: a parked one with its slip,
    which the cashier scans to resume it."""
    if sale.state == "PARKED":
        return f"parked, slip {sale.parking_code}" if sale.parking_code else "parked"
    return "open"


def _register_bon(
    signed: Sequence[tuple[MovementRequest, fstore.SaleTse | None]],
    bons: Sequence[int],
    currency: str,
) -> int | None:
    """The BON_ID of the register currency's difference among ``signed``, if any."""
    for (req, _), bon in zip(signed, bons, strict=True):
        if req.currency == currency:
            return bon
    return None


def _count_record(x: CountLine) -> dict[str, object]:
    return {
        "currency": x.currency,
        "denomination": x.denomination,
        "pieces": x.pieces,
        "amount": x.amount,
    }


def _check_carried_currencies_counted(carried: dict[str, int], counted: dict[str, int]) -> None:
    """Refuses (before anything is signed or written) a shared drawer's float without a
    line for a currency the last closing counted in it. Left out, that currency was
    taken as counted at 0 and its whole amount booked as a signed shortage, for cash
    nobody looked at (an OpenShift without any count line booked the whole drawer as
    missing). The amounts are not named: the float is counted blind."""
    missing = sorted(c for c in carried if c not in counted)
    if not missing:
        return
    raise invalid(
        "counts",
        f"the float has no line for {', '.join(missing)}: the shared drawer held"
        f" {'it' if len(missing) == 1 else 'them'} at the last closing, count every"
        " currency in it (none there: a total of 0)",
        "COUNT_MISSING_CURRENCY",
    )


def _check_every_currency_counted(plan: ShiftClosePlan, *, show_expected: bool) -> None:
    """Refuses (before anything is written or signed) a close whose count has no line
    for a currency the drawer is expected to hold. The expected amounts are named only
    when ``show_expected`` (an operator with CLOSING, as ``_movement_shift`` decides):
    anyone else counts blind, and a count left short would tell them what to count."""
    missing = uncounted(plan.balances, totals_by_currency(plan.counts))
    if not missing:
        return
    expected = {b.currency: b.expected for b in plan.balances}
    named = ", ".join(
        f"{c} (expected {format_minor(expected[c], c)} {c})" if show_expected else c
        for c in missing
    )
    raise invalid(
        "counts",
        f"the count has no line for {named}: count every currency the drawer holds"
        " (none there: a total of 0)",
        "COUNT_MISSING_CURRENCY",
    )
