"""The customers that open items (and invoices) are made out to: their VAT
identification number and country code are checked when a customer is created, as the
API documents them (ISO 3166-1 alpha-2; a VAT id with its country prefix), and a bad one
is refused with a clear reason and creates nothing."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError

from tests.support.fullsale import customer


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("vat_id", "hello world", "INVALID_VAT_ID"),
        ("vat_id", "de999999999", "INVALID_VAT_ID"),
        ("vat_id", "DE12345", "INVALID_VAT_ID"),  # a German USt-IdNr has nine digits
        ("vat_id", "123456789", "INVALID_VAT_ID"),  # no country prefix
        ("country_code", "de", "INVALID_COUNTRY"),
        ("country_code", "1X", "INVALID_COUNTRY"),
    ],
)
def test_bad_vat_id_or_country_is_refused_and_creates_nothing(
    pos: PosdClient, field: str, value: str, reason: str
) -> None:
    with pytest.raises(PosdError) as err:
        pos.create_customer(customer("K-BAD", "Firma GmbH", **{field: value}))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert err.value.reason == reason
    assert [f for f, _ in err.value.field_violations] == [f"customer.{field}"]
    assert list(pos.search_customers("Firma")) == []


@pytest.mark.parametrize(
    "vat_id", ["DE999999999", "DE 999 999 999", "ATU12345678", "FRXX999999999", "CHE-123.456.789"]
)
def test_real_vat_ids_are_taken(pos: PosdClient, vat_id: str) -> None:
    made = pos.create_customer(customer("", "Firma GmbH", vat_id=vat_id, country_code="DE"))
    assert made.customer.vat_id == vat_id
