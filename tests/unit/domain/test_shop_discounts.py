"""Shop discounts stay consistent with the goods they were given on, and the document
discount is rounded once per VAT rate (found by a review: totals went negative)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.sale import LineKind, Sale, parse_quantity
from posd_daemon.domain.vat import PriceBasis, VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
A = Item("A", "Item A", 1000, "EUR", VatCategory.NORMAL)
B = Item("B", "Item B", 1000, "EUR", VatCategory.NORMAL)
ROLL = Item("R", "Brötchen", 105, "EUR", VatCategory.REDUCED)
NINETEEN, SEVEN = Decimal(19), Decimal(7)


def new_sale() -> Sale:
    return Sale("s1", "REG-1", "1", "EUR", NOW)


def discounts(sale: Sale) -> list[int]:
    return [ln.amount for ln in sale.lines if ln.kind is LineKind.DISCOUNT]


def refused(reason: str, fn: object) -> None:
    with pytest.raises(DomainError) as err:
        fn()  # type: ignore[operator]
    assert err.value.reason == reason


def test_removing_goods_under_an_amount_discount_is_refused_and_changes_nothing() -> None:
    s = new_sale()
    s.add_line(A, Decimal(1), NINETEEN)
    b = s.add_line(B, Decimal(1), NINETEEN)
    s.add_discount_amount(1500, "Rabatt")
    refused("DISCOUNT_EXCEEDS_GOODS", lambda: s.remove_line(b.line_id))
    assert [ln.line_id for ln in s.lines] == ["1", "2", "3"]
    assert s.total == 500


def test_a_document_discount_on_top_of_a_full_amount_discount_is_refused() -> None:
    s = new_sale()
    s.add_line(A, Decimal(1), NINETEEN)
    s.add_discount_amount(1000, "Rabatt")
    refused("DISCOUNT_EXCEEDS_GOODS", lambda: s.set_discount(Decimal(50)))
    assert s.discount_percent == 0
    assert s.total == 0


def test_a_price_override_below_an_amount_discount_is_refused() -> None:
    s = new_sale()
    a = s.add_line(A, Decimal(1), NINETEEN)
    s.add_discount_amount(900, "Rabatt")
    refused("DISCOUNT_EXCEEDS_GOODS", lambda: s.override_price(a.line_id, 0))
    assert a.unit_price == 1000
    assert s.total == 100


def test_a_line_discount_below_an_amount_discount_is_refused() -> None:
    s = new_sale()
    a = s.add_line(A, Decimal(1), NINETEEN)
    s.add_discount_amount(900, "Rabatt")
    refused("DISCOUNT_EXCEEDS_GOODS", lambda: s.set_line_discount(a.line_id, Decimal(50)))
    assert a.discount_percent == 0
    assert s.total == 100


def test_a_percent_discount_follows_its_line() -> None:
    s = new_sale()
    a = s.add_line(A, Decimal(10), NINETEEN)
    s.add_discount_percent(Decimal(10), [a.line_id], "Aktion")
    assert discounts(s) == [-1000]
    s.update_line(a.line_id, Decimal(1))  # the review's case: it stayed -10.00 (100 %)
    assert discounts(s) == [-100]
    assert s.total == 900
    s.override_price(a.line_id, 555)
    assert discounts(s) == [-56]  # 10 % of 5.55 = 0.555 -> 0.56
    s.set_discount(Decimal(10))  # the document discount comes first: 5.55 - 0.56 = 4.99
    assert discounts(s) == [-50]
    assert s.total == 449


def test_removing_the_line_removes_its_percent_discount() -> None:
    s = new_sale()
    s.add_line(A, Decimal(1), NINETEEN)
    b = s.add_line(B, Decimal(2), NINETEEN)
    s.add_discount_percent(Decimal(20), [b.line_id], "Aktion")
    s.remove_line(b.line_id)
    assert discounts(s) == []
    assert s.total == 1000


def test_document_discount_is_rounded_once_per_rate() -> None:
    s = new_sale()
    s.add_line(ROLL, Decimal(1), SEVEN)
    for _ in range(4):
        s.add_line(ROLL, Decimal(1), SEVEN)
    s.set_discount(Decimal(10))
    # 10 % of 5.25 = 0.525 -> 0.53 (per line it was 5 x 0.11 = 0.55)
    assert sum(ln.doc_discount for ln in s.lines) == 53
    assert s.total == 525 - 53
    s.add_line(A, Decimal(1), NINETEEN)
    by_rate = {vt.percent: vt.gross for vt in s.vat_totals()}
    assert by_rate == {SEVEN: 525 - 53, NINETEEN: 900}


@given(
    st.lists(
        st.tuples(st.integers(0, 99_999), st.integers(1, 30), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 100),
)
def test_document_discount_is_each_rates_percent_exactly(
    lines: list[tuple[int, int, bool]], percent: int
) -> None:
    s = new_sale()
    for price, qty, reduced in lines:
        item = Item("X", "X", price, "EUR", VatCategory.REDUCED if reduced else VatCategory.NORMAL)
        s.add_line(item, Decimal(qty), SEVEN if reduced else NINETEEN)
    s.set_discount(Decimal(percent))
    for rate in (SEVEN, NINETEEN):
        group = [ln for ln in s.lines if ln.vat_rate == rate]
        goods = sum(ln.discounted for ln in group)
        expected = int((Decimal(goods) * percent / 100).quantize(Decimal(1), "ROUND_HALF_UP"))
        assert sum(ln.doc_discount for ln in group) == expected
        assert all(0 <= ln.doc_discount <= ln.discounted for ln in group)


@pytest.mark.parametrize("text", ["٣", "1_000", " 2", "+2", "2.", "1e2", "0x10", "2 ", "-1", ""])
def test_quantity_must_be_plain_ascii_decimal(text: str) -> None:
    if text == "":
        assert parse_quantity(text, fractional=False) == 1  # empty: one piece
        return
    with pytest.raises(DomainError) as err:
        parse_quantity(text, fractional=True)
    assert err.value.reason == "INVALID_QUANTITY"


def test_quantity_accepts_plain_decimals() -> None:
    assert parse_quantity("12", fractional=False) == 12
    assert parse_quantity("0.357", fractional=True) == Decimal("0.357")
    assert parse_quantity("1.500", fractional=True) == Decimal("1.5")


def test_net_exchange_lines_get_their_own_tax() -> None:
    """A net-priced exchange: the rate's tax is 0.01, its lines keep their own tax."""
    s = Sale("s2", "REG-1", "1", "EUR", NOW, vat_direction=PriceBasis.NET)
    s.add_fixed_line(
        LineKind.RETURN,
        name="old",
        amount=-100000,
        vat_category=VatCategory.NORMAL,
        vat_rate=NINETEEN,
        quantity=Decimal(-1),
    )
    s.add_fixed_line(
        LineKind.GOODS,
        name="new",
        amount=100003,
        vat_category=VatCategory.NORMAL,
        vat_rate=NINETEEN,
    )
    gross = s.line_gross_amounts()
    assert gross == {"1": -119000, "2": 119004}
    assert sum(gross.values()) == s.total == 4


@given(st.lists(st.integers(-50_000, 50_000), min_size=1, max_size=10))
def test_net_line_gross_amounts_add_up_and_stay_near_their_own_tax(amounts: list[int]) -> None:
    s = Sale("s3", "REG-1", "1", "EUR", NOW, vat_direction=PriceBasis.NET)
    for amount in amounts:
        s.add_fixed_line(
            LineKind.GOODS if amount >= 0 else LineKind.RETURN,
            name="x",
            amount=amount,
            vat_category=VatCategory.NORMAL,
            vat_rate=NINETEEN,
        )
    gross = s.line_gross_amounts()
    assert sum(gross.values()) == s.total
    for ln in s.lines:  # off by at most the rounding of the rate's tax (1 cent a line)
        assert abs(gross[ln.line_id] - ln.total) <= 1
