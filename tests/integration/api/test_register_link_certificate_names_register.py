"""Register linking on TCP binds a register's id to its certificate, both ways: a
register's certificate of the store CA must name its register id (a DNS subjectAltName
equal to the id; the subject CN only when the certificate has no DNS subjectAltName).

- The register handing over checks that the caller's verified client certificate names
  the register it claims to be (``to_register_id``): else PERMISSION_DENIED
  ``STORE_PEER_NOT_THAT_REGISTER`` and nothing is handed over.
- The asking register accepts as ``store.peers.<id>`` only a server certificate naming
  ``<id>``: else ``STORE_PEER_CERTIFICATE_MISMATCH``, and the other register is sent
  neither the secret nor the request.

Real daemons (in-process) on real TCP ports with TLS, real SQLite files."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from posd.v1 import sale_pb2

from tests.conftest import Running
from tests.integration.api import test_parking_handover_mutual_tls as mutual_tls
from tests.integration.api.test_parking_handover import call
from tests.integration.api.test_parking_handover_mutual_tls import (
    _k3_cannot_resume,
    _park_at_k1,
    _start,
    _still_parked_at_k1,
    _stop,
    _transfer,
)
from tests.support.tls import TestCA

# the same fixtures: the store CA and three registers K1..K3 linked over mutual TLS
store_ca = mutual_tls.store_ca
store = mutual_tls.store


def _error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details)
    return info


def test_registers_whose_certificates_name_them_hand_a_sale_over(
    store: dict[str, Running],
) -> None:
    sid, code = _park_at_k1(store)
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
    assert (taken.sale_id, taken.state, taken.register_id) == (
        sid, sale_pb2.SALE_STATE_OPEN, "K3"
    )  # fmt: skip
    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
    assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")


def test_a_caller_claiming_another_register_than_its_certificate_names_gets_nothing(
    store: dict[str, Running], store_ca: TestCA
) -> None:
    """A certificate of the store CA for K2 (a register of the store), used by a caller
    that asks for the sale as K3: refused, naming the claim and the certificate's names;
    the sale stays parked at K1. K3's own certificate then gets it."""
    sid, code = _park_at_k1(store)
    target = store["K1"].config.api.tcp
    with pytest.raises(grpc.RpcError) as refused:
        _transfer(target, store_ca, store_ca.issue("K2"), code)  # claims to be K3
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = _error_info(refused.value)
    assert info.reason == "STORE_PEER_NOT_THAT_REGISTER"
    assert info.metadata["register_id"] == "K3"
    assert info.metadata["certificate_names"] == "K2, localhost"
    details = refused.value.details() or ""
    assert "K3" in details and "K2" in details
    with store["K1"].client() as k1:
        assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED

    answer = _transfer(target, store_ca, store_ca.issue("K3"), code)
    assert answer.from_register_id == "K1"
    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
    assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_TRANSFERRED, "K3")


def test_a_register_presenting_another_registers_certificate_takes_nothing_over(
    tmp_path: Path, store_ca: TestCA
) -> None:
    """K3 is configured with K2's certificate (of the store CA): K1 refuses to hand the
    sale over to it, and K3 says why."""
    store_ca.alias["K3"] = "K2"
    store = _start(tmp_path, store_ca)
    try:
        sid, code = _park_at_k1(store)
        refused = _k3_cannot_resume(store, sid, code)
        assert refused.reason == "TRANSFER_REFUSED"
        assert refused.metadata.get("register_id") == "K1"
        assert refused.metadata.get("peer_reason") == "STORE_PEER_NOT_THAT_REGISTER"
        _still_parked_at_k1(store, sid, code)
    finally:
        _stop(store)


def test_the_asking_register_refuses_a_peer_whose_certificate_names_another_register(
    tmp_path: Path, store_ca: TestCA
) -> None:
    """K1 serves with K2's certificate (of the store CA): K3, asking store.peers.K1,
    refuses the TLS handshake (the certificate does not name K1), says so, and K1 is
    asked nothing."""
    store_ca.alias["K1"] = "K2"
    store = _start(tmp_path, store_ca)
    try:
        sid, code = _park_at_k1(store)
        refused = _k3_cannot_resume(store, sid, code)
        assert refused.reason == "STORE_PEER_CERTIFICATE_MISMATCH"
        assert refused.metadata.get("register_id") == "K1"
        assert "K1" in refused.message
        _still_parked_at_k1(store, sid, code)
    finally:
        _stop(store)
