"""What the customer reads on the pole display for awkward names, code pages and amounts.

Real path, as in test_one_row_pole_display: sale events on the bus -> CustomerDisplay
-> DeviceManager -> the display codec -> a pty pair -> the emulated display decoding
those bytes with the code table the display was told to use.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import replace

from posd_daemon.devices.charset import CODE_TABLES
from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES, DisplayProfile
from posd_daemon.devices.sim import SerialDisplaySim
from posd_daemon.services.display import DisplayTexts
from posd_daemon.services.events import EventBus, SaleChanged
from tests.integration.devices import test_one_row_pole_display as one_row

EPSON = BUILTIN_DISPLAY_PROFILES["epson-dm-d"]
#: A Slovak or Czech shop pins Latin-2 (PC852, ESC t 18) for č š ž ľ ť ň ů.
LATIN2 = replace(EPSON, encoding="cp852", code_table=CODE_TABLES["cp852"])


def sale(kind: str, total: int, currency: str = "EUR", **more: object) -> SaleChanged:
    return SaleChanged(
        kind=kind,
        sale_id="s-1",
        state="posted" if kind == "posted" else "open",
        operator_id="op",
        currency=currency,
        total_minor=total,
        paid_minor=int(more.pop("paid", 0)),  # type: ignore[call-overload]
        change_minor=int(more.pop("change", 0)),  # type: ignore[call-overload]
        line_count=1,
        **more,  # type: ignore[arg-type]
    )


Scenario = Callable[[EventBus, SerialDisplaySim], Awaitable[None]]


def run(profile: DisplayProfile, scenario: Scenario) -> None:
    """``scenario`` after the idle text showed (tests/integration/devices/
    test_one_row_pole_display.run, with two idle rows)."""

    async def idle_then(bus: EventBus, sim: SerialDisplaySim) -> None:
        await shows(sim, ("Willkommen!", ""))
        await scenario(bus, sim)

    one_row.run(profile, idle_then, DisplayTexts(idle=("Willkommen!", "")))


async def shows(sim: SerialDisplaySim, rows: tuple[str, ...], within: float = 3.0) -> None:
    ok = await asyncio.to_thread(sim.display.wait_for_lines, rows, within)
    assert ok, f"the display never showed {rows!r}; it shows {sim.display.lines!r}"


def test_a_latin2_display_shows_names_with_signs_it_lacks() -> None:
    """CP852 has no ® or £: they must show as '?', not stop the update (the display
    would keep the previous item and price in front of the customer)."""

    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 2490, "CZK", line_name="Chléb", line_total_minor=2490))
        await shows(sim, ("Chléb      24,90 CZK", "SUMME      24,90 CZK"))
        bus.publish(sale("line_added", 4380, "CZK", line_name="Horalky®", line_total_minor=1890))
        await shows(sim, ("Horalky?   18,90 CZK", "SUMME      43,80 CZK"))

    run(LATIN2, scenario)


def test_a_display_without_the_euro_sign_shows_the_currency_code() -> None:
    """Slovakia pays in euro and needs Latin-2 letters; PC852 has no €, so the amount
    must read "1,20 EUR", not "1,20 ?"."""

    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 120, line_name="Rožok", line_total_minor=120))
        await shows(sim, ("Rožok       1,20 EUR", "SUMME       1,20 EUR"))

    run(LATIN2, scenario)


def test_a_decomposed_name_keeps_the_amount_right_aligned() -> None:
    """Names imported as NFD ("a" + U+0308) are one column per letter on the display,
    so the price must still end in the last column, under the total."""
    name = unicodedata.normalize("NFD", "Käse Emmentaler")

    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 449, line_name=name, line_total_minor=449))
        await shows(sim, ("Käse Emmental 4,49 €", "SUMME         4,49 €"))

    run(EPSON, scenario)


def test_a_burst_of_scans_ends_on_the_last_one() -> None:
    """Scans faster than the display: the last state wins and stays."""

    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        for n in range(1, 41):
            bus.publish(sale("line_added", 100 * n, line_name=f"Artikel {n}", line_total_minor=100))
        last = ("Artikel 40    1,00 €", "SUMME        40,00 €")
        await shows(sim, last)
        await asyncio.sleep(0.5)
        assert sim.display.lines == tuple(row.ljust(20) for row in last)

    run(EPSON, scenario)


def test_an_amount_too_wide_for_the_row_is_never_cut_to_other_digits() -> None:
    """A 2x16 display and a total of 1,000,000,000.00 CHF (17 characters with the
    code): cutting its first digit would show the customer 0 instead of a billion. The
    label gives way first, then the currency code; the number stays whole."""
    narrow = replace(EPSON, columns=16)

    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 10**11, "CHF", line_name="Yacht", line_total_minor=10**11))
        await shows(sim, ("Ya 1000000000,00", "SU 1000000000,00"))
        bus.publish(sale("line_added", -(10**11), "CHF", line_name="Yacht", line_total_minor=-1))
        await shows(sim, ("Yacht  -0,01 CHF", "S -1000000000,00"))

    run(narrow, scenario)


def test_a_weighed_item_shows_its_unit() -> None:
    """0.345 kg of cheese must not read as "0,345 Gouda" (0,345 of what?); pieces
    keep the short form ("3 Brezel"), as on the receipt. The quantity has the decimal
    comma of the amounts beside it (the API's "0.345" read as 345 kg to a German eye)."""

    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        weighed = {"line_quantity": "0.345", "line_unit": "kg", "line_total_minor": 449}
        bus.publish(sale("line_added", 449, line_name="Gouda", **weighed))
        await shows(sim, ("0,345 kg Goud 4,49 €", "SUMME         4,49 €"))
        pieces = {"line_quantity": "3", "line_unit": "pcs", "line_total_minor": 210}
        bus.publish(sale("line_added", 659, line_name="Brezel", **pieces))
        await shows(sim, ("3 Brezel      2,10 €", "SUMME         6,59 €"))

    run(EPSON, scenario)


def test_control_characters_yen_and_returns_read_right() -> None:
    """Checked sound: a form feed or ESC @ in a name shows as '?' (the other row is not
    cleared), yen has no decimals, a return shows its sign."""

    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        name = "Tee\x0c\x1b@Bio\n"
        bus.publish(sale("line_added", 100, line_name=name, line_total_minor=100))
        await shows(sim, ("Tee??@Bio?    1,00 €", "SUMME         1,00 €"))
        bus.publish(sale("line_added", 1200, "JPY", line_name="Sushi", line_total_minor=1200))
        await shows(sim, ("Sushi         1200 ¥", "SUMME         1200 ¥"))
        ret = {"line_quantity": "-1", "line_total_minor": -199}
        bus.publish(sale("line_added", -199, line_name="Brezel", **ret))
        await shows(sim, ("-1 Brezel    -1,99 €", "SUMME        -1,99 €"))

    run(EPSON, scenario)
