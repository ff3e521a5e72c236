"""Ports for the peripherals the use cases drive (implemented in ``devices/``)."""

from __future__ import annotations

from typing import Protocol

from posd_daemon.domain.document import Document


class DeviceError(Exception):
    """A device cannot do the job now (offline, paper end, cover open…).

    ``code`` is stable (e.g. ``PAPER_END``); the job stays queued and is retried.
    ``partly_done`` says the device may have carried out part of the job already (a
    receipt cut short by paper end): the retry must not pass for the original.
    """

    partly_done = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ReceiptPrinter(Protocol):
    @property
    def columns(self) -> int: ...

    def print_document(self, document: Document) -> None: ...


#: the code of a drawer kick the device got to only after its deadline: not done
DRAWER_KICK_EXPIRED = "DRAWER_KICK_EXPIRED"


class CashDrawer(Protocol):
    def open(self, not_after: float | None = None) -> None:
        """Kicks the drawer. ``not_after`` (a ``time.monotonic()`` value): a kick the
        device gets to only later (queued behind a long print) is not done, DeviceError
        DRAWER_KICK_EXPIRED: nobody stands at the drawer any more."""
        ...
