"""Empty sales after the register's wall clock stepped back (NTP correcting a clock that
ran ahead, e.g. a hardware clock kept in local time read as UTC): a sale changed before
the step carries a time ahead of the corrected clock. It is still the operator's empty
sale: a new sale replaces it, and the sweep removes it once it has been idle for the
shop's timeout, not only once the clock has caught up with its time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posd.client import PosdClient, PosdError
from posd.v1 import sale_pb2

from tests.conftest import start_in_thread
from tests.integration.day.test_business_day import FixedClock
from tests.support.fullsale import update_shop

AHEAD = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
CORRECTED = AHEAD - timedelta(hours=1)


def gone(pos: PosdClient, sale_id: str) -> bool:
    try:
        sale = pos.get_sale(sale_id)
    except PosdError as err:
        return err.reason == "SALE_NOT_FOUND"
    return sale.state == sale_pb2.SALE_STATE_CANCELLED


def test_a_new_sale_replaces_an_empty_sale_made_before_the_clock_stepped_back(
    tmp_path: Path,
) -> None:
    clock = FixedClock(AHEAD)
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos:
            before = pos.create_sale().sale_id
            clock.now = CORRECTED
            after = pos.create_sale().sale_id
            assert gone(pos, before)
            assert pos.get_sale(after).state == sale_pb2.SALE_STATE_OPEN
    finally:
        running.stop()


def test_the_sweep_times_out_an_empty_sale_made_before_the_clock_stepped_back(
    tmp_path: Path,
) -> None:
    clock = FixedClock(AHEAD)
    running = start_in_thread(tmp_path / "state", clock=clock)
    try:
        with running.client() as pos, running.client("2", "0000") as cashier:
            update_shop(pos, empty_sale_timeout_seconds=10)
            sale_id = cashier.create_sale().sale_id
            clock.now = CORRECTED
            # idle for the timeout on the register's (monotonic) time, not on its wall
            # clock, which is now an hour behind the sale's last change
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not gone(pos, sale_id):
                time.sleep(0.2)
            assert gone(pos, sale_id)
    finally:
        running.stop()
