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


class CashDrawer(Protocol):
    def open(self) -> None: ...
