"""A display test must not leave its test pattern in front of the customer.

Rule under test (devices/manager.py, DisplayDevice): an external or interactive health
check of the customer display (``posctl test display``, DeviceService.CheckHealth) shows
the test pattern long enough for a technician to read it, then the display shows again
what it showed before (the sale's lines, or the idle text) without any further sale
event; a sale update meanwhile replaces the pattern at once and is not undone later. What
the daemon reports as shown (the device snapshot's ``display_lines``) is at every step
what the display really shows.

Real path: sale events on the bus -> CustomerDisplay -> DeviceManager -> the display
codec -> a pty pair -> the emulated 2x20 display decoding those bytes; the checks go
through DisplayDevice.check_health as the DeviceService and posctl call it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from posd_daemon.devices.display import BUILTIN_DISPLAY_PROFILES
from posd_daemon.devices.manager import DeviceManager, DisplayDevice, build_display
from posd_daemon.devices.model import HealthLevel, HealthStatus
from posd_daemon.devices.sim import SerialDisplaySim
from posd_daemon.devices.testpage import DISPLAY_TEST_LINES
from posd_daemon.services.display import CustomerDisplay, DisplayTexts
from posd_daemon.services.events import EventBus, SaleChanged

PROFILE = BUILTIN_DISPLAY_PROFILES["epson-dm-d"]
IDLE = ("Willkommen!", "")
SALE_LINES = ("Brötchen      1,20 €", "SUMME         1,20 €")
#: how long a test may take to bring the content back after the pattern's time is up
SLACK_S = 2.0

Scenario = Callable[[EventBus, SerialDisplaySim, DisplayDevice], Awaitable[None]]


def sale(kind: str, total: int, **line: object) -> SaleChanged:
    return SaleChanged(
        kind=kind,
        sale_id="s-1",
        state="open",
        operator_id="op",
        currency="EUR",
        total_minor=total,
        paid_minor=0,
        change_minor=0,
        line_count=1,
        **line,  # type: ignore[arg-type]
    )


def run(scenario: Scenario) -> None:
    sim = SerialDisplaySim(PROFILE)
    sim.start()
    manager = DeviceManager()
    device = manager.add(build_display("display", sim.url(9600), PROFILE))
    assert isinstance(device, DisplayDevice)
    manager.start()

    async def main() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        # idle_after is long: nothing but the test itself may change the display here
        CustomerDisplay(bus, manager, DisplayTexts(idle=IDLE, idle_after=600)).start()
        await shows(sim, IDLE)
        await scenario(bus, sim, device)

    try:
        asyncio.run(main())
    finally:
        manager.stop()
        sim.stop()


async def shows(sim: SerialDisplaySim, rows: tuple[str, ...], within: float = 3.0) -> None:
    ok = await asyncio.to_thread(sim.display.wait_for_lines, rows, within)
    assert ok, f"the display never showed {rows!r}; it shows {sim.display.lines!r}"


def reported(device: DisplayDevice) -> tuple[str, ...]:
    """What the daemon says the display shows, padded as the display pads it."""
    lines = device.snapshot().display_lines
    return tuple(line.ljust(PROFILE.columns) for line in (*lines, "")[: PROFILE.rows])


def actual(sim: SerialDisplaySim) -> tuple[str, ...]:
    return tuple(sim.display.lines)


def padded(rows: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(line.ljust(PROFILE.columns) for line in rows)


async def check(device: DisplayDevice, level: HealthLevel) -> None:
    report = await asyncio.wrap_future(device.check_health(level))
    assert report.status in (HealthStatus.OK, HealthStatus.PENDING_CONFIRMATION), report


async def pattern_then(
    sim: SerialDisplaySim, device: DisplayDevice, level: HealthLevel, back: tuple[str, ...]
) -> None:
    """The check shows the pattern (and says so), then ``back`` returns by itself."""
    await check(device, level)
    await shows(sim, DISPLAY_TEST_LINES)
    assert reported(device) == actual(sim)
    hold = device.test_pattern_seconds[level]
    await shows(sim, back, within=hold + SLACK_S)
    assert reported(device) == actual(sim)
    # and it stays that way: nothing brings the pattern back
    await asyncio.sleep(0.5)
    assert actual(sim) == padded(back)
    assert reported(device) == actual(sim)


def test_the_sale_comes_back_after_an_external_check() -> None:
    async def scenario(bus: EventBus, sim: SerialDisplaySim, device: DisplayDevice) -> None:
        bus.publish(sale("line_added", 120, line_name="Brötchen", line_total_minor=120))
        await shows(sim, SALE_LINES)
        await pattern_then(sim, device, HealthLevel.EXTERNAL, SALE_LINES)

    run(scenario)


def test_the_idle_text_comes_back_after_an_interactive_check() -> None:
    async def scenario(bus: EventBus, sim: SerialDisplaySim, device: DisplayDevice) -> None:
        # the technician's time to read the pattern, shortened for the test
        device.test_pattern_seconds[HealthLevel.INTERACTIVE] = 1.0
        await pattern_then(sim, device, HealthLevel.INTERACTIVE, IDLE)

    run(scenario)


def test_a_scan_during_the_pattern_wins_and_is_not_undone() -> None:
    async def scenario(bus: EventBus, sim: SerialDisplaySim, device: DisplayDevice) -> None:
        bus.publish(sale("line_added", 120, line_name="Brötchen", line_total_minor=120))
        await shows(sim, SALE_LINES)
        await check(device, HealthLevel.EXTERNAL)
        await shows(sim, DISPLAY_TEST_LINES)
        bus.publish(sale("line_added", 330, line_name="Brezel", line_total_minor=210))
        now = ("Brezel        2,10 €", "SUMME         3,30 €")
        await shows(sim, now, within=1.0)  # at once, not after the pattern's time
        assert reported(device) == actual(sim)
        # the pattern's time running out must not bring back the older sale lines
        await asyncio.sleep(device.test_pattern_seconds[HealthLevel.EXTERNAL] + 0.5)
        assert actual(sim) == padded(now)
        assert reported(device) == actual(sim)

    run(scenario)


def test_a_second_check_keeps_the_pattern_for_its_own_time() -> None:
    """Two checks in a row: the first one's timer must not cut the second one short,
    and what comes back is the sale, not the pattern."""

    async def scenario(bus: EventBus, sim: SerialDisplaySim, device: DisplayDevice) -> None:
        hold = device.test_pattern_seconds[HealthLevel.EXTERNAL]
        bus.publish(sale("line_added", 120, line_name="Brötchen", line_total_minor=120))
        await shows(sim, SALE_LINES)
        await check(device, HealthLevel.EXTERNAL)
        await asyncio.sleep(hold / 2)
        await check(device, HealthLevel.EXTERNAL)
        await asyncio.sleep(hold / 2 + 0.3)  # past the first check's time
        assert actual(sim) == padded(DISPLAY_TEST_LINES)
        assert reported(device) == actual(sim)
        await shows(sim, SALE_LINES, within=hold / 2 + SLACK_S)
        assert reported(device) == actual(sim)

    run(scenario)
