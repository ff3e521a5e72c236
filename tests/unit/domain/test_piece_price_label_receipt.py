"""A piece sold at its price label's price says so on the receipt ("Preis lt. Etikett"),
not "Preis geändert"; an operator's price set on the line afterwards is an override."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.money import MAX_MINOR
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import ShopHeader, render_receipt
from posd_daemon.domain.sale import Sale, SaleLine
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SEVEN = Decimal(7)


def cheese() -> Item:
    return Item("K-1", "Käseaufschnitt", 1990, "EUR", VatCategory.REDUCED)


def sell_by_label(sale: Sale, printed: int) -> SaleLine:
    """As the sale service adds a price label of an item sold by the piece."""
    item = cheese()
    uom = item.unit_of("")
    assert uom is not None
    line = sale.add_line(item, Decimal(1), SEVEN, unit=replace(uom, price=printed))
    line.price_overridden = line.price_from_label = True
    return line


def posted(sale: Sale) -> str:
    sale.add_payment(PaymentMethod.CASH, sale.total, sale.currency)
    sale.post(1, NOW)
    return render_receipt(sale, ShopHeader("Laden"), 42).plain_text()


def test_a_label_price_prints_as_the_label_s() -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    sell_by_label(sale, 1234)
    text = posted(sale)
    assert "\n  Preis lt. Etikett\n" in text
    assert "Preis geändert" not in text


def test_an_operator_s_price_on_a_label_line_is_an_override() -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    line = sell_by_label(sale, 1234)
    sale.override_price(line.line_id, 1000)
    assert (line.price_overridden, line.price_from_label) == (True, False)
    text = posted(sale)
    assert "\n  Preis geändert\n" in text
    assert "Preis lt. Etikett" not in text


def test_a_refused_override_leaves_the_label_s_mark() -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    line = sell_by_label(sale, 1234)
    sale.update_line(line.line_id, Decimal(1000))
    # the total would be out of range: the operator's price is not taken, nor its mark
    with pytest.raises(DomainError, match="out of range"):
        sale.override_price(line.line_id, MAX_MINOR)
    assert (line.unit_price, line.price_overridden, line.price_from_label) == (1234, True, True)


def test_a_catalog_price_prints_no_note() -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    sale.add_line(cheese(), Decimal(1), SEVEN)
    text = posted(sale)
    assert "Preis lt. Etikett" not in text and "Preis geändert" not in text
