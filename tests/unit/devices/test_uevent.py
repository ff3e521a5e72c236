"""Kernel hot-plug events: exact datagram parsing, and a listener over a real socket."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

from posd_daemon.devices.uevent import UeventListener, parse_uevent

ADD_TTY = (
    b"add@/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0\0"
    b"ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/ttyUSB0/tty/"
    b"ttyUSB0\0SUBSYSTEM=tty\0MAJOR=188\0MINOR=0\0DEVNAME=ttyUSB0\0SEQNUM=4711\0"
)
REMOVE_LP = (
    b"remove@/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/usbmisc/lp0\0ACTION=remove\0"
    b"DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/usbmisc/lp0\0"
    b"SUBSYSTEM=usbmisc\0DEVNAME=usb/lp0\0SEQNUM=4712\0"
)


def test_parse_kernel_uevents() -> None:
    add = parse_uevent(ADD_TTY)
    assert add is not None
    assert (add.action, add.subsystem, add.devname) == ("add", "tty", "/dev/ttyUSB0")
    assert add.properties["SEQNUM"] == "4711"
    rm = parse_uevent(REMOVE_LP)
    assert rm is not None
    assert (rm.action, rm.subsystem, rm.devname) == ("remove", "usbmisc", "/dev/usb/lp0")


def test_noise_and_udev_messages_are_ignored() -> None:
    assert parse_uevent(b"libudev\0\xfe\xed\xca\xfe" + ADD_TTY) is None
    assert parse_uevent(b"") is None
    assert parse_uevent(b"explode@/devices/x\0") is None
    assert parse_uevent(b"add@relative/path\0") is None
    assert parse_uevent(b"add@/devices/x\0ACTION=remove\0") is None  # inconsistent
    assert parse_uevent(b"\xff\xfe\x00garbage") is None


def test_listener_calls_back_for_relevant_subsystems_only() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    seen: list[tuple[str, str]] = []
    got = threading.Event()

    def on_event(action: str, devnode: str) -> None:
        seen.append((action, devnode))
        if len(seen) == 2:
            got.set()

    listener = UeventListener(on_event, sock=ours)
    assert listener.start()
    try:
        theirs.send(b"add@/devices/virtual/net/veth0\0ACTION=add\0SUBSYSTEM=net\0")
        theirs.send(b"garbage")
        theirs.send(ADD_TTY)
        theirs.send(REMOVE_LP)
        assert got.wait(5)
    finally:
        listener.stop()
        theirs.close()
    assert seen == [("add", "/dev/ttyUSB0"), ("remove", "/dev/usb/lp0")]
    assert listener.events_seen == 2


def test_a_hotplug_event_wakes_the_device_rescan_at_once() -> None:
    import time

    from posd_daemon.devices.manager import DeviceManager, Discovery

    manager = DeviceManager(
        discovery=Discovery(usb_enabled=False, serial_globs=()),
        rescan_interval=3600.0,  # the periodic scan would not come during this test
        hotplug_events=False,
    )
    manager.start()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener = UeventListener(manager.hotplug, sock=ours)
    listener.start()
    try:
        before = manager.scans
        theirs.send(ADD_TTY)
        deadline = time.monotonic() + 5
        while manager.scans == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert manager.scans > before
    finally:
        listener.stop()
        manager.stop()
        theirs.close()


def test_a_lasting_socket_error_does_not_spin_the_listener() -> None:
    """Every receive fails (the socket's descriptor now names a directory: always
    readable, ENOTSOCK on recv): the listener backs off instead of retrying at full
    speed, and still stops promptly."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener = UeventListener(lambda action, devnode: None, sock=ours)
    assert listener.start()
    directory = os.open("/", os.O_RDONLY)
    os.dup2(directory, ours.fileno())
    os.close(directory)
    # ends the wait the listener may have begun on the socket before (its wait holds the
    # socket); refused when no wait held it: the socket is gone, nothing to end
    with contextlib.suppress(ConnectionRefusedError):
        theirs.send(b"x")
    try:
        before = time.process_time()
        time.sleep(0.6)
        spent = time.process_time() - before
        assert spent < 0.15, f"{spent:.2f} s of CPU in 0.6 s: the listener spins"
    finally:
        t0 = time.monotonic()
        listener.stop()
        assert time.monotonic() - t0 < 1.5
        theirs.close()
