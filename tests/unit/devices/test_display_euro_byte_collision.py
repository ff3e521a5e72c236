"""The profile's euro byte is the euro sign on the display, never the character the
code page has there (see tests/integration/devices/test_display_euro_byte_takes_a_letter)."""

from __future__ import annotations

from dataclasses import replace

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES, can_show, encode_display_text
from posd_daemon.services.display import money_text

CLONE = replace(BUILTIN_DISPLAY_PROFILES["cd5220"], encoding="cp437", euro_byte=0x80)


def test_only_the_euro_sign_is_sent_as_the_euro_byte() -> None:
    assert encode_display_text("€ Çç", CLONE) == b"\x80 C\x87"
    assert not can_show("Ç", CLONE)
    assert can_show("€ ç", CLONE)


def test_a_sign_under_the_euro_byte_is_not_used_for_its_currency() -> None:
    pound_clone = replace(CLONE, euro_byte=0x9C)
    assert encode_display_text("£", pound_clone) == b"?"
    assert money_text(1200, "GBP", pound_clone) == "12,00 GBP"
    assert money_text(1200, "EUR", pound_clone) == "12,00 €"
