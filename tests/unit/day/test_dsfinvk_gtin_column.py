"""What lines.csv writes in its GTIN column for a scanned code (exports.dsfinvk._gtin)."""

from __future__ import annotations

import pytest

from posd_daemon.exports.dsfinvk import _gtin


@pytest.mark.parametrize(
    ("scanned", "gtin"),
    [
        ("4006381333931", "4006381333931"),  # EAN-13
        ("96385074", "96385074"),  # EAN-8
        ("036000291452", "0036000291452"),  # UPC-A: its EAN-13
        ("04252614", "0042100005264"),  # UPC-E: the EAN-13 of its UPC-A
        ("10012345678902", "10012345678902"),  # GTIN-14
        ("04006381333931", "4006381333931"),  # an EAN-13 written in 14 digits
        ("2112345012346", ""),  # in-store price label (restricted circulation)
        ("2112345000008", ""),  # its zeroed form: the shop's own number, no GTIN
        ("0212345000007", ""),  # restricted circulation (02)
        ("9812345678902", ""),  # coupon (981)
        ("4006381333932", ""),  # wrong check digit
        ("12345678", ""),  # neither an EAN-8 nor a UPC-E
        ("1234567890", ""),  # no GTIN length
        ("LOT-2024-17", ""),  # a lot number
        ("", ""),
        ("４００６３８１３３３９３１", ""),  # full-width digits are no barcode
    ],
)
def test_gtin_column(scanned: str, gtin: str) -> None:
    assert _gtin(scanned) == gtin
