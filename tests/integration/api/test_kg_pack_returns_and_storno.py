"""A weighed pack sold by its price label (2.514 kg printed 50.02), brought back in parts
and reversed, at the real daemon: each partial return refunds its share of what was
paid, the returns together never more than the printed price, and a storno negates
exactly the printed price; the DATEV cash book books the printed price."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from posd.client import PosdClient

from posd_daemon.exports import datev
from tests.conftest import Running, running_daemon
from tests.integration.api import test_kg_price_label_over_a_kilogram as kg
from tests.integration.api.test_sale_part2 import call, error, pay, post

CASH = kg.CASH
PACK_50_02 = kg.PACK_50_02


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", {"instore_codes": kg.LAYOUTS}) as r:
        yield r


@pytest.fixture
def pos(running: Running) -> Iterator[PosdClient]:
    # Gouda at 19.90/kg, sold by weight, and its price labels (prefix 21)
    yield from kg.pos.__wrapped__(running)  # type: ignore[attr-defined]


def sold_pack(pos: PosdClient) -> tuple[str, str]:
    sid = pos.create_sale().sale_id
    pos.scan(sid, PACK_50_02)
    pay(pos, sid, CASH, 5002)
    done = post(pos, sid)
    assert done.total.amount_minor == 5002
    return sid, done.lines[0].line_id


def returned(pos: PosdClient, sid: str, line_id: str, quantity: str) -> int:
    ret = pos.create_sale().sale_id
    sale = call(
        pos, "AddReturnLine", sale_id=ret, original_sale_id=sid, original_line_id=line_id,
        quantity=quantity,
    ).sale  # fmt: skip
    refund: int = sale.total.amount_minor
    pay(pos, ret, CASH, refund)
    post(pos, ret)
    return refund


def test_a_pack_returned_in_two_parts_refunds_its_printed_price_and_no_more(
    pos: PosdClient,
) -> None:
    sid, line_id = sold_pack(pos)
    # 1.000 of 2.514 kg: 50.02 / 2.514 = 19.897 -> 19.90
    assert returned(pos, sid, line_id, "1") == -1990
    # the rest: what is left of 50.02, not 1.514 x 19.90 = 30.13
    assert returned(pos, sid, line_id, "1.514") == -3012
    e = error(
        call, pos, "AddReturnLine", sale_id=pos.create_sale().sale_id, original_sale_id=sid,
        original_line_id=line_id, quantity="0.001",
    )  # fmt: skip
    assert e.reason == "RETURN_EXCEEDS_SOLD"


def test_a_storno_of_a_pack_negates_the_printed_price_in_the_cash_book(
    running: Running, pos: PosdClient
) -> None:
    start = datetime.now(UTC) - timedelta(days=1)
    sid, _ = sold_pack(pos)
    r = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    assert r.total.amount_minor == -5002
    assert [(ln.quantity, ln.amount.amount_minor) for ln in r.lines] == [("-2.514", -5002)]
    assert r.tse.process_data == "Beleg^0.00_-50.02_0.00_0.00_0.00^-50.02:Bar"
    # the extended cash book (every receipt) from the daemon's own database file
    with sqlite3.connect(running.config.database_path) as conn:
        ((_, content),) = datev.extended_cash_book(
            conn, "REG-1", "EUR", start, datetime.now(UTC) + timedelta(days=1), zone=UTC
        )
    rows = list(csv.reader(io.StringIO(content.decode("utf-8")), delimiter=";"))[1:]
    revenue = [(r[1], r[4]) for r in rows if "Umsatz" in r[4]]
    assert revenue == [("+50,02", "Beleg 1 Umsatz 7%"), ("-50,02", "Beleg 2 Umsatz 7%")]
