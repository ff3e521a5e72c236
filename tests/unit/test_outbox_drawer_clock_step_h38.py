"""A drawer kick queued before the wall clock stepped back (NTP correcting a clock that ran
an hour ahead) must not get a deadline an hour longer: held by a printer fault, it would
pop the drawer long after the sale, with no cashier expecting it.

FAILS until OutboxWorker._kick bounds the kick's age (see the h38 report): a negative wall
age (the job's time is ahead of the clock) says the clock was stepped back, not that the
kick has more than DRAWER_KICK_MAX_AGE_S left."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from posd_daemon.services.executor import DbExecutor
from posd_daemon.services.outbox_worker import DRAWER_KICK_MAX_AGE_S
from posd_daemon.store.database import open_database
from tests.unit.test_outbox_drawer_expiry import NOW, Drawer, kick_queued, run_worker


def test_a_kick_queued_before_the_clock_stepped_back_keeps_its_deadline(
    tmp_path: Path,
) -> None:
    db = DbExecutor(open_database(tmp_path / "db.sqlite3"))
    kick_queued(db, "s1", 1, NOW + timedelta(hours=1))  # the clock ran an hour ahead
    drawer = Drawer()
    before = time.monotonic()
    run_worker(db, drawer)
    assert drawer.openings == 1
    (deadline,) = drawer.deadlines
    assert deadline is not None
    assert deadline <= before + DRAWER_KICK_MAX_AGE_S + 5, deadline - before
