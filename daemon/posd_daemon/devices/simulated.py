"""``sim://`` devices for the embedded default configuration and the demo.

They are driven by the real drivers (``EscPosPrinter``, ``PoleDisplay``, the scanner
reader) through real :class:`~posd_daemon.devices.transport.Transport` objects:

* ``sim://printer``: an ESC/POS printer simulator in memory (``sim.PrinterSimCore``)
  behind a :class:`PaperTapeTransport`, which appends every printed job as plain text
  (decoded from the ESC/POS bytes) to a file, fsync'd, followed by :data:`SEPARATOR`.
  Writing a state name (``paper_end``, ``cover_open``, ``offline``...) into
  ``<output>.fault`` puts the simulated printer in that state; removing the file clears it.
* ``sim://display``: a 2x20 pole display emulator (:class:`EmulatorTransport`); the
  lines it shows are mirrored to a text file when one is given.
* ``sim://scanner``: a FIFO (:class:`~posd_daemon.devices.fifo.FifoTransport`, apart:
  it needs none of the emulators, which a register loads only for a ``sim://`` printer or
  display); ``echo 4006381333931 > scanner.fifo`` scans a code.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from posd_daemon.devices.display import DisplayProfile
from posd_daemon.devices.errors import TransportError
from posd_daemon.devices.escpos.codec import INIT
from posd_daemon.devices.sim import (
    SIM_PRESETS,
    LoopbackTransport,
    PoleDisplayEmulator,
    PrinterSimCore,
    escpos_to_plain_text,
)

SEPARATOR = "=" * 8 + " cut " + "=" * 8


def _append_durably(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


class PaperTapeTransport(LoopbackTransport):
    """A simulated printer whose paper is a text file (one job per ``ESC @``)."""

    def __init__(self, output: Path, columns: int, core: PrinterSimCore | None = None) -> None:
        super().__init__(core, name=f"simulated printer ({output})")
        self.output = output
        self.columns = columns
        self._fault_state = "ok"
        self._tape_lock = threading.Lock()
        output.parent.mkdir(parents=True, exist_ok=True)

    @property
    def fault_file(self) -> Path:
        return self.output.with_name(self.output.name + ".fault")

    def _sync_fault(self) -> None:
        try:
            wanted = self.fault_file.read_text("utf-8").strip().lower() or "ok"
        except FileNotFoundError:
            wanted = "ok"
        except OSError:
            return
        if wanted not in SIM_PRESETS:
            wanted = "offline"
        if wanted != self._fault_state:
            self._fault_state = wanted
            self.core.set_state(wanted)

    def write(self, data: bytes) -> None:
        self._sync_fault()
        before = self.core.state
        super().write(data)
        if data.startswith(INIT) and not before.is_offline:
            text = escpos_to_plain_text(data, columns=self.columns)
            with self._tape_lock:
                _append_durably(self.output, text + SEPARATOR + "\n")


class EmulatorTransport:
    """A transport into a :class:`PoleDisplayEmulator` (write-only)."""

    supports_read = False

    def __init__(self, profile: DisplayProfile, mirror: Path | None = None) -> None:
        self.emulator = PoleDisplayEmulator(profile)
        self.mirror = mirror
        self.connected = True
        self._open = False

    def describe(self) -> str:
        return "simulated pole display"

    def open(self) -> None:
        if not self.connected:
            raise TransportError("simulated pole display is unplugged")
        self._open = True

    def write(self, data: bytes) -> None:
        if not self._open or not self.connected:
            raise TransportError("simulated pole display is not connected")
        self.emulator.feed(data)
        if self.mirror is not None:
            with contextlib.suppress(OSError):
                self.mirror.write_text("\n".join(self.emulator.lines) + "\n", "utf-8")

    def read(self, n: int, timeout: float) -> bytes:
        return b""

    def close(self) -> None:
        self._open = False
