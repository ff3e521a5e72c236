"""Printed documents never lose or garble text on narrow paper: numbers beside a date
(receipt number, invoice number), labels beside an amount (payments, discount codes,
Z report rows), double-width headings (shop name, titles: twice as wide, so at most
half the columns), footer lines and names typed with leading blanks.

A line longer than the paper is wrapped by the printer itself mid-word, and a cut one
loses what the receipt must say: the receipt / transaction number (KassenSichV § 6
Nr. 4), the invoice number (§ 14 (4) Nr. 4 UStG), the kind of goods (§ 6 Nr. 3)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.closing import CashMovementKind, ClosingReport, OperatorTotal, PaymentTotal
from posd_daemon.domain.digital_receipt import digital_block, render_digital_slip
from posd_daemon.domain.document import Document, Text
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import ShopHeader, render_parking_slip, render_receipt
from posd_daemon.domain.sale import Sale, Terms
from posd_daemon.domain.shop import RateSource
from posd_daemon.domain.vat import VatCategory
from posd_daemon.services.documents import (
    DocumentRenderer,
    render_cash_movement,
    render_closing_report,
)
from posd_daemon.store import day as day_store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.database import open_database
from posd_daemon.store.outbox import OutboxJob

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LONG_NAME = "Bäckerei und Konditorei Müller-Lüdenscheidt"
FOOTER = "Vielen Dank für Ihren Einkauf, wir freuen uns auf Ihren nächsten Besuch"
SHOP = ShopHeader(LONG_NAME, ("Hauptstr. 1", "10115 Berlin"), footer_lines=(FOOTER,))


def printed(doc: Document) -> list[str]:
    """The document's text lines, each checked to fit the paper as the printer prints
    it: composed letters one column each, double width two."""
    out = []
    for block in doc.blocks:
        if isinstance(block, Text):
            text = unicodedata.normalize("NFC", block.text)
            assert len(text) * (2 if block.large else 1) <= doc.columns, block
            out.append(text)
    return out


def flat(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def sale(receipt_number: int = 123456, price: int = 1234) -> Sale:
    s = Sale("s1", "REGISTER-01", "operator-maximilian", "EUR", NOW)
    s.add_line(Item("1", "Kaffee", price, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    s.add_payment(PaymentMethod.CARD, s.total, "EUR")
    s.post(receipt_number, NOW)
    return s


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_the_receipt_number_and_register_print_whole(columns: int) -> None:
    text = flat(printed(render_receipt(sale(), SHOP, columns)))
    assert "Beleg-Nr. 123456" in text
    assert "Kasse REGISTER-01 Bediener operator-maximilian" in text
    assert "22.11.2026 12:00:00" in text


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_the_invoice_number_prints_whole(columns: int) -> None:
    text = flat(printed(render_receipt(sale(), SHOP, columns, as_invoice=True)))
    assert "Rechnungs-Nr. REGISTER-01-123456" in text
    assert "Kasse REGISTER-01" in text


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_the_digital_slip_keeps_shop_number_and_total(columns: int) -> None:
    s = sale(price=123456)
    doc = render_digital_slip(s, SHOP, columns, digital_block("https://r.example/t", columns))
    text = flat(printed(doc))
    assert LONG_NAME in text
    assert "Beleg-Nr. 123456" in text
    assert "SUMME 1234,56 EUR" in text
    assert FOOTER in text


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_footer_lines_wrap_on_the_receipt(columns: int) -> None:
    assert FOOTER in flat(printed(render_receipt(sale(), SHOP, columns)))


def test_large_headings_fit_half_the_paper_on_16_columns() -> None:
    # 16 columns is the narrowest profile a printer may have (devices/escpos/profile.py)
    s = sale()
    printed(render_receipt(s, SHOP, 16, as_invoice=True))
    parked = Sale("p1", "REGISTER-01", "7", "EUR", NOW)
    parked.add_line(Item("1", "Tee", 250, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    parked.parking_code = "P123456"
    assert "PARKBELEG" in flat(printed(render_parking_slip(parked, SHOP, 16)))


def test_a_long_payment_label_and_discount_code_print_whole() -> None:
    s = Sale("s1", "R1", "7", "EUR", NOW)
    s.add_line(Item("1", "Kaffee", 100000, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    s.set_discount(Decimal(10), code="SOMMERSCHLUSSVERKAUF-2026-VIP")
    s.add_payment(PaymentMethod.CONSUMER_CREDIT, s.total, "EUR", contract_number="V-1")
    s.post(7, NOW)
    text = flat(printed(render_receipt(s, SHOP, 32)))
    assert "Rabatt 10% (SOMMERSCHLUSSVERKAUF-2026-VIP) -100,00" in text
    assert "Finanzierung 900,00" in text


@pytest.mark.parametrize("columns", [16, 32])
def test_a_name_with_leading_blanks_keeps_every_letter(columns: int) -> None:
    name = "  Vollkornbrot mit Sonnenblumenkernen"
    s = Sale("s1", "R1", "7", "EUR", NOW)
    s.add_line(Item("1", name, 1999, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    s.add_payment(PaymentMethod.CASH, 1999, "EUR")
    s.post(7, NOW)
    lines = printed(render_receipt(s, SHOP, columns))
    rule = [i for i, ln in enumerate(lines) if ln == "-" * columns]
    item = lines[rule[0] + 1 : rule[1]]  # the item's lines, between the two rules
    words = "".join("".join(item).split()).replace("19,99A", "")
    assert words == "".join(name.split())


def test_the_z_report_keeps_operator_and_payment_names_and_counts() -> None:
    report = ClosingReport(
        z_nr=12,
        register_id="REGISTER-01",
        currency="EUR",
        created_at="2026-11-22T12:00:00.000000Z",
        first_bon_id=1,
        last_bon_id=5000,
        receipts=4321,
        aborted=0,
        movements=0,
        late=1234,
        outside_shift=0,
        gross=123456789,
        payments=(PaymentTotal("CONSUMER_CREDIT", "Unbar", "Finanzierung", "EUR", 99999999, 3),),
        operators=(OperatorTotal("operator-maximilian-mustermann", 4321, 123456789, 0),),
    )
    doc = render_closing_report(report, ShopHeader(LONG_NAME), 32)
    text = flat(printed(doc))
    assert LONG_NAME in text
    assert "Nachträglich (Schichtwechsel) 1234" in text
    assert "Finanzierung (EUR) 999999,99 EUR" in text
    assert "operator-maximilian-mustermann (4321) 1234567,89 EUR" in text
    # a figure on a line of its own stays at the right edge, under the other figures
    lines = printed(doc)
    alone = lines[lines.index("  operator-maximilian-mustermann") + 2]
    assert alone == "1234567,89 EUR".rjust(32)


def test_the_tse_back_notice_heading_fits_32_columns(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "posd.db")
    outage = fstore.Outage(
        0, NOW, None, "TSE_TIMEOUT", "no answer", "fiskaly", "SERIAL", "CLIENT", "R1", "7", "sim"
    )
    number = fstore.insert_outage(conn, outage)
    fstore.close_outage(conn, number, NOW)
    renderer = DocumentRenderer(SHOP, 32, tse_certified=True)
    text = flat(printed(renderer.outage(conn, number, end=True)))
    assert "TSE wieder verfügbar" in text
    conn.close()


def test_the_digital_slip_shows_the_change_as_it_was_paid_and_the_rounding() -> None:
    """The slip's money lines are the receipt's: 8,45 CHF paid with 20,00 CHF, change
    paid as 12,29 EUR. The slip said "Rückgeld 11,55" (francs, no currency), not what
    the customer was handed, and left out the cash rounding that makes the lines add up
    (SUMME 19,99, Bar 50,00, Rückgeld 30,00)."""
    s = Sale("s3", "REG-1", "7", "EUR", NOW)
    s.add_line(Item("c", "Kaffee", 899, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    s.change_terms(Terms("CHF", "EUR", Decimal("0.94"), RateSource.FIXED, None))
    s.set_change_currency("EUR")
    s.add_payment(PaymentMethod.CASH, 2000, "CHF", rounding_step=5)
    s.post(45, NOW)
    doc = render_digital_slip(s, SHOP, 42, digital_block("https://r.example/t", 42))
    text = flat(printed(doc))
    assert "Rückgeld 12,29 EUR" in text
    assert "Rückgeld 11,55" not in text.replace("entspricht 11,55 CHF", "")

    r = Sale("s4", "REG-1", "7", "CHF", NOW)
    r.add_line(Item("c", "Schokolade", 1999, "CHF", VatCategory.NORMAL), Decimal(1), Decimal(19))
    r.add_payment(PaymentMethod.CASH, 5000, "CHF", rounding_step=5)
    r.post(46, NOW)
    text = flat(printed(render_digital_slip(r, SHOP, 42, [])))
    assert "Rundung 0,01 Zu zahlen 20,00 CHF Bar 50,00 Rückgeld 30,00" in text


def test_a_cash_movement_slip_made_in_an_outage_names_register_tse_and_times(
    tmp_path: Path,
) -> None:
    """As a sale's outage receipt does (KassenSichV § 6 Nr. 2 and 6; AEAO zu § 146a
    Nr. 7): the slip said only "ausgefallen", without the register's client id, the TSE's
    serial and the start and end of the Vorgang."""
    conn = open_database(tmp_path / "posd.db")
    tse = fstore.SaleTse(
        "", "CLIENT-7", None, fstore.OUTAGE, tse_serial="SERIAL-9", outage_number=3
    )
    movement_id, _ = day_store.insert_movement(
        conn,
        register_id="R1",
        number=5,
        kind=CashMovementKind.WITHDRAWAL,
        amount=-5000,
        currency="EUR",
        reason="Bank",
        operator_id="7",
        shift_id=None,
        when=NOW,
        tse=tse,
    )
    job = OutboxJob(1, "print", "", 0, {"movement_id": movement_id}, "NEW", 0, "", NOW)
    renderer = DocumentRenderer(SHOP, 32, tse_certified=True)
    text = flat(printed(render_cash_movement(renderer, conn, job)))
    assert "Ausfallnummer: 3" in text
    assert "Kassen-ID: CLIENT-7" in text
    assert "TSE-Seriennummer: SERIAL-9" in text
    assert "Vorgangsbeginn: 22.11.2026 12:00:00 Vorgangsende: 22.11.2026 12:00:00" in text
    conn.close()
