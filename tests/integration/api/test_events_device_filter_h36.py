"""SubscribeEvents filtered to one device whose id is only known once it is plugged in.

A printer configured without a serial number (``usb://04b8:0e15``) that is off when posd
starts gets its full stable id (``usb:04b8:0e15:SERIAL``) when it is plugged in. A UI that
subscribed to its events by alias before then must still get them (paper out, cover
open, back online): the filter follows the device, not the id it had at subscribe time.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from posd.v1 import device_pb2

from posd_daemon.bootstrap import start
from posd_daemon.devices.sim import FakeUsbBackend, FakeUsbPrinter
from posd_daemon.ops import eventloop
from posd_daemon.ops.config import load
from tests.conftest import Running
from tests.integration.api.test_devices_api import Stream, wait_for


def test_a_device_filter_follows_a_printer_plugged_in_after_the_subscription(
    tmp_path: Path,
) -> None:
    usb = FakeUsbPrinter(serial="X5GF012345")
    usb.unplug()  # switched off when posd starts
    backend = FakeUsbBackend(usb)
    config = load(
        None,
        {
            "state": {"dir": str(tmp_path / "state")},
            "metrics": {"listen": ""},
            "register": {"timezone": "UTC"},
            "printer": {"url": "usb://04b8:0e15", "status_poll_ms": 50},
        },
    )
    loop = eventloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    daemon = asyncio.run_coroutine_threadsafe(start(config, usb_backend=backend), loop).result(20)
    running = Running(config, daemon, loop, thread)
    try:
        with running.client(open_shift=False) as ui:
            printer = ui.get_device("printer")
            assert not printer.online
            events = Stream(ui, device_id="printer")
            wait_for(lambda: daemon.bus is not None and daemon.bus.subscriber_count == 1)
            usb.plug()
            assert daemon.devices is not None
            daemon.devices.manager.rescan()
            wait_for(lambda: ui.get_device("printer").online, 10)
            online = ui.get_device("printer").device_id
            assert online == "usb:04b8:0e15:X5GF012345"
            wait_for(lambda: events.of("state_change"), 5)
            assert {e.device_id for e in events.events} == {online}
            assert any(
                e.state_change.state == device_pb2.DEVICE_STATE_IDLE
                for e in events.of("state_change")
            )
            events.close()
    finally:
        running.stop()
