"""A price label of an item sold by weight (a deli scale's pack): the line sells the pack's
weight and charges exactly the printed price, for every weight, also above 1 kg where no
price per kg in whole cents times the weight makes it. The printed price is the line's
gross before discounts everywhere: totals, VAT, discounts on it, what a return refunds,
a change of the sale's terms, and the sale saved and loaded again."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posd_daemon.domain.barcode import Label, LabelKind
from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.money import round_half_up
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import ShopHeader, render_receipt
from posd_daemon.domain.sale import Sale, SaleLine, Terms
from posd_daemon.domain.snapshot import sale_from_dict, to_dict
from posd_daemon.domain.vat import PriceBasis, VatCategory
from posd_daemon.store import sales as sale_store
from posd_daemon.store.database import open_database

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SEVEN = Decimal(7)


def gouda(price_per_kg: int) -> Item:
    return Item(
        "KG",
        "Gouda",
        price_per_kg,
        "EUR",
        VatCategory.REDUCED,
        unit="kg",
        fractional_quantity=True,
    )


def sell_pack(sale: Sale, price_per_kg: int, printed: int) -> SaleLine:
    """Adds the pack as the sale service does for a price label: its weight from the
    catalog's price per kg, the printed price as the pack's price."""
    label = Label("2112346000000", "2112346000007", LabelKind.PRICE, printed)
    weight = label.pack_weight(price_per_kg)
    assert weight > 0
    return sale.add_line(gouda(price_per_kg), weight, SEVEN, pack_price=printed)


def new_sale() -> Sale:
    return Sale("s1", "REG-1", "7", "EUR", NOW)


def test_the_pack_of_1_234_kg_at_19_02_costs_the_printed_23_47() -> None:
    sale = new_sale()
    line = sell_pack(sale, 1902, 2347)
    assert line.quantity == Decimal("1.234")
    assert (line.base_amount, line.amount, line.total) == (2347, 2347, 2347)
    assert sale.total == 2347


@pytest.mark.parametrize(
    ("price_per_kg", "printed", "weight"),
    [
        (1990, 5002, "2.514"),  # 19.89/kg makes 50.00, 19.90/kg 50.03: nothing 50.02
        (2999, 8998, "3.000"),  # 29.99 x 3 = 89.97: the scale printed a cent more
        (1399, 1474, "1.054"),  # 13.98/kg makes 14.73, 13.99/kg 14.75
        (1990, 2081, "1.046"),
        (2499, 2502, "1.001"),
        (4990, 5198, "1.042"),
        (3290, 3331, "1.012"),
    ],
)
def test_packs_above_a_kilogram_cost_the_printed_price(
    price_per_kg: int, printed: int, weight: str
) -> None:
    sale = new_sale()
    line = sell_pack(sale, price_per_kg, printed)
    assert line.quantity == Decimal(weight)
    assert line.amount == printed
    assert sale.total == printed
    # the VAT is the printed gross's (7 % in it), not of another gross
    (vt,) = sale.vat_totals()
    assert (vt.gross, vt.net + vt.tax) == (printed, printed)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    price_per_kg=st.integers(min_value=1, max_value=99_999),
    printed=st.integers(min_value=1, max_value=99_999),
)
def test_any_pack_costs_exactly_its_printed_price(price_per_kg: int, printed: int) -> None:
    label = Label("2112346000000", "2112346000007", LabelKind.PRICE, printed)
    if label.pack_weight(price_per_kg) <= 0:
        return  # refused by the service (less than a gram's worth)
    sale = new_sale()
    line = sell_pack(sale, price_per_kg, printed)
    assert line.amount == printed
    assert sale.total == printed
    assert sale.line_gross_amounts() == {line.line_id: printed}
    assert sale.paid_amounts() == {line.line_id: printed}


def test_two_packs_and_a_piece_add_up_to_what_is_printed_and_priced() -> None:
    sale = new_sale()
    sell_pack(sale, 1990, 5002)
    sell_pack(sale, 1902, 2347)
    sale.add_line(Item("B", "Brot", 349, "EUR", VatCategory.REDUCED), Decimal(2), SEVEN)
    assert sale.total == 5002 + 2347 + 698


def test_a_line_discount_is_taken_off_the_printed_price() -> None:
    sale = new_sale()
    line = sell_pack(sale, 1990, 5002)
    sale.set_line_discount(line.line_id, Decimal(10))
    # 10 % of 50.02 = 5.002: 5.00 off
    assert (line.line_discount, line.amount, sale.total) == (500, 4502, 4502)


def test_a_document_discount_is_taken_off_the_printed_price() -> None:
    sale = new_sale()
    line = sell_pack(sale, 1990, 5002)
    sale.set_discount(Decimal(5))
    # 5 % of 50.02 = 2.501: 2.50 off
    assert (line.doc_discount, sale.total) == (250, 4752)


def test_a_customer_discount_is_taken_off_the_printed_price() -> None:
    sale = new_sale()
    sale.customer_discount_percent = Decimal(3)
    line = sell_pack(sale, 1990, 5002)
    # 3 % of 50.02 = 1.5006: 1.50 off
    assert (line.line_discount, sale.total) == (150, 4852)


def test_net_terms_and_back_keep_the_printed_gross() -> None:
    sale = new_sale()
    line = sell_pack(sale, 1990, 5002)
    gross = sale.terms
    net = Terms("EUR", "EUR", direction=PriceBasis.NET)
    sale.change_terms(net)
    # 50.02 gross at 7 % = 46.7477 net: 46.75, one rounding of the printed price
    assert line.amount == 4675
    assert sale.total == 5002  # 46.75 + 3.27 tax
    sale.change_terms(gross)
    assert (line.amount, sale.total) == (5002, 5002)


def test_a_foreign_currency_converts_the_printed_price_once() -> None:
    sale = new_sale()
    line = sell_pack(sale, 1990, 5002)
    chf = Terms("CHF", "EUR", exchange_rate=Decimal("0.9412"))
    sale.change_terms(chf)
    # 50.02 EUR x 0.9412 = 47.078824 CHF
    assert (line.amount, sale.total) == (4708, 4708)
    sale.change_terms(Terms("EUR", "EUR"))
    assert sale.total == 5002


def test_the_weight_of_a_pack_is_the_label_s() -> None:
    sale = new_sale()
    line = sell_pack(sale, 1990, 5002)
    with pytest.raises(DomainError) as err:
        sale.update_line(line.line_id, Decimal("2.6"))
    assert err.value.reason == "QUANTITY_ON_LABEL"
    assert (line.quantity, sale.total) == (Decimal("2.514"), 5002)


def test_an_overridden_price_per_kg_prices_the_weight() -> None:
    sale = new_sale()
    line = sell_pack(sale, 1990, 5002)
    sale.override_price(line.line_id, 1800)
    # the operator's price per kg: 18.00 x 2.514 = 45.252
    assert (line.amount, sale.total) == (4525, 4525)


def test_a_refused_override_keeps_the_printed_price() -> None:
    sale = new_sale()
    line = sell_pack(sale, 1990, 5002)
    with pytest.raises(DomainError):
        sale.override_price(line.line_id, -1)
    assert (line.amount, sale.total) == (5002, 5002)


def test_a_pack_saved_parked_loaded_and_posted_keeps_the_printed_price(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    try:
        sale = new_sale()
        sell_pack(sale, 1990, 5002)
        sell_pack(sale, 1902, 2347)
        sale_store.insert(conn, sale)
        loaded = sale_store.get(conn, "s1")
        assert loaded is not None
        assert [ln.amount for ln in loaded.lines] == [5002, 2347]
        assert loaded.total == 7349
        # and a change of its terms after loading still starts from the printed price
        loaded.change_terms(Terms("EUR", "EUR", direction=PriceBasis.NET))
        loaded.change_terms(Terms("EUR", "EUR"))
        assert loaded.total == 7349
        loaded.add_payment(PaymentMethod.CASH, 7349, "EUR")
        loaded.post(1, NOW)
        sale_store.update(conn, loaded, NOW)
        sale_store.save_posted_amounts(conn, loaded)
        again = sale_store.get(conn, "s1")
        assert again is not None
        assert again.total == 7349
        rows = conn.execute(
            "SELECT amount, gross FROM sale_lines WHERE sale_id = 's1' ORDER BY position"
        ).fetchall()
        assert rows == [(5002, 5002), (2347, 2347)]
    finally:
        conn.close()


def test_a_line_without_a_label_still_costs_its_price_times_its_weight() -> None:
    sale = new_sale()
    line = sale.add_line(gouda(1990), Decimal("2.514"), SEVEN)
    assert line.amount == round_half_up(Decimal(1990) * Decimal("2.514")) == 5003


def test_the_receipt_prints_the_printed_price_and_the_pack_s_weight() -> None:
    sale = new_sale()
    sell_pack(sale, 1990, 5002)
    sale.add_payment(PaymentMethod.CASH, 5002, "EUR")
    sale.post(1, NOW)
    text = render_receipt(sale, ShopHeader("Laden"), 42).plain_text()
    gouda_line = next(t for t in text.splitlines() if t.startswith("Gouda"))
    assert gouda_line.endswith("50,02 B")
    # the weight and where the price comes from: no price per kg whose product with the
    # weight would not give the amount (2.514 kg x 19,90 = 50,03)
    assert "  2,514 kg, Preis lt. Etikett" in text
    assert "Preis geändert" not in text
    assert "50,03" not in text and "50,00" not in text


def test_a_pack_handed_to_another_register_keeps_the_printed_price() -> None:
    sale = new_sale()
    sell_pack(sale, 1990, 5002)
    moved = sale_from_dict(to_dict(sale))
    assert moved.total == 5002
    moved.change_terms(Terms("EUR", "EUR", direction=PriceBasis.NET))
    moved.change_terms(Terms("EUR", "EUR"))
    assert moved.total == 5002
