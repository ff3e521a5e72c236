from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import Sale, SaleState, format_quantity, parse_quantity
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BREAD = Item("1001", "Brot", 349, "EUR", VatCategory.REDUCED, ("4006381333931",))
COFFEE = Item("1002", "Kaffee", 899, "EUR", VatCategory.NORMAL)
APPLES = Item("1003", "Äpfel", 299, "EUR", VatCategory.REDUCED, unit="kg", fractional_quantity=True)
RATES = {VatCategory.REDUCED: Decimal(7), VatCategory.NORMAL: Decimal(19)}


def new_sale() -> Sale:
    return Sale("s1", "REG-1", "1", "EUR", NOW)


def add(sale: Sale, item: Item, qty: str = "1") -> None:
    sale.add_line(
        item, parse_quantity(qty, fractional=item.fractional_quantity), RATES[item.vat_category]
    )


def test_cash_overpayment_gives_change() -> None:
    sale = new_sale()
    add(sale, BREAD)
    add(sale, COFFEE, "2")
    assert sale.total == 349 + 2 * 899
    sale.add_payment(PaymentMethod.CASH, 5000, "EUR")
    assert sale.change == 5000 - 2147
    assert sale.open_amount == 0
    sale.post(1, NOW)
    assert sale.state is SaleState.POSTED


def test_card_may_not_exceed_open_amount() -> None:
    sale = new_sale()
    add(sale, COFFEE)
    with pytest.raises(DomainError) as err:
        sale.add_payment(PaymentMethod.CARD, 900, "EUR")
    assert err.value.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    assert sale.payments == []
    sale.add_payment(PaymentMethod.CARD, 899, "EUR")
    with pytest.raises(DomainError):
        sale.add_payment(PaymentMethod.CASH, 1, "EUR")  # nothing left to pay


def test_fractional_quantities_only_where_allowed() -> None:
    sale = new_sale()
    add(sale, APPLES, "0.333")
    assert sale.lines[0].total == 100  # 2.99 * 0.333 = 0.99567 -> 1.00
    with pytest.raises(DomainError) as err:
        add(sale, BREAD, "0.5")
    assert err.value.reason == "FRACTIONAL_QUANTITY_NOT_ALLOWED"


@pytest.mark.parametrize(
    "text", ["0", "-1", "abc", "1e999", "NaN", "Infinity", "0.0001", "100001", "1" * 30]
)
def test_bad_quantities_are_refused(text: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_quantity(text, fractional=True)
    assert err.value.reason == "INVALID_QUANTITY"


def test_quantity_formatting() -> None:
    assert format_quantity(parse_quantity("2", fractional=False)) == "2"
    assert format_quantity(parse_quantity("1.250", fractional=True)) == "1.25"
    assert format_quantity(parse_quantity("", fractional=False)) == "1"


def test_post_checks() -> None:
    sale = new_sale()
    with pytest.raises(DomainError) as err:
        sale.post(1, NOW)
    assert err.value.reason == "SALE_EMPTY"
    add(sale, COFFEE)
    with pytest.raises(DomainError) as err:
        sale.post(1, NOW)
    assert err.value.reason == "SALE_NOT_PAID"
    sale.add_payment(PaymentMethod.CARD, 899, "EUR")
    add(sale, BREAD)
    sale.remove_line("1")  # now the card pays more than the total
    with pytest.raises(DomainError) as err:
        sale.post(1, NOW)
    assert err.value.reason == "PAYMENT_EXCEEDS_OPEN_AMOUNT"


@given(st.sampled_from(["post", "cancel"]))
def test_closed_sales_never_change(how: str) -> None:
    sale = new_sale()
    add(sale, COFFEE)
    sale.add_payment(PaymentMethod.CASH, 1000, "EUR")
    if how == "post":
        sale.post(7, NOW)
    else:
        sale.cancel("customer left", NOW)
    before = copy.deepcopy(sale)
    for action in (
        lambda: add(sale, BREAD),
        lambda: sale.update_line("1", Decimal(3)),
        lambda: sale.remove_line("1"),
        lambda: sale.add_payment(PaymentMethod.CASH, 100, "EUR"),
        lambda: sale.remove_payment("1"),
        lambda: sale.post(8, NOW),
        lambda: sale.cancel("again", NOW),
    ):
        with pytest.raises(DomainError) as err:
            action()
        assert err.value.reason in ("SALE_ALREADY_POSTED", "SALE_ALREADY_CANCELLED")
    assert sale == before


class SaleMachine(RuleBasedStateMachine):
    """Random command sequences keep every invariant of the sale."""

    def __init__(self) -> None:
        super().__init__()
        self.sale = new_sale()

    @rule(
        item=st.sampled_from([BREAD, COFFEE, APPLES]),
        qty=st.sampled_from(["1", "2", "0.5", "0.333", "12", "-1", "x"]),
    )
    def add_line(self, item: Item, qty: str) -> None:
        before = copy.deepcopy(self.sale)
        try:
            add(self.sale, item, qty)
        except DomainError:
            assert self.sale == before

    @rule(method=st.sampled_from(list(PaymentMethod)), amount=st.integers(-100, 6000))
    def pay(self, method: PaymentMethod, amount: int) -> None:
        before = copy.deepcopy(self.sale)
        try:
            self.sale.add_payment(method, amount, "EUR")
        except DomainError:
            assert self.sale == before

    @precondition(lambda self: bool(self.sale.lines))
    @rule(data=st.data())
    def remove_line(self, data: st.DataObject) -> None:
        line = data.draw(st.sampled_from(self.sale.lines))
        try:
            self.sale.remove_line(line.line_id)
        except DomainError:
            assert self.sale.state is not SaleState.OPEN

    @precondition(lambda self: bool(self.sale.payments))
    @rule(data=st.data())
    def remove_payment(self, data: st.DataObject) -> None:
        p = data.draw(st.sampled_from(self.sale.payments))
        try:
            self.sale.remove_payment(p.payment_id)
        except DomainError:
            assert self.sale.state is not SaleState.OPEN

    @rule()
    def post(self) -> None:
        before = copy.deepcopy(self.sale)
        try:
            self.sale.post(1, NOW)
        except DomainError:
            assert self.sale == before
        else:
            assert before.state is SaleState.OPEN
            assert self.sale.paid >= self.sale.total
            assert self.sale.change <= self.sale.cash_paid

    @invariant()
    def totals_consistent(self) -> None:
        s = self.sale
        assert s.total == sum(line.total for line in s.lines)
        assert s.open_amount == max(0, s.total - s.paid)
        assert sum(v.gross for v in s.vat_totals()) == s.total
        assert len({line.line_id for line in s.lines}) == len(s.lines)


TestSaleMachine = SaleMachine.TestCase


def test_new_vat_rates_keep_the_gross_and_spare_lines_of_a_posted_receipt() -> None:
    sale = new_sale()
    add(sale, COFFEE, "2")
    add(sale, BREAD)
    returned = sale.lines[1]
    returned.ref_sale_id = "s0"  # as a return line: corrects that receipt at its rate
    total = sale.total
    new = {VatCategory.NORMAL: Decimal(16), VatCategory.REDUCED: Decimal(5)}
    assert sale.total_with_rates(new.__getitem__) == total
    assert [ln.vat_rate for ln in sale.lines] == [19, 7]  # total_with_rates changes nothing
    changed = sale.apply_vat_rates(new.__getitem__)
    assert [(ln.line_id, old) for ln, old in changed] == [(sale.lines[0].line_id, 19)]
    assert [ln.vat_rate for ln in sale.lines] == [16, 7]
    assert sale.total == total  # gross-priced: only the split changes
    assert {(v.percent, v.gross) for v in sale.vat_totals()} == {(16, 1798), (7, 349)}
