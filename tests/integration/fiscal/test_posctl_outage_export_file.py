"""``posctl outage export`` writes its CSV all or nothing: a write that fails half-way
(a full disk, a file size limit) leaves the previous export as it was, never a truncated
CSV under the final name (posctl as a subprocess against an in-process daemon)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Running
from tests.integration.day.test_posctl_day_export_files import posctl_limited

#: smaller than the CSV's header line: every write of the export fails half-way
FILE_SIZE_LIMIT = 16


def posctl_process(
    running: Running, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """posctl as its own process, without a file size limit worth the name."""
    return posctl_limited(running, tmp_path, 2**40, *args)


@pytest.mark.parametrize("command", [("outage", "export"), ("tse", "export")])
def test_a_failed_write_leaves_the_previous_export_untouched(
    running: Running, tmp_path: Path, command: tuple[str, str]
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    out = exports / "previous-export"
    previous = b"the previous export, archived by the tax adviser\n"
    out.write_bytes(previous)
    r = posctl_limited(running, tmp_path, FILE_SIZE_LIMIT, *command, str(out))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("posctl: "), r.stderr
    assert out.read_bytes() == previous  # not a truncated CSV under the export's name
    assert sorted(p.name for p in exports.iterdir()) == ["previous-export"]


def test_an_output_path_that_is_a_directory_is_refused(running: Running, tmp_path: Path) -> None:
    r = posctl_process(running, tmp_path, "outage", "export", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.strip() == f"posctl: {tmp_path}: is a directory: give a file name"
    assert r.stdout == ""


@pytest.mark.parametrize(
    "command", [("outage", "export"), ("tse", "export"), ("export", "dsfinvk", "--z", "1")]
)
def test_an_output_in_a_missing_directory_is_said_as_such(
    running: Running, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Said before the export is fetched (a TSE export can take minutes), naming the
    directory typed, not the ``.part`` file posctl would have written."""
    missing = tmp_path / "no-such-dir"
    name = "export.zip" if "dsfinvk" in command else "export"
    r = posctl_process(running, tmp_path, *command, str(missing / name))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.strip() == f"posctl: {missing}: no such directory", r.stderr
    assert not missing.exists()
