"""The register's wall clock steps (NTP correcting a wrong BIOS clock, DST on the
register's calendar): what was recorded keeps its times, nothing is refused or lost."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posd.client import PosdClient
from posd.v1 import sale_pb2

from tests.conftest import start_in_thread
from tests.integration.day.test_business_day import CASH, FixedClock
from tests.support.cash import close_as_expected
from tests.support.fullsale import printed

BERLIN = {"register": {"timezone": "Europe/Berlin"}}


def sell(pos: PosdClient) -> sale_pb2.Sale:
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="KAFFEE")
    pos.add_payment(sale_id, CASH, 1000)
    pos.post_sale(sale_id)
    return pos.get_sale(sale_id)


def csv_of(zip_bytes: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        for n in z.namelist():
            if n.endswith(name):
                return z.read(n).decode("utf-8")
    raise AssertionError(f"{name} not in {zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist()}")


def test_the_clock_stepping_back_an_hour_between_and_within_sales(tmp_path: Path) -> None:
    t0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    clock = FixedClock(t0)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            first = sell(pos)
            # a sale begun before the step and posted after it
            sale_id = pos.create_sale().sale_id
            pos.add_line(sale_id, item_id="KAFFEE")
            clock.now = t0 - timedelta(minutes=59)
            pos.add_payment(sale_id, CASH, 1000)
            pos.post_sale(sale_id)
            second = pos.get_sale(sale_id)
            third = sell(pos)
            assert [first.receipt_number + 1, first.receipt_number + 2] == [
                second.receipt_number,
                third.receipt_number,
            ]
            assert pos.verify_journal().ok
            close_as_expected(pos)
            z = pos.z_closing()
            assert z.business_date == "2026-03-10"
            export = pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr)
            bonkopf = csv_of(export, "transactions.csv")
            assert bonkopf.count("\n") >= 4, bonkopf
            paper = printed(running, f"Beleg-Nr. {third.receipt_number}")
            assert "10.03.2026 11:00:00" in paper
            assert "10.03.2026 10:01:00" in paper
    finally:
        running.stop()


def test_two_receipts_in_the_repeated_hour_of_the_autumn_change(tmp_path: Path) -> None:
    # 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:30 happens twice in Berlin
    cest = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    cet = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    clock = FixedClock(cest)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            a = sell(pos)
            clock.now = cet
            b = sell(pos)
            close_as_expected(pos)
            z = pos.z_closing()
            assert z.business_date == "2026-10-25"
            export = pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr)
            bonkopf = csv_of(export, "transactions.csv")
            assert "2026-10-25T00:30:00" in bonkopf and "2026-10-25T01:30:00" in bonkopf, bonkopf
            assert a.receipt_number + 1 == b.receipt_number
    finally:
        running.stop()


def test_the_clock_stepping_forward_a_day_then_back(tmp_path: Path) -> None:
    # a BIOS clock a day ahead at boot, corrected by NTP after a Z was taken
    wrong = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    right = datetime(2026, 3, 10, 9, 5, tzinfo=UTC)
    clock = FixedClock(wrong)
    running = start_in_thread(tmp_path / "state", BERLIN, clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            sell(pos)
            close_as_expected(pos)
            assert pos.z_closing().business_date == "2026-03-11"
            clock.now = right
            pos.ensure_shift()
            sell(pos)
            close_as_expected(pos)
            # the Z after the correction closes the corrected day (a date before the
            # previous Z's is allowed when that one was ahead of today)
            assert pos.z_closing().business_date == "2026-03-10"
            assert pos.verify_journal().ok
    finally:
        running.stop()
