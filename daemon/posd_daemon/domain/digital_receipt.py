"""Digital receipts (digitaler Kassenbon): the printed "Digitaler Beleg" block with the QR
code of the receipt's URL, the short slip, and the receipt as JSON (pure).

The Belegausgabepflicht (§146a (2) AO, since 2020) lets a shop issue the receipt
electronically with the customer's consent; the paper receipt then carries the QR code
(or, ``print = "slip"``, only a short slip with it). The URL's token is unguessable and
expires; what the customer fetches is the same receipt document, as text or JSON.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from posd_daemon.domain.document import Align, Block, Document, Feed, QrCode, Text
from posd_daemon.domain.money import format_minor
from posd_daemon.domain.receipt import (
    VAT_LETTER,
    ShopHeader,
    footer,
    local_time,
    pair,
    payment_label,
    payment_lines,
    printed_payments,
    seller,
    total_line,
    wrap,
)
from posd_daemon.domain.sale import Sale, describe_rate
from posd_daemon.domain.vat import PriceBasis

#: Module size of the receipt URL's QR code (a short URL: larger modules scan easier).
QR_SIZE = 4


#: What the slip says of itself: the receipt (with its TSE data) is the digital one.
SLIP_NOTE = "Ihr Kassenbeleg ist digital: QR-Code unten"


class Delivery(enum.Enum):
    """How a posted receipt reaches the customer."""

    #: printed (with the "Digitaler Beleg" block when digital receipts are on)
    PAPER = "PAPER"
    #: only electronically, with the customer's consent: nothing is printed
    DIGITAL = "DIGITAL"


class PrintMode(enum.Enum):
    """What the paper shows when digital receipts are on."""

    #: the full receipt plus the "Digitaler Beleg" block
    FULL = "full"
    #: a short slip (shop, number, date, total, payments) with the QR code
    SLIP = "slip"


def receipt_url(base_url: str, token: str) -> str:
    """``base_url`` (validated to end with "/") followed by the token."""
    return f"{base_url}{token}"


def digital_block(
    url: str, columns: int, valid_until: datetime | date | None = None
) -> list[Block]:
    """The "Digitaler Beleg" block: heading, the QR code of ``url``, a hint, the URL.
    ``valid_until`` as a local datetime prints the time too: the link stops working at
    that moment, and a date alone reads as "through that whole day"."""
    blocks: list[Block] = [
        Feed(),
        Text("Digitaler Beleg", Align.CENTER, bold=True),
        QrCode(url, size=QR_SIZE),
    ]
    hints = ["Code scannen: Ihr Beleg online"]
    if valid_until is not None:
        shape = "%d.%m.%Y %H:%M" if isinstance(valid_until, datetime) else "%d.%m.%Y"
        hints.append(f"abrufbar bis {valid_until.strftime(shape)}")
    for hint in hints:
        blocks += [Text(part, Align.CENTER) for part in wrap(hint, columns)]
    blocks += [Text(part) for part in wrap(url, columns)]
    return blocks


def with_digital_block(doc: Document, block: Sequence[Block]) -> Document:
    """``doc`` with ``block`` before its closing feed (after the TSE data and footer)."""
    blocks = list(doc.blocks)
    end = len(blocks)
    while end and isinstance(blocks[end - 1], Feed):
        end -= 1
    return Document(
        columns=doc.columns,
        blocks=(*blocks[:end], *block, *blocks[end:]),
        cut=doc.cut,
        copy=doc.copy,
    )


def render_digital_slip(
    sale: Sale, shop: ShopHeader, columns: int, block: Sequence[Block], *, copy: bool = False
) -> Document:
    """The short paper slip when the receipt itself is digital: shop, receipt number and
    time, register, total, payments and change, and the QR block. The receipt with its
    TSE data is what the QR code leads to."""
    cur = sale.currency

    def amt(minor: int) -> str:
        return format_minor(minor, cur, sep=",")

    # the shop's name and address as on the receipt: in double width only when the name
    # fits half the paper (a longer one broke mid-word at the paper's edge)
    blocks: list[Block] = seller(shop, columns)
    if copy:
        blocks += [Text(part, Align.CENTER, bold=True) for part in wrap("*** KOPIE ***", columns)]
    if sale.training:
        blocks += [
            Text(part, Align.CENTER, bold=True) for part in wrap("*** TRAININGSBELEG ***", columns)
        ]
    blocks += [Text(part, Align.CENTER) for part in wrap(SLIP_NOTE, columns)]
    blocks.append(Feed())
    posted = local_time(sale.posted_at, shop)
    # nothing cut (receipt.pair): "Beleg-Nr. 123456" beside the time printed as
    # "Beleg-Nr. 12" on 32 columns, the total as "S 1234,56 EUR"
    rows = pair(f"Beleg-Nr. {sale.receipt_number}", posted, columns)
    rows += wrap(f"Kasse {sale.register_id}  Bediener {sale.operator_id}", columns)
    rows.append("-" * columns)
    blocks += [Text(row) for row in rows]
    blocks += total_line("SUMME", f"{amt(sale.total)} {cur}", columns)
    # rounding, payments and change as the receipt prints them: the change as it was
    # paid out (in the local currency, when so), the rounding that makes the lines add up
    blocks += payment_lines(sale, columns)
    blocks += list(block)
    blocks += footer(shop, columns)
    blocks.append(Feed(2))
    return Document(columns=columns, blocks=tuple(blocks), cut=True, copy=copy)


def sale_json(sale: Sale) -> dict[str, Any]:
    """The sale's receipt data as JSON (amounts in minor units of ``currency`` unless
    said otherwise)."""
    foreign = sale.currency != sale.local_currency
    return {
        "sale_id": sale.sale_id,
        "receipt_number": sale.receipt_number,
        "register_id": sale.register_id,
        "operator_id": sale.operator_id,
        "posted_at": sale.posted_at.isoformat() if sale.posted_at else None,
        "training": sale.training,
        # a reversal (storno) receipt says which receipt it reverses, as its paper does
        # ("STORNO zu Beleg n"): without it the JSON reads as a sale with negative amounts
        "reverses_receipt": sale.reverses_receipt or None,
        "reverses_sale_id": sale.reverses_sale_id or None,
        "currency": sale.currency,
        # a sale in a foreign currency: the paper shows its value in the shop's own
        # currency and the rate ("entspricht 100,00 EUR", "Kurs 1 EUR = 0.95 CHF")
        "local_currency": sale.local_currency,
        "exchange_rate": (
            {
                "rate": str(sale.exchange_rate),
                "source": sale.rate_source.value,
                "text": describe_rate(sale),
            }
            if foreign
            else None
        ),
        # whether line prices and amounts are net (a business sale) or gross
        "prices": "net" if sale.vat_direction is PriceBasis.NET else "gross",
        "lines": [
            {
                "name": ln.name,
                "kind": ln.kind.name,
                "quantity": str(ln.quantity),
                "unit": ln.unit,
                "unit_price": ln.unit_price,
                "amount": ln.amount,
                "vat": VAT_LETTER[ln.vat_category],
                "vat_rate": str(ln.vat_rate),
            }
            for ln in sale.lines
        ],
        "totals": {
            "gross": sale.total,
            "net": sale.net_total,
            "tax": sale.tax_total,
            "rounding": sale.rounding,
            "change": sale.change,
            # in minor units of local_currency
            "gross_local": sale.total_local if foreign else sale.total,
        },
        "change_paid": _change_paid(sale),
        "vat": [
            {
                "vat": VAT_LETTER[vt.category],
                "category": vt.category.name,
                "percent": str(vt.percent),
                "net": vt.net,
                "tax": vt.tax,
                "gross": vt.gross,
            }
            for vt in sale.vat_totals()
        ],
        "payments": [
            {"method": p.method.name, "label": payment_label(p), "amount": p.amount}
            # as on the paper (and in the TSE's processData): no payment of nothing
            for p in printed_payments(sale)
        ],
    }


def _change_paid(sale: Sale) -> dict[str, Any]:
    """The change as it was paid out, as the paper's "Rückgeld" line shows it: in the
    local currency when the customer took it so (``totals.change`` is its worth in the
    sale's currency), with the cash rounding that left in the drawer."""
    if not sale.change_in_local:
        return {"currency": sale.currency, "amount": sale.change, "rounding": 0}
    # the same figures receipt.payment_lines prints; a sale posted before the rounding was
    # kept (None) shows none, as its paper does
    posted = sale.posted_at is not None
    rounding = (sale.change_rounding or 0) if posted else sale.local_change_rounding()
    return {
        "currency": sale.local_currency,
        "amount": sale.change_local or sale.change_paid_locally(),
        "rounding": rounding,
    }
