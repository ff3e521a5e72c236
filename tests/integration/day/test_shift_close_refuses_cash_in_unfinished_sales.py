"""A shift is not closed while an open or parked sale holds cash the cashier took into
the drawer, through the gRPC API on a real SQLite file.

The drawer entries of a sale are written at its post. Closed before, the count found the
parked sale's cash as a signed surplus of this shift, and the post later expected that
cash in the next shift's drawer (or another cashier's insert) as a shortage there. So
the close is refused, naming each sale and its cash; card payments are not in the
drawer, and a parked sale without payments (goods waiting for pick-up) does not hold it.
"""

from __future__ import annotations

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import closing_pb2, common_pb2, sale_pb2

from tests.integration.day.conftest import Day
from tests.integration.day.test_shift_close_names_shift_and_needs_count import nothing_booked
from tests.support.cash import close_as_expected

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD
FLOAT = 10000


def park(pos: PosdClient, sale_id: str) -> sale_pb2.Sale:
    req = sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sale_id)
    return pos.call(pos.sales.ParkSale, req).sale


def resume(pos: PosdClient, code: str) -> sale_pb2.Sale:
    req = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
    return pos.call(pos.sales.ResumeSale, req).sale


def refused_close(day: Day, total: int) -> PosdError:
    before = nothing_booked(day)
    with pytest.raises(PosdError) as err:
        day.day.close_shift(PosdClient.cash_counts(total=total))
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CASH_IN_UNFINISHED_SALES",
    ), err.value
    assert day.day.get_shift().state == closing_pb2.SHIFT_STATE_OPEN
    assert nothing_booked(day) == before  # no count, no difference signed
    return err.value


def test_a_parked_sale_holding_cash_keeps_the_shift_open_until_it_is_posted(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("W", "Wasser", 999)
    shift = dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    # a customer pays 5.00 in cash, then fetches more goods: the sale is parked
    with_cash = pos.create_sale().sale_id
    pos.add_line(with_cash, item_id="W")
    pos.add_payment(with_cash, CASH, 500)
    code = park(pos, with_cash).parking_code
    # paid by card and parked, and parked for pick-up without any payment: no cash
    by_card = pos.create_sale().sale_id
    pos.add_line(by_card, item_id="W")
    pos.add_payment(by_card, CARD, 500)
    park(pos, by_card)
    pick_up = pos.create_sale().sale_id
    pos.add_line(pick_up, item_id="W")
    park(pos, pick_up)

    # the drawer holds the float and the 5.00: counted so, the close was a surplus
    err = refused_close(day, FLOAT + 500)
    assert err.metadata["sale_ids"] == with_cash
    assert with_cash in err.message and "5.00 EUR" in err.message and code in err.message
    assert by_card not in err.message and pick_up not in err.message
    assert "post" in err.message and "remove its cash payment" in err.message

    # finished here, the post books the cash into this shift, which then balances
    resume(pos, code)
    pos.add_payment(with_cash, CASH, 499)
    assert pos.post_sale(with_cash).state == sale_pb2.SALE_STATE_POSTED
    closed = dc.close_shift(PosdClient.cash_counts(total=FLOAT + 999), shift_id=shift.shift_id)
    assert [(b.expected.amount_minor, b.difference.amount_minor) for b in closed.balances] == [
        (FLOAT + 999, 0)
    ]
    # the pick-up and the card sale wait on, parked
    assert pos.get_sale(pick_up).state == sale_pb2.SALE_STATE_PARKED
    assert pos.get_sale(by_card).state == sale_pb2.SALE_STATE_PARKED


def test_an_open_sale_holding_cash_is_named_and_its_removed_payment_frees_the_close(
    day: Day,
) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("W", "Wasser", 999)
    dc.open_shift(PosdClient.cash_counts(total=FLOAT))
    sale_id = pos.create_sale().sale_id
    pos.add_line(sale_id, item_id="W")
    payment_id = pos.add_payment(sale_id, CASH, 2000).payment_id
    err = refused_close(day, FLOAT + 2000)
    assert sale_id in err.message and "20.00 EUR" in err.message and "open" in err.message

    # the cashier gives the 20.00 back: nothing of the sale is in the drawer any more
    pos.remove_payment(sale_id, payment_id)
    closed = close_as_expected(dc)
    assert closed.state == closing_pb2.SHIFT_STATE_CLOSED
    assert [b.expected.amount_minor for b in closed.balances] == [FLOAT]
