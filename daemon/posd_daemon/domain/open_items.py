"""Open items (offene Posten): invoices of the back office a customer pays at the register.

The back office owns them: it imports each invoice with its customer, currency, original
amount and what is still open. The register takes payments on account against them
(Zahlung offener Rechnungen, DSFinV-K GV_TYP ``Forderungsaufloesung``): a sale line of
kind INVOICE_PAYMENT, not taxable (the VAT was on the invoice). Posting the sale reduces
the open amount, a storno of it restores the amount. What open (or parked) sales hold of
an invoice counts as taken when another sale wants to pay it too.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

from posd_daemon.domain.errors import invalid
from posd_daemon.domain.money import MAX_MINOR, amount_out_of_range, check_currency
from posd_daemon.domain.text import check_code, check_text

MAX_TEXT = 200

#: a calendar date as the import format names it; date.fromisoformat alone also takes
#: ISO week dates of the same length ("2024-W01-1", Python 3.11+), which would then be
#: kept as written and compared as text with the other date
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class OpenItemState(enum.Enum):
    OPEN = "OPEN"  # something is still open
    PAID = "PAID"  # the open amount is 0


def _check_date(text: str, field: str, *, required: bool) -> str:
    if not text:
        if required:
            raise invalid(field, "is required (YYYY-MM-DD)")
        return text
    try:
        if _DATE.fullmatch(text) is None:
            raise ValueError(text)
        date.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"{text[:20]!r} is not a date YYYY-MM-DD", "INVALID_DATE") from None
    return text


@dataclass(frozen=True, slots=True)
class OpenItem:
    invoice_number: str
    customer_number: str
    currency: str
    #: what is still open (minor units of ``currency``), 0 .. original_amount
    amount_open: int
    #: the invoice's amount (minor units of ``currency``)
    original_amount: int
    invoice_date: str
    due_date: str = ""
    text: str = ""

    @property
    def state(self) -> OpenItemState:
        return OpenItemState.OPEN if self.amount_open > 0 else OpenItemState.PAID

    def validated(self) -> OpenItem:
        """Every field checked; raises a field violation for the first bad one."""
        check_code(self.invoice_number, "open_item.invoice_number")
        check_code(self.customer_number, "open_item.customer_number")
        check_currency(self.currency, "open_item.amount_open.currency_code")
        if self.original_amount > MAX_MINOR:
            raise amount_out_of_range("open_item.original_amount.amount_minor")
        if self.original_amount <= 0:
            raise invalid(
                "open_item.original_amount.amount_minor", "must be above 0", "INVALID_AMOUNT"
            )
        if self.amount_open < 0:
            raise invalid(
                "open_item.amount_open.amount_minor", "must be 0 or more", "INVALID_AMOUNT"
            )
        if self.amount_open > self.original_amount:
            raise invalid(
                "open_item.amount_open.amount_minor",
                "cannot exceed the invoice's original amount",
                "INVALID_AMOUNT",
            )
        _check_date(self.invoice_date, "open_item.invoice_date", required=True)
        _check_date(self.due_date, "open_item.due_date", required=False)
        if self.due_date and self.due_date < self.invoice_date:
            raise invalid("open_item.due_date", "is before the invoice date", "INVALID_DATE")
        check_text(self.text, "open_item.text", max_len=MAX_TEXT, required=False)
        return self


def payment_line_name(invoice_number: str) -> str:
    """How a payment on an invoice is named on the sale and printed on the receipt."""
    return f"Zahlung Rechnung {invoice_number}"
