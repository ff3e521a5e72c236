"""Byte transports to devices, swappable behind one small protocol.

A transport only moves bytes; codecs (``devices/escpos``, ``devices/display``) make
them. Every failure is a :class:`TransportError` whose message a technician can act on.

Device URLs (``parse_device_url``)::

    serial:///dev/ttyUSB0?baud=9600&parity=N&rtscts=1
    tcp://192.168.1.50:9100?timeout=3
    file:///dev/usb/lp0?write_timeout=10
    usb://04b8:0e15?serial=X5GF012345&interface=0

All transports are blocking: the daemon runs each device in its own worker thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import select
import socket
import stat
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import serial
import usb.backend.libusb0
import usb.backend.libusb1
import usb.core
import usb.util

from posd_daemon.devices.errors import DeviceUrlError, TransportError


@runtime_checkable
class Transport(Protocol):
    """Moves bytes to and from one device."""

    def open(self) -> None:
        """Connect; raises TransportError. Opening an open transport does nothing."""

    def write(self, data: bytes) -> None:
        """Send all of ``data`` or raise TransportError."""

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes, as soon as any arrive; b"" when none came within
        ``timeout`` seconds (or at once, if the transport cannot read)."""

    def close(self) -> None:
        """Disconnect; never raises. A closed transport can be opened again."""

    def describe(self) -> str:
        """Where the device is, for logs and error messages."""


# --- URLs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SerialUrl:
    path: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    rtscts: bool = False
    xonxoff: bool = False
    dsrdtr: bool = False
    write_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class TcpUrl:
    host: str
    port: int = 9100
    connect_timeout: float = 3.0
    write_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class FileUrl:
    path: str
    write_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class UsbUrl:
    vendor_id: int
    product_id: int
    serial: str | None = None
    #: Bus path "bus-port.port", e.g. "1-1.4" (a stable id without a serial number).
    port_path: str | None = None
    interface: int | None = None
    timeout: float = 5.0


DeviceUrl = SerialUrl | TcpUrl | FileUrl | UsbUrl

_EXAMPLES = {
    "serial": "serial:///dev/ttyUSB0?baud=9600",
    "tcp": "tcp://192.168.1.50:9100",
    "file": "file:///dev/usb/lp0",
    "usb": "usb://04b8:0e15?serial=X5GF012345",
}


def _bad(url: str, why: str, scheme: str | None = None) -> DeviceUrlError:
    example = _EXAMPLES.get(scheme or "")
    hint = f" (example: {example})" if example else ""
    return DeviceUrlError(f"bad device URL {url!r}: {why}{hint}")


class _Params:
    """Query parameters with typed getters that explain what is wrong."""

    def __init__(self, url: str, scheme: str, query: str, allowed: tuple[str, ...]) -> None:
        self.url, self.scheme = url, scheme
        self.values: dict[str, str] = {}
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError:
            raise _bad(url, f"cannot parse the query {query!r}", scheme) from None
        for key, value in pairs:
            if key in self.values:
                raise _bad(url, f"parameter {key!r} given twice", scheme)
            if key not in allowed:
                raise _bad(
                    url,
                    f"unknown parameter {key!r} for {scheme}: "
                    f"(allowed: {', '.join(allowed) or 'none'})",
                    scheme,
                )
            self.values[key] = value

    def _get(self, key: str, kind: str, parse: Callable[[str], Any]) -> Any:
        raw = self.values[key]
        try:
            return parse(raw)
        except ValueError:
            raise _bad(self.url, f"{key} must be {kind}, got {raw!r}", self.scheme) from None

    def int(self, key: str, default: int, choices: tuple[int, ...] = ()) -> int:
        if key not in self.values:
            return default
        value: int = self._get(key, "an integer", int)
        if choices and value not in choices:
            raise _bad(
                self.url, f"{key} must be one of {', '.join(map(str, choices))}", self.scheme
            )
        return value

    def float(self, key: str, default: float) -> float:
        if key not in self.values:
            return default
        value: float = self._get(key, "a number of seconds", float)
        if not value > 0:
            raise _bad(self.url, f"{key} must be positive", self.scheme)
        return value

    def bool(self, key: str, default: bool) -> bool:
        if key not in self.values:
            return default
        raw = self.values[key].lower()
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise _bad(self.url, f"{key} must be 0 or 1, got {self.values[key]!r}", self.scheme)

    def str(self, key: str) -> str | None:
        value = self.values.get(key)
        if value is not None and not value:
            raise _bad(self.url, f"{key} is empty", self.scheme)
        return value


def _parse_hex_id(url: str, text: str, what: str) -> int:
    if len(text) != 4 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise _bad(url, f"{what} must be 4 hex digits, got {text!r}", "usb")
    return int(text, 16)


def _usb_interface(url: str, params: _Params) -> int | None:
    if "interface" not in params.values:
        return None
    number = params.int("interface", 0)
    if not 0 <= number <= 255:
        raise _bad(url, "interface must be 0..255", "usb")
    return number


def parse_device_url(url: str) -> DeviceUrl:
    """Parse a device URL; raises DeviceUrlError with an example of a good one."""
    if not isinstance(url, str) or "://" not in url:
        raise _bad(str(url), "expected scheme://..., one of serial, tcp, file, usb")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if parts.fragment:
        raise _bad(url, "a '#' fragment is not allowed", scheme)
    if scheme == "serial":
        params = _Params(
            url,
            scheme,
            parts.query,
            ("baud", "bytesize", "parity", "stopbits", "rtscts", "xonxoff", "dsrdtr",
             "write_timeout"),
        )  # fmt: skip
        if parts.netloc:
            raise _bad(
                url, "the device path must be absolute: write serial:///dev/... (3 slashes)", scheme
            )
        if not parts.path.startswith("/") or parts.path == "/":
            raise _bad(url, "missing the device path", scheme)
        parity = (params.str("parity") or "N").upper()
        if parity not in ("N", "E", "O", "M", "S"):
            raise _bad(url, "parity must be N, E, O, M or S", scheme)
        stopbits_raw = params.str("stopbits") or "1"
        if stopbits_raw not in ("1", "1.5", "2"):
            raise _bad(url, "stopbits must be 1, 1.5 or 2", scheme)
        baud = params.int("baud", 9600)
        if baud <= 0:
            raise _bad(url, "baud must be positive", scheme)
        return SerialUrl(
            path=parts.path,
            baudrate=baud,
            bytesize=params.int("bytesize", 8, (5, 6, 7, 8)),
            parity=parity,
            stopbits=float(stopbits_raw),
            rtscts=params.bool("rtscts", False),
            xonxoff=params.bool("xonxoff", False),
            dsrdtr=params.bool("dsrdtr", False),
            write_timeout=params.float("write_timeout", 10.0),
        )
    if scheme == "tcp":
        params = _Params(url, scheme, parts.query, ("timeout", "write_timeout"))
        if parts.path not in ("", "/"):
            raise _bad(url, f"unexpected path {parts.path!r}", scheme)
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            raise _bad(url, "the port must be a number from 1 to 65535", scheme) from None
        if not host:
            raise _bad(url, "missing the host name or address", scheme)
        if port == 0:
            raise _bad(url, "the port must be a number from 1 to 65535", scheme)
        return TcpUrl(
            host=host,
            port=port or 9100,
            connect_timeout=params.float("timeout", 3.0),
            write_timeout=params.float("write_timeout", 10.0),
        )
    if scheme == "file":
        params = _Params(url, scheme, parts.query, ("write_timeout",))
        if parts.netloc:
            raise _bad(url, "the path must be absolute: write file:///dev/... (3 slashes)", scheme)
        if not parts.path.startswith("/") or parts.path.endswith("/"):
            raise _bad(url, "missing the file path", scheme)
        return FileUrl(path=parts.path, write_timeout=params.float("write_timeout", 10.0))
    if scheme == "usb":
        params = _Params(url, scheme, parts.query, ("serial", "path", "interface", "timeout"))
        if parts.path not in ("", "/"):
            raise _bad(url, f"unexpected path {parts.path!r}", scheme)
        ids = parts.netloc.split(":")
        if len(ids) != 2:
            raise _bad(url, "expected VID:PID in hex after usb://", scheme)
        return UsbUrl(
            vendor_id=_parse_hex_id(url, ids[0], "the vendor id"),
            product_id=_parse_hex_id(url, ids[1], "the product id"),
            serial=params.str("serial"),
            port_path=params.str("path"),
            interface=_usb_interface(url, params),
            timeout=params.float("timeout", 5.0),
        )
    raise _bad(url, f"unknown scheme {parts.scheme!r}: use serial, tcp, file or usb")


def open_transport(url: str | DeviceUrl, *, usb_backend: object | None = None) -> Transport:
    """A (not yet opened) transport for a device URL."""
    parsed = parse_device_url(url) if isinstance(url, str) else url
    if isinstance(parsed, SerialUrl):
        return SerialTransport.from_url(parsed)
    if isinstance(parsed, TcpUrl):
        return TcpTransport(
            parsed.host,
            parsed.port,
            connect_timeout=parsed.connect_timeout,
            write_timeout=parsed.write_timeout,
        )
    if isinstance(parsed, FileUrl):
        return FileTransport(parsed.path, write_timeout=parsed.write_timeout)
    return UsbTransport(
        parsed.vendor_id,
        parsed.product_id,
        serial=parsed.serial,
        port_path=parsed.port_path,
        interface=parsed.interface,
        timeout=parsed.timeout,
        backend=usb_backend,
    )


def _os_hint(err: OSError) -> str:
    """What a technician should check for a common OS error."""
    code = err.errno
    if code == errno.ENOENT:
        return "no such device: is it plugged in and switched on?"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied: add the daemon user to the device's group (dialout/lp)"
    if code == errno.EBUSY:
        return "device busy: another program (or CUPS) is using it"
    if code in (errno.ENODEV, errno.ENXIO, errno.EIO):
        return "device gone: unplugged or switched off"
    return err.strerror or str(err)


# --- serial ---------------------------------------------------------------------------


#: What pyserial lets escape besides SerialException: OSError from the fd calls, and
#: ``termios.error`` (no OSError subclass) from the termios calls it does not wrap:
#: ``flush()`` is ``tcdrain``, setting a timeout is ``tcsetattr``.
_SERIAL_ERRORS = (serial.SerialException, OSError, termios.error)

#: Bytes per pyserial ``write()`` call (see :meth:`SerialTransport.write`): about a
#: quarter of a second at 9600 baud, far below any write timeout.
SERIAL_WRITE_CHUNK = 256


class SerialTransport:
    """An RS-232 / USB-serial device through pyserial (also pty pairs in tests)."""

    supports_read = True
    #: Closing and reopening the port discards only what has arrived by then (pyserial's
    #: open flushes the input buffer): bytes the device sends afterwards are read as
    #: ever. A reply that came too late is still on its way after a reopen.
    reopen_starts_fresh_stream = False

    def __init__(
        self,
        path: str,
        *,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        rtscts: bool = False,
        xonxoff: bool = False,
        dsrdtr: bool = False,
        write_timeout: float = 10.0,
    ) -> None:
        self.path = path
        self.baudrate = baudrate
        self.bytesize, self.parity, self.stopbits = bytesize, parity, stopbits
        self.rtscts, self.xonxoff, self.dsrdtr = rtscts, xonxoff, dsrdtr
        self.write_timeout = write_timeout
        self._port: serial.Serial | None = None
        self._timeout: float | None = None

    @classmethod
    def from_url(cls, url: SerialUrl) -> SerialTransport:
        return cls(
            url.path,
            baudrate=url.baudrate,
            bytesize=url.bytesize,
            parity=url.parity,
            stopbits=url.stopbits,
            rtscts=url.rtscts,
            xonxoff=url.xonxoff,
            dsrdtr=url.dsrdtr,
            write_timeout=url.write_timeout,
        )

    def describe(self) -> str:
        return f"serial port {self.path} ({self.baudrate} baud)"

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            port = serial.Serial(
                port=None,
                baudrate=self.baudrate,
                bytesize=self.bytesize,
                parity=self.parity,
                stopbits=self.stopbits,
                rtscts=self.rtscts,
                xonxoff=self.xonxoff,
                dsrdtr=self.dsrdtr,
                timeout=0,
                write_timeout=self.write_timeout,
                exclusive=True,
            )
            port.port = self.path
            port.open()
        except serial.SerialException as exc:
            hint = _os_hint(exc) if exc.errno is not None else str(exc)
            if "lock" in str(exc).lower():
                hint = "device busy: another program has the port open"
            raise TransportError(f"cannot open {self.describe()}: {hint}") from exc
        except (OSError, ValueError, termios.error) as exc:
            raise TransportError(f"cannot open {self.describe()}: {exc}") from exc
        self._port, self._timeout = port, 0.0

    def _require(self) -> serial.Serial:
        if self._port is None:
            raise TransportError(f"{self.describe()} is not open")
        return self._port

    def write(self, data: bytes) -> None:
        """All of ``data``, out of the port: ``write_timeout`` bounds a stall (no byte
        taken for that long), not the job. pyserial's own write timeout bounds one
        ``write()`` call as a whole, and at 9600 baud (about 960 bytes/s, less while a
        slower printer holds the line with flow control) a 10 KB job takes longer than
        that though every byte is taken: cut off, it would be printed in part and its
        retry cut off the same way, for ever. So it goes out in small pieces, each with
        the full timeout, and the wait for the last bytes to leave is bounded the same
        way (``tcdrain``, pyserial's ``flush()``, waits for ever while CTS is held)."""
        port = self._require()
        view = memoryview(data)
        try:
            for start in range(0, len(view), SERIAL_WRITE_CHUNK):
                port.write(view[start : start + SERIAL_WRITE_CHUNK])
            self._wait_sent(port)
        except serial.SerialTimeoutException as exc:
            raise self._stalled() from exc
        except _SERIAL_ERRORS as exc:  # the TIOCOUTQ ioctl raises OSError when unplugged
            raise TransportError(
                f"writing to {self.describe()} failed: device unplugged or switched off ({exc})"
            ) from exc

    def _stalled(self) -> TransportError:
        return TransportError(
            f"{self.describe()} did not accept data within {self.write_timeout:g} s "
            "(hardware flow control holds us: printer offline, paper out or cable wrong?)"
        )

    def _wait_sent(self, port: serial.Serial) -> None:
        """Wait until the port's output queue is empty, while it keeps shrinking."""
        least = port.out_waiting
        deadline = time.monotonic() + self.write_timeout
        while least > 0:
            # about the time the queue needs at the line's pace, polled at least every 20 ms
            time.sleep(min(0.02, max(0.001, least * 10 / self.baudrate)))
            waiting = port.out_waiting
            now = time.monotonic()
            if waiting < least:
                least, deadline = waiting, now + self.write_timeout
            elif now >= deadline:
                raise self._stalled()

    def read(self, n: int, timeout: float) -> bytes:
        port = self._require()
        timeout = max(0.0, timeout)
        try:
            if self._timeout != timeout:
                port.timeout = timeout
                self._timeout = timeout
            first = port.read(1)
            if not first:
                return b""
            waiting = port.in_waiting
            rest = port.read(min(n - 1, waiting)) if n > 1 and waiting else b""
            return bytes(first + rest)
        except _SERIAL_ERRORS as exc:  # the timeout setter's tcsetattr: termios.error
            raise TransportError(
                f"reading from {self.describe()} failed: device unplugged or switched off ({exc})"
            ) from exc

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*_SERIAL_ERRORS):
                port.close()


# --- TCP ------------------------------------------------------------------------------


class TcpTransport:
    """A network printer on a raw TCP port (9100, "JetDirect")."""

    supports_read = True
    #: A reconnect is a new connection: whatever the printer still sends on the old one
    #: (a reply that came too late) is never read on the new one.
    reopen_starts_fresh_stream = True

    def __init__(
        self,
        host: str,
        port: int = 9100,
        *,
        connect_timeout: float = 3.0,
        write_timeout: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self._sock: socket.socket | None = None

    def describe(self) -> str:
        return f"network printer {self.host}:{self.port}"

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        if self._sock is not None:
            return
        where = self.describe()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except ConnectionRefusedError as exc:
            raise TransportError(
                f"connection refused by {where}: printer restarting, raw printing (port "
                f"{self.port}) disabled, or wrong address"
            ) from exc
        except TimeoutError as exc:
            raise TransportError(
                f"no answer from {where} within {self.connect_timeout:g} s: printer off, "
                "network cable unplugged, wrong address or a firewall"
            ) from exc
        except socket.gaierror as exc:
            raise TransportError(f"unknown host {self.host!r} for {where}: {exc}") from exc
        except OSError as exc:
            raise TransportError(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._sock = sock

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(f"{self.describe()} is not connected")
        return self._sock

    def write(self, data: bytes) -> None:
        """All of ``data``: ``write_timeout`` bounds a stall (the printer takes no byte
        for that long), not the job. ``sendall``'s timeout bounds the whole call (since
        Python 3.5), and a printer takes bytes only as fast as it prints once its buffer
        and the socket buffers are full: a long job to a slow printer would be cut off,
        printed in part and its retry cut off the same way (see SerialTransport.write).

        Nor is "no room for ``write_timeout``" a stall: the kernel reports a full socket
        writable again only once a third of its send buffer is free (tcp_poll), which a
        slow printer may take longer to work off. Progress is what the printer has
        acknowledged: the send queue shrinking (``SIOCOUTQ``), checked every
        ``TCP_STALL_POLL_S`` while there is no room, as SerialTransport._wait_sent does
        with the port's output queue."""
        sock = self._require()
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout
        least = _unacked(sock)
        try:
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(min(remaining, TCP_STALL_POLL_S))
                try:
                    view = view[sock.send(view) :]
                except TimeoutError:
                    queued = _unacked(sock)
                    if queued is None or least is None or queued >= least:
                        continue
                else:
                    queued = _unacked(sock)
                least, deadline = queued, time.monotonic() + self.write_timeout
        except TimeoutError as exc:
            raise TransportError(
                f"{self.describe()} did not accept data within {self.write_timeout:g} s "
                "(printer buffer full: offline or paper out?)"
            ) from exc
        except OSError as exc:
            raise TransportError(
                f"connection to {self.describe()} lost while sending: {exc.strerror or exc}"
            ) from exc

    def read(self, n: int, timeout: float) -> bytes:
        sock = self._require()
        try:
            sock.settimeout(max(0.0, timeout))
            data = sock.recv(n)
        except (TimeoutError, BlockingIOError):
            return b""
        except OSError as exc:
            raise TransportError(
                f"connection to {self.describe()} lost: {exc.strerror or exc}"
            ) from exc
        if not data:
            raise TransportError(f"{self.describe()} closed the connection")
        return data

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


#: How often a write to a network printer whose socket is full checks whether the
#: printer took anything meanwhile (see :meth:`TcpTransport.write`).
TCP_STALL_POLL_S = 0.05


def _unacked(sock: socket.socket) -> int | None:
    """Bytes in the socket's send queue the peer has not acknowledged (Linux
    ``SIOCOUTQ``, tcp(7)); None where the ioctl is not available."""
    buf = bytearray(4)
    try:
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
    except OSError:
        return None
    return int.from_bytes(buf, sys.byteorder, signed=True)


# --- device files ---------------------------------------------------------------------


class FileTransport:
    """A device file such as ``/dev/usb/lp0`` (usblp), or a plain file (simulation).

    Reads work on character devices that support them (usblp with a bidirectional
    printer) and return b"" otherwise. A plain file is created if missing; a missing
    ``/dev/...`` path is an error (never silently create a regular file there).

    The file is used non-blocking: a blocking ``write`` to usblp waits for a printer
    that is offline or out of paper for ever (as does one to a FIFO whose reader
    stalls), and a blocking open of a FIFO waits for a reader. ``write_timeout`` bounds
    a stall (no byte taken for that long), not the job (see SerialTransport.write).
    """

    def __init__(self, path: str, *, write_timeout: float = 10.0) -> None:
        self.path = path
        self.write_timeout = write_timeout
        self._fd: int | None = None
        self._readable = False

    def describe(self) -> str:
        return f"device file {self.path}"

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    @property
    def supports_read(self) -> bool:
        """Whether status can be read back (known after open; False for plain files)."""
        if self._fd is None:
            return self.path.startswith("/dev/")
        return self._readable

    def open(self) -> None:
        if self._fd is not None:
            return
        is_dev = self.path.startswith("/dev/")
        # O_NONBLOCK: see the class; a FIFO nobody reads fails with ENXIO (fifo(7))
        flags = os.O_CLOEXEC | os.O_NONBLOCK
        try:
            if is_dev:
                try:
                    fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | flags)
                except PermissionError:
                    fd = os.open(self.path, os.O_WRONLY | os.O_NOCTTY | flags)
            else:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | flags, 0o644)
        except OSError as exc:
            hint = _os_hint(exc)
            if exc.errno == errno.ENXIO and self._is_fifo():
                hint = "nothing reads it (no process has the FIFO open for reading)"
            raise TransportError(f"cannot open {self.describe()}: {hint}") from exc
        mode = os.fstat(fd).st_mode
        access = os.O_ACCMODE & _fd_flags(fd)
        self._readable = stat.S_ISCHR(mode) and access == os.O_RDWR
        self._fd = fd

    def _require(self) -> int:
        if self._fd is None:
            raise TransportError(f"{self.describe()} is not open")
        return self._fd

    def _is_fifo(self) -> bool:
        try:
            return stat.S_ISFIFO(os.stat(self.path).st_mode)
        except OSError:
            return False

    def write(self, data: bytes) -> None:
        """All of ``data``: whatever the device takes at once, then a wait of at most
        ``write_timeout`` for it to take more, for as long as it keeps taking bytes."""
        fd = self._require()
        view = memoryview(data)
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        # the stall is measured from the last byte taken, not per poll: a driver that
        # reports room but then takes nothing must not keep this looping
        deadline = time.monotonic() + self.write_timeout
        try:
            while view:
                try:
                    view = view[os.write(fd, view) :]
                    deadline = time.monotonic() + self.write_timeout
                    continue
                except BlockingIOError:
                    pass
                left = deadline - time.monotonic()
                # poll, not select: no FD_SETSIZE limit on the descriptor's number
                if left <= 0 or not poller.poll(left * 1000):
                    raise TransportError(
                        f"{self.describe()} did not accept data within "
                        f"{self.write_timeout:g} s (printer offline, paper out or busy?)"
                    )
        except OSError as exc:
            raise TransportError(f"writing to {self.describe()} failed: {_os_hint(exc)}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        fd = self._require()
        if not self._readable:
            return b""
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
            if not ready:
                return b""
            data = os.read(fd, n)
        except BlockingIOError:
            return b""  # the fd is non-blocking: ready, and then nothing after all
        except OSError as exc:
            raise TransportError(f"reading {self.describe()} failed: {_os_hint(exc)}") from exc
        if not data:
            # End of file on a character device: it cannot read back (e.g. a
            # unidirectional printer); stop trying.
            self._readable = False
        return data

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _fd_flags(fd: int) -> int:
    import fcntl  # noqa: PLC0415 (POSIX only)

    return fcntl.fcntl(fd, fcntl.F_GETFL)


# --- USB ------------------------------------------------------------------------------

#: libusb's sonames on Linux, by the names pyusb asks for: libusb 1.0 and libusb-compat 0.1
#: (Debian's libusb-1.0-0 and libusb-0.1-4 packages ship exactly these files).
LIBUSB_SONAMES = {"usb-1.0": "libusb-1.0.so.0", "usb-0.1": "libusb-0.1.so.4"}


#: Bytes per bulk OUT transfer (see :meth:`UsbTransport.write`): a printer's receive
#: buffer is about 4 KB, and a slow one prints well over 1 KB/s, so a piece is taken
#: long before the 5 s default timeout.
USB_WRITE_CHUNK = 1024


def _find_libusb(name: str) -> str | None:
    """pyusb's ``find_library``: the soname when the dynamic linker loads it. pyusb's
    default, ``ctypes.util.find_library``, runs ``ldconfig -p`` (and gcc) for every name it
    tries -- 80 ms of subprocesses at each start of a register without libusb -- and
    its answer is a soname loaded from the same linker path anyway."""
    soname = LIBUSB_SONAMES.get(name)
    if soname is None:
        return None
    try:
        ctypes.CDLL(soname)
    except OSError:
        return None
    return soname


@functools.cache
def libusb_backend() -> object | None:
    """The pyusb backend (libusb 1.0, else 0.1), looked up once per process; None when
    neither library is installed (pyusb itself would look again at every ``find``)."""
    backend: object | None = usb.backend.libusb1.get_backend(find_library=_find_libusb)
    return backend or usb.backend.libusb0.get_backend(find_library=_find_libusb)


class UsbTransport:
    """A USB printer through pyusb: found by VID:PID plus serial number or bus path.

    Detaches the kernel driver (usblp), claims the interface and uses its bulk OUT/IN
    endpoints, found from the descriptors. ``backend`` is a pyusb backend object
    (default: :func:`libusb_backend`); tests pass a fake one.
    """

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        *,
        serial: str | None = None,
        port_path: str | None = None,
        interface: int | None = None,
        timeout: float = 5.0,
        backend: object | None = None,
    ) -> None:
        self.vendor_id, self.product_id = vendor_id, product_id
        self.serial, self.port_path, self.interface = serial, port_path, interface
        self.timeout = timeout
        self.backend = backend
        self._dev: Any = None
        self._intf: int | None = None
        self._ep_out: int = 0
        self._ep_in: int | None = None
        self._in_size = 64
        self._rx = bytearray()

    def describe(self) -> str:
        where = f"USB printer {self.vendor_id:04x}:{self.product_id:04x}"
        if self.serial:
            where += f" serial {self.serial}"
        if self.port_path:
            where += f" at {self.port_path}"
        return where

    @property
    def is_open(self) -> bool:
        return self._dev is not None

    @property
    def supports_read(self) -> bool:
        return self._dev is None or self._ep_in is not None

    def _error(self, exc: BaseException, action: str) -> TransportError:
        code = getattr(exc, "errno", None)
        text = str(exc)
        where = self.describe()
        if code == errno.EBUSY or "busy" in text.lower():
            msg = (
                f"{where} is busy ({text}): another driver holds it, usually the usblp kernel "
                "module (/dev/usb/lp*) or CUPS. Remove the CUPS queue for it or unload/"
                "blacklist usblp, or use file:///dev/usb/lp0 instead of usb://"
            )
        elif code in (errno.EACCES, errno.EPERM):
            msg = (
                f"permission denied {action} {where}: add a udev rule giving the daemon "
                f"user access to {self.vendor_id:04x}:{self.product_id:04x}"
            )
        elif code in (errno.ENODEV, errno.ENOENT) or "no such device" in text.lower():
            msg = f"{where} is gone while {action}: unplugged or switched off"
        elif code == errno.ETIMEDOUT:
            msg = (
                f"{where} did not accept data within {self.timeout:g} s while {action} "
                "(printer offline, paper out or busy?)"
            )
        else:
            msg = f"USB error {action} {where}: {text}"
        return TransportError(msg)

    def _find(self) -> Any:
        no_backend = (
            f"cannot look for {self.describe()}: no libusb backend "
            "(install libusb-1.0, e.g. apt install libusb-1.0-0)"
        )
        backend = self.backend or libusb_backend()
        if backend is None:
            raise TransportError(no_backend)
        try:
            candidates = list(
                usb.core.find(
                    find_all=True,
                    idVendor=self.vendor_id,
                    idProduct=self.product_id,
                    backend=backend,
                )
            )
        except usb.core.NoBackendError as exc:
            raise TransportError(no_backend) from exc
        except usb.core.USBError as exc:
            raise self._error(exc, "looking for") from exc
        matches = []
        seen: list[str] = []
        for dev in candidates:
            if self.port_path is not None and _port_path(dev) != self.port_path:
                seen.append(f"at {_port_path(dev)}")
                continue
            if self.serial is not None:
                try:
                    serial_number = dev.serial_number
                except (ValueError, usb.core.USBError) as exc:
                    seen.append(f"serial unreadable ({exc})")
                    continue
                if serial_number != self.serial:
                    seen.append(f"serial {serial_number}")
                    continue
            matches.append(dev)
        if not matches:
            found = f" (found: {', '.join(seen)})" if seen else ""
            raise TransportError(
                f"{self.describe()} not found{found}: is it plugged in and switched on?"
            )
        if len(matches) > 1:
            raise TransportError(
                f"{len(matches)} devices match {self.describe()}: add ?serial=... or ?path=... "
                "to the device URL"
            )
        return matches[0]

    def open(self) -> None:
        if self._dev is not None:
            return

        dev = self._find()
        try:
            cfg = dev[0]
            intf = self._pick_interface(cfg)
            number = int(intf.bInterfaceNumber)
            ep_out = usb.util.find_descriptor(intf, custom_match=_bulk(usb.util.ENDPOINT_OUT))
            ep_in = usb.util.find_descriptor(intf, custom_match=_bulk(usb.util.ENDPOINT_IN))
            if ep_out is None:
                raise TransportError(f"{self.describe()}: interface {number} has no bulk OUT")
            try:
                if dev.is_kernel_driver_active(number):
                    dev.detach_kernel_driver(number)
            except NotImplementedError:
                pass  # not every platform/backend knows about kernel drivers
            try:
                active = dev.get_active_configuration()
            except usb.core.USBError:
                active = None
            if active is None or active.bConfigurationValue != cfg.bConfigurationValue:
                dev.set_configuration(cfg.bConfigurationValue)
            usb.util.claim_interface(dev, number)
        except usb.core.USBError as exc:
            _dispose(dev)
            raise self._error(exc, "opening") from exc
        except TransportError:
            _dispose(dev)
            raise
        self._dev, self._intf = dev, number
        self._ep_out = int(ep_out.bEndpointAddress)
        self._ep_in = int(ep_in.bEndpointAddress) if ep_in is not None else None
        self._in_size = int(ep_in.wMaxPacketSize) if ep_in is not None else 64
        self._rx.clear()

    def _pick_interface(self, cfg: Any) -> Any:

        interfaces = [i for i in cfg if int(i.bAlternateSetting) == 0]
        if self.interface is not None:
            chosen = [i for i in interfaces if int(i.bInterfaceNumber) == self.interface]
            if not chosen:
                raise TransportError(f"{self.describe()} has no interface {self.interface}")
            return chosen[0]
        with_out = [
            i
            for i in interfaces
            if usb.util.find_descriptor(i, custom_match=_bulk(usb.util.ENDPOINT_OUT)) is not None
        ]
        if not with_out:
            raise TransportError(f"{self.describe()} has no interface with a bulk OUT endpoint")
        printers = [i for i in with_out if int(i.bInterfaceClass) == 7]  # USB printer class
        return (printers or with_out)[0]

    def write(self, data: bytes) -> None:

        dev = self._require()
        view = memoryview(data)
        try:
            while view:
                # A transfer's timeout bounds the whole transfer, and the printer takes
                # bytes only as fast as it prints: in pieces, ``timeout`` bounds a stall,
                # not a long job (see SerialTransport.write).
                piece = bytes(view[:USB_WRITE_CHUNK])
                written = int(dev.write(self._ep_out, piece, int(self.timeout * 1000)))
                if written <= 0:
                    raise TransportError(f"{self.describe()} accepted no data")
                view = view[written:]
        except usb.core.USBError as exc:
            raise self._error(exc, "writing to") from exc

    def read(self, n: int, timeout: float) -> bytes:

        dev = self._require()
        if not self._rx:
            if self._ep_in is None:
                return b""
            try:
                # Read whole packets (a shorter buffer can overflow); never 0 ms, which
                # libusb takes as "wait forever".
                chunk = dev.read(self._ep_in, max(n, self._in_size), max(1, int(timeout * 1000)))
            except usb.core.USBTimeoutError:
                return b""
            except usb.core.USBError as exc:
                if getattr(exc, "errno", None) == errno.ETIMEDOUT:
                    return b""
                raise self._error(exc, "reading from") from exc
            self._rx += bytes(chunk)
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def _require(self) -> Any:
        if self._dev is None:
            raise TransportError(f"{self.describe()} is not open")
        return self._dev

    def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is None:
            return

        if self._intf is not None:
            with contextlib.suppress(usb.core.USBError, ValueError):
                usb.util.release_interface(dev, self._intf)
        _dispose(dev)
        self._rx.clear()


def _bulk(direction: int) -> Callable[[Any], bool]:

    def match(ep: Any) -> bool:
        return bool(
            usb.util.endpoint_direction(ep.bEndpointAddress) == direction
            and usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
        )

    return match


def _port_path(dev: Any) -> str:
    ports = getattr(dev, "port_numbers", None) or ()
    return f"{dev.bus}-{'.'.join(str(p) for p in ports)}"


def _dispose(dev: Any) -> None:

    with contextlib.suppress(usb.core.USBError, ValueError):
        usb.util.dispose_resources(dev)
