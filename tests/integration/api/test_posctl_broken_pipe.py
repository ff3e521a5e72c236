"""``posctl ... | head -2``: the reader goes away before posctl has written all it had.
posctl ends quietly, as coreutils do on SIGPIPE (exit 141), not with "posctl: Broken
pipe" (exit 1) or Python's "Exception ignored ... BrokenPipeError" at its exit."""

from __future__ import annotations

import os
import subprocess
import sys

from posd.client import PosdClient

from tests.conftest import Running
from tests.support.posctl_run import posctl_args


def test_a_reader_that_went_away_ends_posctl_quietly(running: Running, pos: PosdClient) -> None:
    for n in range(3):
        sid = pos.create_sale().sale_id
        pos.upsert_item(f"I{n}", f"Artikel {n}", 100 + n)
        pos.add_line(sid, item_id=f"I{n}")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before posctl writes anything
    try:
        done = subprocess.run(
            [sys.executable, "-m", "posd_daemon.cli.posctl", *posctl_args(running, "sale", "list")],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141
