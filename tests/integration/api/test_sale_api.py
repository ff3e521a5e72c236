"""The sale lifecycle through the real gRPC server on a unix socket with real SQLite."""

from __future__ import annotations

import sqlite3
import time

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


def seed(pos: PosdClient) -> None:
    pos.upsert_item(
        "1001",
        "Brot",
        349,
        barcodes=("4006381333931",),
        vat_category=common_pb2.VAT_CATEGORY_REDUCED,
    )
    pos.upsert_item("1002", "Kaffee", 899)
    pos.upsert_item(
        "1003",
        "Äpfel",
        299,
        unit="kg",
        fractional=True,
        vat_category=common_pb2.VAT_CATEGORY_REDUCED,
    )


def db(running: Running) -> sqlite3.Connection:
    return sqlite3.connect(running.config.database_path)


def reason(exc: pytest.ExceptionInfo[PosdError]) -> str:
    return exc.value.reason


def test_complete_cash_sale_with_change(running: Running, pos: PosdClient) -> None:
    seed(pos)
    sale = pos.create_sale()
    assert sale.state == sale_pb2.SALE_STATE_OPEN
    assert sale.operator_id == "1"
    r = pos.add_line(sale.sale_id, code="4006381333931")
    assert r.sale.lines[0].scanned_code == "4006381333931"
    pos.add_line(sale.sale_id, item_id="1002", quantity="2")
    r = pos.add_line(sale.sale_id, item_id="1003", quantity="0.333")
    assert r.sale.lines[2].total.amount_minor == 100
    assert r.sale.total.amount_minor == 349 + 1798 + 100
    vat = {
        v.vat_rate: (v.gross.amount_minor, v.net.amount_minor, v.tax.amount_minor)
        for v in r.sale.vat_totals
    }
    assert vat == {"7": (449, 420, 29), "19": (1798, 1511, 287)}
    paid = pos.add_payment(sale.sale_id, CASH, 5000)
    assert paid.sale.change.amount_minor == 5000 - 2247
    posted = pos.post_sale(sale.sale_id)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert posted.receipt_number == 1
    # one transaction wrote: drawer entries, journal, outbox (drawer kick + print)
    with db(running) as conn:
        entries = conn.execute(
            "SELECT kind, method, amount FROM drawer_entries WHERE sale_id = ? ORDER BY entry_id",
            (sale.sale_id,),
        ).fetchall()
        assert entries == [("SALE_PAYMENT", "CASH", 5000), ("CHANGE", "CASH", -2753)]
        kinds = conn.execute(
            "SELECT kind FROM outbox WHERE ref = ? ORDER BY job_id", (sale.sale_id,)
        ).fetchall()
        assert kinds == [("drawer",), ("print",)]
        journal = conn.execute(
            "SELECT kind, ref FROM journal WHERE kind <> 'SHIFT_OPENED'"
        ).fetchall()
        assert journal == [("SALE_POSTED", "receipt:1")]
    # the receipt is printed after the commit, by the outbox
    deadline = time.monotonic() + 5
    out = running.config.state_dir / "printer.txt"
    while time.monotonic() < deadline and not (out.exists() and "Beleg-Nr. 1" in out.read_text()):
        time.sleep(0.02)
    assert "Beleg-Nr. 1" in out.read_text()
    # the job is marked done in its own commit right after the paper came out
    while time.monotonic() < deadline and pos.status().pending_jobs:
        time.sleep(0.02)
    assert pos.status().pending_jobs == 0


def test_card_sale_and_payment_rules(pos: PosdClient) -> None:
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1002")
    with pytest.raises(PosdError) as err:
        pos.add_payment(sale.sale_id, CARD, 900)
    assert reason(err) == "PAYMENT_EXCEEDS_OPEN_AMOUNT"
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(PosdError) as err:
        pos.post_sale(sale.sale_id)
    assert reason(err) == "SALE_NOT_PAID"
    p = pos.add_payment(sale.sale_id, CARD, 500)
    s = pos.remove_payment(sale.sale_id, p.payment_id)
    assert len(s.payments) == 0
    pos.add_payment(sale.sale_id, CARD, 899)
    posted = pos.post_sale(sale.sale_id)
    assert posted.change.amount_minor == 0
    assert posted.receipt_number == 1


def test_lines_update_and_remove(pos: PosdClient) -> None:
    seed(pos)
    sale = pos.create_sale()
    line = pos.add_line(sale.sale_id, item_id="1002").line_id
    s = pos.update_line(sale.sale_id, line, "3")
    assert s.total.amount_minor == 3 * 899
    with pytest.raises(PosdError) as err:
        pos.update_line(sale.sale_id, line, "1.5")
    assert reason(err) == "FRACTIONAL_QUANTITY_NOT_ALLOWED"
    with pytest.raises(PosdError) as err:
        pos.update_line(sale.sale_id, "99", "1")
    assert reason(err) == "LINE_NOT_FOUND"
    s = pos.remove_line(sale.sale_id, line)
    assert list(s.lines) == []
    with pytest.raises(PosdError) as err:
        pos.post_sale(sale.sale_id)
    assert reason(err) == "SALE_EMPTY"


def test_state_machine_is_enforced(pos: PosdClient) -> None:
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1001")
    pos.add_payment(sale.sale_id, CASH, 349)
    pos.post_sale(sale.sale_id)
    for call in (
        lambda: pos.add_line(sale.sale_id, item_id="1001"),
        lambda: pos.cancel_sale(sale.sale_id, "too late"),
        lambda: pos.post_sale(sale.sale_id),
    ):
        with pytest.raises(PosdError) as err:
            call()
        assert reason(err) == "SALE_ALREADY_POSTED"
    other = pos.create_sale()
    cancelled = pos.cancel_sale(other.sale_id, "customer left")
    assert cancelled.state == sale_pb2.SALE_STATE_CANCELLED
    with pytest.raises(PosdError) as err:
        pos.add_line(other.sale_id, item_id="1001")
    assert reason(err) == "SALE_ALREADY_CANCELLED"


def test_unknown_things(pos: PosdClient) -> None:
    seed(pos)
    with pytest.raises(PosdError) as err:
        pos.get_sale("nope")
    assert reason(err) == "SALE_NOT_FOUND"
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    sale = pos.create_sale()
    with pytest.raises(PosdError) as err:
        pos.add_line(sale.sale_id, code="0000000000000")
    assert reason(err) == "UNKNOWN_CODE"
    assert pos.get_sale(sale.sale_id).revision == 0
    # an item number typed into the scan field also resolves
    r = pos.add_line(sale.sale_id, code="1002")
    assert r.sale.lines[0].item_id == "1002"


def test_ambiguous_barcode_lists_candidates(pos: PosdClient) -> None:
    pos.upsert_item("A", "Cola 0.5", 129, barcodes=("5000112",))
    pos.upsert_item("B", "Cola 0.5 Pfand", 154, barcodes=("5000112",))
    sale = pos.create_sale()
    with pytest.raises(PosdError) as err:
        pos.add_line(sale.sale_id, code="5000112")
    assert reason(err) == "AMBIGUOUS_CODE"
    assert err.value.metadata["candidates"] == "A,B"
    assert len(pos.get_sale(sale.sale_id).lines) == 0


def test_list_sales_filters_and_paginates(pos: PosdClient) -> None:
    seed(pos)
    ids = []
    for i in range(7):
        s = pos.create_sale()
        ids.append(s.sale_id)
        if i % 2 == 0:
            pos.cancel_sale(s.sale_id)
        else:  # an empty open sale would be replaced by the next new sale
            pos.add_line(s.sale_id, item_id="1002")
    open_ids = [s.sale_id for s in pos.list_sales(sale_pb2.SALE_STATE_OPEN, page_size=2)]
    assert open_ids == [ids[5], ids[3], ids[1]]
    all_ids = [s.sale_id for s in pos.list_sales(page_size=3)]
    assert all_ids == list(reversed(ids))
    with pytest.raises(PosdError) as err:
        pos.call(pos.sales.ListSales, sale_pb2.ListSalesRequest(page_token="garbage"))
    assert reason(err) == "INVALID_ARGUMENT"


def test_receipt_numbers_are_gapless_across_restarts(tmp_path: object) -> None:
    from pathlib import Path

    from tests.conftest import start_in_thread

    state = Path(str(tmp_path)) / "state"
    numbers = []
    for _ in range(3):
        r = start_in_thread(state)
        try:
            with r.client() as pos:
                seed(pos)
                for _ in range(3):
                    s = pos.create_sale()
                    pos.add_line(s.sale_id, item_id="1002")
                    # a failed post must not consume a number
                    with pytest.raises(PosdError):
                        pos.post_sale(s.sale_id)
                    pos.add_payment(s.sale_id, CASH, 1000)
                    numbers.append(pos.post_sale(s.sale_id).receipt_number)
        finally:
            r.stop()
    assert numbers == list(range(1, 10))


def test_done_marks_of_printed_jobs_are_made_durable_soon(
    running: Running, pos: PosdClient
) -> None:
    """Jobs are marked done without an fsync of their own; one fsync'd commit follows
    within a few seconds (outbox_synced_at), so a power loss cannot reprint them later."""
    seed(pos)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1002")
    pos.add_payment(sale.sale_id, CASH, 1000)
    pos.post_sale(sale.sale_id)
    deadline = time.monotonic() + 10
    synced = None
    while time.monotonic() < deadline and synced is None:
        with db(running) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'outbox_synced_at'").fetchone()
        synced = row
        time.sleep(0.1)
    assert synced is not None
    assert pos.status().pending_jobs == 0
