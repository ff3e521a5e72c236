"""Open items and back-office orders at their edges (review h56): a second tap on "pay
the invoice" for the same sale, and a page of large orders. Through the gRPC API of the
in-process daemon on real SQLite."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import order_pb2

from tests.conftest import start_in_thread
from tests.integration.api.test_devices_api import wait_for
from tests.integration.api.test_open_items import get_item, pay_invoice, seed
from tests.integration.api.test_orders import line, order, shop_data  # noqa: F401
from tests.support.fullsale import customer, import_customers, import_items, item


def test_paying_an_invoice_this_sale_pays_already_says_so(pos: PosdClient) -> None:
    """Tapped twice, "pay R-100" was refused as "10000 held by open sales": the cashier
    looks for another register's sale that does not exist. It is this sale's."""
    seed(pos)
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-100")
    with pytest.raises(PosdError) as err:
        pay_invoice(pos, sid, "R-100")
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVOICE_NOT_OPEN",
    )
    assert f"sale {sid} pays 10000 of it already" in err.value.message
    assert "open sales" not in err.value.message
    # held by another sale, it says that
    other = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pay_invoice(pos, other, "R-100")
    assert "10000 held by other open sales" in err.value.message
    assert get_item(pos, "R-100").amount_held.amount_minor == 10000


LINES = 500  # domain.order.MAX_ORDER_LINES
# 80 characters, the most a line's text may have (it becomes the sale line's note; it
# was 200, when fifty such orders made a page over 4 MiB)
TEXT = "Lieferhinweis " + "x" * 66


def test_a_page_of_large_orders_fits_a_clients_message_limit(
    pos: PosdClient,
    shop_data: None,  # noqa: F811
) -> None:
    """Fifty orders (the default page) of 500 lines with their back-office texts were
    over 4 MiB: ListOrders failed with RESOURCE_EXHAUSTED instead of a shorter page. A
    page stops at 5,000 order lines: 45 such orders come in pages of 10."""
    numbers = [f"A-{i:03d}" for i in range(45)]
    for start in range(0, len(numbers), 4):  # each request under the 1 MiB the daemon takes
        pos.upsert_orders(
            *[order(n, *[line("B1", "1", text=TEXT)] * LINES) for n in numbers[start : start + 4]]
        )
    seen: list[str] = []
    token = ""
    while True:
        resp = pos.call(pos.orders.ListOrders, order_pb2.ListOrdersRequest(page_token=token))
        assert resp.ByteSize() < 4 * 1024 * 1024
        assert resp.orders and all(len(o.lines) == LINES for o in resp.orders)
        seen += [o.order_number for o in resp.orders]
        token = resp.next_page_token
        if not token:
            break
    assert seen == numbers


def test_an_order_in_a_sale_loads_again_while_the_drawer_is_open(tmp_path: Path) -> None:
    """With no new sale while the drawer is open, loading an order again (to get back
    to its sale after a no-sale drawer opening) was refused as a new sale
    ("close the cash drawer before starting a new sale"); no sale is started then. A
    new order still waits for the drawer."""
    r = start_in_thread(
        tmp_path / "state",
        {"drawer": {"block_sale_while_open": True}, "printer": {"status_poll_ms": 50}},
    )
    try:
        with r.client() as pos:
            import_items(pos, item("B1", "Brot", 349))
            import_customers(pos, customer("K1", "Erika Muster"))
            pos.upsert_orders(order("L-1", line("B1", "2")), order("L-2", line("B1", "1")))
            first = pos.load_order("L-1")
            assert pos.open_drawer("Wechselgeld").kicked
            wait_for(lambda: pos.get_device("drawer").status_flags[0].value)
            again = pos.load_order("L-1")
            assert again.sale_id == first.sale_id
            assert pos.get_order("L-1").state == order_pb2.ORDER_STATE_LOADED
            with pytest.raises(PosdError) as err:
                pos.load_order("L-2")
            assert err.value.reason == "DRAWER_OPEN"
            assert pos.get_order("L-2").state == order_pb2.ORDER_STATE_OPEN
    finally:
        r.stop()


def test_loading_an_order_again_announces_no_new_sale(
    pos: PosdClient,
    shop_data: None,  # noqa: F811
) -> None:
    """A UI (customer display, second screen) was told "created" for the order's sale at
    every LoadOrder of it, as if a new sale had begun."""
    pos.upsert_orders(order("E-1", line("B1", "2")))
    sid = pos.load_order("E-1").sale_id
    assert pos.load_order("E-1").sale_id == sid
    marker = pos.create_sale().sale_id  # the last event: "created" of another sale
    created: list[str] = []
    stream = pos.subscribe_events(after_sequence=0)
    for msg in stream:
        if msg.event.HasField("sale") and msg.event.sale.kind == "created":
            created.append(msg.event.sale.sale_id)
            if msg.event.sale.sale_id == marker:
                break
    stream.cancel()  # type: ignore[attr-defined]
    assert created == [sid, marker]
