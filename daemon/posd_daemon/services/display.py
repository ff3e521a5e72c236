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

from posd_daemon.devices.charset import nfc
from posd_daemon.devices.display import DisplayProfile, can_show
from posd_daemon.devices.manager import DeviceManager, DisplayDevice
from posd_daemon.devices.model import DeviceClass
from posd_daemon.domain.money import format_minor
from posd_daemon.domain.receipt import decimal_comma
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
    #: the currency of ``change_minor`` when not ``currency`` (foreign cash whose change
    #: is paid out in the local currency)
    change_currency: str = ""


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


def money_text(minor: int, currency: str, profile: DisplayProfile | None = None) -> str:
    """``1,20 €``; with the display's ``profile``, the ISO 4217 code where its code page
    lacks the symbol (PC852, which Slovak shops paying in euro need, has no €)."""
    symbol = _SYMBOLS.get(currency, currency)
    if profile is not None and not can_show(symbol, profile):
        symbol = currency
    return f"{format_minor(minor, currency, sep=',')} {symbol}"


def amount_row(label: str, amount: str, width: int) -> str:
    """``label`` left, ``amount`` right-aligned in ``width`` columns.

    Columns are counted after NFC, as the display shows them (a name imported
    decomposed, "a" + U+0308, would otherwise push the amount one column left). The
    label is cut to make room, never the amount: without room, the currency goes
    first, and a number that still does not fit shows as '#' rather than as other
    digits."""
    label, amount = nfc(label), nfc(amount)
    if len(amount) > width:
        amount = amount.rsplit(" ", 1)[0]
    if len(amount) > width:
        amount = "#" * width
    room = width - len(amount) - 1
    if room < 1:
        return amount.rjust(width)
    return f"{label[:room]:<{room}} {amount}"


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
        profile = self.profile
        return profile.columns if profile is not None else self.texts.columns

    @property
    def profile(self) -> DisplayProfile | None:
        device = self.manager.first(DeviceClass.DISPLAY)
        return device.profile if isinstance(device, DisplayDevice) else None

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
        t, w, cur, profile = self.texts, self.columns, e.currency, self.profile

        def row(label: str, minor: int) -> str:
            return amount_row(label, money_text(minor, cur, profile), w)

        total = row(t.total, e.total_minor)

        def content(
            mode: str,
            lines: tuple[str, ...],
            name: str = "",
            qty: str = "",
            amount: int = 0,
            change: tuple[int, str] = (e.change_minor, ""),
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
                change_minor=change[0],
                currency=cur,
                change_currency=change[1],
            )

        if e.kind in ("line_added", "line_updated") and e.line_name:
            # a weight or length needs its unit to mean anything ("0.345 kg Gouda");
            # pieces keep the short form ("3 Brezel"), as the receipt does
            unit = "" if e.line_unit in ("", "pcs") else e.line_unit
            qty = e.line_quantity if e.line_quantity not in ("", "1") or unit else ""
            # the API's quantity has a decimal point; the display's amounts a comma
            qty = decimal_comma(qty)
            name = (
                " ".join(part for part in (qty, unit, e.line_name) if part) if qty else e.line_name
            )
            return content(
                "line",
                (row(name, e.line_total_minor), total),
                e.line_name,
                e.line_quantity,
                e.line_total_minor,
            )
        # a resumed sale shows its running total again (its last line is long gone)
        if e.kind in ("created", "line_removed", "line_updated", "payment_removed", "resumed"):
            return content("total", ("", total))
        if e.kind == "payment_added":
            paid = row(t.paid, e.paid_minor)
            if e.change_minor:
                paid = row(t.change, e.change_minor)
            return content("total", (total, paid))
        if e.kind == "posted":
            # the change the customer is handed: foreign cash's change paid out in the
            # local currency is that amount, cash-rounded (5.00 CHF due back are 5.25 EUR
            # paid out, 0.02 CHF nothing), not the figure in the sale's currency
            change = (e.change_minor, "")
            if e.change_currency:
                change = (e.change_paid_minor, e.change_currency)
            second = (
                amount_row(t.change, money_text(change[0], change[1] or cur, profile), w)
                if change[0]
                else t.thanks
            )
            self._schedule_idle(e.sale_id)
            return content("change", (total, second), change=change)
        # a parked sale's total must not stay up for the next customer; another sale of
        # the register (a second UI, a stale sale) going away leaves the one on display
        if e.kind in ("cancelled", "parked", "transferred"):
            shown = self.current.sale_id
            if shown and shown != e.sale_id:
                return None
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
