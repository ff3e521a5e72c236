"""A clone's euro byte replaces a character of its code page: that character must not
reach the customer as a euro sign.

Clones of the CD5220 put the euro sign where their code page has another character
(``display.euro_byte``, e.g. 0x80, where CP437 has "Ç", or 0x9C, where it has "£").
Whatever the code page has at that byte, the display now shows "€": an article named
"Çay" read "€ay", and a pound amount read as euros ("12,00 €" for 12.00 GBP).

Real path as in test_customer_display_text_fit: sale events on the bus ->
CustomerDisplay -> DeviceManager -> the display codec -> a pty pair -> the emulated
display (which shows the euro sign at the profile's euro byte, as the clone does).
"""

from __future__ import annotations

from dataclasses import replace

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES, DisplayProfile
from posd_daemon.devices.sim import SerialDisplaySim
from posd_daemon.services.events import EventBus
from tests.integration.devices.test_customer_display_text_fit import run, sale, shows

CD5220 = BUILTIN_DISPLAY_PROFILES["cd5220"]


def clone(euro_byte: int) -> DisplayProfile:
    return replace(CD5220, encoding="cp437", euro_byte=euro_byte)


def test_a_pound_amount_is_not_shown_as_euros() -> None:
    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 1200, "GBP", line_name="Tea", line_total_minor=1200))
        await shows(sim, ("Tea        12,00 GBP", "SUMME      12,00 GBP"))

    run(clone(0x9C), scenario)


def test_the_letter_under_the_euro_byte_shows_as_its_base_letter() -> None:
    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 350, line_name="Çay", line_total_minor=350))
        await shows(sim, ("Cay           3,50 €", "SUMME         3,50 €"))

    run(clone(0x80), scenario)
