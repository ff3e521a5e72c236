"""What a Z closing refuses before it closes anything: a business date that is not a
plain YYYY-MM-DD date, lies ahead or goes back before the previous Z; and sales still
open or parked on the register (they would be posted into the next period)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from tests.integration.day.conftest import Day
from tests.support.cash import close_as_expected

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


def closings(day: Day) -> list[tuple[int, str]]:
    with sqlite3.connect(day.running.config.database_path) as c:
        return [tuple(r) for r in c.execute("SELECT z_nr, business_date FROM closings")]


def refused(day: Day, business_date: str) -> PosdError:
    before = closings(day)
    with pytest.raises(PosdError) as err:
        day.day.z_closing(business_date)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert [f for f, _ in err.value.field_violations] == ["business_date"]
    assert closings(day) == before  # nothing closed
    return err.value


def test_business_date_is_strict_not_ahead_and_never_goes_back(day: Day) -> None:
    day.day.open_shift([])
    close_as_expected(day.day)
    today = datetime.now(UTC).date()
    for text in (
        "2024W011",
        "2024-W01-1",
        "20240101",
        "2024-1-01",
        " 2024-01-01",
        "2024-01-01T00:00",
        "٢٠٢٤-٠١-٠١",
        "2024-02-30",
        "0000-01-01",
    ):
        assert refused(day, text).reason == "INVALID_DATE", text
    ahead = refused(day, (today + timedelta(days=2)).isoformat())
    assert ahead.reason == "BUSINESS_DATE_IN_FUTURE"
    assert "after today" in ahead.field_violations[0][1]
    assert refused(day, "2999-01-01").reason == "BUSINESS_DATE_IN_FUTURE"
    # before the register's first shift: no business day of this register
    early = refused(day, "1900-01-01")
    assert early.reason == "BUSINESS_DATE_TOO_EARLY"
    assert "first shift" in early.field_violations[0][1]

    z1 = day.day.z_closing(today.isoformat())
    assert z1.business_date == today.isoformat()
    # the next Z may not go back before the previous one's date
    back = refused(day, (today - timedelta(days=1)).isoformat())
    assert back.reason == "BUSINESS_DATE_TOO_EARLY"
    assert f"Z {z1.z_nr}" in back.field_violations[0][1]
    z2 = day.day.z_closing()  # the default: today
    assert z2.business_date == today.isoformat()
    assert closings(day) == [(z1.z_nr, today.isoformat()), (z2.z_nr, today.isoformat())]


def test_z_closing_refuses_open_and_parked_sales_but_not_empty_ones(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("W", "Wasser", 99)
    dc.open_shift([])
    sale_ids = []
    for _ in range(6):
        sale_id = pos.create_sale().sale_id
        pos.add_line(sale_id, item_id="W")
        sale_ids.append(sale_id)
    parked = sale_ids[-1]
    pos.call(pos.sales.ParkSale, sale_pb2.ParkSaleRequest(request_id="park-1", sale_id=parked))
    paid = pos.create_sale().sale_id  # paid, not posted
    pos.add_line(paid, item_id="W")
    pos.add_payment(paid, CARD, 99)  # (cash would keep the shift from closing)
    empty = pos.create_sale().sale_id  # no lines: abandoned, no reason to refuse
    close_as_expected(dc)

    with pytest.raises(PosdError) as err:
        dc.z_closing()
    e = err.value
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SALES_OPEN")
    assert e.metadata["count"] == "7"
    named = e.metadata["sale_ids"].split(",")
    assert named == sale_ids[:5]  # the oldest few
    assert "7 sale(s) still open or parked" in e.message and "and 2 more" in e.message
    assert closings(day) == []

    # posted or cancelled (the parked one resumed first), the Z goes ahead
    for sale_id in sale_ids[:-1]:
        pos.cancel_sale(sale_id)
    with pytest.raises(PosdError) as err:
        dc.z_closing()
    assert err.value.metadata["sale_ids"].split(",") == [parked, paid]
    pos.call(
        pos.sales.ResumeSale, sale_pb2.ResumeSaleRequest(request_id="resume-1", sale_id=parked)
    )
    pos.cancel_sale(parked)
    dc.open_shift([])
    pos.post_sale(paid)
    dc.close_shift(PosdClient.cash_counts(total=0))
    z = dc.z_closing()
    assert z.report.receipts == 1
    assert pos.get_sale(empty).state == sale_pb2.SALE_STATE_OPEN  # left to the sweep
