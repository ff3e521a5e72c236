"""Peers on TCP are linked only with mutual TLS: the CA the other registers are verified
against (``store.tls_ca``) and this register's certificate and key (``api.tls_cert``,
``api.tls_key``). Missing, the config is refused at load naming the keys and the peers
(before, such a register started and failed only when a slip was scanned: its link
verified peers against the system CAs and presented no certificate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from posd_daemon.ops.config import ConfigError, file_problems, load

TLS = {"tls_cert": "/etc/posd/reg1.pem", "tls_key": "/etc/posd/reg1.key"}
TCP_PEERS = {"REG-2": "unix:/run/posd/reg2.sock", "REG-3": "10.0.0.3:50051"}


def doc(tmp_path: Path, store: dict[str, Any], api: dict[str, Any] | None = None) -> Any:
    return {"state": {"dir": str(tmp_path)}, "store": store, "api": api or {}}


def problems(tmp_path: Path, store: dict[str, Any], api: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        load(None, doc(tmp_path, store, api))
    return str(err.value)


def test_tcp_peers_without_the_store_ca_are_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, {"peers": TCP_PEERS, "secret": "x"}, TLS)
    assert "store.tls_ca: required with peers on TCP (store.peers.REG-3)" in found
    assert "api.tls_cert" not in found


def test_tcp_peers_without_this_registers_certificate_are_refused(tmp_path: Path) -> None:
    store = {"peers": TCP_PEERS, "secret": "x", "tls_ca": "/etc/posd/store-ca.pem"}
    for api in ({}, {"tls_cert": TLS["tls_cert"]}, {"tls_key": TLS["tls_key"]}):
        found = problems(tmp_path, store, api)
        assert "api.tls_cert, api.tls_key: required with peers on TCP (store.peers.REG-3)" in (
            found
        ), api
        assert "store.tls_ca" not in found


def test_a_register_linked_over_mutual_tls_loads(tmp_path: Path) -> None:
    store = {"peers": TCP_PEERS, "secret": "x", "tls_ca": "/etc/posd/store-ca.pem"}
    cfg = load(None, doc(tmp_path, store, TLS))
    assert (cfg.store.peers, cfg.store.tls_ca) == (TCP_PEERS, "/etc/posd/store-ca.pem")


def test_peers_on_unix_sockets_need_no_tls(tmp_path: Path) -> None:
    peers = {"REG-2": "unix:/run/posd/reg2.sock"}
    assert load(None, doc(tmp_path, {"peers": peers, "secret": "x"})).store.tls_ca == ""


def test_an_unreadable_store_ca_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    store = {"peers": TCP_PEERS, "secret": "x", "tls_ca": str(missing)}
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    cfg = load(None, doc(tmp_path, store, {"tls_cert": str(cert), "tls_key": str(key)}))
    assert [p.split(":")[0] for p in file_problems(cfg)] == ["store.tls_ca"]
