"""The Sale answer is built from cached parts (its header, its lines): a change of the
sale must always show in the next answer, and one sale's parts never in another's."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from posd.v1 import sale_pb2

from posd_daemon.api.convert import sale_to_pb
from posd_daemon.domain.catalog import Item
from posd_daemon.domain.customer import CustomerSnapshot
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import Sale, parse_quantity
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BREAD = Item("1001", "Brot", 349, "EUR", VatCategory.REDUCED)
COFFEE = Item("1002", "Kaffee", 899, "EUR", VatCategory.NORMAL)
RATES = {VatCategory.REDUCED: Decimal(7), VatCategory.NORMAL: Decimal(19)}


def sale(sale_id: str = "s1", operator_id: str = "1") -> Sale:
    s = Sale(sale_id, "REG-1", operator_id, "EUR", NOW)
    s.add_line(BREAD, parse_quantity("1", fractional=False), RATES[BREAD.vat_category])
    return s


def test_every_change_shows_in_the_next_answer() -> None:
    s = sale()
    first = sale_to_pb(s)
    assert first.customer.anonymous and first.total.amount_minor == 349
    s.add_line(COFFEE, parse_quantity("2", fractional=False), RATES[COFFEE.vat_category])
    s.customer = CustomerSnapshot("K-7", "Erika Muster", anonymous=False, city="Köln")
    s.parking_code = "P123"
    s.add_payment(PaymentMethod.CASH, 5000, "EUR")
    s.post(17, NOW)
    second = sale_to_pb(s)
    assert second.state == sale_pb2.SALE_STATE_POSTED
    assert second.receipt_number == 17
    assert [ln.item_id for ln in second.lines] == ["1001", "1002"]
    assert second.total.amount_minor == 349 + 2 * 899
    assert second.paid.amount_minor == 5000
    assert second.change.amount_minor == 5000 - (349 + 2 * 899)
    assert (second.customer.customer_number, second.customer.name) == ("K-7", "Erika Muster")
    assert not second.customer.anonymous
    assert second.parking_code == "P123"
    assert second.HasField("post_time") and second.HasField("create_time")
    # the first answer, already handed out, is not touched by the second
    assert first.state == sale_pb2.SALE_STATE_OPEN and len(first.lines) == 1
    assert first.customer.anonymous and first.parking_code == ""


def test_sales_never_share_their_parts() -> None:
    a, b = sale("a", operator_id="1"), sale("b", operator_id="2")
    b.customer = CustomerSnapshot("K-9", "Max", anonymous=False)
    ma, mb = sale_to_pb(a), sale_to_pb(b)
    assert (ma.sale_id, ma.operator_id, ma.customer.anonymous) == ("a", "1", True)
    assert (mb.sale_id, mb.operator_id, mb.customer.customer_number) == ("b", "2", "K-9")
    # the same content answered twice is the same message, byte for byte
    assert sale_to_pb(a).SerializeToString(deterministic=True) == ma.SerializeToString(
        deterministic=True
    )
