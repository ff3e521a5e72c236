"""SQLite access: one connection per thread, WAL, ``synchronous=FULL``, migrations.

The daemon does every write on one dedicated thread (see ``services/executor``), so
transactions never contend; ``BEGIN IMMEDIATE`` makes that explicit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

SCHEMA_VERSION_KEY = "user_version"
#: page cache per connection, KiB
CACHE_KIB = 1024
#: bytes of WAL kept after a checkpoint (SQLite's journal_size_limit)
WAL_SIZE_LIMIT = 64 * 1024 * 1024


class StoreError(Exception):
    """The database cannot be opened or migrated."""


def _migrations() -> list[tuple[int, str]]:
    return _numbered(resources.files("posd_daemon.store") / "migrations")


def _numbered(folder: Traversable) -> list[tuple[int, str]]:
    """The migrations in ``folder`` by number: 1, 2, 3 … without a gap or a repeat (two
    files of one number would apply only the first, silently: refused instead)."""
    found: dict[int, tuple[str, str]] = {}
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        version = int(name.split("_", 1)[0])
        if version in found:
            raise StoreError(f"migrations {found[version][0]} and {name} share number {version}")
        found[version] = (name, entry.read_text(encoding="utf-8"))
    numbers = sorted(found)
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(f"migrations are not numbered 1..{len(numbers)}: {numbers}")
    return [(v, found[v][1]) for v in numbers]


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Opens the database with the durability settings posd relies on."""
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch to WAL mode (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # 1 MiB of page cache per connection (SQLite's default: 2 MiB); the daemon keeps
    # four open and a register's working set (open sales, today's receipts, indexes)
    # fits; what misses comes from the OS page cache. Measured: idle RSS -1 MB. The
    # DSFinV-K export sets a larger cache on its own connection.
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB:d}")
    if not readonly:
        # after a checkpoint a WAL that grew for a big transaction (a backlog pruned,
        # an import) is cut back to this instead of keeping its peak size for good
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT:d}")
    return conn


def migrate(conn: sqlite3.Connection, migrations: list[tuple[int, str]] | None = None) -> int:
    """Applies the pending migrations (default: the shipped ones) in one transaction and
    returns the version. All or nothing: a failing one leaves the database at the version
    it had, not half-way (and a new register's schemas cost one fsync, not one each: its
    first start is ~60 ms faster)."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    shipped = _migrations() if migrations is None else migrations
    pending = [(v, sql) for v, sql in shipped if v > current]
    if not pending:
        return current
    applying = current
    try:
        conn.execute("BEGIN IMMEDIATE")
        for number, sql in pending:
            applying = number
            for statement in _split_sql(sql):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {applying:d}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StoreError(f"migration {applying} failed: {exc}") from exc
    return applying


def _split_sql(sql: str) -> Iterator[str]:
    """Splits a migration into statements (triggers contain ';' inside BEGIN…END)."""
    buf: list[str] = []
    for line in sql.splitlines():
        if line.strip().startswith("--") and not buf:
            continue
        buf.append(line)
        candidate = "\n".join(buf)
        if sqlite3.complete_statement(candidate):
            if candidate.strip():
                yield candidate
            buf = []
    if "\n".join(buf).strip():
        yield "\n".join(buf)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception, the COMMIT's own included
    (a full disk fails at COMMIT; without the ROLLBACK the connection would stay inside
    the transaction and every later BEGIN would fail)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # the first error is the one to report
                conn.execute("ROLLBACK")
        raise


def savepoint(conn: sqlite3.Connection, name: str) -> None:
    """Starts savepoint ``name`` (an SQL identifier of the caller's, never user input)
    inside the open transaction."""
    conn.execute(f"SAVEPOINT {name}")


def release_savepoint(conn: sqlite3.Connection, name: str) -> None:
    """Keeps what was written since savepoint ``name`` and ends it."""
    conn.execute(f"RELEASE {name}")


def roll_back_savepoint(conn: sqlite3.Connection, name: str) -> None:
    """Undoes what was written since savepoint ``name`` and ends it (ROLLBACK TO alone
    leaves the savepoint open)."""
    conn.execute(f"ROLLBACK TO {name}")
    conn.execute(f"RELEASE {name}")


def open_database(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = connect(path)
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: {exc}") from exc
    return conn
