"""A native QR code (``GS ( k``) always fits the printable width, with its quiet zone.

A symbol is 17 + 4*version modules wide (ISO/IEC 18004 6.3.1) and needs a light margin
of 4 modules on each side (the quiet zone, ISO/IEC 18004 6.3.8); printed with module
size s it takes that many times s dots. Wider than the head (58 mm: 384 dots) the
printer prints nothing or a clipped code, so the codec lowers the module size until it
fits, but never below 2 dots (0.25 mm at 203 dpi: a 1-dot module is too small for the
phone cameras and scanners that read receipt codes); when that does not fit it uses the
raster path, under the same rules, and its text fallback.

The version is checked against an independent encoder (the ``qrcode`` package) at
posd's settings: byte mode, error correction M.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import qrcode  # type: ignore[import-untyped]

from posd_daemon.devices.escpos.codec import QR_BYTE_CAPACITY_M, encode_document, qr_version
from posd_daemon.devices.escpos.profile import PrinterProfile, get_profile
from posd_daemon.domain.document import Document, QrCode

#: GS ( k pL pH cn=49 fn=67 n: set the module size
MODULE_SIZE = b"\x1d(k\x03\x00\x31\x43"
#: the quiet zone: 4 modules on each side (ISO/IEC 18004:2015 6.3.8)
QUIET = 2 * 4
#: the smallest module size (dots) a receipt's QR code is printed with
MIN_MODULE = 2

NATIVE_58 = replace(get_profile("generic-58mm"), name="native-58mm", native_qr=True)
NATIVE_80 = get_profile("generic-80mm")


def _modules(data: str) -> int:
    qr = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(data.encode("utf-8"))  # bytes: byte mode, as the codec counts
    qr.make(fit=True)
    return int(17 + 4 * qr.version)


def _module_size(out: bytes) -> int:
    at = out.find(MODULE_SIZE)
    assert at >= 0, "no native QR code"
    return out[at + len(MODULE_SIZE)]


def _encode(data: str, size: int, profile: PrinterProfile) -> bytes:
    return encode_document(Document(profile.columns, (QrCode(data, size),)), profile)


@pytest.mark.parametrize("profile", [NATIVE_58, NATIVE_80], ids=["58mm", "80mm"])
@pytest.mark.parametrize(
    ("length", "size"),
    [(20, 16), (100, 16), (100, 8), (400, 6), (1000, 4), (2331, 3), (2331, 16)],
)
def test_a_native_qr_code_is_never_wider_than_the_paper(
    profile: PrinterProfile, length: int, size: int
) -> None:
    data = "https://k.example/" + "r" * (length - 18)
    modules = _modules(data) + QUIET
    got = _module_size(_encode(data, size, profile))
    assert modules * got <= profile.dots, f"{modules} modules x {got} dots"
    # as large as asked where that fits, else the largest module size that fits
    assert got == min(size, profile.dots // modules)
    assert got >= MIN_MODULE


def test_a_code_that_fits_keeps_its_module_size() -> None:
    assert _module_size(_encode("V0;kasse;1234", 3, NATIVE_58)) == 3
    assert _module_size(_encode("V0;kasse;1234", 8, NATIVE_80)) == 8


def test_the_58mm_and_80mm_sizes_differ_for_the_same_code() -> None:
    data = "x" * 110  # version 7 at M (107..122 bytes): 45 modules
    assert _modules(data) == 45
    # with the quiet zone 53 modules: 8 dots (424) would leave no room for it on 58 mm
    assert _module_size(_encode(data, 16, NATIVE_58)) == 7  # 371 of 384 dots
    assert _module_size(_encode(data, 16, NATIVE_80)) == 10  # 530 of 576 dots


def test_the_quiet_zone_is_kept_where_the_symbol_alone_would_fit() -> None:
    data = "q" * 200  # version 10 at M (180..213 bytes): 57 modules, 65 with quiet zone
    assert _modules(data) == 57
    assert 57 * 6 <= 384 < 65 * 6
    assert _module_size(_encode(data, 6, NATIVE_58)) == 5  # 325 of 384 dots


def test_a_module_smaller_than_two_dots_is_not_printed() -> None:
    narrow = replace(NATIVE_58, name="narrow", columns=16, dots=128)
    data = "w" * 300  # version 13: 69 modules, 77 with quiet zone: 1 dot fits, 2 do not
    assert _modules(data) == 69
    out = _encode(data, 3, narrow)
    assert MODULE_SIZE not in out  # an unreadable 1-dot code is not sent natively
    assert b"\x1dv0" not in out  # nor as a raster image of 1-dot modules
    assert data.encode("cp858") in out  # printed as text: the receipt still prints
    assert _module_size(_encode(data, 1, NATIVE_58)) == 2  # asked 1 dot: 2 where it fits


def _raster(out: bytes) -> tuple[int, list[bytes]]:
    """The width in bytes and the rows of the first raster image (GS v 0)."""
    at = out.index(b"\x1dv0\x00")
    width = out[at + 4] + 256 * out[at + 5]
    height = out[at + 6] + 256 * out[at + 7]
    body = out[at + 8 : at + 8 + width * height]
    return width, [body[r * width : (r + 1) * width] for r in range(height)]


def _dark_columns(rows: list[bytes]) -> list[int]:
    return [
        x for x in range(len(rows[0]) * 8) if any(row[x >> 3] & (0x80 >> (x & 7)) for row in rows)
    ]


@pytest.mark.parametrize(("length", "size"), [(20, 8), (200, 16), (300, 1)])
def test_the_raster_path_keeps_the_quiet_zone_and_the_minimum(length: int, size: int) -> None:
    profile = get_profile("generic-58mm")  # no native QR: a raster image
    assert not profile.native_qr
    data = "r" * length
    modules = _modules(data)
    out = _encode(data, size, profile)
    assert b"\x1d(k" not in out
    _, rows = _raster(out)
    dark = _dark_columns(rows)
    module = (dark[-1] - dark[0] + 1) // modules
    assert module == max(MIN_MODULE, min(size, profile.dots // (modules + QUIET)))
    assert dark[0] >= 4 * module  # a light margin of 4 modules on the left ...
    assert (
        len(rows) - 1 - max(y for y, row in enumerate(rows) if any(row)) >= 4 * module
    )  # ... and below (the image is square)
    assert (modules + QUIET) * module <= profile.dots


def test_a_symbol_wider_than_the_head_at_one_dot_is_not_sent_natively() -> None:
    narrow = replace(NATIVE_58, name="narrow", columns=16, dots=128)
    data = "z" * 2000  # version 38 or more: 169+ modules, wider than 128 dots
    out = _encode(data, 3, narrow)
    assert b"\x1d(k" not in out  # the printer would drop or clip it
    assert b"\x1dv0" not in out  # the raster image cannot fit either
    assert data.encode("cp858") in out  # printed as text: the receipt still prints


def test_the_version_table_is_what_the_qr_library_says() -> None:
    for version, capacity in enumerate(QR_BYTE_CAPACITY_M, start=1):
        assert qr_version(capacity) == version
        assert _modules("x" * capacity) == 17 + 4 * version
        if version < 40:
            assert _modules("x" * (capacity + 1)) == 17 + 4 * (version + 1)
    assert qr_version(QR_BYTE_CAPACITY_M[-1] + 1) is None
