"""`posctl shift open|close` counts a drawer of several currencies in one call.

A shared drawer (``drawer.shared = true``) that holds EUR and CHF opens only with a line
for every currency the last closing counted, and closes only with a line for every
currency it is expected to hold (COUNT_MISSING_CURRENCY): with one ``--currency`` per
call, posctl could do neither. A value may now name its currency (``CHF:20.00``,
``CHF:1000=3``); one without is in ``--currency``, else the register's. A malformed one
is one clear line before anything is sent (in-process daemon, real socket, posctl's
own main)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import closing_pb2

from posd_daemon.cli import posctl
from tests.conftest import Running, running_daemon
from tests.integration.api.test_posctl_amounts_dates_json import posctl_output
from tests.support.posctl_run import posctl_args


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"drawer": {"shared": True}}) as r:
        yield r


def run_posctl(
    running: Running, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    try:
        code = posctl.main(posctl_args(running, *args))
    except SystemExit as exc:  # argparse: a bad argument
        code = exc.code if isinstance(exc.code, int) else 2
    out = capsys.readouterr()
    return code, posctl_output(out.out), out.err


def ok(running: Running, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_posctl(running, capsys, *args)
    assert code == 0, (out, err)
    return out


def booked(running: Running) -> tuple[object, ...]:
    """Everything a shift open or close writes: shifts, counts, balances, movements."""
    with sqlite3.connect(running.config.database_path) as c:
        return tuple(
            sorted(c.execute(sql).fetchall())
            for sql in (
                "SELECT * FROM shifts ORDER BY shift_id",
                "SELECT * FROM shift_counts",
                "SELECT * FROM shift_balances",
                "SELECT * FROM cash_movements ORDER BY number",
                "SELECT COUNT(*) FROM journal",
            )
        )


def differences(running: Running) -> tuple[object, ...]:
    """The differences booked: signed Vorgänge and the drawer ledger's entries."""
    with sqlite3.connect(running.config.database_path) as c:
        return (
            c.execute("SELECT COUNT(*) FROM cash_movements").fetchone(),
            c.execute(
                "SELECT COUNT(*) FROM drawer_entries WHERE kind = 'CASH_DIFFERENCE'"
            ).fetchone(),
        )


def counted(shift: closing_pb2.Shift, phase: str) -> dict[str, int]:
    out: dict[str, int] = {}
    lines = shift.opening_counts if phase == "open" else shift.closing_counts
    for line in lines:
        amount = line.total_minor or line.denomination_minor * line.pieces
        out[line.currency_code] = out.get(line.currency_code, 0) + amount
    return out


BAD = [
    # (arguments, a word the one error line must name)
    (["--total", "150.00", "--total", "CHF:1.005"], "decimals"),
    (["--total", "150.00", "--total", "JPY:5.5"], "decimals"),
    (["--count", "5000=3", "--count", "JPY:0.50=2"], "decimals"),
    (["--total", "150.00", "--total", "XYZ:48.00"], "XYZ"),
    (["--total", "150.00", "--total", "CH:48.00"], "CH:48.00"),
    (["--total", "150.00", "--total", "CHFF:48.00"], "CHFF:48.00"),
    (["--total", "150.00", "--total", ":48.00"], ":48.00"),
    (["--total", "150.00", "--total", "CHF:"], "CHF:"),
    (["--total", "150.00", "--total", "€:48.00"], "€:48.00"),
    (["--count", "5000=3", "--count", "CHF:=2"], "CHF:=2"),
    (["--count", "5000=3", "--count", "CHF:EUR:1000=2"], "CHF:EUR:1000=2"),
    (["--total", "150.00", "--total", "CHF:48.00", "--total", "chf:1.00"], "CHF"),
    (["--total", "150.00", "--total", "EUR:150.00", "--total", "CHF:48.00"], "EUR"),
    (["--currency", "CHF", "--total", "48.00", "--total", "EUR:150.00"], "--currency"),
    (["--currency", "CHF", "--total", "CHF:48.00", "--total", "150.00"], "--currency"),
    (["--currency", "XYZ", "--total", "48.00"], "XYZ"),
    (["--total", "", "--total", "CHF:48.00"], "''"),
]


def test_a_shared_eur_chf_drawer_closes_and_opens_with_one_posctl_call_each(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    with running.client(open_shift=False) as pos:
        first = pos.open_shift(
            PosdClient.cash_counts(total=15000) + PosdClient.cash_counts(total=5000, currency="CHF")
        )
        # both currencies in one call: 150.00 EUR as notes, 48.00 CHF (2.00 short)
        out = ok(
            running,
            capsys,
            "shift",
            "close",
            "--count",
            "5000=3",
            "--count",
            "CHF:1000=4",
            "--total",
            "CHF:8.00",
        )
        assert f"shift {first.shift_id} (closed)" in out
        assert "EUR: opening 150.00 EUR, expected 150.00 EUR, counted 150.00 EUR" in out
        assert "CHF: opening 50.00 CHF, expected 50.00 CHF, counted 48.00 CHF" in out
        assert "difference -2.00 CHF" in out
        closed = pos.get_shift(first.shift_id)
        assert counted(closed, "close") == {"EUR": 15000, "CHF": 4800}
        shown = ok(running, capsys, "shift", "show", str(first.shift_id))
        assert "EUR: opening 150.00 EUR" in shown and "CHF: opening 50.00 CHF" in shown

        z = ok(running, capsys, "closing", "z")
        assert "Z closing 1 created" in z
        assert "EUR: 150.00 EUR / 150.00 EUR / 0.00 EUR" in z
        assert "CHF: 50.00 CHF / 48.00 CHF / -2.00 CHF" in z

        # a malformed argument: one line, exit 1, nothing sent or booked
        before = booked(running)
        for argv, named in BAD:
            code, out, err = run_posctl(running, capsys, "shift", "open", *argv)
            assert code == 1, (argv, out, err)
            assert "Traceback" not in err, argv
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("posctl: "), (argv, err)
            assert named in lines[0], (argv, err)
        assert booked(running) == before

        # the next shift takes the drawer over as the closing left it: one call
        differences_before = differences(running)
        out = ok(
            running,
            capsys,
            "shift",
            "open",
            "--total",
            "150.00",
            "--total",
            "chf:48,00",
        )
        assert "(open)" in out
        second = pos.get_shift()
        assert second.shift_id == first.shift_id + 1
        assert second.state == closing_pb2.SHIFT_STATE_OPEN
        assert counted(second, "open") == {"EUR": 15000, "CHF": 4800}
        # the float is what the last closing counted: no difference booked at the open
        assert differences(running) == differences_before
        shown = ok(running, capsys, "shift", "show")
        assert "expected cash now: 48.00 CHF, 150.00 EUR" in shown


def test_one_currency_per_call_still_reads_as_before(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--currency`` without prefixes counts every value in it, and no prefix at all is
    the register currency, as before."""
    ok(running, capsys, "shift", "open", "--count", "5000=2", "--count", "0.50=4")
    with running.client(open_shift=False) as pos:
        assert counted(pos.get_shift(), "open") == {"EUR": 10200}
        out = ok(running, capsys, "shift", "close", "--total", "102.00")
        assert "EUR: opening 102.00 EUR, expected 102.00 EUR, counted 102.00 EUR" in out
        ok(running, capsys, "shift", "open", "--currency", "EUR", "--total", "102.00")
        assert counted(pos.get_shift(), "open") == {"EUR": 10200}
