"""An operator's price is converted from the price as set, once, whatever terms the sale
went through: to net prices and back, and in the snapshot a parked sale travels to
another register in (h89)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.sale import Sale, Terms
from posd_daemon.domain.snapshot import sale_from_dict, to_dict
from posd_daemon.domain.vat import PriceBasis, VatCategory

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EUR = Terms("EUR", "EUR")
NET = Terms("EUR", "EUR", direction=PriceBasis.NET)
CHF = Terms("CHF", "EUR", exchange_rate=Decimal("0.95"))


def _sale_with_price(price: int) -> Sale:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    line = sale.add_line(Item("P-1", "Kerze", 499, "EUR", VatCategory.NORMAL), Decimal(1),
                         Decimal(19))  # fmt: skip
    sale.override_price(line.line_id, price)
    return sale


def test_an_operator_s_price_survives_net_prices_and_back() -> None:
    # 1.03 gross at 19 % = 0.8655: 0.87 net; 0.87 x 1.19 = 1.0353 came back as 1.04
    sale = _sale_with_price(103)
    sale.change_terms(NET)
    assert sale.lines[0].unit_price == 87
    sale.change_terms(EUR)
    assert sale.lines[0].unit_price == 103


def test_an_operator_s_price_travels_in_a_parked_sale_s_snapshot() -> None:
    # 1.10 x 0.95 = 1.045: 1.05 CHF; 1.05 / 0.95 = 1.1053 came back as 1.11 EUR
    sale = _sale_with_price(110)
    sale.change_terms(CHF)
    there = sale_from_dict(to_dict(sale))
    assert there.lines[0].unit_price == 105
    there.change_terms(EUR)
    assert there.lines[0].unit_price == 110
