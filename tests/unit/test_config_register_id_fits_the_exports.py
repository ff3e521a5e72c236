"""register.id is written as DSFinV-K's Z_KASSE_ID (and as the TSE's clientId): an id
longer than the export's column would be cut there, and two registers whose ids differ
only past the cut would look the same in a tax audit. Refused at load, naming the limit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from posd_daemon.exports.dsfinvk_spec import MAX_LENGTH
from posd_daemon.ops.config import REGISTER_ID, ConfigError, load


def _load(tmp_path: Path, register_id: str) -> str:
    doc = {"state": {"dir": str(tmp_path)}, "register": {"id": register_id}}
    with pytest.raises(ConfigError) as err:
        load(None, doc)
    return str(err.value)


@pytest.mark.parametrize("length", [31, MAX_LENGTH["Z_KASSE_ID"], MAX_LENGTH["Z_KASSE_ID"] + 1, 64])
def test_a_register_id_longer_than_the_limit_is_refused(tmp_path: Path, length: int) -> None:
    message = _load(tmp_path, "K" * length)
    assert "register.id: 1..30 characters" in message
    assert "K" * length in message  # the value given, to find it in the file


def test_the_longest_register_id_fits_the_dsfinvk_column(tmp_path: Path) -> None:
    found = re.search(r"\{1,(\d+)\}", REGISTER_ID.pattern)
    assert found is not None
    longest = int(found.group(1))
    assert longest <= MAX_LENGTH["Z_KASSE_ID"] == 50  # DSFinV-K: Z_KASSE_ID is A50
    assert load(None, {"state": {"dir": str(tmp_path)}, "register": {"id": "K" * longest}})
