"""Helpers for the full-sale integration tests: a daemon with a clock the test turns,
extra operators, and small builders for master data messages."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import catalog_pb2, common_pb2, customer_pb2, shop_pb2

from posd_daemon.bootstrap import start
from posd_daemon.ops import crashpoints, eventloop
from posd_daemon.ops.config import default_document, load
from posd_daemon.ops.pins import hash_pin
from tests.conftest import Running

SUPERVISOR_PIN = "1111"
_PIN_HASH: dict[str, str] = {}


class TurnableClock:
    """The daemon's clock; ``advance`` moves it (the TSE keeps its own time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def operators_override() -> dict[str, Any]:
    """Default operators plus "3", a supervisor with DISCOUNT (limit set per shop)."""
    doc = default_document()
    if "3" not in _PIN_HASH:
        _PIN_HASH["3"] = hash_pin(SUPERVISOR_PIN)
    roles = dict(doc["roles"])
    roles["supervisor"] = ["SALE", "DISCOUNT"]
    ops = list(doc["operators"])
    ops.append(
        {"id": "3", "name": "Schichtleitung", "role": "supervisor", "pin_scrypt": _PIN_HASH["3"]}
    )
    return {"roles": roles, "operators": ops}


@contextmanager
def register(
    state_dir: Path, overrides: dict[str, Any] | None = None, clock: TurnableClock | None = None
) -> Iterator[tuple[Running, TurnableClock]]:
    doc: dict[str, Any] = {"state": {"dir": str(state_dir)}, "metrics": {"listen": ""}}
    doc.update(operators_override())
    doc.update(overrides or {})
    config = load(None, doc)
    clk = clock or TurnableClock()
    loop = eventloop.new_event_loop()  # production's loop (uvloop)
    thread = threading.Thread(target=loop.run_forever, name="posd-test-loop", daemon=True)
    thread.start()
    daemon = asyncio.run_coroutine_threadsafe(start(config, clock=clk), loop).result(20)
    running = Running(config, daemon, loop, thread)
    try:
        yield running, clk
    finally:
        running.stop()


def money(minor: int, currency: str = "EUR") -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency_code=currency)


def item(
    item_id: str,
    name: str,
    price: int,
    *,
    vat: int = common_pb2.VAT_CATEGORY_NORMAL,
    net: bool = False,
    **kw: Any,
) -> catalog_pb2.Item:
    msg = catalog_pb2.Item(item_id=item_id, name=name, vat_category=vat, **kw)  # type: ignore[arg-type]
    (msg.net_price if net else msg.gross_price).CopyFrom(money(price))
    return msg


def import_items(pos: PosdClient, *items: catalog_pb2.Item) -> common_pb2.ImportSummary:
    req = catalog_pb2.ImportItemsRequest(request_id=new_request_id(), items=list(items))
    summary = pos.call(pos.catalog.ImportItems, req).summary
    assert summary.committed, summary
    return summary


def import_stock(pos: PosdClient, *entries: catalog_pb2.StockEntry) -> common_pb2.ImportSummary:
    req = catalog_pb2.ImportStockRequest(request_id=new_request_id(), entries=list(entries))
    summary = pos.call(pos.catalog.ImportStock, req).summary
    assert summary.committed, summary
    return summary


def customer(number: str, name: str, **kw: Any) -> customer_pb2.Customer:
    return customer_pb2.Customer(customer_number=number, name=name, **kw)


def import_customers(pos: PosdClient, *customers: customer_pb2.Customer) -> None:
    req = customer_pb2.ImportCustomersRequest(
        request_id=new_request_id(), customers=list(customers)
    )
    summary = pos.call(pos.customers.ImportCustomers, req).summary
    assert summary.committed, summary


def shop(pos: PosdClient) -> shop_pb2.Shop:
    return pos.call(pos.shops.GetShop, shop_pb2.GetShopRequest()).shop


def update_shop(pos: PosdClient, **changes: Any) -> shop_pb2.Shop:
    """This register's shop with ``changes`` applied (repeated fields replaced)."""
    s = shop(pos)
    for key, value in changes.items():
        if isinstance(value, list):
            del getattr(s, key)[:]
            getattr(s, key).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(s, key).CopyFrom(value)
        else:
            setattr(s, key, value)
    req = shop_pb2.UpsertShopRequest(request_id=new_request_id(), shop=s)
    return pos.call(pos.shops.UpsertShop, req).shop


def update_register(pos: PosdClient, **changes: Any) -> shop_pb2.Register:
    r = pos.call(pos.shops.GetRegister, shop_pb2.GetRegisterRequest()).register
    for key, value in changes.items():
        if isinstance(value, list):
            del getattr(r, key)[:]
            getattr(r, key).extend(value)
        else:
            setattr(r, key, value)
    req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
    return pos.call(pos.shops.UpsertRegister, req).register


def printed(running: Running, needle: str, timeout: float = 5.0) -> str:
    """The simulated printer's output once it contains ``needle``."""
    out = running.config.state_dir / "printer.txt"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and needle in (text := out.read_text("utf-8")):
            return text
        time.sleep(0.02)
    raise AssertionError(f"{needle!r} was not printed")


def post_not_saved(post: Callable[[], object]) -> PosdError:
    """Runs ``post`` with its transaction failing once after the TSE signed (crashpoint
    post.in_transaction): the error it gets, POST_NOT_SAVED. The in-process daemon only
    (the crashpoint is armed in this process)."""
    crashpoints.arm_from_env("post.in_transaction:1:raise")
    try:
        with pytest.raises(PosdError) as failed:
            post()
    finally:
        crashpoints.arm_from_env("")
    assert failed.value.reason == "POST_NOT_SAVED", failed.value
    return failed.value
