"""DATEV Kassenbuch online: the default SKR03 accounts a tax adviser imports.

* A cash difference (DifferenzSollIst) was booked on SKR03 2150, which is "Aufwendungen
  aus der Währungsumrechnung" (currency translation losses; NWB Kontierungslexikon,
  "Fremdwährung bei Forderungen"), whatever its sign: a till shortage became an exchange
  loss and a surplus a negative exchange loss. Haufe ("Kassenführung: Kassenfehlbeträge
  und Mehrbeträge") books a shortage on 2309 "Sonstige Aufwendungen unregelmäßig" and a
  surplus on 2709 "Sonstige Erträge unregelmäßig" (SKR04 6969 / 4839).
* Revenue at the §24 UStG average rates (AVERAGE_24_3, AVERAGE_24_1) went to 8300
  "Erlöse 7 % USt": revenue at 7.8 % or 5.5 % on the 7 % revenue account. SKR03 has
  8190 "Erlöse, die mit den Durchschnittssätzen des § 24 UStG versteuert werden".
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from posd_daemon.exports import datev
from posd_daemon.ops.config import ConfigError, load
from tests.conftest import running_daemon
from tests.integration.day.conftest import Day

CASH = common_pb2.PAYMENT_METHOD_CASH


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline=""), delimiter=";"))[1:]


def _period() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(days=1)


def test_cash_differences_go_to_irregular_expense_or_income_not_exchange_losses(
    day: Day,
) -> None:
    dc = day.day
    dc.open_shift(PosdClient.cash_counts(total=10000))
    dc.close_shift(PosdClient.cash_counts(total=9950))  # 0.50 short
    dc.open_shift(PosdClient.cash_counts(total=9950))
    dc.close_shift(PosdClient.cash_counts(total=10020))  # 0.70 over

    (book,) = dc.export_datev(*_period())
    got = [(r[1], r[7]) for r in _rows(book.content)]
    assert got == [("-0,50", "2309"), ("+0,70", "2709")]
    assert "2150" not in {r[7] for r in _rows(book.content)}

    # a shop that names one account for its differences (SKR04 6969, say) gets it for
    # both directions, as before: the surplus account is not left on SKR03
    one = datev.Accounts().with_overrides(movements={"DIFFERENCE": "6969"})
    # ... and one that names both gets each
    two = datev.Accounts().with_overrides(
        movements={"DIFFERENCE": "6969"}, difference_surplus="4839"
    )
    with sqlite3.connect(day.running.config.database_path) as conn:
        (same,) = datev.cash_book(conn, "REG-1", "EUR", *_period(), one, zone=UTC)
        (each,) = datev.cash_book(conn, "REG-1", "EUR", *_period(), two, zone=UTC)
    assert [(r[1], r[7]) for r in _rows(same[1])] == [("-0,50", "6969"), ("+0,70", "6969")]
    assert [(r[1], r[7]) for r in _rows(each[1])] == [("-0,50", "6969"), ("+0,70", "4839")]


def test_revenue_at_the_24_average_rates_is_not_booked_as_7_percent_revenue(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("EGGS", "Eier vom Hof", 300, vat_category=common_pb2.VAT_CATEGORY_AVERAGE_24_3)
    pos.upsert_item("WOOD", "Brennholz", 1000, vat_category=common_pb2.VAT_CATEGORY_AVERAGE_24_1)
    pos.upsert_item("MILK", "Milch", 150, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
    dc.open_shift(PosdClient.cash_counts(total=0))
    sale = pos.create_sale().sale_id
    for item in ("EGGS", "WOOD", "MILK"):
        pos.add_line(sale, item_id=item, quantity="1")
    pos.add_payment(sale, CASH, 1450)
    pos.post_sale(sale)

    (book,) = dc.export_cash_book(*_period())
    got = {(r[1], r[5], r[7]) for r in _rows(book.content)}
    # the 7 % account only for the 7 % revenue; the average rates on 8190
    assert got == {("+3,00", "7,80", "8190"), ("+10,00", "5,50", "8190"), ("+1,50", "7,00", "8300")}


def test_the_config_sets_the_surplus_account_and_refuses_a_bad_one(tmp_path: Path) -> None:
    """[datev] difference_surplus reaches the export through the daemon's config; a value
    that is no account number is refused at load, naming the key."""
    with pytest.raises(ConfigError, match=r"datev\.difference_surplus"):
        load(None, {"state": {"dir": str(tmp_path / "x")}, "datev": {"difference_surplus": "4A"}})
    datev_config = {"movements": {"DIFFERENCE": "6969"}, "difference_surplus": "4839"}
    with (
        running_daemon(tmp_path / "state", {"datev": datev_config}) as running,
        running.client(open_shift=False) as pos,
    ):
        pos.open_shift(PosdClient.cash_counts(total=10000))
        pos.close_shift(PosdClient.cash_counts(total=9950))  # 0.50 short
        pos.open_shift(PosdClient.cash_counts(total=9950))
        pos.close_shift(PosdClient.cash_counts(total=10020))  # 0.70 over
        (book,) = pos.export_datev(*_period())
    got = [(r[1], r[7]) for r in _rows(book.content)]
    assert got == [("-0,50", "6969"), ("+0,70", "4839")]
