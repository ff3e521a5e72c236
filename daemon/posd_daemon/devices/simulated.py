"""Simulated printer and drawer for the demo and for tests without hardware.

The printer appends each document's text to a file (``printer.output``), fsync'd, so a
test or a person can read exactly what was printed. Writing a fault name (``PAPER_END``,
``COVER_OPEN``, ``OFFLINE``) into ``<output>.fault`` makes it refuse jobs like a real
printer in that state; removing the file clears the fault.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from posd_daemon.domain.document import Document
from posd_daemon.ops import logging as plog
from posd_daemon.services.device_ports import DeviceError

log = plog.get("posd.devices.sim")

SEPARATOR = "=" * 8 + " cut " + "=" * 8


class SimulatedPrinter:
    def __init__(self, output: Path, columns: int = 42) -> None:
        self.output = output
        self._columns = columns
        self._lock = threading.Lock()
        self.jobs = 0
        output.parent.mkdir(parents=True, exist_ok=True)

    @property
    def columns(self) -> int:
        return self._columns

    @property
    def fault_file(self) -> Path:
        return self.output.with_name(self.output.name + ".fault")

    def print_document(self, document: Document) -> None:
        try:
            fault = self.fault_file.read_text("utf-8").strip()
        except FileNotFoundError:
            fault = ""
        if fault:
            raise DeviceError(fault, f"simulated printer reports {fault}")
        text = document.plain_text()
        if document.copy:
            text = "*** COPY ***\n" + text
        with self._lock:
            fd = os.open(self.output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, (text + SEPARATOR + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            self.jobs += 1


class SimulatedDrawer:
    def __init__(self) -> None:
        self.openings = 0

    def open(self) -> None:
        self.openings += 1
        log.info("drawer_opened", device="drawer-sim", openings=self.openings)
