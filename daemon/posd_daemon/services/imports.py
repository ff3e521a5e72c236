"""Bulk imports: one transaction, a report of every rejected row, nothing half-imported.

Each row is converted, validated and written inside its own SAVEPOINT, so a row that
fails leaves nothing behind. The whole import runs inside one more SAVEPOINT: unless
the caller asked to skip invalid rows, a single rejection (or ``validate_only``) rolls
the whole import back, while the caller's transaction still commits the idempotent
answer (the report). Rows repeating an earlier row's key are rejected as DUPLICATE_ROW
(which of two versions is meant is not the register's guess to make). The key as
typed is not always the record's: an import whose rows name one record in different
spellings (a stock row without a location and one at the register's location) has its
``apply`` call :func:`claim_record` with the record's resolved key, refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.services.executor import Tx
from posd_daemon.store import database as db

R = TypeVar("R")

#: Rows per request (the gRPC message size limit usually bites first).
MAX_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class Rejection:
    row: int
    key: str
    field: str
    reason: str
    message: str


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    imported: int = 0
    created: int = 0
    updated: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    committed: bool = False
    validate_only: bool = False


@dataclass(slots=True)
class _Records:
    """The records the rows of the running import wrote so far (resolved key -> row)."""

    row: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    #: the keys the current row claimed (forgotten when the row is rejected)
    claimed: list[str] = field(default_factory=list)


#: set while run_import applies its rows (on the database thread)
_RECORDS: ContextVar[_Records | None] = ContextVar("posd_import_records", default=None)


def claim_record(key: str, shown: str) -> None:
    """Inside an import: refuses the row (DUPLICATE_ROW) when an earlier row of the same
    import wrote the record ``key`` names, whatever its key looked like as typed;
    ``shown`` names the record in the message. Outside an import it does nothing."""
    records = _RECORDS.get()
    if records is None:
        return
    first = records.seen.get(key)
    if first is not None and first != records.row:
        raise DomainError(
            ErrorKind.INVALID_ARGUMENT,
            "DUPLICATE_ROW",
            f"repeats row {first}: both name {shown}",
        )
    if first is None:
        records.seen[key] = records.row
        records.claimed.append(key)


def run_import(
    tx: Tx,
    rows: Sequence[R],
    *,
    key: Callable[[R], str],
    apply: Callable[[Tx, R], bool],
    skip_invalid_rows: bool,
    validate_only: bool,
) -> ImportReport:
    """Applies ``apply`` (returns True when it created a record) to every row."""
    if len(rows) > MAX_ROWS:
        raise DomainError(
            ErrorKind.RESOURCE_EXHAUSTED,
            "TOO_MANY_ROWS",
            f"at most {MAX_ROWS} rows per import (got {len(rows)})",
        )
    conn = tx.conn
    report = ImportReport(rows=len(rows), validate_only=validate_only)
    seen: dict[str, int] = {}
    records = _Records()
    token = _RECORDS.set(records)
    db.savepoint(conn, "import_all")
    try:
        for index, row in enumerate(rows, start=1):
            records.row = index
            records.claimed.clear()
            row_key = key(row)
            if row_key and row_key in seen:
                report.rejections.append(
                    Rejection(
                        index,
                        row_key[:64],
                        "",
                        "DUPLICATE_ROW",
                        f"repeats row {seen[row_key]} with the same key",
                    )
                )
                continue
            if row_key:
                seen[row_key] = index
            db.savepoint(conn, "import_row")
            try:
                created = apply(tx, row)
            except DomainError as exc:
                db.roll_back_savepoint(conn, "import_row")
                for claimed in records.claimed:  # it wrote nothing: a later row may
                    del records.seen[claimed]
                violation = exc.violations[0].field if exc.violations else ""
                report.rejections.append(
                    Rejection(index, row_key[:64], violation, exc.reason, exc.message[:500])
                )
                continue
            db.release_savepoint(conn, "import_row")
            report.imported += 1
            if created:
                report.created += 1
            else:
                report.updated += 1
        keep = not validate_only and (skip_invalid_rows or not report.rejections)
    except BaseException:
        db.roll_back_savepoint(conn, "import_all")
        raise
    finally:
        _RECORDS.reset(token)
    if keep:
        db.release_savepoint(conn, "import_all")
        report.committed = True
    else:
        db.roll_back_savepoint(conn, "import_all")
        if not validate_only:
            report.imported = report.created = report.updated = 0
    return report
