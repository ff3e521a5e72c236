"""The embedded defaults (``ops/default_config.toml``) are the reference a technician
edits ``/etc/posd/posd.toml`` from: the README promises that the file documents every
key and says how a config file is merged over it. A key without a word about it there
(``api.session_hours``, ``tse.fiskaly_tss_id``, ``printer.status_timeout_ms``) leaves
the technician to read the source; a merge rule stated wrongly (``[roles]`` "merged key
by key") makes a config that adds one role lose the demo's others."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from posd_daemon.ops.config import ConfigError, load

_TEXT = (resources.files("posd_daemon.ops") / "default_config.toml").read_text("utf-8")
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=")
_HEADER = re.compile(r"^\[\[?([A-Za-z_.]+)\]\]?")


def _inline_comment(line: str) -> bool:
    """A ``#`` after the value: one before which the line is a complete TOML key/value
    (a ``#`` inside a string, or a comment quoting a string, is told apart so)."""
    for at in (i for i, ch in enumerate(line) if ch == "#"):
        try:
            tomllib.loads(line[:at])
        except tomllib.TOMLDecodeError:
            continue
        return True
    return False


def undocumented_keys(text: str) -> list[str]:
    """Keys of the file with no comment of their own: none on their line, and no comment
    line heading the run of key lines (without a blank line) they stand in. A repeated
    ``[[table]]`` is documented where it first appears."""
    lines = text.splitlines()
    missing: list[str] = []
    table = ""
    headed = False  # the current run of key lines follows a comment
    documented_arrays: set[str] = set()
    for i, raw in enumerate(lines):
        line = raw.strip()
        header = _HEADER.match(line)
        if header:
            table = header.group(1)
            above = lines[i - 1].strip() if i else ""
            headed = above.startswith("#") or "#" in line.split("]")[-1]
            if line.startswith("[["):
                headed = headed or table in documented_arrays
                if headed:
                    documented_arrays.add(table)
            continue
        if not line:
            headed = False
            continue
        if line.startswith("#"):
            headed = True
            continue
        key = _KEY.match(raw)
        if key is None:  # a continuation line of a multi-line value
            continue
        if not (headed or _inline_comment(raw)):
            missing.append(f"{table}.{key.group(1)}")
    return missing


def test_every_key_of_the_embedded_defaults_is_documented() -> None:
    assert undocumented_keys(_TEXT) == []


def test_the_checker_finds_a_key_without_a_comment() -> None:
    text = "[api]\n# the socket\nsocket = 'x'\n\nsession_hours = 12\n"
    assert undocumented_keys(text) == ["api.session_hours"]


def test_roles_in_a_config_file_replace_the_embedded_roles(tmp_path: Path) -> None:
    """What the file's header states: a config's ``[roles]`` is the whole role list (a
    role left out is gone, and an operator still naming it is refused at load)."""
    state = {"dir": str(tmp_path / "state")}
    with pytest.raises(ConfigError, match=re.escape("operators[0].role: unknown role 'manager'")):
        load(None, {"state": state, "roles": {"supervisor": ["SALE", "CLOSING"]}})
    cfg = load(
        None,
        {
            "state": state,
            "roles": {"manager": ["SALE"], "cashier": ["SALE"], "supervisor": ["CLOSING"]},
        },
    )
    assert set(cfg.roles) == {"manager", "cashier", "supervisor"}
    header = _TEXT.split("\n\n", 1)[0]
    assert "[roles]" in header, "the header states how [roles] merges"


def test_other_tables_merge_key_by_key_and_lists_replace(tmp_path: Path) -> None:
    defaults = tomllib.loads(_TEXT)
    cfg = load(
        None,
        {
            "state": {"dir": str(tmp_path / "state")},
            "printer": {"columns": 48},
            "register": {"footer": ["Danke"]},
        },
    )
    assert cfg.printer.columns == 48
    assert cfg.printer.profile == defaults["printer"]["profile"]  # merged key by key
    assert cfg.register.footer == ["Danke"]  # a list replaces
