"""Back-office orders: stored as the back office sends them, loaded into a sale here.

``load`` builds the sale through the sale's own use cases (create, customer, currency,
lines), in the one transaction of the LoadOrder call, so a refusal anywhere leaves
nothing behind. A line with an order price gets it like a price override, journaled
with the order as the reason (the back office agreed the price; no PRICE_OVERRIDE
permission of the cashier is asked). Posting, cancelling or deleting the sale moves
the order on in that same transaction (triggers of schema 12, store/migrations); a sale
handed over to another register makes it read TRANSFERRED here (store/orders.py), and
the taking register links its own OPEN copy of the order, if any (``import_transferred``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from posd_daemon.domain.catalog import Tracking
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid, not_found, precondition
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.order import LinePick, Order, OrderState, picked_lines
from posd_daemon.domain.pricing import fmt_decimal
from posd_daemon.domain.sale import MAX_NOTE, Sale, SaleState
from posd_daemon.domain.text import check_code
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.services.sales import SaleCommands
from posd_daemon.store import catalog as catalog_store
from posd_daemon.store import customers as customer_store
from posd_daemon.store import orders as order_store
from posd_daemon.store import sales as sale_store

#: How long a LoadOrder waits for hand-overs to this register under way. One hand-over
#: waits at most 5 s for each register it asks (register_link.TIMEOUT_S), nearly always
#: one; a LoadOrder that still finds one under way is told to try again.
LOAD_WAIT_S = 8.0

#: Order lines per ListOrders page (at least one order, however large). An order holds
#: up to 500 lines (domain.order.MAX_ORDER_LINES), each up to some 300 bytes with its
#: text: a page of 1000 orders, or the default 50 of large ones, would be past the 4 MiB
#: the daemon sends and a client takes by default (gRPC's message limits), and fail.
MAX_PAGE_LINES = 5000


class OrderGuard:
    """Keeps a register's loading of orders apart from its taking parked sales over.

    Taking a parked sale over (ResumeSale of another register's slip) sends the orders
    this register has loaded, and the other register hands over no sale of one of them
    (register_link ``ORDERS_IN_USE_KEY``). The sale's order is known here only when the
    sale arrives, and it is LOADED here only once its import commits. An order loaded
    here between the two would end in two sales here (the new one and the handed-over
    one), both payable. So a hand-over runs, from before that list is read until its
    import committed, while no LoadOrder runs, and one at a time (two hand-overs under
    way could each bring a sale of the same order); a LoadOrder waits for it (at most
    :data:`LOAD_WAIT_S`) and then sees the imported sale's order LOADED. One register,
    one event loop: an asyncio lock is enough."""

    def __init__(self, load_wait_s: float = LOAD_WAIT_S) -> None:
        self._lock = asyncio.Lock()
        self._load_wait_s = load_wait_s
        self._handing_over = False

    @property
    def handing_over(self) -> bool:
        """Whether a hand-over holds the guard (StoreLink.fetch reads loaded orders only
        then)."""
        return self._handing_over

    @asynccontextmanager
    async def hand_over(self) -> AsyncIterator[None]:
        """Held from before the loaded orders are read until the sale is imported.
        Waits without a bound of its own: a LoadOrder holds the guard for one write, a
        hand-over as long as its asking takes (bounded there); the caller's deadline
        ends the wait (nothing was asked yet then)."""
        async with self._lock:
            self._handing_over = True
            try:
                yield
            finally:
                self._handing_over = False

    @asynccontextmanager
    async def load(self) -> AsyncIterator[None]:
        """Held while a LoadOrder checks and loads its order: after any hand-over under
        way (its order is then LOADED here if it was this one), and before the next
        hand-over reads the loaded orders (this one is then among them)."""
        try:
            async with asyncio.timeout(self._load_wait_s):
                await self._lock.acquire()
        except TimeoutError:
            raise DomainError(
                ErrorKind.UNAVAILABLE,
                "ORDER_HAND_OVER_UNDER_WAY",
                "this register is taking a parked sale over from another register (its"
                " order is known once it arrives): load the order again in a moment",
            ) from None
        try:
            yield
        finally:
            self._lock.release()


class OrderCommands:
    def __init__(self, sales: SaleCommands, clock: Clock) -> None:
        self.sales = sales
        self._clock = clock

    # -- queries ----------------------------------------------------------------------

    def get(self, conn: sqlite3.Connection, order_number: str) -> Order:
        check_code(order_number, "order_number")
        order = order_store.get(conn, order_number)
        if order is None:
            raise not_found(
                "ORDER_NOT_FOUND", f"no order {order_number!r}", order_number=order_number
            )
        return order

    def list(
        self,
        conn: sqlite3.Connection,
        state: OrderState | None,
        customer_number: str,
        page_size: int,
        page_token: str,
    ) -> tuple[list[Order], str]:
        if customer_number:
            check_code(customer_number, "customer_number")
        size = paging.page_size(page_size, default=50)
        scope = (state, customer_number)
        after = paging.decode(page_token, "o", scope) if page_token else ""
        rows = order_store.list_page(
            conn, state=state, customer_number=customer_number, after=after, limit=size + 1
        )
        more = len(rows) > size
        rows, cut = paging.within_budget(rows[:size], lambda o: len(o.lines), MAX_PAGE_LINES)
        more = more or cut
        token = paging.encode("o", rows[-1].order_number, scope) if more and rows else ""
        return rows, token

    # -- commands ---------------------------------------------------------------------

    def put(self, tx: Tx, order: Order) -> bool:
        """Creates or replaces an order (one row of UpsertOrders); True when created.
        A LOADED or COMPLETED order is refused (ORDER_IN_USE), unless it comes unchanged
        (the back office resending its orders, a retry): it is left as it is, and the
        batch it came in goes on. A line in a unit its item lacks is refused, and so is
        a lot or serial number the item does not have here (see :func:`_check_tracking`)."""
        existing = order_store.get(tx.conn, order.order_number)
        if existing is not None:
            if existing.state is not OrderState.OPEN and _same_content(existing, order):
                return False
            existing.check_replaceable()
        _check_units(tx.conn, order)
        _check_tracking(tx.conn, order, self.sales.context(tx.conn).register.location_id)
        order_store.put(tx.conn, order, self._clock())
        return existing is None

    def load(
        self,
        tx: Tx,
        operator: Operator,
        order_number: str,
        *,
        before_create: Callable[[], None] | None = None,
        picks: Sequence[LinePick] = (),
    ) -> tuple[Sale, Order]:
        """The order in a new open sale of this register; the same sale while it is
        still open or parked (also for another request id). ``before_create`` runs (and
        may refuse) only when a new sale is started: the register's rule against a new
        sale while the drawer is open is no reason to refuse the cashier the sale the
        order is in already. ``picks``: the lots and serial numbers the cashier picked
        for lines that reserved none; a line of a tracked item without one is refused
        as AddLine refuses that item without it (SERIAL_REQUIRED, LOT_REQUIRED), naming
        the line, so the cashier picks the piece and loads again."""
        operator.require(Permission.SALE)
        order = self.get(tx.conn, order_number)
        order.check_loadable()
        if order.state is OrderState.LOADED:
            sale = self.sales.get(tx.conn, order.sale_id)
            if sale.state in (SaleState.OPEN, SaleState.PARKED):
                _check_picks_held(order, sale, picks)
                return sale, order
            raise precondition(
                "ORDER_IN_USE",
                f"order {order_number} is in sale {sale.sale_id}, which is"
                f" {sale.state.value} (held by register {sale.held_by or sale.register_id})",
                order_number=order_number,
                sale_id=sale.sale_id,
            )
        lines = picked_lines(order, picks)
        self._check_references(tx.conn, order)
        if before_create is not None:
            before_create()
        now = self._clock()
        sale = self.sales.create(tx, operator)
        try:
            if order.customer_number:
                # in the order's currency: the order says what it is owed in (the
                # customer's default, a Swiss customer's francs, needed a rate it never
                # uses and refused a euro order at a register without one)
                sale = self.sales.set_customer(
                    tx,
                    operator,
                    sale.sale_id,
                    order.customer_number,
                    recalculate_lines=None,
                    currency=order.currency,
                )
            elif sale.currency != order.currency:
                sale = self.sales.set_currency(tx, operator, sale.sale_id, order.currency)
        except DomainError as exc:
            # no exchange rate for the order's currency: the refusal names the order
            raise _order_refused(order.order_number, exc) from None
        # linked after the customer is set: from here on the customer is the order's
        sale.order_number = order.order_number
        self.sales.save_sale(tx, sale)
        for position, line in enumerate(lines, start=1):
            try:
                added = self.sales.add_line(
                    tx,
                    operator,
                    sale.sale_id,
                    item_id=line.item_id,
                    quantity=fmt_decimal(line.quantity),
                    variant_id=line.variant_id,
                    # an agreed unit_price below is per this unit, as the line's price
                    unit=line.unit,
                    # checked again as AddLine checks them: sold or moved since the
                    # back office reserved it, an expired lot
                    lot=line.lot,
                    serial=line.serial,
                    # what the customer ordered beyond the item (an engraving, a repair's
                    # description) goes on the receipt as the line's note
                    note=_note(line.text),
                )
                sale = added.sale
                if line.unit_price is not None:
                    self._order_price(
                        tx, operator, sale, order, added.line_id, line.unit_price, position
                    )
            except DomainError as exc:
                raise _line_refused(order.order_number, position, line.item_id, exc) from None
        order_store.mark_loaded(tx.conn, order.order_number, sale.sale_id, now)
        self.sales.journal_sale(
            tx,
            "ORDER_LOADED",
            sale,
            {
                "order_number": order.order_number,
                "customer_number": order.customer_number,
                "lines": len(order.lines),
                "operator_id": operator.operator_id,
            },
        )
        return sale, self.get(tx.conn, order.order_number)

    def _order_price(
        self,
        tx: Tx,
        operator: Operator,
        sale: Sale,
        order: Order,
        line_id: str,
        unit_price: int,
        position: int,
    ) -> None:
        """The order's agreed price for a line: a price override naming the order."""
        sale_line, old = sale.override_price(line_id, unit_price, agreed=True)
        self.sales.save_sale(tx, sale)
        self.sales.journal_sale(
            tx,
            "PRICE_OVERRIDE",
            sale,
            {
                "line_id": sale_line.line_id,
                "item_id": sale_line.item_id,
                "variant_id": sale_line.variant_id,
                "old_unit_price": old,
                "new_unit_price": unit_price,
                "list_price": sale_line.list_price,
                "currency": sale.currency,
                "vat_direction": sale.vat_direction.value,
                "operator_id": operator.operator_id,
                "reason": f"order {order.order_number} line {position}",
                "order_number": order.order_number,
            },
        )

    def _check_references(self, conn: sqlite3.Connection, order: Order) -> None:
        """Every item, variant and the customer exist: else a refusal naming the first
        missing one, before anything is written."""
        number = order.order_number
        if order.customer_number and customer_store.get(conn, order.customer_number) is None:
            raise precondition(
                "ORDER_CUSTOMER_UNKNOWN",
                f"order {number}: customer {order.customer_number!r} is not known here",
                order_number=number,
                customer_number=order.customer_number,
            )
        for position, line in enumerate(order.lines, start=1):
            item = catalog_store.get(conn, line.item_id)
            if item is None:
                raise precondition(
                    "ORDER_ITEM_UNKNOWN",
                    f"order {number} line {position}: item {line.item_id!r} is not in the catalog",
                    order_number=number,
                    item_id=line.item_id,
                    line=str(position),
                )
            if line.variant_id and item.variant(line.variant_id) is None:
                raise precondition(
                    "ORDER_ITEM_UNKNOWN",
                    f"order {number} line {position}: item {line.item_id} has no variant"
                    f" {line.variant_id!r}",
                    order_number=number,
                    item_id=line.item_id,
                    variant_id=line.variant_id,
                    line=str(position),
                )


def _note(text: str) -> str:
    """An order line's text as a note. An order stored before its text was held to
    :data:`MAX_NOTE` (200 characters then) may be longer: cut with "…" rather than leave
    it unloadable."""
    return text if len(text) <= MAX_NOTE else text[: MAX_NOTE - 1].rstrip() + "…"


def _check_units(conn: sqlite3.Connection, order: Order) -> None:
    """Every line's unit is one its item is sold in (as AddLine's ``unit``): else the
    order would load nothing but a refusal. An item not in the catalog yet is left to
    LoadOrder (ORDER_ITEM_UNKNOWN), as without a unit; LoadOrder checks the unit again
    (adding the line), since the catalog may drop it in between."""
    for index, line in enumerate(order.lines):
        if not line.unit:
            continue
        item = catalog_store.get(conn, line.item_id)
        if item is None or item.unit_of(line.unit) is not None:
            continue
        raise invalid(
            f"order.lines[{index}].unit",
            f"order {order.order_number} line {index + 1}: item {line.item_id} has no unit"
            f" {line.unit!r}; it is sold in "
            + ", ".join([item.unit, *(u.unit for u in item.units)]),
            "UNKNOWN_UNIT",
        )


def _check_tracking(conn: sqlite3.Connection, order: Order, location_id: str) -> None:
    """A reserved serial number is one of the item's, in stock at this register's
    location and not sold; a reserved lot one of the item's lots (as AddLine checks
    them; LoadOrder checks them again, adding the line). A line of a serial-numbered
    item is one piece, as AddLine's (SERIAL_QUANTITY_IS_ONE: an order for two phones
    has two lines): else the order would load nothing but a refusal. A line reserving
    nothing is left to the cashier, who picks the lot or piece when loading it."""
    reserved: dict[tuple[str, str], int] = {}
    for index, line in enumerate(order.lines):
        where = f"order.lines[{index}]"
        name = f"order {order.order_number} line {index + 1}: item {line.item_id}"
        item = catalog_store.get(conn, line.item_id)
        tracking = None if item is None else item.tracking
        if line.lot:
            if tracking is not None and tracking is not Tracking.LOT:
                raise invalid(
                    f"{where}.lot_number", f"{name} is not lot-tracked", "NOT_LOT_TRACKED"
                )
            lots = [
                r for r in catalog_store.lots_by_number(conn, line.lot) if r.item_id == line.item_id
            ]
            if not lots:
                raise invalid(
                    f"{where}.lot_number", f"{name} has no lot {line.lot!r}", "LOT_NOT_FOUND"
                )
            held_by = lots[0].variant_id  # one variant's, as AddLine checks it
            if line.variant_id and held_by and held_by != line.variant_id:
                raise invalid(
                    f"{where}.lot_number",
                    f"{name}: lot {line.lot!r} is variant {held_by!r}, not {line.variant_id!r}",
                    "LOT_OF_OTHER_VARIANT",
                )
        if line.serial:
            if tracking is not None and tracking is not Tracking.SERIAL:
                raise invalid(
                    f"{where}.serial_number", f"{name} is not serial-numbered", "NOT_SERIAL_TRACKED"
                )
            # the order itself sent again (an import retried) holds its own reservation
            problem = catalog_store.serial_not_here(
                conn, line.item_id, line.serial, location_id, order.order_number
            )
            if problem is not None:
                reason, message, _ = problem
                raise invalid(f"{where}.serial_number", f"{name}: {message}", reason)
            # a piece in a customer's basket (open or parked): reserved, it would refuse
            # that sale's post after the customer paid (as AddLine refuses a second sale)
            other = sale_store.serial_in_other_sale(conn, line.item_id, line.serial)
            if other is not None:
                raise invalid(
                    f"{where}.serial_number",
                    f"{name}: serial number {line.serial} is on a {other[1].lower()} sale"
                    f" ({other[0]})",
                    "SERIAL_IN_OTHER_SALE",
                )
            first = reserved.setdefault((line.item_id, line.serial), index)
            if first != index:
                raise invalid(
                    f"{where}.serial_number",
                    f"{name}: serial number {line.serial} is on line {first + 1} already",
                    "SERIAL_ALREADY_IN_ORDER",
                )
        if (line.serial or tracking is Tracking.SERIAL) and line.quantity != 1:
            raise invalid(
                f"{where}.quantity",
                f"{name}: a serial number is one piece, send one line of quantity 1 per piece",
                "SERIAL_QUANTITY_IS_ONE",
            )


def _check_picks_held(order: Order, sale: Sale, picks: Sequence[LinePick]) -> None:
    """The order is in ``sale`` already: a pick (a retry's, or a cashier's who scanned the
    piece again) must name what the sale holds for that line's item, else the cashier
    would believe the sale carries the piece just scanned."""
    for ln in picked_lines(order, picks):
        held = [x for x in sale.lines if x.item_id == ln.item_id]
        if (ln.lot or ln.serial) and not any(
            (not ln.lot or x.lot == ln.lot) and (not ln.serial or x.serial == ln.serial)
            for x in held
        ):
            have = ", ".join(x.serial or x.lot for x in held if x.serial or x.lot) or "none"
            raise precondition(
                "ORDER_ALREADY_LOADED",
                f"order {order.order_number} is in sale {sale.sale_id} already, whose"
                f" item {ln.item_id} holds {have}, not {ln.serial or ln.lot}: change the"
                " sale's line instead",
                order_number=order.order_number,
                sale_id=sale.sale_id,
                item_id=ln.item_id,
            )


def _line_refused(order_number: str, position: int, item_id: str, exc: DomainError) -> DomainError:
    """A refusal of adding an order line (a fraction of an item sold in whole pieces, a
    voucher, a total out of range), naming the order line. LoadOrder's request holds
    only the order number: a field violation ("quantity") would blame a field the
    client never sent, and INVALID_ARGUMENT tells it to fix its request, when the order
    the back office sent is what does not fit the catalog (FAILED_PRECONDITION)."""
    return _order_refused(
        order_number,
        exc,
        f" line {position} (item {item_id})",
        line=str(position),
        item_id=item_id,
    )


def _order_refused(
    order_number: str, exc: DomainError, where: str = "", **metadata: str
) -> DomainError:
    """A refusal of loading an order (``where`` in it, and ``metadata`` about that), naming
    the order: LoadOrder's request holds only the order number, so what the refusal
    names otherwise (a currency, an item) does not tell the cashier which order it is;
    an INVALID_ARGUMENT becomes FAILED_PRECONDITION (see ``_line_refused``)."""
    kind = ErrorKind.FAILED_PRECONDITION if exc.kind is ErrorKind.INVALID_ARGUMENT else exc.kind
    return DomainError(
        kind,
        exc.reason,
        f"order {order_number}{where}: {exc.message}",
        metadata={**exc.metadata, "order_number": order_number, **metadata},
    )


def _same_content(stored: Order, sent: Order) -> bool:
    """The order as the back office sent it is the one stored (customer, currency,
    lines; Decimal quantities compare by value: "2" is "2.0")."""
    return (
        stored.customer_number == sent.customer_number
        and stored.currency == sent.currency
        and stored.lines == sent.lines
    )
