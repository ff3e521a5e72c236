"""Invoices, cancellation invoices and payments of open invoices at the register, as a
German tax adviser and a shop owner read them (review h90), through a real daemon."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from posd.client import PosdClient, new_request_id
from posd.v1 import common_pb2, sale_pb2, shop_pb2

from tests.conftest import running_daemon
from tests.integration.api.test_invoice_legal_content_h46 import seed, storno_document
from tests.support.fullsale import TurnableClock, printed


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    return pos.call(getattr(pos.sales, rpc), request_type(request_id=new_request_id(), **fields))


def test_cancellation_invoice_carries_the_original_date_of_supply(tmp_path: Path) -> None:
    clock = TurnableClock()
    with running_daemon(tmp_path / "state", clock=clock) as running, running.client() as pos:
        seed(pos)
        sid = pos.create_sale().sale_id
        pos.add_line(sid, item_id="TV")
        pos.set_customer(sid, "P1")
        pos.add_payment(sid, common_pb2.PAYMENT_METHOD_CARD, 49900)
        posted = pos.post_sale(sid)
        assert posted.document_type == shop_pb2.DOCUMENT_TYPE_INVOICE
        supplied = posted.post_time.ToDatetime().strftime("%d.%m.%Y")
        printed(running, "Rechnungs-Nr. REG-1-1")
        clock.advance(timedelta(days=5))
        call(pos, "ReverseReceipt", sale_id=sid, reason="Reklamation")
        text = storno_document(running)
        today = clock().strftime("%d.%m.%Y")
        assert today != supplied
        # the Stornorechnung is dated today, but what it cancels was supplied on the
        # original's day: its Leistungsdatum is that day (§ 14 (4) Nr. 6 UStG)
        assert f"Leistungsdatum {supplied}" in text, text
        assert f"Leistungsdatum {today}" not in text
