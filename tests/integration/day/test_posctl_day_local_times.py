"""posctl's day commands wrote the times of shifts, receipts and closings in UTC without
saying so: a manager in Tokyo saw a shift opened at 00:15 that opened at 09:15, and a
receipt "posted" nine hours before the time printed on it (receipts print the register's
wall clock). They are written on the register's clock (register.timezone), as the
dates posctl reads are."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from posd.v1 import common_pb2

from posd_daemon.cli import posctl_day
from tests.integration.day.conftest import Day
from tests.integration.day.test_posctl_day import day_args

TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9 all year


def run(day: Day, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    args: argparse.Namespace = day_args(day, *argv)
    args.register_zone = TOKYO  # what posctl reads from the daemon's register.timezone
    assert posctl_day.HANDLERS[(args.command, posctl_day.subcommand(args))](args) == 0
    return capsys.readouterr().out


def tokyo(ts: object) -> str:
    when = ts.ToDatetime(tzinfo=UTC).astimezone(TOKYO)  # type: ignore[attr-defined]
    assert isinstance(when, datetime)
    return f"{when:%Y-%m-%d %H:%M}"


def test_day_times_are_on_the_registers_clock(day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    opened = day.day.open_shift(day.day.cash_counts(total=0))
    assert f"opened {tokyo(opened.open_time)}" in run(day, capsys, "shift", "show")
    day.pos.upsert_item("A", "Kaffee", 899)
    s = day.pos.create_sale()
    day.pos.add_line(s.sale_id, item_id="A")
    day.pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CARD, 899)
    posted = day.pos.post_sale(s.sale_id)
    assert f"posted {tokyo(posted.post_time)}" in run(day, capsys, "receipts", "show", "1")
    assert f"  {tokyo(posted.post_time)}" in run(day, capsys, "receipts", "list")
    closed = day.day.close_shift(day.day.cash_counts(total=0))
    assert f"closed {tokyo(closed.close_time)}" in run(day, capsys, "shift", "show")
    z = day.day.z_closing()
    assert tokyo(z.create_time) in run(day, capsys, "closing", "list")
