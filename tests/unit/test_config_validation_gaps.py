"""Config input that slipped past validation: a start that crashed with a traceback on a
path posd must create, a file from a Windows editor refused as "Invalid statement", a typo
reported without the key it meant, VAT percents and operator ids the rest of the daemon
cannot use. Each must be a clear line naming the key, from ``load``, ``posd
--check-config`` and the daemon's own start alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from posd_daemon.ops.config import ConfigError, load
from tests.support.check_config import check_config

_PIN = "scrypt$16384$8$1$cG9zZC1kZW1vLXNhbHQtMg==$5OkpXSCGJd9uKZmLgz8AlathXuq9mdaD0tIW0ybtnjw="


def problems(tmp_path: Path, doc: dict[str, Any]) -> str:
    doc = {"state": {"dir": str(tmp_path / "state")}, **doc}
    with pytest.raises(ConfigError) as err:
        load(None, doc)
    return str(err.value)


def loads(tmp_path: Path, doc: dict[str, Any]) -> None:
    load(None, {"state": {"dir": str(tmp_path / "state")}, **doc})


def write_config(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "posd.toml"
    state = tmp_path / "state"
    config.write_text(f'[state]\ndir = "{state}"\n[metrics]\nlisten = ""\n{body}', "utf-8")
    return config


def start_daemon(config: Path) -> subprocess.CompletedProcess[str]:
    """The daemon itself (not --check-config), as systemd's ExecStart runs it."""
    return subprocess.run(
        [sys.executable, "-m", "posd_daemon.main", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- paths posd creates or writes: a file in the way crashed the start ---------------------


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "a-file"
    f.write_text("not a directory\n", "utf-8")
    return f


@pytest.mark.parametrize(
    ("key", "section", "name", "value"),
    [
        # FileExistsError from SoftwareTse's mkdir: a traceback, exit 1 (systemd restarts)
        ("tse.software_dir", "tse", "software_dir", "{file}"),
        ("tse.software_dir", "tse", "software_dir", "{file}/tse"),
        # FileExistsError from the sim printer's mkdir of the output's directory
        ("printer.output", "printer", "output", "{file}/paper.txt"),
    ],
)
def test_a_file_where_posd_needs_a_directory_stops_the_start_cleanly(
    tmp_path: Path, a_file: Path, key: str, section: str, name: str, value: str
) -> None:
    config = write_config(tmp_path, f'[{section}]\n{name} = "{value.format(file=a_file)}"\n')
    for run in (check_config(config), start_daemon(config)):
        assert run.returncode == 78, run.stderr
        assert "Traceback" not in run.stderr
        assert f"{key}: " in run.stderr, run.stderr
        assert "not a directory" in run.stderr


def test_a_file_in_the_state_dir_where_the_tse_dir_belongs_stops_the_start_cleanly(
    tmp_path: Path,
) -> None:
    # the default software_dir, {state_dir}/tse, left a file by hand (or a restore)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "tse").write_text("", "utf-8")
    run = start_daemon(write_config(tmp_path, ""))
    assert run.returncode == 78, run.stderr
    assert "Traceback" not in run.stderr
    assert f"tse.software_dir: {tmp_path / 'state' / 'tse'} is not a directory" in run.stderr


@pytest.mark.parametrize(
    ("section", "name"),
    [("printer", "output"), ("display", "mirror"), ("scanner", "fifo")],
)
def test_a_directory_where_a_sim_device_needs_its_file_is_refused(
    tmp_path: Path, section: str, name: str
) -> None:
    # the printer's paper could never be written (every print job failed), the display's
    # mirror silently stayed empty, the scanner's FIFO never opened
    folder = tmp_path / "folder"
    folder.mkdir()
    run = check_config(write_config(tmp_path, f'[{section}]\n{name} = "{folder}"\n'))
    assert run.returncode == 78, run.stderr
    assert "Traceback" not in run.stderr
    assert f"{section}.{name}: {folder} is a directory" in run.stderr


def test_the_default_paths_under_a_fresh_state_dir_pass(tmp_path: Path) -> None:
    # nothing exists yet: posd creates the state dir and everything under it
    run = check_config(write_config(tmp_path, ""))
    assert run.returncode == 0, run.stderr


# -- the file itself ------------------------------------------------------------------------


def test_a_config_saved_with_a_utf8_bom_loads(tmp_path: Path) -> None:
    # Notepad and other Windows editors save UTF-8 with a byte order mark; tomllib read
    # it as "Invalid statement (at line 1, column 1)", naming nothing
    config = write_config(tmp_path, '[register]\nshop_name = "Bäckerei"\n')
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
    run = check_config(config)
    assert run.returncode == 0, run.stderr
    assert load(config).register.shop_name == "Bäckerei"


def test_a_config_not_in_utf8_names_the_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")
    config.write_bytes(
        config.read_bytes() + '[register]\nshop_name = "Bäckerei"\n'.encode("cp1252")
    )
    run = check_config(config)
    assert run.returncode == 78
    assert "Traceback" not in run.stderr
    assert "not UTF-8" in run.stderr and "line 6" in run.stderr, run.stderr


# -- unknown keys: the key that was probably meant -------------------------------------------


@pytest.mark.parametrize(
    ("doc", "line"),
    [
        (
            {"printer": {"colums": 42}},
            "printer.colums: unknown key (did you mean printer.columns?)",
        ),
        ({"printr": {"url": ""}}, "printr: unknown key (did you mean printer?)"),
        (
            {"operators": [{"id": "9", "name": "N", "role": "cashier", "pin": _PIN}]},
            "operators[0].pin: unknown key (did you mean operators[0].pin_scrypt?)",
        ),
    ],
)
def test_an_unknown_key_suggests_the_likely_one(
    tmp_path: Path, doc: dict[str, Any], line: str
) -> None:
    assert line in problems(tmp_path, doc)


def test_an_unknown_key_like_none_gets_no_suggestion(tmp_path: Path) -> None:
    text = problems(tmp_path, {"printer": {"xyzzy": 1}})
    assert "printer.xyzzy: unknown key\n" in text + "\n"


def test_check_config_prints_the_suggestion(tmp_path: Path) -> None:
    run = check_config(write_config(tmp_path, "[api]\ngrace_second = 5\n"))
    assert run.returncode == 78
    assert "api.grace_second: unknown key (did you mean api.grace_seconds?)" in run.stderr


# -- VAT percent: plain decimal notation --------------------------------------------------------


@pytest.mark.parametrize("percent", ["1E1", "1e1", "-0", "+19", "1_9", " 19", "19.", ".5", "0x13"])
def test_a_vat_percent_not_in_plain_decimal_notation_is_refused(
    tmp_path: Path, percent: str
) -> None:
    # Decimal() took them, and receipts, journal and exports print str(percent):
    # "1E+1%", "-0%" on a receipt
    rate = {"category": "NORMAL", "percent": percent, "valid_from": "2000-01-01"}
    assert "vat_rates[0].percent: " in problems(tmp_path, {"vat_rates": [rate]})


@pytest.mark.parametrize("percent", ["19", "0", "7.5", "10.70", "99.99"])
def test_a_vat_percent_in_plain_notation_loads(tmp_path: Path, percent: str) -> None:
    loads(
        tmp_path,
        {"vat_rates": [{"category": "NORMAL", "percent": percent, "valid_from": "2000-01-01"}]},
    )


# -- operator ids: what a log-in can name -------------------------------------------------------


@pytest.mark.parametrize("op_id", ["", "x" * 65])
def test_an_operator_id_no_login_can_name_is_refused(tmp_path: Path, op_id: str) -> None:
    # Login refuses an operator id that is empty or longer than 64 characters
    # (services/auth.py): such an operator could never log in
    op = {"id": op_id, "name": "N", "role": "cashier", "pin_scrypt": _PIN}
    assert "operators[0].id: " in problems(tmp_path, {"operators": [op]})


def test_an_operator_id_of_64_characters_loads(tmp_path: Path) -> None:
    op = {"id": "x" * 64, "name": "N", "role": "cashier", "pin_scrypt": _PIN}
    loads(tmp_path, {"operators": [op]})
