"""Kernel hot-plug events (uevents) over netlink, so a replugged printer or scanner is
picked up at once instead of at the next periodic re-scan.

The kernel multicasts one datagram per device event on ``NETLINK_KOBJECT_UEVENT`` group 1
(this needs no udev daemon): ``ACTION@DEVPATH\\0KEY=VALUE\\0…`` with keys such as ACTION,
DEVPATH, SUBSYSTEM and DEVNAME (Linux ``lib/kobject_uevent.c``). Messages that udevd
re-broadcasts on group 2 start with ``libudev\\0`` and a binary header; they are ignored.
The codec is pure; the listener owns the socket (injectable for tests).
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from posd_daemon.ops import logging as plog

log = plog.get("posd.devices.uevent")

NETLINK_KOBJECT_UEVENT = 15
KERNEL_GROUP = 1
#: Subsystems whose devices posd may own: USB printers and scanners, serial ports,
#: /dev/usb/lp*, input devices (HID keyboard-wedge scanners).
SUBSYSTEMS = frozenset({"usb", "tty", "usbmisc", "input"})
ACTIONS = frozenset({"add", "remove", "change", "bind", "unbind"})
#: the pause after a failed read of the socket that is no lost-events notice
ERROR_PAUSE_S = 1.0


@dataclass(frozen=True, slots=True)
class UEvent:
    action: str
    devpath: str
    subsystem: str
    devname: str = ""
    properties: dict[str, str] = field(default_factory=dict)


def parse_uevent(data: bytes) -> UEvent | None:
    """A kernel uevent datagram, or None for anything else (udev's, truncated, noise)."""
    if data.startswith(b"libudev\0"):
        return None
    parts = data.split(b"\0")
    head = parts[0].decode("utf-8", "replace")
    action, at, devpath = head.partition("@")
    if not at or action not in ACTIONS or not devpath.startswith("/"):
        return None
    props: dict[str, str] = {}
    for raw in parts[1:]:
        key, eq, value = raw.decode("utf-8", "replace").partition("=")
        if eq and key.isupper():
            props[key] = value
    if props.get("ACTION", action) != action:
        return None
    devname = props.get("DEVNAME", "")
    if devname and not devname.startswith("/"):
        devname = "/dev/" + devname
    return UEvent(action, devpath, props.get("SUBSYSTEM", ""), devname, props)


def open_kernel_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
    sock.bind((0, KERNEL_GROUP))
    return sock


class UeventListener:
    """Calls ``on_event(action, devnode)`` for hot-plug events of relevant subsystems."""

    def __init__(
        self,
        on_event: Callable[[str, str], None],
        *,
        subsystems: Collection[str] = SUBSYSTEMS,
        sock: socket.socket | None = None,
    ) -> None:
        self._on_event = on_event
        self._subsystems = frozenset(subsystems)
        self._sock = sock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: stop() writes to it: the reader wakes at once (a receive timeout made every
        #: stop wait up to half a second)
        self._wake_r, self._wake_w = socket.socketpair()
        self.events_seen = 0

    def start(self) -> bool:
        """False (logged once) when the kernel socket is not available here."""
        if self._sock is None:
            try:
                self._sock = open_kernel_socket()
            except OSError as exc:
                log.warning(
                    "hotplug_events_unavailable", error=str(exc), fallback="periodic re-scan only"
                )
                return False
        self._sock.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="posd-uevent", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        assert self._sock is not None
        failing = False
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._sock, self._wake_r], [], [])
                if self._sock not in ready:
                    continue  # woken by stop()
                data = self._sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                if exc.errno != errno.ENOBUFS:
                    # a lasting failure (ENOBUFS only says the kernel dropped events the
                    # socket could not hold; the next read works): retrying at once would
                    # spin a core, so wait, and say so once
                    if not failing:
                        log.warning("hotplug_events_failing", error=str(exc))
                    failing = True
                    self._stop.wait(ERROR_PAUSE_S)
                continue
            failing = False
            event = parse_uevent(data)
            if event is None or event.subsystem not in self._subsystems:
                continue
            self.events_seen += 1
            try:
                self._on_event(event.action, event.devname or event.devpath)
            except Exception:
                log.exception("hotplug_handler_failed", action=event.action)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(2)
        if self._sock is not None:
            self._sock.close()
        self._wake_r.close()
        self._wake_w.close()
