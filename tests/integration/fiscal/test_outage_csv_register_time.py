"""The outage CSV gives the outage time on the register's clock, with its UTC offset.

The CSV said "2026-01-15T09:30:00.000000Z" (UTC) where the outage receipt, the marked
receipts and `posctl outage list` said 10:30 (Europe/Berlin): an auditor comparing the
log with the paper found every time an hour (in summer two) off. Now the column is ISO
8601 local time with its offset ("2026-01-15T10:30:00+01:00"): the paper's time, and
still one unambiguous instant. Read from a real SQLite file as ExportOutageLog reads it
(``_csv_page``) and as the unary ExportOutages builds it (``outages_csv``).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from posd_daemon.api.fiscal_servicer import _csv_page, outages_csv
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.database import open_database

BERLIN = ZoneInfo("Europe/Berlin")
#: 09:30 UTC: 10:30 CET (winter, +01:00) and 11:30 CEST (summer, +02:00)
WINTER = datetime(2026, 1, 15, 9, 30, 0, 250_000, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 9, 30, 0, 250_000, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_database(tmp_path / "posd.sqlite3")
    c.execute("BEGIN")
    for n, began in enumerate((WINTER, SUMMER), start=1):
        record = fstore.Outage(
            n, began, None, "HTTP_503", "down", "fiskaly", "ab" * 32, "REG-1", "REG-1", "1", "p"
        )
        assert fstore.insert_outage(c, record) == n
        fstore.add_outage_receipt(c, n, 10 * n, f"sale-{n}", began)
    c.execute("COMMIT")
    yield c
    c.close()


def times(data: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8")), delimiter=";"))
    return [r[3] for r in rows if r and r[0] == "fiskaly"]


def test_the_streamed_outage_csv_gives_berlin_time_in_winter_and_summer(
    conn: sqlite3.Connection,
) -> None:
    data, after = _csv_page(conn, fstore.OutageCursor(), BERLIN)
    assert after is None
    assert times(data) == ["2026-01-15T10:30:00+01:00", "2026-07-15T11:30:00+02:00"]
    # the same instants as stored: nothing was shifted, only written in local time
    assert [datetime.fromisoformat(t) for t in times(data)] == [
        WINTER.replace(microsecond=0),
        SUMMER.replace(microsecond=0),
    ]


def test_the_unary_outage_csv_gives_the_same_times(conn: sqlite3.Connection) -> None:
    data = outages_csv(fstore.list_outages(conn), BERLIN)
    assert times(data) == ["2026-01-15T10:30:00+01:00", "2026-07-15T11:30:00+02:00"]
    assert data.startswith(
        b"TSE-Hersteller;TSE-Seriennummer;Belegnummer;Ausfallzeit;Ausfallnummer;Fehlercode\r\n"
    )
