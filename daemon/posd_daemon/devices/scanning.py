"""Barcode scanner input: pure decoders and the evdev (HID keyboard wedge) event source.

* :class:`ScanDecoder` turns a scanner's byte stream (serial/CDC: one code per line) into
  codes, and rejects noise cleanly: control characters, non-ASCII bytes, codes too short
  or too long, EAN/UPC codes with a wrong check digit, a partial code that never got its
  terminator, and bursts faster than a person can scan.
* :class:`KeyboardDecoder` turns key events of a HID keyboard-wedge scanner into the
  same byte stream, through a configurable layout (a scanner set to a German layout
  sends the key for 'z' where a US one sends 'y', and AltGr+9 for ']').
* :class:`EvdevSource` reads ``/dev/input/event*`` directly (``struct input_event``) and
  grabs it exclusively (``EVIOCGRAB``), so scans never type into another program. It
  needs no python-evdev; tests inject any :class:`KeyEventSource`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import struct
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from posd_daemon.devices.errors import TransportError
from posd_daemon.domain.barcode import gtin_valid, upce_to_upca
from posd_daemon.domain.text import is_digits

# -- codes -------------------------------------------------------------------------------

#: AIM symbology identifiers (``]`` + letter + modifier) some scanners prefix.
_AIM = {
    "]E0": "EAN13",
    "]E4": "EAN8",
    "]C0": "CODE128",
    "]C1": "GS1-128",
    "]A0": "CODE39",
    "]I0": "ITF",
    "]Q1": "QR",
    "]d1": "DATAMATRIX",
    "]d2": "GS1-DATAMATRIX",
}
_AIM_PREFIX_LENGTH = 3


def symbology_of(code: str) -> str:
    if code.isdigit():
        if len(code) == 13:
            return "EAN13"
        if len(code) == 8:
            return "EAN8"
        if len(code) == 12:
            return "UPC-A"
    return "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    symbology: str


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str


ScanResult = Code | Rejected


@dataclass(frozen=True, slots=True)
class ScanRules:
    min_length: int = 3
    #: the daemon's configured default is 128 (scanner.max_length): a GS1 element string
    #: of a medicine pack (GTIN, serial, lot, expiry) runs past 70
    max_length: int = 64
    #: A partial code older than this without its terminator is dropped; a too-long line
    #: quiet this long no longer waits for its line end.
    fragment_timeout: float = 0.5
    #: More scans than this within one second are a burst (a stuck scanner, noise),
    #: rejected until the codes pause for a second.
    max_per_second: int = 20
    #: Reject all-digit codes of EAN/UPC length whose check digit is wrong.
    check_digits: bool = True
    #: Strip an AIM symbology identifier (``]E0``...) and use it for the symbology.
    aim_ids: bool = True


def _preview(data: bytes) -> str:
    shown = data[:24].hex(" ")
    return shown + (" ..." if len(data) > 24 else "")


class ScanDecoder:
    """Line-based scanner input (CR, LF or CRLF ends a code; spaces and a TAB suffix
    around it are dropped, a GS is kept for the sale to judge). Not thread-safe."""

    def __init__(self, rules: ScanRules | None = None) -> None:
        self.rules = rules or ScanRules()
        self._buf = bytearray()
        self._first_byte_at = 0.0
        self._skip_lf = False
        self._discarding = False
        self._last_discarded_at = 0.0
        self._recent: deque[float] = deque()
        self._burst_until = float("-inf")

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)

    def feed(self, data: bytes, now: float) -> list[ScanResult]:
        out: list[ScanResult] = self.tick(now)
        for b in data:
            if self._skip_lf and b == 0x0A:
                self._skip_lf = False
                continue
            self._skip_lf = False
            if b in (0x0D, 0x0A):
                self._skip_lf = b == 0x0D
                if self._discarding:
                    self._discarding = False
                    self._buf.clear()
                    continue
                if self._buf:
                    out.append(self._finish(bytes(self._buf), now))
                    self._buf.clear()
                continue
            if self._discarding:
                self._last_discarded_at = now
                continue
            if not self._buf:
                self._first_byte_at = now
            self._buf.append(b)
            if len(self._buf) > self.rules.max_length + self._prefix_allowance():
                out.append(
                    Rejected(
                        "TOO_LONG",
                        f"more than {self.rules.max_length} characters without an end of line: "
                        f"{_preview(bytes(self._buf))}",
                    )
                )
                self._buf.clear()
                self._discarding = True
                self._last_discarded_at = now
        return out

    def _prefix_allowance(self) -> int:
        """Room in the line buffer for an AIM identifier: ``_finish`` strips it before
        ``max_length`` is applied, so without this a scanner sending AIM ids could never
        deliver a code of ``max_length`` characters. Granted only to a line that starts
        like one, so a line without a prefix is still cut at ``max_length`` while it
        arrives, and the buffer stays bounded either way."""
        if self.rules.aim_ids and self._buf[:1] == b"]":
            return _AIM_PREFIX_LENGTH
        return 0

    def tick(self, now: float) -> list[ScanResult]:
        """Drop a partial code whose terminator never came, and end the discarding after
        a too-long line once the line has been quiet as long."""
        if self._discarding and now - self._last_discarded_at > self.rules.fragment_timeout:
            # The rest of an overlong line arrives back to back; a pause as long as the
            # one that ends a partial code means its line end never comes, and waiting
            # for it would silently swallow the next good scan (seconds later).
            self._discarding = False
        if self._buf and now - self._first_byte_at > self.rules.fragment_timeout:
            data = bytes(self._buf)
            self._buf.clear()
            return [
                Rejected(
                    "PARTIAL_CODE",
                    f"{len(data)} byte(s) without an end of line within "
                    f"{self.rules.fragment_timeout:g} s: {_preview(data)}",
                )
            ]
        return []

    def _finish(self, data: bytes, now: float) -> ScanResult:
        rules = self.rules
        # Only the line's blanks go: spaces, and TAB, which a scanner set to end each code
        # with TAB (or TAB and Enter) sends as its suffix. Not str.strip(): Python counts
        # GS (0x1D) and the other information separators (0x1C-0x1F) as whitespace, and a
        # GS ending an element string was dropped, so a code the sale refuses (a
        # separator with no field after it) was sold as if the scanner had not sent it.
        data = data.strip(b" \t")
        # GS (0x1D) is FNC1 ending a variable-length field of a GS1 element string (GS1
        # General Specifications 7.8.6), as GS1 DataMatrix / GS1-128 scanners send it; the
        # sale refuses it in anything that is no element string
        if any((b < 0x20 and b != 0x1D) or b == 0x7F for b in data):
            return Rejected("CONTROL_CHARACTERS", f"control characters in {_preview(data)}")
        if any(b > 0x7E for b in data):
            return Rejected("NOT_ASCII", f"non-ASCII bytes in {_preview(data)}")
        text = data.decode("ascii")
        symbology = ""
        if rules.aim_ids and text.startswith("]") and len(text) <= _AIM_PREFIX_LENGTH:
            # An AIM symbology identifier is "]", a symbology character and a modifier
            # character, always before the data (ISO/IEC 15424): a line of three
            # characters or fewer starting with "]" is an identifier (perhaps cut short)
            # without a code, which must not reach a sale as the code "]E0".
            return Rejected("TOO_SHORT", f"only the AIM identifier {text!r}, no code")
        if rules.aim_ids and len(text) > _AIM_PREFIX_LENGTH and text.startswith("]"):
            symbology = _AIM.get(text[:_AIM_PREFIX_LENGTH], "")
            text = text[_AIM_PREFIX_LENGTH:]
        if " " in text:
            return Rejected("INVALID_CHARACTERS", f"spaces in {text[:64]!r}")
        if len(text) < rules.min_length:
            return Rejected("TOO_SHORT", f"{text!r} is shorter than {rules.min_length}")
        # measured without the AIM prefix: max_length limits the code, not what the
        # scanner puts before it (the line buffer in feed allows for the prefix too)
        if len(text) > rules.max_length:
            return Rejected("TOO_LONG", f"{len(text)} characters")
        named = symbology  # the scanner's AIM identifier, when it sent one
        symbology = symbology or symbology_of(text)
        if (
            len(text) == 8
            and is_digits(text)
            and (
                named == "EAN13"
                or (not named and not gtin_valid(text) and upce_to_upca(text) is not None)
            )
        ):
            # UPC-E: 8 digits like EAN-8, checked by the check digit of the UPC-A it
            # stands for (GS1 General Specifications, UPC-E); the catalog finds it under
            # that UPC-A (store/catalog.py). The AIM identifier ]E0 names the EAN-13/
            # UPC-A/UPC-E family, ]E4 EAN-8 (ISO/IEC 15424): 8 digits under ]E0 are a
            # UPC-E only, under ]E4 an EAN-8 only, whatever else their digits are valid as
            symbology = "UPC-E"
        if rules.check_digits and (
            (symbology == "UPC-E" and upce_to_upca(text) is None)
            or (
                symbology in ("EAN13", "EAN8", "UPC-A")
                and text.isdigit()
                and len(text) in (8, 12, 13)
                and not gtin_valid(text)
            )
        ):
            return Rejected("BAD_CHECK_DIGIT", f"{text}: wrong check digit (misread)")
        recent = self._recent
        while recent and now - recent[0] > 1.0:
            recent.popleft()
        if len(recent) >= rules.max_per_second or now <= self._burst_until:
            # a burst lasts until the codes pause for a second: else a stuck scanner got
            # max_per_second codes through in every second of it
            self._burst_until = now + 1.0
            return Rejected(
                "BURST", f"more than {rules.max_per_second} codes within one second: {text}"
            )
        recent.append(now)
        return Code(text, symbology)


# -- HID keyboard wedge --------------------------------------------------------------------

EV_KEY = 0x01
KEY_ENTER, KEY_KPENTER = 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
#: AltGr: the third level of a layout (e.g. German ``]`` = AltGr+9)
KEY_RIGHTALT = 100
KEY_TAB = 15

# Linux input-event-codes.h, US layout: key code -> (plain, shifted).
_US: dict[int, tuple[str, str]] = {
    2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"),
    7: ("6", "^"), 8: ("7", "&"), 9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"),
    12: ("-", "_"), 13: ("=", "+"), 26: ("[", "{"), 27: ("]", "}"), 39: (";", ":"),
    40: ("'", '"'), 41: ("`", "~"), 43: ("\\", "|"), 51: (",", "<"), 52: (".", ">"),
    53: ("/", "?"), 57: (" ", " "),
    71: ("7", "7"), 72: ("8", "8"), 73: ("9", "9"), 74: ("-", "-"), 75: ("4", "4"),
    76: ("5", "5"), 77: ("6", "6"), 78: ("+", "+"), 79: ("1", "1"), 80: ("2", "2"),
    81: ("3", "3"), 82: ("0", "0"), 83: (".", "."), 55: ("*", "*"), 98: ("/", "/"),
}  # fmt: skip
_LETTERS = {
    16: "q", 17: "w", 18: "e", 19: "r", 20: "t", 21: "y", 22: "u", 23: "i", 24: "o",
    25: "p", 30: "a", 31: "s", 32: "d", 33: "f", 34: "g", 35: "h", 36: "j", 37: "k",
    38: "l", 44: "z", 45: "x", 46: "c", 47: "v", 48: "b", 49: "n", 50: "m",
}  # fmt: skip
for _code, _ch in _LETTERS.items():
    _US[_code] = (_ch, _ch.upper())

# German QWERTZ: Y and Z swapped, and the punctuation a scanner sends in codes.
_DE: dict[int, tuple[str, str]] = dict(_US)
_DE.update(
    {
        21: ("z", "Z"), 44: ("y", "Y"),
        3: ("2", '"'), 4: ("3", "§"), 7: ("6", "&"), 8: ("7", "/"), 9: ("8", "("),
        10: ("9", ")"), 11: ("0", "="), 12: ("ß", "?"), 27: ("+", "*"), 43: ("#", "'"),
        51: (",", ";"), 52: (".", ":"), 53: ("-", "_"), 86: ("<", ">"),
        26: ("ü", "Ü"), 39: ("ö", "Ö"), 40: ("ä", "Ä"),
    }
)  # fmt: skip

LAYOUTS: Mapping[str, Mapping[int, tuple[str, str]]] = {"us": _US, "de": _DE}

# The third level, typed with AltGr (right Alt). German T1 layout (DIN 2137-1): the
# brackets, braces, backslash, pipe, tilde and at sign of Code 128 and 2D data, and "]"
# of every AIM symbology identifier (ISO/IEC 15424), are only there. The US layout has
# none (right Alt is a plain Alt): a key with it is noise, not its plain character.
_DE_ALTGR: dict[int, str] = {
    16: "@", 8: "{", 9: "[", 10: "]", 11: "}", 12: "\\", 27: "~", 86: "|",
    3: "²", 4: "³", 18: "€", 50: "µ",
}  # fmt: skip
THIRD_LEVEL: Mapping[str, Mapping[int, str]] = {"us": {}, "de": _DE_ALTGR}


class KeyboardDecoder:
    """Key events (type, code, value) of a keyboard-wedge scanner -> bytes for
    :class:`ScanDecoder`. Enter ends a code; a key the layout does not know becomes a
    control byte, so the code is rejected instead of silently mangled."""

    def __init__(self, layout: str = "us") -> None:
        try:
            self.keymap = LAYOUTS[layout]
        except KeyError:
            known = ", ".join(sorted(LAYOUTS))
            raise ValueError(f"unknown keyboard layout {layout!r} (known: {known})") from None
        self.third_level = THIRD_LEVEL[layout]
        self.layout = layout
        self._shift = 0
        self._altgr = 0

    def reset(self) -> None:
        """Forgets the modifiers held: a device unplugged while Shift or AltGr was down
        never sends its release, and every scan after reopening would decode shifted
        ("4006..." as "$))^...", a wrong code that passes as printable)."""
        self._shift = 0
        self._altgr = 0

    def feed(self, events: list[tuple[int, int, int]]) -> bytes:
        out = bytearray()
        for etype, code, value in events:
            if etype != EV_KEY:
                continue
            if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
                if value == 1:
                    self._shift += 1
                elif value == 0:
                    self._shift = max(0, self._shift - 1)
                continue
            if code == KEY_RIGHTALT:
                if value == 1:
                    self._altgr += 1
                elif value == 0:
                    self._altgr = max(0, self._altgr - 1)
                continue
            if value != 1:  # releases and autorepeat
                continue
            if code in (KEY_ENTER, KEY_KPENTER):
                out += b"\r"
                continue
            if code == KEY_TAB:
                out += b"\t"
                continue
            if self._altgr:
                third = self.third_level.get(code)
                if third is None:
                    out += b"\x00"  # no character on this key's third level: noise
                    continue
                ch = third
            else:
                chars = self.keymap.get(code)
                if chars is None:
                    out += b"\x00"  # unknown key: noise
                    continue
                ch = chars[1] if self._shift else chars[0]
            out += ch.encode("ascii") if ch.isascii() else b"\x7f"  # ä, ß: not in codes
        return bytes(out)


class KeyEventSource(Protocol):
    """Where key events come from (``/dev/input/event*``, or a test's injector)."""

    def open(self) -> None: ...

    def read(self, timeout: float) -> list[tuple[int, int, int]]: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


#: ``_IOW('E', 0x90, int)``: grab the input device exclusively.
EVIOCGRAB = 0x40044590
#: ``struct input_event`` on 64-bit Linux: timeval (2 x long), type, code (u16), value (s32).
INPUT_EVENT = struct.Struct("llHHi")


class EvdevSource:
    """A HID input device read directly from its event node (no python-evdev needed)."""

    def __init__(
        self,
        path: str,
        *,
        grab: bool = True,
        ioctl: Callable[[int, int, int], object] | None = None,
    ) -> None:
        self.path = path
        self.grab = grab
        self._ioctl = ioctl or fcntl.ioctl
        self._fd: int | None = None
        self._buf = b""

    def describe(self) -> str:
        return f"input device {self.path}" + (" (grabbed)" if self.grab else "")

    def open(self) -> None:
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            hint = "not found: plugged in?" if exc.errno == errno.ENOENT else exc.strerror
            if exc.errno in (errno.EACCES, errno.EPERM):
                hint = "permission denied: add the daemon user to the 'input' group (udev rule)"
            raise TransportError(f"cannot open {self.describe()}: {hint}") from exc
        if self.grab:
            try:
                self._ioctl(fd, EVIOCGRAB, 1)
            except OSError as exc:
                os.close(fd)
                why = (
                    "another program grabbed it"
                    if exc.errno == errno.EBUSY
                    else (exc.strerror or str(exc))
                )
                raise TransportError(
                    f"cannot grab {self.path} exclusively ({why}): scans would type into "
                    "other programs"
                ) from exc
        self._fd = fd
        self._buf = b""

    def read(self, timeout: float) -> list[tuple[int, int, int]]:
        fd = self._fd
        if fd is None:
            raise TransportError(f"{self.describe()} is not open")
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
            if not ready:
                return []
            data = os.read(fd, INPUT_EVENT.size * 64)
        except BlockingIOError:
            return []
        except OSError as exc:
            raise TransportError(f"reading {self.describe()} failed: unplugged? ({exc})") from exc
        if not data:
            raise TransportError(f"{self.describe()} is gone (end of file)")
        self._buf += data
        whole = len(self._buf) - len(self._buf) % INPUT_EVENT.size
        events = [
            (etype, code, value)
            for _s, _us, etype, code, value in INPUT_EVENT.iter_unpack(self._buf[:whole])
        ]
        self._buf = self._buf[whole:]
        return events

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.grab:
            with contextlib.suppress(OSError):
                self._ioctl(fd, EVIOCGRAB, 0)
        with contextlib.suppress(OSError):
            os.close(fd)


def input_event(etype: int, code: int, value: int) -> bytes:
    """One ``struct input_event`` (for simulators and tests)."""
    return INPUT_EVENT.pack(0, 0, etype, code, value)


def key_events_for(text: str, layout: str = "us") -> list[tuple[int, int, int]]:
    """The key presses a keyboard-wedge scanner sends for ``text`` + Enter."""
    reverse: dict[str, tuple[int, int]] = {}
    for code, (plain, shifted) in LAYOUTS[layout].items():
        reverse.setdefault(plain, (code, 0))
        reverse.setdefault(shifted, (code, KEY_LEFTSHIFT))
    for code, third in THIRD_LEVEL[layout].items():
        reverse.setdefault(third, (code, KEY_RIGHTALT))
    events: list[tuple[int, int, int]] = []
    for ch in text:
        code, modifier = reverse[ch]
        if modifier:
            events.append((EV_KEY, modifier, 1))
        events += [(EV_KEY, code, 1), (EV_KEY, code, 0)]
        if modifier:
            events.append((EV_KEY, modifier, 0))
    events += [(EV_KEY, KEY_ENTER, 1), (EV_KEY, KEY_ENTER, 0)]
    return events
