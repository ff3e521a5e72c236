"""Persistence of sale TSE transactions and the outage journal."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from posd_daemon.store.timeutil import from_db, opt_from_db, to_db

STARTED = "STARTED"
SIGNED = "SIGNED"
CANCELLED = "CANCELLED"
OUTAGE = "OUTAGE"
SIGNED_LATE = "SIGNED_LATE"
#: the sale went to another register: its transaction finished as AVTransfer
TRANSFERRED = "TRANSFERRED"


@dataclass(frozen=True, slots=True)
class SaleTse:
    sale_id: str
    client_id: str
    transaction_number: int | None
    state: str
    start_time: datetime | None = None
    start_counter: int | None = None
    finish_time: datetime | None = None
    finish_counter: int | None = None
    process_type: str = ""
    process_data: str = ""
    signature: str = ""
    tse_serial: str = ""
    public_key: str = ""
    signature_algorithm: str = ""
    time_format: str = ""
    outage_number: int | None = None


_COLS = (
    "sale_id, client_id, transaction_number, state, start_time, start_counter, finish_time,"
    " finish_counter, process_type, process_data, signature, tse_serial, public_key,"
    " signature_algorithm, time_format, outage_number"
)


def _row(r: tuple[Any, ...]) -> SaleTse:
    return SaleTse(
        sale_id=r[0],
        client_id=r[1],
        transaction_number=r[2],
        state=r[3],
        start_time=opt_from_db(r[4]),
        start_counter=r[5],
        finish_time=opt_from_db(r[6]),
        finish_counter=r[7],
        process_type=r[8],
        process_data=r[9],
        signature=r[10],
        tse_serial=r[11],
        public_key=r[12],
        signature_algorithm=r[13],
        time_format=r[14],
        outage_number=r[15],
    )


def get(conn: sqlite3.Connection, sale_id: str) -> SaleTse | None:
    r = conn.execute(f"SELECT {_COLS} FROM sale_tse WHERE sale_id = ?", (sale_id,)).fetchone()
    return None if r is None else _row(r)


def by_state(conn: sqlite3.Connection, state: str) -> list[SaleTse]:
    rows = conn.execute(f"SELECT {_COLS} FROM sale_tse WHERE state = ?", (state,)).fetchall()
    return [_row(r) for r in rows]


def unfinished_ended(conn: sqlite3.Connection) -> list[SaleTse]:
    """Cancelled or transferred sales whose TSE transaction was not finished (an outage
    kept the TSE from it): no signature, a transaction number."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM sale_tse WHERE state IN (?, ?)"
        " AND transaction_number IS NOT NULL AND signature = ''",
        (CANCELLED, TRANSFERRED),
    ).fetchall()
    return [_row(r) for r in rows]


def transferred_still_parked(conn: sqlite3.Connection) -> list[SaleTse]:
    """Parked sales whose transaction the TSE finished as a hand-over's AVTransfer
    (signed, stored by start-up reconciliation) while the hand-over itself was not
    saved: only the hand-over may complete them."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM sale_tse WHERE state = ? AND signature != ''"
        " AND sale_id IN (SELECT sale_id FROM sales WHERE state = 'PARKED')",
        (TRANSFERRED,),
    ).fetchall()
    return [_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A sale start-up reconciliation left as it was (journal ``TSE_SALE_UNRESOLVED``,
    services/fiscal.py): the TSE holds a receipt for its transaction that its post
    refuses (``reason``, ``message``), so it is still open, its row STARTED."""

    sale_id: str
    transaction_number: int
    reason: str
    message: str


def unresolved_since(conn: sqlite3.Connection, after_seq: int) -> tuple[list[Unresolved], int]:
    """(the sales journaled ``TSE_SALE_UNRESOLVED`` after journal entry ``after_seq``
    that are still as they were left: open, their transaction still that started one;
    the journal's last entry). Read with the last entry of the previous call, it reads
    only the entries written since (by sequence number, the table's key)."""
    (head,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
    rows = conn.execute(
        "SELECT payload FROM journal WHERE seq > ? AND seq <= ? AND kind = 'TSE_SALE_UNRESOLVED'",
        (after_seq, head),
    ).fetchall()
    found: list[Unresolved] = []
    for (payload,) in rows:
        p = json.loads(payload)
        sale_id, number = str(p.get("sale_id", "")), p.get("transaction_number")
        still = conn.execute(
            "SELECT 1 FROM sale_tse t JOIN sales s ON s.sale_id = t.sale_id"
            " WHERE t.sale_id = ? AND t.state = ? AND t.transaction_number = ?"
            " AND s.state = 'OPEN'",
            (sale_id, STARTED, number),
        ).fetchone()
        if still is not None and isinstance(number, int):
            found.append(
                Unresolved(sale_id, number, str(p.get("reason", "")), str(p.get("message", "")))
            )
    return found, int(head)


def in_closed_period(conn: sqlite3.Connection, sale_id: str) -> bool:
    """The sale belongs to a Z closing (its rows are frozen)."""
    row = conn.execute(
        "SELECT 1 FROM register_transactions WHERE sale_id = ? AND z_nr IS NOT NULL LIMIT 1",
        (sale_id,),
    ).fetchone()
    return row is not None


def sale_operator(conn: sqlite3.Connection, sale_id: str) -> str | None:
    """The operator of a sale (who the outage journal names when a TSE call made for the
    sale in the background, or for its cancellation, opens an outage)."""
    row = conn.execute("SELECT operator_id FROM sales WHERE sale_id = ?", (sale_id,)).fetchone()
    return None if row is None else str(row[0])


def known_transactions(conn: sqlite3.Connection, client_id: str, tse_serial: str) -> set[int]:
    """Transaction numbers the register holds of the TSE ``tse_serial``: sales' (rows
    naming no TSE, started before schema 27, count as its) and those of Vorgänge that
    are no sale (schema 18, started before their finish; resolved by their own
    reconciliation). A replaced TSE's numbers start again at 1: the old TSE's must not
    hide the new one's orphans. A Vorgang naming no TSE (written before schema 28) counts
    as its only while its transaction may still be open (PENDING, OUTAGE): such a row is
    resolved as this TSE's (``FiscalGateway._resolve_events``), the finished ones of an
    old TSE would hide the new one's orphans for good."""
    rows = conn.execute(
        "SELECT transaction_number FROM sale_tse WHERE client_id = ?"
        " AND tse_serial IN (?, '') AND transaction_number IS NOT NULL"
        " UNION SELECT transaction_number FROM tse_pending_events WHERE client_id = ?"
        " AND (tse_serial = ? OR (tse_serial IS NULL AND state IN ('PENDING', 'OUTAGE')))",
        (client_id, tse_serial, client_id, tse_serial),
    )
    return {int(r[0]) for r in rows}


def sale_holds(conn: sqlite3.Connection, client_id: str, tse_serial: str, number: int) -> bool:
    """A sale's row names transaction ``number`` of the TSE ``tse_serial`` (a serial
    given, not ''): that transaction is the sale's, no Vorgang's."""
    row = conn.execute(
        "SELECT 1 FROM sale_tse WHERE client_id = ? AND tse_serial = ?"
        " AND transaction_number = ? LIMIT 1",
        (client_id, tse_serial, number),
    ).fetchone()
    return row is not None


def recorded_counters(conn: sqlite3.Connection, tse_serial: str) -> tuple[int, int]:
    """The highest signature counter and transaction number the register recorded from
    the TSE ``tse_serial`` (sales and Vorgänge that are no sale; 0 when none): a TSE must
    never report less, its signature counter and transaction number only ever grow
    (BSI TR-03151: both are assigned continuously and never repeat).

    Both grow with time, so the newest rows that carry counters hold the highest: read
    backwards by rowid (a row saved again gets a new one), a year of receipts costs what
    a day does (the whole table: 80 ms at 300,000 rows, at every start and recovery)."""
    row = conn.execute(
        "SELECT MAX(c), MAX(t) FROM ("
        " SELECT * FROM (SELECT MAX(COALESCE(finish_counter, 0), COALESCE(start_counter, 0))"
        " AS c, transaction_number AS t FROM sale_tse WHERE tse_serial = ?"
        " AND COALESCE(finish_counter, start_counter) IS NOT NULL"
        f" ORDER BY rowid DESC LIMIT {_NEWEST_ROWS})"
        " UNION ALL SELECT * FROM (SELECT finish_counter, transaction_number FROM"
        " cash_movements WHERE tse_serial = ? AND finish_counter IS NOT NULL"
        f" ORDER BY movement_id DESC LIMIT {_NEWEST_ROWS}))",
        (tse_serial, tse_serial),
    ).fetchone()
    return int(row[0] or 0), int(row[1] or 0)


#: rows read back by :func:`recorded_counters` (sales finish in the order they post; a
#: sale started long before others finish only has a lower start counter)
_NEWEST_ROWS = 64


class TransactionTaken(sqlite3.IntegrityError):
    """:func:`save` refused a row: another sale's row holds its TSE transaction."""

    def __init__(self, row: SaleTse, other_sale_id: str) -> None:
        super().__init__(
            f"sale {row.sale_id}: transaction {row.transaction_number} of TSE"
            f" {row.tse_serial or '(unnamed)'} (client {row.client_id}) is sale"
            f" {other_sale_id}'s; its fiscal row is kept and nothing is saved"
        )
        self.sale_id = row.sale_id
        self.other_sale_id = other_sale_id
        self.transaction_number = row.transaction_number
        self.tse_serial = row.tse_serial


def save(conn: sqlite3.Connection, row: SaleTse) -> None:
    """Stores the sale's row (a sale's row is saved again as it goes on: started,
    signed, signed late). Another sale's row is never replaced: a row whose transaction
    (client, TSE serial, number: schema 27) another sale holds raises
    :class:`TransactionTaken` (REPLACE would delete that sale's fiscal row, its
    signature or outage marking, without a trace). Checked first, since REPLACE is what
    saves the sale's own row again (the closed-period trigger lets a late signature in
    only as a new row beside its outage row, schema 3)."""
    if row.transaction_number is not None:
        other = conn.execute(
            "SELECT sale_id FROM sale_tse WHERE client_id = ? AND tse_serial = ?"
            " AND transaction_number = ? AND sale_id != ?",
            (row.client_id, row.tse_serial, row.transaction_number, row.sale_id),
        ).fetchone()
        if other is not None:
            raise TransactionTaken(row, str(other[0]))
    conn.execute(
        f"INSERT OR REPLACE INTO sale_tse ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            row.sale_id,
            row.client_id,
            row.transaction_number,
            row.state,
            to_db(row.start_time) if row.start_time else None,
            row.start_counter,
            to_db(row.finish_time) if row.finish_time else None,
            row.finish_counter,
            row.process_type,
            row.process_data,
            row.signature,
            row.tse_serial,
            row.public_key,
            row.signature_algorithm,
            row.time_format,
            row.outage_number,
        ),
    )


@dataclass(frozen=True, slots=True)
class Outage:
    outage_number: int
    started_at: datetime
    ended_at: datetime | None
    error_code: str
    error_message: str
    tse_manufacturer: str
    tse_serial: str
    client_id: str
    register_id: str
    operator_id: str
    printer: str
    receipts: tuple[int, ...] = ()
    #: the receipts with the time each was recorded
    receipt_times: tuple[tuple[int, datetime], ...] = ()
    #: cash movements and booked cash differences recorded during the outage (Vorgänge
    #: that are no sale, marked with its number in ``cash_movements``)
    movements: tuple[OutageMovement, ...] = ()

    @property
    def vorgaenge(self) -> tuple[str, ...]:
        """Every Vorgang recorded during the outage as its receipt names it: a sale's
        receipt number, a movement's "K<n>" (its slip's Beleg-Nr.), in the order they
        were recorded; the outage log lists each (fiscal-de.md, TSE outage)."""
        timed = [(at, str(n)) for n, at in self.receipt_times]
        timed += [(m.recorded_at, m.label) for m in self.movements]
        return tuple(label for _, label in sorted(timed, key=lambda t: t[0]))


@dataclass(frozen=True, slots=True)
class OutageMovement:
    """A cash movement (or a shift's booked difference) recorded during an outage."""

    number: int
    kind: str
    recorded_at: datetime

    @property
    def label(self) -> str:
        """Its receipt number as its slip prints it (``Beleg-Nr. K<n>``)."""
        return f"K{self.number}"


def open_outage_number(conn: sqlite3.Connection) -> int | None:
    """The number of the open outage, if any. What a post's (or a Vorgang's) outage
    marking checks inside its transaction: the number only, read in one step. The whole
    record (:func:`open_outage`) lists every receipt of the outage and scans the cash
    movements, so each post of a long outage cost more than the one before."""
    r = conn.execute(
        "SELECT outage_number FROM tse_outages WHERE ended_at IS NULL"
        " ORDER BY outage_number DESC LIMIT 1"
    ).fetchone()
    return None if r is None else int(r[0])


def open_outage(conn: sqlite3.Connection) -> Outage | None:
    number = open_outage_number(conn)
    return None if number is None else get_outage(conn, number)


_OUTAGE_COLS = (
    "outage_number, started_at, ended_at, error_code, error_message,"
    " tse_manufacturer, tse_serial, client_id, register_id, operator_id, printer"
)


def _outage(
    r: tuple[Any, ...],
    receipt_times: tuple[tuple[int, datetime], ...],
    movements: tuple[OutageMovement, ...],
) -> Outage:
    return Outage(
        outage_number=int(r[0]),
        started_at=from_db(r[1]),
        ended_at=opt_from_db(r[2]),
        error_code=r[3],
        error_message=r[4],
        tse_manufacturer=r[5],
        tse_serial=r[6],
        client_id=r[7],
        register_id=r[8],
        operator_id=r[9],
        printer=r[10],
        receipts=tuple(n for n, _ in receipt_times),
        movements=movements,
        receipt_times=receipt_times,
    )


def get_outage(conn: sqlite3.Connection, number: int) -> Outage | None:
    r = conn.execute(
        f"SELECT {_OUTAGE_COLS} FROM tse_outages WHERE outage_number = ?", (number,)
    ).fetchone()
    if r is None:
        return None
    receipt_times = tuple(
        (int(x[0]), from_db(x[1]))
        for x in conn.execute(
            "SELECT receipt_number, recorded_at FROM tse_outage_receipts"
            " WHERE outage_number = ? ORDER BY receipt_number",
            (number,),
        )
    )
    movements = tuple(
        OutageMovement(int(x[0]), str(x[1]), from_db(x[2]))
        for x in conn.execute(
            "SELECT number, kind, created_at FROM cash_movements WHERE outage_number = ?"
            " ORDER BY number",
            (number,),
        )
    )
    return _outage(r, receipt_times, movements)


def list_outages(conn: sqlite3.Connection) -> list[Outage]:
    """Every outage, oldest first, in three reads. Read outage by outage, each outage
    scanned all cash movements (no index on their outage number): ListOutages and the
    outage CSV, which run on the database thread, held every post behind them for
    outages x movements rows (0.34 s at 300 outages and 10,000 movements)."""
    receipts: dict[int, list[tuple[int, datetime]]] = {}
    for n, receipt, at in conn.execute(
        "SELECT outage_number, receipt_number, recorded_at FROM tse_outage_receipts"
        " ORDER BY outage_number, receipt_number"
    ):
        receipts.setdefault(int(n), []).append((int(receipt), from_db(at)))
    movements: dict[int, list[OutageMovement]] = {}
    for n, number, kind, at in conn.execute(
        "SELECT outage_number, number, kind, created_at FROM cash_movements"
        " WHERE outage_number IS NOT NULL ORDER BY outage_number, number"
    ):
        movements.setdefault(int(n), []).append(OutageMovement(int(number), str(kind), from_db(at)))
    return [
        _outage(r, tuple(receipts.get(int(r[0]), ())), tuple(movements.get(int(r[0]), ())))
        for r in conn.execute(f"SELECT {_OUTAGE_COLS} FROM tse_outages ORDER BY outage_number")
    ]


@dataclass(frozen=True, slots=True)
class OutageCursor:
    """Where a page of the outage log begins: an outage, and how many of its receipts
    and cash movements earlier pages held (0 and 0: the outage from its start)."""

    outage_number: int = 1
    receipts_done: int = 0
    movements_done: int = 0

    @property
    def continues(self) -> bool:
        """The page begins inside an outage that an earlier page began."""
        return self.receipts_done > 0 or self.movements_done > 0


def outage_page(
    conn: sqlite3.Connection, start: OutageCursor, max_outages: int, max_vorgaenge: int
) -> tuple[list[Outage], OutageCursor | None]:
    """One page of the outage log, oldest first, from ``start``: at most ``max_outages``
    outages holding at most ``max_vorgaenge`` Vorgänge in all; an outage with more is
    cut, the rest from the cursor returned (None: nothing follows). A TSE out over a busy
    weekend has tens of thousands of receipts and a flaky connection thousands of
    outages: the whole log is more than one gRPC message carries, and reading it in one
    go held the database thread (every post) for seconds. Each page costs what it holds
    (receipts read by the outage's key, cash movements in one scan of the page's
    outages), plus skipping the receipts earlier pages held of a cut outage."""
    if max_outages < 1 or max_vorgaenge < 1:
        raise ValueError("a page holds at least one outage and one Vorgang")
    heads = conn.execute(
        f"SELECT {_OUTAGE_COLS} FROM tse_outages WHERE outage_number >= ?"
        " ORDER BY outage_number LIMIT ?",
        (start.outage_number, max_outages + 1),
    ).fetchall()
    if not heads:
        return [], None
    last = int(heads[:max_outages][-1][0])
    # one scan for the whole page: cash_movements has no index on the outage number
    movements: dict[int, list[OutageMovement]] = {}
    for n, number, kind, at in conn.execute(
        "SELECT outage_number, number, kind, created_at FROM cash_movements"
        " WHERE outage_number BETWEEN ? AND ?",
        (int(heads[0][0]), last),
    ):
        movements.setdefault(int(n), []).append(OutageMovement(int(number), str(kind), from_db(at)))
    page: list[Outage] = []
    budget = max_vorgaenge
    for r in heads[:max_outages]:
        number = int(r[0])
        if budget < 1:
            return page, OutageCursor(number)
        first = number == start.outage_number
        r_skip = start.receipts_done if first else 0
        m_skip = start.movements_done if first else 0
        # the order of Outage.vorgaenge: by time, receipts before movements of the same
        # instant, receipts by number and movements by number among themselves
        receipts = [
            (int(x[0]), from_db(x[1]))
            for x in conn.execute(
                "SELECT receipt_number, recorded_at FROM tse_outage_receipts"
                " WHERE outage_number = ? ORDER BY recorded_at, receipt_number LIMIT ? OFFSET ?",
                (number, budget + 1, r_skip),
            )
        ]
        moves = sorted(movements.get(number, ()), key=lambda m: (m.recorded_at, m.number))
        moves = moves[m_skip : m_skip + budget + 1]
        timed: list[tuple[datetime, int, int]] = [(at, 0, i) for i, (_, at) in enumerate(receipts)]
        timed += [(m.recorded_at, 1, i) for i, m in enumerate(moves)]
        timed.sort()
        taken = timed[:budget]
        took_r = sum(1 for _, kind, _ in taken if kind == 0)
        took_m = len(taken) - took_r
        page.append(_outage(r, tuple(receipts[:took_r]), tuple(moves[:took_m])))
        if len(timed) > budget:  # fetched one more than fits of each: more follow
            return page, OutageCursor(number, r_skip + took_r, m_skip + took_m)
        budget -= len(taken)
    if len(heads) > max_outages:
        return page, OutageCursor(int(heads[max_outages][0]))
    return page, None


def insert_outage(conn: sqlite3.Connection, o: Outage) -> int:
    row = conn.execute("SELECT COALESCE(MAX(outage_number), 0) + 1 FROM tse_outages").fetchone()
    number = int(row[0])
    conn.execute(
        "INSERT INTO tse_outages (outage_number, started_at, ended_at, error_code, error_message,"
        " tse_manufacturer, tse_serial, client_id, register_id, operator_id, printer)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            number,
            to_db(o.started_at),
            None,
            o.error_code,
            o.error_message[:500],
            o.tse_manufacturer,
            o.tse_serial,
            o.client_id,
            o.register_id,
            o.operator_id,
            o.printer,
        ),
    )
    return number


def close_outage(conn: sqlite3.Connection, number: int, when: datetime) -> None:
    conn.execute(
        "UPDATE tse_outages SET ended_at = ? WHERE outage_number = ?", (to_db(when), number)
    )


#: what an outage records for the TSE's identity when the TSE never answered before it
UNKNOWN_TSE = "unknown"


def name_outage_tse(conn: sqlite3.Connection, number: int, manufacturer: str, serial: str) -> None:
    """An outage that began before the TSE ever answered (unreachable at start) gets the
    TSE's manufacturer and serial once it answers again (the outage log must name them,
    fiscal-de.md); a known identity is never overwritten."""
    conn.execute(
        "UPDATE tse_outages SET tse_manufacturer = ? WHERE outage_number = ?"
        " AND tse_manufacturer = ?",
        (manufacturer, number, UNKNOWN_TSE),
    )
    conn.execute(
        "UPDATE tse_outages SET tse_serial = ? WHERE outage_number = ? AND tse_serial = ?",
        (serial, number, UNKNOWN_TSE),
    )


def add_outage_receipt(
    conn: sqlite3.Connection, number: int, receipt_number: int, sale_id: str, when: datetime
) -> None:
    conn.execute(
        "INSERT INTO tse_outage_receipts (outage_number, receipt_number, sale_id, recorded_at)"
        " VALUES (?,?,?,?)",
        (number, receipt_number, sale_id, to_db(when)),
    )
