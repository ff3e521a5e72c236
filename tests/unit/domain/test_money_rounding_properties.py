"""Property tests of the invariants a fiscal register keeps in money, VAT, currency
conversion and payment rounding (domain/money.py, vat.py, pricing.py, payments.py).

Any wrong cent is a defect: net + tax == gross per rate, the rates add up to the document,
rounding is half away from zero and symmetric for refunds, cash rounding touches the cash
part only, change is never negative, huge amounts are refused as domain errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.money import MAX_MINOR, Money, check_currency, format_minor
from posd_daemon.domain.payments import PaymentMethod, round_to_step
from posd_daemon.domain.pricing import (
    convert_price,
    local_amount,
    net_within_gross,
    percent_of,
    split_converted,
)
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.vat import (
    PriceBasis,
    VatCategory,
    VatRounding,
    tax_from_gross,
    tax_from_net,
    vat_totals,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
INT64_MAX = 2**63 - 1

PERCENTS = st.sampled_from(
    [Decimal(0), Decimal(19), Decimal(7), Decimal("8.1"), Decimal("2.6"), Decimal("10.7"),
     Decimal("5.5"), Decimal(25), Decimal(21), Decimal("3.8")]
)  # fmt: skip
CATEGORIES = st.sampled_from(list(VatCategory))
AMOUNTS = st.integers(-(10**11), 10**11)
LINE_PARTS = st.lists(st.tuples(CATEGORIES, PERCENTS, AMOUNTS), max_size=30)
# rates with up to 6 decimals, realistic and extreme ones (parse_rate takes 12: the
# conversion tests of test_currencies_review_h21_conversion.py cover those)
RATES = st.one_of(
    st.sampled_from([Decimal("0.9412"), Decimal("160.25"), Decimal("0.0025"), Decimal("24.5")]),
    st.integers(1, 10**9).map(lambda n: Decimal(n).scaleb(-6)),
)
# cash steps per currency (shop.cash_rounding): CHF 0.05, DKK 0.50, SEK/NOK/CZK 1.00
CASH_STEPS = [("CHF", 5), ("DKK", 50), ("SEK", 100), ("NOK", 100), ("CZK", 100)]


# -- rounding primitives ------------------------------------------------------------------


@given(st.integers(-(10**13), 10**13), PERCENTS)
def test_tax_is_symmetric_for_refunds(amount: int, percent: Decimal) -> None:
    assert tax_from_gross(-amount, percent) == -tax_from_gross(amount, percent)
    assert tax_from_net(-amount, percent) == -tax_from_net(amount, percent)
    assert percent_of(-amount, percent) == -percent_of(amount, percent)


@given(st.integers(-(10**13), 10**13), st.sampled_from([s for _, s in CASH_STEPS] + [1, 10]))
def test_round_to_step_is_nearest_half_up_and_symmetric(amount: int, step: int) -> None:
    r = round_to_step(amount, step)
    assert r % step == 0
    assert abs(r - amount) * 2 <= step
    assert round_to_step(-amount, step) == -r
    if (abs(amount) % step) * 2 == step:  # an exact half goes away from zero
        assert abs(r) > abs(amount)


@pytest.mark.parametrize(
    ("amount", "step", "rounded"),
    [
        # CHF 0.05 (Rappenrundung): .01/.02 down, .03/.04 up, .025 cannot occur
        (1741, 5, 1740), (1742, 5, 1740), (1743, 5, 1745), (1747, 5, 1745), (1748, 5, 1750),
        # DKK 0.50: .01-.24 down, .25-.74 to .50, .75-.99 up
        (1024, 50, 1000), (1025, 50, 1050), (1074, 50, 1050), (1075, 50, 1100),
        # SEK/NOK/CZK 1.00: .50 up
        (1049, 100, 1000), (1050, 100, 1100), (-1050, 100, -1100), (-1049, 100, -1000),
        (-1743, 5, -1745), (-1025, 50, -1050),
    ],
)  # fmt: skip
def test_cash_steps_pinned(amount: int, step: int, rounded: int) -> None:
    assert round_to_step(amount, step) == rounded


# -- VAT per rate -------------------------------------------------------------------------


@given(LINE_PARTS, st.sampled_from(list(PriceBasis)), st.sampled_from(list(VatRounding)))
def test_vat_totals_add_up_exactly(
    parts: list[tuple[VatCategory, Decimal, int]], basis: PriceBasis, rounding: VatRounding
) -> None:
    totals = vat_totals(parts, basis, rounding)
    assert len({(t.category, t.percent) for t in totals}) == len(totals)
    for t in totals:
        assert t.net + t.tax == t.gross
        group = [a for c, p, a in parts if (c, p) == (t.category, t.percent)]
        exact_base = Decimal(sum(group))
        if basis is PriceBasis.GROSS:
            assert t.gross == sum(group)
            exact = exact_base * t.percent / (100 + t.percent)
        else:
            assert t.net == sum(group)
            exact = exact_base * t.percent / 100
        # once per document: within half a cent; per line: half a cent per line
        slack = Decimal("0.5") * (1 if rounding is VatRounding.DOCUMENT else max(len(group), 1))
        assert abs(t.tax - exact) <= slack
        if t.percent == 0:
            assert t.tax == 0
    key = "gross" if basis is PriceBasis.GROSS else "net"
    assert sum(getattr(t, key) for t in totals) == sum(a for _, _, a in parts)
    # a refund of the same lines is the exact mirror image
    mirrored = vat_totals([(c, p, -a) for c, p, a in parts], basis, rounding)
    assert [(t.gross, t.net, t.tax) for t in mirrored] == [
        (-t.gross, -t.net, -t.tax) for t in totals
    ]


@given(st.integers(0, 10**13), PERCENTS)
def test_net_within_gross_is_the_largest_net_not_above(gross: int, percent: Decimal) -> None:
    net = net_within_gross(gross, percent)
    assert net >= 0
    assert net + tax_from_net(net, percent) <= gross
    assert (net + 1) + tax_from_net(net + 1, percent) > gross


# -- discounts and vouchers spread over rates ---------------------------------------------


@given(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=8),
    st.sampled_from(
        [
            Decimal("0.9412"),
            Decimal("1.0837"),
            Decimal("160.25"),
            Decimal("0.0025"),
            Decimal("3"),
            Decimal("7"),
        ]
    ),
)
@example([1, 1, 1], Decimal(3))  # each 0.00333: 0 each, the sum 0.01: one gets it
@example([2, 2, 2, 2], Decimal("3"))  # each 0.0067 -> 0.01, the sum 0.0267 -> 0.03
def test_split_converted_keeps_parts_signed_and_sums(amounts: list[int], rate: Decimal) -> None:
    def conv(a: int) -> int:
        return local_amount(a, currency="CHF", local_currency="EUR", rate=rate)

    total = conv(sum(amounts))
    parts = split_converted(amounts, total, conv)
    assert sum(parts) == total
    # a rate's share never turns negative (nor a refund's positive)
    assert all(p >= 0 for p in parts)
    # the few units the separate roundings miss are spread by size (documented rule, the
    # one the signed processData and the exports share): each part moves by at most them
    miss = abs(total - sum(conv(a) for a in amounts))
    assert all(abs(p - conv(a)) <= miss for p, a in zip(parts, amounts, strict=True))


@given(
    st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=8),
    st.sampled_from([Decimal("0.9412"), Decimal("1.0837"), Decimal(3), Decimal("0.0025")]),
)
def test_split_converted_is_symmetric(amounts: list[int], rate: Decimal) -> None:
    def conv(a: int) -> int:
        return local_amount(a, currency="CHF", local_currency="EUR", rate=rate)

    parts = split_converted(amounts, conv(sum(amounts)), conv)
    negated = split_converted([-a for a in amounts], conv(-sum(amounts)), conv)
    assert negated == [-p for p in parts]
    assert sum(parts) == conv(sum(amounts))


# -- currencies -----------------------------------------------------------------------------


@given(st.integers(0, 10**10), RATES, st.sampled_from(["CHF", "JPY", "EUR", "HUF"]))
def test_round_trip_loses_at_most_the_rounding(price: int, rate: Decimal, to: str) -> None:
    """A local price converted to the sale's currency and back differs from the original by
    at most what one minor unit of the sale's currency is worth locally (half of it from
    each rounding), plus the final half unit."""
    local = "EUR"
    assume(to != local)
    foreign = convert_price(price, vat_rate=Decimal(19), from_basis=PriceBasis.GROSS,
                            to_basis=PriceBasis.GROSS, from_currency=local, to_currency=to,
                            rate=rate)  # fmt: skip
    back = local_amount(foreign, currency=to, local_currency=local, rate=rate)
    shift = {"JPY": 0}.get(to, 2) - 2
    unit_in_local = Decimal(1).scaleb(-shift) / rate  # one foreign minor unit, locally
    assert abs(back - price) <= unit_in_local / 2 + Decimal("0.5")


def test_currencies_without_and_with_three_decimals() -> None:
    assert check_currency("JPY") == "JPY"
    assert format_minor(1600, "JPY") == "1600"
    assert convert_price(10000, vat_rate=Decimal(19), from_basis=PriceBasis.GROSS,
                         to_basis=PriceBasis.GROSS, from_currency="EUR", to_currency="JPY",
                         rate=Decimal("160.25")) == 16025  # fmt: skip
    # 3-decimal currencies (KWD, BHD) are not taken: the fiscal formats (processData,
    # DSFinV-K) have 2 decimals; refused clearly rather than mis-scaled
    for code in ("KWD", "BHD"):
        with pytest.raises(DomainError) as err:
            check_currency(code)
        assert err.value.reason == "UNKNOWN_CURRENCY"


# -- payments: cash rounding only on the cash part ----------------------------------------


def sale_of(currency: str, amounts: list[int], step: int) -> Sale:
    s = Sale("s1", "REG-1", "1", currency, NOW, cash_step=step)
    for i, a in enumerate(amounts):
        if a >= 0:
            s.add_line(Item(f"A{i}", "A", a, currency, VatCategory.NORMAL), Decimal(1),
                       Decimal(19))  # fmt: skip
        else:
            s.add_fixed_line(LineKind.RETURN, name="R", amount=a,
                             vat_category=VatCategory.NORMAL, vat_rate=Decimal(19))  # fmt: skip
    return s


@settings(max_examples=300)
@given(
    st.sampled_from(CASH_STEPS),
    st.integers(1, 10**7),
    st.integers(0, 100),
    st.integers(0, 10**4),
)
def test_mixed_card_and_cash_rounds_only_the_cash_rest(
    cs: tuple[str, int], total: int, card_pct: int, extra_steps: int
) -> None:
    currency, step = cs
    s = sale_of(currency, [total], step)
    assert s.total == total
    card = total * card_pct // 100
    if card:
        s.add_payment(PaymentMethod.CARD, card, currency, rounding_step=1)
    rest = total - card
    rounded = round_to_step(rest, step)
    if rest:
        tendered = rounded + extra_steps * step
        if tendered == 0:
            s.add_payment(PaymentMethod.CASH, 0, currency, rounding_step=step)
        else:
            s.add_payment(PaymentMethod.CASH, tendered, currency, rounding_step=step)
        assert s.rounding == rounded - rest
        assert s.change == tendered - rounded >= 0
    else:
        assert s.rounding == 0
        assert s.change == 0
    assert abs(s.rounding) * 2 <= step
    assert s.open_amount == 0
    # the card paid exact cents, unchanged
    assert [p.amount for p in s.payments if p.method is PaymentMethod.CARD] == (
        [card] if card else []
    )
    s.post(1, NOW)
    kept = sum(k for _, k in s.kept_amounts())
    assert kept == s.total + s.rounding
    assert all(k >= 0 for _, k in s.kept_amounts())


@settings(max_examples=200)
@given(st.sampled_from(CASH_STEPS), st.integers(1, 10**7))
def test_cash_refund_rounds_as_the_mirrored_sale(cs: tuple[str, int], amount: int) -> None:
    currency, step = cs
    sale = sale_of(currency, [amount], step)
    sale.add_payment(PaymentMethod.CASH, 0, currency, rounding_step=step)
    refund = sale_of(currency, [amount, -2 * amount], step)
    assert refund.total == -amount
    if refund.open_amount_cash == 0:  # all of it rounds away: settled by 0.00
        return
    refund.add_payment(PaymentMethod.CASH, 0, currency, rounding_step=step)
    assert refund.payments[0].amount == -sale.payments[0].amount
    assert refund.rounding == -sale.rounding
    assert refund.change == 0
    refund.post(1, NOW)


# -- range -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "quantity"), [(MAX_MINOR, Decimal(100_000)), (10**12, Decimal(20))]
)
def test_huge_lines_are_refused_as_out_of_range(price: int, quantity: Decimal) -> None:
    s = Sale("s1", "REG-1", "1", "EUR", NOW)
    with pytest.raises(DomainError) as err:
        s.add_line(Item("A", "A", price, "EUR", VatCategory.NORMAL), quantity, Decimal(19))
    assert err.value.reason == "AMOUNT_OUT_OF_RANGE"
    assert s.lines == []


def test_a_foreign_total_whose_local_value_is_out_of_range_is_refused() -> None:
    s = Sale("s1", "REG-1", "1", "CHF", NOW, local_currency="EUR",
             exchange_rate=Decimal("0.000001"))  # fmt: skip
    item = Item("A", "A", 10**13, "EUR", VatCategory.NORMAL)
    refused: DomainError | None = None
    for _ in range(10):  # 10 x 10^18 EUR minor units would not fit a SQLite INTEGER
        try:
            s.add_line(item, Decimal(100_000), Decimal(19))
        except DomainError as err:
            refused = err
            break
    assert refused is not None
    assert refused.reason == "AMOUNT_OUT_OF_RANGE"
    assert abs(s.total_local) <= MAX_MINOR


def test_money_refuses_out_of_range() -> None:
    with pytest.raises(DomainError):
        Money(MAX_MINOR + 1, "EUR")
    assert (Money(MAX_MINOR, "EUR") - Money(MAX_MINOR, "EUR")).minor == 0


@settings(max_examples=400)
@given(
    st.sampled_from(CASH_STEPS),
    st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=4),
    st.lists(st.tuples(st.booleans(), st.integers(0, 10**6)), max_size=4),
)
def test_any_payment_order_settles_exactly(
    cs: tuple[str, int], lines: list[int], pays: list[tuple[bool, int]]
) -> None:
    """Cards and cash in any order, sales and refunds: whatever is accepted leaves a
    rounding of at most half a step on the cash part, change never negative, and the
    kept payments equal the total plus the rounding."""
    currency, step = cs
    goods = [abs(a) for a in lines]
    returns = [-abs(a) for a in lines[1:] if a < 0]
    assume(sum(goods) > 0)
    s = sale_of(currency, goods, step)
    for r in returns:
        if s.total + r < -MAX_MINOR:
            break
        s.add_fixed_line(LineKind.RETURN, name="R", amount=r,
                         vat_category=VatCategory.NORMAL, vat_rate=Decimal(19))  # fmt: skip
    refund = s.total < 0
    for is_cash, amount in pays:
        signed = -amount if refund else amount
        method = PaymentMethod.CASH if is_cash else PaymentMethod.CARD
        try:
            s.add_payment(method, signed, currency, rounding_step=step if is_cash else 1)
        except DomainError:
            continue
    for method, st_ in ((PaymentMethod.CARD, 1), (PaymentMethod.CASH, step)):
        if s.open_amount == 0 and not (s.exact_rest and s.open_amount_cash == 0):
            break
        try:
            s.add_payment(method, 0, currency, rounding_step=st_)
        except DomainError:
            continue
    s.settle_rest_in_cash()
    if s.open_amount != 0:
        return
    cash_part = s.total - sum(p.amount for p in s.payments if not p.method.is_cash)
    assert abs(s.rounding) * 2 <= step
    if any(p.method.is_cash for p in s.payments):
        assert s.rounding == round_to_step(cash_part, step) - cash_part
    else:
        assert s.rounding == 0
    assert s.change >= 0
    s.post(1, NOW)
    kept = [k for _, k in s.kept_amounts()]
    assert sum(kept) == s.total + s.rounding
    assert all((k >= 0) if not refund else (k <= 0) for k in kept)
