"""What the end-to-end tests against the real daemon process share."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from posd.v1 import common_pb2, sale_pb2

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD
POSTED = sale_pb2.SALE_STATE_POSTED
OPEN = sale_pb2.SALE_STATE_OPEN

#: (item id, name, gross price in cents, barcode)
ITEMS = [
    ("brot", "Roggenbrot", 349, "4000000000013"),
    ("milch", "Vollmilch 1 l", 119, "4000000000020"),
    ("kaffee", "Kaffee 500 g", 799, "4000000000037"),
    ("apfel", "Äpfel lose", 249, "4000000000044"),
    ("wein", "Rotwein 0,75 l", 1299, "4000000000051"),
]


def db_query(path: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Reads the daemon's database directly (read-only; WAL allows it while it runs)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
