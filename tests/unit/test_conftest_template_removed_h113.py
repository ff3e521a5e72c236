"""The migrated template database tests/conftest.py makes once per test process (in a
directory of its own under the temp dir) is removed when that process ends: before,
every test run left a posd-schema-* directory in /tmp per process (each xdist worker
makes its own). A real pytest session in a subprocess, its temp dir a new directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TINY = """
from pathlib import Path

from tests import conftest
from tests.conftest import running  # noqa: F401  (the fixture)


def test_first(running):
    assert (running.config.state_dir / "posd.sqlite3").exists()


def test_second_reuses_the_template(running):
    # made by the first test of this process, still there for the others
    assert len(conftest._schema) == 1 and conftest._schema[0].exists()
    Path(__file__).with_name("seen-" + str(conftest._schema[0].parent.name)).touch()
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_no_template_directory_is_left_behind(tmp_path: Path, workers: list[str]) -> None:
    test_file = tmp_path / "test_tiny.py"
    test_file.write_text(TINY, encoding="utf-8")
    # a short temp dir of its own: the daemon's socket path must fit a unix socket's
    # 107 bytes, which a directory under this test's tmp_path does not
    with tempfile.TemporaryDirectory(prefix="h113-") as short:
        tmp = Path(short)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
             "--basetemp", str(tmp / "b"), *workers, str(test_file)],
            cwd=ROOT,
            env={**os.environ, "TMPDIR": str(tmp)},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )  # fmt: skip
        left = sorted(p.name for p in tmp.glob("posd-schema-*"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout, proc.stdout
    # the session made a template (the second test saw it) ...
    seen = [p.name.removeprefix("seen-") for p in tmp_path.glob("seen-*")]
    assert len(seen) == 1 and seen[0].startswith("posd-schema-"), seen
    # ... and no process left one
    assert left == []
