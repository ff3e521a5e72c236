"""Review of parking and resuming (helper h28).

- A parking slip read by a keyboard-wedge scanner that sends its AIM symbology identifier
  (ISO/IEC 15424: "]E0" before an EAN-13, "]C0" before a Code128) resumes the sale, here
  and at another register, as the Scan RPC reads such a code.
- A register whose database is new (a replaced computer) never prints the code of a slip
  it printed before: another register that once took that older sale over (and posted
  it) would take the new slip for the old, finished sale and refuse it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient, new_request_id
from posd.v1 import common_pb2, sale_pb2, shop_pb2

from tests.conftest import Running, start_in_thread
from tests.support.fullsale import TurnableClock, import_items, item, update_shop

SECRET = "store-secret-h28"
REGISTERS = {"K1": 1, "K2": 2}


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    if "request_id" in request_type.DESCRIPTOR.fields_by_name:
        fields["request_id"] = new_request_id()
    return pos.call(getattr(pos.sales, rpc), request_type(**fields))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started: dict[str, Running] = {}
    try:
        for reg in REGISTERS:
            started[reg] = _start(tmp_path, reg)
        for running in started.values():
            with running.client() as pos:
                _registers(pos)
                import_items(pos, item("LAMP", "Lampe", 3990))
        yield started
    finally:
        for running in started.values():
            running.stop()


def _registers(pos: PosdClient) -> None:
    for reg, number in REGISTERS.items():
        r = shop_pb2.Register(register_id=reg, shop_id="SHOP-1", register_number=number)
        req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
        pos.call(pos.shops.UpsertRegister, req)


def _start(tmp_path: Path, reg: str, clock: TurnableClock | None = None) -> Running:
    peers = {o: f"unix:{tmp_path / o / 'posd.sock'}" for o in REGISTERS if o != reg}
    overrides = {"register": {"id": reg}, "store": {"peers": peers, "secret": SECRET}}
    if clock is None:
        return start_in_thread(tmp_path / reg, overrides)
    return start_in_thread(tmp_path / reg, overrides, clock=clock)


def _park(pos: PosdClient) -> tuple[str, str]:
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="LAMP")
    return sid, call(pos, "ParkSale", sale_id=sid).sale.parking_code


@pytest.mark.parametrize(
    ("barcode", "aim"),
    [(shop_pb2.PARKING_BARCODE_EAN13, "]E0"), (shop_pb2.PARKING_BARCODE_CODE128, "]C0")],
)
def test_a_slip_read_with_its_aim_identifier_resumes_here_and_at_another_register(
    store: dict[str, Running], barcode: int, aim: str
) -> None:
    with store["K1"].client() as k1:
        update_shop(k1, parking_barcode=barcode)
        own_sid, own_code = _park(k1)
        other_sid, other_code = _park(k1)
        back = call(k1, "ResumeSale", code=aim + own_code).sale
        assert (back.sale_id, back.state, back.held_by) == (
            own_sid, sale_pb2.SALE_STATE_OPEN, "K1"
        )  # fmt: skip
    with store["K2"].client() as k2:
        taken = call(k2, "ResumeSale", code=aim + other_code).sale
        assert (taken.sale_id, taken.state, taken.origin_register_id) == (
            other_sid, sale_pb2.SALE_STATE_OPEN, "K1"
        )  # fmt: skip
        assert taken.parking_code == other_code  # stored as printed, without the prefix


def test_a_register_with_a_new_database_prints_no_code_it_printed_before(
    store: dict[str, Running], tmp_path: Path
) -> None:
    with store["K1"].client() as k1:
        old_sid, old_code = _park(k1)
    with store["K2"].client() as k2:  # K2 takes the sale over and posts it
        call(k2, "ResumeSale", code=old_code)
        call(k2, "AddPayment", sale_id=old_sid, method=common_pb2.PAYMENT_METHOD_CARD)
        call(k2, "PostSale", sale_id=old_sid)
    # K1's computer is replaced: the same register starts with a new database, a quarter
    # of an hour later
    store["K1"].stop()
    shutil.rmtree(tmp_path / "K1")
    later = TurnableClock()
    later.advance(timedelta(minutes=15))
    store["K1"] = _start(tmp_path, "K1", later)
    with store["K1"].client() as k1:
        _registers(k1)
        import_items(k1, item("LAMP", "Lampe", 3990))
        new_sid, new_code = _park(k1)
    assert new_code != old_code
    # before: both were 2901000000015, and K2 answered SALE_ALREADY_POSTED (its old sale)
    with store["K2"].client() as k2:
        taken = call(k2, "ResumeSale", code=new_code).sale
        assert (taken.sale_id, taken.state, taken.origin_register_id) == (
            new_sid, sale_pb2.SALE_STATE_OPEN, "K1"
        )  # fmt: skip


def test_a_resumed_sale_keeps_the_prices_it_was_parked_with(store: dict[str, Running]) -> None:
    """Explicit (not a change): the lines of a parked sale keep their prices when it is
    resumed, here or at another register, also after a price change meanwhile; a line
    added after resuming gets the price of now. The customer pays what the slip says."""
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP", quantity="2")
        # a card: cash stays with the drawer it is in (CASH_NOT_TRANSFERABLE)
        call(k1, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD,
             amount=common_pb2.Money(amount_minor=1000, currency_code="EUR"))  # fmt: skip
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K2"].client() as k2:
        import_items(k2, item("LAMP", "Lampe", 4500))  # the price went up meanwhile
        taken = call(k2, "ResumeSale", code=code).sale
        assert [(ln.quantity, ln.amount.amount_minor) for ln in taken.lines] == [("2", 7980)]
        assert [p.amount.amount_minor for p in taken.payments] == [1000]  # paid part goes along
        k2.add_line(sid, item_id="LAMP")
        call(k2, "AddPayment", sale_id=sid, method=common_pb2.PAYMENT_METHOD_CARD)
        posted = call(k2, "PostSale", sale_id=sid).sale
        assert posted.total.amount_minor == 7980 + 4500
        assert sorted(p.amount.amount_minor for p in posted.payments) == [1000, 11480]
