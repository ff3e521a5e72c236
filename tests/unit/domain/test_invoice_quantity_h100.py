"""An invoice states every line's quantity, a quantity of 1 too (§ 14 (4) Nr. 5 UStG:
"Menge und Art der gelieferten Gegenstände"); a receipt leaves "1 x" out. An invoice
correction names the invoices it corrects in its header (review h100)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item, ItemType
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import Reversed, ShopHeader, render_receipt
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.shop import DocumentType
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SHOP = ShopHeader("Laden", vat_id="DE123456789")


def sale(quantity: str, unit: str = "pcs") -> Sale:
    s = Sale("s1", "REG-1", "7", "EUR", NOW)
    item = Item("1", "Kaffee", 1234, "EUR", VatCategory.NORMAL, unit=unit)
    s.add_line(item, Decimal(quantity), Decimal(19))
    s.add_payment(PaymentMethod.CARD, s.total, "EUR")
    s.post(5, NOW)
    return s


@pytest.mark.parametrize("columns", [32, 42])
def test_an_invoice_line_of_one_piece_states_its_quantity(columns: int) -> None:
    text = render_receipt(sale("1"), SHOP, columns, as_invoice=True).plain_text()
    assert "\n  1 x 12,34\n" in text, text


def test_a_receipt_leaves_one_piece_unsaid() -> None:
    text = render_receipt(sale("1"), SHOP, 42).plain_text()
    assert "1 x" not in text, text


def test_other_quantities_and_units_print_as_before() -> None:
    assert "\n  2 x 12,34\n" in render_receipt(sale("2"), SHOP, 42, as_invoice=True).plain_text()
    kg = render_receipt(sale("1", "kg"), SHOP, 42, as_invoice=True).plain_text()
    assert "\n  1 kg x 12,34\n" in kg, kg


def _invoice(sale_id: str, number: int) -> Sale:
    s = sale("2")
    s.sale_id = sale_id
    s.receipt_number = number
    s.document_type = DocumentType.INVOICE
    return s


def _returned(s: Sale, original: Sale) -> None:
    s.add_fixed_line(
        LineKind.RETURN, name="Kaffee", amount=-1234, quantity=Decimal(-1), unit="pcs",
        unit_price=1234, vat_category=VatCategory.NORMAL, vat_rate=Decimal(19),
        item_type=ItemType.INVENTORY, item_id="1", ref_sale_id=original.sale_id,
        ref_line_id="1", ref_receipt=original.receipt_number,
    )  # fmt: skip


def test_a_correction_of_two_invoices_names_each_in_its_header_and_lines() -> None:
    first, second = _invoice("a", 3), _invoice("b", 4)
    back = Sale("s9", "REG-1", "7", "EUR", NOW)
    _returned(back, first)
    _returned(back, second)
    back.add_payment(PaymentMethod.CASH, back.total, "EUR")
    back.post(9, NOW)
    text = render_receipt(back, SHOP, 42, corrects=(Reversed(first), Reversed(second)))
    plain = text.plain_text()
    head = " ".join(plain[: plain.index("-" * 42)].split())  # wrapped on the paper
    assert "RECHNUNGSKORREKTUR" in head, plain
    assert "Rechnungskorrektur zu Rechnung REG-1-3 vom 22.11.2026" in head, plain
    assert "Rechnungskorrektur zu Rechnung REG-1-4 vom 22.11.2026" in head, plain
    assert "  Rückgabe zu Rechnung REG-1-3\n" in plain and "Rückgabe zu Beleg" not in plain
