"""An invoice's recipient is fixed under its number, and goods returned from an invoice
are credited to that invoice's recipient by a correction naming the invoice (review
h95), through a real daemon."""

from __future__ import annotations

from typing import Any

import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_invoice_legal_content_h46 import seed
from tests.support.fullsale import printed

CASH = common_pb2.PAYMENT_METHOD_CASH


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    return pos.call(getattr(pos.sales, rpc), request_type(request_id=new_request_id(), **fields))


def document(running: Running, needle: str) -> str:
    """The last printed document containing ``needle``."""
    text = printed(running, needle)
    return [doc for doc in text.split("======== cut ========") if needle in doc][-1]


def coffee_receipt(pos: PosdClient, quantity: str = "2") -> sale_pb2.Sale:
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="COFFEE", quantity=quantity)
    pos.add_payment(sid, CASH, 2000)
    return pos.post_sale(sid)


def invoiced_coffee(running: Running, pos: PosdClient) -> tuple[sale_pb2.Sale, str]:
    """A coffee receipt invoiced afterwards to Bau GmbH (B1): the sale and its day."""
    original = coffee_receipt(pos)
    day = original.post_time.ToDatetime().strftime("%d.%m.%Y")
    call(pos, "PrintInvoice", sale_id=original.sale_id, customer_number="B1")
    printed(running, "Bau GmbH")
    return original, day


def test_an_invoice_is_not_reissued_to_another_recipient(running: Running, pos: PosdClient) -> None:
    seed(pos)
    sid = coffee_receipt(pos).sale_id
    assert not call(pos, "PrintInvoice", sale_id=sid, customer_number="B1").copy
    printed(running, "Bau GmbH")
    # invoice REG-1-1 went to Bau GmbH: the same number cannot name Erika Muster now
    # (§ 14 (4) Nr. 1 and 4 UStG); a copy addressed to Bau GmbH was printed instead
    with pytest.raises(PosdError) as refused:
        call(pos, "PrintInvoice", sale_id=sid, customer_number="P1")
    assert refused.value.reason == "INVOICE_RECIPIENT_FIXED", refused.value
    assert "B1" in str(refused.value)
    # a repeat for the same recipient, or naming none, prints the copy
    assert call(pos, "PrintInvoice", sale_id=sid, customer_number="B1").copy
    assert call(pos, "PrintInvoice", sale_id=sid).copy
    text = printed(running, "Bau GmbH")
    assert "Erika Muster" not in text


def test_an_invoice_posted_as_one_is_not_reissued_to_another_recipient(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="TV")
    pos.set_customer(sid, "P1")
    pos.add_payment(sid, common_pb2.PAYMENT_METHOD_CARD, 49900)
    pos.post_sale(sid)
    with pytest.raises(PosdError) as refused:
        call(pos, "PrintInvoice", sale_id=sid, customer_number="B1")
    assert refused.value.reason == "INVOICE_RECIPIENT_FIXED", refused.value
    assert call(pos, "PrintInvoice", sale_id=sid, customer_number="P1").copy


def test_goods_returned_from_an_invoice_are_credited_to_its_recipient(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    original, day = invoiced_coffee(running, pos)
    back = pos.create_sale().sale_id
    pos.set_customer(back, "P1")  # whoever brings it back: the credit is Bau GmbH's
    call(pos, "AddReturnLine", sale_id=back, original_sale_id=original.sale_id,
         original_line_id="1", quantity="1")  # fmt: skip
    pos.add_payment(back, CASH, pos.get_sale(back).total.amount_minor)
    posted = pos.post_sale(back)
    # Bau GmbH deducted the invoice's 1.44 EUR VAT: the correction goes to Bau GmbH and
    # names the invoice by number and date (§ 17 (1) UStG, § 31 (5) UStDV), not receipt 1
    text = document(running, f"Rechnungs-Nr. REG-1-{posted.receipt_number}")
    words = " ".join(text.split())  # wrapped on the paper's width
    assert f"Rechnungskorrektur zu Rechnung REG-1-1 vom {day}" in words, text
    assert "Bau GmbH" in text and "USt-IdNr. DE999999999" in text, text
    assert "Erika Muster" not in text, text
    # it cannot be invoiced to anyone else afterwards; without a customer it is a copy
    with pytest.raises(PosdError) as refused:
        call(pos, "PrintInvoice", sale_id=back, customer_number="P1")
    assert refused.value.reason == "INVOICE_RECIPIENT_FIXED", refused.value
    assert call(pos, "PrintInvoice", sale_id=back).copy


def test_a_return_from_a_receipt_is_no_invoice(running: Running, pos: PosdClient) -> None:
    seed(pos)
    original = coffee_receipt(pos)
    back = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=back, original_sale_id=original.sale_id,
         original_line_id="1", quantity="1")  # fmt: skip
    pos.add_payment(back, CASH, pos.get_sale(back).total.amount_minor)
    posted = pos.post_sale(back)
    text = document(running, f"Beleg-Nr. {posted.receipt_number}")
    assert "Rückgabe zu Beleg 1" in text
    assert "RECHNUNG" not in text and "Rechnungskorrektur" not in text
    # the customer may still ask for an invoice for the credit, to whomever
    assert not call(pos, "PrintInvoice", sale_id=back, customer_number="P1").copy


def test_goods_of_invoices_to_two_recipients_are_not_returned_in_one_sale(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    first, second = coffee_receipt(pos), coffee_receipt(pos)
    call(pos, "PrintInvoice", sale_id=first.sale_id, customer_number="B1")
    call(pos, "PrintInvoice", sale_id=second.sale_id, customer_number="P1")
    back = pos.create_sale().sale_id
    for original in (first, second):
        call(pos, "AddReturnLine", sale_id=back, original_sale_id=original.sale_id,
             original_line_id="1", quantity="1")  # fmt: skip
    pos.add_payment(back, CASH, pos.get_sale(back).total.amount_minor)
    # one correction cannot go to both recipients
    with pytest.raises(PosdError) as refused:
        pos.post_sale(back)
    assert refused.value.reason == "RETURN_INVOICE_RECIPIENTS_DIFFER", refused.value
