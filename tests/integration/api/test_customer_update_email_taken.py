"""UpdateCustomer may not give a customer another customer's e-mail address.

CreateCustomer refuses an address another customer has (compared trimmed and without
regard to case) unless the client confirms the duplicate; UpdateCustomer has no such
confirmation, so it refuses the address outright, names the customer that has it, and
changes nothing. A customer keeping its own address (even one it shares with a
duplicate created on purpose) is updated as before."""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import customer_pb2

from tests.support.fullsale import customer


def update(pos: PosdClient, c: customer_pb2.Customer) -> customer_pb2.Customer:
    req = customer_pb2.UpdateCustomerRequest(request_id=new_request_id(), customer=c)
    return pos.call(pos.customers.UpdateCustomer, req).customer


def stored(pos: PosdClient, number: str) -> customer_pb2.Customer:
    req = customer_pb2.GetCustomerRequest(customer_number=number)
    return pos.call(pos.customers.GetCustomer, req).customer


@pytest.mark.parametrize("email", ["erika@example.org", "  Erika@EXAMPLE.org "])
def test_an_update_to_another_customers_email_is_refused_and_changes_nothing(
    pos: PosdClient, email: str
) -> None:
    pos.create_customer(customer("K1", "Erika Mustermann", email="Erika@Example.org"))
    pos.create_customer(customer("K2", "Hans Bau", email="hans@bau.de", city="Köln"))
    with pytest.raises(PosdError) as err:
        update(pos, customer("K2", "Hans Bau", email=email, city="Bonn"))
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert err.value.reason == "CUSTOMER_EMAIL_TAKEN"
    assert "K1" in err.value.message
    after = stored(pos, "K2")
    assert (after.email, after.city) == ("hans@bau.de", "Köln")


def test_an_update_keeping_its_own_email_or_taking_a_free_one_works(pos: PosdClient) -> None:
    pos.create_customer(customer("K1", "Erika Mustermann", email="erika@example.org"))
    # a duplicate the cashier confirmed: both keep the address through later updates
    pos.create_customer(
        customer("K2", "E. Mustermann", email="erika@example.org"), allow_duplicate_email=True
    )
    kept = update(pos, customer("K2", "Erika M.", email=" ERIKA@example.org", city="Bonn"))
    assert (kept.name, kept.city) == ("Erika M.", "Bonn")
    assert update(pos, customer("K1", "Erika", email="erika@example.org")).name == "Erika"
    moved = update(pos, customer("K2", "Erika M.", email="erika.m@example.org"))
    assert moved.email == "erika.m@example.org"
    assert update(pos, customer("K2", "Erika M.")).email == ""
