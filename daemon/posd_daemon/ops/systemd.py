"""sd_notify without libsystemd: READY, STOPPING, STATUS and the watchdog.

Protocol: datagrams to the AF_UNIX socket named in $NOTIFY_SOCKET ('@' = abstract
namespace); see sd_notify(3). The watchdog interval comes from $WATCHDOG_USEC.

The sends are non-blocking: they run on the event loop, and a notify socket whose
receive queue is full (systemd busy) or that is gone must not stall it. A datagram the
queue refuses is lost; for WATCHDOG=1 that is the lesser harm (the next ping follows),
a stuck loop would stop every sale.
"""

from __future__ import annotations

import os
import socket

from posd_daemon.ops import logging as plog


class Notifier:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        self._address = env.get("NOTIFY_SOCKET", "")
        if self._address.startswith("@"):
            self._address = "\0" + self._address[1:]
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_usec = (
            int(usec) if usec.isdigit() and (not pid or pid == str(os.getpid())) else 0
        )
        self._sock: socket.socket | None = None
        #: a failed send is logged once per process: the watchdog pings twice per
        #: interval, a lasting failure would fill the journal
        self._failure_logged = False

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, message: str) -> bool:
        if not self._address:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                )
            self._sock.sendto(message.encode("utf-8"), self._address)
        except OSError as exc:  # BlockingIOError (queue full), socket gone, refused
            if not self._failure_logged:
                self._failure_logged = True
                plog.get("posd").warning(
                    "notify_failed",
                    message=message.split("\n", 1)[0],
                    error=str(exc),
                    detail="systemd's notify socket refused a message; it is dropped (logged once)",
                )
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self, status: str = "", extend_usec: int = 0) -> bool:
        """STOPPING=1; ``extend_usec`` asks for that much time from now to finish the
        stop (EXTEND_TIMEOUT_USEC, sd_notify(3)): systemd SIGKILLs a service still
        running after TimeoutStopSec=, and never shortens it for this."""
        message = "STOPPING=1"
        if status:
            message += f"\nSTATUS={status}"
        if extend_usec > 0:
            message += f"\nEXTEND_TIMEOUT_USEC={extend_usec}"
        return self.notify(message)

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
