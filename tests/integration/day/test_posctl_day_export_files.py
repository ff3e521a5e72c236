"""``posctl export datev|cashbook|dsfinvk`` into a file or directory it cannot write
whole (a full disk, a file size limit): the command fails with one clear line and leaves
no half-written export under the name asked for (nor its temporary), and a previous
export of that name stays as it was. posctl runs as its own process (so that its file
size limit is its own) against the in-process daemon's real socket."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from posd.v1 import closing_pb2, common_pb2

from tests.conftest import Running
from tests.support.cash import close_as_expected
from tests.support.posctl_run import posctl_args

ROOT = Path(__file__).resolve().parents[3]
#: what the installed ``posctl`` script runs (pyproject.toml [project.scripts])
ENTRY_POINT = "import sys; from posd_daemon.cli.posctl import main; sys.exit(main())"


def posctl_limited(
    running: Running, tmp_path: Path, max_file_bytes: int, *args: str
) -> subprocess.CompletedProcess[str]:
    """posctl in a process whose files may grow to ``max_file_bytes`` (RLIMIT_FSIZE:
    what a full disk does to a write, EFBIG instead of ENOSPC; Python ignores SIGXFSZ).

    The limit is set by the new interpreter itself, before posctl starts: a
    ``preexec_fn`` would run Python in a child forked from this process, whose gRPC
    threads (the daemon under test runs in it) do not survive a fork; gRPC's fork
    handler then aborted the child now and then under load (SIGABRT, "epoll_wait
    error: Bad file descriptor") before posctl ever ran."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("daemon", "clients/python", ".")),
    }
    env.pop("POSD_CONFIG", None)
    limited = (
        "import resource; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({max_file_bytes}, {max_file_bytes})); "
        + ENTRY_POINT
    )
    return subprocess.run(
        [sys.executable, "-c", limited, *posctl_args(running, *args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )


@pytest.fixture
def where(tmp_path: Path) -> Path:
    """The exports' folder (tmp_path holds the daemon's state too)."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


def a_day(running: Running) -> str:
    """A sale, a cash withdrawal and Z 1; today's date on the register's calendar."""
    with running.client(open_shift=False) as pos:
        pos.open_shift(pos.cash_counts(total=10_000))
        pos.upsert_item("A", "Kaffee", 899)
        s = pos.create_sale()
        pos.add_line(s.sale_id, item_id="A")
        pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CASH, 899)
        pos.post_sale(s.sale_id)
        pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL, 1250, "Porto")
        close_as_expected(pos)
        pos.z_closing()
    return date.today().isoformat()


def refused_cleanly(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("posctl: "), r.stderr


@pytest.mark.parametrize("command", ["datev", "cashbook"])
def test_a_book_export_that_cannot_be_written_whole_leaves_no_half_file(
    running: Running, where: Path, command: str
) -> None:
    today = a_day(running)
    out = where / "book.csv"
    r = posctl_limited(
        running, where, 100, "export", command, "--from", today, "--to", today, str(out)
    )
    refused_cleanly(r)
    assert sorted(p.name for p in where.iterdir()) == []  # neither book.csv nor .part


def test_a_failed_book_export_keeps_the_previous_file(running: Running, where: Path) -> None:
    today = a_day(running)
    out = where / "book.csv"
    out.write_text("yesterday's export\n", encoding="utf-8")
    r = posctl_limited(
        running, where, 100, "export", "datev", "--from", today, "--to", today, str(out)
    )
    refused_cleanly(r)
    assert out.read_text(encoding="utf-8") == "yesterday's export\n"
    assert sorted(p.name for p in where.iterdir()) == ["book.csv"]


def test_a_dsfinvk_export_that_cannot_be_unpacked_whole_leaves_no_half_directory(
    running: Running, where: Path
) -> None:
    """Some of the 22 files fit under the limit, others not: the directory held the
    small ones, an export missing its lines and transactions that looked complete."""
    a_day(running)
    out = where / "export"
    r = posctl_limited(running, where, 600, "export", "dsfinvk", "--z", "1", str(out))
    refused_cleanly(r)
    assert sorted(p.name for p in where.iterdir()) == []


def test_a_failed_dsfinvk_export_into_a_directory_adds_nothing_to_it(
    running: Running, where: Path
) -> None:
    a_day(running)
    out = where / "export"
    out.mkdir()
    (out / "README.txt").write_text("for the tax auditor\n", encoding="utf-8")
    r = posctl_limited(running, where, 600, "export", "dsfinvk", "--z", "1", str(out))
    refused_cleanly(r)
    assert sorted(p.name for p in out.iterdir()) == ["README.txt"]
    assert sorted(p.name for p in where.iterdir()) == ["export"]


def test_a_dsfinvk_export_into_a_file_is_refused_before_it_is_fetched(
    running: Running, where: Path
) -> None:
    a_day(running)
    out = where / "export.csv"
    out.write_text("keep\n", encoding="utf-8")
    r = posctl_limited(running, where, 2**30, "export", "dsfinvk", "--z", "1", str(out))
    refused_cleanly(r)
    assert str(out) in r.stderr and "not a directory" in r.stderr, r.stderr
    assert out.read_text(encoding="utf-8") == "keep\n"


def test_a_dsfinvk_export_replaces_a_previous_one_in_its_directory(
    running: Running, where: Path
) -> None:
    a_day(running)
    out = where / "export"
    out.mkdir()
    (out / "index.xml").write_text("old", encoding="utf-8")
    r = posctl_limited(running, where, 2**30, "export", "dsfinvk", "--z", "1", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "index.xml").read_text(encoding="utf-8") != "old"
    assert len(list(out.iterdir())) == 22
    assert sorted(p.name for p in where.iterdir()) == ["export"]


def test_a_dsfinvk_export_into_the_current_directory(running: Running, where: Path) -> None:
    a_day(running)
    r = posctl_limited(running, where, 2**30, "export", "dsfinvk", "--z", "1", ".")
    assert r.returncode == 0, r.stderr
    assert len(list(where.iterdir())) == 22 and (where / "index.xml").is_file()
