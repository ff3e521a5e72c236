"""Pure ESC/POS encoder: a :class:`Document` in, printer bytes out. No I/O here.

Command facts cite shared/reference/devices.md ("ref") and the Epson ESC/POS command
reference ("Epson"). Every job starts with ``ESC @`` and pins the code table itself
(ref: python-escpos' automatic choice once picked a Greek page for the euro sign).
"""

from __future__ import annotations

from collections.abc import Iterator

from posd_daemon.devices.charset import encode_in_code_page
from posd_daemon.devices.errors import EncodeError
from posd_daemon.devices.escpos.profile import CutMode, PrinterProfile
from posd_daemon.domain.document import (
    Align,
    Barcode,
    Document,
    Feed,
    QrCode,
    RawBytes,
    Text,
)
from posd_daemon.domain.parking import ean13_check_digit

ESC = 0x1B
GS = 0x1D
DLE = 0x10
LF = b"\n"

#: ``ESC @``: initialise the printer (ref: send at the start of each job).
INIT = b"\x1b@"

#: ``ESC a n``: 0 left, 1 centre, 2 right (Epson).
_ALIGN = {Align.LEFT: 0, Align.CENTER: 1, Align.RIGHT: 2}

#: ``ESC ! n`` print mode bits (Epson): bit 3 emphasised, bit 4 double height,
#: bit 5 double width. One command sets the whole mode, so no state leaks between lines.
_MODE_BOLD = 0x08
_MODE_DOUBLE = 0x10 | 0x20

#: Bytes a QR symbol of version 1..40 holds as posd encodes it: byte mode (UTF-8) at
#: error correction M (ISO/IEC 18004:2015 table 7, "M", byte column).
QR_BYTE_CAPACITY_M: tuple[int, ...] = (
    14, 26, 42, 62, 84, 106, 122, 152, 180, 213,
    251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
    711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370,
    1452, 1538, 1628, 1722, 1809, 1911, 1989, 2099, 2213, 2331,
)  # fmt: skip

#: Largest data a QR code can hold as posd encodes it: version 40 at level M (7089 is
#: the numeric capacity at L). More fits no symbol: a printer silently prints nothing
#: for it, the raster encoder fails, so such data prints as text.
QR_MAX_BYTES = QR_BYTE_CAPACITY_M[-1]


def select_code_table(n: int) -> bytes:
    """``ESC t n`` (ref: 0 CP437, 2 CP850, 16 CP1252, 19 CP858; 18 CP852, see
    devices/charset.py)."""
    _check_byte("code table", n)
    return bytes((ESC, 0x74, n))


def select_alignment(align: Align) -> bytes:
    """``ESC a n``."""
    return bytes((ESC, 0x61, _ALIGN[align]))


def select_print_mode(*, bold: bool = False, large: bool = False) -> bytes:
    """``ESC ! n``: emphasised and/or double width+height, everything else reset."""
    n = (_MODE_BOLD if bold else 0) | (_MODE_DOUBLE if large else 0)
    return bytes((ESC, 0x21, n))


def feed_lines(lines: int) -> bytes:
    """``ESC d n``: print the buffer and feed n lines (n <= 255 per command)."""
    out = bytearray()
    while lines > 0:
        step = min(lines, 255)
        out += bytes((ESC, 0x64, step))
        lines -= step
    return bytes(out)


def encode_text(text: str, encoding: str = "cp858") -> bytes:
    """Text bytes for the printer: never raises.

    Text is normalised to NFC (a decomposed "a" + U+0308 prints as "ä"). Letters the
    code table cannot show print as their base letter ("ł" -> "l"), anything else as
    '?' (devices/charset.py); control characters (which would be read as commands:
    ESC, GS, DLE...) become '?' too, tabs become a space.
    """
    return encode_in_code_page(text.translate(PRINTABLE), encoding)


#: str.translate table: control characters (C0, DEL, C1) to '?', a tab to a space. One
#: C-level pass over the text instead of a Python call per character.
PRINTABLE: dict[int, str] = {
    **{code: "?" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
    ord("\t"): " ",
}


def qr_native(data: str, size: int = 3) -> bytes:
    """A QR code with ``GS ( k`` (ref: cn=49; fn 65 model, 67 module size, 69 error
    correction, 80 store, 81 print).

    Model 2, error correction M, module size clamped to 1..16 dots; data as UTF-8.
    """
    payload = data.encode("utf-8")
    if len(payload) > QR_MAX_BYTES:
        raise EncodeError(f"QR data too long: {len(payload)} bytes (at most {QR_MAX_BYTES})")
    size = max(1, min(16, size))
    return b"".join(
        (
            _gs_k(65, bytes((50, 0))),  # fn 65: model n1=50 (model 2), n2=0
            _gs_k(67, bytes((size,))),  # fn 67: module size in dots
            _gs_k(69, bytes((49,))),  # fn 69: error correction 48 L, 49 M, 50 Q, 51 H
            _gs_k(80, b"\x30" + payload),  # fn 80: store data in the symbol area (m=48)
            _gs_k(81, b"\x30"),  # fn 81: print the stored symbol (m=48)
        )
    )


def qr_version(payload_len: int) -> int | None:
    """The smallest QR version (1..40) holding ``payload_len`` bytes at level M, or None.

    Byte mode is the widest encoding of any data: a printer that picks numeric or
    alphanumeric mode for digits makes a symbol no larger than this one.
    """
    for version, capacity in enumerate(QR_BYTE_CAPACITY_M, start=1):
        if payload_len <= capacity:
            return version
    return None


#: The light margin a QR code needs on each side, in modules: 4X (ISO/IEC 18004:2015
#: 6.3.8, quiet zone). A printer's ``GS ( k`` prints the symbol alone, so the margin has
#: to be within the printable width too: the unprintable edge of the paper may be
#: narrower, and a scanner that finds no quiet zone does not find the code.
QR_QUIET_ZONE = 4

#: The smallest module size, in dots, a receipt's QR code is printed with. One dot is
#: 0.125 mm at 203 dpi (0.14 mm at 180 dpi): about 5 mil, a high-density size that
#: phone cameras (the customer's, the tax inspector's for the DSFinV-K receipt code)
#: and general-purpose scanners do not read reliably off thermal paper, where a single
#: dot also smears or fades. Two dots (0.25 mm, 10 mil) is posd's floor; the printer's
#: own default is 3 (``GS ( k`` fn 67, Epson ESC/POS reference). A code that would need
#: smaller modules is printed as its text instead.
QR_MIN_MODULE_DOTS = 2


def qr_fitted_module_size(payload_len: int, size: int, max_dots: int) -> int | None:
    """The module size (dots) to print a native QR code with so it fits ``max_dots``.

    A symbol is 17 + 4 * version modules wide (ISO/IEC 18004:2015 6.3.1) plus its quiet
    zone (QR_QUIET_ZONE modules each side), printed ``size`` dots per module; a printer
    given a symbol wider than its head prints nothing or a clipped code. So the asked
    size (clamped to QR_MIN_MODULE_DOTS..16) is lowered to the largest that fits; None
    when even QR_MIN_MODULE_DOTS per module is too wide (or the data fits no symbol).
    """
    version = qr_version(payload_len)
    if version is None:
        return None
    return _fitted(17 + 4 * version, size, max_dots)


def _fitted(modules: int, size: int, max_dots: int) -> int | None:
    """The module size for a symbol of ``modules`` (without its quiet zone), or None."""
    fitted = min(max(QR_MIN_MODULE_DOTS, min(16, size)), max_dots // (modules + 2 * QR_QUIET_ZONE))
    return fitted if fitted >= QR_MIN_MODULE_DOTS else None


def _gs_k(fn: int, params: bytes) -> bytes:
    """``GS ( k pL pH cn fn params``, where pL + pH*256 counts cn, fn and params."""
    length = len(params) + 2
    return bytes((GS, 0x28, 0x6B, length & 0xFF, length >> 8, 49, fn)) + params


def raster_image(rows: list[list[bool]]) -> bytes:
    """``GS v 0 m xL xH yL yH d...``: print a 1-bit raster image (m=0, normal scale).

    ``rows`` holds True for black dots; each row is packed MSB first into bytes.
    """
    height = len(rows)
    width = max((len(r) for r in rows), default=0)
    width_bytes = (width + 7) // 8
    if height == 0 or width == 0:
        return b""
    data = bytearray()
    for row in rows:
        packed = bytearray(width_bytes)
        for x, black in enumerate(row):
            if black:
                packed[x >> 3] |= 0x80 >> (x & 7)
        data += packed
    header = bytes(
        (GS, 0x76, 0x30, 0, width_bytes & 0xFF, width_bytes >> 8, height & 0xFF, height >> 8)
    )
    return header + bytes(data)


def qr_raster(data: str, size: int, max_dots: int) -> bytes | None:
    """A QR code as a raster image, for printers without native QR.

    Uses the ``qrcode`` package (a python-escpos dependency) to build the module matrix,
    with its quiet zone in the image; returns None when that package is missing or the
    symbol does not fit ``max_dots`` (as :func:`qr_fitted_module_size`: quiet zone
    included, at least QR_MIN_MODULE_DOTS per module).
    """
    try:
        import qrcode  # type: ignore[import-untyped]  # noqa: PLC0415 (optional dependency)
    except ImportError:  # pragma: no cover - python-escpos depends on qrcode
        return None
    qr = qrcode.QRCode(border=QR_QUIET_ZONE, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(data.encode("utf-8"))
    try:
        qr.make(fit=True)
    except ValueError:  # qrcode's DataOverflowError: more than any symbol holds
        return None
    matrix: list[list[bool]] = [[bool(cell) for cell in row] for row in qr.get_matrix()]
    fitted = _fitted(len(matrix) - 2 * QR_QUIET_ZONE, size, max_dots)
    if fitted is None:
        return None
    size = fitted
    rows: list[list[bool]] = []
    for row in matrix:
        scaled = [cell for cell in row for _ in range(size)]
        rows.extend([scaled] * size)
    return raster_image(rows)


# --- barcodes -------------------------------------------------------------------------

#: ``GS k m n d...`` (function B) symbology numbers (Epson): 67 EAN13, 73 CODE128.
#: EAN-13 is sent as its 12 data digits (n=12): the printer adds the check digit (which
#: :func:`ean13_check_digit` computes for validation and the simulator's HRI); 13 digits
#: are accepted only with the right check digit.
_BARCODE_EAN13 = 67
_BARCODE_CODE128 = 73
#: Bar height in dots (80 dots = 10 mm at 203 dpi).
BARCODE_HEIGHT = 80


def _code128_payload(data: str) -> tuple[bytes, int] | None:
    """The ``GS k`` data of a CODE128 symbol and its width in modules, or None.

    Printable ASCII uses code set B (``{B``, a literal '{' is written ``{{``); an even
    number (>= 4) of digits uses code set C (``{C`` + one byte per digit pair), which is
    half as wide.
    """
    if not data or not all(0x20 <= ord(c) <= 0x7E for c in data):
        return None
    if data.isdigit() and len(data) % 2 == 0 and len(data) >= 4:
        body = bytes(int(data[i : i + 2]) for i in range(0, len(data), 2))
        payload = b"{C" + body
        symbols = len(body)
    else:
        payload = b"{B" + data.replace("{", "{{").encode("ascii")
        symbols = len(data)
    if len(payload) > 255:
        return None
    # start + data + check symbol (11 modules each), stop (13), 10-module quiet zones
    return payload, (symbols + 2) * 11 + 13 + 20


def barcode(symbology: str, data: str, max_dots: int) -> bytes | None:
    """A 1-D barcode (``GS h``, ``GS w``, ``GS H``, ``GS f``, ``GS k``), or None if the
    data is invalid for the symbology or too wide for the paper (a printer silently
    skips a barcode wider than its print area)."""
    kind = symbology.strip().upper().replace("-", "").replace("_", "")
    if kind == "EAN13":
        digits = data.strip()
        if not (digits.isascii() and digits.isdigit()) or len(digits) not in (12, 13):
            return None
        if len(digits) == 13 and int(digits[12]) != ean13_check_digit(digits[:12]):
            return None
        m, payload, modules = _BARCODE_EAN13, digits[:12].encode("ascii"), 95 + 20
    elif kind == "CODE128":
        found = _code128_payload(data)
        if found is None:
            return None
        payload, modules = found
        m = _BARCODE_CODE128
    else:
        return None
    width = next((w for w in (3, 2, 1) if w * modules <= max_dots), None)
    if width is None:
        return None
    return b"".join(
        (
            bytes((GS, 0x68, BARCODE_HEIGHT)),  # GS h n: bar height in dots
            bytes((GS, 0x77, width)),  # GS w n: module width in dots
            bytes((GS, 0x48, 2)),  # GS H 2: human-readable text below the bars
            bytes((GS, 0x66, 0)),  # GS f 0: HRI in font A
            bytes((GS, 0x6B, m, len(payload))) + payload,  # GS k m n d1..dn
        )
    )


# --- cut, drawer, status requests -----------------------------------------------------


def cut(profile: PrinterProfile) -> bytes:
    """End of a job: feed-and-cut ``GS V 65/66 n`` (ref), or feed + ``GS V 0/1``, or
    just feed past the tear bar when there is no cutter."""
    if profile.cut is CutMode.NONE:
        return feed_lines(profile.cut_feed_lines)
    partial = profile.cut is CutMode.PARTIAL
    if profile.feed_and_cut:
        return bytes((GS, 0x56, 66 if partial else 65, profile.feed_and_cut_units))
    return feed_lines(profile.cut_feed_lines) + bytes((GS, 0x56, 1 if partial else 0))


def _pulse_units(ms: int, what: str) -> int:
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise ValueError(f"drawer kick {what} time must be a non-negative integer, got {ms!r}")
    return max(1, min(255, (ms + 1) // 2))


def _drawer_m(pin: int) -> int:
    if pin == 2:
        return 0
    if pin == 5:
        return 1
    raise ValueError(f"drawer kick pin must be 2 or 5 (drawer kick-out connector), got {pin!r}")


def drawer_kick(pin: int = 2, on_ms: int = 100, off_ms: int = 200) -> bytes:
    """``ESC p m t1 t2`` (ref: m=0 pin 2, m=1 pin 5; on/off time = t x 2 ms).

    Times are rounded up to 2 ms steps and clamped to 2..510 ms; a bad pin or a
    negative time raises ValueError.
    """
    m = _drawer_m(pin)
    return bytes((ESC, 0x70, m, _pulse_units(on_ms, "on"), _pulse_units(off_ms, "off")))


def drawer_kick_realtime(pin: int = 2, on_ms: int = 100) -> bytes:
    """``DLE DC4 1 m t``: real-time pulse, executed even while the printer is offline
    (Epson: on and off time are t x 100 ms, 1 <= t <= 8)."""
    m = _drawer_m(pin)
    if isinstance(on_ms, bool) or not isinstance(on_ms, int) or on_ms < 0:
        raise ValueError(f"drawer kick on time must be a non-negative integer, got {on_ms!r}")
    t = max(1, min(8, (on_ms + 99) // 100))
    return bytes((DLE, 0x14, 1, m, t))


def status_request(n: int) -> bytes:
    """``DLE EOT n`` real-time status request (ref: n=1 printer, 2 offline cause,
    3 error cause, 4 paper roll sensor)."""
    if isinstance(n, bool) or n not in (1, 2, 3, 4):
        raise ValueError(f"DLE EOT status request n must be 1..4, got {n!r}")
    return bytes((DLE, 0x04, n))


#: All four status requests in one write; the replies come back in this order.
STATUS_REQUEST_ALL = b"".join(status_request(n) for n in (1, 2, 3, 4))


def enable_asb(mask: int = 0x0F) -> bytes:
    """``GS a n``: automatic status back (ref mask: drawer 1, online/offline 2,
    error 4, paper 8; 0 disables)."""
    _check_byte("ASB mask", mask)
    return bytes((GS, 0x61, mask))


def _check_byte(what: str, n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 255:
        raise ValueError(f"{what} must be 0..255, got {n!r}")


# --- documents ------------------------------------------------------------------------


class _State:
    """Printer mode the encoder believes is active (None: unknown after raw bytes)."""

    def __init__(self, code_table: int) -> None:
        # after ESC @ + ESC t: left aligned, normal print mode, our code table
        self.code_table = code_table
        self.table_pinned = True
        self.align: Align | None = Align.LEFT
        self.mode: tuple[bool, bool] | None = (False, False)

    def pin_table(self) -> bytes:
        """Raw bytes may have re-initialised the printer: pin the code table again."""
        if self.table_pinned:
            return b""
        self.table_pinned = True
        return select_code_table(self.code_table)

    def set_align(self, align: Align) -> bytes:
        if self.align is align:
            return b""
        self.align = align
        return select_alignment(align)

    def set_mode(self, bold: bool, large: bool) -> bytes:
        if self.mode == (bold, large):
            return b""
        self.mode = (bold, large)
        return select_print_mode(bold=bold, large=large)

    def forget(self) -> None:
        self.table_pinned = False
        self.align = None
        self.mode = None


def encode_document(doc: Document, profile: PrinterProfile) -> bytes:
    """The complete print job for ``doc``.

    ``ESC @``, ``ESC t`` (the profile's code table), then the blocks, then the cut.
    Text that the code table cannot show prints as '?'. A barcode with invalid data, a
    QR code the printer cannot render, print their data as text instead of failing the
    job. Raises :class:`EncodeError` only for a document wider than the paper.
    """
    if doc.columns > profile.columns:
        raise EncodeError(
            f"document is rendered for {doc.columns} columns but printer profile "
            f"{profile.name!r} has {profile.columns}: render receipts for the printer's width"
        )
    return b"".join(_encode(doc, profile))


def _encode(doc: Document, profile: PrinterProfile) -> Iterator[bytes]:
    yield INIT
    yield select_code_table(profile.code_table)
    state = _State(profile.code_table)
    for block in doc.blocks:
        if isinstance(block, Text):
            yield state.pin_table()
            yield state.set_align(block.align)
            yield state.set_mode(block.bold, block.large)
            yield encode_text(block.text, profile.encoding) + LF
        elif isinstance(block, QrCode):
            yield state.set_align(Align.CENTER)
            yield from _encode_qr(block, profile, state)
        elif isinstance(block, Barcode):
            yield state.set_align(Align.CENTER)
            symbol = barcode(block.symbology, block.data, profile.dots)
            if symbol is None:
                yield state.pin_table()
                yield state.set_mode(False, False)
                yield encode_text(f"{block.symbology} {block.data}", profile.encoding) + LF
            else:
                yield symbol
        elif isinstance(block, Feed):
            yield feed_lines(block.lines)
        elif isinstance(block, RawBytes):
            yield block.data
            state.forget()
    if doc.cut:
        yield cut(profile)


def _encode_qr(block: QrCode, profile: PrinterProfile, state: _State) -> Iterator[bytes]:
    payload_len = len(block.data.encode("utf-8"))
    if profile.native_qr:
        # never wider than the paper: a smaller module size, else the raster path
        size = qr_fitted_module_size(payload_len, block.size, profile.dots)
        if size is not None:
            yield qr_native(block.data, size)
            return
    image = None
    if payload_len <= QR_MAX_BYTES:
        image = qr_raster(block.data, block.size, profile.dots)
    if image is not None:
        yield image
    else:
        yield state.pin_table()
        yield state.set_mode(False, False)
        yield encode_text(block.data, profile.encoding) + LF
