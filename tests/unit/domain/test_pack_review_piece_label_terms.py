"""A piece sold by its price label costs the printed price again after the sale's terms
changed and changed back (another currency, net prices for a business customer), as a
weighed pack does and as a catalog-priced line does: the label's price is converted
from the printed price each time (one rounding), not from the last terms' rounded
price (1.10 EUR -> 1.05 CHF at 0.95 -> 1.11 EUR)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.customer import NO_CUSTOMER
from posd_daemon.domain.sale import Sale, SaleLine, Terms
from posd_daemon.domain.vat import PriceBasis, VatCategory

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NINETEEN = Decimal(19)
EUR = Terms("EUR", "EUR")
CHF = Terms("CHF", "EUR", exchange_rate=Decimal("0.95"))
NET = Terms("EUR", "EUR", direction=PriceBasis.NET)


def item() -> Item:
    return Item("P-1", "Kerze", 499, "EUR", VatCategory.NORMAL)


def sell_by_label(sale: Sale, printed: int, quantity: int = 1) -> SaleLine:
    """As the sale service adds a price label of an item sold by the piece."""
    it = item()
    uom = it.unit_of("")
    assert uom is not None
    line = sale.add_line(it, Decimal(quantity), NINETEEN, unit=replace(uom, price=printed))
    line.price_overridden = line.price_from_label = True
    return line


@pytest.mark.parametrize(
    ("printed", "there"),
    [
        # 1.10 x 0.95 = 1.045: 1.05 CHF; 1.05 / 0.95 = 1.1053 would be 1.11 EUR
        (110, CHF),
        (130, CHF),
        # 1.03 gross at 19 % = 0.8655: 0.87 net; 0.87 x 1.19 = 1.0353 would be 1.04;
        # 12.93: 10.87 net, 12.9353 would be 12.94
        (103, NET),
        (1293, NET),
    ],
)
def test_a_label_s_price_survives_a_change_of_terms_and_back(printed: int, there: Terms) -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    line = sell_by_label(sale, printed, quantity=2)
    sale.change_terms(there)
    sale.change_terms(EUR)
    assert (line.unit_price, sale.total) == (printed, 2 * printed)


def test_a_label_s_price_is_converted_from_the_printed_price_each_time() -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    line = sell_by_label(sale, 110)
    sale.change_terms(CHF)
    assert line.unit_price == 105  # 1.045 CHF
    for _ in range(3):  # back and forth: never further off
        sale.change_terms(NET)
        sale.change_terms(CHF)
    assert line.unit_price == 105
    sale.change_terms(EUR)
    assert line.unit_price == 110


def test_a_customer_s_recalculation_keeps_the_label_s_price() -> None:
    # the catalog's price (4.99) is not the label's (1.10): recalculating the lines for a
    # customer takes the catalog's price for catalog lines only
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    line = sell_by_label(sale, 110)
    catalog = sale.add_line(item(), Decimal(1), NINETEEN)
    prices = {ln.line_id: (499, PriceBasis.GROSS) for ln in sale.lines}
    sale.set_customer(NO_CUSTOMER, Decimal(0), CHF, recalculate=True, list_prices=prices)
    sale.set_customer(NO_CUSTOMER, Decimal(0), EUR, recalculate=True, list_prices=prices)
    assert (line.unit_price, catalog.unit_price, sale.total) == (110, 499, 609)


def test_an_operator_s_price_on_a_label_line_is_no_longer_the_label_s() -> None:
    # the operator's price is converted as any override (the label's price is gone)
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    line = sell_by_label(sale, 110)
    sale.override_price(line.line_id, 200)
    sale.change_terms(CHF)
    assert line.unit_price == 190
    sale.change_terms(EUR)
    assert line.unit_price == 200
