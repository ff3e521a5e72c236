"""Persistence of the register's day: shifts, counts, cash movements, the register's
transaction list (Vorgänge with their BON_ID) and Z closings.

Posted and cancelled sales enter ``register_transactions`` by a trigger in the same
transaction that posts them (migration 003); cash movements are entered here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from posd_daemon.domain.business_day import business_day
from posd_daemon.domain.closing import CashMovementKind
from posd_daemon.domain.shift import CashBalance, CountLine, CountPhase, ShiftState
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.timeutil import from_db, opt_from_db, to_db

#: drawer_entries kinds that move cash during a shift, each row in its own currency
#: (expected cash is kept per currency, never converted):
#:
#: * SALE_PAYMENT: a cash payment (negative: a cash refund); CHANGE: change given back
#:   in the sale's currency (negative);
#: * a foreign-currency cash sale whose change goes back in the local currency:
#:   SALE_PAYMENT (the kept amount, foreign), CHANGE_DEPOSIT (+ the surplus tendered,
#:   foreign: it stays in the drawer) and CHANGE_PAYOUT (- the change, local);
#: * CASH_MOVEMENT (Einlage, Entnahme, Geldtransit, Trinkgeld), CASH_DIFFERENCE (booked
#:   at a shift close, at a shared drawer's open, or recorded alone after a crash).
DRAWER_CASH_KINDS = (
    "SALE_PAYMENT",
    "CHANGE",
    "CHANGE_DEPOSIT",
    "CHANGE_PAYOUT",
    "CASH_MOVEMENT",
    "CASH_DIFFERENCE",
)


@dataclass(frozen=True, slots=True)
class Shift:
    shift_id: int
    register_id: str
    state: ShiftState
    opened_at: datetime
    opened_by: str
    first_entry: int
    closed_at: datetime | None
    closed_by: str
    last_entry: int | None
    z_nr: int | None
    opening: tuple[CountLine, ...] = ()
    closing: tuple[CountLine, ...] = ()
    balances: tuple[CashBalance, ...] = ()


_SHIFT_COLS = (
    "shift_id, register_id, state, opened_at, opened_by, first_entry, closed_at, closed_by,"
    " last_entry, z_nr"
)


def _shift(conn: sqlite3.Connection, r: tuple[Any, ...]) -> Shift:
    shift_id = int(r[0])
    counts: dict[str, list[CountLine]] = {"OPEN": [], "CLOSE": []}
    for phase, cur, den, pieces, amount in conn.execute(
        "SELECT phase, currency, denomination, pieces, amount FROM shift_counts"
        " WHERE shift_id = ? ORDER BY phase, currency, denomination",
        (shift_id,),
    ):
        counts[phase].append(CountLine(cur, int(den), int(pieces), int(amount)))
    balances = tuple(
        CashBalance(cur, int(o), int(e), int(c))
        for cur, o, e, c in conn.execute(
            "SELECT currency, opening, expected, counted FROM shift_balances WHERE shift_id = ?"
            " ORDER BY currency",
            (shift_id,),
        )
    )
    return Shift(
        shift_id=shift_id,
        register_id=r[1],
        state=ShiftState(r[2]),
        opened_at=from_db(r[3]),
        opened_by=r[4],
        first_entry=int(r[5]),
        closed_at=opt_from_db(r[6]),
        closed_by=r[7] or "",
        last_entry=None if r[8] is None else int(r[8]),
        z_nr=None if r[9] is None else int(r[9]),
        opening=tuple(counts["OPEN"]),
        closing=tuple(counts["CLOSE"]),
        balances=balances,
    )


def any_shift_open(conn: sqlite3.Connection) -> bool:
    """Whether any shift is open (of whichever register: one database belongs to one)."""
    return conn.execute("SELECT 1 FROM shifts WHERE state = 'OPEN' LIMIT 1").fetchone() is not None


def open_shift_of(conn: sqlite3.Connection, register_id: str) -> Shift | None:
    r = conn.execute(
        f"SELECT {_SHIFT_COLS} FROM shifts WHERE register_id = ? AND state = 'OPEN'",
        (register_id,),
    ).fetchone()
    return None if r is None else _shift(conn, r)


def get_shift(conn: sqlite3.Connection, shift_id: int) -> Shift | None:
    r = conn.execute(f"SELECT {_SHIFT_COLS} FROM shifts WHERE shift_id = ?", (shift_id,)).fetchone()
    return None if r is None else _shift(conn, r)


def last_shift(conn: sqlite3.Connection, register_id: str) -> Shift | None:
    r = conn.execute(
        f"SELECT {_SHIFT_COLS} FROM shifts WHERE register_id = ? ORDER BY shift_id DESC LIMIT 1",
        (register_id,),
    ).fetchone()
    return None if r is None else _shift(conn, r)


def max_drawer_entry(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(entry_id), 0) FROM drawer_entries").fetchone()[0])


def insert_shift(
    conn: sqlite3.Connection, register_id: str, operator_id: str, when: datetime
) -> int:
    cur = conn.execute(
        "INSERT INTO shifts (register_id, state, opened_at, opened_by, first_entry)"
        " VALUES (?, 'OPEN', ?, ?, ?)",
        (register_id, to_db(when), operator_id, max_drawer_entry(conn)),
    )
    assert cur.lastrowid is not None
    shift_id = cur.lastrowid
    # Vorgänge completed while no shift was open join this one, flagged late.
    conn.execute(
        "UPDATE register_transactions SET shift_id = ?, late = 1"
        " WHERE register_id = ? AND shift_id IS NULL AND z_nr IS NULL",
        (shift_id, register_id),
    )
    return shift_id


def start_after_opening_entries(conn: sqlite3.Connection, shift_id: int) -> None:
    """Moves the open shift's start past the drawer entries written since it was inserted
    (a difference booked at its open, shared drawer): its counted float holds them
    already, so its expected cash must not count them again."""
    conn.execute(
        "UPDATE shifts SET first_entry = ? WHERE shift_id = ? AND state = 'OPEN'",
        (max_drawer_entry(conn), shift_id),
    )


def handed_on(conn: sqlite3.Connection, shift: Shift) -> bool:
    """Whether ``shift`` was opened on a shared drawer, so that its closing count stayed
    in the drawer for the next shift. Its SHIFT_OPENED journal entry says so (a shared
    drawer's names the cash it carried over; the register has no other record of the
    mode, ``drawer.shared`` being configuration). A shift with inserts per cashier (and
    any before shared drawers existed) took its count away with the insert. Searched
    from the journal's end: the shift's open is among its last entries."""
    row = conn.execute(
        "SELECT payload FROM journal WHERE kind = 'SHIFT_OPENED' AND register_id = ?"
        " AND ref = ? ORDER BY seq DESC LIMIT 1",
        (shift.register_id, f"shift:{shift.shift_id}"),
    ).fetchone()
    return row is not None and "carried" in json.loads(row[0])


def previous_shift(conn: sqlite3.Connection, shift: Shift) -> Shift | None:
    """The register's shift before ``shift``."""
    r = conn.execute(
        f"SELECT {_SHIFT_COLS} FROM shifts WHERE register_id = ? AND shift_id < ?"
        " ORDER BY shift_id DESC LIMIT 1",
        (shift.register_id, shift.shift_id),
    ).fetchone()
    return None if r is None else _shift(conn, r)


def opening_differences(conn: sqlite3.Connection, shift: Shift) -> dict[str, int]:
    """The cash differences booked when ``shift`` opened (shared drawer: its float vs
    what the previous closing counted), per currency: the drawer entries between the
    previous shift's last entry and this shift's first one."""
    before = previous_shift(conn, shift)
    low = 0 if before is None or before.last_entry is None else before.last_entry
    rows = conn.execute(
        "SELECT currency, SUM(amount) FROM drawer_entries"
        " WHERE entry_id > ? AND entry_id <= ? AND register_id = ? AND method = 'CASH'"
        " AND kind = 'CASH_DIFFERENCE' GROUP BY currency",
        (low, shift.first_entry, shift.register_id),
    )
    return {str(c): int(a) for c, a in rows if a}


def booked_differences(conn: sqlite3.Connection, shift: Shift) -> dict[str, int]:
    """The cash differences booked into a closed ``shift``'s drawer, per currency: its
    close's and any recorded alone while it was open (a difference the TSE signed
    before a crash, reconciled when the register had moved on: cash the shift no longer
    expects, which its close found again)."""
    if shift.last_entry is None:
        return {}
    rows = conn.execute(
        "SELECT currency, SUM(amount) FROM drawer_entries"
        " WHERE entry_id > ? AND entry_id <= ? AND register_id = ? AND method = 'CASH'"
        " AND kind = 'CASH_DIFFERENCE' GROUP BY currency",
        (shift.first_entry, shift.last_entry, shift.register_id),
    )
    return {str(c): int(a) for c, a in rows if a}


def drawer_cash_after(conn: sqlite3.Connection, shift: Shift) -> dict[str, int]:
    """Cash booked into the drawer after the closed ``shift``, per currency. Called for
    the register's last shift with none open since: then it is a difference the TSE
    signed for an open before a crash and reconciliation recorded alone, in no shift."""
    if shift.last_entry is None:
        return {}
    rows = conn.execute(
        "SELECT currency, SUM(amount) FROM drawer_entries"
        " WHERE entry_id > ? AND register_id = ? AND method = 'CASH'"
        f" AND kind IN ({','.join('?' * len(DRAWER_CASH_KINDS))})"
        " GROUP BY currency",
        (shift.last_entry, shift.register_id, *DRAWER_CASH_KINDS),
    )
    return {str(c): int(a) for c, a in rows if a}


def unshifted_differences(conn: sqlite3.Connection, register_id: str) -> dict[str, int]:
    """The open period's cash differences booked in no shift, per currency."""
    rows = conn.execute(
        "SELECT m.currency, SUM(m.amount) FROM cash_movements m"
        " JOIN register_transactions t ON t.movement_id = m.movement_id"
        " WHERE t.z_nr IS NULL AND t.register_id = ? AND m.shift_id IS NULL"
        " AND m.kind = 'DIFFERENCE' GROUP BY m.currency",
        (register_id,),
    )
    return {str(c): int(a) for c, a in rows if a}


def insert_counts(
    conn: sqlite3.Connection, shift_id: int, phase: CountPhase, lines: Iterable[CountLine]
) -> None:
    conn.executemany(
        "INSERT INTO shift_counts (shift_id, phase, currency, denomination, pieces, amount)"
        " VALUES (?,?,?,?,?,?)",
        [(shift_id, phase.value, x.currency, x.denomination, x.pieces, x.amount) for x in lines],
    )


def shift_cash(conn: sqlite3.Connection, shift: Shift) -> dict[str, int]:
    """Net cash per currency that went through the drawer since the shift opened."""
    last = shift.last_entry if shift.last_entry is not None else 2**62
    rows = conn.execute(
        "SELECT currency, SUM(amount) FROM drawer_entries"
        " WHERE entry_id > ? AND entry_id <= ? AND register_id = ? AND method = 'CASH'"
        f" AND kind IN ({','.join('?' * len(DRAWER_CASH_KINDS))})"
        " GROUP BY currency",
        (shift.first_entry, last, shift.register_id, *DRAWER_CASH_KINDS),
    )
    return {str(c): int(a) for c, a in rows}


def close_shift(
    conn: sqlite3.Connection,
    shift_id: int,
    operator_id: str,
    when: datetime,
    balances: Iterable[CashBalance],
    last_entry: int,
) -> None:
    conn.executemany(
        "INSERT INTO shift_balances (shift_id, currency, opening, expected, counted, difference)"
        " VALUES (?,?,?,?,?,?)",
        [(shift_id, b.currency, b.opening, b.expected, b.counted, b.difference) for b in balances],
    )
    conn.execute(
        "UPDATE shifts SET state = 'CLOSED', closed_at = ?, closed_by = ?, last_entry = ?"
        " WHERE shift_id = ? AND state = 'OPEN'",
        (to_db(when), operator_id, last_entry, shift_id),
    )


# -- cash movements ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CashMovement:
    movement_id: int
    register_id: str
    number: int
    kind: CashMovementKind
    amount: int
    currency: str
    reason: str
    operator_id: str
    shift_id: int | None
    created_at: datetime
    tse: fstore.SaleTse
    bon_id: int = 0
    z_nr: int | None = None
    #: foreign cash: its value in the register currency and the rate (schema 22)
    amount_local: int | None = None
    exchange_rate: str | None = None


_TSE_COLS = (
    "tse_state, client_id, transaction_number, start_time, finish_time, finish_counter,"
    " process_type, process_data, signature, tse_serial, public_key, signature_algorithm,"
    " time_format, outage_number"
)
_MOVE_COLS = (
    "m.movement_id, m.register_id, m.number, m.kind, m.amount, m.currency, m.reason,"
    " m.operator_id, m.shift_id, m.created_at, t.bon_id, t.z_nr, "
    + ", ".join(f"m.{c.strip()}" for c in _TSE_COLS.split(","))
    + ", m.amount_local, m.exchange_rate"
)


def _movement(r: tuple[Any, ...]) -> CashMovement:
    t = r[12:]
    tse = fstore.SaleTse(
        sale_id="",
        client_id=t[1],
        transaction_number=t[2],
        state=t[0],
        start_time=opt_from_db(t[3]),
        finish_time=opt_from_db(t[4]),
        finish_counter=t[5],
        process_type=t[6],
        process_data=t[7],
        signature=t[8],
        tse_serial=t[9],
        public_key=t[10],
        signature_algorithm=t[11],
        time_format=t[12],
        outage_number=t[13],
    )
    return CashMovement(
        movement_id=int(r[0]),
        register_id=r[1],
        number=int(r[2]),
        kind=CashMovementKind(r[3]),
        amount=int(r[4]),
        currency=r[5],
        reason=r[6],
        operator_id=r[7],
        shift_id=r[8],
        created_at=from_db(r[9]),
        tse=tse,
        bon_id=int(r[10] or 0),
        z_nr=r[11],
        amount_local=None if t[14] is None else int(t[14]),
        exchange_rate=t[15],
    )


def insert_movement(
    conn: sqlite3.Connection,
    *,
    register_id: str,
    number: int,
    kind: CashMovementKind,
    amount: int,
    currency: str,
    reason: str,
    operator_id: str,
    shift_id: int | None,
    when: datetime,
    tse: fstore.SaleTse,
    amount_local: int | None = None,
    exchange_rate: str | None = None,
) -> tuple[int, int]:
    """Inserts the movement and its Vorgang; returns (movement_id, bon_id).
    ``amount_local``, ``exchange_rate``: foreign cash's value in the register currency
    and the rate it was booked at (schema 22; None for the register currency)."""
    cur = conn.execute(
        "INSERT INTO cash_movements (register_id, number, kind, amount, currency, reason,"
        f" operator_id, shift_id, created_at, amount_local, exchange_rate, {_TSE_COLS})"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            register_id,
            number,
            kind.value,
            amount,
            currency,
            reason,
            operator_id,
            shift_id,
            to_db(when),
            amount_local,
            exchange_rate,
            tse.state,
            tse.client_id,
            tse.transaction_number,
            to_db(tse.start_time) if tse.start_time else None,
            to_db(tse.finish_time) if tse.finish_time else None,
            tse.finish_counter,
            tse.process_type,
            tse.process_data,
            tse.signature,
            tse.tse_serial,
            tse.public_key,
            tse.signature_algorithm,
            tse.time_format,
            tse.outage_number,
        ),
    )
    assert cur.lastrowid is not None
    movement_id = cur.lastrowid
    cur = conn.execute(
        "INSERT INTO register_transactions (register_id, kind, movement_id, shift_id, late,"
        " recorded_at) VALUES (?, 'MOVEMENT', ?, ?, 0, ?)",
        (register_id, movement_id, shift_id, to_db(when)),
    )
    assert cur.lastrowid is not None
    return movement_id, cur.lastrowid


def get_movement(conn: sqlite3.Connection, movement_id: int) -> CashMovement | None:
    r = conn.execute(
        f"SELECT {_MOVE_COLS} FROM cash_movements m"
        " LEFT JOIN register_transactions t ON t.movement_id = m.movement_id"
        " WHERE m.movement_id = ?",
        (movement_id,),
    ).fetchone()
    return None if r is None else _movement(r)


def movements_between(
    conn: sqlite3.Connection, register_id: str, start: str, end: str
) -> Iterator[CashMovement]:
    """Cash movements with start <= created_at < end (timestamps as stored)."""
    cur = conn.execute(
        f"SELECT {_MOVE_COLS} FROM cash_movements m"
        " LEFT JOIN register_transactions t ON t.movement_id = m.movement_id"
        " WHERE m.register_id = ? AND m.created_at >= ? AND m.created_at < ?"
        " ORDER BY m.movement_id",
        (register_id, start, end),
    )
    for r in cur:
        yield _movement(r)


# -- the period of a closing ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vorgang:
    bon_id: int
    kind: str
    sale_id: str | None
    movement_id: int | None
    shift_id: int | None
    late: bool
    recorded_at: str
    z_nr: int | None


def open_period(conn: sqlite3.Connection, register_id: str) -> Iterator[Vorgang]:
    """The Vorgänge no Z closing has closed yet, in BON_ID order."""
    cur = conn.execute(
        "SELECT bon_id, kind, sale_id, movement_id, shift_id, late, recorded_at, z_nr"
        " FROM register_transactions WHERE z_nr IS NULL AND register_id = ? ORDER BY bon_id",
        (register_id,),
    )
    for r in cur:
        yield Vorgang(int(r[0]), r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7])


def unclosed_shifts(conn: sqlite3.Connection, register_id: str) -> list[Shift]:
    rows = conn.execute(
        f"SELECT {_SHIFT_COLS} FROM shifts WHERE register_id = ? AND z_nr IS NULL"
        " AND state = 'CLOSED' ORDER BY shift_id",
        (register_id,),
    ).fetchall()
    return [_shift(conn, r) for r in rows]


def close_period(conn: sqlite3.Connection, register_id: str, z_nr: int) -> int:
    """Stamps the open period's Vorgänge and closed shifts with the Z number."""
    cur = conn.execute(
        "UPDATE register_transactions SET z_nr = ? WHERE z_nr IS NULL AND register_id = ?",
        (z_nr, register_id),
    )
    conn.execute(
        "UPDATE shifts SET z_nr = ? WHERE z_nr IS NULL AND state = 'CLOSED' AND register_id = ?",
        (z_nr, register_id),
    )
    return cur.rowcount


# -- closings ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Closing:
    z_nr: int
    register_id: str
    created_at: datetime
    business_date: str
    operator_id: str
    first_bon_id: int | None
    last_bon_id: int | None
    report: str
    report_sha256: str


_CLOSING_COLS = (
    "z_nr, register_id, created_at, business_date, operator_id, first_bon_id, last_bon_id,"
    " report, report_sha256"
)


def _closing(r: tuple[Any, ...]) -> Closing:
    return Closing(
        z_nr=int(r[0]),
        register_id=r[1],
        created_at=from_db(r[2]),
        business_date=r[3],
        operator_id=r[4],
        first_bon_id=r[5],
        last_bon_id=r[6],
        report=r[7],
        report_sha256=r[8],
    )


def insert_closing(conn: sqlite3.Connection, c: Closing) -> None:
    conn.execute(
        f"INSERT INTO closings ({_CLOSING_COLS}) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            c.z_nr,
            c.register_id,
            to_db(c.created_at),
            c.business_date,
            c.operator_id,
            c.first_bon_id,
            c.last_bon_id,
            c.report,
            c.report_sha256,
        ),
    )


def get_closing(conn: sqlite3.Connection, register_id: str, z_nr: int) -> Closing | None:
    r = conn.execute(
        f"SELECT {_CLOSING_COLS} FROM closings WHERE register_id = ? AND z_nr = ?",
        (register_id, z_nr),
    ).fetchone()
    return None if r is None else _closing(r)


def list_closings(
    conn: sqlite3.Connection, register_id: str, before_z: int, limit: int
) -> list[Closing]:
    rows = conn.execute(
        f"SELECT {_CLOSING_COLS} FROM closings WHERE register_id = ? AND z_nr < ?"
        " ORDER BY z_nr DESC LIMIT ?",
        (register_id, before_z, limit),
    ).fetchall()
    return [_closing(r) for r in rows]


def closings_in(
    conn: sqlite3.Connection,
    register_id: str,
    *,
    z_from: int = 0,
    z_to: int = 2**62,
    start: str = "",
    end: str = "~",
) -> list[Closing]:
    """Closings in a Z range and/or with created_at in [start, end) (stored timestamps)."""
    rows = conn.execute(
        f"SELECT {_CLOSING_COLS} FROM closings WHERE register_id = ? AND z_nr BETWEEN ? AND ?"
        " AND created_at >= ? AND created_at < ? ORDER BY z_nr",
        (register_id, z_from, z_to, start, end),
    ).fetchall()
    return [_closing(r) for r in rows]


def unfinished_sales(
    conn: sqlite3.Connection, register_id: str, named: int
) -> tuple[int, list[str]]:
    """Open and parked sales of the register that have lines or payments (empty ones are
    abandoned: replaced, timed out or purged), as their number and the oldest ids."""
    rows = conn.execute(
        "SELECT s.sale_id FROM sales AS s WHERE s.register_id = ?"
        " AND s.state IN ('OPEN', 'PARKED')"
        " AND (EXISTS (SELECT 1 FROM sale_lines AS l WHERE l.sale_id = s.sale_id)"
        " OR EXISTS (SELECT 1 FROM sale_payments AS p WHERE p.sale_id = s.sale_id))"
        " ORDER BY s.seq",
        (register_id,),
    ).fetchall()
    return len(rows), [r[0] for r in rows[:named]]


@dataclass(frozen=True, slots=True)
class UnfinishedCash:
    """An open or parked sale holding cash payments (their sum, in its currency)."""

    sale_id: str
    state: str  # OPEN or PARKED
    parking_code: str
    currency: str
    amount: int


def unfinished_cash(conn: sqlite3.Connection, register_id: str) -> list[UnfinishedCash]:
    """The register's open and parked sales whose cash payments do not add up to 0,
    oldest first: one indexed query (sales_state), not a load of every parked pick-up
    sale of a shop."""
    rows = conn.execute(
        "SELECT s.sale_id, s.state, COALESCE(s.parking_code, ''), s.currency, SUM(p.amount)"
        " FROM sales AS s JOIN sale_payments AS p ON p.sale_id = s.sale_id"
        " AND p.method = 'CASH'"
        " WHERE s.state IN ('OPEN', 'PARKED') AND s.register_id = ?"
        " GROUP BY s.sale_id HAVING SUM(p.amount) != 0 ORDER BY s.seq",
        (register_id,),
    )
    return [UnfinishedCash(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


def business_date_floor(
    conn: sqlite3.Connection, register_id: str, zone: tzinfo
) -> tuple[date | None, str]:
    """The earliest business date a new Z may have, and what sets it: the last Z's
    business date, else the business day (in the register's time ``zone``) on which its
    first shift opened."""
    r = conn.execute(
        "SELECT business_date, z_nr FROM closings WHERE register_id = ? ORDER BY z_nr DESC LIMIT 1",
        (register_id,),
    ).fetchone()
    if r is not None:
        try:
            return date.fromisoformat(r[0]), f"the business date of Z {r[1]}"
        except ValueError:
            return None, ""  # written before dates were checked: no bound
    r = conn.execute(
        "SELECT MIN(opened_at) FROM shifts WHERE register_id = ?", (register_id,)
    ).fetchone()
    if r is None or r[0] is None:
        return None, ""
    opened = from_db(r[0])
    return business_day(opened, zone), "the register's first shift"


def vorgang_of_sale(conn: sqlite3.Connection, sale_id: str) -> Vorgang | None:
    r = conn.execute(
        "SELECT bon_id, kind, sale_id, movement_id, shift_id, late, recorded_at, z_nr"
        " FROM register_transactions WHERE sale_id = ?",
        (sale_id,),
    ).fetchone()
    return None if r is None else Vorgang(int(r[0]), r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7])


def closing_to_print(
    conn: sqlite3.Connection, z_nr: int, register_id: str | None
) -> Closing | None:
    """The closing a Z report job prints: the register's Z ``z_nr`` (a database may hold
    closings of another register id, renamed or imported, with the same number); a job
    queued before its payload named the register prints the first register's by id, the
    only register's then."""
    if register_id:
        return get_closing(conn, register_id, z_nr)
    r = conn.execute(
        f"SELECT {_CLOSING_COLS} FROM closings WHERE z_nr = ? ORDER BY register_id LIMIT 1",
        (z_nr,),
    ).fetchone()
    return None if r is None else _closing(r)
