"""The digital receipt's printed block, the short slip and the JSON (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.digital_receipt import (
    QR_SIZE,
    SLIP_NOTE,
    digital_block,
    receipt_url,
    render_digital_slip,
    sale_json,
    with_digital_block,
)
from posd_daemon.domain.document import Feed, QrCode
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import FiscalBlock, ShopHeader, render_receipt
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
URL = receipt_url("https://kasse.example.de/r/", "tok_EN-123456789012345678901234")


def posted_sale() -> Sale:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    sale.add_line(Item("1", "Kaffee", 1999, "EUR", VatCategory.NORMAL), Decimal(3), Decimal(19))
    sale.add_line(Item("2", "Brot", 349, "EUR", VatCategory.REDUCED), Decimal(1), Decimal(7))
    sale.add_payment(PaymentMethod.CASH, 10000, "EUR")
    sale.post(42, NOW)
    return sale


def test_the_block_goes_after_tse_and_footer_before_the_closing_feed() -> None:
    sale = posted_sale()
    shop = ShopHeader("Laden", footer_lines=("Danke!",))
    doc = render_receipt(sale, shop, 42, fiscal=FiscalBlock(("TSE-Signatur: X",), "V0;x"))
    out = with_digital_block(doc, digital_block(URL, 42, date(2027, 2, 20)))
    qrs = [b for b in out.blocks if isinstance(b, QrCode)]
    assert [q.data for q in qrs] == ["V0;x", URL]
    assert qrs[1].size == QR_SIZE
    assert isinstance(out.blocks[-1], Feed) and out.blocks[-1].lines == 2
    text = out.plain_text()
    assert text.index("Danke!") < text.index("Digitaler Beleg") < text.index(f"[QR {URL}]")
    assert "abrufbar bis 20.02.2027" in text
    assert text.replace(doc.plain_text().rstrip("\n"), "").startswith("\n")  # only appended
    for line in text.splitlines():
        assert line.startswith("[QR") or len(line) <= 42


def test_the_slip_has_total_payments_and_qr_but_no_lines() -> None:
    sale = posted_sale()
    doc = render_digital_slip(sale, ShopHeader("Laden"), 32, digital_block(URL, 32), copy=True)
    text = doc.plain_text()
    assert "Beleg-Nr. 42" in text and "63,46 EUR" in text  # 3 x 19.99 + 3.49
    assert "Bar" in text and "36,54" in text  # change
    assert "KOPIE" in text
    assert " ".join(SLIP_NOTE.split()) in " ".join(text.split())
    assert "Kaffee" not in text
    assert f"[QR {URL}]" in text
    assert all(len(ln) <= 32 for ln in text.splitlines() if not ln.startswith("[QR"))


def test_json_carries_lines_totals_vat_and_payments() -> None:
    data = sale_json(posted_sale())
    assert data["receipt_number"] == 42
    assert data["totals"]["gross"] == 6346
    assert data["totals"]["net"] + data["totals"]["tax"] == 6346
    assert [ln["name"] for ln in data["lines"]] == ["Kaffee", "Brot"]
    assert {v["vat"]: v["gross"] for v in data["vat"]} == {"A": 5997, "B": 349}
    assert data["payments"] == [{"method": "CASH", "label": "Bar", "amount": 10000}]
    assert data["posted_at"] == NOW.isoformat()
