"""Documents the printer prints from the outbox: receipts (with their TSE data), the
outage / recovery receipts, parking slips and the day's slips and reports.

A print job's ``payload["document"]`` names the document, its ``ref`` the sale (receipts
and parking slips): ``{"document": "receipt", "copy": false}``,
``{"document": "parking_slip"}`` (``"copy": true`` for a reprint)."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from datetime import date

from posd_daemon.domain.closing import ROUNDING_NAME, ClosingReport, PaymentTotal, VatLine
from posd_daemon.domain.customer import CustomerSnapshot
from posd_daemon.domain.document import Align, Block, Document, Feed, QrCode, Text
from posd_daemon.domain.money import format_minor
from posd_daemon.domain.receipt import (
    FiscalBlock,
    Reversed,
    ShopHeader,
    decimal_comma,
    heading,
    is_invoice,
    local_time,
    pair,
    render_parking_slip,
    render_receipt,
    seller,
    wrap,
)
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.shop import DocumentType
from posd_daemon.domain.vat import VatCategory
from posd_daemon.fiscal.qr import QrCode as QrData
from posd_daemon.fiscal.qr import format_time
from posd_daemon.services.device_ports import DeviceError
from posd_daemon.services.fiscal import OUTAGE_TEXT
from posd_daemon.store import day as day_store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import sales as sale_store
from posd_daemon.store.outbox import OutboxJob
from posd_daemon.store.timeutil import from_db

NOT_CERTIFIED = "Software-TSE: NICHT ZERTIFIZIERT (nur Entwicklung/Schulung)"


def fiscal_block(
    row: fstore.SaleTse,
    *,
    certified: bool = True,
    till_times: tuple[str, str] | None = None,
) -> FiscalBlock:
    """The TSE data a receipt must show (KassenSichV) and the DSFinV-K QR code.

    ``till_times`` (start, end of the Vorgang as the register's wall clock shows them)
    stand in for the TSE's times on a receipt made during an outage."""
    if row.state == fstore.OUTAGE:
        lines = [OUTAGE_TEXT.format(n=row.outage_number)]
        # KassenSichV § 6 Nr. 6: the serial number of the recording system (or of the
        # TSE, when it is known) is on every receipt, an outage receipt too
        if row.client_id:
            lines.append(f"Kassen-ID: {row.client_id}")
        if row.tse_serial:
            lines.append(f"TSE-Seriennummer: {row.tse_serial}")
        if row.transaction_number:
            lines.append(f"TSE-Transaktion: {row.transaction_number}")
        if till_times is not None:
            # § 6 Nr. 2 wants the start and the end of the Vorgang; without the TSE they
            # come from the till (AEAO zu § 146a Nr. 7)
            lines.append(f"Vorgangsbeginn: {till_times[0]}")
            lines.append(f"Vorgangsende: {till_times[1]}")
        return FiscalBlock(tuple(lines))
    assert row.start_time
    assert row.finish_time
    assert row.transaction_number is not None
    lines = [
        f"Kassen-ID: {row.client_id}",
        f"TSE-Seriennummer: {row.tse_serial}",
        f"TSE-Transaktion: {row.transaction_number}",
        f"TSE-Start: {format_time(row.start_time)}",
        f"TSE-Ende: {format_time(row.finish_time)}",
        f"TSE-Signaturzähler: {row.finish_counter}",
        # the time format and the algorithm belong to the TSE's data on the receipt
        # (fiscal-de.md, "Receipt QR code"): without them the printed times and the
        # signature cannot be checked from the paper alone
        f"TSE-Zeitformat: {row.time_format}",
        f"TSE-Algorithmus: {row.signature_algorithm}",
        f"Prozesstyp: {row.process_type}",
        f"Prozessdaten: {row.process_data}",
        f"TSE-Signatur: {row.signature}",
    ]
    if row.state == fstore.SIGNED_LATE:
        lines.insert(0, OUTAGE_TEXT.format(n=row.outage_number) + " (nachsigniert)")
    if not certified:
        lines.insert(0, NOT_CERTIFIED)
    qr = QrData(
        client_id=row.client_id,
        process_type=row.process_type,
        process_data=row.process_data,
        transaction_number=row.transaction_number,
        signature_counter=row.finish_counter or 0,
        start_time=row.start_time,
        log_time=row.finish_time,
        signature_algorithm=row.signature_algorithm,
        time_format=row.time_format,
        signature=base64.b64decode(row.signature),
        public_key=base64.b64decode(row.public_key),
    )
    return FiscalBlock(tuple(lines), qr.to_string())


def invoice_recipient(sale: Sale) -> CustomerSnapshot | None:
    """Whom a posted sale's invoice went to: the recipient of an invoice issued after
    posting, else the customer of a sale posted as an invoice; None when it was not
    invoiced. An invoice's number names this recipient for good (§ 14 (4) Nr. 1 and 4
    UStG): another one gets an invoice of their own, never this number."""
    if sale.invoice_to is not None:
        return sale.invoice_to
    return sale.customer if sale.document_type is DocumentType.INVOICE else None


def credited_invoices(conn: sqlite3.Connection, sale: Sale) -> list[Sale]:
    """The invoiced sales whose goods ``sale`` takes back by return lines (a storno is
    not among them: it names what it reverses itself). Its document is a correction of
    those invoices (Rechnungskorrektur): the recipient deducted their VAT and corrects
    that deduction by it (§ 17 (1) UStG), so it goes to their recipient and names them
    by number and date (§ 31 (5) UStDV)."""
    if sale.reverses_sale_id:
        return []
    refs = dict.fromkeys(
        ln.ref_sale_id for ln in sale.lines if ln.kind is LineKind.RETURN and ln.ref_sale_id
    )
    originals = (sale_store.get(conn, sale_id) for sale_id in refs)
    return [o for o in originals if o is not None and is_invoice(o)]


class DocumentRenderer:
    def __init__(self, shop: ShopHeader, columns: int, *, tse_certified: bool) -> None:
        self.shop = shop
        self.columns = columns
        self.tse_certified = tse_certified
        #: digital receipts (bootstrap sets it when [digital_receipt] is on): adds the
        #: "Digitaler Beleg" QR block to a receipt or prints the short slip instead
        self.digital: Callable[[sqlite3.Connection, Sale, Document, bool], Document] | None = None

    def __call__(self, conn: sqlite3.Connection, job: OutboxJob) -> Document:
        kind = job.payload.get("document", "receipt")
        if kind == "receipt":
            return self.receipt(
                conn,
                job.ref,
                copy=bool(job.payload.get("copy", False)),
                invoice=bool(job.payload.get("invoice", False)),
            )
        if kind == "parking_slip":
            return self.parking_slip(conn, job.ref, copy=bool(job.payload.get("copy", False)))
        if kind in ("outage_begin", "outage_end"):
            return self.outage(conn, int(job.payload["outage"]), end=kind == "outage_end")
        if kind in DAY_DOCUMENTS:
            return DAY_DOCUMENTS[kind](self, conn, job)
        raise DeviceError("NO_DOCUMENT", f"job {job.job_id}: unknown document {kind!r}")

    def receipt(
        self,
        conn: sqlite3.Connection,
        sale_id: str,
        *,
        copy: bool,
        invoice: bool = False,
        digital: bool = True,
    ) -> Document:
        sale = sale_store.get(conn, sale_id)
        if sale is None:
            raise DeviceError("NO_DOCUMENT", f"sale {sale_id} is missing")
        row = fstore.get(conn, sale_id)
        block = None
        if row is not None and row.state in (fstore.SIGNED, fstore.OUTAGE, fstore.SIGNED_LATE):
            # the Vorgang began with the TSE's start when there was one (a transaction
            # started before the outage), else when the sale was opened at the till
            began = row.start_time or sale.created_at
            till = (local_time(began, self.shop), local_time(sale.posted_at, self.shop))
            block = fiscal_block(row, certified=self.tse_certified, till_times=till)
        # what the job was queued as: a receipt job stays a receipt even when an invoice
        # was issued for the sale before it printed
        as_invoice = invoice or sale.document_type is DocumentType.INVOICE
        # a storno names what it reverses; the storno of an invoiced sale (an invoice
        # issued after posting too) cancels that invoice: a credit note to its recipient
        reversed_sale = (
            sale_store.get(conn, sale.reverses_sale_id) if sale.reverses_sale_id else None
        )
        original = None
        if reversed_sale is not None:
            issued = sale_store.invoice_issued_at(conn, reversed_sale.sale_id)
            original = Reversed(reversed_sale, issued)
            as_invoice = as_invoice or is_invoice(reversed_sale)
        # goods returned from an invoice: the return's document corrects that invoice,
        # to its recipient (posting records it as the sale's invoice), naming it
        corrected = [self.correction(conn, inv) for inv in credited_invoices(conn, sale)]
        as_invoice = as_invoice or bool(corrected)
        doc = render_receipt(
            sale,
            self.shop,
            self.columns,
            copy=copy,
            fiscal=block,
            as_invoice=as_invoice,
            original=original,
            corrects=corrected,
            invoice_issued_at=sale_store.invoice_issued_at(conn, sale_id),
            # stored when they were sold: a reprint shows what was promised then
            voucher_validity=sale_store.vouchers_valid_until(conn, sale_id),
        )
        if digital and self.digital is not None:
            doc = self.digital(conn, sale, doc, as_invoice)
        return doc

    def correction(self, conn: sqlite3.Connection, invoice: Sale) -> Reversed:
        """An invoice a return corrects, with when it was issued after posting: its
        header names it by number and the date it carries (issued after posting: that
        day)."""
        return Reversed(invoice, sale_store.invoice_issued_at(conn, invoice.sale_id))

    def parking_slip(self, conn: sqlite3.Connection, sale_id: str, *, copy: bool) -> Document:
        """The slip of a parked sale, with its parking code as a barcode. It prints even
        when the sale was resumed (or posted) before the printer got to it: the job was
        queued for a slip the customer or the next register expects."""
        sale = sale_store.get(conn, sale_id)
        if sale is None:
            raise DeviceError("NO_DOCUMENT", f"sale {sale_id} is missing")
        if not sale.parking_code:
            raise DeviceError("NO_DOCUMENT", f"sale {sale_id} was never parked: no parking slip")
        return render_parking_slip(sale, self.shop, self.columns, copy=copy)

    def outage(self, conn: sqlite3.Connection, number: int, *, end: bool) -> Document:
        o = fstore.get_outage(conn, number)
        if o is None:
            raise DeviceError("NO_DOCUMENT", f"outage {number} is missing")
        width = self.columns
        title = "TSE wieder verfügbar" if end else "TSE-AUSFALL"
        blocks: list[Block] = [
            *(Text(part, Align.CENTER, bold=True) for part in wrap(self.shop.name, width)),
            # "TSE wieder verfügbar" in double width is 40 columns: wrapped to half
            *heading(title, width),
            Feed(),
        ]
        fields = [
            f"Ausfallnummer: {o.outage_number}",
            f"Beginn: {local_time(o.started_at, self.shop)}",
            f"Fehlercode: {o.error_code}",
            f"Fehler: {o.error_message}",
            f"TSE: {o.tse_manufacturer}",
            f"TSE-Seriennummer: {o.tse_serial}",
            f"Kassen-ID: {o.client_id}",
            f"Kasse: {o.register_id}",
            f"Bediener: {o.operator_id}",
            f"Drucker: {o.printer}",
        ]
        if end and o.ended_at is not None:
            fields.insert(2, f"Ende: {local_time(o.ended_at, self.shop)}")
            # every Vorgang recorded in the outage: sales and cash movements alike
            fields.append(f"Betroffene Belege: {len(o.vorgaenge)}")
            fields += [f"  Beleg-Nr. {n}  Ausfallnummer {o.outage_number}" for n in o.vorgaenge]
        for text in fields:
            blocks += [Text(part) for part in wrap(text, width)]
        blocks.append(Feed(2))
        return Document(columns=width, blocks=tuple(blocks))


# -- the register's day: cash movement slips, shift close slips, Z reports -----------------
# (issue 7; payload["document"] = "cash_movement" | "shift_close" | "z_report" | "x_report")


def _amt(minor: int, currency: str) -> str:
    return f"{format_minor(minor, currency, sep=',')} {currency}"


def _head(r: DocumentRenderer, title: str) -> list[Block]:
    # the shop's full name and address whole on any paper width (KassenSichV § 6 Nr. 1)
    blocks = seller(r.shop, r.columns, large=False)
    blocks += [*heading(title, r.columns), Feed()]
    return blocks


def render_cash_movement(r: DocumentRenderer, conn: sqlite3.Connection, job: OutboxJob) -> Document:
    m = day_store.get_movement(conn, int(job.payload["movement_id"]))
    if m is None:
        raise DeviceError("NO_DOCUMENT", f"cash movement {job.payload.get('movement_id')} missing")
    w = r.columns
    blocks = _head(r, m.kind.label.upper())
    # label and figure pairs never cut (receipt.pair): the slip's number beside its
    # time lost its digits on 32 columns
    fields = [
        *pair(f"Beleg-Nr. K{m.number}", local_time(m.created_at, r.shop), w),
        f"Vorgang (BON_ID) {m.bon_id}   Kasse {m.register_id}",
        f"Bediener {m.operator_id}" + (f"   Schicht {m.shift_id}" if m.shift_id else ""),
        "-" * w,
        *pair(m.kind.label, _amt(m.amount, m.currency), w),
    ]
    local_currency = str(job.payload.get("local_currency", ""))
    if m.amount_local is not None and local_currency and m.currency != local_currency:
        # foreign cash: what it was booked (and signed) as in the register currency
        worth = _amt(m.amount_local, local_currency)
        fields += pair(f"entspricht (Kurs {m.exchange_rate})", worth, w)
    fields += [
        f"Grund: {m.reason}",
        f"Geschäftsvorfall: {m.kind.gv_typ}",
    ]
    for text in fields:
        blocks += [Text(part) for part in wrap(text, w)]
    tse = m.tse
    if tse.state in (fstore.SIGNED, fstore.SIGNED_LATE) and tse.start_time and tse.finish_time:
        block = fiscal_block(tse, certified=r.tse_certified)
        blocks.append(Feed())
        for text in block.lines:
            blocks += [Text(part) for part in wrap(text, w)]
        if block.qr_data:
            blocks.append(QrCode(block.qr_data))
    elif tse.state == fstore.OUTAGE:
        # as a sale's outage receipt: the outage number, the register's client id and
        # the TSE's serial (KassenSichV § 6 Nr. 6), the Vorgang's start and end from the
        # till (§ 6 Nr. 2; AEAO zu § 146a Nr. 7); a movement is one moment
        when = local_time(m.created_at, r.shop)
        block = fiscal_block(tse, certified=r.tse_certified, till_times=(when, when))
        blocks.append(Feed())
        for text in block.lines:
            blocks += [Text(part) for part in wrap(text, w)]
    # the line to sign on within the paper (34 characters broke on 32 columns)
    room = w - len("Unterschrift: ")
    if room >= 10:
        sign: list[Block] = [Text("Unterschrift: " + "_" * min(20, room))]
    else:
        sign = [Text("Unterschrift:"), Feed(), Text("_" * w)]
    blocks += [Feed(), *sign, Feed(2)]
    return Document(columns=w, blocks=tuple(blocks))


def render_shift_close(r: DocumentRenderer, conn: sqlite3.Connection, job: OutboxJob) -> Document:
    shift = day_store.get_shift(conn, int(job.payload["shift_id"]))
    if shift is None:
        raise DeviceError("NO_DOCUMENT", f"shift {job.payload.get('shift_id')} missing")
    w = r.columns
    blocks = _head(r, f"SCHICHT {shift.shift_id}")
    lines = [
        f"Kasse {shift.register_id}",
        f"Geöffnet: {local_time(shift.opened_at, r.shop)} ({shift.opened_by})",
        f"Geschlossen: {local_time(shift.closed_at, r.shop)} ({shift.closed_by})",
        "-" * w,
    ]
    for b in shift.balances:
        lines += [
            f"Währung {b.currency}",
            *pair("Anfangsbestand", _amt(b.opening, b.currency), w),
            *pair("Soll", _amt(b.expected, b.currency), w),
            *pair("Ist (gezählt)", _amt(b.counted, b.currency), w),
            *pair("Differenz", _amt(b.difference, b.currency), w),
        ]
    lines.append("Zählung:")
    for c in shift.closing:
        label = (
            f"{c.pieces} x {format_minor(c.denomination, c.currency, sep=',')}"
            if c.denomination
            else "Summe"
        )
        lines += pair(f"  {label}", _amt(c.amount, c.currency), w)
    for text in lines:
        blocks += [Text(part) for part in wrap(text, w)]
    blocks.append(Feed(2))
    return Document(columns=w, blocks=tuple(blocks))


def render_z_report(r: DocumentRenderer, conn: sqlite3.Connection, job: OutboxJob) -> Document:
    z_nr = int(job.payload["z_nr"])
    # this register's Z: a database may hold closings of another register id (renamed,
    # imported) with the same number, and the first by id was printed (jobs queued before
    # the payload named the register: the only register's, as before)
    register_id = job.payload.get("register_id")
    closing = day_store.closing_to_print(conn, z_nr, str(register_id) if register_id else None)
    if closing is None:
        raise DeviceError("NO_DOCUMENT", f"Z closing {z_nr} missing")
    report = ClosingReport.from_dict(json.loads(closing.report))
    # the business date is on the closing's row, not in its report: the Z closes that
    # day's books (it may be made after midnight), so the paper must name it
    return render_closing_report(
        report, r.shop, r.columns, business_date=closing.business_date or ""
    )


def render_x_report(r: DocumentRenderer, conn: sqlite3.Connection, job: OutboxJob) -> Document:
    """An X report queued by PrintXReport: the report the job carries, as it was when
    asked for (the open period has moved on by the time a jammed printer prints it)."""
    report = job.payload.get("report")
    if not isinstance(report, dict):
        raise DeviceError("NO_DOCUMENT", f"job {job.job_id}: X report without its totals")
    return render_closing_report(ClosingReport.from_dict(report), r.shop, r.columns)


#: The business cases by German name (the report keeps posd's ids: "sales", "cash_differences"
#: on the paper meant nothing to a shop owner or auditor). Vouchers print their DSFinV-K
#: GV_TYP (Einzweck- or Mehrzweckgutschein, which differ in VAT), a rounding row
#: "Rundung" (its GV_TYP, Rabatt or Aufschlag, says only the sign).
_CASE_NAMES = {
    "SALES": "Umsatz",
    "RETURNS": "Rücknahmen",
    "REVERSALS": "Stornobelege",
    "DISCOUNTS": "Rabatte",
    "CASH_DEPOSITS": "Einlagen",
    "CASH_WITHDRAWALS": "Entnahmen",
    "CASH_TRANSITS": "Geldtransit",
    "TIPS": "Trinkgeld",
    "CASH_DIFFERENCES": "Kassendifferenz",
    "BALANCING": "Ausgleichsbuchungen",
    "ROUNDING": ROUNDING_NAME,
    "INVOICE_PAYMENTS": "Rechnungszahlungen",
}


def _case_name(case: str, gv_typ: str) -> str:
    if case in ("VOUCHERS_SOLD", "VOUCHERS_REDEEMED"):
        return gv_typ
    return _CASE_NAMES.get(case, gv_typ or case)


def _rate_name(v: VatLine) -> str:
    """A VAT line's heading. ZERO (a 0 % rate) and NOT_TAXABLE (vouchers, balancing)
    are both 0 % and printed alike: named by their DSFinV-K UST_SCHLUESSEL meaning
    (key 6 "Umsatzsteuerfrei", key 5 "Nicht Steuerbar"; closing.ust_key)."""
    if v.category == int(VatCategory.NOT_TAXABLE):
        return "nicht steuerbar"
    pct = decimal_comma(v.percent)
    if v.category == int(VatCategory.ZERO):
        return f"{pct}% steuerfrei"
    return f"{pct}%"


def _date(iso: str) -> str:
    try:
        return date.fromisoformat(iso).strftime("%d.%m.%Y")
    except ValueError:
        return iso


def _payment_lines(payments: tuple[PaymentTotal, ...], cur: str, w: int) -> list[str]:
    lines: list[str] = []
    for p in payments:
        # how many payments beside the total (refunds among them), and what was paid
        # back on a line of its own: a return's negative payment nets into the total,
        # unseen, and the drawer's cash is counted against both
        lines += pair(f"  {p.count}x {p.name} ({p.currency})", _amt(p.amount, p.currency), w)
        if p.refunds:
            lines += pair(
                f"    davon {p.refunds}x Erstattung", _amt(p.refunds_amount, p.currency), w
            )
        if p.currency != cur:
            # foreign money: what it is worth in the register currency (at the sales'
            # rates), the currency of the totals
            lines += pair("    entspricht", _amt(p.base_amount, cur), w)
    return lines


def render_closing_report(
    report: ClosingReport, shop: ShopHeader, columns: int, *, business_date: str = ""
) -> Document:
    """A Z report (or, with z_nr 0, an X report) as a printable document;
    ``business_date`` (ISO, a Z's): the day whose books it closes."""
    w = columns
    cur = report.currency
    title = f"Z-BON {report.z_nr}" if report.z_nr else "X-BERICHT"
    # the shop's name wrapped (it was one line, broken mid-word by the printer) and
    # every label beside its figure whole (receipt.pair: an operator's id or a payment's
    # name was cut to make room for the amount, "Nachträglich (Schichtwechsel)" for a
    # four-digit count)
    blocks: list[Block] = [Text(part, Align.CENTER, bold=True) for part in wrap(shop.name, w)]
    blocks += [*heading(title, w), Feed()]
    lines = [*pair(f"Kasse {report.register_id}", local_time(from_db(report.created_at), shop), w)]
    if business_date:
        lines += pair("Geschäftstag", _date(business_date), w)
    # an empty period has no Vorgang: "Vorgänge 0-0" read as a Vorgang number 0
    if report.last_bon_id:
        lines += pair("Vorgänge", f"{report.first_bon_id}-{report.last_bon_id}", w)
    else:
        lines.append("keine Vorgänge")
    lines += [
        *pair("Belege", str(report.receipts), w),
        *pair("Abgebrochen", str(report.aborted), w),
        *pair("Training", str(report.training), w),
        *pair("Kassenbewegungen", str(report.movements), w),
        *pair("Nachträglich (Schichtwechsel)", str(report.late), w),
        *pair("Außerhalb Schicht", str(report.outside_shift), w),
    ]
    if report.shifts:
        lines.append("Schichten " + ", ".join(str(s) for s in report.shifts))
    lines += [
        "-" * w,
        # the receipts' sum: vouchers sold and invoices paid are in it, and are no
        # turnover (the business cases below say what is)
        *pair("Belege brutto", _amt(report.gross, cur), w),
        "Zahlarten:",
    ]
    lines += _payment_lines(report.payments, cur, w)
    if report.gateways:
        lines.append("Zahlungsdienstleister:")
        lines += _payment_lines(report.gateways, cur, w)
    lines += pair("Zahlungen gesamt", _amt(report.payments_total, cur), w)
    lines.append("USt:")
    for v in report.vat:
        lines += [
            f"  {_rate_name(v)}",
            *pair("    brutto", _amt(v.gross, cur), w),
            *pair("    netto", _amt(v.net, cur), w),
            *pair("    USt", _amt(v.tax, cur), w),
        ]
    lines.append("Geschäftsvorfälle:")
    for c in report.cases:
        lines += pair(f"  {_case_name(c.case, c.gv_typ)} ({c.count})", _amt(c.gross, cur), w)
    lines.append("Bediener:")
    for o in report.operators:
        lines += pair(f"  {o.operator_id} ({o.receipts})", _amt(o.gross, cur), w)
        # the cash the operator took in the register currency: what their drawer answers for
        lines += pair("    davon bar", _amt(o.cash, cur), w)
    if report.balances:
        lines.append("Bargeld Soll/Ist:")
        for b in report.balances:
            lines += pair(f"  Anfangsbestand {b.currency}", _amt(b.opening, b.currency), w)
            lines += pair(f"  Soll {b.currency}", _amt(b.expected, b.currency), w)
            lines += pair(f"  Ist {b.currency}", _amt(b.counted, b.currency), w)
            lines += pair(f"  Differenz {b.currency}", _amt(b.difference, b.currency), w)
    if report.open_shift_expected:
        # X report: the cash the still open shift should hold now (nothing counted yet)
        lines.append("Offene Schicht:")
        for currency, amount in report.open_shift_expected:
            lines += pair(f"  Soll {currency}", _amt(amount, currency), w)
    for text in lines:
        blocks += [Text(part) for part in wrap(text, w)]
    blocks.append(Feed(2))
    return Document(columns=w, blocks=tuple(blocks))


DAY_DOCUMENTS: dict[str, Callable[[DocumentRenderer, sqlite3.Connection, OutboxJob], Document]] = {
    "cash_movement": render_cash_movement,
    "shift_close": render_shift_close,
    "z_report": render_z_report,
    "x_report": render_x_report,
}
