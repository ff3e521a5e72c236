"""A free-text note on a sale line (h115): an order line's text carried into the sale by
LoadOrder, kept through park/resume, stored, journalled and printed under its line on
the receipt and its reprint; an order line text longer than a note refused at
UpsertOrders; AddLine/UpdateLine with a note through the real gRPC server."""

from __future__ import annotations

import json

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_orders import db_rows, line, order, shop_data
from tests.support.fullsale import printed

__all__ = ["shop_data"]  # the fixture, used by name

NOTE = "Gravur: Anna, bitte in Schreibschrift und mittig auf dem Deckel anbringen"


def test_load_order_carries_the_line_text_into_the_note_and_the_receipt_prints_it(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    pos.upsert_orders(order("N-1", line("B1", "1", text=NOTE), line("B1", "2")))
    sale = pos.load_order("N-1")
    assert [ln.note for ln in sale.lines] == [NOTE, ""]
    assert db_rows(running, "SELECT note FROM sale_lines WHERE sale_id = ?", sale.sale_id) == [
        (NOTE,),
        ("",),
    ]
    parked = pos.call(
        pos.sales.ParkSale,
        sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sale.sale_id),
    ).sale
    resumed = pos.call(
        pos.sales.ResumeSale,
        sale_pb2.ResumeSaleRequest(request_id=new_request_id(), sale_id=parked.sale_id),
    ).sale
    assert [ln.note for ln in resumed.lines] == [NOTE, ""]
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 2000)
    posted = pos.post_sale(sale.sale_id)
    receipt = printed(running, f"Beleg-Nr. {posted.receipt_number}")
    # indented under its line, wrapped to the paper (the text is longer than one line)
    rows = receipt.splitlines()
    first = next(i for i, r in enumerate(rows) if r.strip().startswith("Gravur: Anna"))
    assert rows[first].startswith("  ")
    assert "Brot" in rows[first - 1] or "Brot" in rows[first - 2]
    wrapped = " ".join(r.strip() for r in rows[first : first + 3])
    assert NOTE in wrapped, receipt
    # the journal's sale record carries it: the receipt can be reproduced from it
    records = [
        json.loads(p)
        for (p,) in db_rows(running, "SELECT payload FROM journal WHERE kind = 'SALE_POSTED'")
    ]
    details = [d for r in records for d in r["line_details"]]
    assert [d.get("note", "") for d in details] == [NOTE, ""]
    # and its reprint
    before = receipt.count("Gravur: Anna")
    pos.reprint_receipt(sale.sale_id)
    again = printed(running, "KOPIE")
    assert again.count("Gravur: Anna") == before + 1


def test_upsert_orders_refuses_a_line_text_longer_than_a_note(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    summary = pos.upsert_orders(order("N-2", line("B1", "1", text="x" * 81)))
    assert [r.reason for r in summary.rejections] == ["INVALID_ARGUMENT"], summary
    assert "lines[0].text" in summary.rejections[0].message, summary
    assert "at most 80 characters" in summary.rejections[0].message, summary
    assert db_rows(running, "SELECT COUNT(*) FROM orders") == [(0,)]
    ok = pos.upsert_orders(order("N-3", line("B1", "1", text="x" * 80)))
    assert not ok.rejections


def _refused(call: object) -> PosdError:
    with pytest.raises(PosdError) as err:
        call()  # type: ignore[operator]
    return err.value


def test_add_line_and_update_line_set_and_clear_the_note(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    sale = pos.create_sale()
    added = pos.add_line(sale.sale_id, item_id="B1", note="Größe wird nachgeliefert")
    assert added.sale.lines[0].note == "Größe wird nachgeliefert"
    bad = _refused(lambda: pos.add_line(sale.sale_id, item_id="B1", note="a\nb"))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(pos.get_sale(sale.sale_id).lines) == 1
    changed = pos.update_line(sale.sale_id, added.line_id, "", note="Gravur: Anna")
    assert (changed.lines[0].note, changed.lines[0].quantity) == ("Gravur: Anna", "1")
    long = _refused(lambda: pos.update_line(sale.sale_id, added.line_id, "", note="x" * 81))
    assert long.code == grpc.StatusCode.INVALID_ARGUMENT
    assert pos.get_sale(sale.sale_id).lines[0].note == "Gravur: Anna"
    qty = pos.update_line(sale.sale_id, added.line_id, "2")  # the note stays
    assert (qty.lines[0].note, qty.lines[0].quantity) == ("Gravur: Anna", "2")
    cleared = pos.update_line(sale.sale_id, added.line_id, "", note="")
    assert cleared.lines[0].note == ""


def test_a_storno_keeps_the_notes_of_the_lines_it_takes_back(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    pos.upsert_orders(order("N-4", line("B1", "1", text="Gravur: Anna")))
    sale = pos.load_order("N-4")
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 500)
    pos.post_sale(sale.sale_id)
    req = sale_pb2.ReverseReceiptRequest(
        request_id=new_request_id(), sale_id=sale.sale_id, reason="Fehlbon"
    )
    storno = pos.call(pos.sales.ReverseReceipt, req).reversal
    assert [ln.note for ln in storno.lines] == ["Gravur: Anna"]
