"""Customers edited at two registers at once (task h58): optimistic concurrency as
Google AIP-154 describes it. Two clients of the in-process daemon over its gRPC socket,
real SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import customer_pb2

from tests.conftest import Running
from tests.support.fullsale import customer, import_customers


@pytest.fixture
def other(running: Running) -> Iterator[PosdClient]:
    """A second register's (or the back office's) client of the same daemon."""
    with running.client() as c:
        yield c


def get(pos: PosdClient, number: str) -> customer_pb2.Customer:
    req = customer_pb2.GetCustomerRequest(customer_number=number)
    return pos.call(pos.customers.GetCustomer, req).customer


def update(
    pos: PosdClient, c: customer_pb2.Customer, request_id: str = ""
) -> customer_pb2.Customer:
    return pos.update_customer(c, request_id=request_id or None)


def test_a_stale_etag_is_refused_and_changes_nothing(pos: PosdClient, other: PosdClient) -> None:
    created = pos.create_customer(customer("", "Erika Muster", city="Köln")).customer
    assert created.etag
    first = get(pos, created.customer_number)
    second = get(other, created.customer_number)
    assert first.etag == second.etag == created.etag

    first.city = "Bonn"
    stored = update(pos, first)
    assert stored.city == "Bonn" and stored.etag and stored.etag != first.etag

    second.street = "Hauptstr. 1"  # edited from the record before the first edit
    with pytest.raises(PosdError) as err:
        update(other, second)
    assert err.value.reason == "CUSTOMER_CHANGED"
    assert "again" in err.value.message
    now = get(other, created.customer_number)
    assert (now.city, now.street, now.etag) == ("Bonn", "", stored.etag)

    # read again, edit again: accepted
    now.street = "Hauptstr. 1"
    again = update(other, now)
    assert (again.city, again.street) == ("Bonn", "Hauptstr. 1")
    assert again.etag not in (stored.etag, created.etag)


def test_a_stale_etag_is_answered_aborted(pos: PosdClient, other: PosdClient) -> None:
    """AIP-154: a request whose etag is not the current one fails with ABORTED."""
    created = pos.create_customer(customer("", "Erika Muster")).customer
    update(pos, customer(created.customer_number, "Erika Muster-Schmidt", etag=created.etag))
    with pytest.raises(PosdError) as err:
        update(other, customer(created.customer_number, "Erika M.", etag=created.etag))
    assert err.value.code == grpc.StatusCode.ABORTED


def test_no_etag_keeps_last_write_wins(pos: PosdClient, other: PosdClient) -> None:
    """Clients built before etags send none: their update replaces the record as before."""
    created = pos.create_customer(customer("", "Erika Muster")).customer
    update(pos, customer(created.customer_number, "Erika Muster", city="Bonn"))
    stored = update(other, customer(created.customer_number, "Erika Muster", city="Ulm"))
    assert stored.city == "Ulm" and stored.etag
    assert get(pos, created.customer_number).etag == stored.etag


def test_an_import_changes_the_etag(pos: PosdClient, other: PosdClient) -> None:
    import_customers(pos, customer("K1", "Kunde Eins"))
    read = get(pos, "K1")
    assert read.etag
    found = [c for c in pos.search_customers("Kunde Eins")]
    assert [c.etag for c in found] == [read.etag]
    import_customers(other, customer("K1", "Kunde Eins", city="Berlin"))
    assert get(other, "K1").etag != read.etag
    read.company = "Eins GmbH"
    with pytest.raises(PosdError) as err:
        update(pos, read)
    assert err.value.reason == "CUSTOMER_CHANGED"
    assert get(pos, "K1").city == "Berlin"


def test_a_retried_update_answers_its_first_answer(pos: PosdClient, other: PosdClient) -> None:
    """The retry of an update that was applied (its answer lost) is not a conflict with
    itself: the same request_id answers what the first call answered."""
    created = pos.create_customer(customer("", "Erika Muster")).customer
    edit = customer(created.customer_number, "Erika Muster", city="Bonn", etag=created.etag)
    rid = new_request_id()
    first = update(pos, edit, rid)
    assert update(pos, edit, rid) == first
    assert get(other, created.customer_number).etag == first.etag
