"""A voucher sold in a net-priced sale shows (on the receipt, in the exports) the gross it
was sold and registered at: the cent by which the tax rounded once per rate differs from
the lines' own taxes goes to other goods, not to the voucher."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from posd_daemon.domain.catalog import ItemType
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.vat import PriceBasis, VatCategory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RATE = Decimal(19)


def net_sale() -> Sale:
    return Sale("s1", "REG-1", "1", "EUR", NOW, vat_direction=PriceBasis.NET)


def voucher(s: Sale, net: int, code: str) -> str:
    return s.add_fixed_line(LineKind.GOODS, name=f"Gutschein {code}", amount=net,
                            vat_category=VatCategory.NORMAL, vat_rate=RATE,
                            item_type=ItemType.VOUCHER, voucher_code=code).line_id  # fmt: skip


def goods(s: Sale, net: int) -> str:
    return s.add_fixed_line(LineKind.GOODS, name="Ware", amount=net,
                            vat_category=VatCategory.NORMAL, vat_rate=RATE).line_id  # fmt: skip


def test_the_tax_rounding_cent_goes_to_the_goods_not_to_the_voucher() -> None:
    """A 25.00 voucher (net 21.01, tax 3.99) and a pin at 0.02 net (tax 0.0038): the rate's
    tax is 4.00 (3.9957), the lines' own 3.99 + 0.00. The cent went to the largest line,
    the voucher, shown as 25.01 while it was sold and registered as worth 25.00."""
    s = net_sale()
    v = voucher(s, 2101, "EZ-25")
    pin = goods(s, 2)
    assert s.lines[0].total == 2500 and s.total == 2503
    gross = s.line_gross_amounts()
    assert gross[v] == 2500
    assert gross[pin] == 3
    assert sum(gross.values()) == s.total


def test_with_vouchers_only_the_cent_still_lands_somewhere() -> None:
    s = net_sale()
    a = voucher(s, 2101, "EZ-A")
    b = voucher(s, 2, "EZ-B")
    gross = s.line_gross_amounts()
    assert sum(gross.values()) == s.total == 2503
    assert gross[a] - s.lines[0].total + gross[b] - s.lines[1].total == 1
