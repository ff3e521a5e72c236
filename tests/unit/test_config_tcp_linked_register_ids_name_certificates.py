"""Registers linked over TCP know each other by the register id their certificate names
as a DNS name (api/register_link.py): so on TCP the ids are DNS labels (RFC 1123
section 2.1: letters, digits, inner hyphens), refused at load otherwise instead of a
link that fails only when a slip is scanned. Peers on unix sockets keep any register id.
Also the rule that matches a certificate's names to a register id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from posd_daemon.api.register_link import certificate_register_names, names_register
from posd_daemon.ops.config import ConfigError, load
from tests.support.tls import TestCA

TLS = {"tls_cert": "/etc/posd/reg1.pem", "tls_key": "/etc/posd/reg1.key"}
STORE_CA = "/etc/posd/store-ca.pem"


def doc(tmp_path: Path, reg: str, peers: dict[str, str]) -> dict[str, Any]:
    return {
        "state": {"dir": str(tmp_path)},
        "register": {"id": reg},
        "store": {"peers": peers, "secret": "x", "tls_ca": STORE_CA},
        "api": TLS,
    }


def test_a_tcp_peer_whose_id_is_no_dns_label_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, doc(tmp_path, "REG-1", {"Kasse 2": "10.0.0.2:50051", "REG.3": "h:1"}))
    found = str(err.value)
    assert "store.peers.Kasse 2: a register on TCP is known by its certificate" in found
    assert "store.peers.REG.3: a register on TCP" in found


def test_this_registers_id_must_be_a_dns_label_with_tcp_peers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, doc(tmp_path, "Kasse 1", {"REG-2": "10.0.0.2:50051"}))
    assert "register.id: with peers on TCP (store.peers.REG-2)" in str(err.value)


def test_unix_peers_and_dns_label_ids_load(tmp_path: Path) -> None:
    unix = {"Kasse 2": "unix:/run/posd/k2.sock"}
    assert load(None, doc(tmp_path, "Kasse 1", unix)).store.peers == unix
    tcp = {"REG-2": "10.0.0.2:50051", "k3": "10.0.0.3:50051"}
    assert load(None, doc(tmp_path, "REG-1", tcp)).store.peers == tcp


def _names(ca: TestCA, cn: str, san: list[x509.GeneralName] | None) -> list[str]:
    """The names of a certificate of ``ca`` with subject CN ``cn`` and these SANs."""
    cert_path, _ = ca.issue(cn)
    issued = x509.load_pem_x509_certificate(cert_path.read_bytes())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issued.issuer)
        .public_key(issued.public_key())
        .serial_number(1)
        .not_valid_before(issued.not_valid_before_utc)
        .not_valid_after(issued.not_valid_after_utc)
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return certificate_register_names(cert.public_bytes(serialization.Encoding.PEM))


def test_a_certificate_names_registers_by_dns_name_else_by_cn(tmp_path: Path) -> None:
    ca = TestCA(tmp_path, "store")
    uri = x509.UniformResourceIdentifier("urn:posd:register:K1")
    # DNS subjectAltNames, when there are any, are the names; the CN is not one then
    assert _names(ca, "K1", [x509.DNSName("K2"), x509.DNSName("localhost")]) == ["K2", "localhost"]
    # no DNS subjectAltName (none at all, or of other kinds): the subject CN
    assert _names(ca, "K1", None) == ["K1"]
    assert _names(ca, "K1", [uri]) == ["K1"]
    assert certificate_register_names(b"not a certificate") == []
    assert names_register(["k1"], "K1")  # DNS names: case-insensitive
    assert not names_register(["*.store"], "K1")
    assert not names_register(["K2", "localhost"], "K1")
    assert not names_register([], "")
