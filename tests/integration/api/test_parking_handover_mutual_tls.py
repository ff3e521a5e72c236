"""Linked registers on TCP hand parked sales over only with mutual TLS: the asking
register verifies the other register against the store's CA (``store.tls_ca``) and
presents its own certificate (``api.tls_cert``/``api.tls_key``); the register handing
over accepts only a caller with a certificate it verified, the store secret on top.
Real daemons (in-process) on real TCP ports with TLS, real SQLite files."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdError
from posd.v1 import register_link_pb2, register_link_pb2_grpc, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_parking_handover import SECRET, call, start_store
from tests.support.tls import TestCA


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _register(
    ca: TestCA,
    reg: str,
    port: int,
    peers: dict[str, str],
    *,
    identity: TestCA | None = None,
    client_ca: bool = True,
) -> dict[str, Any]:
    """A register's config: served on TCP with a certificate of ``identity`` (the store's
    CA unless told), trusting the store CA for peers (and for clients if ``client_ca``)."""
    cert, key = (identity or ca).issue(reg)
    api = {"tcp": f"127.0.0.1:{port}", "tls_cert": str(cert), "tls_key": str(key)}
    if client_ca:
        api["tls_client_ca"] = str(ca.ca_path)
    return {
        "api": api,
        "store": {"peers": peers, "secret": SECRET, "tls_ca": str(ca.ca_path)},
    }


def _start(
    tmp_path: Path,
    ca: TestCA,
    *,
    k1_identity: TestCA | None = None,
    k3_identity: TestCA | None = None,
    k1_client_ca: bool = True,
) -> dict[str, Running]:
    ports = {"K1": _free_port(), "K3": _free_port()}
    addr = {reg: f"127.0.0.1:{port}" for reg, port in ports.items()}
    extra = {
        "K1": _register(
            ca, "K1", ports["K1"], {"K3": addr["K3"]}, identity=k1_identity, client_ca=k1_client_ca
        ),
        "K3": _register(ca, "K3", ports["K3"], {"K1": addr["K1"]}, identity=k3_identity),
    }
    return start_store(tmp_path, {"K1": 1, "K3": 3}, extra)


@pytest.fixture
def store_ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki", "store")


def _stop(store: dict[str, Running]) -> None:
    for running in store.values():
        running.stop()


@pytest.fixture
def store(tmp_path: Path, store_ca: TestCA) -> Iterator[dict[str, Running]]:
    started = _start(tmp_path, store_ca)
    try:
        yield started
    finally:
        _stop(started)


def _park_at_k1(store: dict[str, Running]) -> tuple[str, str]:
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        return sid, call(k1, "ParkSale", sale_id=sid).sale.parking_code


def _still_parked_at_k1(store: dict[str, Running], sid: str, code: str) -> None:
    """Nothing was handed over: K1 still has the sale parked and resumes it itself."""
    with store["K1"].client() as k1:
        assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED
        resumed = call(k1, "ResumeSale", code=code).sale
        assert (resumed.state, resumed.register_id) == (sale_pb2.SALE_STATE_OPEN, "K1")


def test_a_parked_sale_moves_between_registers_over_mutual_tls(
    store: dict[str, Running],
) -> None:
    sid, code = _park_at_k1(store)
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
    assert (taken.sale_id, taken.state, taken.register_id, taken.origin_register_id) == (
        sid, sale_pb2.SALE_STATE_OPEN, "K3", "K1"
    )  # fmt: skip
    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
    assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")


@pytest.mark.parametrize("rogue_register", ["K3", "K1"])
def test_a_register_with_a_certificate_of_another_ca_is_refused_and_nothing_moves(
    tmp_path: Path, store_ca: TestCA, rogue_register: str
) -> None:
    """One register's certificate is of another CA. K3 (asking) with it: K1 refuses
    K3's client certificate. K1 (holding the sale) with it: K3 does not accept K1 as a
    register of the store, and sends it neither the secret nor the request. Either way
    the TLS handshake fails and K3 takes nothing over."""
    rogue = TestCA(tmp_path / "pki", "rogue")
    store = _start(tmp_path, store_ca, **{f"{rogue_register.lower()}_identity": rogue})
    try:
        sid, code = _park_at_k1(store)
        refused = _k3_cannot_resume(store, sid, code)
        assert refused.reason in ("TRANSFER_UNAVAILABLE", "TRANSFER_REFUSED")
        assert refused.metadata.get("register_id") == "K1"
        _still_parked_at_k1(store, sid, code)
    finally:
        _stop(store)


def _k3_cannot_resume(store: dict[str, Running], sid: str, code: str) -> PosdError:
    """K3 scans K1's parking slip: refused, and K3 holds nothing of the sale."""
    with store["K3"].client() as k3:
        k3.retries = 0
        with pytest.raises(PosdError) as refused:
            call(k3, "ResumeSale", code=code)
        with pytest.raises(PosdError):
            k3.get_sale(sid)
    return refused.value


def _transfer(
    target: str, ca: TestCA, identity: tuple[Path, Path] | None, code: str
) -> register_link_pb2.TransferParkedSaleResponse:
    """A caller of K1's RegisterLinkService with the store secret, over TLS trusting the
    store CA, presenting ``identity`` (or no certificate)."""
    cert, key = (identity[0].read_bytes(), identity[1].read_bytes()) if identity else (None, None)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.ca_path.read_bytes(), private_key=key, certificate_chain=cert
    )
    with grpc.secure_channel(target, credentials) as channel:
        stub = register_link_pb2_grpc.RegisterLinkServiceStub(channel)
        answer: register_link_pb2.TransferParkedSaleResponse = stub.TransferParkedSale(
            register_link_pb2.TransferParkedSaleRequest(code=code, to_register_id="K3"),
            metadata=(("x-posd-store-secret", SECRET),),
            timeout=5,
        )
        return answer


def test_a_caller_with_the_secret_but_no_valid_client_certificate_gets_nothing(
    tmp_path: Path, store: dict[str, Running], store_ca: TestCA
) -> None:
    """The store secret alone (a leaked secret) does not move a sale over TCP: without a
    client certificate, or with one of another CA, K1 refuses before any hand-over."""
    sid, code = _park_at_k1(store)
    target = store["K1"].config.api.tcp
    rogue = TestCA(tmp_path / "pki", "rogue").issue("K3")
    for identity in (None, rogue):
        with pytest.raises(grpc.RpcError) as refused:
            _transfer(target, store_ca, identity, code)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake failed
    _still_parked_at_k1(store, sid, code)


def test_a_register_not_asking_for_client_certificates_hands_nothing_over_on_tcp(
    tmp_path: Path, store_ca: TestCA
) -> None:
    """K1 serves TCP with TLS but without api.tls_client_ca (its POS clients have no
    certificates): a caller on TCP without a verified client certificate is refused
    UNAUTHENTICATED even with the store secret, and nothing is handed over."""
    store = _start(tmp_path, store_ca, k1_client_ca=False)
    try:
        sid, code = _park_at_k1(store)
        with pytest.raises(grpc.RpcError) as refused:
            _transfer(store["K1"].config.api.tcp, store_ca, None, code)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "client certificate" in (refused.value.details() or "")
        _still_parked_at_k1(store, sid, code)
    finally:
        _stop(store)
