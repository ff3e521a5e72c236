"""Settings that open the register to more than its own group and proxy are served as
configured, but each is said at start, naming the setting: a TCP listener anyone who
reaches it can try PINs on (no client certificates), a socket open to every local user,
the plain-HTTP receipt server on a non-loopback address, receipt links over plain HTTP."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.conftest import start_in_thread
from tests.support.tls import self_signed

WARNINGS = (
    "api_tcp_without_client_auth",
    "api_socket_open_to_all",
    "receipt_server_not_loopback",
    "receipt_links_not_https",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _warnings(out: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in out.splitlines():
        for event in WARNINGS:
            if re.search(rf"\[warning\s*\] {event}\b", line):
                found[event] = line
    return found


def test_exposing_settings_are_warned_of_at_start_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = self_signed(tmp_path)
    port = _free_port()
    running = start_in_thread(
        tmp_path / "state",
        {
            "api": {
                "tcp": f"127.0.0.1:{port}",
                "tls_cert": str(cert),
                "tls_key": str(key),
                "socket_mode": "0666",
            },
            "digital_receipt": {
                "enabled": True,
                "listen": "0.0.0.0:0",
                "base_url": "http://kasse.example.de/r/",
            },
        },
    )
    try:
        assert running.daemon.tcp_port == port  # served as configured
    finally:
        running.stop()
    found = _warnings(capsys.readouterr().out)
    assert set(found) == set(WARNINGS), found
    assert "api.tls_client_ca" in found["api_tcp_without_client_auth"]
    assert f"127.0.0.1:{port}" in found["api_tcp_without_client_auth"]
    assert "api.socket_mode" in found["api_socket_open_to_all"]
    assert "0.0.0.0:0" in found["receipt_server_not_loopback"]
    assert "http://kasse.example.de/r/" in found["receipt_links_not_https"]


def test_the_defaults_and_a_proxied_receipt_server_warn_of_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running = start_in_thread(
        tmp_path / "state",
        {
            "digital_receipt": {
                "enabled": True,
                "listen": "127.0.0.1:0",
                "base_url": "https://kasse.example.de/r/",
            }
        },
    )
    running.stop()
    out = capsys.readouterr().out
    assert "serving" in out
    assert _warnings(out) == {}
