"""QR codes the printer cannot hold print their data as text (codec.encode_document).

posd asks for error correction level M (``GS ( k`` fn 69, n=49; the raster fallback
uses qrcode's ERROR_CORRECT_M too). In byte mode a level-M symbol holds at most 2331
bytes (version 40, ISO/IEC 18004 table 7); 7089 is the *numeric* capacity at level L.
Data above 2331 bytes fits no symbol: a printer given it natively prints nothing, and
the raster path's qrcode library raises.
"""

from __future__ import annotations

import pytest
import qrcode  # type: ignore[import-untyped]

from posd_daemon.devices.escpos.codec import encode_document
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.domain.document import Document, QrCode, Text

#: byte-mode capacity of a version-40 QR symbol at error correction M
LEVEL_M_BYTES = 2331


def _fits_level_m(data: bytes) -> bool:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(data)
    try:
        qr.make(fit=True)
    except ValueError:  # qrcode's DataOverflowError
        return False
    return True


def test_the_level_m_capacity_is_what_the_qr_library_says() -> None:
    # the oracle for the figure the codec relies on: an independent QR encoder
    assert _fits_level_m(b"x" * LEVEL_M_BYTES)
    assert not _fits_level_m(b"x" * (LEVEL_M_BYTES + 1))


@pytest.mark.parametrize("profile_name", ["generic-80mm", "generic-58mm"])
def test_qr_data_beyond_the_symbol_capacity_prints_as_text(profile_name: str) -> None:
    # generic-80mm prints QR natively, generic-58mm as a raster image
    profile = get_profile(profile_name)
    data = "https://kasse.example.de/r/" + "x" * 2500  # 2527 bytes: no level-M symbol
    doc = Document(columns=profile.columns, blocks=(QrCode(data), Text("Danke")), cut=True)
    out = encode_document(doc, profile)  # must not raise: the receipt must still print
    assert b"\x1d(k" not in out  # no native symbol the printer would silently drop
    assert b"\x1dv0" not in out  # no raster image either
    assert data.encode("cp858") in out  # the data, readable, instead
    assert b"Danke\n" in out


@pytest.mark.parametrize(
    ("profile_name", "command"), [("generic-80mm", b"\x1d(k"), ("generic-58mm", b"\x1dv0")]
)
def test_qr_data_at_the_capacity_is_still_a_symbol(profile_name: str, command: bytes) -> None:
    profile = get_profile(profile_name)
    data = "y" * LEVEL_M_BYTES
    out = encode_document(Document(columns=profile.columns, blocks=(QrCode(data, 1),)), profile)
    assert command in out
