"""The printed receipt's layout on 32, 42 and 48 columns: no text of an item, customer
or exchange rate is lost, the amount column stays at the right edge (also for names
typed decomposed, "a" + U+0308, which the printer composes to one column), the total
keeps its label on narrow paper, and the VAT table's figures stand under their headings.
The article's kind and the amounts are mandatory receipt content (KassenSichV § 6 Nr. 3
and Nr. 5)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.customer import Customer
from posd_daemon.domain.document import Text
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import ShopHeader, render_receipt
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SHOP = ShopHeader("Laden", ("Hauptstr. 1", "10115 Berlin"))
LONG = "Bio-Vollkornbrot mit Sonnenblumenkernen und Kürbiskernen 750 g"


def lines(sale: Sale, columns: int) -> list[str]:
    doc = render_receipt(sale, SHOP, columns)
    out = []
    for block in doc.blocks:
        if isinstance(block, Text):
            # what the printer prints: composed letters, one column each (charset.py)
            text = unicodedata.normalize("NFC", block.text)
            assert len(text) * (2 if block.large else 1) <= columns, text
            out.append(text)
    return out


def sale_with(name: str, price: int = 1999, qty: int = 1) -> Sale:
    s = Sale("s1", "REG-1", "7", "EUR", NOW)
    s.add_line(Item("1", name, price, "EUR", VatCategory.NORMAL), Decimal(qty), Decimal(19))
    s.add_payment(PaymentMethod.CARD, s.total, "EUR")
    s.post(42, NOW)
    return s


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_a_decomposed_name_keeps_the_amount_at_the_right_edge(columns: int) -> None:
    name = unicodedata.normalize("NFD", "Käse Österreich Ölsardinen Müsli")
    out = lines(sale_with(name), columns)
    amount_lines = [ln for ln in out if ln.endswith("19,99 A")]
    assert amount_lines, out
    assert all(len(ln) == columns for ln in amount_lines), amount_lines


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_a_long_item_name_prints_whole_and_the_amount_stays_in_its_column(columns: int) -> None:
    out = lines(sale_with(LONG), columns)
    start = next(i for i, ln in enumerate(out) if ln.startswith("Bio-"))
    first = out[start]
    assert first.endswith("19,99 A") and len(first) == columns
    # every word of the name is on the paper, in order, before the next section
    rest = " ".join(ln.strip() for ln in out[start + 1 : start + 4])
    printed = first[: -len("19,99 A")].strip() + " " + rest
    assert " ".join(printed.split()).startswith(LONG), out


def test_a_long_customer_name_is_not_cut() -> None:
    s = Sale("s1", "REG-1", "7", "EUR", NOW)
    s.add_line(Item("1", "Kaffee", 899, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    s.customer = Customer(number="K-100234", name="Maximiliane Müller-Lüdenscheidt-Wagner")
    s.add_payment(PaymentMethod.CASH, 899, "EUR")
    s.post(42, NOW)
    text = " ".join(" ".join(lines(s, 32)).split())
    assert "Maximiliane Müller-Lüdenscheidt-Wagner" in text


def test_the_total_keeps_its_label_on_32_columns() -> None:
    s = sale_with("Fernseher", price=129900)  # 1299,00 EUR: wide in double width
    out = lines(s, 32)
    total = [ln for ln in out if "1299,00 EUR" in ln]
    assert total and total[0].startswith("SUMME"), out


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_vat_figures_stand_under_their_headings(columns: int) -> None:
    s = Sale("s1", "REG-1", "7", "EUR", NOW)
    s.add_line(
        Item("1", "Buch", 2000, "EUR", VatCategory.AVERAGE_24_3), Decimal(1), Decimal("10.7")
    )
    s.add_payment(PaymentMethod.CASH, 2000, "EUR")
    s.post(42, NOW)
    out = lines(s, columns)
    head = next(ln for ln in out if ln.startswith("USt ") and "Netto" in ln)
    row = next(ln for ln in out if ln.startswith("C "))
    for label, figure in (("Netto", "18,07"), ("Steuer", "1,93"), ("Brutto", "20,00")):
        assert head.index(label) + len(label) == row.index(figure) + len(figure), (head, row)
    assert row.startswith("C 10,7%")  # a German receipt: decimal comma


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_the_sellers_full_name_and_address_fit_the_paper(columns: int) -> None:
    # KassenSichV § 6 Nr. 1: the seller's full name and address, printed whole
    name = "Bäckerei und Konditorei Müller-Schönfeld GmbH & Co. KG"
    street = "Hauptstraße 123a, Hinterhaus, 2. Obergeschoss links"
    shop = ShopHeader(name, (street, "10115 Berlin-Mitte"))
    doc = render_receipt(sale_with("Kaffee", 899), shop, columns)
    texts = [b for b in doc.blocks if isinstance(b, Text)]
    for block in texts:
        assert len(block.text) * (2 if block.large else 1) <= columns, block
    printed = " ".join(" ".join(b.text for b in texts).split())
    assert name in printed and street in printed
