"""posctl --target where the address is not the certificate's name (an IP address, an SSH
tunnel): ``--tls-server-name``; and the register's time zone on a computer that is not
the register (``--zone``). A real daemon on TCP with TLS, the real posctl process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Running, running_daemon
from tests.integration.api.test_posctl_over_tcp_tls import (  # noqa: F401
    _api,
    _one_line_error,
    _target,
    ca,
    posctl,
    tls_only,
)
from tests.support.tls import TestCA

#: the name the register's certificate carries (besides localhost and 127.0.0.1)
NAME = "kasse-01.filiale.example"


@pytest.fixture
def by_address(
    tmp_path: Path,
    ca: TestCA,  # noqa: F811
) -> Iterator[Running]:
    """A daemon on 127.0.0.2, which its certificate (for NAME) does not name."""
    ca.alias["K1"] = NAME
    with running_daemon(tmp_path / "state", _api(ca, client_ca=False, host="127.0.0.2")) as r:
        yield r


def _remote(r: Running, authority: TestCA, *args: str) -> list[str]:
    return ["--target", _target(r), "--tls-ca", str(authority.ca_path), *args]


def test_a_certificate_for_another_name_is_reached_with_tls_server_name(
    by_address: Running,
    ca: TestCA,  # noqa: F811
) -> None:
    line = _one_line_error(posctl(*_remote(by_address, ca), "status"))
    assert "does not name 127.0.0.2" in line and "--tls-server-name" in line, line
    r = posctl(*_remote(by_address, ca, "--tls-server-name", NAME), "status")
    assert r.returncode == 0, r.stderr
    assert "running, register" in r.stdout


def test_a_wrong_tls_server_name_is_said(
    by_address: Running,
    ca: TestCA,  # noqa: F811
) -> None:
    wrong = "kasse-02.filiale.example"
    r = posctl(*_remote(by_address, ca, "--tls-server-name", wrong), "status")
    line = _one_line_error(r)
    assert r.returncode == 1
    assert f"does not name {wrong}" in line and "--tls-server-name" in line, line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tls-server-name", NAME], "--tls-server-name: only with --target"),
        (["--target", "h:1", "--tls-server-name", NAME], "--target needs --tls-ca"),
        (["--target", "h:1", "--tls-ca", "CA", "--tls-server-name", "a b"], "'a b'"),
        (["--target", "h:1", "--tls-ca", "CA", "--tls-server-name", ""], "--tls-server-name"),
        (["--zone", "Europe/Berlin"], "--zone: only with --target"),
        (["--target", "h:1", "--tls-ca", "CA", "--zone", "Mars/Olympus"], "'Mars/Olympus'"),
    ],
)
def test_option_mistakes_are_one_line(
    args: list[str],
    says: str,
    ca: TestCA,  # noqa: F811
) -> None:
    r = posctl(*[str(ca.ca_path) if a == "CA" else a for a in args], "status")
    line = _one_line_error(r)
    assert r.returncode == 1  # as posctl's other connection mistakes
    assert says in line, line


def _opened(out: str) -> datetime:
    """The time of ``shift show``'s "opened YYYY-MM-DD HH:MM:SS[ UTC] by 1" line."""
    line = next(ln for ln in out.splitlines() if ln.startswith("opened "))
    return datetime.strptime(line.split()[1] + " " + line.split()[2], "%Y-%m-%d %H:%M:%S")


@pytest.fixture
def tokyo(
    tmp_path: Path,
    ca: TestCA,  # noqa: F811
) -> Iterator[Running]:
    """A register in Tokyo (register.timezone), reached over TLS from a computer whose
    posctl config names no zone (the tests' posctl reads none)."""
    overrides = {**_api(ca, client_ca=False), "register": {"timezone": "Asia/Tokyo"}}
    with running_daemon(tmp_path / "state", overrides) as r:
        yield r


def test_the_daemon_says_its_zone_and_posctl_keeps_its_clock(
    tokyo: Running,
    ca: TestCA,  # noqa: F811
) -> None:
    with tokyo.client(open_shift=False) as pos:
        assert pos.status().timezone == "Asia/Tokyo"
    login = ("--operator", "1", "--pin", "1234")
    r = posctl(*_remote(tokyo, ca), "status")
    assert r.returncode == 0, r.stderr
    assert "time zone:       Asia/Tokyo" in r.stdout, r.stdout
    r = posctl(*_remote(tokyo, ca, *login), "shift", "open", "--count", "50=1")
    assert r.returncode == 0, r.stderr
    shown = {}
    for zone in ("Asia/Tokyo", ""):
        r = posctl(
            *_remote(tokyo, ca, *login, *(("--zone", zone) if zone else ())), "shift", "show"
        )
        assert r.returncode == 0, r.stderr
        assert " UTC by " not in r.stdout  # a zone known: its wall clock, unlabelled
        shown[zone] = _opened(r.stdout)
    # no --zone: the register's clock as the daemon says it, not this computer's (UTC)
    assert shown[""] == shown["Asia/Tokyo"]
    tokyo_now = datetime.now(ZoneInfo("Asia/Tokyo")).replace(tzinfo=None)
    assert abs(tokyo_now - shown[""]) < timedelta(hours=1)  # opened just now, 9 h off UTC
    # another zone than the register keeps would move the dates given: refused
    r = posctl(
        *_remote(tokyo, ca, *login, "--zone", "UTC"), "receipts", "list", "--from", "2026-01-01"
    )
    line = _one_line_error(r)
    assert "--zone UTC" in line and "Asia/Tokyo" in line, line
    # dates given are days on the register's calendar (no --zone asked for)
    r = posctl(*_remote(tokyo, ca, *login), "receipts", "list", "--from", "2026-01-01")
    assert r.returncode == 0, r.stderr
    assert "(no receipts)" in r.stdout
