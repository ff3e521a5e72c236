"""Errors carry google.rpc.Status details; permissions are enforced in the daemon."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2, common_pb2, device_pb2, sale_pb2, sale_pb2_grpc

from posd_daemon.api import runtime as runtime_mod
from posd_daemon.ops.pins import hash_pin
from tests.conftest import Running, start_in_thread


def test_status_details_have_error_info_and_bad_request(running: Running) -> None:
    with grpc.insecure_channel(running.target) as ch:
        pos = PosdClient(running.target)
        token = pos.login("1", "1234").token
        stub = sale_pb2_grpc.SaleServiceStub(ch)
        md = [("authorization", f"Bearer {token}")]
        with pytest.raises(grpc.RpcError) as err:
            stub.AddLine(sale_pb2.AddLineRequest(request_id="r1", sale_id="x y"), metadata=md)
        status = rpc_status.from_call(err.value)
        assert status is not None
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(info)
        assert info.domain == "posd"
        assert info.reason == "INVALID_ARGUMENT"
        assert status.details[1].Unpack(bad)
        assert bad.field_violations[0].field == "item_ref"
        pos.close()


def test_missing_and_wrong_tokens(running: Running) -> None:
    with PosdClient(running.target) as pos:
        with pytest.raises(PosdError) as err:
            pos.create_sale()
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        pos.token = "forged-token"
        with pytest.raises(PosdError) as err:
            pos.create_sale()
        assert err.value.reason == "UNAUTHENTICATED"
        with pytest.raises(PosdError) as err:
            pos.login("1", "9999")
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(PosdError) as err:
            pos.login("nobody", "1234")
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_repeated_wrong_pins_lock_the_operator(running: Running) -> None:
    with PosdClient(running.target) as pos:
        for _ in range(5):
            with pytest.raises(PosdError):
                pos.login("2", "1111")
        with pytest.raises(PosdError) as err:
            pos.login("2", "0000")  # right PIN, but locked for a minute
        assert err.value.reason == "LOGIN_LOCKED"


def test_failed_log_ins_and_the_lock_out_name_operator_and_peer_never_the_pin(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed log-in left only the generic rpc line (no operator id): nobody could see
    whose PIN was being guessed, nor from where, nor that a lock-out began."""
    reg = running.daemon.metrics.registry

    def refused(reason: str) -> float:
        return reg.get_sample_value("posd_login_failures_total", {"reason": reason}) or 0.0

    with PosdClient(running.target) as pos:
        with pytest.raises(PosdError):
            pos.login("nobody", "97531")
        for _ in range(5):
            with pytest.raises(PosdError):
                pos.login("2", "97531")
        with pytest.raises(PosdError) as err:
            pos.login("2", "0000")  # the right PIN, refused while locked
        assert err.value.reason == "LOGIN_LOCKED"
    assert refused("wrong_pin") == 6
    assert refused("locked") == 1
    assert reg.get_sample_value("posd_login_lockouts_total") == 1
    out = capsys.readouterr().out
    lines = out.splitlines()

    def logged(event: str) -> list[str]:
        return [ln for ln in lines if re.search(rf"\b{event}\b", ln)]

    failed = logged("login_failed")
    assert len(failed) == 6, out[-3000:]
    assert all("warning" in ln and "peer=unix:" in ln for ln in failed)
    assert sum("operator_id=2 " in ln for ln in failed) == 5
    assert "operator_id=nobody" in failed[0] and "known_operator=False" in failed[0]
    (locked_out,) = logged("login_locked_out")
    assert "operator_id=2 " in locked_out and "failures=5" in locked_out
    (refused_line,) = logged("login_refused_locked")
    assert "operator_id=2 " in refused_line and "peer=unix:" in refused_line
    assert "97531" not in out and "pin=" not in out
    assert not any("0000" in ln for ln in failed + logged("login_refused_locked"))


def test_logout_ends_the_session(running: Running) -> None:
    with PosdClient(running.target) as pos:
        pos.login("1", "1234")
        assert pos.whoami().operator.operator_id == "1"
        token = pos.token
        pos.logout()
        pos.token = token
        with pytest.raises(PosdError) as err:
            pos.whoami()
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_permissions_are_enforced_with_the_permission_named(running: Running) -> None:
    with running.client("2", "0000") as cashier:
        assert "CATALOG_EDIT" not in cashier.whoami().operator.permissions
        with pytest.raises(PosdError) as err:
            cashier.upsert_item("1", "Wasser", 99)
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert err.value.metadata["permission"] == "CATALOG_EDIT"
        sale = cashier.create_sale()  # SALE is granted
        assert sale.operator_id == "2"


def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    r = start_in_thread(tmp_path / "s")
    pos = r.client()
    token = pos.token
    pos.close()
    r.stop()
    r = start_in_thread(tmp_path / "s")
    try:
        with PosdClient(r.target) as again:
            again.token = token
            assert again.whoami().operator.operator_id == "1"
    finally:
        r.stop()


def test_a_changed_pin_ends_that_operators_sessions_at_the_next_start(tmp_path: Path) -> None:
    """A PIN is changed because it leaked or its holder left: the sessions opened with
    the old one (which survive restarts) end; other operators' sessions stay."""
    state = tmp_path / "s"
    r = start_in_thread(state)
    try:
        tokens = {}
        for op, pin in (("1", "1234"), ("2", "0000")):
            c = r.client(op, pin, open_shift=False)
            tokens[op] = c.token
            c.close()
        operators = [
            {"id": o.id, "name": o.name, "role": o.role, "pin_scrypt": o.pin_scrypt}
            for o in r.config.operators
        ]
    finally:
        r.stop()
    operators[1]["pin_scrypt"] = hash_pin("2468")  # operator 2 gets a new PIN
    r = start_in_thread(state, {"operators": operators})
    try:
        with PosdClient(r.target) as kept:
            kept.token = tokens["1"]
            assert kept.whoami().operator.operator_id == "1"
        with PosdClient(r.target) as ended:
            ended.token = tokens["2"]
            with pytest.raises(PosdError) as err:
                ended.whoami()
            assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        with r.client("2", "2468", open_shift=False) as new:
            assert new.whoami().operator.operator_id == "2"
    finally:
        r.stop()


def test_catalog_validation(pos: PosdClient) -> None:
    for kwargs, field in (
        ({"item_id": "", "name": "x", "price_minor": 1}, "item.item_id"),
        ({"item_id": "a b", "name": "x", "price_minor": 1}, "item.item_id"),
        ({"item_id": "a", "name": "", "price_minor": 1}, "item.name"),
        ({"item_id": "a", "name": "x" * 121, "price_minor": 1}, "item.name"),
        ({"item_id": "a", "name": "x", "price_minor": -1}, "item.gross_price.amount_minor"),
        (
            {"item_id": "a", "name": "x", "price_minor": 1, "currency": "CHF"},
            "item.gross_price.currency_code",
        ),
        ({"item_id": "a", "name": "x", "price_minor": 1, "vat_category": 99}, "item.vat_category"),
        ({"item_id": "a", "name": "bad\x00name", "price_minor": 1}, "item.name"),
    ):
        with pytest.raises(PosdError) as err:
            pos.upsert_item(**kwargs)  # type: ignore[arg-type]
        assert err.value.field_violations[0][0] == field
    with pytest.raises(PosdError):
        pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="a"))
    created = pos.upsert_item("a", "Äpfel", 299, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
    assert created.created
    assert not pos.upsert_item("a", "Äpfel", 319).created


def test_health_reflection_and_metrics(tmp_path: Path) -> None:
    r = start_in_thread(tmp_path / "m", {"metrics": {"listen": "127.0.0.1:0"}})
    try:
        with grpc.insecure_channel(r.target) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            resp = health.Check(health_pb2.HealthCheckRequest(service="posd.v1.SaleService"))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
            refl = reflection_pb2_grpc.ServerReflectionStub(ch)
            answers = refl.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            names = {s.name for a in answers for s in a.list_services_response.service}
            assert {
                "posd.v1.SaleService",
                "posd.v1.CatalogService",
                "posd.v1.OperatorService",
                "grpc.health.v1.Health",
            } <= names
        with r.client() as pos:
            pos.upsert_item("1", "Wasser", 99)
            s = pos.create_sale()
            pos.add_line(s.sale_id, item_id="1")
            pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CASH, 100)
            pos.post_sale(s.sale_id)
            with pytest.raises(PosdError):
                pos.get_sale("missing")
        port = r.daemon.metrics.bound_port
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'posd_rpc_total{code="OK",method="PostSale"} 1.0' in text
        assert 'posd_rpc_total{code="NOT_FOUND",method="GetSale"} 1.0' in text
        assert "posd_sales_posted_total 1.0" in text
        assert "posd_post_duration_seconds_count 1.0" in text
        assert 'posd_rpc_duration_seconds_bucket{le="0.005",method="AddLine"}' in text
    finally:
        r.stop()


def test_socket_has_the_configured_mode(running: Running) -> None:
    mode = running.config.socket_path.stat().st_mode & 0o777
    assert mode == 0o660


def test_the_session_cache_stays_bounded_and_every_session_still_works(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_mod, "MAX_CACHED_SESSIONS", 4)
    rt = running.daemon.extra["runtime"]
    assert isinstance(rt, runtime_mod.Runtime)
    clients = [running.client(open_shift=False) for _ in range(10)]
    try:
        for c in clients:  # ten log-ins that never log out (UI restarts, shift changes)
            assert c.whoami().operator.operator_id == "1"
        assert len(rt._sessions) <= 4
        for c in clients:  # the store stays the authority: evicted sessions still work
            assert c.whoami().operator.operator_id == "1"
        assert len(rt._sessions) <= 4
    finally:
        for c in clients:
            c.close()


def test_a_call_its_client_gives_up_on_still_gets_its_line_and_metric(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interactive scanner check waits for a scan; the client's deadline passes first.
    gRPC cancels the handler: no answer, but the call is counted and logged."""
    reg = running.daemon.metrics.registry

    def count(code: str) -> float:
        labels = {"method": "CheckHealth", "code": code}
        return reg.get_sample_value("posd_rpc_total", labels) or 0.0

    with running.client(open_shift=False) as pos:
        pos.retries = 0
        req = device_pb2.CheckHealthRequest(
            device_id="scanner", level=device_pb2.HEALTH_LEVEL_INTERACTIVE, timeout_seconds=30
        )
        with pytest.raises(grpc.RpcError) as err:
            pos.devices.CheckHealth(req, timeout=0.5, metadata=pos._metadata())
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 5
    while count("DEADLINE_EXCEEDED") + count("CANCELLED") < 1:
        assert time.monotonic() < deadline, "the cancelled call was not counted"
        time.sleep(0.02)
    assert count("DEADLINE_EXCEEDED") == 1
    out = capsys.readouterr().out
    assert re.search(r"method=CheckHealth .*status=DEADLINE_EXCEEDED", out), out[-2000:]
