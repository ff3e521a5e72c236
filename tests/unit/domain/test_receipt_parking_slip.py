"""The parking slip: register, sale id, time, operator, lines, total, the parking code
as a barcode (exact text, and the barcode's exact ESC/POS bytes)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from posd_daemon.devices.escpos.codec import encode_document
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.sim import escpos_to_plain_text
from posd_daemon.domain.catalog import Item
from posd_daemon.domain.document import Barcode
from posd_daemon.domain.parking import parking_code_code128, parking_code_ean13
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import ShopHeader, render_parking_slip
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
COFFEE = Item("c", "Kaffee", 899, "EUR", VatCategory.NORMAL)
SALE_ID = "0b9c5e1a-7d2f-4c3e-9a8b-1f2e3d4c5b6a"


def unparked(sale_id: str = SALE_ID, quantity: int = 2) -> Sale:
    s = Sale(sale_id, "REG-1", "7", "EUR", NOW)
    s.add_line(COFFEE, Decimal(quantity), Decimal(19))
    return s


def test_slip_with_an_ean13_code_and_a_payment_made() -> None:
    s = unparked()
    s.add_payment(PaymentMethod.CARD, 500, "EUR", card_institute="VISA")
    s.park(parking_code_ean13("29", 3, 42), NOW)
    doc = render_parking_slip(s, ShopHeader("Laden", ("Hauptstr. 1",)), 32)
    assert doc.cut
    assert doc.plain_text() == (
        "             Laden\n"
        "          Hauptstr. 1\n"
        "\n"
        "           PARKBELEG\n"
        "        Kein Kassenbeleg\n"
        "\n"
        "Kasse REG-1  22.11.2026 12:00:00\n"
        "Vorgang\n"
        "0b9c5e1a-7d2f-4c3e-9a8b-1f2e3d4c\n"  # the whole sale id, wrapped, never cut
        "5b6a\n"
        "Bediener 7\n"
        "--------------------------------\n"
        "Kaffee                   17,98 A\n"
        "  2 x 8,99\n"
        "--------------------------------\n"
        "SUMME  17,98 EUR\n"
        "Karte                       5,00\n"
        "  Kartenart: VISA\n"
        "Offen                  12,98 EUR\n"
        "\n"
        "     [EAN13 2903000000422]\n"
        "  Zum Fortsetzen an der Kasse\n"
        "            scannen\n"
        "\n"
        "\n"
    )
    assert Barcode("2903000000422", "EAN13") in doc.blocks


def test_slip_with_a_code128_code_as_a_copy() -> None:
    s = unparked("s2", 1)
    s.park(parking_code_code128(3, 42), NOW)
    text = render_parking_slip(s, ShopHeader("Laden"), 42, copy=True).plain_text()
    assert text == (
        "                  Laden\n"
        "              *** KOPIE ***\n"
        "\n"
        "                PARKBELEG\n"
        "             Kein Kassenbeleg\n"
        "\n"
        "Kasse REG-1            22.11.2026 12:00:00\n"
        "Vorgang s2\n"
        "Bediener 7\n"
        "------------------------------------------\n"
        "Kaffee                              8,99 A\n"
        "------------------------------------------\n"
        "SUMME        8,99 EUR\n"
        "\n"
        "          [CODE128 P0300000042]\n"
        "   Zum Fortsetzen an der Kasse scannen\n"
        "\n"
        "\n"
    )


def test_slip_bytes_carry_the_barcode() -> None:
    s = unparked()
    s.park(parking_code_ean13("29", 3, 42), NOW)
    doc = render_parking_slip(s, ShopHeader("Laden"), 48)
    profile = get_profile("generic-80mm")
    data = encode_document(doc, profile)
    assert (
        bytes.fromhex("1b 61 01 1d 68 50 1d 77 03 1d 48 02 1d 66 00 1d 6b 43 0c") + b"290300000042"
    ) in data
    assert data.endswith(b"\x1dVB\x00")  # cut
    assert escpos_to_plain_text(data, columns=48) == doc.plain_text()


def test_slip_lists_no_cash_payment_of_nothing() -> None:
    """A rest that rounds to nothing in cash was settled by a 0.00 cash payment (no money
    changed hands): the slip lists the card, not "Bar 0,00", as the receipt does."""
    s = Sale("s3", "REG-1", "7", "CHF", NOW)
    s.add_line(Item("c", "Kaffee", 1002, "CHF", VatCategory.NORMAL), Decimal(1), Decimal(19))
    s.add_payment(PaymentMethod.CARD, 1000, "CHF", card_institute="VISA")
    cash = s.add_payment(PaymentMethod.CASH, 0, "CHF", rounding_step=5)
    assert cash.amount == 0  # the 0.02 rest rounds to nothing in 0.05 steps
    s.park(parking_code_code128(3, 43), NOW)
    text = render_parking_slip(s, ShopHeader("Laden"), 32).plain_text()
    assert "Karte                      10,00\n" in text
    assert "Bar" not in text
