"""Vouchers (Gutscheine) have a validity: by default to the end of the 3rd year after the
year of issue, the regular limitation period (§§ 195, 199 BGB), taken on the register's
calendar. GetVoucher shows it, the receipt of the voucher sale prints it, and an expired
voucher is refused when redeemed (VOUCHER_EXPIRED) without changing anything. Before,
tracked vouchers never expired."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import sale_pb2

from posd_daemon.ops.config import ConfigError, load
from posd_daemon.store.database import _migrations
from tests.conftest import running_daemon
from tests.integration.api.test_sale_part2 import CASH, call, error, money, pay, post, seed
from tests.support.fullsale import printed

BERLIN = {"register": {"timezone": "Europe/Berlin"}}


class SetClock:
    """The daemon's clock at a moment the test sets (a sale on New Year's night, a
    redemption years later)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def sell(pos: PosdClient, code: str, value: int = 2500) -> sale_pb2.Sale:
    sid = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=sid, code="GIFT",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code=code, amount=money(value))  # fmt: skip
    pay(pos, sid, CASH, value)
    return post(pos, sid)


def redeem(pos: PosdClient, sid: str, code: str) -> None:
    call(pos, "AddVoucherLine", sale_id=sid, code=code, action=sale_pb2.VOUCHER_ACTION_REDEEM)


def voucher(pos: PosdClient, code: str) -> sale_pb2.Voucher:
    v: sale_pb2.Voucher = call(pos, "GetVoucher", code=code).voucher
    return v


def test_a_voucher_sold_on_new_years_night_is_valid_to_the_end_of_the_third_year_after(
    tmp_path: Path,
) -> None:
    """Sold at 00:30 in Berlin on 1 January 2025 (23:30 UTC on 31 December 2024): issued
    in 2025 on the register's calendar, valid until 31.12.2028 (not 2027, UTC's year)."""
    clock = SetClock(datetime(2024, 12, 31, 23, 30, tzinfo=UTC))
    with (
        running_daemon(tmp_path / "state", BERLIN, clock=clock) as running,
        running.client() as pos,
    ):
        seed(pos)
        sold = sell(pos, "GV-NY")
        assert voucher(pos, "GV-NY").valid_until == "2028-12-31"
        text = printed(running, "gültig bis")
        receipt = text[text.rindex(f"Beleg-Nr. {sold.receipt_number} ") :]
        assert "Gutschein-Nr. GV-NY" in receipt
        assert "gültig bis 31.12.2028" in receipt


def test_an_expired_voucher_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    clock = SetClock(datetime(2025, 6, 1, 10, 0, tzinfo=UTC))
    with (
        running_daemon(tmp_path / "state", BERLIN, clock=clock) as running,
        running.client() as pos,
    ):
        seed(pos)
        sell(pos, "GV-OLD")
        # the last day of its validity (Berlin): still redeemed
        clock.at = datetime(2028, 12, 31, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
        sid = pos.create_sale().sale_id
        call(pos, "AddLine", sale_id=sid, item_id="COFFEE")
        redeem(pos, sid, "GV-OLD")
        call(pos, "CancelSale", sale_id=sid)
        # 00:30 on 1 January 2029 in Berlin (still 2028 in UTC): expired
        clock.at = datetime(2028, 12, 31, 23, 30, tzinfo=UTC)
        before = (
            sqlite3.connect(running.config.database_path)
            .execute("SELECT * FROM vouchers WHERE code = 'GV-OLD'")
            .fetchall()
        )
        sid = pos.create_sale().sale_id
        call(pos, "AddLine", sale_id=sid, item_id="COFFEE")
        err = error(redeem, pos, sid, "GV-OLD")
        assert err.reason == "VOUCHER_EXPIRED", err
        assert err.metadata.get("valid_until") == "2028-12-31"
        assert "31.12.2028" in err.message
        assert [ln.kind for ln in pos.get_sale(sid).lines] == [sale_pb2.LINE_KIND_GOODS]
        after = (
            sqlite3.connect(running.config.database_path)
            .execute("SELECT * FROM vouchers WHERE code = 'GV-OLD'")
            .fetchall()
        )
        assert after == before
        v = voucher(pos, "GV-OLD")
        assert (v.valid_until, v.balance.amount_minor) == ("2028-12-31", 2500)


def test_a_voucher_expiring_while_its_sale_is_open_is_refused_at_posting(tmp_path: Path) -> None:
    clock = SetClock(datetime(2025, 6, 1, 10, 0, tzinfo=UTC))
    with (
        running_daemon(tmp_path / "state", BERLIN, clock=clock) as running,
        running.client() as pos,
    ):
        seed(pos)
        sell(pos, "GV-MID")
        clock.at = datetime(2028, 12, 31, 22, 50, tzinfo=UTC)
        sid = pos.create_sale().sale_id
        call(pos, "AddLine", sale_id=sid, item_id="COFFEE")
        redeem(pos, sid, "GV-MID")
        clock.at += timedelta(minutes=20)  # past midnight in Berlin
        err = error(post, pos, sid)
        assert err.reason == "VOUCHER_EXPIRED", err
        got = (
            sqlite3.connect(running.config.database_path)
            .execute("SELECT state, redeemed FROM vouchers WHERE code = 'GV-MID'")
            .fetchall()
        )
        assert got == [("ISSUED", 0)]


def test_schema_25_leaves_old_vouchers_without_expiry(tmp_path: Path) -> None:
    """A database of schema 24 has vouchers sold without a validity (none was printed
    for the customer): after the migration they still redeem, years later."""
    clock = SetClock(datetime(2023, 3, 15, 12, 0, tzinfo=UTC))
    with running_daemon(tmp_path / "state", clock=clock) as running, running.client() as pos:
        seed(pos)
        sell(pos, "GV-24")
    (twenty_five,) = [sql for version, sql in _migrations() if version == 25]
    with sqlite3.connect(running.config.database_path) as conn:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        conn.execute("ALTER TABLE vouchers DROP COLUMN valid_until")
        conn.executescript(twenty_five)
        conn.execute(f"PRAGMA user_version = {int(version)}")  # later migrations ran already
        assert conn.execute("SELECT code, valid_until FROM vouchers").fetchall() == [
            ("GV-24", None)
        ]
    clock.at = datetime(2031, 1, 5, 12, 0, tzinfo=UTC)
    with running_daemon(tmp_path / "state", clock=clock) as running, running.client() as pos:
        assert voucher(pos, "GV-24").valid_until == ""
        sid = pos.create_sale().sale_id
        call(pos, "AddLine", sale_id=sid, item_id="COFFEE")
        redeem(pos, sid, "GV-24")
        assert sale_pb2.LINE_KIND_VOUCHER_REDEMPTION in [ln.kind for ln in pos.get_sale(sid).lines]


def test_the_configured_validity_is_what_a_voucher_gets_and_its_receipt_prints(
    tmp_path: Path,
) -> None:
    """``vouchers.validity_years = 5``: sold in 2025, valid until 31.12.2030 (the
    setting reached the register's sale code, not only the config check)."""
    clock = SetClock(datetime(2025, 6, 1, 10, 0, tzinfo=UTC))
    config = {**BERLIN, "vouchers": {"validity_years": 5}}
    with (
        running_daemon(tmp_path / "state", config, clock=clock) as running,
        running.client() as pos,
    ):
        seed(pos)
        sold = sell(pos, "GV-5")
        assert voucher(pos, "GV-5").valid_until == "2030-12-31"
        text = printed(running, "gültig bis")
        assert "gültig bis 31.12.2030" in text[text.rindex(f"Beleg-Nr. {sold.receipt_number} ") :]
        assert not [w for w in sold.warnings if "VOUCHER" in w]  # a date, no warning


def test_validity_zero_means_vouchers_never_expire(tmp_path: Path) -> None:
    clock = SetClock(datetime(2025, 6, 1, 10, 0, tzinfo=UTC))
    config = {**BERLIN, "vouchers": {"validity_years": 0}}
    with (
        running_daemon(tmp_path / "state", config, clock=clock) as running,
        running.client() as pos,
    ):
        seed(pos)
        sell(pos, "GV-0")
        assert voucher(pos, "GV-0").valid_until == ""
        clock.at = datetime(2060, 1, 2, 10, 0, tzinfo=UTC)
        sid = pos.create_sale().sale_id
        call(pos, "AddLine", sale_id=sid, item_id="COFFEE")
        redeem(pos, sid, "GV-0")


@pytest.mark.parametrize("years", [-1, 1, 2, 31])
def test_a_validity_shorter_than_the_limitation_or_beyond_30_years_is_refused_at_load(
    years: int,
) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, {"vouchers": {"validity_years": years}})
    assert "vouchers.validity_years" in str(err.value)
    assert "§ 195" in str(err.value)


def test_the_validity_defaults_to_three_years_and_zero_means_none() -> None:
    assert load(None, {}).vouchers.validity_years == 3
    assert load(None, {"vouchers": {"validity_years": 0}}).vouchers.validity_years == 0
