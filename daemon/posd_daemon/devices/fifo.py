"""The ``sim://scanner`` transport: a named pipe read like a serial scanner's port
(``echo 4006381333931 > scanner.fifo`` scans a code). Apart from the printer and display
emulators (``simulated``), which the daemon imports only when one is configured."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
from pathlib import Path

from posd_daemon.devices.errors import TransportError


class FifoTransport:
    """Reads a named pipe (created if missing) like a serial scanner's port."""

    supports_read = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connected = True
        self._fd: int | None = None

    def describe(self) -> str:
        return f"simulated scanner (FIFO {self.path})"

    def open(self) -> None:
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkfifo(self.path, 0o660)
            except FileExistsError:
                if not stat.S_ISFIFO(self.path.stat().st_mode):
                    raise TransportError(f"{self.path} exists and is not a FIFO") from None
            # O_RDWR: the pipe never reports end-of-file when a writer closes it
            self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TransportError(f"cannot open {self.describe()}: {exc}") from exc

    def write(self, data: bytes) -> None:
        raise TransportError(f"{self.describe()} is read-only")

    def read(self, n: int, timeout: float) -> bytes:
        fd = self._fd
        if fd is None:
            raise TransportError(f"{self.describe()} is not open")
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
            if not ready:
                return b""
            return os.read(fd, n)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return b""
            raise TransportError(f"reading {self.describe()} failed: {exc}") from exc

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
