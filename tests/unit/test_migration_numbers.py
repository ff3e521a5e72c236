"""Migrations are numbered 1..N without a gap or a repeat; two branches adding the same
number must fail at start, not apply one of the two silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from posd_daemon.store.database import StoreError, _migrations, _numbered


def test_the_shipped_migrations_are_numbered_without_gaps() -> None:
    numbers = [v for v, _ in _migrations()]
    assert numbers == list(range(1, len(numbers) + 1))


def write(folder: Path, *names: str) -> Path:
    folder.mkdir()
    for name in names:
        (folder / name).write_text("SELECT 1;", "utf-8")
    return folder


def test_two_migrations_of_one_number_are_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", "001_a.sql", "002_b.sql", "002_c.sql")
    with pytest.raises(StoreError, match="share number 2"):
        _numbered(folder)


def test_a_gap_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", "001_a.sql", "003_c.sql")
    with pytest.raises(StoreError, match="not numbered"):
        _numbered(folder)
