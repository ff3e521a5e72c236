"""The test page a printer prints for an external/interactive health check (and for
``posctl test print --direct``)."""

from __future__ import annotations

from datetime import UTC, datetime

from posd_daemon.devices.escpos.profile import PrinterProfile
from posd_daemon.domain.document import Align, Barcode, Block, Document, Feed, QrCode, Text

#: What the display shows for its external check: every character that tends to break.
DISPLAY_TEST_LINES = ("posd Test ÄÖÜ äöü ß", "€ 1234,56 0123456789")


def build_test_page(
    profile: PrinterProfile, *, description: str, check_code: str = "", columns: int = 0
) -> Document:
    """A page showing the profile, the code page (umlauts, €), QR, barcode and the cut."""
    width = columns or profile.columns
    blocks: list[Block] = [
        Text("posd TEST PAGE", Align.CENTER, bold=True, large=True),
        Text(datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), Align.CENTER),
        Feed(),
        Text(description[:width]),
        Text(f"profile {profile.name}: {profile.columns} columns, {profile.dots} dots"[:width]),
        Text(f"code table {profile.code_table} ({profile.encoding})"[:width]),
        Text(f"cut {profile.cut.value}, QR {'native' if profile.native_qr else 'image'}"[:width]),
        Feed(),
        Text("Umlaute: ÄÖÜ äöü ß  Euro: €"[:width]),
        Text(("1234567890" * 8)[:width]),
        Text("bold", bold=True),
        Feed(),
        QrCode("posd test page"),
        Barcode("4006381333931", "EAN13"),
    ]
    if check_code:
        blocks += [Feed(), Text(f"CHECK CODE {check_code}", Align.CENTER, bold=True, large=True)]
    blocks.append(Feed(2))
    return Document(columns=width, blocks=tuple(blocks), cut=True)
