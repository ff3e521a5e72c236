"""Review of parking hand-overs between registers and back-office orders: what cashiers
at two registers hit. Real daemons on unix sockets and real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from posd.client import PosdError, new_request_id
from posd.v1 import catalog_pb2, common_pb2, sale_pb2

from tests.conftest import Running
from tests.e2e.test_tse_crash_consistency import tse_finishes
from tests.integration.api.test_parking_handover import (
    call,
    refused_by_owner,
    start_store,
    tse_started,
)
from tests.integration.api.test_voucher_in_net_sale import voucher_row
from tests.support.fullsale import import_items, import_stock, item, money

CASH = common_pb2.PAYMENT_METHOD_CASH


@pytest.fixture
def two_registers(tmp_path: Path) -> Iterator[dict[str, Running]]:
    started = start_store(tmp_path, {"K1": 1, "K3": 3})
    try:
        for running in started.values():
            with running.client() as pos:
                import_items(
                    pos,
                    item("GIFT", "Gutschein", 5000, vat=common_pb2.VAT_CATEGORY_NOT_TAXABLE,
                         item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
                )  # fmt: skip
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_a_sale_redeeming_a_voucher_is_not_handed_over_and_stays_payable_where_parked(
    two_registers: dict[str, Running],
) -> None:
    """Tracked vouchers are each register's own ledger, like open items: handed over,
    the parking register no longer holds the voucher (it could be redeemed there again)
    while the other register, which does not know it, refuses the post after the
    parking register's TSE ended the transaction. Refused before the TSE is asked,
    naming the voucher; the sale stays parked where it was."""
    store = two_registers
    with store["K1"].client() as k1:
        sold = k1.create_sale().sale_id
        call(k1, "AddVoucherLine", sale_id=sold, code="GIFT",
             action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="V-1")  # fmt: skip
        call(k1, "AddPayment", sale_id=sold, method=CASH, amount=money(5000))
        call(k1, "PostSale", sale_id=sold)

        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        call(k1, "AddVoucherLine", sale_id=sid, code="V-1", amount=money(2000))
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    with store["K3"].client() as k3:
        err = refused_by_owner(k3, code, "VOUCHERS_NOT_TRANSFERABLE")
        assert "V-1" in err.message
        assert list(k3.list_sales()) == []

    with store["K1"].client() as k1:  # still parked, still holding the voucher
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_PARKED, "")
        assert k1.get_voucher("V-1").held.amount_minor == 2000
        finishes, _ = tse_finishes(k1.export_tse())
        assert sid not in finishes
        k1.call(
            k1.sales.ResumeSale, sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
        )
        call(k1, "AddPayment", sale_id=sid, method=CASH, amount=money(1990))
        assert call(k1, "PostSale", sale_id=sid).sale.state == sale_pb2.SALE_STATE_POSTED
    assert voucher_row(store["K1"], "V-1") == ("ISSUED", 5000, 2000)


def test_a_slip_goes_to_the_register_of_this_shop_with_its_number(
    two_registers: dict[str, Running],
) -> None:
    """The back office sends a register every register of the chain; a register of
    another shop with the same number is not the one that printed a slip of this
    store (a slip names only the register's number)."""
    from posd.v1 import shop_pb2

    store = two_registers
    with store["K3"].client() as k3:
        shop = shop_pb2.Shop(shop_id="SHOP-2", name="Filiale Nord")
        shop.CopyFrom(k3.call(k3.shops.GetShop, shop_pb2.GetShopRequest(shop_id="SHOP-1")).shop)
        shop.shop_id = "SHOP-2"
        k3.call(
            k3.shops.UpsertShop, shop_pb2.UpsertShopRequest(request_id=new_request_id(), shop=shop)
        )
        other = shop_pb2.Register(register_id="A1", shop_id="SHOP-2", register_number=1)
        k3.call(
            k3.shops.UpsertRegister,
            shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=other),
        )
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
        assert (taken.sale_id, taken.state, taken.origin_register_id) == (
            sid, sale_pb2.SALE_STATE_OPEN, "K1"
        )  # fmt: skip


def test_a_slip_scanned_at_two_registers_at_once_goes_to_exactly_one(
    tmp_path: Path,
) -> None:
    from concurrent import futures

    store = start_store(tmp_path, {"K1": 1, "K2": 2, "K3": 3})
    try:
        with store["K1"].client() as k1:
            sid = k1.create_sale().sale_id
            k1.add_line(sid, item_id="LAMP")
            tse_started(store["K1"], sid)
            code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

        def scan(reg: str) -> str:
            with store[reg].client() as pos:
                pos.retries = 0
                try:
                    return "got " + call(pos, "ResumeSale", code=code).sale.sale_id
                except PosdError as exc:
                    return f"{exc.code.name} {exc.reason}"

        with futures.ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(scan, ["K2", "K3"]))
        assert sorted(o.startswith("got") for o in outcomes) == [False, True], outcomes
        winner = "K2" if outcomes[0].startswith("got") else "K3"
        loser = "K3" if winner == "K2" else "K2"
        with store["K1"].client() as k1:
            assert k1.get_sale(sid).held_by == winner
            finishes, _ = tse_finishes(k1.export_tse())
            assert len(finishes) == 1
        with store[loser].client() as pos:
            assert list(pos.list_sales()) == []
            # scanned again there: refused, naming where it is
            with pytest.raises(PosdError) as err:
                call(pos, "ResumeSale", code=code)
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert list(pos.list_sales()) == []
        with store[winner].client() as pos:
            # scanned twice at the same register: the same open sale, no second one
            try:
                again = call(pos, "ResumeSale", code=code).sale
                assert (again.sale_id, again.state) == (sid, sale_pb2.SALE_STATE_OPEN)
            except PosdError as exc:
                assert exc.code == grpc.StatusCode.FAILED_PRECONDITION, exc
            assert [s.sale_id for s in pos.list_sales()] == [sid]
            call(pos, "AddPayment", sale_id=sid, method=CASH, amount=money(3990))
            assert call(pos, "PostSale", sale_id=sid).sale.state == sale_pb2.SALE_STATE_POSTED
    finally:
        for running in store.values():
            running.stop()


def test_a_sale_of_an_item_the_taking_register_does_not_know_is_posted_there(
    two_registers: dict[str, Running],
) -> None:
    store = two_registers
    with store["K1"].client() as k1:
        import_items(k1, item("ONLY1", "Nur in Kasse 1", 1234))
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="ONLY1", quantity="2")
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        taken = call(k3, "ResumeSale", code=code).sale
        assert taken.total.amount_minor == 2468
        call(k3, "AddPayment", sale_id=sid, method=CASH, amount=money(2468))
        done = call(k3, "PostSale", sale_id=sid).sale
        assert (done.state, done.total.amount_minor) == (sale_pb2.SALE_STATE_POSTED, 2468)


def test_a_sale_of_a_serial_numbered_piece_is_posted_at_the_taking_register(
    two_registers: dict[str, Running],
) -> None:
    """The back office sends both registers of the shop the same catalog and stock."""
    store = two_registers
    for running in store.values():
        with running.client() as pos:
            import_items(pos, item("T1", "Telefon", 19900, tracking=catalog_pb2.TRACKING_SERIAL))
            import_stock(
                pos, catalog_pb2.StockEntry(item_id="T1", serial_number="SN-1", quantity="1")
            )
    with store["K1"].client() as k1:
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="T1", serial_number="SN-1")
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        call(k3, "ResumeSale", code=code)
        call(k3, "AddPayment", sale_id=sid, method=CASH, amount=money(19900))
        done = call(k3, "PostSale", sale_id=sid).sale
        assert done.state == sale_pb2.SALE_STATE_POSTED


def test_an_exchange_returning_a_receipt_of_the_parking_register_is_not_handed_over(
    two_registers: dict[str, Running],
) -> None:
    """Receipts are the register's own: the other register does not know the returned
    receipt (it would refuse the post, RETURN_EXCEEDS_SOLD, after the parking register's
    TSE ended the transaction), and the parking register, no longer holding the return,
    would take the same receipt line back a second time. Refused before the TSE is
    asked; the exchange stays parked where it was and is completed there."""
    store = two_registers
    with store["K1"].client() as k1:
        first = k1.create_sale().sale_id
        line_id = k1.add_line(first, item_id="SOFA").sale.lines[0].line_id
        call(k1, "AddPayment", sale_id=first, method=CASH, amount=money(9900))
        call(k1, "PostSale", sale_id=first)

        sid = k1.create_sale().sale_id
        call(k1, "AddReturnLine", sale_id=sid, original_sale_id=first, original_line_id=line_id)
        k1.add_line(sid, item_id="SOFA")
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code

    with store["K3"].client() as k3:
        refused_by_owner(k3, code, "RETURNS_NOT_TRANSFERABLE")
        assert list(k3.list_sales()) == []

    with store["K1"].client() as k1:
        left = k1.get_sale(sid)
        assert (left.state, left.held_by) == (sale_pb2.SALE_STATE_PARKED, "")
        finishes, _ = tse_finishes(k1.export_tse())
        assert sid not in finishes
        k1.call(
            k1.sales.ResumeSale, sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
        )
        assert call(k1, "PostSale", sale_id=sid).sale.state == sale_pb2.SALE_STATE_POSTED


def test_a_sale_of_a_lot_the_taking_register_has_no_stock_of_is_posted_there(
    two_registers: dict[str, Running],
) -> None:
    store = two_registers
    for running in store.values():
        with running.client() as pos:
            import_items(pos, item("M1", "Milch", 129, tracking=catalog_pb2.TRACKING_LOT))
    with store["K1"].client() as k1:
        import_stock(
            k1,
            catalog_pb2.StockEntry(
                item_id="M1", lot_number="L-1", expiry_date="2099-12-31", quantity="10"
            ),
        )
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="M1", lot_number="L-1", quantity="2")
        tse_started(store["K1"], sid)
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        call(k3, "ResumeSale", code=code)
        call(k3, "AddPayment", sale_id=sid, method=CASH, amount=money(258))
        done = call(k3, "PostSale", sale_id=sid).sale
        assert done.state == sale_pb2.SALE_STATE_POSTED


def test_a_slip_scanned_while_its_register_is_down_stays_there_and_goes_over_later(
    tmp_path: Path,
) -> None:
    from tests.conftest import start_in_thread

    store = start_store(tmp_path, {"K1": 1, "K3": 3})
    try:
        with store["K1"].client() as k1:
            sid = k1.create_sale().sale_id
            k1.add_line(sid, item_id="LAMP")
            tse_started(store["K1"], sid)
            code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
        store["K1"].stop()
        with store["K3"].client() as k3:
            k3.retries = 0
            with pytest.raises(PosdError) as err:
                call(k3, "ResumeSale", code=code)
            assert (err.value.code, err.value.reason) == (
                grpc.StatusCode.UNAVAILABLE,
                "TRANSFER_UNAVAILABLE",
            )
            assert list(k3.list_sales()) == []
        peers = {"K3": f"unix:{tmp_path / 'K3' / 'posd.sock'}"}
        store["K1"] = start_in_thread(
            tmp_path / "K1",
            {"register": {"id": "K1"}, "store": {"peers": peers, "secret": "store-secret-0815"}},
        )
        with store["K1"].client() as k1:
            assert k1.get_sale(sid).state == sale_pb2.SALE_STATE_PARKED
        with store["K3"].client() as k3:
            taken = call(k3, "ResumeSale", code=code).sale
            assert (taken.sale_id, taken.state) == (sid, sale_pb2.SALE_STATE_OPEN)
            call(k3, "AddPayment", sale_id=sid, method=CASH, amount=money(3990))
            assert call(k3, "PostSale", sale_id=sid).sale.state == sale_pb2.SALE_STATE_POSTED
        with store["K1"].client() as k1:
            assert k1.get_sale(sid).held_by == "K3"
    finally:
        for running in store.values():
            running.stop()
