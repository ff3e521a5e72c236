"""The register's business day is the date on its own calendar (``register.timezone``),
not UTC's: at 00:30 in Berlin on 1 January 2021 (23:30 UTC on 31 December) a sale gets
the VAT rate valid from 2021-01-01, a pick-up date of 31 December is in the past and a
Z closes 2021-01-01 by default. The daemon runs in-process with an injected clock."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.bootstrap import StartupError, start
from posd_daemon.domain.business_day import business_day
from posd_daemon.ops.config import ConfigError, load
from tests.conftest import start_in_thread
from tests.support.cash import close_as_expected
from tests.support.fullsale import printed

CASH = common_pb2.PAYMENT_METHOD_CASH
BERLIN = ZoneInfo("Europe/Berlin")
#: 23:30 on 31 December 2020 in Berlin (CET, UTC+1): still the old year there
BEFORE_MIDNIGHT = datetime(2020, 12, 31, 22, 30, tzinfo=UTC)
#: 00:30 on 1 January 2021 in Berlin, 23:30 on 31 December in UTC
AFTER_MIDNIGHT = datetime(2020, 12, 31, 23, 30, tzinfo=UTC)


def rates(category: str, old: str, new: str) -> list[dict[str, str]]:
    return [
        {
            "category": category,
            "percent": old,
            "valid_from": "2020-07-01",
            "valid_until": "2020-12-31",
        },
        {"category": category, "percent": new, "valid_from": "2021-01-01"},
    ]


#: the H2-2020 reduction: 16 % / 5 % until 2020-12-31, 19 % / 7 % from 2021-01-01
BERLIN_REGISTER: dict[str, Any] = {
    "register": {"timezone": "Europe/Berlin"},
    "vat_rates": [
        *rates("NORMAL", "16", "19"),
        *rates("REDUCED", "5", "7"),
        {"category": "NOT_TAXABLE", "percent": "0", "valid_from": "2000-01-01"},
    ],
}


class FixedClock:
    """The daemon's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_business_day_is_the_date_in_the_zone() -> None:
    assert business_day(BEFORE_MIDNIGHT, BERLIN) == date(2020, 12, 31)
    assert business_day(AFTER_MIDNIGHT, BERLIN) == date(2021, 1, 1)
    assert business_day(AFTER_MIDNIGHT, UTC) == date(2020, 12, 31)
    summer = datetime(2021, 6, 30, 22, 30, tzinfo=UTC)  # CEST, UTC+2: 00:30 on 1 July
    assert business_day(summer, BERLIN) == date(2021, 7, 1)
    with pytest.raises(ValueError, match="aware"):
        business_day(datetime(2021, 1, 1), BERLIN)


def sell(pos: PosdClient) -> sale_pb2.Sale:
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="KAFFEE")
    pos.add_payment(sale_id, CASH, 1000)
    pos.post_sale(sale_id)
    return pos.get_sale(sale_id)


def pickup(pos: PosdClient, day: str) -> sale_pb2.Sale:
    req = sale_pb2.SetPickupDateRequest(
        request_id=new_request_id(), sale_id=pos.create_sale().sale_id, pickup_date=day
    )
    return pos.call(pos.sales.SetPickupDate, req).sale


def test_vat_rate_pickup_and_z_follow_the_registers_calendar_at_midnight(
    tmp_path: Path,
) -> None:
    clock = FixedClock(BEFORE_MIDNIGHT)
    running = start_in_thread(tmp_path / "state", BERLIN_REGISTER, clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)

            # 23:30 in Berlin on 31 December: the old rate, the old day
            old = sell(pos)
            assert [ln.vat_rate for ln in old.lines] == ["16"]
            assert pickup(pos, "2020-12-31").pickup_date == "2020-12-31"  # today, not past
            close_as_expected(pos)
            with pytest.raises(PosdError) as err:
                pos.z_closing("2021-01-01")
            assert err.value.reason == "BUSINESS_DATE_IN_FUTURE"
            assert "today (2020-12-31)" in err.value.field_violations[0][1]
            assert pos.z_closing().business_date == "2020-12-31"

            # 00:30 in Berlin on 1 January, still 31 December in UTC: the new rate
            clock.now = AFTER_MIDNIGHT
            pos.ensure_shift()
            new = sell(pos)
            assert [ln.vat_rate for ln in new.lines] == ["19"]
            # the receipts show Berlin's wall clock, not UTC's
            paper = printed(running, f"Beleg-Nr. {new.receipt_number}")
            assert "31.12.2020 23:30:00" in paper  # receipt 1, 22:30 UTC
            assert "01.01.2021 00:30:00" in paper  # receipt 2, 23:30 UTC
            assert "31.12.2020 22:30:00" not in paper
            with pytest.raises(PosdError) as err:
                pickup(pos, "2020-12-31")
            assert err.value.reason == "PICKUP_DATE_IN_PAST"
            close_as_expected(pos)
            assert pos.z_closing().business_date == "2021-01-01"

            # DATEV: BelegDatum (TTMM) and the file names are dates on Berlin's calendar;
            # TTMM has no year, so the period is cut at Berlin's new year into two files
            start = datetime(2020, 12, 31, tzinfo=BERLIN)
            old_year, new_year = pos.export_cash_book(start, start + timedelta(days=2))
            assert old_year.name == "kassenbuch_alle_belege_20201231_20201231.csv"
            assert new_year.name == "kassenbuch_alle_belege_20210101_20210101.csv"
            dated = [
                {(r[2], r[3]) for r in rows[1:] if r[2] in ("1", "2")}
                for rows in (
                    list(csv.reader(io.StringIO(f.content.decode("utf-8")), delimiter=";"))
                    for f in (old_year, new_year)
                )
            ]
            assert dated == [{("1", "3112")}, {("2", "0101")}]
    finally:
        running.stop()


def test_a_register_in_utc_keeps_the_utc_date(tmp_path: Path) -> None:
    """The same moment on a register configured "UTC": still 31 December, old rate."""
    clock = FixedClock(AFTER_MIDNIGHT)
    overrides = {**BERLIN_REGISTER, "register": {"timezone": "UTC"}}
    running = start_in_thread(tmp_path / "state", overrides, clock=clock)
    try:
        with running.client() as pos:
            pos.upsert_item("KAFFEE", "Kaffee", 250)
            assert [ln.vat_rate for ln in sell(pos).lines] == ["16"]
            close_as_expected(pos)
            assert pos.z_closing().business_date == "2020-12-31"
    finally:
        running.stop()


@pytest.mark.parametrize(
    "name", ["Europe/Berlim", "europe/berlin", "Europe", "../etc/passwd", "CET-1CEST"]
)
def test_an_unknown_time_zone_is_refused_naming_the_key(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, {"state": {"dir": str(tmp_path)}, "register": {"timezone": name}})
    assert f"register.timezone: unknown time zone {name!r}" in str(err.value)


def test_the_default_is_the_systems_zone_and_a_bad_tz_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(None, {"state": {"dir": str(tmp_path)}, "metrics": {"listen": ""}})
    assert config.register.timezone == ""
    monkeypatch.setenv("TZ", "Europe/Vienna")
    assert config.zone() == ZoneInfo("Europe/Vienna")
    monkeypatch.setenv("TZ", ":Europe/Warsaw")
    assert config.zone() == ZoneInfo("Europe/Warsaw")
    monkeypatch.setenv("TZ", "")
    assert config.zone() == UTC
    monkeypatch.setenv("TZ", "Mars/Olympus_Mons")
    with pytest.raises(StartupError, match=r"TZ.*register\.timezone"):
        asyncio.run(start(config))
    assert not (tmp_path / "posd.lock").exists()  # refused before anything started
