"""Simulated devices for tests and the demo (no hardware, no kernel USB stack).

* :class:`PrinterSimCore`: the behaviour of an ESC/POS printer: records every byte,
  answers ``DLE EOT n`` from a configurable state (ok, paper near end, paper end, cover
  open, offline, unresponsive...), opens its drawer on ``ESC p``/``DLE DC4``, pushes ASB
  packets after ``GS a``.
* Ways to reach it: :class:`LoopbackTransport` (in memory), :class:`TcpPrinterSimulator`
  (a raw-TCP printer on 127.0.0.1), :class:`SerialPrinterSim` (a pty pair: the daemon
  opens ``serial:///dev/pts/N``), :class:`FakeUsbBackend` (a pyusb backend with a USB
  printer on it).
* :class:`PtyDevice`: any serial device over a pty pair (displays, scanners).
* :func:`escpos_to_text`: recorded ESC/POS bytes back to plain text lines (the demo shows
  the receipt with it); :class:`PoleDisplayEmulator`: what a pole display would show.

Behaviour follows shared/reference/devices.md ("Testing without hardware on Linux").
"""

from __future__ import annotations

import array
import contextlib
import errno
import os
import selectors
import socket
import threading
import time
import tty
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import usb.core

from posd_daemon.devices.charset import CODE_TABLES
from posd_daemon.devices.display import DisplayCommandSet, DisplayProfile
from posd_daemon.devices.errors import TransportError
from posd_daemon.devices.escpos.profile import DrawerSensor
from posd_daemon.domain.parking import ean13_check_digit

# --- printer behaviour ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimPrinterState:
    """The condition of a simulated printer (the drawer is tracked separately)."""

    cover_open: bool = False
    paper_near_end: bool = False
    paper_end: bool = False
    #: Offline for another reason (e.g. waiting for online recovery).
    offline: bool = False
    cutter_error: bool = False
    unrecoverable_error: bool = False
    #: False: switched off / hung: real-time requests get no answer.
    responsive: bool = True

    @property
    def is_offline(self) -> bool:
        return (
            self.offline
            or self.cover_open
            or self.paper_end
            or self.cutter_error
            or self.unrecoverable_error
        )


SIM_PRESETS: dict[str, SimPrinterState] = {
    "ok": SimPrinterState(),
    "paper_near_end": SimPrinterState(paper_near_end=True),
    "paper_end": SimPrinterState(paper_near_end=True, paper_end=True),
    "cover_open": SimPrinterState(cover_open=True),
    "offline": SimPrinterState(offline=True),
    "cutter_error": SimPrinterState(cutter_error=True),
    "unrecoverable_error": SimPrinterState(unrecoverable_error=True),
    "unresponsive": SimPrinterState(responsive=False),
}


def _state(state: str | SimPrinterState) -> SimPrinterState:
    if isinstance(state, SimPrinterState):
        return state
    try:
        return SIM_PRESETS[state]
    except KeyError:
        raise ValueError(
            f"unknown simulated printer state {state!r} (known: {', '.join(SIM_PRESETS)})"
        ) from None


#: bytes of printer output a simulated printer keeps for inspection (the latest; older
#: output is dropped so that a long-running simulated register does not grow)
KEEP_RECEIVED = 1 << 20


class PrinterSimCore:
    """An ESC/POS printer's behaviour, independent of how it is connected.

    :meth:`feed` takes what the host sent and returns the printer's answer. Unsolicited
    output (ASB packets) goes to the callbacks in :attr:`listeners`. Thread-safe.
    """

    def __init__(
        self,
        state: str | SimPrinterState = "ok",
        *,
        drawer_sensor: DrawerSensor = DrawerSensor.OPEN_HIGH,
    ) -> None:
        self._cond = threading.Condition()
        self._state = _state(state)
        self.drawer_sensor = drawer_sensor
        self.drawer_open = False
        self.drawer_kicks = 0
        self.status_requests = 0
        self.asb_mask = 0
        self._received = bytearray()
        self._scan = 0
        self.listeners: list[Callable[[bytes], None]] = []
        self._fault_on: tuple[bytes, SimPrinterState] | None = None

    # -- inspection ----------------------------------------------------------------------

    @property
    def state(self) -> SimPrinterState:
        return self._state

    @property
    def received(self) -> bytes:
        with self._cond:
            return bytes(self._received)

    def clear(self) -> None:
        """Forget what was received so far."""
        with self._cond:
            self._received.clear()
            self._scan = 0

    def text_lines(self, columns: int = 48) -> list[str]:
        """What the printer would have printed, as plain text lines."""
        return escpos_to_text(self.received, columns=columns)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        """Block until ``predicate()`` holds (re-checked on every received chunk)."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_received(self, needle: bytes, timeout: float = 2.0) -> bool:
        """Block until ``needle`` appears in the received bytes."""
        with self._cond:
            return self._cond.wait_for(lambda: needle in self._received, timeout)

    # -- changing the printer ------------------------------------------------------------

    def set_state(self, state: str | SimPrinterState) -> None:
        """Change the condition ("ok", "paper_end", "cover_open", "offline"...)."""
        with self._cond:
            self._state = _state(state)
            packet = self._asb_packet() if self.asb_mask else None
            self._cond.notify_all()
        self._push(packet)

    def fault_when_received(self, needle: bytes, state: str | SimPrinterState) -> None:
        """Change to ``state`` as soon as ``needle`` arrives, before answering anything
        sent after it (the roll ends, or the cover is opened, in the middle of a job)."""
        with self._cond:
            self._fault_on = (needle, _state(state))

    def close_drawer(self) -> None:
        self._set_drawer(False)

    def open_drawer(self) -> None:
        self._set_drawer(True)

    def _set_drawer(self, is_open: bool) -> None:
        with self._cond:
            changed = self.drawer_open != is_open
            self.drawer_open = is_open
            packet = self._asb_packet() if self.asb_mask and changed else None
        self._push(packet)

    def _push(self, packet: bytes | None) -> None:
        if packet is not None and self._state.responsive:
            for listener in list(self.listeners):
                listener(packet)

    # -- protocol ------------------------------------------------------------------------

    def _pin3_high(self) -> bool:
        if self.drawer_sensor is DrawerSensor.OPEN_LOW:
            return not self.drawer_open
        return self.drawer_open

    def status_byte(self, n: int) -> int:
        """The reply to ``DLE EOT n`` in the current state (shape 0xx1xx10)."""
        s = self._state
        value = 0x12
        if n == 1:
            value |= (0x04 if self._pin3_high() else 0) | (0x08 if s.is_offline else 0)
        elif n == 2:
            value |= 0x04 if s.cover_open else 0
            value |= 0x20 if s.paper_end else 0
            value |= 0x40 if (s.cutter_error or s.unrecoverable_error) else 0
        elif n == 3:
            value |= 0x08 if s.cutter_error else 0
            value |= 0x20 if s.unrecoverable_error else 0
        elif n == 4:
            value |= 0x0C if s.paper_near_end else 0
            value |= 0x60 if s.paper_end else 0
        return value

    def _asb_packet(self) -> bytes:
        s = self._state
        b1 = 0x10 | (0x04 if self._pin3_high() else 0) | (0x08 if s.is_offline else 0)
        b1 |= 0x20 if s.cover_open else 0
        b2 = (0x08 if s.cutter_error else 0) | (0x20 if s.unrecoverable_error else 0)
        b3 = (0x03 if s.paper_near_end else 0) | (0x0C if s.paper_end else 0)
        return bytes((b1, b2, b3, 0))

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host; return the printer's immediate answer."""
        replies = bytearray()
        pushed: bytes | None = None
        with self._cond:
            self._received += data
            if self._fault_on is not None and self._fault_on[0] in self._received:
                self._state, self._fault_on = self._fault_on[1], None
                pushed = self._asb_packet() if self.asb_mask else None
            buf, i = self._received, self._scan
            while i < len(buf):
                b = buf[i]
                need = 1
                if b == 0x10 and i + 1 < len(buf) and buf[i + 1] == 0x04:
                    need = 3  # DLE EOT n: answered on reception, even when offline
                    if i + 2 < len(buf):
                        n = buf[i + 2]
                        self.status_requests += 1
                        if self._state.responsive and 1 <= n <= 4:
                            replies.append(self.status_byte(n))
                elif b == 0x10 and i + 1 < len(buf) and buf[i + 1] == 0x14:
                    need = 5  # DLE DC4 1 m t: real-time pulse
                    if i + 4 < len(buf) and buf[i + 2] == 1 and self._state.responsive:
                        self.drawer_kicks += 1
                        self.drawer_open = True
                elif b == 0x1B and i + 1 < len(buf) and buf[i + 1] == 0x70:
                    need = 5  # ESC p m t1 t2
                    if i + 4 < len(buf) and not self._state.is_offline:
                        self.drawer_kicks += 1
                        self.drawer_open = True
                elif b == 0x1D and i + 1 < len(buf) and buf[i + 1] == 0x61:
                    need = 3  # GS a n: enable ASB, the printer answers with one packet
                    if i + 2 < len(buf):
                        self.asb_mask = buf[i + 2]
                        pushed = self._asb_packet() if self.asb_mask else None
                elif b in (0x10, 0x1B, 0x1D) and i + 1 >= len(buf):
                    break  # maybe the start of a command: wait for the next byte
                if i + need > len(buf):
                    break  # incomplete command: rescan when more arrives
                i += need
            if i > KEEP_RECEIVED:
                # a simulated register runs for months: what was printed long ago goes
                # (only scanned bytes; a command cut in two waits whole at the front)
                drop = i - KEEP_RECEIVED // 2
                del buf[:drop]
                i -= drop
            self._scan = i
            self._cond.notify_all()
        if pushed is not None and self._state.responsive:
            replies += pushed
        return bytes(replies)


# --- in-memory transport --------------------------------------------------------------


class LoopbackTransport:
    """A :class:`~posd_daemon.devices.transport.Transport` wired straight to a
    :class:`PrinterSimCore` (the embedded default's simulated printer)."""

    supports_read = True

    def __init__(self, core: PrinterSimCore | None = None, name: str = "simulated printer"):
        self.core = core if core is not None else PrinterSimCore()
        self.name = name
        self.connected = True
        self._open = False
        self._rx = bytearray()
        self._cond = threading.Condition()
        self.core.listeners.append(self._on_output)

    def _on_output(self, data: bytes) -> None:
        with self._cond:
            if self._open:
                self._rx += data
                self._cond.notify_all()

    def describe(self) -> str:
        return self.name

    def open(self) -> None:
        if not self.connected:
            raise TransportError(f"{self.name} is unplugged")
        with self._cond:
            self._open = True

    def write(self, data: bytes) -> None:
        if not self._open or not self.connected:
            raise TransportError(f"{self.name} is not connected")
        # Answers and pushed ASB packets leave in the order the printer made them.
        with self._cond:
            reply = self.core.feed(data)
            if reply:
                self._on_output(reply)

    def read(self, n: int, timeout: float) -> bytes:
        if not self._open or not self.connected:
            raise TransportError(f"{self.name} is not connected")
        with self._cond:
            self._cond.wait_for(lambda: bool(self._rx), max(0.0, timeout))
            out = bytes(self._rx[:n])
            del self._rx[:n]
            return out

    def close(self) -> None:
        with self._cond:
            self._open = False
            self._rx.clear()


# --- TCP ------------------------------------------------------------------------------


class TcpPrinterSimulator:
    """A network printer on 127.0.0.1 (port 0: any free port) backed by a core.

    ``stop()`` then ``start()`` reuses the port, so a test can pull the plug (connection
    refused) and put it back. ``drop_connections()`` cuts open connections only.
    """

    def __init__(
        self,
        state: str | SimPrinterState = "ok",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        core: PrinterSimCore | None = None,
    ) -> None:
        self.core = core if core is not None else PrinterSimCore(state)
        self.host, self.port = host, port
        self._lock = threading.Lock()
        #: Held while the printer answers, so pushed ASB packets cannot overtake replies.
        self._send_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self.connections = 0
        self.core.listeners.append(self._broadcast)

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    @property
    def received(self) -> bytes:
        return self.core.received

    def set_state(self, state: str | SimPrinterState) -> None:
        self.core.set_state(state)

    def __enter__(self) -> TcpPrinterSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> TcpPrinterSimulator:
        if self._thread is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(8)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="tcp-printer-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection (the printer is switched off)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        os.write(self._wake_w, b"x")
        thread.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def drop_connections(self) -> None:
        """Cut open connections (cable pulled and re-plugged); keep listening."""
        with self._lock:
            clients, self._clients = self._clients, []
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            # the server thread notices EOF and closes its side

    def _broadcast(self, data: bytes) -> None:
        with self._send_lock:
            with self._lock:
                clients = list(self._clients)
            for sock in clients:
                with contextlib.suppress(OSError):
                    sock.sendall(data)

    def _serve(self) -> None:
        assert self._listener is not None
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                for key, _ in sel.select():
                    if key.data == "wake":
                        return
                    if key.data == "listen":
                        try:
                            sock, _addr = self._listener.accept()
                        except BlockingIOError:
                            continue
                        sock.setblocking(True)
                        sock.settimeout(5)
                        with self._lock:
                            self._clients.append(sock)
                        self.connections += 1
                        sel.register(sock, selectors.EVENT_READ, "client")
                        continue
                    client = key.fileobj
                    assert isinstance(client, socket.socket)
                    try:
                        data = client.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(client)
                        with self._lock:
                            if client in self._clients:
                                self._clients.remove(client)
                        client.close()
                        continue
                    with self._send_lock:
                        reply = self.core.feed(data)
                        if reply:
                            with contextlib.suppress(OSError):
                                client.sendall(reply)
        finally:
            for key in list(sel.get_map().values()):
                if key.data == "client":
                    assert isinstance(key.fileobj, socket.socket)
                    key.fileobj.close()
            sel.close()
            with self._lock:
                self._clients.clear()
            self._listener.close()
            self._listener = None


# --- pty serial devices ---------------------------------------------------------------


class PtyDevice:
    """A serial device on a pseudo-terminal pair (``os.openpty()``, raw mode).

    The host side opens :attr:`path` like a real ``/dev/ttyUSB0``. What the host writes
    is recorded in :attr:`received` and passed to ``handler``, whose return value is
    written back; :meth:`write` sends unsolicited device output (a scanner's codes).
    """

    def __init__(self, handler: Callable[[bytes], bytes | None] | None = None) -> None:
        self.handler = handler
        self.path = ""
        self._master = -1
        self._slave = -1
        self._cond = threading.Condition()
        self._received = bytearray()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        #: Held while answering, so unsolicited output cannot overtake a reply.
        self._write_lock = threading.RLock()

    def url(self, baud: int = 9600) -> str:
        return f"serial://{self.path}?baud={baud}"

    @property
    def received(self) -> bytes:
        with self._cond:
            return bytes(self._received)

    def wait_received(self, needle: bytes, timeout: float = 2.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: needle in self._received, timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def __enter__(self) -> PtyDevice:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no CR/LF translation, every byte passes as it is.
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="pty-device", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        """Device to host."""
        with self._write_lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._master, view) :]

    def _pump(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._master, selectors.EVENT_READ, "master")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                for key, _ in sel.select():
                    if key.data == "wake":
                        return
                    try:
                        data = os.read(self._master, 65536)
                    except OSError:
                        return
                    if not data:
                        return
                    with self._cond:
                        self._received += data
                        self._cond.notify_all()
                    if self.handler is not None:
                        with self._write_lock:
                            reply = self.handler(data)
                            if reply:
                                self.write(reply)
        finally:
            sel.close()

    def stop(self) -> None:
        """Stop the device and close the pty (the host sees an unplugged port)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        os.write(self._wake_w, b"x")
        thread.join(5)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1

    def unplug(self) -> None:
        """Pull the cable: the host's reads and writes on :attr:`path` start failing."""
        self.stop()


class SerialPrinterSim(PtyDevice):
    """An ESC/POS printer on a pty pair."""

    def __init__(
        self, state: str | SimPrinterState = "ok", *, core: PrinterSimCore | None = None
    ) -> None:
        self.core = core if core is not None else PrinterSimCore(state)
        super().__init__(self.core.feed)
        self.core.listeners.append(self._unsolicited)

    def _unsolicited(self, data: bytes) -> None:
        if self._master >= 0:
            with contextlib.suppress(OSError):
                self.write(data)

    def set_state(self, state: str | SimPrinterState) -> None:
        self.core.set_state(state)


class SerialDisplaySim(PtyDevice):
    """A 2x20 pole display on a pty pair; :attr:`display` shows the current text."""

    def __init__(self, profile: DisplayProfile) -> None:
        self.display = PoleDisplayEmulator(profile)
        super().__init__(self._show)

    def _show(self, data: bytes) -> None:
        self.display.feed(data)


# --- fake pyusb backend ---------------------------------------------------------------


@dataclass
class _Desc:
    """A descriptor: pyusb reads its fields as attributes."""

    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


_EP_OUT, _EP_IN = 0x01, 0x82


class FakeUsbPrinter:
    """A USB printer (class 7, bulk OUT 0x01 / IN 0x82) on a :class:`FakeUsbBackend`."""

    def __init__(
        self,
        core: PrinterSimCore | None = None,
        *,
        vendor_id: int = 0x04B8,
        product_id: int = 0x0E15,
        serial: str | None = "SIM0001",
        manufacturer: str = "EPSON",
        product: str = "TM-T20II (simulated)",
        bus: int = 1,
        port_numbers: tuple[int, ...] = (1, 4),
        address: int = 5,
        kernel_driver_active: bool = True,
        busy: bool = False,
    ) -> None:
        self.core = core if core is not None else PrinterSimCore()
        self.vendor_id, self.product_id = vendor_id, product_id
        self.bus, self.port_numbers, self.address = bus, port_numbers, address
        self.strings = {1: manufacturer, 2: product}
        if serial is not None:
            self.strings[3] = serial
        #: usblp is bound: the transport must detach it before claiming.
        self.kernel_driver_active = kernel_driver_active
        #: Another program (CUPS) claimed the interface: claiming fails with EBUSY.
        self.busy = busy
        self.plugged = True
        self.configuration = 1
        self.claimed: set[int] = set()
        self.detach_count = 0
        self._cond = threading.Condition()
        self._in = bytearray()
        self.core.listeners.append(self._device_output)

    def _device_output(self, data: bytes) -> None:
        with self._cond:
            self._in += data
            self._cond.notify_all()

    def unplug(self) -> None:
        with self._cond:
            self.plugged = False
            self.claimed.clear()
            self._in.clear()
            self._cond.notify_all()

    def plug(self) -> None:
        """Plug back in: usblp grabs it again, as the kernel would."""
        with self._cond:
            self.plugged = True
            self.kernel_driver_active = True

    def device_descriptor(self) -> _Desc:
        return _Desc(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0200,
                "bDeviceClass": 0,
                "bDeviceSubClass": 0,
                "bDeviceProtocol": 0,
                "bMaxPacketSize0": 64,
                "idVendor": self.vendor_id,
                "idProduct": self.product_id,
                "bcdDevice": 0x0100,
                "iManufacturer": 1,
                "iProduct": 2,
                "iSerialNumber": 3 if 3 in self.strings else 0,
                "bNumConfigurations": 1,
                "address": self.address,
                "bus": self.bus,
                "port_number": self.port_numbers[-1] if self.port_numbers else None,
                "port_numbers": self.port_numbers,
                "speed": 3,
            }
        )


class _Handle:
    def __init__(self, device: FakeUsbPrinter) -> None:
        self.device = device


def _no_device() -> usb.core.USBError:
    return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


class FakeUsbBackend:
    """Enough of the pyusb backend interface (``usb.backend.IBackend``) for
    ``usb.core.find(backend=...)``, descriptors, kernel driver detach, claim, string
    descriptors, bulk write (recorded by the printer core) and bulk read (its answers).
    """

    def __init__(self, *devices: FakeUsbPrinter) -> None:
        self.devices: list[FakeUsbPrinter] = list(devices)

    # enumeration and descriptors

    def enumerate_devices(self) -> Iterable[FakeUsbPrinter]:
        return [d for d in self.devices if d.plugged]

    def get_parent(self, dev: FakeUsbPrinter) -> None:
        return None

    def get_device_descriptor(self, dev: FakeUsbPrinter) -> _Desc:
        return dev.device_descriptor()

    def get_configuration_descriptor(self, dev: FakeUsbPrinter, config: int) -> _Desc:
        if config != 0:
            raise IndexError(config)
        return _Desc(
            {
                "bLength": 9,
                "bDescriptorType": 2,
                "wTotalLength": 32,
                "bNumInterfaces": 1,
                "bConfigurationValue": 1,
                "iConfiguration": 0,
                "bmAttributes": 0xC0,
                "bMaxPower": 1,
                "extra_descriptors": [],
            }
        )

    def get_interface_descriptor(
        self, dev: FakeUsbPrinter, intf: int, alt: int, config: int
    ) -> _Desc:
        if intf != 0 or alt != 0 or config != 0:
            raise IndexError(intf)
        return _Desc(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": 0,
                "bAlternateSetting": 0,
                "bNumEndpoints": 2,
                "bInterfaceClass": 7,  # printer
                "bInterfaceSubClass": 1,
                "bInterfaceProtocol": 2,  # bidirectional
                "iInterface": 0,
                "extra_descriptors": [],
            }
        )

    def get_endpoint_descriptor(
        self, dev: FakeUsbPrinter, ep: int, intf: int, alt: int, config: int
    ) -> _Desc:
        if ep not in (0, 1) or intf != 0 or alt != 0 or config != 0:
            raise IndexError(ep)
        return _Desc(
            {
                "bLength": 7,
                "bDescriptorType": 5,
                "bEndpointAddress": _EP_OUT if ep == 0 else _EP_IN,
                "bmAttributes": 0x02,  # bulk
                "wMaxPacketSize": 64,
                "bInterval": 0,
                "bRefresh": 0,
                "bSynchAddress": 0,
                "extra_descriptors": [],
            }
        )

    # device handles

    def open_device(self, dev: FakeUsbPrinter) -> _Handle:
        if not dev.plugged:
            raise _no_device()
        return _Handle(dev)

    def close_device(self, handle: _Handle) -> None:
        handle.device.claimed.clear()

    def set_configuration(self, handle: _Handle, config_value: int) -> None:
        dev = self._live(handle)
        if dev.kernel_driver_active:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        dev.configuration = config_value

    def get_configuration(self, handle: _Handle) -> int:
        return self._live(handle).configuration

    def set_interface_altsetting(self, handle: _Handle, intf: int, alt: int) -> None:
        self._live(handle)

    def claim_interface(self, handle: _Handle, intf: int) -> None:
        dev = self._live(handle)
        if dev.busy or dev.kernel_driver_active:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        dev.claimed.add(intf)

    def release_interface(self, handle: _Handle, intf: int) -> None:
        handle.device.claimed.discard(intf)

    def is_kernel_driver_active(self, handle: _Handle, intf: int) -> bool:
        return self._live(handle).kernel_driver_active

    def detach_kernel_driver(self, handle: _Handle, intf: int) -> None:
        dev = self._live(handle)
        if not dev.kernel_driver_active:
            raise usb.core.USBError("Entity not found", -5, errno.ENOENT)
        dev.kernel_driver_active = False
        dev.detach_count += 1

    def attach_kernel_driver(self, handle: _Handle, intf: int) -> None:
        self._live(handle).kernel_driver_active = True

    def clear_halt(self, handle: _Handle, ep: int) -> None:
        self._live(handle)

    def reset_device(self, handle: _Handle) -> None:
        self._live(handle)

    def _live(self, handle: _Handle) -> FakeUsbPrinter:
        if not handle.device.plugged:
            raise _no_device()
        return handle.device

    # transfers

    def ctrl_transfer(
        self,
        handle: _Handle,
        bm_request_type: int,
        b_request: int,
        w_value: int,
        w_index: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        dev = self._live(handle)
        if bm_request_type == 0x80 and b_request == 0x06 and w_value >> 8 == 3:
            index = w_value & 0xFF
            if index == 0:
                desc = bytes((4, 3, 0x09, 0x04))  # LANGID en-US
            elif index in dev.strings:
                text = dev.strings[index].encode("utf-16-le")
                desc = bytes((len(text) + 2, 3)) + text
            else:
                raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
            count = min(len(desc), len(data))
            data[:count] = array.array("B", desc[:count])
            return count
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)

    def bulk_write(
        self, handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        dev = self._live(handle)
        if intf not in dev.claimed:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        if ep != _EP_OUT:
            raise usb.core.USBError("Invalid parameter", -2, errno.EINVAL)
        payload = data.tobytes()
        with dev._cond:  # replies and pushed ASB packets keep their order
            reply = dev.core.feed(payload)
            if reply:
                dev._device_output(reply)
        return len(payload)

    def _not_supported(self, *args: object) -> int:
        raise usb.core.USBError("Operation not supported", -12, errno.ENOSYS)

    # pyusb looks these up on every transfer; the printer only has bulk endpoints
    intr_write = intr_read = iso_write = iso_read = _not_supported

    def bulk_read(
        self, handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        dev = self._live(handle)
        if ep != _EP_IN:
            raise usb.core.USBError("Invalid parameter", -2, errno.EINVAL)
        with dev._cond:
            dev._cond.wait_for(lambda: bool(dev._in) or not dev.plugged, timeout / 1000)
            if not dev.plugged:
                raise _no_device()
            if not dev._in:
                raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
            count = min(len(buff), len(dev._in))
            buff[:count] = array.array("B", bytes(dev._in[:count]))
            del dev._in[:count]
            return count


# --- ESC/POS bytes back to text -------------------------------------------------------

#: ``ESC t n`` tables we can show (ref: 0 CP437, 2 CP850, 16 CP1252, 19 CP858; 18 CP852).
_CODE_TABLES = {n: name for name, n in CODE_TABLES.items()}
_BARCODE_NAMES = {
    65: "UPC-A",
    66: "UPC-E",
    67: "EAN13",
    68: "EAN8",
    69: "CODE39",
    70: "ITF",
    71: "CODABAR",
    72: "CODE93",
    73: "CODE128",
}
#: ESC commands with one parameter byte that we skip.
_ESC_1 = frozenset(b"!-3=EGJMRUVacefgrt{ ")
#: GS commands with one parameter byte that we skip.
_GS_1 = frozenset(b"!BHILafhbrw")


def _barcode_text(m: int, payload: bytes) -> tuple[str, str]:
    name = _BARCODE_NAMES.get(m if m >= 65 else m + 65, f"BARCODE{m}")
    if name == "CODE128" and payload[:1] == b"{":
        text, i, code_c = "", 0, False
        while i < len(payload):
            ch = payload[i]
            if ch == 0x7B and i + 1 < len(payload):  # '{' + code set / literal '{'
                nxt = payload[i + 1]
                if nxt == 0x7B:
                    text += "{"
                else:
                    code_c = nxt == 0x43  # "{C"
                i += 2
                continue
            text += f"{ch:02d}" if code_c else chr(ch)
            i += 1
        return name, text
    text = payload.decode("ascii", errors="replace")
    if name == "EAN13" and len(text) == 12 and text.isdigit():
        text += str(ean13_check_digit(text))
    return name, text


def escpos_to_text(data: bytes, *, columns: int = 48, show_cuts: bool = False) -> list[str]:
    """Plain text lines an ESC/POS printer would print for ``data``.

    Alignment is applied like :meth:`Document.plain_text` (centre and right within
    ``columns``); QR codes show as ``[QR data]``, barcodes as ``[CODE128 data]``,
    raster images as ``[image]``; real-time requests and styling are dropped.
    """
    lines: list[str] = []
    text: list[str] = []
    pending = False
    align = 0
    encoding = "cp437"
    qr_store = b""
    i, size = 0, len(data)

    def emit(line: str | None = None) -> None:
        nonlocal pending
        if line is None:
            line = "".join(text)
            text.clear()
            pending = False
        if align == 1:
            line = line.center(columns).rstrip()
        elif align == 2:
            line = line.rjust(columns)
        lines.append(line)

    def flush() -> None:
        if pending:
            emit()

    def at(k: int) -> int:
        return data[k] if k < size else 0

    while i < size:
        b = data[i]
        if b == 0x0A:
            emit()
            i += 1
        elif b == 0x10:  # DLE EOT n / DLE ENQ n / DLE DC4 fn m t
            i += 5 if at(i + 1) == 0x14 else 3
        elif b == 0x1B:
            cmd = at(i + 1)
            n = at(i + 2)
            if cmd == 0x40:  # ESC @: clears the buffer, default code table
                text.clear()
                pending, align, encoding = False, 0, "cp437"
                i += 2
            elif cmd == 0x74:  # ESC t n
                encoding = _CODE_TABLES.get(n, "cp437")
                i += 3
            elif cmd == 0x61:  # ESC a n
                align = n & 3 if n & 3 < 3 else 0
                i += 3
            elif cmd == 0x64:  # ESC d n: print the buffer, feed n lines
                if pending:
                    emit()
                    n -= 1
                lines.extend([""] * max(0, n))
                i += 3
            elif cmd == 0x70:  # ESC p m t1 t2
                i += 5
            elif cmd in _ESC_1:
                i += 3
            else:
                i += 2
        elif b == 0x1D:
            cmd = at(i + 1)
            if cmd == 0x56:  # GS V m [n]
                m = at(i + 2)
                i += 4 if m >= 65 else 3
                flush()
                if show_cuts:
                    lines.append("-" * 8 + " cut " + "-" * 8)
            elif cmd == 0x6B:  # GS k m ...
                m = at(i + 2)
                if m <= 6:  # function A: NUL-terminated
                    end = data.find(b"\x00", i + 3)
                    end = size if end < 0 else end
                    payload, i = data[i + 3 : end], end + 1
                else:
                    n = at(i + 3)
                    payload, i = data[i + 4 : i + 4 + n], i + 4 + n
                flush()
                name, value = _barcode_text(m, payload)
                emit(f"[{name} {value}]")
            elif cmd == 0x28:  # GS ( x pL pH ...
                length = at(i + 3) + 256 * at(i + 4)
                params = data[i + 5 : i + 5 + length]
                if at(i + 2) == 0x6B and params[:1] == b"\x31":  # QR code
                    if params[1:2] == b"\x50":
                        qr_store = params[3:]
                    elif params[1:2] == b"\x51":
                        flush()
                        lines.append(f"[QR {qr_store.decode('utf-8', errors='replace')}]")
                i += 5 + length
            elif cmd == 0x76 and at(i + 2) == 0x30:  # GS v 0 m xL xH yL yH d...
                width = at(i + 4) + 256 * at(i + 5)
                height = at(i + 6) + 256 * at(i + 7)
                i += 8 + width * height
                flush()
                lines.append("[image]")
            elif cmd in (0x4C, 0x57):  # GS L / GS W nL nH
                i += 4
            elif cmd in _GS_1:
                i += 3
            else:
                i += 2
        elif b < 0x20 or b == 0x7F:
            i += 1
        else:
            text.append(bytes((b,)).decode(encoding, errors="replace"))
            pending = True
            i += 1
    flush()
    return lines


def escpos_to_plain_text(data: bytes, *, columns: int = 48) -> str:
    """Like :meth:`Document.plain_text`: the lines joined, with a final newline."""
    return "\n".join(escpos_to_text(data, columns=columns)) + "\n"


# --- pole display emulation -----------------------------------------------------------


class PoleDisplayEmulator:
    """What a 2x20 display shows after receiving bytes (Epson DM-D or CD5220)."""

    def __init__(self, profile: DisplayProfile) -> None:
        self.profile = profile
        self._lock = threading.Condition()
        self._grid = [[" "] * profile.columns for _ in range(profile.rows)]
        self._x = self._y = 0
        self._selected = True
        self._pending = b""
        # An Epson DM-D starts in PC437 and switches with ESC t; a CD5220 shows the one
        # code page it is set up for (profile.encoding).
        epson = profile.command_set is DisplayCommandSet.EPSON
        self._default_encoding = "cp437" if epson else profile.encoding
        self.encoding = self._default_encoding

    @property
    def lines(self) -> tuple[str, ...]:
        with self._lock:
            return tuple("".join(row) for row in self._grid)

    def wait_for_lines(self, expected: Sequence[str], timeout: float = 2.0) -> bool:
        want = tuple(line.ljust(self.profile.columns) for line in expected)
        with self._lock:
            return self._lock.wait_for(
                lambda: tuple("".join(r) for r in self._grid) == want, timeout
            )

    def _clear(self) -> None:
        for row in self._grid:
            row[:] = [" "] * self.profile.columns
        self._x = self._y = 0

    def _put(self, ch: str) -> None:
        self._grid[self._y][self._x] = ch
        self._x += 1
        if self._x >= self.profile.columns:  # overwrite mode: next line, then home
            self._x = 0
            self._y = (self._y + 1) % self.profile.rows

    def _char(self, b: int) -> str:
        if self.profile.euro_byte is not None and b == self.profile.euro_byte:
            return "€"
        return bytes((b,)).decode(self.encoding, errors="replace")

    def feed(self, data: bytes) -> None:
        with self._lock:
            buf = self._pending + data
            i = 0
            epson = self.profile.command_set is DisplayCommandSet.EPSON
            while i < len(buf):
                b = buf[i]
                rest = len(buf) - i
                if b == 0x1B:
                    if rest < 2:
                        break
                    cmd = buf[i + 1]
                    if cmd == 0x40:  # ESC @
                        self._clear()
                        self.encoding = self._default_encoding
                        i += 2
                        continue
                    if cmd in (0x74, 0x66, 0x3D):  # ESC t n / ESC f n / ESC = n
                        if rest < 3:
                            break
                        n = buf[i + 2]
                        if cmd == 0x74:
                            self.encoding = _CODE_TABLES.get(n, "cp437")
                        elif cmd == 0x3D:
                            self._selected = bool(n & 2)
                        i += 3
                        continue
                    if cmd == 0x6C:  # ESC l x y (CD5220)
                        if rest < 4:
                            break
                        self._goto(buf[i + 2], buf[i + 3])
                        i += 4
                        continue
                    i += 2  # ESC DC1/DC2/DC3 and the like
                    continue
                if not self._selected:
                    i += 1
                    continue
                if b == 0x1F and epson:
                    if rest < 2:
                        break
                    if buf[i + 1] == 0x24:  # US $ x y
                        if rest < 4:
                            break
                        self._goto(buf[i + 2], buf[i + 3])
                        i += 4
                        continue
                    i += 2  # US MD1/2/3 ...
                    continue
                if b == 0x0C:
                    self._clear()
                elif b == 0x0B:
                    self._x = self._y = 0
                elif b == 0x18:
                    self._grid[self._y][:] = [" "] * self.profile.columns
                    self._x = 0
                elif b >= 0x20 and b != 0x7F:
                    self._put(self._char(b))
                i += 1
            self._pending = bytes(buf[i:])
            self._lock.notify_all()

    def _goto(self, x: int, y: int) -> None:
        self._x = max(0, min(self.profile.columns - 1, x - 1))
        self._y = max(0, min(self.profile.rows - 1, y - 1))


# --- convenience ----------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.005) -> bool:
    """Poll ``predicate`` (for state that has no condition variable to wait on)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True


__all__ = [
    "SIM_PRESETS",
    "FakeUsbBackend",
    "FakeUsbPrinter",
    "LoopbackTransport",
    "PoleDisplayEmulator",
    "PrinterSimCore",
    "PtyDevice",
    "SerialDisplaySim",
    "SerialPrinterSim",
    "SimPrinterState",
    "TcpPrinterSimulator",
    "escpos_to_plain_text",
    "escpos_to_text",
    "wait_until",
]
