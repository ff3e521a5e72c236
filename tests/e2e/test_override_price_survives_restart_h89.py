"""An operator's price and the terms it was set in are kept with the sale: after a
restart of the real daemon process (SIGKILL or SIGTERM), a line priced 100.01 CZK and
switched to euros (4.11 EUR) comes back to 100.01 CZK, not to 99.93 CZK converted from
the rounded euros."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.api.test_override_currency_and_payment_edit_h89 import (
    _overridden_line,
    _price,
)
from tests.integration.api.test_sale_part2 import call, money
from tests.support.daemon_process import TEST_CONFIG, DaemonProcess
from tests.support.fullsale import update_shop


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    state = tmp_path / "state"
    state.mkdir()
    config = state / "posd-test.toml"
    config.write_text(TEST_CONFIG + '\n[register]\ncurrency = "CZK"\n', encoding="utf-8")
    with DaemonProcess(state, config=config) as d:
        yield d


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_an_overridden_price_is_converted_from_its_own_after_a_restart(
    daemon: DaemonProcess, how: str
) -> None:
    daemon.start()
    pos = daemon.client()
    update_shop(pos, simplified_invoice_limit=money(10**9, "CZK"))
    sid, _ = _overridden_line(pos)
    assert _price(pos, sid, "EUR") == 411
    parked = call(pos, "ParkSale", sale_id=sid).sale
    if how == "sigkill":
        assert daemon.kill() == -signal.SIGKILL
    else:
        assert daemon.terminate() == 0
    daemon.start()
    pos = daemon.client()
    back = call(pos, "ResumeSale", code=parked.parking_code).sale
    assert back.lines[0].unit_price.amount_minor == 411
    assert _price(pos, sid, "CZK") == 10001
    assert _price(pos, sid, "EUR") == 411
