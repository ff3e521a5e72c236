"""Open items and invoice payment lines in the pure domain: validation, the sale's guards
and the business case a payment line is booked as."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.closing import BusinessCase, line_business_case, line_gv_typ
from posd_daemon.domain.customer import CustomerSnapshot
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.open_items import OpenItem, OpenItemState, payment_line_name
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)


def item(**kw: object) -> OpenItem:
    fields: dict[str, object] = {
        "invoice_number": "R-1",
        "customer_number": "K1",
        "currency": "EUR",
        "amount_open": 500,
        "original_amount": 1000,
        "invoice_date": "2024-05-02",
        "due_date": "2024-06-01",
    }
    fields.update(kw)
    return OpenItem(**fields)  # type: ignore[arg-type]


def test_state_follows_the_open_amount() -> None:
    assert item().validated().state is OpenItemState.OPEN
    assert item(amount_open=0).validated().state is OpenItemState.PAID


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"amount_open": 1001}, "open_item.amount_open.amount_minor", "INVALID_AMOUNT"),
        ({"amount_open": -1}, "open_item.amount_open.amount_minor", "INVALID_AMOUNT"),
        ({"original_amount": 0, "amount_open": 0}, "open_item.original_amount.amount_minor",
         "INVALID_AMOUNT"),
        ({"currency": "EURO"}, "open_item.amount_open.currency_code", "UNKNOWN_CURRENCY"),
        ({"invoice_date": "2024-5-2"}, "open_item.invoice_date", "INVALID_DATE"),
        ({"invoice_date": ""}, "open_item.invoice_date", "INVALID_ARGUMENT"),
        ({"due_date": "2024-04-01"}, "open_item.due_date", "INVALID_DATE"),
        ({"invoice_number": "R 1"}, "open_item.invoice_number", "INVALID_ARGUMENT"),
        ({"text": "x\x00"}, "open_item.text", "INVALID_ARGUMENT"),
    ],
)  # fmt: skip
def test_bad_fields_are_named(changes: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(DomainError) as err:
        item(**changes).validated()
    assert err.value.reason == reason
    assert err.value.violations[0].field == field


def paying_sale() -> Sale:
    sale = Sale("S1", "REG-1", "1", "EUR", NOW)
    sale.customer = CustomerSnapshot(number="K1", name="Erika", anonymous=False)
    sale.add_fixed_line(
        LineKind.INVOICE_PAYMENT,
        name=payment_line_name("R-1"),
        amount=500,
        vat_category=VatCategory.NOT_TAXABLE,
        vat_rate=Decimal(0),
        item_id="R-1",
    )
    return sale


def test_a_paying_sale_keeps_its_currency_and_customer() -> None:
    sale = paying_sale()
    (line,) = sale.invoice_payments()
    assert (line.invoice_number, line.name, sale.total) == ("R-1", "Zahlung Rechnung R-1", 500)
    with pytest.raises(DomainError) as err:
        sale.check_currency_change("CHF")
    assert err.value.reason == "CURRENCY_MISMATCH"
    other = CustomerSnapshot(number="K2", name="Max", anonymous=False)
    with pytest.raises(DomainError) as err:
        sale.set_customer(other, Decimal(0), sale.terms, recalculate=False)
    assert err.value.reason == "INVOICE_CUSTOMER_MISMATCH"
    assert sale.customer.number == "K1"


def test_payment_lines_are_forderungsaufloesung_also_in_a_storno() -> None:
    for reversal in (False, True):
        case = line_business_case("INVOICE_PAYMENT", False, reversal=reversal)
        assert case is BusinessCase.INVOICE_PAYMENTS
    assert line_gv_typ("INVOICE_PAYMENT", False, int(VatCategory.NOT_TAXABLE)) == (
        "Forderungsaufloesung"
    )
