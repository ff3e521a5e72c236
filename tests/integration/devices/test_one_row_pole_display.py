"""A one-row customer display still shows what matters (services/display.py).

Rule under test: a one-row display shows the scanned item with its price on its row;
every other content alternates between its non-empty rows (total and change after a
cash payment, total and "thank you" after a card payment), so the total always reaches
the customer. Real path: sale events on the bus -> CustomerDisplay -> DeviceManager ->
the display codec -> a pty pair -> the emulated 1x20 display decoding those bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES, DisplayProfile
from posd_daemon.devices.manager import DeviceManager, build_display
from posd_daemon.devices.sim import SerialDisplaySim
from posd_daemon.services.display import CustomerDisplay, DisplayTexts
from posd_daemon.services.events import EventBus, SaleChanged

ALTERNATE_S = 0.3
IDLE_S = 2.0


def sale(kind: str, total: int, paid: int = 0, change: int = 0, **line: object) -> SaleChanged:
    return SaleChanged(
        kind=kind,
        sale_id="s-1",
        state="open" if kind != "posted" else "posted",
        operator_id="op",
        currency="EUR",
        total_minor=total,
        paid_minor=paid,
        change_minor=change,
        line_count=2,
        **line,  # type: ignore[arg-type]
    )


Scenario = Callable[[EventBus, SerialDisplaySim], Awaitable[None]]


@pytest.fixture(params=["epson-dm-d", "cd5220"])
def one_row(request: pytest.FixtureRequest) -> DisplayProfile:
    return replace(BUILTIN_DISPLAY_PROFILES[request.param], rows=1)


def run(profile: DisplayProfile, scenario: Scenario, texts: DisplayTexts | None = None) -> None:
    """Runs ``scenario`` against a CustomerDisplay on an emulated display (its texts:
    ``texts``, else this module's one-row timing)."""
    sim = SerialDisplaySim(profile)
    sim.start()
    manager = DeviceManager()
    manager.add(build_display("display", sim.url(9600), profile))
    manager.start()

    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        shown = texts or DisplayTexts(
            idle=("Willkommen!",), idle_after=IDLE_S, alternate_every=ALTERNATE_S
        )
        CustomerDisplay(bus, manager, shown).start()
        await scenario(bus, sim)

    try:
        asyncio.run(main())
    finally:
        manager.stop()
        sim.stop()


async def shows(sim: SerialDisplaySim, row: str, within: float = 3.0) -> None:
    ok = await asyncio.to_thread(sim.display.wait_for_lines, (row,), within)
    assert ok, f"the display never showed {row!r}; it shows {sim.display.lines!r}"


def test_scans_show_the_item_and_its_price_on_the_row(one_row: DisplayProfile) -> None:
    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        await shows(sim, "Willkommen!")
        bus.publish(sale("created", 0))
        await shows(sim, "SUMME         0,00 €")
        bus.publish(sale("line_added", 120, line_name="Brötchen", line_total_minor=120))
        await shows(sim, "Brötchen      1,20 €")
        bus.publish(
            sale("line_added", 330, line_name="Brezel", line_quantity="3", line_total_minor=210)
        )
        await shows(sim, "3 Brezel      2,10 €")
        # nothing else turns up on the row while the cashier scans
        await asyncio.sleep(3 * ALTERNATE_S)
        assert sim.display.lines == ("3 Brezel      2,10 €",)
        bus.publish(sale("line_removed", 120))
        await shows(sim, "SUMME         1,20 €")

    run(one_row, scenario)


def test_cash_payment_alternates_total_and_change_then_idles(one_row: DisplayProfile) -> None:
    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 330, line_name="Brezel", line_total_minor=330))
        await shows(sim, "Brezel        3,30 €")
        bus.publish(sale("payment_added", 330, paid=1000, change=670))
        for _ in range(2):  # the total and the change take turns
            await shows(sim, "SUMME         3,30 €")
            await shows(sim, "RÜCKGELD      6,70 €")
        bus.publish(sale("posted", 330, paid=1000, change=670))
        await shows(sim, "SUMME         3,30 €")
        await shows(sim, "RÜCKGELD      6,70 €")
        await shows(sim, "Willkommen!", within=IDLE_S + 2)
        # idle stays idle: the alternation ended with the sale
        await asyncio.sleep(3 * ALTERNATE_S)
        assert sim.display.lines == ("Willkommen!".ljust(20),)

    run(one_row, scenario)


def test_card_payment_shows_the_total(one_row: DisplayProfile) -> None:
    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 449, line_name="Käse", line_total_minor=449))
        await shows(sim, "Käse          4,49 €")
        bus.publish(sale("payment_added", 449, paid=449))
        await shows(sim, "SUMME         4,49 €")
        await shows(sim, "GEGEBEN       4,49 €")
        bus.publish(sale("posted", 449, paid=449))
        await shows(sim, "SUMME         4,49 €")
        await shows(sim, "Vielen Dank!")

    run(one_row, scenario)


def test_two_rows_are_unchanged() -> None:
    profile = BUILTIN_DISPLAY_PROFILES["epson-dm-d"]

    async def scenario(bus: EventBus, sim: SerialDisplaySim) -> None:
        bus.publish(sale("line_added", 120, line_name="Brötchen", line_total_minor=120))
        both = ("Brötchen      1,20 €", "SUMME         1,20 €")
        assert await asyncio.to_thread(sim.display.wait_for_lines, both, 3.0)
        bus.publish(sale("posted", 120, paid=500, change=380))
        both = ("SUMME         1,20 €", "RÜCKGELD      3,80 €")
        assert await asyncio.to_thread(sim.display.wait_for_lines, both, 3.0)
        await asyncio.sleep(3 * ALTERNATE_S)
        assert sim.display.lines == both  # nothing alternates on two rows

    run(profile, scenario)
