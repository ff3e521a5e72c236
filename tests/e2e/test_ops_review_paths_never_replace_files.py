"""A path setting that names a file posd does not own must never cost that file.

The daemon replaces what it finds at ``api.socket`` (a stale socket of a daemon that was
killed), and writes the simulated devices' files. A slip in the config (the socket
named like the database, a path inside the software TSE's directory, a file someone
keeps) deleted that file: the register's fiscal journal, the TSE's signature counters.
Real ``posd`` processes (tests/support/daemon_process.py), real files.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `pytest` without `python -m`: make `tests.support` importable
    sys.path.insert(0, str(_ROOT))

from tests.support.daemon_process import DaemonError, DaemonProcess  # noqa: E402

pytestmark = pytest.mark.e2e

_LOG = '[log]\nformat = "json"\n'


def _refused(daemon: DaemonProcess, named: str) -> str:
    """Starts the daemon, expects exit 78 naming ``named``; returns stderr."""
    with pytest.raises(DaemonError) as failed:
        daemon.start()
    assert failed.value.returncode == 78, failed.value.stderr  # EX_CONFIG: no restart loop
    assert f"{named}:" in failed.value.stderr
    assert "Traceback" not in failed.value.stderr
    check = subprocess.run(
        [*daemon.argv(), "--check-config"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 78, check.stdout + check.stderr
    assert f"{named}:" in check.stderr
    return failed.value.stderr


def test_a_socket_path_naming_someone_elses_file_leaves_it_alone(tmp_path: Path) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("precious\n", encoding="utf-8")
    config = tmp_path / "posd.toml"
    config.write_text(f'[api]\nsocket = "{keep}"\n{_LOG}', encoding="utf-8")
    with DaemonProcess(tmp_path / "state", config=config) as daemon:
        stderr = _refused(daemon, "api.socket")
        assert "not a socket" in stderr
    assert keep.read_text(encoding="utf-8") == "precious\n"


def test_the_socket_named_like_the_database_keeps_the_journal(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with DaemonProcess(state) as daemon:
        daemon.start()
        with daemon.client() as pos:
            pos.create_sale()
        daemon.terminate()
    db = state / "posd.sqlite3"
    before = db.read_bytes()
    config = tmp_path / "posd.toml"
    config.write_text(f'[api]\nsocket = "{{state_dir}}/posd.sqlite3"\n{_LOG}', encoding="utf-8")
    with DaemonProcess(state, config=config) as daemon:
        _refused(daemon, "api.socket")
    assert db.exists() and db.read_bytes() == before


@pytest.mark.parametrize(
    ("key", "toml"),
    [
        ("api.socket", '[api]\nsocket = "{state_dir}/posd.sqlite3"\n'),
        ("api.socket", '[api]\nsocket = "{state_dir}/posd.sqlite3-wal"\n'),
        ("api.socket", '[api]\nsocket = "{state_dir}/posd.lock"\n'),
        ("api.socket", '[api]\nsocket = "{state_dir}/tse/tse.sqlite3"\n'),
        # both named: "printer.output: <path> is also api.socket"
        ("printer.output", '[api]\nsocket = "{state_dir}/printer.txt"\n'),
        ("display.mirror", '[display]\nmirror = "{state_dir}/posd.sqlite3"\n'),
        ("printer.output", '[printer]\noutput = "{state_dir}/./posd.sqlite3"\n'),
        ("scanner.fifo", '[scanner]\nfifo = "{state_dir}/tse/x"\n'),
    ],
    ids=[
        "socket-db",
        "socket-wal",
        "socket-lock",
        "socket-tse",
        "socket-printer",
        "mirror-db",
        "output-db",
        "fifo-tse",
    ],
)
def test_a_path_on_posds_own_files_is_a_config_error_before_anything_is_written(
    tmp_path: Path, key: str, toml: str
) -> None:
    config = tmp_path / "posd.toml"
    config.write_text(toml + _LOG, encoding="utf-8")
    state = tmp_path / "state"
    with DaemonProcess(state, config=config) as daemon:
        _refused(daemon, key)
    assert not (state / "posd.sqlite3").exists(), "touched the state before validating"


def test_a_stale_socket_at_a_custom_path_is_still_replaced(tmp_path: Path) -> None:
    """The check must not refuse what it exists for: a socket left by a killed daemon."""
    stale = tmp_path / "run" / "posd.sock"
    stale.parent.mkdir()
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(stale))
    left.close()  # bound, never listening: what a SIGKILLed daemon leaves
    config = tmp_path / "posd.toml"
    config.write_text(f'[api]\nsocket = "{stale}"\n{_LOG}', encoding="utf-8")
    with DaemonProcess(tmp_path / "state", config=config) as daemon:
        daemon.start()
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(stale))  # the daemon's socket now
        probe.close()
        daemon.terminate()
