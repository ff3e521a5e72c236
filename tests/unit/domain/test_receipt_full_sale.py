"""Receipts of the full sale: every line kind, payment details, refunds, rounding,
change in the local currency, reversal (storno) receipts; exact text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.domain.catalog import Item, ItemType
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import (
    PAYMENT_LABEL,
    ShopHeader,
    payment_label,
    render_receipt,
)
from posd_daemon.domain.sale import LineKind, Sale, Terms
from posd_daemon.domain.shop import DocumentType, RateSource
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
R19, R7, R0 = Decimal(19), Decimal(7), Decimal(0)
COFFEE = Item("c", "Kaffee", 899, "EUR", VatCategory.NORMAL)
ROLL = Item("r", "Brötchen", 35, "EUR", VatCategory.REDUCED)
SHOP = ShopHeader("Laden")


def returned(sale: Sale, quantity: int, ref_receipt: int) -> None:
    sale.add_fixed_line(
        LineKind.RETURN,
        name="Kaffee",
        amount=-899 * quantity,
        quantity=Decimal(-quantity),
        unit="pcs",
        unit_price=899,
        vat_category=VatCategory.NORMAL,
        vat_rate=R19,
        item_type=ItemType.INVENTORY,
        item_id="c",
        ref_sale_id="s0",
        ref_line_id="1",
        ref_receipt=ref_receipt,
    )


def body(text: str) -> str:
    """From the first rule to the VAT table (the part under test)."""
    start = text.index("-" * 10)
    return text[start : text.index("\nUSt ")]


def test_every_line_kind_and_card_details() -> None:
    s = Sale("s1", "REG-1", "7", "EUR", NOW)
    s.add_line(COFFEE, Decimal(2), R19)
    s.add_line(ROLL, Decimal(1), R7)
    s.add_discount_percent(Decimal(10), ["1"], "Aktion")
    returned(s, 1, 17)
    s.add_fixed_line(
        LineKind.GOODS,
        name="Geschenkgutschein",
        amount=2000,
        vat_category=VatCategory.NOT_TAXABLE,
        vat_rate=R0,
        item_type=ItemType.VOUCHER,
        voucher_code="GS-2026-0001",
    )
    s.add_fixed_line(
        LineKind.VOUCHER_REDEMPTION,
        name="Gutschein",
        amount=-1000,
        vat_category=VatCategory.NOT_TAXABLE,
        vat_rate=R0,
        voucher_code="GS-2025-0042",
    )
    s.add_payment(
        PaymentMethod.CARD, 1000, "EUR", card_institute="girocard", authorization_code="123456"
    )
    s.add_payment(PaymentMethod.CASH, 2000, "EUR")
    s.post(43, NOW)
    assert render_receipt(s, SHOP, 42).plain_text() == (
        "                  Laden\n"
        "\n"
        "Beleg-Nr. 43           22.11.2026 12:00:00\n"
        "Kasse REG-1  Bediener 7\n"
        "------------------------------------------\n"
        "Kaffee                             17,98 A\n"
        "  2 x 8,99\n"
        "Brötchen                            0,35 B\n"
        "Aktion 10 %                        -1,80 A\n"
        "  auf Kaffee\n"
        "Kaffee                             -8,99 A\n"
        "  -1 x 8,99\n"
        "  Rückgabe zu Beleg 17\n"
        "Geschenkgutschein                  20,00 F\n"
        "  Gutschein-Nr. GS-2026-0001\n"
        "Gutschein                         -10,00 F\n"
        "  Gutschein eingelöst: GS-2025-0042\n"
        "------------------------------------------\n"
        "SUMME       17,54 EUR\n"
        "Karte                                10,00\n"
        "  Kartenart: girocard\n"
        "  Autorisierungs-Nr.: 123456\n"
        "Bar                                  20,00\n"
        "Rückgeld                             12,46\n"
        "\n"
        "USt             Netto    Steuer     Brutto\n"
        "A 19%            6,04      1,15       7,19\n"
        "B 7%             0,33      0,02       0,35\n"
        "F 0%            10,00      0,00      10,00\n"
        "\n"
        "\n"
    )


def test_rounding_difference_is_its_own_line() -> None:
    s = Sale("s2", "REG-1", "7", "CHF", NOW)
    s.add_fixed_line(
        LineKind.GOODS,
        name="Schokolade",
        amount=1999,
        vat_category=VatCategory.REDUCED,
        vat_rate=Decimal("2.6"),
    )
    s.add_payment(PaymentMethod.CASH, 5000, "CHF", rounding_step=5)
    s.post(44, NOW)
    assert (s.rounding, s.due, s.change) == (1, 2000, 3000)
    assert body(render_receipt(s, SHOP, 32).plain_text()) == (
        "--------------------------------\n"
        "Schokolade               19,99 B\n"
        "--------------------------------\n"
        "SUMME  19,99 CHF\n"
        "Rundung                     0,01\n"
        "Zu zahlen              20,00 CHF\n"
        "Bar                        50,00\n"
        "Rückgeld                   30,00\n"
    )


def test_foreign_cash_with_change_in_the_local_currency() -> None:
    s = Sale("s3", "REG-1", "7", "EUR", NOW)
    s.add_line(COFFEE, Decimal(1), R19)
    s.change_terms(Terms("CHF", "EUR", Decimal("0.94"), RateSource.FIXED, None))
    s.set_change_currency("EUR")
    s.add_payment(PaymentMethod.CASH, 2000, "CHF", rounding_step=5)
    s.post(45, NOW)
    assert (s.total, s.change, s.change_local) == (845, 1155, 1229)  # 11.55 / 0.94
    assert body(render_receipt(s, SHOP, 42).plain_text()) == (
        "------------------------------------------\n"
        "Kaffee                              8,45 A\n"
        "------------------------------------------\n"
        "SUMME        8,45 CHF\n"
        "entspricht                        8,99 EUR\n"
        "Kurs 1 EUR = 0.94 CHF (FIXED)\n"
        "Bar                                  20,00\n"
        "Rückgeld                         12,29 EUR\n"
        "  entspricht 11,55 CHF\n"
    )
    # change kept in the sale's currency: no local amount
    s2 = Sale("s3b", "REG-1", "7", "EUR", NOW)
    s2.add_line(COFFEE, Decimal(1), R19)
    s2.change_terms(Terms("CHF", "EUR", Decimal("0.94"), RateSource.FIXED, None))
    s2.add_payment(PaymentMethod.CASH, 2000, "CHF")
    s2.post(46, NOW)
    assert (
        "Rückgeld                             11,55\n" in render_receipt(s2, SHOP, 42).plain_text()
    )


def test_refunds_are_negative_payments() -> None:
    s = Sale("s4", "REG-1", "7", "EUR", NOW)
    returned(s, 2, 17)
    s.add_payment(PaymentMethod.CASH, -899, "EUR")
    s.add_payment(PaymentMethod.CARD, -899, "EUR", card_institute="VISA")
    s.post(46, NOW)
    assert body(render_receipt(s, SHOP, 42).plain_text()) == (
        "------------------------------------------\n"
        "Kaffee                            -17,98 A\n"
        "  -2 x 8,99\n"
        "  Rückgabe zu Beleg 17\n"
        "------------------------------------------\n"
        "SUMME      -17,98 EUR\n"
        "Rückzahlung Bar                      -8,99\n"
        "Rückzahlung Karte                    -8,99\n"
        "  Kartenart: VISA\n"
    )


def test_consumer_credit_down_payment_and_bank_transfer_details() -> None:
    s = Sale("s5", "REG-1", "7", "EUR", NOW)
    s.add_fixed_line(
        LineKind.GOODS, name="Sofa", amount=120000, vat_category=VatCategory.NORMAL, vat_rate=R19
    )
    credit = s.add_payment(
        PaymentMethod.CONSUMER_CREDIT, 100000, "EUR", contract_number="KV-2026-77"
    )
    s.add_payment(PaymentMethod.CASH, 10000, "EUR", down_payment_for=credit.payment_id)
    s.add_payment(PaymentMethod.BANK_TRANSFER, 10000, "EUR", reference="RE 4711")
    s.post(47, NOW, DocumentType.RECEIPT)
    text = render_receipt(s, SHOP, 42).plain_text()
    assert (
        "SUMME     1200,00 EUR\n"
        "Finanzierung                       1000,00\n"
        "  Vertrags-Nr.: KV-2026-77\n"
        "Anzahlung Bar                       100,00\n"
        "Überweisung                         100,00\n"
        "  Referenz: RE 4711\n"
        "\n"
    ) in text
    # an invoice shows the same payments
    assert (
        "  Vertrags-Nr.: KV-2026-77\n" in render_receipt(s, SHOP, 42, as_invoice=True).plain_text()
    )


def test_long_codes_wrap_instead_of_being_cut() -> None:
    s = Sale("s8", "REG-1", "7", "EUR", NOW)
    s.add_line(COFFEE, Decimal(1), R19)
    s.add_payment(PaymentMethod.GATEWAY, 899, "EUR", reference="pi_" + "X" * 40)
    s.post(50, NOW)
    text = render_receipt(s, SHOP, 32).plain_text()
    assert (
        "Online-Zahlung              8,99\n  Referenz:\n  pi_" + "X" * 27 + "\n  XXXXXXXXXXXXX\n"
        in text
    )
    assert all(len(line) <= 32 for line in text.splitlines())


def test_reversal_receipt_has_a_storno_header() -> None:
    s = Sale("s6", "REG-1", "7", "EUR", NOW, reverses_sale_id="s1", reverses_receipt=43)
    returned(s, 1, 43)
    s.add_payment(PaymentMethod.CASH, -899, "EUR")
    s.post(48, NOW)
    assert render_receipt(s, SHOP, 32).plain_text() == (
        "             Laden\n"
        "\n"
        "             STORNO\n"
        "       STORNO zu Beleg 43\n"
        "Beleg-Nr. 48 22.11.2026 12:00:00\n"
        "Kasse REG-1  Bediener 7\n"
        "--------------------------------\n"
        "Kaffee                   -8,99 A\n"
        "  -1 x 8,99\n"  # no "Rückgabe zu Beleg 43" on every line: the header says it
        "--------------------------------\n"
        "SUMME  -8,99 EUR\n"
        "Rückzahlung Bar            -8,99\n"
        "\n"
        "USt          Netto Steuer Brutto\n"
        "A 19%        -7,55  -1,44  -8,99\n"
        "\n"
        "\n"
    )
    invoice = render_receipt(s, SHOP, 32, as_invoice=True).plain_text()
    assert "RECHNUNG\n             STORNO\n       STORNO zu Beleg 43\n" in invoice


def test_balancing_line_and_a_return_without_receipt() -> None:
    s = Sale("s7", "REG-1", "7", "EUR", NOW)
    returned(s, 1, 0)
    s.add_fixed_line(
        LineKind.BALANCING,
        name="AUSGLEICH",
        amount=899,
        vat_category=VatCategory.NORMAL,
        vat_rate=R19,
    )
    s.post(49, NOW)
    assert body(render_receipt(s, SHOP, 42).plain_text()) == (
        "------------------------------------------\n"
        "Kaffee                             -8,99 A\n"
        "  -1 x 8,99\n"
        "  Rückgabe ohne Beleg\n"
        "AUSGLEICH                           8,99 A\n"
        "  Ausgleichsbuchung\n"
        "------------------------------------------\n"
        "SUMME        0,00 EUR\n"
    )


def test_labels_of_every_method() -> None:
    assert PAYMENT_LABEL[PaymentMethod.CASH] == "Bar"
    assert PAYMENT_LABEL[PaymentMethod.CONSUMER_CREDIT] == "Finanzierung"
    assert set(PAYMENT_LABEL) == set(PaymentMethod)
    s = Sale("s9", "REG-1", "7", "EUR", NOW)
    s.add_line(COFFEE, Decimal(1), R19)
    p = s.add_payment(PaymentMethod.BENEFIT, 899, "EUR")
    assert payment_label(p) == "Gutscheinkarte"


@given(
    st.sampled_from(list(PaymentMethod)),
    st.text(max_size=60),
    st.text(max_size=60),
    st.sampled_from([32, 42, 48]),
)
def test_payment_details_always_fit_the_paper(
    method: PaymentMethod, institute: str, reference: str, columns: int
) -> None:
    s = Sale("s10", "REG-1", "7", "EUR", NOW)
    s.add_line(COFFEE, Decimal(1), R19)
    s.add_payment(
        method,
        899,
        "EUR",
        card_institute=institute,
        reference=reference,
        contract_number="K1",
        authorization_code=reference,
    )
    text = render_receipt(s, SHOP, columns).plain_text()
    assert all(len(line) <= columns for line in text.splitlines())


def test_local_change_rounded_to_nothing_shows_the_rounding_it_leaves() -> None:
    """0.02 CHF over the due, 0.00 EUR paid out in 0.05 steps: the receipt says what the
    drawer kept (the Z books it as Rundung)."""
    s = Sale("s4", "REG-1", "7", "CHF", NOW, local_currency="EUR",
             exchange_rate=Decimal("0.95"), rate_source=RateSource.FIXED)  # fmt: skip
    s.add_fixed_line(LineKind.GOODS, name="Ware", amount=9500,
                     vat_category=VatCategory.NORMAL, vat_rate=R19)  # fmt: skip
    s.local_cash_step = 5
    s.add_payment(PaymentMethod.CASH, 9502, "CHF")
    s.set_change_currency("EUR")
    open_text = body(render_receipt(s, SHOP, 42).plain_text())
    s.post(46, NOW)
    assert (s.change, s.change_local, s.change_rounding) == (2, 0, 2)
    assert body(render_receipt(s, SHOP, 42).plain_text()) == open_text
    assert open_text.endswith(
        "Bar                                  95,02\n"
        "Rückgeld                          0,00 EUR\n"
        "  entspricht 0,02 CHF\n"
        "  Rundung 0,02 EUR\n"
    )
