"""Customers as the register's users meet them (review h56): an e-mail address shared
by many imported customers (a back office's placeholder address) and a search typed on
a keyboard that writes decomposed umlauts. Through the gRPC API of the in-process
daemon on real SQLite."""

from __future__ import annotations

import unicodedata

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import customer_pb2

from tests.support.fullsale import customer, import_customers

#: customers the back office imported with one placeholder address (no e-mail check on
#: import: the ERP's data decides)
SHARED = "keine-mail@example.org"
MANY = 1500


def search(pos: PosdClient, query: str) -> list[str]:
    req = customer_pb2.SearchCustomersRequest(query=query, page_size=1000)
    return [c.customer_number for c in pos.call(pos.customers.SearchCustomers, req).customers]


@pytest.fixture
def many_sharing_an_address(pos: PosdClient) -> None:
    import_customers(pos, *[customer(f"K{i:05d}", f"Kunde {i}", email=SHARED) for i in range(MANY)])


def test_an_update_to_an_address_many_customers_share_is_refused_clearly(
    pos: PosdClient, many_sharing_an_address: None
) -> None:
    """The refusal named every customer with the address, in its message and metadata:
    over gRPC's header limit the client got no CUSTOMER_EMAIL_TAKEN at all."""
    pos.create_customer(customer("N1", "Neu Kunde", email="neu@example.org"))
    req = customer_pb2.UpdateCustomerRequest(
        request_id=new_request_id(), customer=customer("N1", "Neu Kunde", email=SHARED)
    )
    with pytest.raises(PosdError) as err:
        pos.call(pos.customers.UpdateCustomer, req)
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "CUSTOMER_EMAIL_TAKEN",
    )
    assert "K00000" in err.value.message and f"{MANY} customers" in err.value.message
    assert len(err.value.message) < 1000
    got = pos.call(pos.customers.GetCustomer, customer_pb2.GetCustomerRequest(customer_number="N1"))
    assert got.customer.email == "neu@example.org"


def test_a_create_with_an_address_many_customers_share_lists_a_bounded_few(
    pos: PosdClient, many_sharing_an_address: None
) -> None:
    req = customer_pb2.CreateCustomerRequest(
        request_id=new_request_id(), customer=customer("", "Noch Einer", email=SHARED)
    )
    resp = pos.call(pos.customers.CreateCustomer, req)
    assert not resp.created
    assert 0 < len(resp.duplicates) <= 100
    assert resp.duplicates[0].customer_number == "K00000"


def test_search_finds_umlauts_typed_decomposed_or_stored_decomposed(pos: PosdClient) -> None:
    """ "Müller" as a macOS or iOS keyboard sends it (u + combining diaeresis, NFD) is the
    same name as the precomposed one the back office imported (NFC), and the other way
    round."""
    import_customers(
        pos,
        customer("K1", "Erika Müller"),
        customer("K2", unicodedata.normalize("NFD", "Jürgen Schäfer"), company="Bäckerei"),
    )
    assert search(pos, unicodedata.normalize("NFD", "müller")) == ["K1"]
    assert search(pos, "MÜLLER") == ["K1"]
    assert search(pos, "schäfer") == ["K2"]
    assert search(pos, unicodedata.normalize("NFD", "Bäckerei jürgen")) == ["K2"]


def test_search_matches_every_word_of_the_query(pos: PosdClient) -> None:
    """Only the first eight words were compared: a ninth narrowed nothing."""
    import_customers(
        pos,
        customer("K1", "a b c d e f g h Zander"),
        customer("K2", "a b c d e f g h Xaver"),
    )
    assert search(pos, "a b c d e f g h zander") == ["K1"]
