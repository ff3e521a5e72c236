"""A serial port whose drain (``tcdrain``, pyserial's ``flush()``) fails is a device
failure like any other: the transport raises its TransportError, never a bare
``termios.error`` (which is no OSError and would escape every device error handler).

The failure is provoked on a real fd: after the transport opened the pty, /dev/null is
dup'ed over its descriptor, so the write succeeds and ``tcdrain`` fails with ENOTTY.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES
from posd_daemon.devices.errors import TransportError
from posd_daemon.devices.pole_display import PoleDisplay
from posd_daemon.devices.sim import SerialDisplaySim
from posd_daemon.devices.transport import SerialTransport

PROFILE = BUILTIN_DISPLAY_PROFILES["epson-dm-d"]


def _fds_on(path: str) -> set[int]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}") == path:
                found.add(int(name))
    return found


@contextlib.contextmanager
def _opened_then_not_a_tty(transport: SerialTransport, path: str) -> Iterator[None]:
    """Open ``transport``; then its descriptor writes into /dev/null (not a tty)."""
    before = _fds_on(path)
    transport.open()
    (fd,) = _fds_on(path) - before
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
    yield


@pytest.fixture
def sim() -> Iterator[SerialDisplaySim]:
    with SerialDisplaySim(PROFILE) as device:
        assert isinstance(device, SerialDisplaySim)
        yield device


def test_a_failing_drain_is_a_transport_error(sim: SerialDisplaySim) -> None:
    transport = SerialTransport(sim.path)
    try:
        with (
            _opened_then_not_a_tty(transport, sim.path),
            pytest.raises(TransportError) as info,
        ):
            transport.write(b"\x0c")
        message = str(info.value)
        assert f"serial port {sim.path}" in message
        assert "failed" in message
    finally:
        transport.close()


def test_a_display_recovers_after_a_failing_drain(sim: SerialDisplaySim) -> None:
    """The device layer sees the failure (counted, port closed) and reconnects."""
    transport = SerialTransport(sim.path)
    display = PoleDisplay(transport, PROFILE)
    try:
        with _opened_then_not_a_tty(transport, sim.path):
            display.open()  # already open: keeps the broken descriptor
            with pytest.raises(TransportError):
                display.show("Brötchen", "1,20 €")
        assert display.errors == 1
        assert not transport.is_open
        display.show("Brötchen", "1,20 €")  # reopens the real port
        assert sim.display.wait_for_lines(("Brötchen", "1,20 €"))
    finally:
        display.close()
