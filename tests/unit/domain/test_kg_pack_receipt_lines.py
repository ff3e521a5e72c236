"""How a receipt shows a weighed pack sold by its price label (a deli scale's label of an
item sold by weight), its partial return and its storno: the amount is the label's, and
no detail line may print a multiplication that does not make the amount next to it
(2.514 kg x 19,90 is 50,03, the line says 50,02). The weight stays on the receipt
(KassenSichV § 6 Nr. 3: quantity and kind of the goods); the label, not an operator, set
the price, so the line does not say "Preis geändert"."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from decimal import Decimal

from posd_daemon.domain.barcode import Label, LabelKind
from posd_daemon.domain.catalog import Item
from posd_daemon.domain.money import round_half_up
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import ShopHeader, render_receipt
from posd_daemon.domain.sale import LineKind, Sale, SaleLine
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SEVEN = Decimal(7)
#: "<quantity> [unit] x <price>" as a receipt prints it under a line
PRODUCT = re.compile(r"^\s+(-?[0-9,]+)(?: \S+)? x (-?[0-9.]*[0-9]+,[0-9]{2})$")


def gouda() -> Item:
    return Item(
        "KG", "Gouda", 1990, "EUR", VatCategory.REDUCED, unit="kg", fractional_quantity=True
    )


def sell_pack(sale: Sale, printed: int) -> SaleLine:
    """As the sale service adds a price label of an item sold by weight (the label's
    price marks the line as not the catalog's)."""
    label = Label("2112346000000", "2112346000007", LabelKind.PRICE, printed)
    line = sale.add_line(gouda(), label.pack_weight(1990), SEVEN, pack_price=printed)
    line.price_overridden = True
    return line


def cents(text: str) -> int:
    return int(text.replace(".", "").replace(",", ""))


def products_hold(text: str) -> list[tuple[str, str]]:
    """Every "quantity x price" detail with the amount printed on the line above it;
    fails when one does not multiply to that amount."""
    lines = text.splitlines()
    seen = []
    for above, below in itertools.pairwise(lines):
        m = PRODUCT.match(below)
        if m is None:
            continue
        amount = cents(above.rsplit(" ", 2)[-2])
        qty, price = Decimal(m.group(1).replace(",", ".")), cents(m.group(2))
        assert round_half_up(qty * price) == amount, f"{below.strip()!r} under {above!r}"
        seen.append((above, below))
    return seen


def posted(sale: Sale, number: int) -> str:
    sale.add_payment(PaymentMethod.CASH, sale.total, sale.currency)
    sale.post(number, NOW)
    return render_receipt(sale, ShopHeader("Laden"), 42).plain_text()


def test_a_pack_line_shows_its_weight_and_its_label_s_price_without_a_wrong_product() -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    sell_pack(sale, 5002)
    text = posted(sale, 1)
    products_hold(text)
    lines = text.splitlines()
    i = next(i for i, t in enumerate(lines) if t.startswith("Gouda"))
    assert lines[i].endswith("50,02 B")
    assert lines[i + 1] == "  2,514 kg, Preis lt. Etikett"
    assert "Preis geändert" not in text


def test_a_piece_sold_by_quantity_still_shows_its_product() -> None:
    sale = Sale("s1", "REG-1", "7", "EUR", NOW)
    sale.add_line(gouda(), Decimal("2.514"), SEVEN)
    text = posted(sale, 1)
    assert [b.strip() for _, b in products_hold(text)] == ["2,514 kg x 19,90"]


def test_a_partial_return_and_a_storno_of_a_pack_print_no_wrong_product() -> None:
    # as sale_ops adds them: the refund is the paid share (50.02 x 1.514 / 2.514 =
    # 30.12), the storno the line's amount; both keep the pack's unit price (19.90)
    back = Sale("s2", "REG-1", "7", "EUR", NOW)
    back.add_fixed_line(
        LineKind.RETURN, name="Gouda", amount=-3012, vat_category=VatCategory.REDUCED,
        vat_rate=SEVEN, item_id="KG", quantity=Decimal("-1.514"), unit="kg", unit_price=1990,
        ref_sale_id="s1", ref_line_id="1", ref_receipt=1,
    )  # fmt: skip
    text = posted(back, 2)
    products_hold(text)
    assert "  -1,514 kg\n" in text
    assert "-30,12 B" in text

    storno = Sale("s3", "REG-1", "7", "EUR", NOW, reverses_sale_id="s1", reverses_receipt=1)
    storno.add_fixed_line(
        LineKind.GOODS, name="Gouda", amount=-5002, vat_category=VatCategory.REDUCED,
        vat_rate=SEVEN, item_id="KG", quantity=Decimal("-2.514"), unit="kg", unit_price=1990,
        ref_sale_id="s1", ref_line_id="1", ref_receipt=1,
    )  # fmt: skip
    text = posted(storno, 3)
    products_hold(text)
    assert "  -2,514 kg\n" in text
    assert "-50,02 B" in text
