"""A native QR code (``GS ( k``) always fits the printable width.

A symbol is 17 + 4*version modules wide (ISO/IEC 18004 6.3.1); printed with module size
s it is that many times s dots. Wider than the head (58 mm: 384 dots) the printer prints
nothing or a clipped code, so the codec lowers the module size until it fits, or, when
not even one dot per module fits, uses the raster path (and its text fallback).

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
    modules = _modules(data)
    got = _module_size(_encode(data, size, profile))
    assert modules * got <= profile.dots, f"{modules} modules x {got} dots"
    # as large as asked where that fits, else the largest module size that fits
    assert got == min(size, profile.dots // modules)


def test_a_code_that_fits_keeps_its_module_size() -> None:
    assert _module_size(_encode("V0;kasse;1234", 3, NATIVE_58)) == 3
    assert _module_size(_encode("V0;kasse;1234", 8, NATIVE_80)) == 8


def test_the_58mm_and_80mm_sizes_differ_for_the_same_code() -> None:
    data = "x" * 110  # version 7 at M (107..122 bytes): 45 modules
    assert _modules(data) == 45
    assert _module_size(_encode(data, 16, NATIVE_58)) == 8  # 360 of 384 dots
    assert _module_size(_encode(data, 16, NATIVE_80)) == 12  # 540 of 576 dots


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
