"""The receipt archive's amount filters are in the register currency (EUR): a receipt
in a foreign currency (CHF) is compared by its value in EUR, not by its CHF amount read
as EUR cents."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import closing_pb2, common_pb2, shop_pb2

from tests.integration.api.test_sale_part2 import CARD, call, pay, post, sale_of, seed
from tests.support.fullsale import update_shop


def eur(minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency_code="EUR")


def numbers(pos: PosdClient, **kwargs: object) -> list[int]:
    req = closing_pb2.ListReceiptsRequest(**kwargs)  # type: ignore[arg-type]
    return sorted(r.receipt_number for r in pos.list_receipts(req).receipts)


def test_amount_filters_compare_a_chf_receipt_by_its_value_in_euro(pos: PosdClient) -> None:
    seed(pos)
    # 2 CHF per EUR: the TV (100.00 EUR, net 84.03 EUR) costs 200.00 CHF (net 168.07)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="2")])
    sid = sale_of(pos, ("TV", "1"))
    chf = call(pos, "SetCurrency", sale_id=sid, currency_code="CHF").sale
    assert (chf.total.amount_minor, chf.total_local.amount_minor) == (20000, 10000)
    pay(pos, sid, CARD, 20000, currency="CHF")
    tv = post(pos, sid).receipt_number
    sid = sale_of(pos, ("COFFEE", "1"))  # 8.99 EUR
    pay(pos, sid, CARD, 899)
    coffee = post(pos, sid).receipt_number
    both = sorted([tv, coffee])

    assert numbers(pos, gross_min=eur(15000)) == []  # the TV is worth 100.00 EUR
    assert numbers(pos, gross_max=eur(12000)) == both
    assert numbers(pos, gross_min=eur(10000), gross_max=eur(10000)) == [tv]
    assert numbers(pos, net_min=eur(10000)) == []  # net 84.03 EUR, not 168.07
    assert numbers(pos, net_max=eur(9000)) == both
    assert numbers(pos, net_min=eur(8000), net_max=eur(9000)) == [tv]
    # the EUR receipt as before
    assert numbers(pos, gross_min=eur(899), gross_max=eur(899)) == [coffee]
    assert numbers(pos, net_min=eur(755), net_max=eur(755)) == [coffee]  # 8.99 / 1.19
