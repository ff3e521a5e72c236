"""After a restart the first hardware scan goes into the sale the cashier worked on last
(helper h98), over a real serial port (a pty pair) and the real daemon: the newest sale
by creation was taken, so a scan went into another open sale than the one on screen."""

from __future__ import annotations

import time
from pathlib import Path

from posd_daemon.devices.sim import PtyDevice
from tests.conftest import running_daemon
from tests.integration.api.test_devices_api import seed, wait_for


def test_the_first_scan_after_a_restart_goes_into_the_sale_worked_on_last(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    with PtyDevice() as pty:
        config = {"scanner": {"url": pty.url(9600)}}
        with running_daemon(state, config) as r, r.client() as pos:
            seed(pos)
            first = pos.create_sale()
            pos.add_line(first.sale_id, item_id="2002")
            second = pos.create_sale()  # a second customer's sale, started meanwhile
            pos.add_line(second.sale_id, item_id="2002")
            time.sleep(0.01)  # the change below is stamped after the second sale's
            pos.add_line(first.sale_id, item_id="2002")  # back at the first customer
        with running_daemon(state, config) as r, r.client() as pos:
            wait_for(lambda: pos.get_device("scanner").online)
            pty.write(b"4006381333931\r\n")
            wait_for(lambda: len(pos.get_sale(first.sale_id).lines) == 3, 3)
            assert len(pos.get_sale(second.sale_id).lines) == 1
