"""Renders a posted sale into a printable receipt :class:`Document` (pure)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal

from posd_daemon.domain.document import Align, Barcode, Block, Document, Feed, QrCode, Text
from posd_daemon.domain.money import format_minor, round_half_up
from posd_daemon.domain.parking import parking_symbology
from posd_daemon.domain.payments import Payment, PaymentMethod
from posd_daemon.domain.pricing import fmt_decimal
from posd_daemon.domain.sale import (
    LineKind,
    Sale,
    SaleLine,
    describe_rate,
    expired_lot,
    format_quantity,
)
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

#: German payment labels (kept for importers; ``PaymentMethod.label`` is the source).
PAYMENT_LABEL = {m: m.label for m in PaymentMethod}


@dataclass(frozen=True, slots=True)
class ShopHeader:
    name: str
    address_lines: tuple[str, ...] = ()
    vat_id: str = ""
    #: the Steuernummer (register.tax_number): a shop without a VAT id names it instead
    tax_number: str = ""
    footer_lines: tuple[str, ...] = ()
    #: the register's time zone (register.timezone): printed times are its wall clock
    zone: tzinfo = UTC


def decimal_comma(number: str) -> str:
    """A number as printed on German paper: decimal comma, as the amounts ("1,25")."""
    return number.replace(".", ",")


def local_time(when: datetime | None, shop: ShopHeader, fmt: str = "%d.%m.%Y %H:%M:%S") -> str:
    """A stored (UTC) moment as the register's wall clock shows it ("-" for none): a
    receipt at 14:05 in Berlin says 14:05, not 13:05."""
    return "-" if when is None else when.astimezone(shop.zone).strftime(fmt)


@dataclass(frozen=True, slots=True)
class FiscalBlock:
    """What the TSE contributes to a receipt (text lines and the QR code)."""

    lines: tuple[str, ...]
    qr_data: str = ""


def _composed(text: str) -> str:
    """``text`` as the printer prints it: NFC, one column per letter. A name typed or
    imported decomposed ("a" + U+0308) is composed by the printer's codec
    (devices/charset.py); counting its columns before that would shift the amount
    column one place left per such letter and cut the name short."""
    return unicodedata.normalize("NFC", text)


def two_cols(left: str, right: str, width: int) -> str:
    """``left`` and ``right`` on one line; ``left`` is cut to make room. Only for text
    known to fit: :func:`pair` never cuts."""
    left, right = _composed(left), _composed(right)
    room = width - len(right) - 1
    if room < 1:
        return right[-width:]
    return f"{left[:room]:<{room}} {right}"


def wrap(text: str, width: int) -> list[str]:
    """Word-wraps to ``width``; words longer than a line (signatures) are cut. A text
    that fits is kept as it is, its indent and padding too (a figure right-aligned by
    :func:`pair` stays at the right edge)."""
    text = _composed(text)
    if len(text) <= width:
        return [text]
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


def pair(left: str, right: str, width: int) -> list[str]:
    """``left`` and ``right`` on one line when both fit; else ``left`` whole over as
    many lines as it needs (keeping its indent) and ``right`` at the right edge below
    it. Nothing is cut: on 32 columns "Beleg-Nr. 123456" beside a 19-character time
    came out as "Beleg-Nr. 12", an invoice number beside its date lost every digit."""
    left, right = _composed(left), _composed(right)
    if len(left) + 1 + len(right) <= width:
        return [two_cols(left, right, width)]
    body = left.lstrip(" ")
    indent = left[: len(left) - len(body)] if len(left) - len(body) < width // 2 else ""
    lines = [indent + part for part in wrap(body, width - len(indent))] if body else []
    return lines + [part.rjust(width) for part in wrap(right, width)]


def _pair(left: str, right: str, columns: int, *, bold: bool = False) -> list[Block]:
    return [Text(part, bold=bold) for part in pair(left, right, columns)]


def _centered(text: str, columns: int, *, bold: bool = False) -> list[Block]:
    """A centred line of normal width, wrapped (the printer breaks a longer one
    mid-word at the paper's edge)."""
    return [Text(part, Align.CENTER, bold=bold) for part in wrap(text, columns)]


def heading(text: str, columns: int) -> list[Block]:
    """A double width and height heading (a title, the shop's name): every letter
    takes two columns, so it is wrapped to half the paper, else the printer breaks it
    mid-word. A word longer than half the paper ("PARKBELEG" on 16 columns) is not
    split: the heading is then bold in normal width."""
    half = columns // 2
    if max((len(word) for word in _composed(text).split()), default=0) > half:
        return _centered(text, columns, bold=True)
    return [Text(part, Align.CENTER, bold=True, large=True) for part in wrap(text, half)]


def _wrapped(text: str, columns: int) -> list[Block]:
    """A line of free text (a customer's name, an exchange rate) whole, over as many
    lines as it needs: cutting it would lose what the receipt must say."""
    return [Text(part) for part in wrap(text, columns)]


def _named_amount(name: str, right: str, columns: int) -> list[Block]:
    """An item's name with its amount at the right edge. A name too long for the line
    goes on over the next lines (indented) instead of being cut: the kind of goods is
    mandatory receipt content (KassenSichV § 6 Nr. 3), and the amount column stays put."""
    # blanks around a name are no part of it: the continuation below is what follows
    # the first line's text in the name, which a leading blank shifted by one letter
    name, right = _composed(name).strip(" "), _composed(right)
    room = columns - len(right) - 1
    if len(name) <= room:
        return [Text(two_cols(name, right, columns))]
    if room < 8:  # an amount too wide to share the line: the name above it
        return _pair(name, right, columns)
    first = wrap(name, room)[0]
    rest = name[len(first) :].strip(" ")
    blocks: list[Block] = [Text(two_cols(first, right, columns))]
    return blocks + [Text(f"  {part}") for part in wrap(rest, columns - 2)]


def total_line(label: str, right: str, columns: int) -> list[Block]:
    """The bold total, in double width when label and amount fit half the columns;
    else in normal width rather than cutting the label ("SUMM 1299,00 EUR" on 32)."""
    if len(label) + 1 + len(right) <= columns // 2:
        return [Text(two_cols(label, right, columns // 2), bold=True, large=True)]
    return _pair(label, right, columns, bold=True)


def _details(texts: Sequence[str], columns: int) -> list[Block]:
    """Indented detail lines under a line or payment, wrapped (never cut: a voucher code
    or an authorization code must print whole)."""
    blocks: list[Block] = []
    for text in texts:
        blocks += [Text(f"  {part}") for part in wrap(text, columns - 2)]
    return blocks


def _line_details(
    sale: Sale,
    line: SaleLine,
    amt: Callable[[int], str],
    validity: Mapping[str, date],
    invoice: Invoiced | None = None,
) -> list[str]:
    """What a line's kind adds below its name and amount; ``invoice``: the line is on an
    invoice (what it states, the invoices it corrects)."""
    out: list[str] = []
    kind = line.kind
    if kind in (LineKind.GOODS, LineKind.RETURN):
        unit = "" if line.unit in ("pcs", "") else f" {line.unit}"
        # printed with the decimal comma of the amounts beside it (2,514 kg x 19,90)
        quantity = f"{decimal_comma(format_quantity(line.quantity))}{unit}"
        # the amount carries the sign (a return: -1 x 19,99), the unit price does not
        unit_price = abs(line.unit_price) if line.quantity < 0 else line.unit_price
        if line.fixed_total is not None:
            # a weighed pack costs its label's price, which the weight times a price per
            # unit in whole cents may not make (2.514 kg x 19,90 = 50,03, label 50,02):
            # the weight (KassenSichV § 6 Nr. 3: quantity and kind) and where the price
            # comes from, no multiplication that does not give the amount beside it
            out.append(f"{quantity}, Preis lt. Etikett")
        # an invoice states the quantity of every line, 1 too (§ 14 (4) Nr. 5 UStG:
        # "Menge und Art"); a receipt leaves a single piece unsaid
        elif line.quantity != 1 or unit or invoice is not None:
            product = round_half_up(Decimal(unit_price) * abs(line.quantity))
            # a refund of a share of what was paid (part of a pack, a discounted line) or
            # the storno of a pack: the amount is not the product, the quantity alone
            if product != abs(line.base_amount):
                out.append(quantity)
            else:
                out.append(f"{quantity} x {amt(unit_price)}")
    if kind is LineKind.RETURN:
        corrected = invoice.corrected(line.ref_sale_id) if invoice is not None else None
        if invoice is not None and corrected is not None:
            # goods of a corrected invoice: the header names it; of several, the line
            # names its own by number (a receipt number is none the recipient knows)
            if len(invoice.corrects) > 1:
                out.append(f"Rückgabe zu Rechnung {invoice_number(corrected.sale)}")
        elif not line.ref_receipt:
            out.append("Rückgabe ohne Beleg")
        elif line.ref_receipt != sale.reverses_receipt:  # a storno says it in its header
            out.append(f"Rückgabe zu Beleg {line.ref_receipt}")
    elif kind is LineKind.DISCOUNT:
        target = next((ln for ln in sale.lines if ln.line_id == line.ref_line_id), None)
        if line.ref_line_id and target is not None:
            out.append(f"auf {target.name}")
    elif kind is LineKind.VOUCHER_REDEMPTION:
        out.append(f"Gutschein eingelöst: {line.voucher_code}" if line.voucher_code else
                   "Gutschein eingelöst")  # fmt: skip
    elif kind is LineKind.BALANCING:
        out.append("Ausgleichsbuchung")
    elif line.voucher_code:  # a voucher sold
        out.append(f"Gutschein-Nr. {line.voucher_code}")
        until = validity.get(line.voucher_code)
        if until is not None and kind is LineKind.GOODS and not line.ref_sale_id:
            # what the customer may redeem it until, as stored when it was sold
            out.append(f"gültig bis {until.strftime('%d.%m.%Y')}")
    if line.lot:
        expired = expired_lot(sale, line.item_id, line.lot)
        if expired is None:
            out.append(f"Charge {line.lot}")
        else:  # sold past its expiry date (an operator allowed it): the customer is told
            out.append(f"Charge {line.lot} abgelaufen {expired.strftime('%d.%m.%Y')}")
    if line.serial:
        out.append(f"Serien-Nr. {line.serial}")
    if line.price_overridden and line.fixed_total is None:  # a pack: the label's price
        # a price label's price is not a change: "Preis geändert" reads as a cashier's
        # manual override to the customer and to a tax auditor
        out.append("Preis lt. Etikett" if line.price_from_label else "Preis geändert")
    if line.note:  # last, under what the line is: the cashier's or the order's text
        out.append(line.note)
    return out


def _amounts(
    sale: Sale,
    columns: int,
    validity: Mapping[str, date] | None = None,
    invoice: Invoiced | None = None,
) -> list[Block]:
    """The lines of a sale: every kind readably (returns, shop discounts, vouchers sold
    and redeemed, the balancing line), units, discounts and overrides. ``validity``: the
    valid-until dates of the vouchers the sale sold, by code; ``invoice``: the lines of
    an invoice."""
    cur = sale.currency

    def amt(minor: int) -> str:
        return format_minor(minor, cur, sep=",")

    blocks: list[Block] = []
    for line in sale.lines:
        letter = VAT_LETTER[line.vat_category]
        blocks += _named_amount(line.name, f"{amt(line.base_amount)} {letter}", columns)
        details = _line_details(sale, line, amt, validity or {}, invoice)
        blocks += _details(details, columns)
        if line.line_discount:
            label = f"  Rabatt {decimal_comma(fmt_decimal(line.discount_percent))}%"
            blocks += _pair(label, f"-{amt(line.line_discount)}", columns)
    doc_discount = sum(ln.doc_discount for ln in sale.lines)
    if doc_discount:
        label = f"Rabatt {decimal_comma(fmt_decimal(sale.discount_percent))}%"
        if sale.discount_code:
            label += f" ({sale.discount_code})"
        blocks += _pair(label, f"-{amt(doc_discount)}", columns)
    return blocks


def payment_label(p: Payment) -> str:
    """ "Bar", "Karte", "Anzahlung Bar", "Rückzahlung Karte" …"""
    label = p.method.label
    if p.down_payment_for:
        label = f"Anzahlung {label}"
    if p.amount < 0:
        label = f"Rückzahlung {label}"
    return label


def payment_details(p: Payment) -> list[str]:
    """The details a payment prints below its amount."""
    out = []
    if p.card_institute:
        out.append(f"Kartenart: {p.card_institute}")
    if p.authorization_code:
        out.append(f"Autorisierungs-Nr.: {p.authorization_code}")
    if p.contract_number:
        out.append(f"Vertrags-Nr.: {p.contract_number}")
    if p.reference:
        out.append(f"Referenz: {p.reference}")
    return out


def printed_payments(sale: Sale) -> list[Payment]:
    """The payments a receipt lists: not a payment of nothing (a cash payment of 0.00
    that settled a rest cash rounds to nothing, e.g. CHF 0.02 in 0.05 steps): no money
    changed hands, the rounding line shows how the rest was settled, and the TSE's
    processData leaves it out too."""
    return [p for p in sale.payments if p.amount != 0]


def payment_lines(sale: Sale, columns: int) -> list[Block]:
    """Rounding, the payments with their details (refunds negative), the change."""
    cur = sale.currency

    def amt(minor: int) -> str:
        return format_minor(minor, cur, sep=",")

    blocks: list[Block] = []
    if sale.rounding:
        blocks += _pair("Rundung", amt(sale.rounding), columns)
        blocks += _pair("Zu zahlen", f"{amt(sale.due)} {cur}", columns)
    for p in printed_payments(sale):
        blocks += _pair(payment_label(p), amt(p.amount), columns)
        blocks += _details(payment_details(p), columns)
    change = sale.change
    if change and sale.change_in_local:
        local_cur = sale.local_currency
        local = sale.change_local or sale.change_paid_locally()
        local_text = f"{format_minor(local, local_cur, sep=',')} {local_cur}"
        blocks += _pair("Rückgeld", local_text, columns)
        details = [f"entspricht {amt(change)} {cur}"]
        # what the change's cash rounding left in the drawer (booked as Rundung); a
        # receipt posted before it was kept (None) is reprinted as it was printed
        if sale.posted_at is None:
            fx_rounding = sale.local_change_rounding()
        else:
            fx_rounding = sale.change_rounding or 0
        if fx_rounding:
            details.append(f"Rundung {format_minor(fx_rounding, local_cur, sep=',')} {local_cur}")
        blocks += _details(details, columns)
    elif change:
        blocks += _pair("Rückgeld", amt(change), columns)
    return blocks


def _totals(sale: Sale, columns: int) -> list[Block]:
    cur = sale.currency

    def amt(minor: int) -> str:
        return format_minor(minor, cur, sep=",")

    blocks: list[Block] = []
    if sale.vat_direction is PriceBasis.NET:
        blocks += _pair("Summe netto", f"{amt(sale.net_total)} {cur}", columns)
        blocks += _pair("zzgl. USt", f"{amt(sale.tax_total)} {cur}", columns)
    blocks += total_line("SUMME", f"{amt(sale.total)} {cur}", columns)
    if sale.currency != sale.local_currency:
        local = format_minor(sale.total_local, sale.local_currency, sep=",")
        blocks += _pair("entspricht", f"{local} {sale.local_currency}", columns)
        blocks += _wrapped(f"Kurs {describe_rate(sale)}", columns)
    blocks += payment_lines(sale, columns)
    blocks.append(Feed())
    blocks += _vat_table(sale, columns)
    return blocks


def _vat_table(sale: Sale, columns: int) -> list[Block]:
    """Net, tax and gross per rate (KassenSichV § 6 Nr. 5: the amount and its tax per
    rate, with the rate), each figure right under its heading. The usual columns
    (9, 9, 10) where rate and figures fit the line; else columns as wide as the widest
    figure (a 32-column printer cut the rate off, "A     -7,55"); else the rate on a
    line of its own above its figures."""
    cur = sale.currency
    rows = [
        (
            # "C 10,7%", not "C 10.7%"
            decimal_comma(f"{VAT_LETTER[vt.category]} {vt.percent.normalize():f}%"),
            [format_minor(x, cur, sep=",") for x in (vt.net, vt.tax, vt.gross)],
        )
        for vt in sale.vat_totals()
    ]
    heads = ["Netto", "Steuer", "Brutto"]
    widest = [max([len(h)] + [len(f[i]) for _, f in rows]) for i, h in enumerate(heads)]
    usual = [max(9, widest[0]), max(9, widest[1]), max(10, widest[2])]
    compact = [max(widest)] * 3

    def cols(values: list[str], widths: list[int]) -> str:
        return " ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True))

    rate_w = max([len("USt")] + [len(rate) for rate, _ in rows])
    for widths in (usual, compact):
        if rate_w + 1 + len(cols(heads, widths)) <= columns:
            table: list[Block] = [Text(two_cols("USt", cols(heads, widths), columns))]
            return table + [
                Text(two_cols(rate, cols(figures, widths), columns)) for rate, figures in rows
            ]
    if len(cols(heads, compact)) <= columns:
        blocks: list[Block] = [Text("USt"), Text(cols(heads, compact).rjust(columns))]
        for rate, figures in rows:
            blocks += [Text(rate), Text(cols(figures, compact).rjust(columns))]
        return blocks
    blocks = [Text("USt")]  # figures too wide for one line even alone: one per line
    for rate, figures in rows:
        blocks.append(Text(rate))
        for h, x in zip(heads, figures, strict=True):
            blocks += _pair(f"  {h}", x, columns)
    return blocks


def invoice_number(sale: Sale) -> str:
    """The number a sale's full invoice carries: unique and sequential per register
    (§ 14 (4) Nr. 4 UStG), the register's id and its receipt number."""
    return f"{sale.register_id}-{sale.receipt_number}"


def is_invoice(sale: Sale) -> bool:
    """Whether the sale was invoiced: posted as a full invoice or one issued later."""
    return sale.document_type is DocumentType.INVOICE or sale.invoice_to is not None


@dataclass(frozen=True, slots=True)
class Reversed:
    """The sale a storno reverses, and when its invoice was issued after posting (None:
    none was, or it was posted as an invoice): what the storno's header names."""

    sale: Sale
    invoice_issued_at: datetime | None = None

    @property
    def invoice_date(self) -> datetime | None:
        return self.invoice_issued_at or self.sale.posted_at


@dataclass(frozen=True, slots=True)
class Invoiced:
    """What an invoice's lines state beyond a receipt's: the invoices it corrects, whose
    goods its return lines take back (a Rechnungskorrektur)."""

    corrects: tuple[Reversed, ...] = ()

    def corrected(self, sale_id: str | None) -> Reversed | None:
        """The corrected invoice of the sale ``sale_id`` (a return line's original)."""
        return next((c for c in self.corrects if sale_id and c.sale.sale_id == sale_id), None)


def _corrections(shop: ShopHeader, columns: int, corrects: Sequence[Reversed]) -> list[Block]:
    """The header lines of an invoice correction: each invoice it corrects by number and
    date (issued after posting: that day), as a correcting document must refer to the
    invoice specifically and unambiguously (§ 31 (5) UStDV)."""
    blocks: list[Block] = []
    for c in corrects:
        day = local_time(c.invoice_date, shop, "%d.%m.%Y")
        of = f"Rechnungskorrektur zu Rechnung {invoice_number(c.sale)} vom {day}"
        blocks += _centered(of, columns, bold=True)
    return blocks


def _reversal(
    sale: Sale, shop: ShopHeader, columns: int, original: Reversed | None = None
) -> list[Block]:
    """The header of a reversal (storno) receipt: a receipt of its own, signed; the
    reversed receipt is never changed. The storno of an invoice names the invoice it
    cancels by its number and date: a correcting document must refer to the invoice
    specifically and unambiguously (§ 31 (5) UStDV); "Beleg 1" is neither the invoice's
    number nor says which register's receipt 1 it was."""
    if not (sale.reverses_receipt or sale.reverses_sale_id):
        return []
    if original is not None and is_invoice(original.sale):
        issued = local_time(original.invoice_date, shop, "%d.%m.%Y")
        of = f" zu Rechnung {invoice_number(original.sale)} vom {issued}"
    else:
        of = f" zu Beleg {sale.reverses_receipt}" if sale.reverses_receipt else ""
    return [*heading("STORNO", columns), *_centered(f"STORNO{of}", columns, bold=True)]


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
        blocks += _centered(TRAINING_NOTE, columns, bold=True)
    blocks += footer(shop, columns)
    blocks.append(Feed(2))
    return blocks


#: The closing note of a training receipt (and slip).
TRAINING_NOTE = "*** TRAININGSBELEG - KEIN UMSATZ ***"


def footer(shop: ShopHeader, columns: int) -> list[Block]:
    """The shop's footer lines, centred and wrapped: a line longer than the paper (a
    thank-you, opening hours) broke mid-word at the paper's edge."""
    if not shop.footer_lines:
        return []
    blocks: list[Block] = [Feed()]
    for line in shop.footer_lines:
        blocks += _centered(line, columns)
    return blocks


def seller(shop: ShopHeader, columns: int, *, large: bool = True) -> list[Block]:
    """The shop's full name and address, whole (KassenSichV § 6 Nr. 1): the name in
    double width only when it fits half the columns, else bold over as many lines as
    it needs; an address line longer than the paper goes on over the next line."""
    name = _composed(shop.name)
    if large and len(name) <= columns // 2:
        blocks = heading(name, columns)
    else:
        blocks = _centered(name, columns, bold=True)
    for line in shop.address_lines:
        blocks += _centered(line, columns)
    return blocks


def _head(shop: ShopHeader, copy: bool, training: bool = False, *, columns: int) -> list[Block]:
    blocks = seller(shop, columns)
    # the supplier's tax number or VAT id, which a full invoice must name (§ 14 (4)
    # Nr. 2 UStG): each one the shop has, on receipts too (they share this head)
    if shop.vat_id:
        blocks += _centered(f"USt-IdNr. {shop.vat_id}", columns)
    if shop.tax_number:
        blocks += _centered(f"St.-Nr. {shop.tax_number}", columns)
    if copy:
        blocks += _centered("*** KOPIE ***", columns, bold=True)
    if training:
        blocks += _centered("*** TRAININGSBELEG ***", columns, bold=True)
        blocks += _centered("Schulung - kein Umsatz", columns)
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
    original: Reversed | None = None,
    invoice_issued_at: datetime | None = None,
    voucher_validity: Mapping[str, date] | None = None,
    corrects: Sequence[Reversed] = (),
) -> Document:
    """The sale's document: a receipt, or a full invoice when it was posted as one or
    an invoice was issued for it later or it corrects invoices (:func:`render_invoice`).
    ``as_invoice`` decides explicitly (a receipt job queued before a later invoice still
    prints the receipt).
    ``original``: the sale a storno reverses (its header names that receipt or invoice);
    ``invoice_issued_at``: when the sale's invoice was issued after posting;
    ``voucher_validity``: the valid-until dates of the vouchers it sold, by code;
    ``corrects``: the invoices whose goods its return lines take back."""
    if as_invoice is None:
        as_invoice = (
            is_invoice(sale)
            or (original is not None and is_invoice(original.sale))
            or bool(corrects)
        )
    if as_invoice:
        return render_invoice(
            sale,
            shop,
            columns,
            copy=copy,
            fiscal=fiscal,
            extra_lines=extra_lines,
            original=original,
            issued_at=invoice_issued_at,
            voucher_validity=voucher_validity,
            corrects=corrects,
        )
    blocks = _head(shop, copy, sale.training, columns=columns)
    blocks += _reversal(sale, shop, columns, original)
    posted = local_time(sale.posted_at, shop)
    blocks += _pair(f"Beleg-Nr. {sale.receipt_number}", posted, columns)
    blocks += _wrapped(f"Kasse {sale.register_id}  Bediener {sale.operator_id}", columns)
    if sale.customer.number and not sale.customer.anonymous:
        blocks += _wrapped(f"Kunde {sale.customer.number} {sale.customer.name}", columns)
    if sale.pickup_date is not None:
        blocks += _wrapped(f"Abholung {sale.pickup_date.strftime('%d.%m.%Y')}", columns)
    if sale.order_number:
        blocks += _wrapped(f"Auftrag {sale.order_number}", columns)
    blocks.append(Text("-" * columns))
    blocks += _amounts(sale, columns, voucher_validity)
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
    original: Reversed | None = None,
    issued_at: datetime | None = None,
    voucher_validity: Mapping[str, date] | None = None,
    corrects: Sequence[Reversed] = (),
) -> Document:
    """A full invoice (§14 (4) UStG): seller with VAT id, recipient's name and address,
    invoice number and date, date of supply, quantities, net amounts per rate, rates,
    tax amounts and the gross total. The storno of an invoice (``original``) goes to
    the invoice's recipient and names the invoice. An invoice issued after posting
    (``issued_at``) is dated that day; its date of supply is the sale's. A return of
    goods from invoices (``corrects``) is a correction of them: its header says so and
    names them, before the lines."""
    # a storno made of an invoice issued after posting has the walk-in customer of the
    # receipt: the credit note goes to whom the cancelled invoice went
    cancelled = original.sale.invoice_to if original is not None else None
    customer = sale.invoice_to or cancelled or sale.customer
    blocks = _head(shop, copy, sale.training, columns=columns)
    blocks += heading("RECHNUNGSKORREKTUR" if corrects else "RECHNUNG", columns)
    blocks += _reversal(sale, shop, columns, original)
    blocks += _corrections(shop, columns, corrects)
    # the date of issue (§ 14 (4) Nr. 3 UStG) beside the number, and the date of supply
    # (Nr. 6): an invoice asked for days after the sale is dated the day it was issued,
    # the goods were still supplied the day of the sale
    dated = local_time(issued_at or sale.posted_at, shop, "%d.%m.%Y")
    # a cancellation invoice (Stornorechnung) corrects the supply of the invoice it
    # cancels: its date of supply is the original's, not the day of the storno
    # (§ 14 (4) Nr. 6 UStG with § 31 (5) UStDV); today's date claimed a supply that
    # never took place that day
    supply = original.sale.posted_at if original is not None else None
    supplied = local_time(supply or sale.posted_at, shop, "%d.%m.%Y")
    number = invoice_number(sale)
    blocks += _pair(f"Rechnungs-Nr. {number}", dated, columns)
    blocks += _wrapped(f"Leistungsdatum {supplied}", columns)
    blocks += _wrapped(f"Beleg-Nr. {sale.receipt_number}  Kasse {sale.register_id}", columns)
    blocks.append(Feed())
    blocks += _wrapped("Rechnungsempfänger:", columns)
    for line in customer.address_lines():
        blocks += [Text(f"  {part}") for part in wrap(line, columns - 2)]
    if customer.vat_id:
        blocks += [Text(f"  {p}") for p in wrap(f"USt-IdNr. {customer.vat_id}", columns - 2)]
    if customer.number:
        blocks += [Text(f"  {p}") for p in wrap(f"Kunden-Nr. {customer.number}", columns - 2)]
    if sale.pickup_date is not None:
        blocks += _wrapped(f"Abholung {sale.pickup_date.strftime('%d.%m.%Y')}", columns)
    if sale.order_number:
        blocks += _wrapped(f"Auftrag {sale.order_number}", columns)
    blocks.append(Text("-" * columns))
    basis = "netto" if sale.vat_direction is PriceBasis.NET else "brutto"
    blocks += _wrapped(f"Beträge {basis} in {sale.currency}", columns)
    blocks += _amounts(sale, columns, voucher_validity, Invoiced(tuple(corrects)))
    blocks.append(Text("-" * columns))
    if sale.vat_direction is PriceBasis.GROSS:
        blocks += _pair(
            "Summe netto", format_minor(sale.net_total, sale.currency, sep=","), columns
        )
        blocks += _pair("USt", format_minor(sale.tax_total, sale.currency, sep=","), columns)
    blocks += _totals(sale, columns)
    blocks += _local_tax(sale, columns)
    blocks += _tail(shop, columns, fiscal, extra_lines, sale.training)
    return Document(columns=columns, blocks=tuple(blocks), cut=True, copy=copy)


def _local_tax(sale: Sale, columns: int) -> list[Block]:
    """An invoice in a foreign currency states its tax per rate in the local currency
    too (§ 16 (6) UStG: foreign amounts are converted to EUR at the rate used for the
    sale), each rate's tax converted as the closing books it (closing.py)."""
    if sale.currency == sale.local_currency:
        return []
    local = sale.local_currency
    blocks: list[Block] = [
        Feed(),
        *_wrapped(f"USt in {local} (Kurs {describe_rate(sale)})", columns),
    ]
    for vt in sale.vat_totals():
        rate = decimal_comma(f"{VAT_LETTER[vt.category]} {vt.percent.normalize():f}%")
        tax = format_minor(sale.to_local(vt.tax), local, sep=",")
        blocks += _pair(rate, f"{tax} {local}", columns)
    return blocks


def render_parking_slip(
    sale: Sale, shop: ShopHeader, columns: int, *, copy: bool = False
) -> Document:
    """The slip a parked sale prints: register, sale id, when, operator, the lines and
    the total (and what is paid already), and the parking code as a barcode (EAN-13 or
    Code128, by the code's form) to take the sale up again. Not a receipt: no receipt
    number, no TSE data."""
    cur = sale.currency

    def amt(minor: int) -> str:
        return format_minor(minor, cur, sep=",")

    blocks = _head(shop, copy, sale.training, columns=columns)
    blocks += heading("PARKBELEG", columns)
    blocks += _centered("Kein Kassenbeleg", columns)
    blocks.append(Feed())
    parked = local_time(sale.parked_at, shop)
    blocks += _pair(f"Kasse {sale.register_id}", parked, columns)
    blocks += [Text(part) for part in wrap(f"Vorgang {sale.sale_id}", columns)]
    blocks += _wrapped(f"Bediener {sale.operator_id}", columns)
    if sale.customer.number and not sale.customer.anonymous:
        blocks += _wrapped(f"Kunde {sale.customer.number} {sale.customer.name}", columns)
    blocks.append(Text("-" * columns))
    blocks += _amounts(sale, columns)
    blocks.append(Text("-" * columns))
    blocks += total_line("SUMME", f"{amt(sale.total)} {cur}", columns)
    for p in printed_payments(sale):  # as a receipt lists them: no payment of nothing
        blocks += _pair(payment_label(p), amt(p.amount), columns)
        blocks += _details(payment_details(p), columns)
    if sale.payments:
        blocks += _pair("Offen", f"{amt(sale.open_amount)} {cur}", columns)
    if sale.parking_code:
        blocks.append(Feed())
        blocks.append(Barcode(sale.parking_code, parking_symbology(sale.parking_code)))
        blocks += _centered("Zum Fortsetzen an der Kasse scannen", columns)
    if sale.training:
        blocks += _centered(TRAINING_NOTE, columns, bold=True)
    blocks.append(Feed(2))
    return Document(columns=columns, blocks=tuple(blocks), cut=True, copy=copy)
