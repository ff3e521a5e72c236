from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import FiscalBlock, ShopHeader, render_receipt
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_receipt_layout_fits_the_paper_and_shows_totals() -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    item = Item("1", "Ein sehr langer Artikelname der nicht passt", 1999, "EUR", VatCategory.NORMAL)
    sale.add_line(item, Decimal(3), Decimal(19))
    sale.add_payment(PaymentMethod.CASH, 10000, "EUR")
    sale.post(42, NOW)
    for columns in (32, 42, 48):
        doc = render_receipt(
            sale,
            ShopHeader("Laden"),
            columns,
            fiscal=FiscalBlock(("TSE-Signatur: " + "A" * 100,), "V0;x"),
        )
        text = doc.plain_text()
        assert all(len(line) <= columns for line in text.splitlines() if not line.startswith("[QR"))
        assert "Beleg-Nr. 42" in text
        assert "59,97" in text  # 3 x 19.99
        assert "40,03" in text  # change from 100.00
        assert "[QR V0;x]" in text
    copy = render_receipt(sale, ShopHeader("Laden"), 42, copy=True)
    assert "KOPIE" in copy.plain_text()


def test_wrap_breaks_at_spaces_and_cuts_long_words() -> None:
    from posd_daemon.domain.receipt import wrap

    assert wrap("Technische Sicherheitseinrichtung ausgefallen. Ausfallnummer: 3", 32) == [
        "Technische",
        "Sicherheitseinrichtung",
        "ausgefallen. Ausfallnummer: 3",
    ]
    assert wrap("Sig: " + "A" * 50, 20) == ["Sig:", "A" * 20, "A" * 20, "A" * 10]
    assert all(len(x) <= 20 for x in wrap("x " * 40, 20))
