"""Renders a posted sale into a printable receipt :class:`Document` (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from posd_daemon.domain.document import Align, Block, Document, Feed, QrCode, Text
from posd_daemon.domain.money import format_minor
from posd_daemon.domain.sale import PaymentMethod, Sale, format_quantity
from posd_daemon.domain.vat import VatCategory

#: Letters printed next to line totals and in the VAT table.
VAT_LETTER = {
    VatCategory.NORMAL: "A",
    VatCategory.REDUCED: "B",
    VatCategory.AVERAGE_24_3: "C",
    VatCategory.AVERAGE_24_1: "D",
    VatCategory.ZERO: "E",
    VatCategory.NOT_TAXABLE: "F",
}

PAYMENT_LABEL = {PaymentMethod.CASH: "Bar", PaymentMethod.CARD: "Karte"}


@dataclass(frozen=True, slots=True)
class ShopHeader:
    name: str
    address_lines: tuple[str, ...] = ()
    vat_id: str = ""
    footer_lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FiscalBlock:
    """What the TSE contributes to a receipt (text lines and the QR code)."""

    lines: tuple[str, ...]
    qr_data: str = ""


def two_cols(left: str, right: str, width: int) -> str:
    """``left`` and ``right`` on one line; ``left`` is cut to make room."""
    room = width - len(right) - 1
    if room < 1:
        return right[-width:]
    return f"{left[:room]:<{room}} {right}"


def wrap(text: str, width: int) -> list[str]:
    """Word-wraps to ``width``; words longer than a line (signatures) are cut."""
    out: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            out.append(line)
        while len(word) > width:
            out.append(word[:width])
            word = word[width:]
        line = word
    out.append(line)
    return out


def render_receipt(
    sale: Sale,
    shop: ShopHeader,
    columns: int,
    *,
    copy: bool = False,
    fiscal: FiscalBlock | None = None,
    extra_lines: Sequence[str] = (),
) -> Document:
    cur = sale.currency

    def amt(minor: int) -> str:
        return format_minor(minor, cur, sep=",")

    blocks: list[Block] = [Text(shop.name, Align.CENTER, bold=True, large=True)]
    blocks += [Text(line, Align.CENTER) for line in shop.address_lines]
    if shop.vat_id:
        blocks.append(Text(f"USt-IdNr. {shop.vat_id}", Align.CENTER))
    if copy:
        blocks.append(Text("*** KOPIE ***", Align.CENTER, bold=True))
    blocks.append(Feed())
    posted = sale.posted_at.strftime("%d.%m.%Y %H:%M:%S") if sale.posted_at else "-"
    blocks.append(Text(two_cols(f"Beleg-Nr. {sale.receipt_number}", posted, columns)))
    blocks.append(Text(f"Kasse {sale.register_id}  Bediener {sale.operator_id}"[:columns]))
    blocks.append(Text("-" * columns))
    for line in sale.lines:
        letter = VAT_LETTER[line.vat_category]
        blocks.append(Text(two_cols(line.name, f"{amt(line.total)} {letter}", columns)))
        if line.quantity != 1 or line.unit != "pcs":
            unit = "" if line.unit == "pcs" else f" {line.unit}"
            detail = f"  {format_quantity(line.quantity)}{unit} x {amt(line.unit_price)}"
            blocks.append(Text(detail[:columns]))
    blocks.append(Text("-" * columns))
    blocks.append(
        Text(two_cols("SUMME", f"{amt(sale.total)} {cur}", columns // 2), bold=True, large=True)
    )
    for p in sale.payments:
        blocks.append(Text(two_cols(PAYMENT_LABEL[p.method], amt(p.amount), columns)))
    if sale.change:
        blocks.append(Text(two_cols("Rückgeld", amt(sale.change), columns)))
    blocks.append(Feed())
    blocks.append(Text(two_cols("USt", "Netto      Steuer     Brutto", columns)))
    for vt in sale.vat_totals():
        rate = f"{VAT_LETTER[vt.category]} {vt.percent.normalize():f}%"
        nums = f"{amt(vt.net):>9} {amt(vt.tax):>9} {amt(vt.gross):>10}"
        blocks.append(Text(two_cols(rate, nums, columns)))
    for text in extra_lines:
        blocks += [Text(part) for part in wrap(text, columns)]
    if fiscal is not None:
        blocks.append(Feed())
        for text in fiscal.lines:
            blocks += [Text(part) for part in wrap(text, columns)]
        if fiscal.qr_data:
            blocks.append(QrCode(fiscal.qr_data))
    if shop.footer_lines:
        blocks.append(Feed())
        blocks += [Text(line, Align.CENTER) for line in shop.footer_lines]
    blocks.append(Feed(2))
    return Document(columns=columns, blocks=tuple(blocks), cut=True, copy=copy)
