"""posctl's day commands against the served ClosingService (in-process, real socket)."""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import pytest
from posd.v1 import common_pb2

from posd_daemon.cli import posctl_day
from tests.integration.day.conftest import Day
from tests.integration.day.test_foreign_cash_movements import chf_day


def day_args(day: Day, *argv: str) -> argparse.Namespace:
    """posctl's day commands parsed as posctl would, for the day's daemon (operator 1)."""
    p = argparse.ArgumentParser()
    p.add_argument("--json", action="store_true")
    posctl_day.add_commands(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(list(argv))
    args.socket = str(day.socket)
    args.config = None
    args.state_dir = str(day.running.config.state_dir)
    args.operator, args.pin = "1", "1234"
    return args


def run(day: Day, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    args = day_args(day, *argv)
    assert posctl_day.HANDLERS[(args.command, posctl_day.subcommand(args))](args) == 0
    return capsys.readouterr().out


def test_a_day_with_posctl(day: Day, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = run(day, capsys, "shift", "open", "--count", "5000=1", "--count", "0.50=4")
    assert "shift 1 (open)" in out
    day.pos.upsert_item("A", "Kaffee", 899)
    s = day.pos.create_sale()
    day.pos.add_line(s.sale_id, item_id="A")
    day.pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CASH, 1000)
    day.pos.post_sale(s.sale_id)
    out = run(day, capsys, "cash", "out", "12.50", "--reason", "Porto")
    assert "K1" in out and "-12.50 EUR" in out and "Privatentnahme" in out
    out = run(day, capsys, "shift", "show")
    assert "expected cash now: 48.49 EUR" in out  # 52.00 + 8.99 - 12.50
    assert "gross            8.99 EUR" in run(day, capsys, "closing", "x")
    out = run(day, capsys, "shift", "close", "--total", "48.49")
    assert "difference 0.00 EUR" in out
    assert "Z closing 1 created" in run(day, capsys, "closing", "z")
    assert "    1" in run(day, capsys, "closing", "list")
    assert "receipts 1" in run(day, capsys, "closing", "show", "1")
    target = tmp_path / "export"
    out = run(day, capsys, "export", "dsfinvk", "--z", "1", str(target))
    assert "(22 files" in out
    assert (target / "index.xml").exists() and (target / "lines.csv").exists()
    zpath = tmp_path / "z.zip"
    run(day, capsys, "export", "dsfinvk", "--z", "1-1", str(zpath))
    assert "transactions.csv" in zipfile.ZipFile(zpath).namelist()
    today = s.create_time.ToDatetime().date().isoformat()
    book = tmp_path / "kassenbuch.csv"
    run(day, capsys, "export", "datev", "--from", today, "--to", today, str(book))
    assert "-12,50" in book.read_text("utf-8")
    run(day, capsys, "export", "cashbook", "--from", today, "--to", today, str(tmp_path / "kb"))
    out = run(day, capsys, "receipts", "list", "--method", "cash")
    assert "8.99 EUR" in out
    assert "Kaffee" in run(day, capsys, "receipts", "show", "1")


def test_posctl_moves_foreign_cash(day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    """`posctl cash transit AMOUNT --currency CHF --out`: the francs a sale took in go to
    the bank (the amount read in the currency's own decimals)."""
    chf_day(day)  # 95.00 CHF in the drawer
    out = run(
        day, capsys, "cash", "transit", "95.00", "--currency", "CHF", "--out", "--reason", "Bank"
    )
    assert "K1" in out and "-95.00 CHF" in out and "Geldtransit" in out
    assert "expected cash now: 0.00 CHF, 100.00 EUR" in run(day, capsys, "shift", "show")
