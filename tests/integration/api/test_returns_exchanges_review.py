"""Returns as a demanding shop meets them: a net-priced receipt (a business customer's)
refunds the gross the customer paid and takes back the VAT charged, however its goods
come back; a receipt reversed is said to be reversed when its goods are brought back."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import common_pb2, sale_pb2

from tests.conftest import Running
from tests.integration.api.test_sale_part2 import (
    CASH,
    call,
    error,
    pay,
    post,
    rows,
    sale_of,
    seed,
)
from tests.support.fullsale import customer, import_customers, import_items, item


def net_receipt(pos: PosdClient, quantity: str) -> sale_pb2.Sale:
    """``quantity`` bolts at 8.40 net for the business customer B1 (net prices)."""
    import_items(pos, item("BOLT", "Bolzen", 840, net=True))
    import_customers(
        pos,
        customer("B1", "Bau GmbH", company="Bau GmbH", price_entry=common_pb2.PRICE_BASIS_NET),
    )
    sid = pos.create_sale().sale_id
    pos.set_customer(sid, "B1", recalculate_lines=True)
    pos.add_line(sid, item_id="BOLT", quantity=quantity)
    pay(pos, sid, CASH, 5000)
    return post(pos, sid)


def give_back(pos: PosdClient, original: sale_pb2.Sale, quantity: str) -> sale_pb2.Sale:
    """A return of ``quantity`` of the receipt's line, refunded in cash and posted."""
    sid = pos.create_sale().sale_id
    pos.set_customer(sid, "B1", recalculate_lines=True)
    call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
         original_line_id="1", quantity=quantity)  # fmt: skip
    pay(pos, sid, CASH, pos.get_sale(sid).total.amount_minor)
    return post(pos, sid)


def tax(sale: sale_pb2.Sale) -> int:
    return sum(v.tax.amount_minor for v in sale.vat_totals)


def test_a_net_priced_receipt_returned_piece_by_piece_refunds_what_was_paid_no_more(
    running: Running, pos: PosdClient
) -> None:
    """3 x 8.40 net at 19 %: 25.20 + 4.79 = 29.99 paid. Each piece's net share with its
    own tax is 8.40 + 1.60 = 10.00: three returns of one gave back 30.00, and 4.80 VAT
    for 4.79 charged."""
    original = net_receipt(pos, "3")
    assert (original.total.amount_minor, tax(original)) == (2999, 479)
    returns = [give_back(pos, original, "1") for _ in range(3)]
    refunds = [-r.total.amount_minor for r in returns]
    # no net gives 9.99 gross: the second a cent short, the third makes up for it
    assert refunds == [1000, 998, 1001]
    assert sum(refunds) == 2999
    assert sum(-tax(r) for r in returns) == 479
    drawer = rows(running, "SELECT SUM(amount) FROM drawer_entries WHERE kind = 'SALE_PAYMENT'")
    change = rows(running, "SELECT -SUM(amount) FROM drawer_entries WHERE kind = 'CHANGE'")
    assert drawer[0][0] - change[0][0] == 0  # every cent taken was given back, no more


def test_a_net_priced_receipt_returned_in_parts_refunds_exactly_what_was_paid(
    pos: PosdClient,
) -> None:
    original = net_receipt(pos, "3")
    first = give_back(pos, original, "2")
    second = give_back(pos, original, "1")
    assert -first.total.amount_minor - second.total.amount_minor == 2999
    assert -tax(first) - tax(second) == 479


def test_goods_of_a_reversed_receipt_are_refused_as_reversed_not_as_returned(
    running: Running, pos: PosdClient
) -> None:
    """Receipt 1 reversed by receipt 2: bringing its goods back was refused with "sold 2,
    2 returned already", for goods nobody returned; a return opened before the storno
    posted was refused at its post as "returned meanwhile"."""
    seed(pos)
    sid = sale_of(pos, ("COFFEE", "2"))
    pay(pos, sid, CASH, 2000)
    post(pos, sid)
    opened = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=opened, original_sale_id=sid, original_line_id="1",
         quantity="1")  # fmt: skip
    pay(pos, opened, CASH, -899)
    reversal = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    assert reversal.receipt_number == 2
    later = pos.create_sale().sale_id
    e = error(call, pos, "AddReturnLine", sale_id=later, original_sale_id=sid,
              original_line_id="1")  # fmt: skip
    assert (e.reason, e.metadata["reversal_receipt"]) == ("RECEIPT_REVERSED", "2")
    assert "reversed by receipt 2" in str(e)
    e = error(post, pos, opened)
    assert (e.reason, e.metadata["reversal_receipt"]) == ("RECEIPT_REVERSED", "2")
    # nothing was refunded twice: the storno gave back the 17.98, the open return nothing
    assert rows(running, "SELECT COUNT(*) FROM drawer_entries WHERE sale_id = ?", opened) == [(0,)]


def test_two_returns_of_a_net_priced_line_open_at_once_refund_what_was_paid(
    pos: PosdClient,
) -> None:
    """Worked out before either posted, the two returns together are the whole line: the
    second posted (the last piece) is accepted, as it refunds the rest to the cent."""
    original = net_receipt(pos, "3")
    opened = []
    for quantity in ("1", "2"):
        sid = pos.create_sale().sale_id
        pos.set_customer(sid, "B1", recalculate_lines=True)
        call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
             original_line_id="1", quantity=quantity)  # fmt: skip
        pay(pos, sid, CASH, pos.get_sale(sid).total.amount_minor)
        opened.append(sid)
    done = [post(pos, sid) for sid in opened]
    assert sum(-r.total.amount_minor for r in done) == 2999
    assert sum(-tax(r) for r in done) == 479
