"""Every RPC of every service, called without a usable session, is refused with
UNAUTHENTICATED and a reason that says what is wrong, and changes nothing; the token
never reaches the log.

The RPCs are read from the generated descriptors (as test_hostile_every_rpc.py does), so
an RPC added later is covered too. Open without a session: Login (it makes one),
GetStatus (``posctl status`` before any log-in) and TransferParkedSale (a register, not
an operator, asks for it: the store secret authenticates it)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from posd.client import PosdClient, PosdError, error_from_rpc
from posd.v1 import common_pb2

from posd_daemon.ops.pins import hash_pin
from tests.conftest import Running, running_daemon, start_in_thread
from tests.integration.api.test_hostile_every_rpc import (
    RPCS,
    business_rows,
    changed,
    path,
)
from tests.integration.api.test_operator_permissions import MANAGER

#: RPCs that take no operator session (see the module's docstring)
OPEN = {"Login", "GetStatus", "TransferParkedSale"}


class MovableClock:
    """The daemon's wall clock, moved forward by the test (session expiry)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def daemon(tmp_path: Path, clock: MovableClock) -> Iterator[Running]:
    r = start_in_thread(tmp_path / "state", {"api": {"session_hours": 1}}, clock=clock)
    try:
        yield r
    finally:
        r.stop()


def call(
    channel: grpc.Channel, method: MethodDescriptor, sale_id: str, metadata: list[tuple[str, str]]
) -> PosdError | None:
    """Calls ``method`` with a request that would get past validation where it can (a
    request_id, the id of an open sale): None when it was answered OK."""
    request = GetMessageClass(method.input_type)()
    fields = method.input_type.fields_by_name
    if "request_id" in fields:
        request.request_id = uuid.uuid4().hex  # type: ignore[attr-defined]
    if "sale_id" in fields:
        request.sale_id = sale_id  # type: ignore[attr-defined]
    response = GetMessageClass(method.output_type)
    try:
        if method.server_streaming:
            stream = channel.unary_stream(
                path(method),
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response.FromString,
            )
            for _ in stream(request, metadata=metadata, timeout=2.0):
                break
        else:
            unary = channel.unary_unary(
                path(method),
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response.FromString,
            )
            unary(request, metadata=metadata, timeout=5.0)
    except grpc.RpcError as exc:
        return error_from_rpc(exc)
    return None


def refusals(
    daemon: Running, sale_id: str, metadata: list[tuple[str, str]]
) -> dict[str, tuple[str, str]]:
    """Every RPC but the open ones called with ``metadata``: what each answered (status
    code name, message)."""
    with grpc.insecure_channel(daemon.target) as channel:
        answers: dict[str, tuple[str, str]] = {}
        for method in RPCS:
            if method.name in OPEN:
                continue
            err = call(channel, method, sale_id, metadata)
            answers[method.full_name] = ("OK", "") if err is None else (err.code.name, err.message)
        return answers


def only(answers: dict[str, tuple[str, str]], message: str) -> dict[str, tuple[str, str]]:
    """The answers that are NOT UNAUTHENTICATED with ``message``."""
    return {k: v for k, v in answers.items() if v != ("UNAUTHENTICATED", message)}


@pytest.fixture
def open_sale(daemon: Running) -> Iterator[str]:
    with daemon.client() as manager:
        manager.upsert_item("A", "Apfel", 100)
        sale_id = manager.create_sale().sale_id
        manager.add_line(sale_id, item_id="A")
        # the sale's TSE transaction starts in the background after its first line: it
        # is there before the tests take their "before" picture of the tables
        deadline = time.monotonic() + 10
        while not started(daemon, sale_id):
            assert time.monotonic() < deadline, "the TSE transaction did not start"
            time.sleep(0.02)
        yield sale_id


def started(daemon: Running, sale_id: str) -> bool:
    with sqlite3.connect(daemon.config.database_path) as conn:
        row = conn.execute("SELECT 1 FROM sale_tse WHERE sale_id = ?", (sale_id,)).fetchone()
    return row is not None


def test_every_rpc_refuses_a_missing_or_unknown_session_and_changes_nothing(
    daemon: Running, open_sale: str
) -> None:
    before = business_rows(daemon)
    missing = refusals(daemon, open_sale, [])
    assert only(missing, "missing session token: log in first") == {}
    for forged in ("forged", "x" * 43, "x" * 129, "x" * 4000):
        answers = refusals(daemon, open_sale, [("authorization", f"Bearer {forged}")])
        assert only(answers, "unknown or ended session: log in again") == {}, forged[:10]
    assert changed(before, business_rows(daemon)) == {}


def test_a_token_sent_without_the_bearer_scheme_is_named_as_such(
    daemon: Running, open_sale: str
) -> None:
    """A client that sends the bare token (or another scheme) was told it had no token at
    all ("log in first"), though it had just logged in: the answer names the form."""
    with daemon.client(open_shift=False) as manager:
        token = manager.token
    for value in (token, f"Token {token}", f"Basic {token}"):
        answers = refusals(daemon, open_sale, [("authorization", value)])
        assert only(answers, "authorization metadata must be 'Bearer <token>'") == {}, value[:6]


def test_a_logged_out_token_is_refused_at_once_on_every_connection(
    daemon: Running, open_sale: str
) -> None:
    """Two UIs of one operator: each its own session. One logs out on its connection;
    its token is refused on every connection (also one that had it cached), the other
    UI's session goes on."""
    first = daemon.client(open_shift=False)
    second = daemon.client(open_shift=False)
    try:
        assert first.token != second.token
        token = first.token
        with PosdClient(daemon.target) as other:  # another connection, the same token
            other.token = token
            assert other.whoami().operator.operator_id == "1"  # resolved and cached
            first.logout()
            before = business_rows(daemon)
            answers = refusals(daemon, open_sale, [("authorization", f"Bearer {token}")])
            assert only(answers, "unknown or ended session: log in again") == {}
            with pytest.raises(PosdError) as err:
                other.whoami()
            assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
            assert changed(before, business_rows(daemon)) == {}
        assert second.whoami().operator.operator_id == "1"
    finally:
        first.close()
        second.close()


def test_an_expired_session_is_refused_by_every_rpc_also_when_cached(
    daemon: Running, open_sale: str, clock: MovableClock
) -> None:
    with daemon.client(open_shift=False) as manager:
        token = manager.token
        manager.whoami()  # cached in the daemon now
    clock.ahead = timedelta(hours=1, seconds=1)
    before = business_rows(daemon)
    answers = refusals(daemon, open_sale, [("authorization", f"Bearer {token}")])
    assert only(answers, "session expired: log in again") == {}
    assert changed(before, business_rows(daemon)) == {}


def test_the_session_token_never_reaches_the_log(
    daemon: Running, open_sale: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Log-in, calls that succeed, calls that fail (a wrong request, a missing
    permission), log-out and a call with the ended token: the token is in no log line."""
    with daemon.client("2", "0000") as cashier:
        token = cashier.token
        sale_id = cashier.create_sale().sale_id
        with pytest.raises(PosdError):
            cashier.upsert_item("B", "Birne", 100)  # PERMISSION_DENIED
        with pytest.raises(PosdError):
            cashier.add_payment(sale_id, common_pb2.PAYMENT_METHOD_CASH, -1)
        cashier.logout()
        cashier.token = token
        with pytest.raises(PosdError):
            cashier.whoami()
    out = capsys.readouterr()
    assert "method=Logout" in out.out  # the log lines were captured
    assert token not in out.out and token not in out.err
    assert token[:16] not in out.out + out.err


def staff(pin_hash: str | None, role: str = "", operator_id: str = "") -> dict[str, object]:
    """The manager "1" (1234) and, unless ``pin_hash`` is None, ``operator_id``."""
    operators = [{"id": "1", "name": "M", "role": "manager", "pin_scrypt": PIN_1234}]
    if pin_hash is not None:
        operators.append({"id": operator_id, "name": "X", "role": role, "pin_scrypt": pin_hash})
    return {"roles": {"cashier": ["SALE"], "manager": MANAGER}, "operators": operators}


PIN_1234 = hash_pin("1234")


@pytest.mark.parametrize("operator_id", ["2", "Kasse 🙂", "🙂 Kasse", "𠀀"])
def test_a_changed_pin_ends_the_operators_sessions_whatever_its_id(
    tmp_path: Path, operator_id: str
) -> None:
    """The PIN fingerprints of the last start were read back with a key range ending at
    U+FFFF: an operator id beginning with a character beyond it (an emoji, a CJK
    extension B character; ids are any 1 to 64 characters) was "seen for the first time" at every
    start, so a changed PIN never ended its sessions: the leaked PIN's session went on."""
    state = tmp_path / "s"
    with (
        running_daemon(state, staff(hash_pin("2222"), "manager", operator_id)) as r,
        r.client(operator_id, "2222", open_shift=False) as old,
    ):
        token = old.token
    with (
        running_daemon(state, staff(hash_pin("8642"), "manager", operator_id)) as r,
        PosdClient(r.target) as ended,
    ):
        ended.token = token
        with pytest.raises(PosdError) as err:
            ended.whoami()
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_a_demoted_operators_old_session_has_only_the_new_rights(tmp_path: Path) -> None:
    """The role changed in the config (the PIN not): the session goes on after the
    restart, with the new role's permissions, not the old."""
    state = tmp_path / "s"
    pin = hash_pin("2222")
    with (
        running_daemon(state, staff(pin, "manager", "2")) as r,
        r.client("2", "2222", open_shift=False) as manager,
    ):
        manager.upsert_item("A", "Apfel", 100)
        token = manager.token
    with (
        running_daemon(state, staff(pin, "cashier", "2")) as r,
        PosdClient(r.target) as demoted,
    ):
        demoted.token = token
        assert demoted.whoami().operator.role == "cashier"
        with pytest.raises(PosdError) as err:
            demoted.upsert_item("B", "Birne", 100)
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert err.value.metadata["permission"] == "CATALOG_EDIT"


def test_a_removed_operators_sessions_end_even_without_a_fingerprint(tmp_path: Path) -> None:
    """An operator removed at the first start after the upgrade that began keeping PIN
    fingerprints (none stored yet) kept its sessions in the store; once an operator of
    that id was configured again (a new holder, a new PIN), it was "seen for the first
    time" and the old holder's token worked as the new operator."""
    state = tmp_path / "s"
    with running_daemon(state, staff(hash_pin("2222"), "manager", "2")) as r:
        with r.client("2", "2222", open_shift=False) as old:
            token = old.token
        database = r.config.database_path
    with sqlite3.connect(database) as conn:  # the store as before fingerprints were kept
        conn.execute("DELETE FROM meta WHERE key LIKE 'operator%'")
    with running_daemon(state, staff(None)):  # "2" removed
        pass
    with (
        running_daemon(state, staff(hash_pin("8642"), "cashier", "2")) as r,
        PosdClient(r.target) as holder,
    ):
        holder.token = token
        with pytest.raises(PosdError) as err:
            holder.whoami()
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
