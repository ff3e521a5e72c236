"""The odd cent of a document discount between two equal lines goes to the same line
whatever the order of the sale's lines: it went to whichever came first, and a percent
discount given on one of them (a shop's "Aktion") followed that cent, so the same basket
had another total in another order (found by test_random_sale_money_h71's shuffle)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.sale import Sale, allocate
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def totals(s: Sale) -> tuple[int, list[tuple[int, int, int]]]:
    return s.total, [(vt.gross, vt.net, vt.tax) for vt in s.vat_totals()]


def test_the_odd_cent_and_a_discount_following_it_do_not_depend_on_line_order() -> None:
    s = Sale("s1", "REG-1", "1", "EUR", NOW)
    item = Item("I1", "Kaugummi", 7, "EUR", VatCategory.REDUCED)
    s.add_line(item, Decimal(1), Decimal(7))
    second = s.add_line(item, Decimal(1), Decimal(7))
    s.set_discount(Decimal("33.33"))  # 4.67 of 0.14 -> 0.05: 0.02 + 0.02 and one odd cent
    # 10 % of 0.05 (the odd cent went to the other line) or of 0.04 (it came to this one)
    s.add_discount_percent(Decimal(10), [second.line_id], "Aktion")
    before = totals(s)
    s.lines = list(reversed(s.lines))
    s.refresh()
    assert totals(s) == before


def test_ties_go_by_their_own_key_not_by_position() -> None:
    assert allocate(5, [7, 7], [(1, "1"), (1, "2")]) == [3, 2]
    assert allocate(5, [7, 7], [(1, "2"), (1, "1")]) == [2, 3]
    # line "10" comes after line "9"
    assert allocate(5, [7, 7], [(2, "10"), (1, "9")]) == [2, 3]
    assert allocate(5, [7, 7]) == [3, 2]  # without keys: the first
