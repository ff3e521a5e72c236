"""``[store]`` peers and secret: a register linked wrongly must not start as if linking
worked (it was silently off without a secret, and any peer entry was taken as it was)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from posd_daemon.ops.config import ConfigError, load


def problems(store: dict[str, Any], tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load(None, {"state": {"dir": str(tmp_path)}, "store": store})
    return str(err.value)


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"peers": {"REG-2": "unix:/run/reg2.sock"}}, "store.secret: required when store.peers"),
        ({"peers": {"REG-1": "unix:/x.sock"}, "secret": "s3cret"}, "store.peers.REG-1: this"),
        ({"peers": {"REG/2": "unix:/x.sock"}, "secret": "s3cret"}, "store.peers.REG/2: a reg"),
        ({"peers": {"REG-2": ""}, "secret": "s3cret"}, "store.peers.REG-2: a gRPC target"),
        ({"peers": {"REG-2": "host name:1"}, "secret": "s3cret"}, "store.peers.REG-2: a gRPC"),
    ],
)
def test_store_link_keys_are_checked(store: dict[str, Any], message: str, tmp_path: Path) -> None:
    assert message in problems(store, tmp_path)


def test_a_linked_register_loads(tmp_path: Path) -> None:
    peers = {"REG-2": "unix:/run/posd/reg2.sock", "REG-3": "10.0.0.3:50051"}
    # a TCP peer is reached over mutual TLS: the store's CA and this register's identity
    store = {"peers": peers, "secret": "x", "tls_ca": "/etc/posd/store-ca.pem"}
    api = {"tls_cert": "/etc/posd/reg1.pem", "tls_key": "/etc/posd/reg1.key"}
    cfg = load(None, {"state": {"dir": str(tmp_path)}, "store": store, "api": api})
    assert cfg.store.peers == peers
    # not linked: neither key set, or a secret alone (this register only answers)
    assert load(None, {"state": {"dir": str(tmp_path)}}).store.peers == {}
    assert load(None, {"state": {"dir": str(tmp_path)}, "store": {"secret": "x"}}).store.secret
