"""The receipt as JSON says what the printed receipt says: which receipt a storno
reverses, and no payment of nothing (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.digital_receipt import sale_json
from posd_daemon.domain.payments import Payment, PaymentMethod
from posd_daemon.domain.receipt import ShopHeader, render_receipt
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def sale(**kw: object) -> Sale:
    s = Sale("s2", "REG-1", "7", "EUR", NOW, **kw)  # type: ignore[arg-type]
    s.add_line(Item("1", "Kaffee", 1999, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    return s


def test_a_storno_names_the_receipt_it_reverses_and_a_sale_names_none() -> None:
    storno = sale(reverses_sale_id="s1", reverses_receipt=41)
    storno.add_payment(PaymentMethod.CASH, 1999, "EUR")
    storno.post(42, NOW)
    data = sale_json(storno)
    assert (data["reverses_receipt"], data["reverses_sale_id"]) == (41, "s1")
    assert "STORNO zu Beleg 41" in render_receipt(storno, ShopHeader("Laden"), 42).plain_text()
    plain = sale()
    plain.add_payment(PaymentMethod.CASH, 1999, "EUR")
    plain.post(43, NOW)
    data = sale_json(plain)
    assert (data["reverses_receipt"], data["reverses_sale_id"]) == (None, None)


def test_a_payment_of_nothing_is_left_out_as_on_the_paper() -> None:
    s = sale()
    s.add_payment(PaymentMethod.CARD, 1999, "EUR")
    # a cash payment of 0.00 (it settled a rest cash rounds to nothing): not printed
    s.payments.append(Payment("9", PaymentMethod.CASH, 0, rounding_step=5))
    s.post(44, NOW)
    text = render_receipt(s, ShopHeader("Laden"), 42).plain_text()
    assert "Bar" not in text
    assert [p["method"] for p in sale_json(s)["payments"]] == ["CARD"]
