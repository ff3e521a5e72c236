"""The receipt archive filters by customer and by net amount (through the gRPC API)."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import closing_pb2, common_pb2, customer_pb2, sale_pb2


def sell(pos: PosdClient, item_id: str, qty: str, customer: str = "") -> sale_pb2.Sale:
    s = pos.create_sale()
    if customer:
        pos.set_customer(s.sale_id, customer)
    pos.add_line(s.sale_id, item_id=item_id, quantity=qty)
    total = pos.get_sale(s.sale_id).total.amount_minor
    pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CARD, total)
    return pos.post_sale(s.sale_id)


def numbers(pos: PosdClient, **kwargs: object) -> list[int]:
    req = closing_pb2.ListReceiptsRequest(**kwargs)  # type: ignore[arg-type]
    return sorted(r.receipt_number for r in pos.list_receipts(req).receipts)


def test_filter_by_customer_and_net_amount(pos: PosdClient) -> None:
    pos.upsert_item("W", "Wein", 1190)  # 19 %: 10.00 net per bottle
    pos.upsert_item("B", "Brot", 107, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
    pos.create_customer(customer_pb2.Customer(customer_number="K-7", name="Erika Mustermann"))
    a = sell(pos, "W", "1", customer="K-7")  # net 10.00
    b = sell(pos, "W", "3")  # net 30.00
    c = sell(pos, "B", "10", customer="K-7")  # net 10.00 (7 %)
    assert numbers(pos, customer_number="K-7") == [a.receipt_number, c.receipt_number]
    eur = "EUR"
    assert numbers(pos, net_min=common_pb2.Money(amount_minor=2000, currency_code=eur)) == [
        b.receipt_number
    ]
    assert numbers(
        pos,
        net_min=common_pb2.Money(amount_minor=1000, currency_code=eur),
        net_max=common_pb2.Money(amount_minor=1000, currency_code=eur),
    ) == [a.receipt_number, c.receipt_number]
    assert numbers(
        pos,
        customer_number="K-7",
        gross_min=common_pb2.Money(amount_minor=1100, currency_code=eur),
    ) == [a.receipt_number]
