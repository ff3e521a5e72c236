"""A price label of an item sold by the piece (an in-store EAN with the price in it, a
reduced-price sticker) gives the line its price; the printed receipt says where the price
comes from ("Preis lt. Etikett"), not "Preis geändert", which a customer or an auditor
reads as a cashier's manual override. An operator's price set on such a line afterwards
is a manual override and says so. The mark is stored with the line: a reprint after a
restart prints what the original printed. The fiscal records (journal, the line's
amounts) are those of any price not the catalog's, as before."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2, shop_pb2

from tests.conftest import Running, running_daemon
from tests.integration.api.test_sale_part2 import call, pay, post
from tests.support.fullsale import import_items, item, money, printed, update_shop

REDUCED = common_pb2.VAT_CATEGORY_REDUCED
CASH = common_pb2.PAYMENT_METHOD_CASH
LAYOUTS = {"instore_codes": [{"prefixes": ["21"], "item_digits": 5, "kind": "price"}]}
PRICE_LABEL = "2112345012346"  # Käseaufschnitt, 12.34 on the label (catalog: 19.90)


def start(state: Path) -> AbstractContextManager[Running]:
    return running_daemon(state, LAYOUTS)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def seed(pos: PosdClient) -> None:
    import_items(pos, item("K-1", "Käseaufschnitt", 1990, vat=REDUCED, barcodes=["2112345000008"]))


def receipt(running: Running, number: int, *, copy: bool = False) -> str:
    """The last printed receipt of ``number`` (a reprint: its copy)."""
    head = f"Beleg-Nr. {number} "
    deadline = time.monotonic() + 10
    while True:
        paper = printed(running, "*** KOPIE ***" if copy else head, timeout=10)
        start = paper.rindex("*** KOPIE ***") if copy else paper.rindex(head)
        end = paper.find("== cut ==", start)
        if end >= 0 and head in paper[start:end]:
            return paper[start:end]
        assert time.monotonic() < deadline, f"receipt {number} not printed whole"
        time.sleep(0.02)  # printed up to its header: the rest follows


def line_notes(text: str) -> list[str]:
    """The detail lines printed under the Käseaufschnitt line."""
    lines = text.splitlines()
    i = next(i for i, t in enumerate(lines) if t.startswith("Käseaufschnitt"))
    notes = []
    for t in lines[i + 1 :]:
        if not t.startswith("  "):
            break
        notes.append(t.strip())
    return notes


def sold_by_label(pos: PosdClient, *, override: int | None = None) -> tuple[str, int]:
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, PRICE_LABEL).line_id
    if override is not None:
        call(pos, "SetLinePrice", sale_id=sid, line_id=line, unit_price=money(override))
    total = pos.get_sale(sid).total.amount_minor
    pay(pos, sid, CASH, total)
    return sid, post(pos, sid).receipt_number


def journaled_line(running: Running, receipt_number: int) -> dict[str, object]:
    with sqlite3.connect(running.config.database_path) as c:
        for (payload,) in c.execute("SELECT payload FROM journal WHERE kind = 'SALE_POSTED'"):
            p = json.loads(payload)
            if p["receipt_number"] == receipt_number:
                (detail,) = p["line_details"]
                return dict(detail)
    raise AssertionError(f"receipt {receipt_number} not journaled")


def test_a_piece_s_price_label_prints_as_the_label_s_price_also_on_a_reprint_after_restart(
    state: Path,
) -> None:
    with start(state) as running, running.client() as pos:
        seed(pos)
        sid, number = sold_by_label(pos)
        text = receipt(running, number)
        assert "12,34" in text
        assert line_notes(text) == ["Preis lt. Etikett"]
        assert "Preis geändert" not in text
        # the journal records a price not the catalog's, as it always did
        assert journaled_line(running, number)["price_overridden"] is True
    # the daemon restarted: the sale is read from the database, its receipt reprinted
    with start(state) as running, running.client() as pos:
        line = pos.get_sale(sid).lines[0]
        assert (line.unit_price.amount_minor, line.price_overridden) == (1234, True)
        assert line.price_from_label  # the client can tell it from an operator's price
        pos.reprint_receipt(sid)
        copy = receipt(running, number, copy=True)
        assert "*** KOPIE ***" in copy
        assert line_notes(copy) == ["Preis lt. Etikett"]
        assert "Preis geändert" not in copy


def test_an_operator_s_price_on_a_label_line_prints_as_changed(state: Path) -> None:
    with start(state) as running, running.client() as pos:
        seed(pos)
        sid, number = sold_by_label(pos, override=1000)
        text = receipt(running, number)
        assert "10,00" in text
        assert line_notes(text) == ["Preis geändert"]
        assert "Preis lt. Etikett" not in text
    with start(state) as running, running.client() as pos:
        pos.reprint_receipt(sid)
        assert line_notes(receipt(running, number, copy=True)) == ["Preis geändert"]


def test_a_label_line_keeps_its_mark_through_parking_and_a_currency_round_trip(
    state: Path,
) -> None:
    with start(state) as running, running.client() as pos:
        seed(pos)
        sid = pos.create_sale().sale_id
        pos.scan(sid, PRICE_LABEL)
        call(pos, "ParkSale", sale_id=sid)
        call(pos, "ResumeSale", sale_id=sid)
        update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
        call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
        call(pos, "SetCurrency", sale_id=sid, currency_code="EUR")
        pay(pos, sid, CASH, 1234)
        number = post(pos, sid).receipt_number
        assert line_notes(receipt(running, number)) == ["Preis lt. Etikett"]


def test_a_label_line_written_by_an_older_daemon_reads_as_before(state: Path) -> None:
    """A line stored before the label's mark existed (price_overridden 1 for a label's
    price and an operator's alike) still prints "Preis geändert": nothing tells the two
    apart in it, and a reprint must not print what the original did not."""
    with start(state) as running, running.client() as pos:
        seed(pos)
        sid, number = sold_by_label(pos)
        db = running.config.database_path
    with sqlite3.connect(db) as c:
        c.execute("UPDATE sale_lines SET price_overridden = 1 WHERE sale_id = ?", (sid,))
    with start(state) as running, running.client() as pos:
        line = pos.get_sale(sid).lines[0]
        assert (line.unit_price.amount_minor, line.price_overridden) == (1234, True)
        assert not line.price_from_label
        pos.reprint_receipt(sid)
        assert line_notes(receipt(running, number, copy=True)) == ["Preis geändert"]
