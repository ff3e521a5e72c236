"""Open invoices paid at the register where the register's ledger and the back office's
meet: a re-import after a payment at the register, a storno left open, a receipt the
TSE signed whose post must complete, an invoice changed under an open sale. Through the
gRPC API of the in-process daemon on real SQLite."""

from __future__ import annotations

import grpc
from posd.client import PosdClient, new_request_id
from posd.v1 import customer_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_open_items import (
    CASH,
    OPEN,
    PAID,
    cash_post,
    get_item,
    import_open_items,
    open_item,
    pay_invoice,
    post_record,
    refused,
    seed,
)
from tests.support.fullsale import post_not_saved


def upsert(pos: PosdClient, item: customer_pb2.OpenItem) -> customer_pb2.OpenItem:
    req = customer_pb2.UpsertOpenItemRequest(request_id=new_request_id(), open_item=item)
    return pos.call(pos.customers.UpsertOpenItem, req).open_item


def reverse(pos: PosdClient, sale_id: str) -> sale_pb2.Sale:
    req = sale_pb2.ReverseReceiptRequest(
        request_id=new_request_id(), sale_id=sale_id, reason="Irrtum"
    )
    return pos.call(pos.sales.ReverseReceipt, req).reversal


def test_a_reimport_does_not_undo_a_payment_taken_at_the_register(pos: PosdClient) -> None:
    """The back office's export was made before it learnt of the register's payment (it
    still shows the whole invoice open): the register keeps the payment it took."""
    seed(pos)
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-100", 3000)
    cash_post(pos, sid, 3000)
    assert get_item(pos, "R-100").amount_open.amount_minor == 7000

    summary = import_open_items(pos, open_item("R-100", "K1", 10000, text="Lieferung Mai"))
    assert summary.committed
    assert get_item(pos, "R-100").amount_open.amount_minor == 7000
    # so the customer cannot pay the 3000 a second time
    e = refused(pay_invoice, pos, pos.create_sale().sale_id, "R-100", 7001)
    assert e.reason == "INVOICE_AMOUNT_EXCEEDED" and e.metadata["available_minor"] == "7000"
    # UpsertOpenItem answers with what the register now has
    assert upsert(pos, open_item("R-100", "K1", 10000)).amount_open.amount_minor == 7000

    # the back office knows the payment and a bank transfer of 2000: its amount stands
    upsert(pos, open_item("R-100", "K1", 5000, 10000))
    assert get_item(pos, "R-100").amount_open.amount_minor == 5000

    # the register's payment reversed: the invoice is open by those 3000 again, once
    reverse(pos, sid)
    assert get_item(pos, "R-100").amount_open.amount_minor == 8000
    # from now on the back office's open amount stands as it is
    upsert(pos, open_item("R-100", "K1", 10000))
    assert get_item(pos, "R-100").amount_open.amount_minor == 10000


def test_a_storno_not_yet_posted_frees_nothing_of_the_invoice(pos: PosdClient) -> None:
    """A storno signed but not saved stays an open sale until its post completes: its
    negative payment line must not count as held, else the invoice looks open again."""
    seed(pos)
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-300")
    cash_post(pos, sid, 2500)
    assert get_item(pos, "R-300").state == PAID
    pos.retries = 0
    post_not_saved(lambda: reverse(pos, sid))

    item = get_item(pos, "R-300")
    assert (item.amount_open.amount_minor, item.amount_held.amount_minor) == (0, 0)
    e = refused(pay_invoice, pos, pos.create_sale().sale_id, "R-300")
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_NOT_OPEN")

    reverse(pos, sid)  # the storno completes: now the invoice is open again
    assert get_item(pos, "R-300").amount_open.amount_minor == 2500


def test_a_signed_payment_posts_although_the_invoice_was_settled_meanwhile(
    running: Running, pos: PosdClient
) -> None:
    """The TSE signed the receipt, saving it failed; the back office then reports the
    invoice settled (a bank transfer). The signed receipt must still post (the TSE's
    finish cannot be taken back): the open amount stops at 0 and the receipt and its
    journal record say by how much the invoice was overpaid."""
    seed(pos)
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-200", 1500)
    pos.add_payment(sid, CASH, 1500)
    pos.retries = 0
    post_not_saved(lambda: pos.post_sale(sid))
    upsert(pos, open_item("R-200", "K1", 1000, 5000))

    posted = pos.post_sale(sid)
    assert posted.state == sale_pb2.SALE_STATE_POSTED
    assert any(w.startswith("INVOICE_OVERPAID") and "R-200" in w for w in posted.warnings)
    item = get_item(pos, "R-200")
    assert (item.amount_open.amount_minor, item.state) == (0, PAID)
    assert any(w.startswith("INVOICE_OVERPAID") for w in pos.get_sale(sid).warnings)
    payload = post_record(running, posted.receipt_number)
    assert payload["invoice_payments"] == [
        {
            "invoice_number": "R-200",
            "amount": 1500,
            "currency": "EUR",
            "amount_open_after": 0,
            "overpaid": 500,
        }
    ]


def test_an_invoice_changed_to_another_currency_or_customer_is_refused_at_post(
    pos: PosdClient,
) -> None:
    """The back office corrects an invoice an open sale pays: posting the sale would book
    euros against a franc invoice, or one customer's money against another's invoice."""
    seed(pos)
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-100", 2000)
    pos.add_payment(sid, CASH, 2000)

    upsert(pos, open_item("R-100", "K1", 10000, currency="CHF"))
    e = refused(pos.post_sale, sid)
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CURRENCY_MISMATCH")
    assert get_item(pos, "R-100").amount_open.amount_minor == 10000

    upsert(pos, open_item("R-100", "K2", 10000))
    e = refused(pos.post_sale, sid)
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_CUSTOMER_MISMATCH")
    assert get_item(pos, "R-100").amount_open.amount_minor == 10000
    assert pos.get_sale(sid).state == sale_pb2.SALE_STATE_OPEN

    upsert(pos, open_item("R-100", "K1", 10000))
    assert pos.post_sale(sid).state == sale_pb2.SALE_STATE_POSTED
    assert get_item(pos, "R-100").amount_open.amount_minor == 8000
    assert get_item(pos, "R-100").state == OPEN
