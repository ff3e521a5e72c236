"""A GS1 element string's net weight (AI 310n) is kilograms (GS1 General Specifications,
3.6.2 "Trade measures": 310n, net weight, kilograms): it is the quantity of an item sold
by the kilogram, converted for one sold by the gram, and no quantity at all of an item
sold by the metre or the litre. Beside a price (AI 392n) it is still the pack's weight:
the quantity was the price over the catalog's price per kilogram instead (1.25 kg for
15.99 at 12.90/kg: 1.240 kg on the receipt and off the stock). Through Scan of the
in-process daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from posd.client import PosdClient, PosdError

from tests.conftest import running_daemon
from tests.support.fullsale import import_items, item

CHEESE_GTIN = "04000000000020"  # GTIN-13 4000000000020 in 14 digits
ROPE_GTIN = "04000000000075"
SAFFRON_GTIN = "04000000000082"


def seed(pos: PosdClient) -> None:
    import_items(
        pos,
        item("CHEESE", "Gouda", 1290, barcodes=[CHEESE_GTIN[1:]], unit="kg",
             fractional_quantity=True),
        item("ROPE", "Seil", 199, barcodes=[ROPE_GTIN[1:]], unit="m", fractional_quantity=True),
        item("SAFFRON", "Safran", 3, barcodes=[SAFFRON_GTIN[1:]], unit="g",
             fractional_quantity=True),
    )  # fmt: skip


def test_a_codes_weight_beside_its_price_is_the_packs_quantity(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, f"01{CHEESE_GTIN}3103001250392201599").sale.lines[-1]
    assert (line.item_id, line.quantity, line.total.amount_minor) == ("CHEESE", "1.25", 1599)
    assert line.price_from_label


def test_a_net_weight_in_kg_is_no_length(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    with pytest.raises(PosdError) as err:
        pos.scan(sid, f"01{ROPE_GTIN}3103001250")
    assert err.value.reason == "NOT_SOLD_BY_WEIGHT"
    assert "kg" in str(err.value)
    assert list(pos.get_sale(sid).lines) == []


def test_a_net_weight_in_kg_sells_grams(pos: PosdClient) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    line = pos.scan(sid, f"01{SAFFRON_GTIN}3103000002").sale.lines[-1]
    assert (line.item_id, line.quantity, line.total.amount_minor) == ("SAFFRON", "2", 6)


def test_a_whole_ten_kilograms_label_is_a_quantity(tmp_path: Path) -> None:
    """A weight of whole tens of its unit (a 10.000 kg label, 250 g) went to the sale as
    "1E+1" and was refused, INVALID_QUANTITY: the label could not be sold."""
    layouts = [{"prefixes": ["29"], "item_digits": 5, "kind": "weight", "weight_decimals": 3}]
    with running_daemon(tmp_path / "state", {"instore_codes": layouts}) as r, r.client() as pos:
        import_items(
            pos,
            item("A-1", "Äpfel", 299, unit="kg", fractional_quantity=True,
                 barcodes=["2954321000004"]),
        )  # fmt: skip
        sid = pos.create_sale().sale_id
        line = pos.scan(sid, "2954321100001").sale.lines[-1]  # 10000 g
        assert (line.item_id, line.quantity, line.total.amount_minor) == ("A-1", "10", 2990)
        seed(pos)
        line = pos.scan(sid, f"01{SAFFRON_GTIN}3103000250").sale.lines[-1]
        assert (line.item_id, line.quantity, line.total.amount_minor) == ("SAFFRON", "250", 750)
