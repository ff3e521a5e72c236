"""Shops, registers and exchange rates: master data use cases and the sale's context."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

from posd_daemon.domain.customer import Customer
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid, not_found, precondition
from posd_daemon.domain.money import check_currency
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.sale import Terms
from posd_daemon.domain.shop import RateSource, Register, Shop, check_rate_age
from posd_daemon.domain.text import check_code
from posd_daemon.ops import logging as plog
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.services.imports import claim_record
from posd_daemon.store import customers as customer_store
from posd_daemon.store import shops as store
from posd_daemon.store.shops import DailyRate

log = plog.get("posd.shops")


@dataclass(frozen=True, slots=True)
class ShopContext:
    register: Register
    shop: Shop


class MasterVersion:
    """Counts changes of shops and registers, so a reader can cache what it read.

    All writes to shops and registers go through :class:`ShopCommands` on the one
    database connection and bump it (also when the write is rolled back later: that
    only costs one re-read)."""

    def __init__(self) -> None:
        self.generation = 0

    def bump(self) -> None:
        self.generation += 1


def context(conn: sqlite3.Connection, register_id: str) -> ShopContext:
    return _load_context(conn, register_id)


class CachedContext:
    """The register's shop context, read once per change of master data."""

    def __init__(self, register_id: str, version: MasterVersion) -> None:
        self.register_id = register_id
        self.version = version
        self._cached: tuple[int, ShopContext] | None = None

    def get(self, conn: sqlite3.Connection) -> ShopContext:
        generation = self.version.generation
        if self._cached is not None and self._cached[0] == generation:
            return self._cached[1]
        ctx = _load_context(conn, self.register_id)
        self._cached = (generation, ctx)
        return ctx


def _load_context(conn: sqlite3.Connection, register_id: str) -> ShopContext:
    reg = store.get_register(conn, register_id)
    if reg is None:
        raise precondition(
            "REGISTER_NOT_CONFIGURED", f"register {register_id} has no master data (shop)"
        )
    shop = store.get_shop(conn, reg.shop_id)
    if shop is None:
        raise precondition(
            "SHOP_NOT_CONFIGURED", f"shop {reg.shop_id} of register {register_id} does not exist"
        )
    return ShopContext(reg, shop)


def terms_for(
    conn: sqlite3.Connection,
    shop: Shop,
    customer: Customer | None,
    today: date,
    current: Terms | None = None,
    currency: str | None = None,
    *,
    max_age_days: int | None = None,
) -> Terms:
    """The terms a sale with ``customer`` gets: currency, rate, VAT direction, rounding.

    A sale that keeps its currency keeps its rate (a manually adjusted rate stays),
    unless it is a daily rate now older than ``max_age_days``: then the latest daily rate
    is taken again. A daily rate older than that is refused (EXCHANGE_RATE_TOO_OLD;
    None: no limit)."""
    cur = currency or shop.currency_for(customer)
    direction = shop.direction_for(customer)
    if cur == shop.currency:
        return Terms(cur, shop.currency, direction=direction, rounding=shop.vat_rounding)
    if (
        current is not None
        and current.currency == cur
        and not (
            max_age_days is not None
            and current.rate_source is RateSource.DAILY
            and current.rate_date is not None
            and (today - current.rate_date).days > max_age_days
        )
    ):
        return Terms(
            cur,
            shop.currency,
            current.exchange_rate,
            current.rate_source,
            current.rate_date,
            direction,
            shop.vat_rounding,
        )
    fixed = shop.fixed_rate(cur)
    if fixed is not None:
        return Terms(
            cur, shop.currency, fixed, RateSource.FIXED, None, direction, shop.vat_rounding
        )
    daily = store.daily_rate(conn, shop.currency, cur, today)
    if daily is None:
        raise precondition(
            "EXCHANGE_RATE_NOT_AVAILABLE",
            f"no fixed rate and no daily rate for {shop.currency} -> {cur} on or before"
            f" {today.isoformat()}",
            currency=cur,
        )
    if max_age_days is not None:
        check_rate_age(RateSource.DAILY, daily.day, today, max_age_days)
    return Terms(
        cur, shop.currency, daily.rate, RateSource.DAILY, daily.day, direction, shop.vat_rounding
    )


class ShopCommands:
    def __init__(
        self,
        register_id: str,
        currency: str,
        clock: Clock,
        version: MasterVersion | None = None,
    ) -> None:
        self.register_id = register_id
        self.currency = currency
        self._clock = clock
        self.version = version or MasterVersion()

    def ensure_defaults(self, tx: Tx) -> Register:
        self.version.bump()
        reg = store.ensure_defaults(tx.conn, self.register_id, self.currency, self._clock())
        # a database from before numbers were checked may hold two registers of this shop
        # with this register's number: its parking slips then name the other register as
        # well. Starting anyway (selling needs no slips; UpsertRegister mends it), but said.
        others = store.registers_numbered(
            tx.conn, reg.shop_id, reg.register_number, besides=reg.register_id
        )
        if others:
            log.warning(
                "register_number_shared",
                register_id=reg.register_id,
                shop_id=reg.shop_id,
                register_number=reg.register_number,
                shared_with=",".join(others),
                hint="give each register of the shop its own number (UpsertRegister):"
                " parking slips carry it",
            )
        return reg

    # -- shops ---------------------------------------------------------------------------

    def _check_shop(self, conn: sqlite3.Connection, shop: Shop) -> None:
        shop.validated()
        if customer_store.get(conn, shop.default_customer_number) is None:
            raise invalid(
                "shop.default_customer_number",
                f"customer {shop.default_customer_number!r} does not exist (import customers"
                " first)",
                "CUSTOMER_NOT_FOUND",
            )
        own = store.get_register(conn, self.register_id)
        if own is not None and own.shop_id == shop.shop_id and shop.currency != self.currency:
            raise invalid(
                "shop.currency_code",
                f"this register's shop must use the register's currency {self.currency}",
                "CURRENCY_MISMATCH",
            )

    def upsert_shop(self, tx: Tx, op: Operator, shop: Shop) -> tuple[Shop, bool]:
        op.require(Permission.OPERATOR_MANAGE)
        return self.put_shop(tx, shop)

    def put_shop(self, tx: Tx, shop: Shop) -> tuple[Shop, bool]:
        self._check_shop(tx.conn, shop)
        self.version.bump()
        created = store.upsert_shop(tx.conn, shop, self._clock())
        return shop, created

    def get_shop(self, conn: sqlite3.Connection, shop_id: str) -> Shop:
        if not shop_id:
            return context(conn, self.register_id).shop
        check_code(shop_id, "shop_id")
        shop = store.get_shop(conn, shop_id)
        if shop is None:
            raise not_found("SHOP_NOT_FOUND", f"no shop {shop_id!r}", shop_id=shop_id)
        return shop

    def list_shops(self, conn: sqlite3.Connection, size: int, token: str) -> tuple[list[Shop], str]:
        n = paging.page_size(size, default=100)
        after = paging.decode(token, "sh") if token else ""
        rows = store.list_shops(conn, after=after, limit=n + 1)
        more = len(rows) > n
        rows = rows[:n]
        return rows, (paging.encode("sh", rows[-1].shop_id) if more and rows else "")

    # -- registers -----------------------------------------------------------------------

    def upsert_register(self, tx: Tx, op: Operator, reg: Register) -> tuple[Register, bool]:
        op.require(Permission.OPERATOR_MANAGE)
        return self.put_register(tx, reg)

    def put_register(self, tx: Tx, reg: Register) -> tuple[Register, bool]:
        reg.validated()
        shop = store.get_shop(tx.conn, reg.shop_id)
        if shop is None:
            raise invalid("register.shop_id", f"no shop {reg.shop_id!r}", "SHOP_NOT_FOUND")
        if reg.register_id == self.register_id and shop.currency != self.currency:
            raise invalid(
                "register.shop_id",
                f"shop {shop.shop_id} uses {shop.currency}, this register {self.currency}",
                "CURRENCY_MISMATCH",
            )
        self._check_number_free(tx.conn, reg)
        self.version.bump()
        created = store.upsert_register(tx.conn, reg, self._clock())
        return reg, created

    @staticmethod
    def _check_number_free(conn: sqlite3.Connection, reg: Register) -> None:
        """Refuses a number another register of the shop has: the parking slip's code
        carries the register number, so both would print the same codes and a scanned
        slip would resume the other register's sale (or ask the wrong register)."""
        others = store.registers_numbered(
            conn, reg.shop_id, reg.register_number, besides=reg.register_id
        )
        if others:
            raise DomainError(
                ErrorKind.ALREADY_EXISTS,
                "REGISTER_NUMBER_TAKEN",
                f"register number {reg.register_number} of shop {reg.shop_id} is register"
                f" {', '.join(others)}'s: each register of a shop needs its own number"
                " (its parking slips carry it); give that register another number first",
                metadata={
                    "shop_id": reg.shop_id,
                    "register_number": str(reg.register_number),
                    "register_ids": ",".join(others),
                },
            )

    def get_register(self, conn: sqlite3.Connection, register_id: str) -> Register:
        rid = register_id or self.register_id
        check_code(rid, "register_id")
        reg = store.get_register(conn, rid)
        if reg is None:
            raise not_found("REGISTER_NOT_FOUND", f"no register {rid!r}", register_id=rid)
        return reg

    # -- daily rates ---------------------------------------------------------------------

    def put_rate(self, tx: Tx, rate: DailyRate) -> bool:
        check_currency(rate.base_currency, "rate.base_currency_code")
        check_currency(rate.currency, "rate.currency_code")
        if rate.base_currency == rate.currency:
            raise invalid("rate.currency_code", "differs from the base currency")
        # one rate a day: keyed by the day, not the date as typed (2026-11-20, 20261120)
        claim_record(
            f"rate\0{rate.base_currency}\0{rate.currency}\0{rate.day.isoformat()}",
            f"the {rate.base_currency}/{rate.currency} rate of {rate.day.isoformat()}",
        )
        existed = store.daily_rate(tx.conn, rate.base_currency, rate.currency, rate.day)
        store.put_daily_rate(tx.conn, rate)
        return existed is None or existed.day != rate.day
