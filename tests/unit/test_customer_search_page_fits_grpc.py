"""A SearchCustomers page needs no byte budget (unlike ListClosings): a full page of the
largest customers validation lets through (every text field at its length limit in
4-byte UTF-8 characters) stays below the 4 MiB a gRPC message may have by default. This
fails if a field's limit or the page's maximum grows past that."""

from __future__ import annotations

from decimal import Decimal

from posd.v1 import customer_pb2

from posd_daemon.api import convert
from posd_daemon.domain.customer import Customer
from posd_daemon.domain.vat import PriceBasis
from posd_daemon.services import paging

WIDE = "\U00020000"  # a CJK Extension B character: 4 bytes in UTF-8, one character


def test_a_full_page_of_the_largest_customers_fits_a_grpc_message() -> None:
    largest = Customer(
        number="C" * 64,
        name=WIDE * 120,
        company=WIDE * 120,
        email=WIDE * 64 + "@" + WIDE * 186 + ".de",
        street=WIDE * 120,
        postal_code=WIDE * 16,
        city=WIDE * 80,
        country="DE",
        vat_id="DE123456789",
        default_currency="EUR",
        price_entry=PriceBasis.NET,
        discount_percent=Decimal("99.99"),
    ).validated()
    assert len(largest.email) == 254
    most = paging.page_size(10**9, default=50)
    page = customer_pb2.SearchCustomersResponse(
        customers=[convert.customer_to_pb(largest)] * most, next_page_token="x" * 200
    )
    assert page.ByteSize() < 4 * 1024 * 1024
