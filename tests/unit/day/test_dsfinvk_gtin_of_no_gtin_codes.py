"""lines.csv GTIN (exports.dsfinvk._line_gtin): a scanned code that is no GTIN gives way
to the catalog's GTIN of the article sold; restricted circulation numbers (RCN-8 with
GS1-8 prefix 0 or 2 too) are never a GTIN."""

from __future__ import annotations

import pytest

from posd_daemon.exports.dsfinvk import _gtin, _line_gtin

GTINS = {
    "K-1\x1f\x1f": "4006381333931",
    "V-1\x1frot\x1f": "96385074",
    "P-1\x1f\x1f": "5901234123457",
    "P-1\x1f\x1fKiste": "4012345678901",
}


@pytest.mark.parametrize(
    ("scanned", "gtin"),
    [
        ("20123451", ""),  # RCN-8, GS1-8 prefix 2
        ("07654329", ""),  # RCN-8, GS1-8 prefix 0 (and no UPC-E)
        # 8 digits that are both an RCN-8 and a UPC-E: only the UPC-E names a GTIN
        ("01234565", "0012345000065"),
        ("40063812", "40063812"),  # a GTIN-8
        ("96385074", "96385074"),
        ("04252614", "0042100005264"),  # a UPC-E: the EAN-13 of its UPC-A
    ],
)
def test_rcn8_is_no_gtin(scanned: str, gtin: str) -> None:
    assert _gtin(scanned) == gtin


@pytest.mark.parametrize(
    ("code", "item", "variant", "unit", "factor", "gtin"),
    [
        # a scanned GTIN is the line's, whatever the catalog says
        ("4000000000020", "K-1", "", "", "1", "4000000000020"),
        # an in-store label, its zeroed code, a lot, a serial, an internal code: the
        # catalog's GTIN of the article
        ("2112345012346", "K-1", "", "", "1", "4006381333931"),
        ("2112345000008", "K-1", "", "kg", "1", "4006381333931"),
        ("L-47", "K-1", "", "", "1", "4006381333931"),
        ("20123451", "K-1", "", "", "1", "4006381333931"),
        ("INT-7", "V-1", "rot", "", "1", "96385074"),
        # a variant without a GTIN of its own: not the item's
        ("INT-8", "V-1", "blau", "", "1", ""),
        ("KISTE-9", "P-1", "", "Kiste", "6", "4012345678901"),
        # a unit without a GTIN of its own: not the base unit's
        ("TRAY-9", "P-1", "", "Tray", "24", ""),
        ("2112346005002", "B-1", "", "", "1", ""),
    ],
)
def test_line_gtin(code: str, item: str, variant: str, unit: str, factor: str, gtin: str) -> None:
    assert _line_gtin(GTINS, code, item, variant, unit, factor) == gtin
