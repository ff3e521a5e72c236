"""ClosingService requests a client gets wrong: refused with INVALID_ARGUMENT naming the
field, and nothing changed (in-process daemon, the ClosingService on a real socket)."""

from __future__ import annotations

import pytest
from posd.client import PosdError, money
from posd.v1 import closing_pb2, common_pb2

from tests.integration.day.conftest import Day


def a_receipt(day: Day, cents: int) -> None:
    day.pos.upsert_item(f"I{cents}", "Ware", cents)
    s = day.pos.create_sale()
    day.pos.add_line(s.sale_id, item_id=f"I{cents}")
    day.pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CARD, cents)
    day.pos.post_sale(s.sale_id)


@pytest.mark.parametrize("field", ["gross_min", "gross_max", "net_min", "net_max"])
def test_a_receipt_filter_in_another_currency_is_refused_not_read_as_euros(
    day: Day, field: str
) -> None:
    """500 yen (no minor unit) was read as 5.00 EUR on a euro register: the list
    answered for another amount than the one asked for."""
    day.day.open_shift([])
    a_receipt(day, 899)
    req = closing_pb2.ListReceiptsRequest()
    getattr(req, field).CopyFrom(money(500, "JPY"))
    with pytest.raises(PosdError) as info:
        day.day.list_receipts(req)
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert [f for f, _ in info.value.field_violations] == [f"{field}.currency_code"]
    assert "EUR" in str(info.value)


@pytest.mark.parametrize("currency", ["", "EUR"])
def test_a_receipt_filter_in_the_register_currency_filters(day: Day, currency: str) -> None:
    day.day.open_shift([])
    a_receipt(day, 899)
    a_receipt(day, 250)
    req = closing_pb2.ListReceiptsRequest(gross_min=money(500, currency))
    assert [r.total.amount_minor for r in day.day.list_receipts(req).receipts] == [899]


def test_a_count_line_with_pieces_but_no_denomination_is_refused(day: Day) -> None:
    """``pieces: 3`` without its denomination was taken as a counted total of 0: the
    float of the shift booked as nothing, and its close a shortage that never was."""
    line = closing_pb2.CashCount(currency_code="EUR", pieces=3)
    with pytest.raises(PosdError) as info:
        day.day.open_shift([line])
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert [f for f, _ in info.value.field_violations] == ["counts.denomination_minor"]
    with pytest.raises(PosdError) as none:
        day.day.get_shift()
    assert none.value.reason == "SHIFT_NOT_FOUND"  # nothing was opened


def test_a_total_line_as_the_daemon_shows_it_is_taken_back(day: Day) -> None:
    """A total line comes back with pieces 1 (GetShift): a client that sends it again
    (a close counted as opened) is not refused."""
    opened = day.day.open_shift(day.day.cash_counts(total=5000))
    assert [(c.denomination_minor, c.pieces) for c in opened.opening_counts] == [(0, 1)]
    closed = day.day.close_shift(list(opened.opening_counts))
    assert closed.balances[0].difference.amount_minor == 0


def test_a_negative_receipt_number_is_named(day: Day) -> None:
    with pytest.raises(PosdError) as info:
        day.day.get_receipt(receipt_number=-1)
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert [f for f, _ in info.value.field_violations] == ["receipt_number"]
