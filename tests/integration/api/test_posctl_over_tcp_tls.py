"""posctl against a register's TCP API (TLS, optionally mutual): a real daemon served on
127.0.0.1:<free port> with certificates of a CA made in the test, the real posctl process
with ``--target``. Every refusal is one line naming what to fix, exit non-zero."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Running, running_daemon
from tests.integration.api.test_parking_handover_mutual_tls import _free_port
from tests.support.tls import TestCA


def posctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSD_", "POSCTL_"))}
    return subprocess.run(
        [sys.executable, "-m", "posd_daemon.cli.posctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def _one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0, r.stdout
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("posctl: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki", "store")


@pytest.fixture
def tls_only(tmp_path: Path, ca: TestCA) -> Iterator[Running]:
    """TLS without client certificates (no api.tls_client_ca)."""
    with running_daemon(tmp_path / "state", _api(ca, client_ca=False)) as r:
        yield r


@pytest.fixture
def mutual(tmp_path: Path, ca: TestCA) -> Iterator[Running]:
    """Mutual TLS: api.tls_client_ca set, clients must present a certificate of ``ca``."""
    with running_daemon(tmp_path / "state", _api(ca, client_ca=True)) as r:
        yield r


def _api(ca: TestCA, *, client_ca: bool, host: str = "127.0.0.1") -> dict[str, object]:
    cert, key = ca.issue("K1")
    api = {"tcp": f"{host}:{_free_port()}", "tls_cert": str(cert), "tls_key": str(key)}
    if client_ca:
        api["tls_client_ca"] = str(ca.ca_path)
    return {"api": api}


def _target(r: Running) -> str:
    return r.config.api.tcp


def test_status_over_tls(tls_only: Running, ca: TestCA) -> None:
    r = posctl("--target", _target(tls_only), "--tls-ca", str(ca.ca_path), "status")
    assert r.returncode == 0, r.stderr
    assert "running, register" in r.stdout


def test_status_over_tls_from_the_environment(tls_only: Running, ca: TestCA) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSD_", "POSCTL_"))}
    env["POSD_TARGET"] = _target(tls_only)
    r = subprocess.run(
        [sys.executable, "-m", "posd_daemon.cli.posctl", "--tls-ca", str(ca.ca_path), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "running, register" in r.stdout


def test_logged_in_commands_over_tls(tls_only: Running, ca: TestCA) -> None:
    r = posctl(
        "--target",
        _target(tls_only),
        "--tls-ca",
        str(ca.ca_path),
        "--operator",
        "1",
        "--pin",
        "1234",
        "journal",
        "verify",
    )
    assert r.returncode == 0, r.stderr
    assert "journal ok" in r.stdout


def status_with_certificate(
    running: Running, ca: TestCA, cert: Path, key: Path
) -> subprocess.CompletedProcess[str]:
    """posctl status over mutual TLS, showing ``cert`` and ``key``."""
    return posctl("--target", _target(running), "--tls-ca", str(ca.ca_path),
                  "--tls-cert", str(cert), "--tls-key", str(key), "status")  # fmt: skip


def test_status_over_mutual_tls_with_a_client_certificate(mutual: Running, ca: TestCA) -> None:
    cert, key = ca.issue("technician")
    r = status_with_certificate(mutual, ca, cert, key)
    assert r.returncode == 0, r.stderr
    assert "running, register" in r.stdout


def test_mutual_tls_without_a_client_certificate_says_to_give_one(
    mutual: Running, ca: TestCA
) -> None:
    r = posctl("--target", _target(mutual), "--tls-ca", str(ca.ca_path), "status")
    line = _one_line_error(r)
    assert "client certificate" in line and "--tls-cert" in line, line


def test_a_client_certificate_of_another_ca_is_said(
    mutual: Running, ca: TestCA, tmp_path: Path
) -> None:
    cert, key = TestCA(tmp_path / "other", "other").issue("technician")
    r = status_with_certificate(mutual, ca, cert, key)
    line = _one_line_error(r)
    assert "client certificate" in line and str(cert) in line, line


def test_the_wrong_ca_is_said(tls_only: Running, tmp_path: Path) -> None:
    other = TestCA(tmp_path / "other", "other")
    r = posctl("--target", _target(tls_only), "--tls-ca", str(other.ca_path), "status")
    line = _one_line_error(r)
    assert "--tls-ca" in line and str(other.ca_path) in line, line


def test_a_name_the_certificate_does_not_have_is_said(tmp_path: Path, ca: TestCA) -> None:
    # the certificate names K1, localhost and 127.0.0.1; the daemon listens on 127.0.0.2
    with running_daemon(tmp_path / "state", _api(ca, client_ca=False, host="127.0.0.2")) as d:
        r = posctl("--target", _target(d), "--tls-ca", str(ca.ca_path), "status")
    line = _one_line_error(r)
    assert "does not name 127.0.0.2" in line, line


def test_nothing_listening_is_said(ca: TestCA) -> None:
    target = f"127.0.0.1:{_free_port()}"
    r = posctl("--target", target, "--tls-ca", str(ca.ca_path), "status")
    line = _one_line_error(r)
    assert r.returncode == 3
    assert f"nothing listening on {target}" in line, line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--socket", "/tmp/x.sock", "--target", "h:1", "--tls-ca", "CA"], "not both"),
        (["--target", "h:1"], "--tls-ca"),
        (["--target", "nohost", "--tls-ca", "CA"], "HOST:PORT"),
        (["--target", "h:99999", "--tls-ca", "CA"], "--target"),
        (["--tls-ca", "CA"], "only with --target"),
        (["--target", "h:1", "--tls-ca", "CA", "--tls-cert", "CA"], "--tls-key"),
        (["--target", "h:1", "--tls-ca", "MISSING"], "MISSING: no such file"),
        (["--target", "h:1", "--tls-ca", "DIR"], "DIR: is a directory"),
        (
            ["--target", "h:1", "--tls-ca", "CA", "--tls-cert", "CA", "--tls-key", "MISSING"],
            "MISSING: no such file",
        ),
        (["--target", "h:1", "--tls-ca", "GARBAGE"], "GARBAGE: no PEM certificate"),
    ],
)
def test_option_mistakes_are_one_line(
    args: list[str], says: str, ca: TestCA, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    names = {
        "CA": str(ca.ca_path),
        "MISSING": str(tmp_path / "missing.pem"),
        "DIR": str(tmp_path),
        "GARBAGE": str(garbage),
    }
    line = _one_line_error(posctl(*[names.get(a, a) for a in args], "status"))
    for name in ("MISSING", "DIR", "GARBAGE"):
        says = says.replace(name, names[name])
    assert says in line, line


def test_a_key_of_another_certificate_is_said(ca: TestCA) -> None:
    cert, _ = ca.issue("technician")
    _, key = ca.issue("other")
    args = ["--tls-ca", str(ca.ca_path), "--tls-cert", str(cert), "--tls-key", str(key)]
    line = _one_line_error(posctl("--target", "h:1", *args, "status"))
    assert str(key) in line and "does not belong" in line, line


def test_commands_reading_the_database_directly_are_refused_remotely(
    ca: TestCA, tmp_path: Path
) -> None:
    remote = ["--target", "h:1", "--tls-ca", str(ca.ca_path)]
    line = _one_line_error(posctl(*remote, "journal", "verify", "--db", str(tmp_path / "x")))
    assert "--db" in line and "--target" in line, line
    line = _one_line_error(posctl(*remote, "receipts", "url", "1"))
    assert "--target" in line, line
