"""Receipt templates as data: logo text, header/footer lines and printer control codes.

A shop's template (a TOML file, or the ``[receipt]`` table of the configuration)::

    logo = ["BÄCKEREI MÜSSIG"]        # printed large and centred at the top
    header = ["Mo-Sa 7-18 Uhr"]      # under the logo
    footer = ["Danke und bis bald!"] # at the end
    start_codes = "1c 70 01 00"      # hex: sent at the start (here: print NV logo 1)
    end_codes = "1b 42 02 02"        # hex: sent before the cut (here: beep twice)

Control codes are validated when the template is loaded: hex bytes, at most 256 of them,
and none of the commands that would break posd's guarantees: a drawer kick (the drawer
opens only after a committed cash payment or a journaled no-sale open), real-time
requests (they would confuse status reading), automatic status back, ``ESC @`` and
``ESC t`` (they would change the code page the receipt relies on), ``ESC =`` (selecting
another peripheral makes the printer ignore everything after it) and ``GS ( D`` (it can
switch off the real-time commands posd reads the status with). Commands that write the
printer's non-volatile memory or its persistent settings (NV images and graphics, user
setup, NV user memory, maintenance counters) are refused too: that is set up once with
the vendor's utility, not sent with every receipt. So is every command, or command
function, that makes the printer transmit data to the host (its ID, its status, graphics
memory capacity, a symbol's size): posd reads the printer's status on the same
connection, and would take those bytes for a status reply.

The codes are read as a stream of ESC/POS commands (:func:`check_control_codes`): a
refused command counts where the printer reads a command, not where its bytes happen
to appear inside an image, a barcode or another parameter; real-time requests are
refused anywhere, since the printer acts on them anywhere. A command posd does not know,
or one the codes end inside, is refused with its byte offset. A macro definition
(``GS :`` ... ``GS :``) is commands the printer runs later, so its body is checked the
same way and must be closed within the codes; ``GS ^`` may run only a macro the same
codes defined before it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posd_daemon.devices.escpos.codec import DLE, ESC, GS
from posd_daemon.domain.document import Align, Block, Document, Feed, RawBytes, Text

MAX_CODE_BYTES = 256


class TemplateError(ValueError):
    """A receipt template is invalid; the message names the key."""


def parse_hex_codes(text: str, where: str) -> bytes:
    """``"1b 61 01"`` (spaces, commas, ``0x`` prefixes allowed) -> bytes, validated."""
    cleaned = text.replace(",", " ").replace("0x", " ").replace("0X", " ")
    digits = "".join(cleaned.split())
    if len(digits) % 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise TemplateError(
            f'{where}: not hex bytes: {text[:60]!r} (write e.g. "1b 61 01", two digits a byte)'
        )
    data = bytes.fromhex(digits)
    if len(data) > MAX_CODE_BYTES:
        raise TemplateError(f"{where}: {len(data)} bytes; at most {MAX_CODE_BYTES}")
    check_control_codes(data, where)
    return data


# --- the command stream ---------------------------------------------------------------
#
# The codes are read as the printer reads them: text bytes, and commands made of a head
# (ESC x, GS x, FS x, DLE x; ESC ( x, GS ( x, GS 8 L and GS v 0 take a third byte) and
# parameters whose length the head (and some parameters) decide. A refused head counts
# only at a command position: the same bytes inside an image, a barcode's data or any
# other parameter are data to the printer. A head the table below does not know, or a
# command the codes end inside, is refused: the check could not tell where its
# parameters end, so it could not vouch for the bytes after it.
#
# Length rules cite the Epson ESC/POS Command Reference ("Epson"), by command name.

#: Real-time commands, refused ANYWHERE in the codes, parameters included. Epson, "DLE
#: EOT", "DLE ENQ" and "DLE DC4", notes: the printer executes the sequence as soon as it
#: receives it, even inside another command's data (their example is bit-image data), as
#: long as real-time commands are enabled, which posd's status reads rely on.
_REAL_TIME: tuple[tuple[bytes, str], ...] = (
    (b"\x10\x14", "DLE DC4 (real-time drawer pulse / power off)"),
    (b"\x10\x04", "DLE EOT (real-time status request)"),
    (b"\x10\x05", "DLE ENQ (real-time request)"),
)

#: Command heads a template must not contain at a command position, macro bodies included.
_FORBIDDEN: dict[bytes, str] = {
    b"\x1bp": "ESC p (drawer kick)",
    b"\x1da": "GS a (automatic status back)",
    b"\x1b@": "ESC @ (initialise: resets the code page)",
    # Epson, "ESC t n: Select character code table": the receipt's text is encoded for
    # the code table posd pins at the start of the job (devices/escpos/codec.py).
    b"\x1bt": "ESC t (select character code table)",
    # Epson, "ESC = n: Select peripheral device": with bit 0 of n clear the printer is
    # deselected and ignores all data until ESC = 1.
    b"\x1b=": "ESC = (select peripheral device)",
    # Epson, "GS ( D: Enable/disable real-time command" (fn 20): disabling DLE EOT /
    # DLE ENQ / DLE DC4 silences posd's status reads.
    b"\x1d(D": "GS ( D (enable/disable real-time commands)",
}

_ESC = bytes((ESC,))
_GS = bytes((GS,))
_FS = b"\x1c"
_DLE = bytes((DLE,))

#: Why commands that make the printer transmit data are refused: posd reads the printer's
#: status with real-time DLE EOT requests on the same connection (devices/printer.py,
#: _read_status / _collect_replies), so bytes the printer sends unasked would be taken
#: for a status reply (a paper end or open cover that is not there, or garbage that
#: fails the job).
_TRANSMITS_REASON = "the printer would send data back where posd reads its status"

#: Command heads that make the printer transmit data to the host, refused at a command
#: position with _TRANSMITS_REASON. Refused by head, so their lengths do not matter.
#: Epson, by command name:
_TRANSMITS: dict[bytes, str] = {
    # "GS I n: Transmit printer ID".
    _GS + b"I": "GS I (transmit printer ID)",
    # "GS r n: Transmit status" (paper sensor, drawer kick-out connector, ink).
    _GS + b"r": "GS r (transmit status)",
    # "ESC u n: Transmit peripheral device status" and "ESC v: Transmit paper sensor
    # status" (the older forms of GS r).
    _ESC + b"u": "ESC u (transmit peripheral device status)",
    _ESC + b"v": "ESC v (transmit paper sensor status)",
    # "GS j n: Enable/disable Automatic Status Back (ASB) for ink": like GS a, status
    # sent whenever it changes.
    _GS + b"j": "GS j (automatic status back for ink)",
    # "FS ( e: Enable/disable Automatic Status Back (ASB) for optional functions":
    # extended status sent whenever it changes.
    _FS + b"(e": "FS ( e (automatic status back, extended status)",
    # "GS ( H: Request transmission of response or status" (process ID response, offline
    # response).
    _GS + b"(H": "GS ( H (request transmission of response or status)",
}

#: Why commands that write non-volatile memory or persistent settings are refused. The
#: template goes out with every receipt, and Epson's notes on these commands warn that
#: frequent writes can wear out the NV memory; and a setting changed behind posd's back
#: outlives the job posd set up. Such things belong to the vendor's setup utility.
_NV_REASON = (
    "non-volatile memory and printer settings are set up with the vendor's utility, "
    "not by a receipt template"
)

#: Command heads that write the printer's NV memory or persistent settings (or read
#: them back: the answer would arrive where posd reads the printer's status), refused
#: at a command position with _NV_REASON. Epson, by command name:
_PERSISTENT: dict[bytes, str] = {
    # "FS q: Define NV bit image": replaces every NV bit image the printer holds.
    _FS + b"q": "FS q (define NV bit image)",
    # "GS ( E: Set user setup commands": memory switches, customised values, serial
    # speed; they survive power-off.
    _GS + b"(E": "GS ( E (user setup commands)",
    # "GS ( C: Edit NV user memory": store, delete, or transmit NV user memory records.
    _GS + b"(C": "GS ( C (edit NV user memory)",
    # "GS ( M: Customize printer control value(s)": save the current settings as the
    # user settings, or choose which settings the printer starts with.
    _GS + b"(M": "GS ( M (customise printer control values)",
    # "FS g 1: Write to NV user memory" and "FS g 2: Read from NV user memory".
    _FS + b"g": "FS g (read/write NV user memory)",
    # "GS g 0: Initialize maintenance counter" and "GS g 2: Transmit maintenance
    # counter": the counters are the printer's service record.
    _GS + b"g": "GS g (maintenance counters)",
}

#: ``GS ( L`` / ``GS 8 L`` functions that write the NV graphics memory (Epson, "GS ( L /
#: GS 8 L: Set graphics data", functions 65 to 68), refused with _NV_REASON.
_NV_GRAPHICS: dict[int, str] = {
    65: "delete all NV graphics",
    66: "delete NV graphics",
    67: "define NV graphics, raster format",
    68: "define NV graphics, column format",
}

#: ``GS ( L`` / ``GS 8 L`` functions that transmit to the host (same Epson entry,
#: functions 48, 51, 52, 64 and 80), refused with _TRANSMITS_REASON. The others stay
#: allowed: the reference dot density (fn 49), printing stored NV graphics (fn 69, like
#: ``FS p`` for NV bit images), the print-buffer graphics (fn 112, 113, 50) and the
#: download graphics, which live in RAM (fn 81 to 85).
_TRANSMITTING_GRAPHICS: dict[int, str] = {
    48: "transmit NV graphics memory capacity",
    51: "transmit remaining NV graphics capacity",
    52: "transmit remaining download graphics capacity",
    64: "transmit NV graphics key code list",
    80: "transmit download graphics key code list",
}

#: The ``GS ( k`` function that transmits: fn 82, "transmit the size information of the
#: symbol data in the symbol storage area", the same code for every symbology cn (Epson,
#: "GS ( k: Set up and print the symbol", PDF417, QR Code, MaxiCode, GS1 DataBar,
#: Composite Symbology, Aztec Code, DataMatrix). Setting a symbol up, storing its data
#: (fn 80) and printing it (fn 81) stay allowed.
_TRANSMIT_SYMBOL_SIZE = 82

#: ``GS :`` starts and ends a macro definition; ``GS ^ r t m`` runs the macro (Epson,
#: "GS :: Start/end macro definition", "GS ^: Execute macro").
_MACRO = _GS + b":"
_RUN_MACRO = _GS + b"^"

#: Heads that take a third byte (a function letter) before their parameters.
_THREE_BYTE_HEADS = frozenset((_ESC + b"(", _GS + b"(", _GS + b"8", _GS + b"v", _FS + b"("))


class _Truncated(Exception):
    """The codes end inside the command."""


class _BadParameter(Exception):
    """A parameter that decides the command's length is out of its range."""


class _RefusedFunction(Exception):
    """A function of the command is refused: ``what`` names it, ``reason`` says why."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(what, reason)
        self.what = what
        self.reason = reason


def _byte(data: bytes, i: int) -> int:
    if i >= len(data):
        raise _Truncated
    return data[i]


def _word(data: bytes, i: int) -> int:
    """``nL nH`` (or ``pL pH``) at ``i``: nL + nH * 256."""
    return _byte(data, i) | _byte(data, i + 1) << 8


#: A parameter rule: (codes, offset of the first parameter byte) -> offset after the
#: command. It may read parameters (raising _Truncated past the end); the caller checks
#: that the returned end lies within the codes.
_Rule = Callable[[bytes, int], int]


def _fixed(n: int) -> _Rule:
    def rule(data: bytes, at: int) -> int:
        return at + n

    return rule


def _length_prefixed(data: bytes, at: int) -> int:
    """``pL pH`` then pL + pH * 256 bytes (Epson: the ``ESC ( fn`` and ``GS ( fn``
    commands, "pL, pH specify the number of bytes after pH")."""
    return at + 2 + _word(data, at)


def _graphics_long(data: bytes, at: int) -> int:
    """``GS 8 L p1 p2 p3 p4 m fn ...`` (Epson, "GS 8 L: Graphics"): p1 + p2 * 256 +
    p3 * 65536 + p4 * 16777216 bytes after p4."""
    length = int.from_bytes(bytes(_byte(data, at + i) for i in range(4)), "little")
    _graphics_function(data, at + 4, length, "GS 8 L")
    return at + 4 + length


def _graphics_function(data: bytes, at: int, size: int, name: str) -> None:
    """``m fn`` at ``at``, the first two of ``size`` parameter bytes of a graphics
    command: every ``GS ( L`` / ``GS 8 L`` function has m=48 and a function code fn
    (Epson, "GS ( L / GS 8 L"); refuses the functions that write NV graphics or
    transmit to the host."""
    if size < 2:
        raise _BadParameter(f"{size} parameter byte{'' if size == 1 else 's'} (m and fn need 2)")
    m, fn = _byte(data, at), _byte(data, at + 1)
    if m != 48:
        raise _BadParameter(f"graphics m={m} (every function has m=48)")
    if fn in _NV_GRAPHICS:
        raise _RefusedFunction(f"{name} fn {fn} ({_NV_GRAPHICS[fn]})", _NV_REASON)
    if fn in _TRANSMITTING_GRAPHICS:
        raise _RefusedFunction(f"{name} fn {fn} ({_TRANSMITTING_GRAPHICS[fn]})", _TRANSMITS_REASON)


def _graphics(data: bytes, at: int) -> int:
    """``GS ( L pL pH m fn ...``: length-prefixed like the other ``GS ( fn`` commands."""
    size = _word(data, at)
    _graphics_function(data, at + 2, size, "GS ( L")
    return at + 2 + size


def _symbol(data: bytes, at: int) -> int:
    """``GS ( k pL pH cn fn ...`` (Epson, "GS ( k: Set up and print the symbol"):
    length-prefixed; every function has a symbology cn and a function code fn, and fn 82
    transmits the stored symbol's size to the host."""
    size = _word(data, at)
    if size < 2:
        raise _BadParameter(f"{size} parameter byte{'' if size == 1 else 's'} (cn and fn need 2)")
    if _byte(data, at + 3) == _TRANSMIT_SYMBOL_SIZE:
        raise _RefusedFunction(
            f"GS ( k fn {_TRANSMIT_SYMBOL_SIZE} (transmit size information of the stored symbol)",
            _TRANSMITS_REASON,
        )
    return at + 2 + size


def _raster(data: bytes, at: int) -> int:
    """``GS v 0 m xL xH yL yH d1...dk`` (Epson, "GS v 0: Print raster bit image"):
    k = (xL + xH * 256) * (yL + yH * 256), x in bytes, y in dots."""
    m = _byte(data, at)
    if m not in (0, 1, 2, 3, 48, 49, 50, 51):
        raise _BadParameter(f"raster mode m={m} (0..3 or 48..51)")
    return at + 5 + _word(data, at + 1) * _word(data, at + 3)


def _bit_image(data: bytes, at: int) -> int:
    """``ESC * m nL nH d1...dk`` (Epson, "ESC *: Select bit-image mode"): k = nL + nH *
    256 for the 8-dot modes m=0, 1, k = (nL + nH * 256) * 3 for the 24-dot modes 32, 33."""
    m = _byte(data, at)
    columns = _word(data, at + 1)
    if m in (0, 1):
        return at + 3 + columns
    if m in (32, 33):
        return at + 3 + columns * 3
    raise _BadParameter(f"bit-image mode m={m} (0, 1, 32 or 33)")


def _downloaded_image(data: bytes, at: int) -> int:
    """``GS * x y d1...dk`` (Epson, "GS *: Define downloaded bit image"): k = x * y * 8."""
    return at + 2 + _byte(data, at) * _byte(data, at + 1) * 8


def _user_characters(data: bytes, at: int) -> int:
    """``ESC & y c1 c2 [x d1...d(y * x)]...`` (Epson, "ESC &: Define user-defined
    characters"): one block per character code c1..c2, each its width x then y * x bytes."""
    y, c1, c2 = _byte(data, at), _byte(data, at + 1), _byte(data, at + 2)
    if c2 < c1:
        raise _BadParameter(f"character codes c1={c1} > c2={c2}")
    pos = at + 3
    for _ in range(c2 - c1 + 1):
        pos += 1 + y * _byte(data, pos)
    return pos


def _tab_positions(data: bytes, at: int) -> int:
    """``ESC D n1...nk NUL`` (Epson, "ESC D: Set horizontal tab positions"): at most 32
    positions, ended by NUL."""
    end = data.find(0, at)
    if end < 0:
        raise _Truncated
    if end - at > 32:
        raise _BadParameter(f"{end - at} tab positions (at most 32)")
    return end + 1


def _cut(data: bytes, at: int) -> int:
    """``GS V m`` / ``GS V m n`` (Epson, "GS V: Select cut mode and cut paper"): function
    A m=0, 1, 48, 49 alone; functions B, C, D m=65, 66, 97, 98, 103, 104 with n."""
    m = _byte(data, at)
    if m in (0, 1, 48, 49):
        return at + 1
    if m in (65, 66, 97, 98, 103, 104):
        return at + 2
    raise _BadParameter(f"cut mode m={m}")


def _barcode(data: bytes, at: int) -> int:
    """``GS k`` (Epson, "GS k: Print barcode").

    Function A, m=0..6: ``GS k m d1...dk NUL``. Function B, m=65..79: ``GS k m n
    d1...dn``. Every character a function A symbology (UPC-A/E, JAN/EAN, CODE39, ITF,
    CODABAR) encodes is printable ASCII, so any other data byte is refused: where the
    printer would end such a command is the model's business, not something to rely on.
    """
    m = _byte(data, at)
    if 65 <= m <= 79:
        return at + 2 + _byte(data, at + 1)
    if m > 6:
        raise _BadParameter(f"barcode system m={m} (0..6 or 65..79)")
    pos = at + 1
    while (b := _byte(data, pos)) != 0:
        if not 0x20 <= b <= 0x7E:
            raise _BadParameter(f"barcode data byte 0x{b:02x} at byte {pos} (0x20..0x7e)")
        pos += 1
    return pos + 1


def _run_macro(data: bytes, at: int) -> int:
    """``GS ^ r t m`` (Epson, "GS ^: Execute macro"): run the macro r times, t x 100 ms
    apart; m=0 runs them straight away, m=1 waits for the FEED button before each run,
    which would leave the printer waiting for a button nobody at the till presses."""
    m = _byte(data, at + 2)
    if m != 0:
        raise _BadParameter(
            f"macro mode m={m} (only 0: m=1 waits for the FEED button before each run)"
        )
    return at + 3


#: Known command heads -> (name, parameter rule). Fixed lengths are from the Epson
#: reference entry named in each line.
_COMMANDS: dict[bytes, tuple[str, _Rule]] = {
    _ESC + b"\x0c": ("ESC FF", _fixed(0)),  # Print data in page mode
    _ESC + b" ": ("ESC SP", _fixed(1)),  # ESC SP n: right-side character spacing
    _ESC + b"!": ("ESC !", _fixed(1)),  # ESC ! n: select print mode(s)
    _ESC + b"$": ("ESC $", _fixed(2)),  # ESC $ nL nH: absolute print position
    _ESC + b"%": ("ESC %", _fixed(1)),  # ESC % n: select/cancel user-defined characters
    _ESC + b"&": ("ESC &", _user_characters),
    _ESC + b"(A": ("ESC ( A", _length_prefixed),  # ESC ( A pL pH ...: beeper
    _ESC + b"*": ("ESC *", _bit_image),
    _ESC + b"-": ("ESC -", _fixed(1)),  # ESC - n: underline mode
    _ESC + b"2": ("ESC 2", _fixed(0)),  # select default line spacing
    _ESC + b"3": ("ESC 3", _fixed(1)),  # ESC 3 n: set line spacing
    _ESC + b"?": ("ESC ?", _fixed(1)),  # ESC ? n: cancel user-defined characters
    _ESC + b"D": ("ESC D", _tab_positions),
    _ESC + b"E": ("ESC E", _fixed(1)),  # ESC E n: emphasized mode
    _ESC + b"G": ("ESC G", _fixed(1)),  # ESC G n: double-strike mode
    _ESC + b"J": ("ESC J", _fixed(1)),  # ESC J n: print and feed paper
    _ESC + b"K": ("ESC K", _fixed(1)),  # ESC K n: print and reverse feed
    _ESC + b"L": ("ESC L", _fixed(0)),  # select page mode
    _ESC + b"M": ("ESC M", _fixed(1)),  # ESC M n: select character font
    _ESC + b"R": ("ESC R", _fixed(1)),  # ESC R n: select an international character set
    _ESC + b"S": ("ESC S", _fixed(0)),  # select standard mode
    _ESC + b"T": ("ESC T", _fixed(1)),  # ESC T n: print direction in page mode
    _ESC + b"U": ("ESC U", _fixed(1)),  # ESC U n: unidirectional print mode on/off
    _ESC + b"V": ("ESC V", _fixed(1)),  # ESC V n: 90 degree clockwise rotation
    _ESC + b"W": ("ESC W", _fixed(8)),  # ESC W xL xH yL yH dxL dxH dyL dyH: page area
    _ESC + b"\\": ("ESC \\", _fixed(2)),  # ESC \ nL nH: relative print position
    _ESC + b"a": ("ESC a", _fixed(1)),  # ESC a n: select justification
    _ESC + b"c": ("ESC c", _fixed(2)),  # ESC c 3/4/5 n: paper sensors, panel buttons
    _ESC + b"d": ("ESC d", _fixed(1)),  # ESC d n: print and feed n lines
    _ESC + b"e": ("ESC e", _fixed(1)),  # ESC e n: print and reverse feed n lines
    _ESC + b"i": ("ESC i", _fixed(0)),  # partial cut (one point left uncut)
    _ESC + b"m": ("ESC m", _fixed(0)),  # partial cut (three points left uncut)
    _ESC + b"r": ("ESC r", _fixed(1)),  # ESC r n: select print color
    _ESC + b"{": ("ESC {", _fixed(1)),  # ESC { n: upside-down print mode
    # ESC B n t: beeper, n beeps of t x 50 ms. Not in the Epson reference: an extension
    # of many ESC/POS-compatible printers, kept because shops' templates use it.
    _ESC + b"B": ("ESC B", _fixed(2)),
    _GS + b"!": ("GS !", _fixed(1)),  # GS ! n: select character size
    _GS + b"$": ("GS $", _fixed(2)),  # GS $ nL nH: absolute vertical position (page)
    _GS + b"(K": ("GS ( K", _length_prefixed),  # print control (density, speed)
    _GS + b"(L": ("GS ( L", _graphics),
    _GS + b"(N": ("GS ( N", _length_prefixed),  # character effects (colour, shading)
    _GS + b"(k": ("GS ( k", _symbol),  # 2-D symbols (QR, PDF417...)
    _GS + b"*": ("GS *", _downloaded_image),
    _GS + b"/": ("GS /", _fixed(1)),  # GS / m: print downloaded bit image
    _GS + b"8L": ("GS 8 L", _graphics_long),
    _GS + b"B": ("GS B", _fixed(1)),  # GS B n: white/black reverse print mode
    _GS + b"H": ("GS H", _fixed(1)),  # GS H n: HRI character print position
    _GS + b"L": ("GS L", _fixed(2)),  # GS L nL nH: left margin
    _GS + b"P": ("GS P", _fixed(2)),  # GS P x y: horizontal and vertical motion units
    _GS + b"T": ("GS T", _fixed(1)),  # GS T n: print position to the beginning of line
    _GS + b"V": ("GS V", _cut),
    _GS + b"W": ("GS W", _fixed(2)),  # GS W nL nH: print area width
    _GS + b"\\": ("GS \\", _fixed(2)),  # GS \ nL nH: relative vertical pos. (page)
    # GS ^ r t m. The macro it runs holds only what check_control_codes checked in the
    # same codes (it refuses a GS ^ with no definition before it), so running it sends
    # nothing the template could not have sent itself, only up to 255 times (r), up to
    # 25.5 s apart (t).
    _RUN_MACRO: ("GS ^", _run_macro),
    _GS + b"b": ("GS b", _fixed(1)),  # GS b n: smoothing mode
    _GS + b"f": ("GS f", _fixed(1)),  # GS f n: font for HRI characters
    _GS + b"h": ("GS h", _fixed(1)),  # GS h n: barcode height
    _GS + b"k": ("GS k", _barcode),
    _GS + b"v0": ("GS v 0", _raster),
    _GS + b"w": ("GS w", _fixed(1)),  # GS w n: barcode width
    _FS + b"!": ("FS !", _fixed(1)),  # FS ! n: print mode(s) for Kanji characters
    _FS + b"&": ("FS &", _fixed(0)),  # select Kanji character mode
    _FS + b"-": ("FS -", _fixed(1)),  # FS - n: underline mode for Kanji characters
    _FS + b".": ("FS .", _fixed(0)),  # cancel Kanji character mode
    _FS + b"C": ("FS C", _fixed(1)),  # FS C n: select Kanji character code system
    _FS + b"S": ("FS S", _fixed(2)),  # FS S n1 n2: Kanji character spacing
    _FS + b"W": ("FS W", _fixed(1)),  # FS W n: quadruple-size Kanji characters
    _FS + b"p": ("FS p", _fixed(2)),  # FS p n m: print NV bit image
}

#: Bytes that start a command; every other byte is text or a one-byte control (HT, LF,
#: FF, CR, CAN: Epson, their own entries) that takes no parameters.
_PREFIXES = frozenset((ESC, GS, 0x1C, DLE))


def check_control_codes(data: bytes, where: str) -> None:
    """Raise TemplateError unless ``data`` is a stream of known, complete, allowed
    ESC/POS commands and text; the message names ``where`` and the byte offset."""
    for prefix, name in _REAL_TIME:
        at = data.find(prefix)
        if at >= 0:
            raise TemplateError(f"{where}: contains {name} at byte {at}: not allowed in templates")
    # The printer records a macro's body and runs it on GS ^, so the body is checked as
    # commands like the rest; macro_at is the offset of the GS : of an open definition.
    macro_at: int | None = None
    macro_defined = False
    pos = 0
    while pos < len(data):
        if data[pos] not in _PREFIXES:
            pos += 1
            continue
        head = data[pos : pos + 2]
        if head in _THREE_BYTE_HEADS:
            head = data[pos : pos + 3]
        refused = _FORBIDDEN.get(head)
        if refused is not None:
            raise TemplateError(
                f"{where}: contains {refused} at byte {pos}: not allowed in templates"
            )
        refused = _PERSISTENT.get(head)
        if refused is not None:
            raise TemplateError(
                f"{where}: contains {refused} at byte {pos}: not allowed in templates: "
                + _NV_REASON
            )
        refused = _TRANSMITS.get(head)
        if refused is not None:
            raise TemplateError(
                f"{where}: contains {refused} at byte {pos}: not allowed in templates: "
                + _TRANSMITS_REASON
            )
        if len(head) < 2 or (head[:2] in _THREE_BYTE_HEADS and len(head) < 3):
            raise TemplateError(
                f"{where}: truncated ESC/POS command at byte {pos}: the codes end inside it"
            )
        if head == _MACRO:
            if macro_at is None:
                macro_at = pos
            else:
                _close_macro(data, macro_at, pos, where)
                # An empty definition (GS : GS :) defines nothing to run, and whether it
                # clears a macro the printer held before is not something to rely on:
                # count it as none, so a GS ^ after it is refused.
                macro_defined = pos > macro_at + 2
                macro_at = None
            pos += 2
            continue
        if head == _RUN_MACRO:
            if macro_at is not None:
                raise TemplateError(
                    f"{where}: GS ^ at byte {pos}: inside a macro definition (opened by GS : "
                    f"at byte {macro_at})"
                )
            if not macro_defined:
                raise TemplateError(
                    f"{where}: GS ^ at byte {pos}: no macro defined before it in these codes "
                    "(it would run whatever macro the printer holds, which posd never checked)"
                )
        known = _COMMANDS.get(head)
        if known is None:
            raise TemplateError(
                f"{where}: unknown ESC/POS command {head.hex(' ')} at byte {pos}: templates "
                "may hold text and the printing commands posd knows (devices/templates.py)"
            )
        name, rule = known
        try:
            end = rule(data, pos + len(head))
        except _BadParameter as exc:
            raise TemplateError(f"{where}: {name} at byte {pos}: {exc}") from None
        except _RefusedFunction as exc:
            raise TemplateError(
                f"{where}: contains {exc.what} at byte {pos}: not allowed in templates: "
                + exc.reason
            ) from None
        except _Truncated:
            end = len(data) + 1
        if end > len(data):
            raise TemplateError(f"{where}: truncated {name} at byte {pos}: the codes end inside it")
        pos = end
    if macro_at is not None:
        # Left open, the definition would record the receipt posd prints after the codes.
        raise TemplateError(
            f"{where}: truncated GS : (macro definition) at byte {macro_at}: the codes end "
            "inside it"
        )


def _close_macro(data: bytes, start: int, end: int, where: str) -> None:
    """The ``GS :`` at ``end`` closes the definition opened at ``start``. The body must
    not hold the bytes ``GS :`` anywhere else (they can only be inside a command's
    parameters or data there): whether the printer ends the definition at such bytes or
    where the command stream says is the model's business, not something to rely on."""
    inner = data.find(_MACRO, start + 2, end)
    if inner >= 0:
        raise TemplateError(
            f"{where}: GS : (macro definition) at byte {start}: holds the bytes 1d 3a at byte "
            f"{inner} inside a command's parameters; end the macro where no data looks like "
            "GS :"
        )


@dataclass(frozen=True, slots=True)
class ReceiptTemplate:
    logo: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    start_codes: bytes = b""
    end_codes: bytes = b""

    @property
    def empty(self) -> bool:
        return not (self.logo or self.header or self.footer or self.start_codes or self.end_codes)

    def apply(self, doc: Document) -> Document:
        """The document with the template's blocks around it."""
        if self.empty:
            return doc
        width = doc.columns
        head: list[Block] = []
        if self.start_codes:
            head.append(RawBytes(self.start_codes))
        head += [
            Text(line[: width // 2], Align.CENTER, bold=True, large=True) for line in self.logo
        ]
        head += [Text(line[:width], Align.CENTER) for line in self.header]
        tail: list[Block] = []
        if self.footer:
            tail += [Text(line[:width], Align.CENTER) for line in self.footer]
            tail.append(Feed())
        if self.end_codes:
            tail.append(RawBytes(self.end_codes))
        return Document(
            columns=width,
            blocks=(*head, *doc.blocks, *tail),
            cut=doc.cut,
            copy=doc.copy,
        )


_KEYS = ("logo", "header", "footer", "start_codes", "end_codes")


def template_from_mapping(data: Mapping[str, Any], where: str = "receipt") -> ReceiptTemplate:
    unknown = sorted(set(data) - set(_KEYS) - {"template"})
    if unknown:
        raise TemplateError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(_KEYS)})")
    lines: dict[str, tuple[str, ...]] = {}
    for key in ("logo", "header", "footer"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TemplateError(f"{where}.{key}: must be a list of strings")
        for v in value:
            if any(ord(c) < 0x20 for c in v):
                raise TemplateError(f"{where}.{key}: control characters in {v[:40]!r}")
        lines[key] = tuple(value)
    codes: dict[str, bytes] = {}
    for key in ("start_codes", "end_codes"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise TemplateError(f"{where}.{key}: must be a string of hex bytes")
        codes[key] = parse_hex_codes(value, f"{where}.{key}") if value.strip() else b""
    return ReceiptTemplate(
        logo=lines["logo"],
        header=lines["header"],
        footer=lines["footer"],
        start_codes=codes["start_codes"],
        end_codes=codes["end_codes"],
    )


def load_template(path: Path) -> ReceiptTemplate:
    """A template file (TOML); raises TemplateError naming the file and key."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"{path}: no such receipt template") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the receipt template: {exc}") from None
    return template_from_mapping(data, str(path))
