"""Catalog use cases."""

from __future__ import annotations

import sqlite3

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import invalid, not_found
from posd_daemon.domain.money import check_currency
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.text import check_code
from posd_daemon.services import paging
from posd_daemon.services.clock import Clock
from posd_daemon.services.executor import Tx
from posd_daemon.store import catalog as store


class CatalogCommands:
    def __init__(self, currency: str, clock: Clock) -> None:
        self._currency = currency
        self._clock = clock

    def upsert(self, tx: Tx, operator: Operator, item: Item) -> tuple[Item, bool]:
        operator.require(Permission.CATALOG_EDIT)
        check_currency(item.currency, "item.gross_price.currency_code")
        if item.currency != self._currency:
            raise invalid(
                "item.gross_price.currency_code",
                f"items are priced in the register's currency {self._currency}",
                "CURRENCY_MISMATCH",
            )
        item.validated()
        created = store.upsert(tx.conn, item, self._clock())
        return item, created

    def get(self, conn: sqlite3.Connection, item_id: str) -> Item:
        check_code(item_id, "item_id")
        item = store.get(conn, item_id)
        if item is None:
            raise not_found("ITEM_NOT_FOUND", f"no item {item_id!r}", item_id=item_id)
        return item

    def list(self, conn: sqlite3.Connection, size: int, token: str) -> tuple[list[Item], str]:
        n = paging.page_size(size, default=100)
        after = paging.decode(token, "i") if token else ""
        items = store.list_page(conn, after_id=after, limit=n + 1)
        more = len(items) > n
        items = items[:n]
        return items, (paging.encode("i", items[-1].item_id) if more and items else "")
