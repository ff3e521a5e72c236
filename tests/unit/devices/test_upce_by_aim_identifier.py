"""A scanner sending AIM symbology identifiers (ISO/IEC 15424) says which symbology it
read: ``]E4`` is EAN-8, ``]E0`` the EAN-13/UPC-A/UPC-E family, so 8 digits after ``]E0``
are a UPC-E. The decoder must check the code by the rules of the symbology the scanner
named: an EAN-8 with a wrong check digit is a misread even when its digits happen to be
a valid UPC-E, and 8 digits under ``]E0`` that are no valid UPC-E are a misread even when
they happen to be a valid EAN-8. Without identifiers, both stay possible."""

from __future__ import annotations

from posd_daemon.devices.scanning import Code, Rejected, ScanDecoder, ScanRules
from posd_daemon.domain.barcode import gtin_valid, upce_to_upca

UPCE = "04252614"  # a UPC-E (of 042100005264), no valid EAN-8
EAN8 = "01234503"  # a valid EAN-8, no valid UPC-E


def test_an_ean8_by_its_identifier_is_checked_as_ean8() -> None:
    assert not gtin_valid(UPCE) and upce_to_upca(UPCE) is not None
    d = ScanDecoder(ScanRules(min_length=8))
    assert d.feed(b"]E4" + UPCE.encode() + b"\r", 0.0) == [
        Rejected("BAD_CHECK_DIGIT", f"{UPCE}: wrong check digit (misread)")
    ]
    assert d.feed(b"]E4" + EAN8.encode() + b"\r", 2.0) == [Code(EAN8, "EAN8")]


def test_eight_digits_of_the_upc_family_are_checked_as_upce() -> None:
    assert gtin_valid(EAN8) and upce_to_upca(EAN8) is None
    d = ScanDecoder(ScanRules(min_length=8))
    assert d.feed(b"]E0" + EAN8.encode() + b"\r", 0.0) == [
        Rejected("BAD_CHECK_DIGIT", f"{EAN8}: wrong check digit (misread)")
    ]
    assert d.feed(b"]E0" + UPCE.encode() + b"\r", 2.0) == [Code(UPCE, "UPC-E")]
    # without an identifier the digits decide: each is taken as what it is valid as
    assert d.feed(UPCE.encode() + b"\r", 4.0) == [Code(UPCE, "UPC-E")]
    assert d.feed(EAN8.encode() + b"\r", 6.0) == [Code(EAN8, "EAN8")]


def test_without_check_digits_the_identifier_still_names_the_symbology() -> None:
    d = ScanDecoder(ScanRules(min_length=8, check_digits=False))
    assert d.feed(b"]E0" + UPCE.encode() + b"\r", 0.0) == [Code(UPCE, "UPC-E")]
    assert d.feed(b"]E4" + UPCE.encode() + b"\r", 2.0) == [Code(UPCE, "EAN8")]
