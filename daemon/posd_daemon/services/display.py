"""The customer display: what the customer sees, driven by sale events.

* While scanning: the last line added (name and amount) and the running total.
* After payment: the total and the change; after ``idle_after`` seconds the idle message.
* No sale (also once the sale is parked): a configurable idle message; a resumed sale
  shows its running total again.

A display with a single row (``DisplayProfile.rows == 1``) cannot show an item and the
total at once, so it follows one rule:

* after a scan the row shows the item and its price (name left, price right, as on
  the first row of a 2-row display); the running total follows at payment time, and
  the next scan comes within seconds anyway;
* any other content takes turns on the row, one non-empty line every
  ``DisplayTexts.alternate_every`` seconds in their 2-row order: the total and the
  change after a cash payment (the total and what was given or "thank you" otherwise),
  the total alone while it is the only line; until the next content replaces it.

Every update is published as a :class:`DisplayContent` event with its meaning (not only
the 2x20 text), so a graphical customer display app can follow the same content.
Runs on the event loop (a bus listener); the pole display itself is written by its
device thread, the latest update winning when they come faster than the display.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from posd_daemon.devices.manager import DeviceManager, DisplayDevice
from posd_daemon.devices.model import DeviceClass
from posd_daemon.domain.money import format_minor
from posd_daemon.domain.receipt import two_cols
from posd_daemon.services.events import Event, EventBus, SaleChanged

_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "CHF": "CHF", "JPY": "¥"}


@dataclass(frozen=True, slots=True)
class DisplayContent:
    """What the customer display shows, with its meaning."""

    #: idle, line, total, change, custom
    mode: str
    lines: tuple[str, ...]
    sale_id: str = ""
    item_name: str = ""
    item_quantity: str = ""
    item_amount_minor: int = 0
    total_minor: int = 0
    paid_minor: int = 0
    change_minor: int = 0
    currency: str = ""


@dataclass(frozen=True, slots=True)
class DisplayTexts:
    idle: tuple[str, ...] = ("Willkommen!", "")
    total: str = "SUMME"
    change: str = "RÜCKGELD"
    paid: str = "GEGEBEN"
    thanks: str = "Vielen Dank!"
    idle_after: float = 10.0
    columns: int = 20
    #: One-row displays: seconds each line stays up when lines take turns.
    alternate_every: float = 2.0


def money_text(minor: int, currency: str) -> str:
    symbol = _SYMBOLS.get(currency, currency)
    return f"{format_minor(minor, currency, sep=',')} {symbol}"


class CustomerDisplay:
    def __init__(
        self,
        bus: EventBus,
        manager: DeviceManager,
        texts: DisplayTexts | None = None,
        *,
        call_later: Callable[[float, Callable[[], None]], asyncio.TimerHandle] | None = None,
    ) -> None:
        self.bus = bus
        self.manager = manager
        self.texts = texts or DisplayTexts()
        self._call_later = call_later
        self._idle_timer: asyncio.TimerHandle | None = None
        self._turn_timer: asyncio.TimerHandle | None = None
        self.current = DisplayContent("idle", self.texts.idle)

    @property
    def columns(self) -> int:
        device = self.manager.first(DeviceClass.DISPLAY)
        if isinstance(device, DisplayDevice):
            return device.profile.columns
        return self.texts.columns

    def start(self) -> None:
        self.bus.add_listener(self.on_event)
        self.show(DisplayContent("idle", self.texts.idle))

    def on_event(self, event: Event) -> None:
        payload = event.payload
        if isinstance(payload, SaleChanged):
            content = self.content_for(payload)
            if content is not None:
                self.show(content)

    def content_for(self, e: SaleChanged) -> DisplayContent | None:
        t, w, cur = self.texts, self.columns, e.currency
        total = two_cols(t.total, money_text(e.total_minor, cur), w)

        def content(
            mode: str, lines: tuple[str, ...], name: str = "", qty: str = "", amount: int = 0
        ) -> DisplayContent:
            return DisplayContent(
                mode,
                lines,
                sale_id=e.sale_id,
                item_name=name,
                item_quantity=qty,
                item_amount_minor=amount,
                total_minor=e.total_minor,
                paid_minor=e.paid_minor,
                change_minor=e.change_minor,
                currency=cur,
            )

        if e.kind in ("line_added", "line_updated") and e.line_name:
            amount = money_text(e.line_total_minor, cur)
            qty = e.line_quantity if e.line_quantity not in ("", "1") else ""
            name = f"{qty} {e.line_name}" if qty else e.line_name
            return content(
                "line",
                (two_cols(name, amount, w), total),
                e.line_name,
                e.line_quantity,
                e.line_total_minor,
            )
        # a resumed sale shows its running total again (its last line is long gone)
        if e.kind in ("created", "line_removed", "line_updated", "payment_removed", "resumed"):
            return content("total", ("", total))
        if e.kind == "payment_added":
            paid = two_cols(t.paid, money_text(e.paid_minor, cur), w)
            if e.change_minor:
                paid = two_cols(t.change, money_text(e.change_minor, cur), w)
            return content("total", (total, paid))
        if e.kind == "posted":
            second = (
                two_cols(t.change, money_text(e.change_minor, cur), w)
                if e.change_minor
                else t.thanks
            )
            self._schedule_idle(e.sale_id)
            return content("change", (total, second))
        # a parked sale's total must not stay up for the next customer
        if e.kind in ("cancelled", "parked", "transferred"):
            return DisplayContent("idle", self.texts.idle)
        return None

    def _schedule_idle(self, sale_id: str) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        call_later = self._call_later_fn()

        def back_to_idle() -> None:
            self._idle_timer = None
            if self.current.sale_id == sale_id and self.current.mode == "change":
                self.show(DisplayContent("idle", self.texts.idle))

        self._idle_timer = call_later(self.texts.idle_after, back_to_idle)

    def show_custom(self, lines: Sequence[str]) -> DisplayContent:
        content = DisplayContent("custom", tuple(lines))
        self.show(content)
        return content

    def _call_later_fn(self) -> Callable[[float, Callable[[], None]], asyncio.TimerHandle]:
        return self._call_later or asyncio.get_running_loop().call_later

    def show(self, content: DisplayContent) -> None:
        if content.mode != "change" and self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._turn_timer is not None:
            self._turn_timer.cancel()
            self._turn_timer = None
        self.current = content
        device = self.manager.first(DeviceClass.DISPLAY)
        device_id = ""
        if isinstance(device, DisplayDevice):
            turns = self.one_row_turns(content) if device.profile.rows == 1 else ()
            device.show(turns[0] if turns else content.lines)
            if len(turns) > 1:
                self._take_turns(device, content, turns, 1)
            device_id = device.device_id
        self.bus.publish(content, device_id)

    @staticmethod
    def one_row_turns(content: DisplayContent) -> tuple[tuple[str], ...]:
        """What a one-row display shows for ``content``, turn by turn (module docstring):
        the item row after a scan, otherwise each non-empty line in turn."""
        if content.mode == "line":
            return ((content.lines[0],),)
        turns = tuple((line,) for line in content.lines if line.strip())
        return turns or (("",),)

    def _take_turns(
        self,
        device: DisplayDevice,
        content: DisplayContent,
        turns: tuple[tuple[str], ...],
        index: int,
    ) -> None:
        def next_turn() -> None:
            self._turn_timer = None
            if self.current is content:  # a newer content stopped the turns
                device.show(turns[index])
                self._take_turns(device, content, turns, (index + 1) % len(turns))

        self._turn_timer = self._call_later_fn()(self.texts.alternate_every, next_turn)
