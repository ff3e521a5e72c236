"""Random and hostile requests to every RPC of the full sale (scan, customers, shops,
imports, prices, discounts, currencies, purge) never crash the daemon or change what
is posted. Messages are generated from the proto descriptors, field by field."""

from __future__ import annotations

import sqlite3
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import given, settings
from hypothesis import strategies as st
from posd.client import PosdClient
from posd.v1 import catalog_pb2, common_pb2, customer_pb2, sale_pb2, shop_pb2

from posd_daemon.store import journal
from tests.conftest import Running
from tests.integration.api.test_hostile_input import TEXT, posted_snapshot

WORDS = st.one_of(
    TEXT,
    st.sampled_from(
        ["0", "4711", "1001", "EUR", "CHF", "JPY", "10", "100", "100.001", "0.9412",
         "2026-11-22", "1999-01-01", "9999-99-99", "SOMMER10", "SHOP-1", "REG-1", "MAIN",
         "L-1", "SN-1", "a@b.de", "PRICE_BASIS_NET"]
    ),
)  # fmt: skip
INTS = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, 2, 3, -1, 10**13 + 1]))

RPCS: list[tuple[str, str, type[Message]]] = [
    (stub, name, getattr(module, f"{name}Request"))
    for stub, module, names in (
        (
            "sales",
            sale_pb2,
            (
                "Scan", "SetCustomer", "SetCurrency", "SetExchangeRate", "SetLinePrice",
                "SetLineDiscount", "SetSaleDiscount", "SetPickupDate", "SetDocumentType",
                "PrintInvoice", "PurgeSales", "AddLine",
            ),
        ),
        (
            "catalog",
            catalog_pb2,
            ("ImportItems", "ImportStock", "ImportVendors", "UpsertVendor", "GetStock",
             "GetVendor", "UpsertItem"),
        ),
        (
            "customers",
            customer_pb2,
            ("CreateCustomer", "UpdateCustomer", "GetCustomer", "SearchCustomers",
             "ImportCustomers"),
        ),
        (
            "shops",
            shop_pb2,
            ("UpsertShop", "GetShop", "ImportShops", "UpsertRegister", "GetRegister",
             "ImportRegisters", "ImportExchangeRates"),
        ),
    )
    for name in names
]  # fmt: skip


def value(field: FieldDescriptor, depth: int, sale_ids: list[str]) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return fields(field.message_type, depth + 1, sale_ids)
    if field.type == FieldDescriptor.TYPE_STRING:
        if field.name == "sale_id":
            return st.one_of(st.sampled_from(sale_ids), WORDS)
        return WORDS
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(-1, 6)
    if field.type == FieldDescriptor.TYPE_INT64:
        return st.one_of(INTS, st.integers(-(2**63), 2**63 - 1))
    return INTS


def fields(desc: Descriptor, depth: int, sale_ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    if depth > 2:
        return st.just({})
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for f in desc.fields:
        if desc.full_name == "google.protobuf.Duration" and f.name == "nanos":
            parts[f.name] = st.integers(-999_999_999, 999_999_999)
            continue
        v = value(f, depth, sale_ids)
        if f.is_repeated:
            v = st.lists(v, max_size=3)
        parts[f.name] = st.one_of(st.none(), v)
    return st.fixed_dictionaries(parts).map(lambda d: {k: x for k, x in d.items() if x is not None})


def build(message_type: type[Message], data: dict[str, Any]) -> Message | None:
    try:
        return message_type(**data)
    except (ValueError, TypeError):
        return None  # e.g. an int64 out of range for an int32 field: not sendable anyway


def test_random_full_sale_requests_never_crash_or_corrupt(
    running: Running, pos: PosdClient
) -> None:
    pos.upsert_item("1001", "Brot", 349, barcodes=("4006381333931",))
    open_sale = pos.create_sale()
    pos.add_line(open_sale.sale_id, item_id="1001")
    posted = pos.create_sale()
    pos.add_line(posted.sale_id, item_id="1001")
    pos.add_payment(posted.sale_id, common_pb2.PAYMENT_METHOD_CASH, 500)
    pos.post_sale(posted.sale_id)
    before = posted_snapshot(running)
    sale_ids = [open_sale.sale_id, posted.sale_id]
    seen: dict[str, int] = {}

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(RPCS).flatmap(
        lambda r: st.tuples(st.just(r), fields(r[2].DESCRIPTOR, 0, sale_ids))
    ))  # fmt: skip
    def fire(case: tuple[tuple[str, str, type[Message]], dict[str, Any]]) -> None:
        (stub, name, request_type), data = case
        message = build(request_type, data)
        if message is None:
            return
        method = getattr(getattr(pos, stub), name)
        try:
            method(message, timeout=10, metadata=[("authorization", f"Bearer {pos.token}")])
            seen["OK"] = seen.get("OK", 0) + 1
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            assert code not in (
                grpc.StatusCode.INTERNAL,
                grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.UNAVAILABLE,
            ), (name, message, exc)
            seen[code.name] = seen.get(code.name, 0) + 1
            status = rpc_status.from_call(exc)  # type: ignore[arg-type]
            assert status is not None, (name, exc)
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            assert info.domain == "posd" and info.reason

    fire()
    assert pos.status().version
    assert posted_snapshot(running) == before
    with sqlite3.connect(running.config.database_path) as c:
        assert journal.verify(c).ok
    assert seen.get("INVALID_ARGUMENT", 0) > 0
