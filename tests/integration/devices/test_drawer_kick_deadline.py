"""A drawer kick queued behind a long job on the printer's thread carries its deadline:
the printer gets to it too late, and the drawer stays shut (nobody stands at it any
more). Real TCP printer simulator, the real device manager."""

from __future__ import annotations

import threading
import time

import pytest

from posd_daemon.devices.errors import DrawerKickExpired
from posd_daemon.devices.model import DeviceState
from posd_daemon.devices.sim import TcpPrinterSimulator
from tests.integration.devices.test_device_manager import (  # noqa: F401
    Events,
    printer_manager,
    sim,
    wait_until,
)


def test_a_kick_the_printer_gets_to_after_its_deadline_is_not_done(
    sim: TcpPrinterSimulator,  # noqa: F811
) -> None:
    manager, printer, drawer = printer_manager(sim, Events())
    try:
        release = threading.Event()
        printer.worker.submit(lambda: release.wait(5))  # a long print holds the queue
        late = drawer.open(not_after=time.monotonic() + 0.1)
        time.sleep(0.3)
        release.set()
        with pytest.raises(DrawerKickExpired):
            late.result(5)
        time.sleep(0.2)  # what was sent has reached the simulator by now
        assert sim.core.drawer_kicks == 0
        assert drawer.state is not DeviceState.ERROR  # no device fault: only too late
        # in time, it kicks as ever
        drawer.open(not_after=time.monotonic() + 5).result(5)
        assert wait_until(lambda: sim.core.drawer_kicks == 1)  # the simulator reads on
    finally:
        manager.stop()
