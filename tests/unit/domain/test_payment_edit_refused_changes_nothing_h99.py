"""A payment edit that is refused leaves the payment as it was: UpdatePayment with a new
amount and an empty contract number for a consumer credit set the amount, then refused
the contract number (CONTRACT_NUMBER_REQUIRED), and the sale kept the new amount."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_refused_contract_number_leaves_the_amount_as_it_was() -> None:
    s = Sale("s1", "REG-1", "1", "EUR", NOW)
    s.add_line(Item("TV", "TV", 100000, "EUR", VatCategory.NORMAL), Decimal(1), Decimal(19))
    credit = s.add_payment(
        PaymentMethod.CONSUMER_CREDIT, 80000, "EUR", contract_number="K-1", reference="R-1"
    )
    with pytest.raises(DomainError) as err:
        s.update_payment(credit.payment_id, amount=60000, contract_number="", reference="R-2")
    assert err.value.reason == "CONTRACT_NUMBER_REQUIRED"
    assert (credit.amount, credit.contract_number, credit.reference) == (80000, "K-1", "R-1")
    assert s.open_amount == 20000
