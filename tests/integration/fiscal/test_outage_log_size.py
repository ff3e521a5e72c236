"""The outage log of a register with a long outage history: a TSE out over a busy
weekend (40,000 receipts in one outage) and thousands of short outages of a flaky
connection. Its CSV (what a tax auditor asks for: AEAO zu § 146a Nr. 7) is several
megabytes, more than one gRPC message carries (the client takes 4 MiB). The export must
stream it whole, ListOutages must page through it, and posctl must show all of it, on
the register's clock.

Real daemon in-process on a real unix socket and SQLite file; the history is written
through the outage journal's store functions on the daemon's own database executor (no
40,000 sales through gRPC)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import grpc
import pytest
from posd.client import PosdError
from posd.v1 import fiscal_pb2

from posd_daemon.api.fiscal_servicer import csv_time
from posd_daemon.cli import posctl
from posd_daemon.services import paging
from posd_daemon.services.executor import Tx
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.timeutil import to_db
from tests.conftest import Running, running_daemon
from tests.integration.day.test_posctl_day_export_files import posctl_limited
from tests.support.posctl_run import posctl_args

MANUFACTURER = "Example TSE GmbH"
SERIAL = "ab" * 32
#: short outages of a flaky connection, each with a long error message
SHORT_OUTAGES = 7_000
#: receipts of the weekend outage
WEEKEND_RECEIPTS = 40_000
#: the default gRPC receive limit of a client (grpc.max_receive_message_length)
CLIENT_LIMIT = 4 * 1024 * 1024
FIRST_START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)

#: (number, start, error code, Vorgänge) per outage
History = list[tuple[int, datetime, str, list[str]]]


def _history(tx: Tx) -> History:
    """Writes the history; returns (number, start, error code, Vorgänge) per outage."""
    conn = tx.conn
    out: History = []

    def outage(start: datetime, code: str, message: str) -> int:
        return fstore.insert_outage(
            conn,
            fstore.Outage(
                outage_number=0,
                started_at=start,
                ended_at=None,
                error_code=code,
                error_message=message,
                tse_manufacturer=MANUFACTURER,
                tse_serial=SERIAL,
                client_id="POS-1",
                register_id="R1",
                operator_id="1",
                printer="printer-1",
            ),
        )

    receipt = 0
    for k in range(SHORT_OUTAGES):
        start = FIRST_START + timedelta(minutes=10 * k)
        n = outage(start, "TIMEOUT", f"no answer from the TSE within 1.0 s ({k}) " + "x" * 400)
        vorgaenge: list[str] = []
        if k % 3 == 0:  # some short outages had a sale, some none
            receipt += 1
            fstore.add_outage_receipt(conn, n, receipt, f"s{receipt}", start)
            vorgaenge.append(str(receipt))
        fstore.close_outage(conn, n, start + timedelta(minutes=1))
        out.append((n, start, "TIMEOUT", vorgaenge))
    start = FIRST_START + timedelta(days=100)
    n = outage(start, "TSE_UNAVAILABLE", "the TSE does not answer")
    vorgaenge = []
    for i in range(WEEKEND_RECEIPTS):
        receipt += 1
        at = start + timedelta(seconds=3 * i + 1)
        fstore.add_outage_receipt(conn, n, receipt, f"s{receipt}", at)
        vorgaenge.append(str(receipt))
        if i in (0, 12_345, 30_000):  # cash movements between the sales: Vorgänge too
            movement = len([v for v in vorgaenge if v.startswith("K")]) + 1
            conn.execute(
                "INSERT INTO cash_movements (register_id, number, kind, amount, currency,"
                " reason, operator_id, created_at, tse_state, outage_number)"
                " VALUES ('R1', ?, 'DEPOSIT', 100, 'EUR', 'Wechselgeld', '1', ?, 'OUTAGE', ?)",
                (movement, to_db(at + timedelta(seconds=1)), n),
            )
            vorgaenge.append(f"K{movement}")
    fstore.close_outage(conn, n, start + timedelta(days=2))
    out.append((n, start, "TSE_UNAVAILABLE", vorgaenge))
    return out


def expected_csv(history: History, zone: tzinfo) -> bytes:
    """The outage log as the CSV must read (fiscal-de.md, TSE outage): one row per
    Vorgang, an outage without any on a row with an empty receipt number; its times on
    the register's clock with their UTC offset."""
    rows = ["TSE-Hersteller;TSE-Seriennummer;Belegnummer;Ausfallzeit;Ausfallnummer;Fehlercode"]
    for n, start, code, vorgaenge in history:
        for v in vorgaenge or [""]:
            rows.append(f"{MANUFACTURER};{SERIAL};{v};{csv_time(start, zone)};{n};{code}")
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, History]]:
    """One daemon with the long history for the module's tests (they only read it)."""
    with running_daemon(tmp_path_factory.mktemp("long-history") / "state") as running:
        fut = asyncio.run_coroutine_threadsafe(running.daemon.db.write(_history), running.loop)
        yield running, fut.result(60)


@pytest.fixture
def running(register: tuple[Running, History]) -> Running:
    return register[0]


@pytest.fixture
def history(register: tuple[Running, History]) -> History:
    return register[1]


def test_the_outage_csv_of_a_long_history_is_exported_whole(
    running: Running, history: History, tmp_path: Path
) -> None:
    expected = expected_csv(history, running.config.zone())
    assert len(expected) > CLIENT_LIMIT  # more than one message could carry
    with running.client() as pos:
        assert pos.export_outages() == expected
    exports = tmp_path / "exports"
    exports.mkdir()
    out = exports / "outages.csv"
    assert posctl.main(posctl_args(running, "outage", "export", str(out))) == 0
    assert out.read_bytes() == expected
    assert [p.name for p in exports.iterdir()] == ["outages.csv"]  # no .part left


def test_list_outages_pages_stay_small_and_the_client_gets_every_outage(
    running: Running, history: History
) -> None:
    with running.client() as pos:
        # every page, at the largest page size, far below what a client takes
        token = ""
        pages = 0
        while True:
            resp = pos.call(
                pos.fiscal.ListOutages,
                fiscal_pb2.ListOutagesRequest(page_size=100_000, page_token=token),
            )
            assert resp.ByteSize() < CLIENT_LIMIT // 4
            pages += 1
            token = resp.next_page_token
            if not token:
                break
        assert pages > 1
        got = pos.list_outages()
    assert [o.outage_number for o in got] == [n for n, _, _, _ in history]
    assert [list(o.vorgaenge) for o in got] == [v for _, _, _, v in history]
    weekend = got[-1]
    assert len(weekend.receipt_numbers) == WEEKEND_RECEIPTS
    assert list(weekend.receipt_numbers) == sorted(int(v) for v in history[-1][3] if v[0] != "K")
    assert weekend.error_code == "TSE_UNAVAILABLE"
    assert weekend.start_time.ToDatetime(tzinfo=UTC) == history[-1][1]
    assert weekend.HasField("end_time")


def test_posctl_outage_list_shows_every_outage_on_the_registers_clock(
    running: Running,
    history: History,
    tmp_path: Path,
) -> None:
    """posctl as its own process (the in-process daemon logs to this one's stdout)."""
    cfg = tmp_path / "posd.toml"
    cfg.write_text(
        f'[state]\ndir = "{running.config.state_dir}"\n[register]\ntimezone = "Europe/Berlin"\n'
    )
    r = posctl_limited(running, tmp_path, 2**40, "--config", str(cfg), "outage", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 + len(history)
    # 12:00 UTC on 10 January is 13:00 in Berlin (CET); the end a minute later
    first = lines[1].split()
    assert first[:5] == ["1", "2026-01-10", "13:00:00", "2026-01-10", "13:01:00"]
    weekend = lines[-1]
    assert weekend.endswith(", ".join(history[-1][3]))
    r = posctl_limited(running, tmp_path, 2**40, "--config", str(cfg), "outage", "list", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [int(o["outage_number"]) for o in data] == [n for n, _, _, _ in history]
    assert data[-1]["vorgaenge"] == history[-1][3]


def test_the_deprecated_unary_export_says_why_it_cannot_answer(running: Running) -> None:
    """An older client's ExportOutages gets a refusal naming the way out, not gRPC's
    "Sent message larger than max"."""
    with running.client() as pos, pytest.raises(PosdError) as caught:
        pos.call(pos.fiscal.ExportOutages, fiscal_pb2.ExportOutagesRequest())
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.reason == "OUTAGE_LOG_TOO_LARGE"
    assert "ExportOutageLog" in caught.value.message


@pytest.mark.parametrize("token", ["garbage", paging.encode("o", "1.x.0"), paging.encode("z", 5)])
def test_a_page_token_not_made_by_list_outages_is_refused(running: Running, token: str) -> None:
    with running.client() as pos, pytest.raises(PosdError) as caught:
        pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest(page_token=token))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field_violations == [("page_token", "not a token from a previous response")]
