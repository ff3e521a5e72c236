"""Renders a posted sale into a printable receipt :class:`Document` (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from posd_daemon.domain.document import Align, Block, Document, Feed, QrCode, Text
from posd_daemon.domain.money import format_minor
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.pricing import fmt_decimal
from posd_daemon.domain.sale import Sale, describe_rate, format_quantity
from posd_daemon.domain.shop import DocumentType
from posd_daemon.domain.vat import PriceBasis, VatCategory

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
    for part in text.split(" "):
        word = part
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


def _amounts(sale: Sale, columns: int) -> list[Block]:
    """The lines of a sale with units, discounts and overrides."""
    cur = sale.currency

    def amt(minor: int) -> str:
        return format_minor(minor, cur, sep=",")

    blocks: list[Block] = []
    for line in sale.lines:
        letter = VAT_LETTER[line.vat_category]
        blocks.append(Text(two_cols(line.name, f"{amt(line.base_amount)} {letter}", columns)))
        if line.quantity != 1 or line.unit != "pcs":
            unit = "" if line.unit == "pcs" else f" {line.unit}"
            detail = f"  {format_quantity(line.quantity)}{unit} x {amt(line.unit_price)}"
            blocks.append(Text(detail[:columns]))
        if line.lot:
            blocks.append(Text(f"  Charge {line.lot}"[:columns]))
        if line.serial:
            blocks.append(Text(f"  Serien-Nr. {line.serial}"[:columns]))
        if line.price_overridden:
            blocks.append(Text("  Preis geändert"[:columns]))
        if line.line_discount:
            label = f"  Rabatt {fmt_decimal(line.discount_percent)}%"
            blocks.append(Text(two_cols(label, f"-{amt(line.line_discount)}", columns)))
    doc_discount = sum(ln.doc_discount for ln in sale.lines)
    if doc_discount:
        label = f"Rabatt {fmt_decimal(sale.discount_percent)}%"
        if sale.discount_code:
            label += f" ({sale.discount_code})"
        blocks.append(Text(two_cols(label, f"-{amt(doc_discount)}", columns)))
    return blocks


def _totals(sale: Sale, columns: int) -> list[Block]:
    cur = sale.currency

    def amt(minor: int) -> str:
        return format_minor(minor, cur, sep=",")

    blocks: list[Block] = []
    if sale.vat_direction is PriceBasis.NET:
        blocks.append(Text(two_cols("Summe netto", f"{amt(sale.net_total)} {cur}", columns)))
        blocks.append(Text(two_cols("zzgl. USt", f"{amt(sale.tax_total)} {cur}", columns)))
    blocks.append(
        Text(two_cols("SUMME", f"{amt(sale.total)} {cur}", columns // 2), bold=True, large=True)
    )
    if sale.currency != sale.local_currency:
        local = format_minor(sale.total_local, sale.local_currency, sep=",")
        blocks.append(Text(two_cols("entspricht", f"{local} {sale.local_currency}", columns)))
        blocks.append(Text(f"Kurs {describe_rate(sale)}"[:columns]))
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
    return blocks


def _tail(
    shop: ShopHeader,
    columns: int,
    fiscal: FiscalBlock | None,
    extra_lines: Sequence[str],
    training: bool = False,
) -> list[Block]:
    blocks: list[Block] = []
    for text in extra_lines:
        blocks += [Text(part) for part in wrap(text, columns)]
    if fiscal is not None:
        blocks.append(Feed())
        for text in fiscal.lines:
            blocks += [Text(part) for part in wrap(text, columns)]
        if fiscal.qr_data:
            blocks.append(QrCode(fiscal.qr_data))
    if training:
        blocks.append(Text("*** TRAININGSBELEG - KEIN UMSATZ ***", Align.CENTER, bold=True))
    if shop.footer_lines:
        blocks.append(Feed())
        blocks += [Text(line, Align.CENTER) for line in shop.footer_lines]
    blocks.append(Feed(2))
    return blocks


def _head(shop: ShopHeader, copy: bool, training: bool = False) -> list[Block]:
    blocks: list[Block] = [Text(shop.name, Align.CENTER, bold=True, large=True)]
    blocks += [Text(line, Align.CENTER) for line in shop.address_lines]
    if shop.vat_id:
        blocks.append(Text(f"USt-IdNr. {shop.vat_id}", Align.CENTER))
    if copy:
        blocks.append(Text("*** KOPIE ***", Align.CENTER, bold=True))
    if training:
        blocks.append(Text("*** TRAININGSBELEG ***", Align.CENTER, bold=True))
        blocks.append(Text("Schulung - kein Umsatz", Align.CENTER))
    blocks.append(Feed())
    return blocks


def render_receipt(
    sale: Sale,
    shop: ShopHeader,
    columns: int,
    *,
    copy: bool = False,
    fiscal: FiscalBlock | None = None,
    extra_lines: Sequence[str] = (),
    as_invoice: bool | None = None,
) -> Document:
    """The sale's document: a receipt, or a full invoice when it was posted as one or
    an invoice was issued for it later (:func:`render_invoice`). ``as_invoice`` decides
    explicitly (a receipt job queued before a later invoice still prints the receipt)."""
    if as_invoice is None:
        as_invoice = sale.document_type is DocumentType.INVOICE or sale.invoice_to is not None
    if as_invoice:
        return render_invoice(
            sale, shop, columns, copy=copy, fiscal=fiscal, extra_lines=extra_lines
        )
    blocks = _head(shop, copy, sale.training)
    posted = sale.posted_at.strftime("%d.%m.%Y %H:%M:%S") if sale.posted_at else "-"
    blocks.append(Text(two_cols(f"Beleg-Nr. {sale.receipt_number}", posted, columns)))
    blocks.append(Text(f"Kasse {sale.register_id}  Bediener {sale.operator_id}"[:columns]))
    if sale.customer.number and not sale.customer.anonymous:
        blocks.append(Text(f"Kunde {sale.customer.number} {sale.customer.name}"[:columns]))
    if sale.pickup_date is not None:
        blocks.append(Text(f"Abholung {sale.pickup_date.strftime('%d.%m.%Y')}"[:columns]))
    blocks.append(Text("-" * columns))
    blocks += _amounts(sale, columns)
    blocks.append(Text("-" * columns))
    blocks += _totals(sale, columns)
    blocks += _tail(shop, columns, fiscal, extra_lines, sale.training)
    return Document(columns=columns, blocks=tuple(blocks), cut=True, copy=copy)


def render_invoice(
    sale: Sale,
    shop: ShopHeader,
    columns: int,
    *,
    copy: bool = False,
    fiscal: FiscalBlock | None = None,
    extra_lines: Sequence[str] = (),
) -> Document:
    """A full invoice (§14 (4) UStG): seller with VAT id, recipient's name and address,
    invoice number and date, date of supply, quantities, net amounts per rate, rates,
    tax amounts and the gross total."""
    customer = sale.invoice_to or sale.customer
    blocks = _head(shop, copy, sale.training)
    blocks.append(Text("RECHNUNG", Align.CENTER, bold=True, large=True))
    posted = sale.posted_at.strftime("%d.%m.%Y") if sale.posted_at else "-"
    number = f"{sale.register_id}-{sale.receipt_number}"
    blocks.append(Text(two_cols(f"Rechnungs-Nr. {number}", posted, columns)))
    blocks.append(Text(f"Leistungsdatum {posted}"[:columns]))
    blocks.append(Text(f"Beleg-Nr. {sale.receipt_number}  Kasse {sale.register_id}"[:columns]))
    blocks.append(Feed())
    blocks.append(Text("Rechnungsempfänger:"))
    for line in customer.address_lines():
        blocks += [Text(f"  {part}") for part in wrap(line, columns - 2)]
    if customer.vat_id:
        blocks.append(Text(f"  USt-IdNr. {customer.vat_id}"[:columns]))
    if customer.number:
        blocks.append(Text(f"  Kunden-Nr. {customer.number}"[:columns]))
    if sale.pickup_date is not None:
        blocks.append(Text(f"Abholung {sale.pickup_date.strftime('%d.%m.%Y')}"[:columns]))
    blocks.append(Text("-" * columns))
    basis = "netto" if sale.vat_direction is PriceBasis.NET else "brutto"
    blocks.append(Text(f"Beträge {basis} in {sale.currency}"[:columns]))
    blocks += _amounts(sale, columns)
    blocks.append(Text("-" * columns))
    if sale.vat_direction is PriceBasis.GROSS:
        blocks.append(
            Text(
                two_cols(
                    "Summe netto", format_minor(sale.net_total, sale.currency, sep=","), columns
                )
            )
        )
        blocks.append(
            Text(two_cols("USt", format_minor(sale.tax_total, sale.currency, sep=","), columns))
        )
    blocks += _totals(sale, columns)
    blocks += _tail(shop, columns, fiscal, extra_lines, sale.training)
    return Document(columns=columns, blocks=tuple(blocks), cut=True, copy=copy)
