"""Pure decoders for ESC/POS printer status: ``DLE EOT n`` replies and ASB packets.

Bit layouts follow shared/reference/devices.md and the Epson ESC/POS reference
(``DLE EOT``, ``GS a``):

* ``DLE EOT n`` answers one byte shaped ``0xx1xx10`` (bits 0, 1, 4, 7 fixed).
* ASB (automatic status back, ``GS a``) pushes 4 bytes on every change; the first is
  shaped ``0xx1xx00`` (bits 0, 1 off, bit 4 on), the other three ``0xx0xxxx`` (bits 4, 7
  off). Bit 1 tells an ASB packet start from a real-time reply, bit 4 tells the ASB
  tail bytes from both, which is how :class:`StatusStreamSplitter` separates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from posd_daemon.devices.errors import StatusDecodeError
from posd_daemon.devices.escpos.profile import DrawerSensor

#: ``DLE EOT`` reply: bits 0, 1, 4, 7 fixed to 0, 1, 1, 0.
_REPLY_MASK, _REPLY_FIXED = 0x93, 0x12
#: ASB first byte: bits 0, 1, 4, 7 fixed to 0, 0, 1, 0.
_ASB_HEAD_MASK, _ASB_HEAD_FIXED = 0x93, 0x10
#: ASB bytes 2..4: bits 4, 7 fixed to 0.
_ASB_TAIL_MASK = 0x90
#: Software flow control bytes a serial printer may slip in (also inside an ASB packet).
_XON, _XOFF = 0x11, 0x13

_REQUEST_NAMES = {1: "printer", 2: "offline cause", 3: "error cause", 4: "paper sensor"}


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """Everything a printer told us about itself, decoded.

    ``reachable`` is False when the printer did not answer at all (connection refused,
    unplugged, switched off); ``detail`` then says why, for the technician.
    """

    online: bool
    cover_open: bool = False
    #: Paper is being fed with the FEED button.
    paper_feed_button: bool = False
    paper_near_end: bool = False
    paper_end: bool = False
    #: ``DLE EOT 2`` bit 6: an error occurred (details in the error cause bits).
    error: bool = False
    #: Recoverable (mechanical) error, model-dependent (``DLE EOT 3``/ASB byte 2 bit 2).
    recoverable_error: bool = False
    cutter_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False
    #: Drawer open (True), closed (False) or unknown (None: no sensor configured).
    drawer_open: bool | None = None
    reachable: bool = True
    #: False when the transport cannot read status and the printer is assumed ready.
    known: bool = True
    detail: str = ""

    @classmethod
    def unreachable(cls, detail: str) -> PrinterStatus:
        """The printer did not answer (a UnifiedPOS "power offline")."""
        return cls(online=False, reachable=False, detail=detail)

    @classmethod
    def assumed_online(cls, detail: str) -> PrinterStatus:
        """Status cannot be read over this transport: assume the printer is fine."""
        return cls(online=True, known=False, detail=detail)

    @property
    def has_error(self) -> bool:
        return (
            self.error
            or self.recoverable_error
            or self.cutter_error
            or self.unrecoverable_error
            or self.auto_recoverable_error
        )

    @property
    def ready(self) -> bool:
        """Can print now (paper near end is a warning, not a stop)."""
        return (
            self.reachable
            and self.online
            and not self.cover_open
            and not self.paper_end
            and not self.has_error
        )

    def problems(self) -> tuple[str, ...]:
        """Human-readable faults and warnings, most important first."""
        if not self.reachable:
            return (f"no answer from printer: {self.detail}" if self.detail else "no answer",)
        out: list[str] = []
        flags = (
            (self.paper_end, "paper end: load a new paper roll"),
            (self.cover_open, "cover open: close the printer cover"),
            (self.unrecoverable_error, "unrecoverable error: switch the printer off and on"),
            (self.cutter_error, "autocutter error: clear the paper jam, close the cover"),
            (self.recoverable_error, "mechanical error: check for a paper jam"),
            (self.auto_recoverable_error, "auto-recoverable error (e.g. print head too hot)"),
        )
        out.extend(text for flag, text in flags if flag)
        if self.error and not out:
            out.append("printer reports an error")
        if not self.online and not out:
            out.append("printer offline")
        if self.paper_near_end:
            out.append("paper near end: have a new roll ready")
        if self.paper_feed_button:
            out.append("paper is being fed with the FEED button")
        return tuple(out)

    def fault_code(self) -> str:
        """A stable code for the most important fault, "" when ready.

        UNREACHABLE, PAPER_END, COVER_OPEN, CUTTER_ERROR, PRINTER_ERROR, OFFLINE.
        """
        if not self.reachable:
            return "UNREACHABLE"
        if self.paper_end:
            return "PAPER_END"
        if self.cover_open:
            return "COVER_OPEN"
        if self.cutter_error:
            return "CUTTER_ERROR"
        if self.has_error:
            return "PRINTER_ERROR"
        if not self.online:
            return "OFFLINE"
        return ""

    def summary(self) -> str:
        """One line for logs and errors."""
        problems = self.problems()
        if problems:
            return "; ".join(problems)
        return "ready" if self.known else f"ready (assumed: {self.detail})"


def check_reply(byte: int, n: int = 0) -> int:
    """Validate one ``DLE EOT`` reply byte (shape ``0xx1xx10``)."""
    what = f"DLE EOT {n} ({_REQUEST_NAMES[n]})" if n in _REQUEST_NAMES else "DLE EOT"
    if not 0 <= byte <= 0xFF:
        raise StatusDecodeError(f"{what} reply must be one byte, got {byte!r}")
    if byte & _REPLY_MASK != _REPLY_FIXED:
        raise StatusDecodeError(
            f"malformed {what} reply 0x{byte:02X} (expected bits 0xx1xx10): not an ESC/POS "
            "status byte, wrong baud rate, or an automatic status packet"
        )
    return byte


def is_reply_byte(byte: int) -> bool:
    return byte & _REPLY_MASK == _REPLY_FIXED


def _drawer(pin3_high: bool, sensor: DrawerSensor) -> bool | None:
    if sensor is DrawerSensor.NONE:
        return None
    return pin3_high if sensor is DrawerSensor.OPEN_HIGH else not pin3_high


@dataclass(frozen=True, slots=True)
class PrinterInfo:
    """``DLE EOT 1``: bit 2 drawer kick-out connector pin 3 high, bit 3 offline."""

    pin3_high: bool
    offline: bool


@dataclass(frozen=True, slots=True)
class OfflineCause:
    """``DLE EOT 2``: bit 2 cover open, bit 3 feed button, bit 5 paper end stop,
    bit 6 error."""

    cover_open: bool
    paper_feed_button: bool
    paper_end_stop: bool
    error: bool


@dataclass(frozen=True, slots=True)
class ErrorCause:
    """``DLE EOT 3``: bit 2 recoverable (mechanical, model-dependent), bit 3 autocutter,
    bit 5 unrecoverable, bit 6 auto-recoverable."""

    recoverable: bool
    cutter: bool
    unrecoverable: bool
    auto_recoverable: bool


@dataclass(frozen=True, slots=True)
class PaperSensor:
    """``DLE EOT 4``: bits 2+3 near end (0x0C), bits 5+6 paper end (0x60)."""

    near_end: bool
    end: bool


def decode_printer_info(byte: int) -> PrinterInfo:
    check_reply(byte, 1)
    return PrinterInfo(pin3_high=bool(byte & 0x04), offline=bool(byte & 0x08))


def decode_offline_cause(byte: int) -> OfflineCause:
    check_reply(byte, 2)
    return OfflineCause(
        cover_open=bool(byte & 0x04),
        paper_feed_button=bool(byte & 0x08),
        paper_end_stop=bool(byte & 0x20),
        error=bool(byte & 0x40),
    )


def decode_error_cause(byte: int) -> ErrorCause:
    check_reply(byte, 3)
    return ErrorCause(
        recoverable=bool(byte & 0x04),
        cutter=bool(byte & 0x08),
        unrecoverable=bool(byte & 0x20),
        auto_recoverable=bool(byte & 0x40),
    )


def decode_paper_sensor(byte: int) -> PaperSensor:
    check_reply(byte, 4)
    # Either bit of a sensor pair set counts: printers report the pair together.
    return PaperSensor(near_end=bool(byte & 0x0C), end=bool(byte & 0x60))


def decode_status(
    replies: Sequence[int] | bytes, sensor: DrawerSensor = DrawerSensor.OPEN_HIGH
) -> PrinterStatus:
    """Combine the replies to ``DLE EOT 1, 2, 3, 4`` (in that order)."""
    if len(replies) != 4:
        raise StatusDecodeError(
            f"expected 4 status replies (DLE EOT 1..4), got {len(replies)}: {bytes(replies)!r}"
        )
    info = decode_printer_info(replies[0])
    offline = decode_offline_cause(replies[1])
    errors = decode_error_cause(replies[2])
    paper = decode_paper_sensor(replies[3])
    return PrinterStatus(
        online=not info.offline,
        cover_open=offline.cover_open,
        paper_feed_button=offline.paper_feed_button,
        paper_near_end=paper.near_end,
        paper_end=paper.end or offline.paper_end_stop,
        error=offline.error,
        recoverable_error=errors.recoverable,
        cutter_error=errors.cutter,
        unrecoverable_error=errors.unrecoverable,
        auto_recoverable_error=errors.auto_recoverable,
        drawer_open=_drawer(info.pin3_high, sensor),
    )


def decode_asb(
    packet: bytes | Sequence[int], sensor: DrawerSensor = DrawerSensor.OPEN_HIGH
) -> PrinterStatus:
    """Decode a 4-byte ASB packet (``GS a``).

    Byte 1: bit 2 pin 3 high, bit 3 offline, bit 5 cover open, bit 6 feed button.
    Byte 2: bit 2 recoverable (mechanical) error, bit 3 autocutter error, bit 5
    unrecoverable, bit 6 auto-recoverable. Byte 3: bits 0+1 near end, bits 2+3 paper
    end. Byte 4: reserved.
    """
    data = bytes(packet)
    if len(data) != 4:
        raise StatusDecodeError(f"an ASB packet has 4 bytes, got {len(data)}: {data.hex(' ')}")
    if data[0] & _ASB_HEAD_MASK != _ASB_HEAD_FIXED:
        raise StatusDecodeError(
            f"malformed ASB first byte 0x{data[0]:02X} (expected bits 0xx1xx00)"
        )
    for i, byte in enumerate(data[1:], start=2):
        if byte & _ASB_TAIL_MASK:
            raise StatusDecodeError(f"malformed ASB byte {i} 0x{byte:02X} (bits 4 and 7 must be 0)")
    b1, b2, b3 = data[0], data[1], data[2]
    return PrinterStatus(
        online=not b1 & 0x08,
        cover_open=bool(b1 & 0x20),
        paper_feed_button=bool(b1 & 0x40),
        recoverable_error=bool(b2 & 0x04),
        cutter_error=bool(b2 & 0x08),
        unrecoverable_error=bool(b2 & 0x20),
        auto_recoverable_error=bool(b2 & 0x40),
        paper_near_end=bool(b3 & 0x03),
        paper_end=bool(b3 & 0x0C),
        drawer_open=_drawer(bool(b1 & 0x04), sensor),
    )


# --- splitting the byte stream from the printer ----------------------------------------


@dataclass(frozen=True, slots=True)
class RealtimeReply:
    """One reply byte to a ``DLE EOT n`` we sent."""

    value: int


@dataclass(frozen=True, slots=True)
class AsbPacket:
    """A 4-byte automatic status back packet the printer pushed by itself."""

    data: bytes


@dataclass(frozen=True, slots=True)
class UnknownByte:
    """A byte that is neither (garbage, a wrong baud rate, another command's answer)."""

    value: int


StatusEvent = RealtimeReply | AsbPacket | UnknownByte


class StatusStreamSplitter:
    """Tells ASB packets apart from replies to our own requests in the printer's stream.

    Feed it whatever the transport returned; it keeps an incomplete ASB packet until the
    rest arrives. XON/XOFF bytes are dropped wherever they appear.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes of an incomplete ASB packet waiting for the rest."""
        return bytes(self._buf)

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[StatusEvent]:
        self._buf += bytes(b for b in data if b not in (_XON, _XOFF))
        events: list[StatusEvent] = []
        buf = self._buf
        while buf:
            head = buf[0]
            if head & _ASB_HEAD_MASK == _ASB_HEAD_FIXED:
                tail = buf[1:4]
                bad = next((i for i, b in enumerate(tail) if b & _ASB_TAIL_MASK), None)
                if bad is not None:
                    # not an ASB packet after all: the head byte is garbage
                    events.append(UnknownByte(head))
                    del buf[0]
                    continue
                if len(buf) < 4:
                    break  # wait for the rest of the packet
                events.append(AsbPacket(bytes(buf[:4])))
                del buf[:4]
            elif is_reply_byte(head):
                events.append(RealtimeReply(head))
                del buf[0]
            else:
                events.append(UnknownByte(head))
                del buf[0]
        return events
