"""``display.rows = 1``: a one-row pole display, configured as a site would, gets the
one-row rule of services/display.py through the real wiring (config -> profile ->
emulated display, whose mirror file is what the customer sees): after a cash payment
the total and the change take turns on the single row. Bad values are refused at start."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from posd.v1 import common_pb2

from posd_daemon.devices.setup import display_profile
from posd_daemon.ops.config import ConfigError, load
from tests.conftest import start_in_thread

CASH = common_pb2.PAYMENT_METHOD_CASH


def _seen_rows(mirror: Path, wanted: set[str], timeout: float = 8.0) -> set[str]:
    """The texts the mirror shows within ``timeout`` (polled), until all are seen."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not wanted <= seen:
        text = mirror.read_text("utf-8") if mirror.exists() else ""
        rows = [r.strip() for r in text.splitlines() if r.strip()]
        seen.update(r for r in rows if any(w in r for w in wanted))
        seen.update(w for w in wanted if any(w in r for r in rows))
        time.sleep(0.05)
    return seen


def test_a_one_row_display_shows_total_and_change_in_turns(tmp_path: Path) -> None:
    running = start_in_thread(tmp_path / "state", {"display": {"rows": 1, "alternate_seconds": 1}})
    try:
        assert display_profile(running.config).rows == 1
        with running.client() as pos:
            pos.upsert_item("B", "Brot", 449)
            sale = pos.create_sale()
            pos.add_line(sale.sale_id, item_id="B")
            pos.add_payment(sale.sale_id, CASH, 500)
            pos.post_sale(sale.sale_id)
        mirror = running.config.state_dir / "display.txt"
        seen = _seen_rows(mirror, {"SUMME", "RÜCKGELD"})
        assert seen >= {"SUMME", "RÜCKGELD"}, seen
        # one row: never two lines at once
        assert len([r for r in mirror.read_text("utf-8").splitlines() if r.strip()]) <= 1
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("rows", 5, "display.rows"),
        ("rows", -1, "display.rows"),
        ("alternate_seconds", 0, "display.alternate_seconds"),
    ],
)
def test_bad_display_rows_are_refused(key: str, value: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(None, {"display": {key: value}})
