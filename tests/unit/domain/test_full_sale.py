"""The full sale in the domain: VAT directions and rounding pinned to the cent, terms
(currency, direction) changes, discounts, variants, units, serials, pick-up dates.

Expected values are worked out by hand in the comments (round half up), not taken from
the code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.domain.catalog import Item, ItemType, Tracking, UnitOfMeasure, Variant
from posd_daemon.domain.customer import CustomerSnapshot
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.pricing import convert_price, local_amount
from posd_daemon.domain.receipt import ShopHeader, render_receipt
from posd_daemon.domain.sale import Sale, Terms, parse_quantity
from posd_daemon.domain.shop import DocumentType, RateSource, choose_document
from posd_daemon.domain.vat import PriceBasis, VatCategory, VatRounding, vat_totals

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
R7, R19 = Decimal(7), Decimal(19)
RATE = {VatCategory.REDUCED: R7, VatCategory.NORMAL: R19}
GROSS, NET = PriceBasis.GROSS, PriceBasis.NET
DOC, LINE = VatRounding.DOCUMENT, VatRounding.LINE

ROLL = Item("r", "Brötchen", 35, "EUR", VatCategory.REDUCED)
APPLES = Item("a", "Äpfel", 299, "EUR", VatCategory.REDUCED, unit="kg", fractional_quantity=True)
COFFEE = Item("c", "Kaffee", 899, "EUR", VatCategory.NORMAL)
GUM = Item("g", "Kaugummi", 79, "EUR", VatCategory.NORMAL)
SCREW = Item("s", "Schraube", 10, "EUR", VatCategory.NORMAL)


def sale(direction: PriceBasis = GROSS, rounding: VatRounding = DOC, **kw: object) -> Sale:
    return Sale(
        "s1", "REG-1", "1", "EUR", NOW, vat_direction=direction, vat_rounding=rounding, **kw
    )  # type: ignore[arg-type]


def add(s: Sale, item: Item, qty: str = "1", **kw: object) -> None:
    unit = kw.pop("unit", None)
    fractional = unit.fractional_quantity if unit is not None else item.fractional_quantity  # type: ignore[attr-defined]
    s.add_line(
        item, parse_quantity(qty, fractional=fractional), RATE[item.vat_category], unit=unit, **kw
    )  # type: ignore[arg-type]


def basket(s: Sale) -> Sale:
    add(s, ROLL, "3")
    add(s, APPLES, "0.333")
    add(s, COFFEE)
    add(s, GUM, "7")
    for _ in range(10):
        add(s, SCREW)
    return s


def totals(s: Sale) -> dict[str, tuple[int, int, int]]:
    return {f"{vt.percent:f}": (vt.gross, vt.net, vt.tax) for vt in s.vat_totals()}


# -- VAT directions and rounding, pinned ---------------------------------------------------------


def test_many_small_lines_gross_document_vs_line_rounding() -> None:
    parts = [(VatCategory.NORMAL, R19, 10)] * 10
    # document: 1.00 gross -> tax round(100*19/119 = 15.97) = 16
    assert [(t.gross, t.net, t.tax) for t in vat_totals(parts, GROSS, DOC)] == [(100, 84, 16)]
    # line: each round(10*19/119 = 1.597) = 2 -> 20
    assert [(t.gross, t.net, t.tax) for t in vat_totals(parts, GROSS, LINE)] == [(100, 80, 20)]


def test_many_small_lines_net_document_vs_line_rounding() -> None:
    parts = [(VatCategory.NORMAL, R19, 10)] * 10
    # document: 1.00 net -> tax 0.19 -> gross 1.19; line: each round(1.9) = 2 -> 0.20
    assert [(t.gross, t.net, t.tax) for t in vat_totals(parts, NET, DOC)] == [(119, 100, 19)]
    assert [(t.gross, t.net, t.tax) for t in vat_totals(parts, NET, LINE)] == [(120, 100, 20)]


def test_seven_percent_lines_both_directions() -> None:
    parts = [(VatCategory.REDUCED, R7, 99)] * 3
    # gross doc: 297*7/107 = 19.43 -> 19; gross line: 3 x round(6.48) = 18
    assert [(t.net, t.tax) for t in vat_totals(parts, GROSS, DOC)] == [(278, 19)]
    assert [(t.net, t.tax) for t in vat_totals(parts, GROSS, LINE)] == [(279, 18)]
    # net doc: 297*0.07 = 20.79 -> 21; net line: 3 x round(6.93) = 21
    assert [(t.gross, t.tax) for t in vat_totals(parts, NET, DOC)] == [(318, 21)]
    assert [(t.gross, t.tax) for t in vat_totals(parts, NET, LINE)] == [(318, 21)]


def test_mixed_basket_consumer_document_rounding() -> None:
    s = basket(sale())
    # 7 %: 3 x 0.35 = 1.05, 0.333 kg x 2.99 = 0.99567 -> 1.00; sum 2.05
    #      tax round(205*7/107 = 13.41) = 13
    # 19 %: 8.99 + 7 x 0.79 = 5.53 + 10 x 0.10 = 1.00 -> 15.52; tax round(247.80) = 248
    assert totals(s) == {"7": (205, 192, 13), "19": (1552, 1304, 248)}
    assert s.total == 1757


def test_mixed_basket_consumer_line_rounding() -> None:
    s = basket(sale(rounding=LINE))
    # 7 %: round(6.87) + round(6.54) = 7 + 7 = 14
    # 19 %: round(143.54) + round(88.29) + 10 x round(1.60) = 144 + 88 + 20 = 252
    assert totals(s) == {"7": (205, 191, 14), "19": (1552, 1300, 252)}
    assert s.total == 1757  # gross prices: the customer pays the same either way


def test_mixed_basket_business_document_rounding() -> None:
    s = basket(sale(NET))
    # net unit prices from the gross list prices, rounded once:
    #   roll 35/1.07 = 32.71 -> 33 (x3 = 99); apples 299/1.07 = 279.44 -> 279/kg,
    #   x 0.333 = 92.91 -> 93; coffee 899/1.19 = 755.46 -> 755;
    #   gum 79/1.19 = 66.39 -> 66 (x7 = 462); screw 10/1.19 = 8.40 -> 8
    assert [ln.unit_price for ln in s.lines[:4]] == [33, 279, 755, 66]
    # 7 %: net 192, tax round(13.44) = 13; 19 %: net 755+462+80 = 1297, tax round(246.43)
    assert totals(s) == {"7": (205, 192, 13), "19": (1543, 1297, 246)}
    assert s.total == 1748


def test_mixed_basket_business_line_rounding() -> None:
    s = basket(sale(NET, LINE))
    # 7 %: round(6.93) + round(6.51) = 14; 19 %: round(143.45) + round(87.78) + 10 x 2
    assert totals(s) == {"7": (206, 192, 14), "19": (1548, 1297, 251)}
    assert s.total == 1754


def test_net_priced_item_in_a_consumer_sale() -> None:
    wire = Item(
        "w",
        "Draht",
        279,
        "EUR",
        VatCategory.REDUCED,
        unit="kg",
        fractional_quantity=True,
        price_basis=NET,
    )
    s = sale()
    add(s, wire, "0.333")
    # 2.79 net -> 2.79 * 1.07 = 2.9853 -> 2.99 gross/kg; x 0.333 = 0.99567 -> 1.00
    assert s.lines[0].unit_price == 299
    assert s.total == 100


@given(
    st.lists(
        st.tuples(st.sampled_from([R7, R19]), st.integers(0, 100_000)), min_size=1, max_size=40
    ),
    st.sampled_from([GROSS, NET]),
    st.sampled_from([DOC, LINE]),
)
def test_net_plus_tax_is_gross_in_every_mode(
    lines: list[tuple[Decimal, int]], basis: PriceBasis, rounding: VatRounding
) -> None:
    cat = {R7: VatCategory.REDUCED, R19: VatCategory.NORMAL}
    for t in vat_totals([(cat[p], p, a) for p, a in lines], basis, rounding):
        assert t.net + t.tax == t.gross
        side = t.gross if basis is GROSS else t.net
        assert side == sum(a for p, a in lines if p == t.percent)


# -- currency --------------------------------------------------------------------------------


def conv(amount: int, currency: str, rate: str, to_basis: PriceBasis = GROSS) -> int:
    return convert_price(
        amount,
        vat_rate=R19,
        from_basis=GROSS,
        to_basis=to_basis,
        from_currency="EUR",
        to_currency=currency,
        rate=Decimal(rate),
    )


def test_price_conversion_rounds_once_and_respects_exponents() -> None:
    # 8.99 EUR gross at 0.9412 CHF/EUR = 8.461388 -> 8.46 CHF
    assert conv(899, "CHF", "0.9412") == 846
    # to JPY (no minor unit): 8.99 * 161.5 = 1451.885 -> 1452 yen
    assert conv(899, "JPY", "161.5") == 1452
    # gross EUR to net CHF in one step: 8.99 / 1.19 * 0.9412 = 7.1104 -> 7.11
    assert conv(899, "CHF", "0.9412", NET) == 711
    assert local_amount(1452, currency="JPY", local_currency="EUR", rate=Decimal("161.5")) == 899


def test_terms_change_reprices_lines_and_keeps_overrides() -> None:
    s = sale()
    add(s, COFFEE)
    add(s, GUM)
    s.override_price("2", 50)  # 0.50 EUR gross, manual
    chf = Terms("CHF", "EUR", Decimal("0.94"), RateSource.FIXED, None, GROSS, DOC)
    s.change_terms(chf)
    # list price re-derived: 8.99 * 0.94 = 8.4506 -> 8.45; override converted: 0.47
    assert [ln.unit_price for ln in s.lines] == [845, 47]
    assert s.total == 892
    assert s.total_local == 949  # 8.92 / 0.94 = 9.489 -> 9.49 EUR
    # back to EUR: the list price comes back exactly, the override via the old rate
    s.change_terms(Terms("EUR", "EUR"))
    assert [ln.unit_price for ln in s.lines] == [899, 50]


def test_currency_cannot_change_once_paid() -> None:
    s = sale()
    add(s, COFFEE)
    s.add_payment(PaymentMethod.CASH, 500, "EUR")
    with pytest.raises(DomainError) as err:
        s.change_terms(Terms("CHF", "EUR", Decimal("0.94"), RateSource.FIXED))
    assert err.value.reason == "CURRENCY_MISMATCH"
    assert s.currency == "EUR"
    with pytest.raises(DomainError) as err:
        s.add_payment(PaymentMethod.CASH, 500, "CHF")
    assert err.value.reason == "CURRENCY_MISMATCH"


# -- customers and discounts -------------------------------------------------------------------


def test_customer_change_recalculate_or_keep() -> None:
    s = sale()
    add(s, COFFEE)
    business = CustomerSnapshot("K1", "Muster GmbH", anonymous=False)
    net_terms = Terms("EUR", "EUR", direction=NET)
    s.set_customer(business, Decimal(10), net_terms, recalculate=False)
    # kept: no customer discount on the existing line, but the price is now net
    assert (s.lines[0].unit_price, s.lines[0].discount_percent) == (755, 0)
    s.set_customer(business, Decimal(10), net_terms, recalculate=True)
    # recalculated: the customer's 10 % apply: 7.55 - 0.755 -> 0.76 = 6.79 net
    assert s.lines[0].amount == 679
    assert s.total == 808  # 6.79 + round(1.2901) = 6.79 + 1.29
    add(s, GUM)  # new lines get the customer's discount right away
    assert s.lines[1].discount_percent == 10


def test_document_discount_is_allocated_per_line_and_rate() -> None:
    s = sale()
    add(s, COFFEE)  # 8.99, 19 %
    add(s, ROLL, "3")  # 1.05, 7 %
    s.set_line_discount("1", Decimal(10))  # 8.99 - 0.90 = 8.09
    s.set_discount(Decimal(5))  # 8.09 * 5 % = 0.4045 -> 0.40; 1.05 * 5 % = 0.0525 -> 0.05
    assert [ln.amount for ln in s.lines] == [769, 100]
    assert s.total == 869
    assert s.discount_total == 90 + 40 + 5
    assert totals(s) == {"7": (100, 93, 7), "19": (769, 646, 123)}


# -- variants, units, serials, pick-up ------------------------------------------------------


SHIRT = Item(
    "t",
    "T-Shirt",
    1999,
    "EUR",
    VatCategory.NORMAL,
    variants=(Variant("M", "M"), Variant("XL", "XL", price=2199)),
)
WATER = Item(
    "h2o",
    "Wasser",
    49,
    "EUR",
    VatCategory.NORMAL,
    units=(UnitOfMeasure("case", Decimal(6), 259), UnitOfMeasure("pack", Decimal(4))),
)
PHONE = Item("p", "Telefon", 19900, "EUR", VatCategory.NORMAL, tracking=Tracking.SERIAL)


def test_variants_units_and_serials() -> None:
    s = sale()
    with pytest.raises(DomainError) as err:
        add(s, SHIRT)
    assert err.value.reason == "VARIANT_REQUIRED"
    assert err.value.metadata["variants"] == "M,XL"
    add(s, SHIRT, variant=SHIRT.variants[1])
    assert (s.lines[0].name, s.lines[0].unit_price) == ("T-Shirt, XL", 2199)
    case = WATER.units[0]
    add(s, WATER, "2", unit=case)
    assert (s.lines[1].unit_price, s.lines[1].amount, s.lines[1].base_quantity) == (259, 518, 12)
    add(s, WATER, unit=WATER.units[1])  # no own price: 4 x 0.49
    assert s.lines[2].unit_price == 196
    with pytest.raises(DomainError) as err:
        add(s, WATER, "0.5", unit=case)
    assert err.value.reason == "FRACTIONAL_QUANTITY_NOT_ALLOWED"
    with pytest.raises(DomainError) as err:
        add(s, PHONE)
    assert err.value.reason == "SERIAL_REQUIRED"
    add(s, PHONE, serial="SN1")
    with pytest.raises(DomainError) as err:
        add(s, PHONE, serial="SN1")
    assert err.value.reason == "SERIAL_ALREADY_IN_SALE"
    with pytest.raises(DomainError) as err:
        s.update_line("4", Decimal(2))
    assert err.value.reason == "SERIAL_QUANTITY_IS_ONE"
    assert len(s.lines) == 4


def test_pickup_date_rules() -> None:
    s = sale()
    today = date(2026, 11, 22)
    s.set_pickup_date(date(2026, 11, 30), today=today, confirm_past=False, lines_follow=None)
    add(s, COFFEE)
    assert s.lines[0].pickup_date == date(2026, 11, 30)
    with pytest.raises(DomainError) as err:
        s.set_pickup_date(date(2026, 11, 1), today=today, confirm_past=False, lines_follow=True)
    assert err.value.reason == "PICKUP_DATE_IN_PAST"
    with pytest.raises(DomainError) as err:
        s.set_pickup_date(date(2026, 12, 5), today=today, confirm_past=False, lines_follow=None)
    assert err.value.reason == "LINES_FOLLOW_CHOICE_REQUIRED"
    s.set_pickup_date(date(2026, 12, 5), today=today, confirm_past=False, lines_follow=False)
    assert (s.pickup_date, s.lines[0].pickup_date) == (date(2026, 12, 5), date(2026, 11, 30))
    s.set_pickup_date(date(2026, 11, 1), today=today, confirm_past=True, lines_follow=True)
    assert s.lines[0].pickup_date == date(2026, 11, 1)


def test_document_type_by_limit_or_forced() -> None:
    assert choose_document(25_000, 25_000, None) is DocumentType.RECEIPT
    assert choose_document(25_001, 25_000, None) is DocumentType.INVOICE
    assert choose_document(25_001, 25_000, DocumentType.RECEIPT) is DocumentType.RECEIPT
    s = sale()
    add(s, Item("tv", "TV", 49900, "EUR", VatCategory.NORMAL, item_type=ItemType.INVENTORY))
    assert s.document is DocumentType.INVOICE
    s.force_document(DocumentType.RECEIPT)
    assert s.document is DocumentType.RECEIPT


def test_invoice_layout_with_recipient_discounts_and_both_currencies() -> None:
    s = sale()
    add(s, COFFEE, "2")
    add(s, APPLES, "0.333")
    s.set_line_discount("1", Decimal(10))
    s.set_discount(Decimal(5), code="SOMMER5")
    s.customer = CustomerSnapshot(
        "B1",
        "Hans Bau",
        company="Bau GmbH",
        street="Hauptstr. 1",
        postal_code="10115",
        city="Berlin",
        vat_id="DE999999999",
        anonymous=False,
    )
    s.change_terms(Terms("CHF", "EUR", Decimal("0.94"), RateSource.FIXED, None, NET))
    s.add_payment(PaymentMethod.CASH, s.total, "CHF")
    s.post(7, NOW, DocumentType.INVOICE)
    text = render_receipt(s, ShopHeader("Laden", vat_id="DE123456789"), 42).plain_text()
    for expected in (
        "RECHNUNG",
        "Rechnungs-Nr. REG-1-7",
        "Bau GmbH",
        "10115 Berlin",
        "USt-IdNr. DE999999999",
        "Beträge netto in CHF",
        "Rabatt 10%",
        "Rabatt 5% (SOMMER5)",
        "Summe netto",
        "Kurs 1 EUR = 0.94 CHF (FIXED)",
        "A 19%",
    ):
        assert expected in text, expected
    assert all(len(line) <= 42 for line in text.splitlines())
    # net 7.10 x 2 = 14.20 - 1.42 = 12.78; 2.63 x 0.333 = 0.88; document 5 %: 0.64 + 0.04
    assert s.net_total == 1278 - 64 + 88 - 4
