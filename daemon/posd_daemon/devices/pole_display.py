"""A customer pole display: the pure codec (``devices/display``) over one transport.

Blocking, like the printer: the daemon drives it from the device's worker thread.
"""

from __future__ import annotations

import threading

from posd_daemon.devices.display import DisplayProfile, encode_clear, encode_lines
from posd_daemon.devices.errors import TransportError
from posd_daemon.devices.transport import Transport


class PoleDisplay:
    """Shows two lines for the customer; reconnects after a failure on the next call."""

    def __init__(self, transport: Transport, profile: DisplayProfile) -> None:
        self.transport = transport
        self.profile = profile
        self.lines: tuple[str, ...] = ()
        self.writes = 0
        self.errors = 0
        self._open = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"{self.profile.name} display on {self.transport.describe()}"

    def open(self) -> None:
        """Connect now (otherwise the next update connects). Raises TransportError."""
        with self._lock:
            if not self._open:
                self.transport.open()
                self._open = True

    def show(self, *lines: str) -> None:
        """Show up to ``profile.rows`` lines (each truncated/padded to the width)."""
        payload = encode_lines(lines, self.profile)
        with self._lock:
            self._send(payload)
            self.lines = lines

    def clear(self) -> None:
        with self._lock:
            self._send(encode_clear(self.profile))
            self.lines = ()

    def close(self) -> None:
        with self._lock:
            self._open = False
            self.transport.close()

    def _send(self, payload: bytes) -> None:
        try:
            if not self._open:
                self.transport.open()
                self._open = True
            self.transport.write(payload)
        except TransportError:
            self.errors += 1
            self._open = False
            self.transport.close()
            raise
        self.writes += 1
