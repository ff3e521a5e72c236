"""Random and hostile requests to EVERY RPC of EVERY service the daemon serves never
crash it, never hang it, and a refused call changes nothing.

The services and their RPCs are read from the generated descriptors
(``DESCRIPTOR.services_by_name`` of every ``posd.v1.*_pb2`` module), so an RPC added
later is covered without touching this file. Requests are built field by field from
the request descriptors by the generator of test_hostile_full_sale.py, with string
fields that name an id drawn now and then from ids that exist (an open and a posted
sale, their lines and payments, an item, a customer), so that calls also get past the
look-up. The session token is valid most of the time, missing or bad sometimes.

Server-streaming RPCs (exports, event and device streams) are opened with a short
deadline, at most a few messages are read, then the call is cancelled: for them an
expired deadline is an answer, for a unary RPC it is a hang.

Left out: none. There is no stop or shutdown RPC. Logout is fired like the rest; when it
logged the test's own session out, the test logs in again (and a closed shift is opened
again), so that the calls after it still get past authentication.

Checked: every answer is OK or a status carrying google.rpc ErrorInfo of domain "posd",
never UNKNOWN, INTERNAL (an unhandled exception: its answer carries ErrorInfo reason
INTERNAL, still a defect) or UNAVAILABLE; a refused unary call leaves the business tables
as they were; afterwards the server still answers (gRPC health check and GetStatus),
the journal chain verifies and the sales posted before the run are unchanged.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import sqlite3
from typing import Any

import grpc
import posd.v1
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import given, settings
from hypothesis import strategies as st
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, customer_pb2

from posd_daemon.store import journal
from tests.conftest import Running
from tests.integration.api.test_hostile_full_sale import WORDS, build, value
from tests.integration.api.test_hostile_input import posted_snapshot


def every_rpc() -> list[MethodDescriptor]:
    """Every RPC of every service of every generated module of the posd.v1 package (a
    module added later included)."""
    found: list[MethodDescriptor] = []
    for info in sorted(pkgutil.iter_modules(posd.v1.__path__), key=lambda m: m.name):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"posd.v1.{info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            found.extend(service.methods)
    return found


RPCS = every_rpc()

#: client-streaming calls are not part of the API (the descriptors would say so here)
assert not any(m.client_streaming for m in RPCS)

#: Tables that hold what the shop's books and stock are made of. A refused call must not
#: touch them; sessions, lock-outs, the idempotency cache, the outbox and the TSE's queue
#: are left out (a failed Login counts toward a lock-out on purpose, the outbox worker
#: runs on its own).
BUSINESS_TABLES = (
    "sales", "sale_lines", "sale_payments", "sale_invoices", "sale_vat_totals", "sale_tse",
    "journal", "journal_head", "closings", "shifts", "shift_counts", "shift_balances",
    "cash_movements", "drawer_entries", "vouchers", "stock", "stock_moves", "orders",
    "open_items", "items", "barcodes", "customers", "shops", "registers", "exchange_rates",
    "vendors", "vendor_items", "counters",
)  # fmt: skip

#: a short deadline for streams: an open event stream legitimately waits for events
STREAM_DEADLINE_S = 0.5
#: stands for the session's token in the drawn tokens (it changes after a Logout)
VALID = "<valid>"
STREAM_READ_AT_MOST = 3


def request_fields(
    desc: Descriptor, depth: int, ids: dict[str, list[str]]
) -> st.SearchStrategy[dict[str, Any]]:
    """The generator of test_hostile_full_sale (its ``value`` for every scalar), but a
    string field named like a known id is drawn from the known ids half the time."""
    if depth > 2:
        return st.just({})
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for f in desc.fields:
        v: st.SearchStrategy[Any]
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            v = request_fields(f.message_type, depth + 1, ids)
        elif f.type == FieldDescriptor.TYPE_STRING and f.name == "request_id":
            v = st.one_of(st.uuids().map(lambda u: u.hex), WORDS)  # fresh ones get past it
        elif f.type == FieldDescriptor.TYPE_STRING and ids.get(f.name):
            v = st.one_of(st.sampled_from(ids[f.name]), WORDS)
        else:
            v = value(f, depth, ids.get("sale_id", ["0"]))
        if f.is_repeated:
            v = st.lists(v, max_size=3)
        parts[f.name] = st.one_of(st.none(), v)
    return st.fixed_dictionaries(parts).map(lambda d: {k: x for k, x in d.items() if x is not None})


def business_rows(running: Running) -> dict[str, set[str]]:
    with sqlite3.connect(running.config.database_path) as c:
        return {t: set(map(repr, c.execute(f"SELECT * FROM {t}"))) for t in BUSINESS_TABLES}


def changed(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, Any]:
    return {
        t: {"gone": before[t] - after[t], "new": after[t] - before[t]}
        for t in BUSINESS_TABLES
        if before[t] != after[t]
    }


def path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def assert_posd_status(method: MethodDescriptor, message: Message, exc: grpc.RpcError) -> str:
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    assert code not in (
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAVAILABLE,
    ), (method.full_name, message, exc)
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None and status.details, (method.full_name, message, exc)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info), (method.full_name, message, exc)
    assert info.domain == "posd" and info.reason, (method.full_name, message, info)
    return code.name


def test_random_requests_to_every_rpc_never_crash_hang_or_corrupt(
    running: Running, pos: PosdClient
) -> None:
    pos.upsert_item("1001", "Brot", 349, barcodes=("4006381333931",))
    open_sale = pos.create_sale()
    line = pos.add_line(open_sale.sale_id, item_id="1001")
    payment = pos.add_payment(open_sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 100)
    posted = pos.create_sale()
    pos.add_line(posted.sale_id, item_id="1001")
    pos.add_payment(posted.sale_id, common_pb2.PAYMENT_METHOD_CASH, 500)
    pos.post_sale(posted.sale_id)
    customer = pos.create_customer(customer_pb2.Customer(name="Erika Muster")).customer
    ids: dict[str, list[str]] = {
        "sale_id": [open_sale.sale_id, posted.sale_id],
        "line_id": [ln.line_id for ln in line.sale.lines],
        "payment_id": [p.payment_id for p in payment.sale.payments],
        "item_id": ["1001"],
        "code": ["4006381333931", "1001"],
        "customer_number": [customer.customer_number],
        "currency_code": ["EUR"],
        "original_sale_id": [posted.sale_id],
        "original_line_id": ["1"],
        "line_ids": ["1"],
        "device_id": ["printer", "drawer", "display", "scanner"],
        "register_id": [running.config.register.id],
        "quantity": ["1", "2", "-1", "0.5", "0", "1000000"],
        "percent": ["10", "100", "101", "-5", "0.5"],
        "discount_percent": ["10", "100", "101"],
        "unit": ["pcs", "kg"],
        "date": ["2026-11-24"],
        "business_date": ["2026-11-24"],
        "pickup_date": ["2026-11-24", "2026-11-31"],
    }
    before = posted_snapshot(running)
    posted_ids = {row[0] for row in before}
    bad_tokens = ["", "garbage", "x" * 200]
    session = {"token": pos.token}
    seen: dict[str, int] = {}

    def one(method: MethodDescriptor, message: Message, token: str) -> str:
        request_class = type(message)
        response_class = GetMessageClass(method.output_type)
        md = [("authorization", f"Bearer {token}")] if token else []
        if method.server_streaming:
            stream = pos.channel.unary_stream(
                path(method),
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
            call = stream(message, timeout=STREAM_DEADLINE_S, metadata=md)
            try:
                for i, _ in enumerate(call):
                    if i + 1 >= STREAM_READ_AT_MOST:
                        break
                return "OK"
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                    return "STREAM_OPEN"
                return assert_posd_status(method, message, exc)
            finally:
                call.cancel()  # type: ignore[attr-defined]
        unary = pos.channel.unary_unary(
            path(method),
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        rows_before = business_rows(running)
        try:
            # a unary call that outlives this deadline hangs: DEADLINE_EXCEEDED fails below
            unary(message, timeout=10, metadata=md)
            return "OK"
        except grpc.RpcError as exc:
            code = assert_posd_status(method, message, exc)
            diff = changed(rows_before, business_rows(running))
            assert not diff, (method.full_name, message, code, diff)
            return code

    @settings(max_examples=800, deadline=None, derandomize=True, database=None)
    @given(
        st.sampled_from(RPCS).flatmap(
            lambda m: st.tuples(st.just(m), request_fields(m.input_type, 0, ids))
        ),
        # the session's token most of the time, a missing or bad one sometimes
        st.sampled_from([VALID] * 12 + bad_tokens),
    )
    def fire(case: tuple[MethodDescriptor, dict[str, Any]], which_token: str) -> None:
        method, data = case
        message = build(GetMessageClass(method.input_type), data)
        if message is None:
            return
        token = session["token"] if which_token == VALID else which_token
        outcome = one(method, message, token)
        seen[outcome] = seen.get(outcome, 0) + 1
        seen[method.full_name] = seen.get(method.full_name, 0) + 1
        if outcome == "OK" and token == session["token"]:
            # keep the calls after this one able to get past a session and a shift
            if method.name == "Logout":
                pos.login("1", "1234")
                session["token"] = pos.token
            if method.name in ("Logout", "CloseShift", "CreateZClosing"):
                with contextlib.suppress(PosdError):  # e.g. a Z closing is due first
                    pos.ensure_shift()

    fire()

    # the daemon still answers, nothing posted changed, the journal verifies
    health = health_pb2_grpc.HealthStub(pos.channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert pos.status().version
    # a sale posted before is as it was (an accepted PostSale or ReverseReceipt may
    # have posted more)
    assert [row for row in posted_snapshot(running) if row[0] in posted_ids] == (before)
    with sqlite3.connect(running.config.database_path) as c:
        assert journal.verify(c).ok
    assert seen.get("INVALID_ARGUMENT", 0) > 0 and seen.get("UNAUTHENTICATED", 0) > 0
    assert seen.get("OK", 0) > 0
    fired = {m.full_name for m in RPCS if seen.get(m.full_name)}
    assert len(fired) > 0.9 * len(RPCS), sorted(
        m.full_name for m in RPCS if m.full_name not in fired
    )
