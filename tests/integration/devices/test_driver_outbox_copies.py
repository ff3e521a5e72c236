"""Every document printed again by the outbox after its bytes may have reached the paper
is marked as a copy, whatever kind of document it is.

The real daemon in-process with the embedded default's simulated printer (its paper is
``printer.txt``); the first print's done-mark is made to fail with the project's crash
point in "raise and go on" mode, so the job is printed a second time (at-least-once).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import closing_pb2

from posd_daemon.ops import crashpoints
from tests.conftest import Running
from tests.integration.api.test_full_sale_api import seed
from tests.integration.devices.test_outbox_faults import SEPARATOR, wait_for


@pytest.fixture
def armed() -> Iterator[Callable[[str], None]]:
    yield crashpoints.arm_from_env
    crashpoints.arm_from_env("")


def printed(state_dir: Path, pattern: str) -> list[str]:
    out = state_dir / "printer.txt"
    text = out.read_text("utf-8") if out.exists() else ""
    mark = re.compile(pattern)
    return [d for d in text.split(SEPARATOR) if mark.search(d)]


def test_a_cash_movement_slip_printed_again_is_marked_as_a_copy(
    running: Running, pos: PosdClient, armed: Callable[[str], None]
) -> None:
    # A deposit slip carries a gapless number and the TSE signature: a Beleg like a
    # receipt. Printed a second time (its first print reached the paper, marking the
    # job done failed), the second must not pass for the original.
    seed(pos)
    wait_for(lambda: pos.status().pending_jobs == 0)
    armed("print.after_device:1:raise")
    movement = pos.add_cash_movement(
        closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 5000, "Wechselgeld von der Bank"
    )
    pattern = rf"Beleg-Nr\. K{movement.number}\b"
    wait_for(lambda: len(printed(running.config.state_dir, pattern)) == 2)
    wait_for(lambda: pos.status().pending_jobs == 0)
    original, again = printed(running.config.state_dir, pattern)
    assert "KOPIE" not in original
    assert "*** KOPIE ***" in again
