"""Back-office orders through the real gRPC server and SQLite: UpsertOrders (and
``posctl import orders``), LoadOrder into a sale with the order's customer, lines and
prices, the order's states along the sale (post, cancel, park), refusals that change
nothing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, order_pb2, sale_pb2, shop_pb2

from tests.conftest import Running, start_in_thread
from tests.integration.api.test_master_data import run_posctl
from tests.support.fullsale import (
    customer,
    import_customers,
    import_items,
    item,
    money,
    printed,
)


def order(number: str, *lines: order_pb2.OrderLine, customer_number: str = "K1") -> order_pb2.Order:
    return order_pb2.Order(
        order_number=number, customer_number=customer_number, currency_code="EUR", lines=lines
    )


def line(
    item_id: str, quantity: str = "", price: int | None = None, **kw: Any
) -> order_pb2.OrderLine:
    msg = order_pb2.OrderLine(item_id=item_id, quantity=quantity, **kw)
    if price is not None:
        msg.unit_price.CopyFrom(money(price))
    return msg


def assert_load_refused(err: PosdError, reason: str, number: str, line: str, item: str) -> None:
    """LoadOrder refused a line: FAILED_PRECONDITION ``reason``, naming order, line (1-based)
    and item in its metadata."""
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, reason), err
    meta = err.metadata
    found = (meta.get("order_number"), meta.get("line"), meta.get("item_id"))
    assert found == (number, line, item), meta


@pytest.fixture
def shop_data(pos: PosdClient) -> None:
    shirt = item("T1", "T-Shirt", 1999)
    shirt.variants.add(variant_id="M", name="Größe M")
    xl = shirt.variants.add(variant_id="XL", name="Größe XL")
    xl.price.CopyFrom(money(2199))
    import_items(pos, item("B1", "Brot", 349, vat=common_pb2.VAT_CATEGORY_REDUCED), shirt)
    import_customers(pos, customer("K1", "Erika Muster"), customer("K2", "Max Muster"))


def db_rows(running: Running, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(running.config.database_path) as db:
        return db.execute(sql, args).fetchall()


def counts(running: Running) -> tuple[int, int, int]:
    """(sales, sale lines, journal records)."""
    return tuple(  # type: ignore[return-value]
        db_rows(running, f"SELECT COUNT(*) FROM {t}")[0][0]
        for t in ("sales", "sale_lines", "journal")
    )


def refused(call: Any) -> PosdError:
    with pytest.raises(PosdError) as err:
        call()
    return err.value


def test_upsert_orders_is_all_or_nothing_and_lists_by_state_and_customer(
    pos: PosdClient, shop_data: None
) -> None:
    rows = [
        order("A-1", line("B1", "2")),
        order("A-2", line("T1", "1", variant_id="M"), customer_number="K2"),
        order("A-3", line("B1", "0")),  # a quantity of zero
        order_pb2.Order(order_number="A-4", currency_code="EUR"),  # no lines
        order("A-5", line("B1", "1", price=100, text="Geschenk")),
    ]
    rows[4].lines[0].unit_price.currency_code = "CHF"
    summary = pos.upsert_orders(*rows)
    assert not summary.committed
    assert [(r.row, r.key, r.reason, r.field) for r in summary.rejections] == [
        (3, "A-3", "INVALID_QUANTITY", "order.lines[0].quantity"),
        (4, "A-4", "INVALID_ARGUMENT", "order.lines"),
        (5, "A-5", "CURRENCY_MISMATCH", "order.lines[0].unit_price.currency_code"),
    ]
    assert list(pos.list_orders()) == []  # nothing half-imported

    summary = pos.upsert_orders(*rows, skip_invalid_rows=True)
    assert (summary.committed, summary.imported, summary.created) == (True, 2, 2)
    got = pos.get_order("A-1")
    assert (got.state, got.customer_number, got.lines[0].quantity) == (
        order_pb2.ORDER_STATE_OPEN,
        "K1",
        "2",
    )
    assert not got.lines[0].HasField("unit_price")
    assert [o.order_number for o in pos.list_orders(page_size=1)] == ["A-1", "A-2"]
    assert [o.order_number for o in pos.list_orders(customer_number="K2")] == ["A-2"]
    assert [o.order_number for o in pos.list_orders(order_pb2.ORDER_STATE_LOADED)] == []

    # an OPEN order is replaced
    summary = pos.upsert_orders(order("A-1", line("B1", "3", price=299, text="Abholung Fr")))
    assert (summary.committed, summary.updated) == (True, 1)
    got = pos.get_order("A-1")
    assert (got.lines[0].quantity, got.lines[0].unit_price.amount_minor) == ("3", 299)
    assert got.lines[0].text == "Abholung Fr"

    err = refused(lambda: pos.get_order("NOPE"))
    assert (err.code, err.reason) == (grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND")


def test_load_order_builds_the_sale_and_journals_the_order_price(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    pos.upsert_orders(order("W-100", line("B1", "2"), line("T1", "1", price=1899, variant_id="XL")))
    request_id = new_request_id()
    sale = pos.load_order("W-100", request_id=request_id)
    assert sale.state == sale_pb2.SALE_STATE_OPEN
    assert sale.order_number == "W-100"
    assert sale.customer.customer_number == "K1"
    assert [(ln.item_id, ln.variant_id, ln.quantity, ln.unit_price.amount_minor) for ln in
            sale.lines] == [("B1", "", "2", 349), ("T1", "XL", "1", 1899)]  # fmt: skip
    assert sale.total.amount_minor == 2 * 349 + 1899
    loaded = pos.get_order("W-100")
    assert (loaded.state, loaded.sale_id) == (order_pb2.ORDER_STATE_LOADED, sale.sale_id)
    assert pos.get_sale(sale.sale_id).order_number == "W-100"

    # the order price is journaled like a price override, the order as its reason
    overrides = [
        json.loads(p)
        for (p,) in db_rows(running, "SELECT payload FROM journal WHERE kind = 'PRICE_OVERRIDE'")
    ]
    assert len(overrides) == 1
    assert overrides[0]["sale_id"] == sale.sale_id
    assert overrides[0]["item_id"] == "T1"
    assert (overrides[0]["old_unit_price"], overrides[0]["new_unit_price"]) == (2199, 1899)
    assert overrides[0]["reason"] == "order W-100 line 2"
    assert db_rows(running, "SELECT COUNT(*) FROM journal WHERE kind = 'ORDER_LOADED'")[0][0] == 1

    # loading again: the same sale, nothing added (same request id, and another one)
    before = counts(running)
    assert pos.load_order("W-100", request_id=request_id) == sale
    again = pos.load_order("W-100")
    assert again.sale_id == sale.sale_id
    assert len(again.lines) == 2
    assert counts(running) == before

    # the back office cannot replace an order a sale holds
    summary = pos.upsert_orders(order("W-100", line("B1", "5")))
    assert not summary.committed
    assert [(r.key, r.reason) for r in summary.rejections] == [("W-100", "ORDER_IN_USE")]
    assert len(pos.get_order("W-100").lines) == 2


def test_post_completes_the_order_prints_it_and_refuses_a_reload(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    pos.upsert_orders(order("W-200", line("B1", "1", price=300)))
    sale = pos.load_order("W-200")
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 500)
    posted = pos.post_sale(sale.sale_id)
    assert posted.order_number == "W-200"
    done = pos.get_order("W-200")
    assert (done.state, done.sale_id) == (order_pb2.ORDER_STATE_COMPLETED, sale.sale_id)
    receipt = printed(running, "Auftrag W-200")
    assert f"Beleg-Nr. {posted.receipt_number}" in receipt

    before = counts(running)
    err = refused(lambda: pos.load_order("W-200"))
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ORDER_COMPLETED")
    summary = pos.upsert_orders(order("W-200", line("B1", "1")))
    assert [r.reason for r in summary.rejections] == ["ORDER_IN_USE"]
    assert counts(running) == before
    assert [o.order_number for o in pos.list_orders(order_pb2.ORDER_STATE_COMPLETED)] == ["W-200"]


def test_a_storno_of_the_orders_receipt_reopens_the_order(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    """A storno takes the whole receipt back (the goods were not handed over): the order
    is OPEN again, so the cashier can load it and post it right; the storno's journal
    record names it."""
    pos.upsert_orders(order("W-250", line("B1", "2", price=300)))
    sale = pos.load_order("W-250")
    pos.add_payment(sale.sale_id, common_pb2.PAYMENT_METHOD_CASH, 600)
    pos.post_sale(sale.sale_id)
    req = sale_pb2.ReverseReceiptRequest(
        request_id=new_request_id(), sale_id=sale.sale_id, reason="Fehlbon"
    )
    storno = pos.call(pos.sales.ReverseReceipt, req).reversal
    assert storno.state == sale_pb2.SALE_STATE_POSTED
    reopened = pos.get_order("W-250")
    assert (reopened.state, reopened.sale_id) == (order_pb2.ORDER_STATE_OPEN, "")
    (payload,) = [
        json.loads(p)
        for (p,) in db_rows(
            running, "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' AND ref = ?",
            f"receipt:{storno.receipt_number}",
        )
    ]  # fmt: skip
    assert payload["order_reopened"] == "W-250"
    again = pos.load_order("W-250")
    assert again.sale_id not in (sale.sale_id, storno.sale_id)
    assert again.total.amount_minor == 600


def test_cancel_reopens_the_order_and_parking_keeps_the_link(
    pos: PosdClient, shop_data: None
) -> None:
    pos.upsert_orders(order("W-300", line("B1", "1")))
    sale = pos.load_order("W-300")
    parked = pos.call(
        pos.sales.ParkSale,
        sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sale.sale_id),
    ).sale
    assert parked.state == sale_pb2.SALE_STATE_PARKED
    assert parked.order_number == "W-300"
    assert pos.get_order("W-300").state == order_pb2.ORDER_STATE_LOADED
    assert pos.load_order("W-300").sale_id == sale.sale_id  # still that sale
    resumed = pos.call(
        pos.sales.ResumeSale,
        sale_pb2.ResumeSaleRequest(request_id=new_request_id(), sale_id=sale.sale_id),
    ).sale
    assert (resumed.state, resumed.order_number) == (sale_pb2.SALE_STATE_OPEN, "W-300")

    pos.cancel_sale(sale.sale_id, "Kunde kommt später")
    reopened = pos.get_order("W-300")
    assert (reopened.state, reopened.sale_id) == (order_pb2.ORDER_STATE_OPEN, "")
    again = pos.load_order("W-300")
    assert again.sale_id != sale.sale_id
    assert [ln.item_id for ln in again.lines] == ["B1"]
    assert pos.get_order("W-300").sale_id == again.sale_id


def test_an_unknown_item_refuses_the_load_and_changes_nothing(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    pos.upsert_orders(order("W-400", line("B1", "1", price=100), line("GONE", "1")))
    before = counts(running)
    err = refused(lambda: pos.load_order("W-400"))
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ORDER_ITEM_UNKNOWN")
    assert "GONE" in err.message and "line 2" in err.message
    assert err.metadata["item_id"] == "GONE"
    assert counts(running) == before
    assert pos.get_order("W-400").state == order_pb2.ORDER_STATE_OPEN

    pos.upsert_orders(order("W-401", line("T1", "1", variant_id="XXL")))
    err = refused(lambda: pos.load_order("W-401"))
    assert err.reason == "ORDER_ITEM_UNKNOWN" and "XXL" in err.message
    pos.upsert_orders(order("W-402", line("B1", "1"), customer_number="K9"))
    err = refused(lambda: pos.load_order("W-402"))
    assert err.reason == "ORDER_CUSTOMER_UNKNOWN"
    assert counts(running) == before

    # once the item is in the catalog the same order loads
    import_items(pos, item("GONE", "Nachgeliefert", 500))
    sale = pos.load_order("W-400")
    assert [(ln.item_id, ln.unit_price.amount_minor) for ln in sale.lines] == [
        ("B1", 100),
        ("GONE", 500),
    ]


def test_posctl_imports_orders_from_csv_and_json(
    running: Running,
    pos: PosdClient,
    shop_data: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_number;customer_number;currency_code;item_id;variant_id;quantity;unit_price;text\n"
        "T-1;K1;EUR;B1;;2;;\n"
        "T-1;K1;EUR;T1;XL;1;18,99;Geschenkpapier\n"
        "T-2;K2;EUR;B1;;1;;\n"
        "T-2;K2;EUR;T1;M;1;9,999;\n"  # three decimals: the whole order T-2 is rejected
        "T-5;K2;EUR;B1;;1,5x;;\n"  # not a quantity: the daemon rejects T-5
        "T-3;K2;EUR;B1;;1;;\n",
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "orders", str(orders))
    assert code == 1
    assert "NOTHING imported" in out
    assert "line 5: PARSE_ERROR: unit_price: '9,999' has more decimals than EUR allows" in out
    assert "line 4: PARSE_ERROR: T-2 is rejected whole with its line 5" in out
    assert "line 6 [T-5]: INVALID_QUANTITY" in out
    assert list(pos.list_orders()) == []

    code, out = run_posctl(running, capsys, "import", "orders", str(orders), "--skip-invalid")
    assert code == 1, out
    assert "imported 2 orders (2 new, 0 replaced)" in out
    t1 = pos.get_order("T-1")
    assert [(ln.item_id, ln.variant_id, ln.quantity, ln.unit_price.amount_minor, ln.text)
            for ln in t1.lines] == [("B1", "", "2", 0, ""), ("T1", "XL", "1", 1899,
                                    "Geschenkpapier")]  # fmt: skip
    assert not t1.lines[0].HasField("unit_price")
    assert [o.order_number for o in pos.list_orders()] == ["T-1", "T-3"]

    pos.load_order("T-1")
    js = tmp_path / "orders.json"
    js.write_text(
        json.dumps(
            {
                "orders": [
                    {"orderNumber": "T-1", "currencyCode": "EUR", "lines": [{"itemId": "B1"}]},
                    {
                        "orderNumber": "T-4",
                        "customerNumber": "K2",
                        "currencyCode": "EUR",
                        "lines": [{"itemId": "B1", "quantity": "3"}],
                    },
                ]
            }
        ),
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "orders", str(js), "--skip-invalid")
    assert code == 1
    assert "entry 1 [T-1]: ORDER_IN_USE" in out
    assert "imported 1 orders (1 new, 0 replaced)" in out
    assert pos.get_order("T-4").lines[0].quantity == "3"


def test_order_service_is_in_health_and_reflection(running: Running) -> None:
    with grpc.insecure_channel(running.target) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        resp = health.Check(health_pb2.HealthCheckRequest(service="posd.v1.OrderService"))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
        answers = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for a in answers for s in a.list_services_response.service}
        assert "posd.v1.OrderService" in names


def test_an_agreed_order_price_is_not_discounted_again(pos: PosdClient, shop_data: None) -> None:
    """The back office agreed 8.00 with a customer who has 10 % off: the line costs
    8.00, not 7.20; the line at the catalog price gets the customer's discount."""
    import_customers(pos, customer("K3", "Stammkunde", discount_percent="10"))
    pos.upsert_orders(
        order("W-400", line("B1", "2", price=300), line("T1", "1", variant_id="M"),
              customer_number="K3")
    )  # fmt: skip
    sale = pos.load_order("W-400")
    got = [(ln.discount_percent, ln.amount.amount_minor) for ln in sale.lines]
    assert got == [("0", 600), ("10", 1799)]
    assert sale.total.amount_minor == 600 + 1799


def test_the_sale_of_an_order_keeps_the_orders_customer(
    running: Running, pos: PosdClient, shop_data: None
) -> None:
    """K1's order at K1's agreed price must not end on K2's receipt."""
    pos.upsert_orders(order("W-300", line("T1", "1", price=100, variant_id="XL")))
    sale = pos.load_order("W-300")
    before = counts(running)
    err = refused(lambda: pos.set_customer(sale.sale_id, "K2", recalculate_lines=True))
    assert err.reason == "ORDER_CUSTOMER_MISMATCH"
    after = pos.get_sale(sale.sale_id)
    assert after.customer.customer_number == "K1"
    assert [ln.unit_price.amount_minor for ln in after.lines] == [100]
    assert counts(running) == before


@contextmanager
def k1_and_k3(
    tmp_path: Path, secret: str, seed: Callable[[PosdClient], None]
) -> Iterator[dict[str, Running]]:
    """Registers K1 and K3 of one shop, peers of each other (a sale parked at one is
    resumed at the other), each knowing both registers and seeded with ``seed``."""
    regs = {"K1": 1, "K3": 3}
    started: dict[str, Running] = {}
    try:
        for reg in regs:
            peers = {o: f"unix:{tmp_path / o / 'posd.sock'}" for o in regs if o != reg}
            started[reg] = start_in_thread(
                tmp_path / reg,
                {"register": {"id": reg}, "store": {"peers": peers, "secret": secret}},
            )
        for running in started.values():
            with running.client() as pos:
                for reg, number in regs.items():
                    r = shop_pb2.Register(register_id=reg, shop_id="SHOP-1", register_number=number)
                    req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
                    pos.call(pos.shops.UpsertRegister, req)
                seed(pos)
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_an_order_whose_sale_is_paid_at_another_register_is_transferred_there(
    tmp_path: Path,
) -> None:
    """Order W-700 is loaded at K1, parked and paid at K3. K1 marks it TRANSFERRED to K3
    in the hand-over (not LOADED for good): it lists so, cannot be loaded or replaced
    there. K3, which the back office sent the order too, links its own OPEN copy to the
    sale taken over, and posting completes it there. Order W-701, which only K1 knows,
    is TRANSFERRED likewise; K3's posted sale keeps its number."""
    brot = item("B1", "Brot", 349, vat=common_pb2.VAT_CATEGORY_REDUCED)
    with k1_and_k3(tmp_path, "store-secret-order", lambda pos: import_items(pos, brot)) as started:
        with started["K3"].client() as k3:
            k3.upsert_orders(order("W-700", line("B1", "2"), customer_number=""))
        codes: dict[str, str] = {}
        sales: dict[str, str] = {}
        with started["K1"].client() as k1:
            k1.upsert_orders(
                order("W-700", line("B1", "2"), customer_number=""),
                order("W-701", line("B1", "1", price=300), customer_number=""),
            )
            for number in ("W-700", "W-701"):
                sid = k1.load_order(number).sale_id
                park = sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sid)
                codes[number] = k1.call(k1.sales.ParkSale, park).sale.parking_code
                sales[number] = sid
        with started["K3"].client() as k3:
            for number in ("W-700", "W-701"):
                resume = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=codes[number])
                taken = k3.call(k3.sales.ResumeSale, resume).sale
                assert (taken.register_id, taken.order_number) == ("K3", number)
            linked = k3.get_order("W-700")
            assert (linked.state, linked.sale_id) == (order_pb2.ORDER_STATE_LOADED, sales["W-700"])
            assert k3.load_order("W-700").sale_id == sales["W-700"]  # that sale, not a new one
            assert refused(lambda: k3.get_order("W-701")).reason == "ORDER_NOT_FOUND"
        with started["K1"].client() as k1:
            for number in ("W-700", "W-701"):
                moved = k1.get_order(number)
                assert (moved.state, moved.sale_id, moved.transferred_to_register_id) == (
                    order_pb2.ORDER_STATE_TRANSFERRED, sales[number], "K3"
                )  # fmt: skip
            transferred = k1.list_orders(order_pb2.ORDER_STATE_TRANSFERRED)
            assert [o.order_number for o in transferred] == ["W-700", "W-701"]
            assert list(k1.list_orders(order_pb2.ORDER_STATE_LOADED)) == []
            err = refused(lambda: k1.load_order("W-700"))
            assert (err.code, err.reason) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "ORDER_TRANSFERRED",
            )
            assert err.metadata["register_id"] == "K3"
            summary = k1.upsert_orders(order("W-700", line("B1", "1"), customer_number=""))
            assert [r.reason for r in summary.rejections] == ["ORDER_IN_USE"]
        with started["K3"].client() as k3:
            for number, amount in (("W-700", 698), ("W-701", 300)):
                k3.add_payment(sales[number], common_pb2.PAYMENT_METHOD_CASH, amount)
                posted = k3.post_sale(sales[number])
                assert (posted.state, posted.order_number) == (sale_pb2.SALE_STATE_POSTED, number)
            done = k3.get_order("W-700")
            assert (done.state, done.sale_id) == (order_pb2.ORDER_STATE_COMPLETED, sales["W-700"])
        with started["K1"].client() as k1:  # still where it went: K3 completed it
            assert k1.get_order("W-700").state == order_pb2.ORDER_STATE_TRANSFERRED
        journal = db_rows(
            started["K1"],
            "SELECT payload FROM journal WHERE kind = 'SALE_TRANSFERRED' ORDER BY seq",
        )
        assert [json.loads(p)["order_number"] for (p,) in journal] == ["W-700", "W-701"]
