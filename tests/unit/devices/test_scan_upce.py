"""UPC-E codes are 8 digits on the wire, like EAN-8, but their last digit is the check
digit of the UPC-A they stand for (GS1 General Specifications, UPC-E zero suppression).
A scanner checking check digits must accept them as UPC-E, not refuse them as misread
EAN-8 codes, and still refuse a misread UPC-E. With AIM identifiers, UPC-E comes as
``]E0`` (the EAN/UPC family; EAN-8 is ``]E4``)."""

from __future__ import annotations

from posd_daemon.devices.scanning import Code, Rejected, ScanDecoder, ScanRules
from posd_daemon.domain.barcode import upce_to_upca

UPCE = "04252614"  # UPC-E of UPC-A 042100005264
EAN8 = "96385074"  # a valid EAN-8


def test_a_upce_code_is_accepted_as_upce() -> None:
    assert upce_to_upca(UPCE) == "042100005264"
    d = ScanDecoder(ScanRules(min_length=8))
    assert d.feed(UPCE.encode() + b"\r", 0.0) == [Code(UPCE, "UPC-E")]
    assert d.feed(b"]E0" + UPCE.encode() + b"\r", 2.0) == [Code(UPCE, "UPC-E")]


def test_an_ean8_stays_ean8_and_a_misread_upce_is_refused() -> None:
    d = ScanDecoder(ScanRules(min_length=8))
    assert d.feed(EAN8.encode() + b"\r", 0.0) == [Code(EAN8, "EAN8")]
    assert d.feed(b"]E4" + EAN8.encode() + b"\r", 2.0) == [Code(EAN8, "EAN8")]
    misread = "04252615"
    assert upce_to_upca(misread) is None
    assert d.feed(misread.encode() + b"\r", 4.0) == [
        Rejected("BAD_CHECK_DIGIT", f"{misread}: wrong check digit (misread)")
    ]
