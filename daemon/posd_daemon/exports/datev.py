"""DATEV Kassenbuch online import files: the cash book and the extended cash book.

Format (DATEV Hilfe-Dokument 1002367 "Kassenbewegungen in DATEV Kassenbuch online
importieren", datev.de/hilfe/1002367; fiscal-de.md): ``;``-separated UTF-8 text with the
header ``"Währung";"VorzBetrag";"RechNr";"BelegDatum";"Belegtext";"UStSatz";"BU";
"Gegenkonto";"Kost1";"Kost2";"Kostmenge";"Skonto";"Nachricht"``; currency ``EUR`` only;
``VorzBetrag`` with sign and decimal comma (``+100,00``/``-100,00``, not 0); ``RechNr`` at
most 36 characters; ``BelegDatum`` ``TTMM``; ``Belegtext`` at most 60 characters; VAT rate
with a decimal comma; at most 6 MB per file (longer periods are split into parts).
``BelegDatum`` and the dates in the file names are dates on the register's calendar (its
time zone, ``register.timezone``), not UTC's: a receipt of 00:30 on 1 January in Berlin
is dated 0101.
Texts are composed (NFC), on one line and cut at their limits, never between a letter
and its combining mark; a cash movement's reason cut from its Belegtext is whole in
``Nachricht``. No row has a 0 amount (a foreign movement worth 0.00 EUR has none).

* :func:`cash_book`: the cash movements only (Einlage, Entnahme, Geldtransit, Trinkgeld,
  booked cash differences): what DATEV Kassenbuch online calls the cash book proper.
* :func:`extended_cash_book` ("Kassenbuch für alle Belege"): every posted receipt, one
  revenue row per VAT rate (gross, rate, revenue account), a row for its cash rounding
  difference and, for each non-cash payment method, a counter row that moves the amount
  kept out of the cash book to the method's transit account; so every receipt appears
  with its payment methods while the cash book's balance stays the cash in the drawer.
  Cash movements follow as in the cash book; one of foreign cash (Geldtransit of the
  francs taken in) is booked at the EUR value it was signed with, the foreign amount in
  ``Nachricht``. Amounts are in EUR: a receipt in a foreign
  currency is converted at its rate, its total once (as ``Sale.total_local``) and split
  over its rows (``pricing.split_converted``), as in the Z report. An open invoice paid
  at the register (line kind INVOICE_PAYMENT) is no revenue: its amount is a row of its
  own on the receivables account (``Accounts.receivables``), named by the invoice; nor
  is the rest of an exchange put on the shop's balancing account (line kind BALANCING):
  a row of its own on that account when it is an account number, else named for the
  adviser without a Gegenkonto.
  Neither is a multi-purpose voucher (Mehrzweckgutschein, VAT category NOT_TAXABLE): its
  sale is no supply yet (§3 Abs. 15 UStG; the supply and its VAT come when the goods are
  bought with it), so selling one (a GOODS line of item type VOUCHER; taken back: a
  RETURN line, negative) credits, and redeeming one (VOUCHER_REDEMPTION, negative) debits
  the voucher liability account (``Accounts.vouchers``), a row per voucher, named by its
  code. A single-purpose voucher (Einzweckgutschein, taxed when sold) stays revenue at
  its rate when sold, and its redemption takes back no revenue twice: it stays in its
  rate's row, as in the receipt's VAT totals.

Accounts default to SKR03 (8400 revenue 19 %, 8300 revenue 7 %, 8190 revenue at the §24
UStG average rates, 1360 Geldtransit, 1800 Privatentnahmen, 1890 Privateinlagen, 2309 /
2709 cash differences short / over, 8200 cash rounding, 1400 receivables, 1604 voucher
liabilities); :class:`Accounts` changes them.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator
from datetime import MAXYEAR, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import partial

from posd_daemon.domain.business_day import business_day
from posd_daemon.domain.closing import (
    CashMovementKind,
    kept_payments,
    payment_kind,
)
from posd_daemon.domain.errors import invalid
from posd_daemon.domain.pricing import local_amount, split_converted
from posd_daemon.domain.vat import VatCategory
from posd_daemon.exports.datev_accounts import Accounts
from posd_daemon.exports.dsfinvk import line_total, tax_of
from posd_daemon.store.timeutil import from_db, to_db

__all__ = ["Accounts", "cash_book", "extended_cash_book"]

HEADER = (
    '"Währung";"VorzBetrag";"RechNr";"BelegDatum";"Belegtext";"UStSatz";"BU";"Gegenkonto";'
    '"Kost1";"Kost2";"Kostmenge";"Skonto";"Nachricht"\r\n'
)
MAX_FILE_BYTES = 6 * 1024 * 1024
RECHNR_MAX = 36  # fiscal-de.md: RechNr at most 36 characters
BELEGTEXT_MAX = 60  # fiscal-de.md: Belegtext at most 60 characters


#: what a reader may take for a line end inside a text (str.splitlines: CR, LF, VT, FF,
#: FS/GS/RS, NEL, U+2028, U+2029): a record is one line. U+2028/U+2029 are no control
#: characters, so the daemon's text check (domain/text.check_text) lets them into reasons
_LINE_BREAKS = str.maketrans(dict.fromkeys("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029", " "))


def _text(text: str, limit: int = 0) -> str:
    """``text`` as the file holds it: composed (NFC, an umlaut sent as letter and
    combining mark is one character, as DATEV counts it), on one line, and at most
    ``limit`` characters (fiscal-de.md: RechNr <= 36, Belegtext <= 60), cut before a
    letter whose combining mark would not fit rather than between the two."""
    text = unicodedata.normalize("NFC", text).translate(_LINE_BREAKS)
    if limit and len(text) > limit:
        cut = limit
        if unicodedata.combining(text[cut]):
            while cut > 0 and unicodedata.combining(text[cut]):
                cut -= 1
        text = text[:cut]
    return text


def _q(text: str, limit: int = 0) -> str:
    return '"' + _text(text, limit).replace('"', '""') + '"'


def _amount(minor: int) -> str:
    sign = "-" if minor < 0 else "+"
    q, r = divmod(abs(minor), 100)
    return f"{sign}{q},{r:02d}"


def _signed(minor: int) -> str:
    """An amount in a row's free text: ``-1,44``, ``8,99`` (the sign only when negative)."""
    return _amount(minor).removeprefix("+")


def _rate(text: str) -> str:
    whole, _, frac = text.partition(".")
    return f"{whole},{(frac + '00')[:2]}"


def _row(
    amount: int,
    number: str,
    when: datetime,
    text: str,
    *,
    rate: str = "",
    account: str = "",
    note: str = "",
) -> str:
    return (
        f'"EUR";{_amount(amount)};{_q(number, RECHNR_MAX)};"{when:%d%m}";'
        f"{_q(text, BELEGTEXT_MAX)};"
        f"{_rate(rate) if rate else ''};;{account};;;;;{_q(note, 120)}\r\n"
    )


def _account(code: str, length: int) -> str:
    """``code`` as a Gegenkonto: an account number of at most ``length`` digits (the
    Sachkontenlänge), else "" (no Gegenkonto)."""
    return code if code.isascii() and code.isdigit() and len(code) <= length else ""


def _check(currency: str, start: datetime, end: datetime) -> None:
    if currency != "EUR":
        raise invalid("currency", "DATEV Kassenbuch online only takes EUR", "CURRENCY_MISMATCH")
    if end <= start:
        raise invalid("end_time", "must be after start_time")


def _files(
    prefix: str, start: datetime, end: datetime, zone: tzinfo, rows: Iterator[str]
) -> list[tuple[str, bytes]]:
    """Splits rows into files of at most 6 MB, each with the header; named by the
    period's first and last day on the register's calendar (``end`` is exclusive: a
    period up to midnight ends the day before)."""
    first = business_day(start, zone)
    last = business_day(max(start, end - timedelta(microseconds=1)), zone)
    base = f"{prefix}_{first:%Y%m%d}_{last:%Y%m%d}"
    header = HEADER.encode("utf-8")
    files: list[tuple[str, bytes]] = []
    parts: list[bytes] = [header]
    size = len(header)
    for row in rows:
        data = row.encode("utf-8")
        if size + len(data) > MAX_FILE_BYTES and len(parts) > 1:
            files.append((f"{base}_{len(files) + 1}.csv", b"".join(parts)))
            parts, size = [header], len(header)
        parts.append(data)
        size += len(data)
    files.append((f"{base}_{len(files) + 1}.csv" if files else f"{base}.csv", b"".join(parts)))
    return files


def _movement_rows(
    conn: sqlite3.Connection,
    register_id: str,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    accounts: Accounts,
) -> Iterator[str]:
    for number, kind, amount, currency, value, reason, created in conn.execute(
        # foreign cash at the EUR value it was booked and signed with (schema 22)
        "SELECT number, kind, amount, currency, COALESCE(amount_local, amount), reason,"
        " created_at FROM cash_movements"
        " WHERE register_id = ? AND created_at >= ? AND created_at < ? ORDER BY number",
        (register_id, to_db(start), to_db(end)),
    ):
        if not value:
            # VorzBetrag is never 0 (DATEV Hilfe-Dokument 1002367): nor is a movement whose
            # EUR value is (foreign cash worth less than half a cent), as in the Z
            continue
        k = CashMovementKind(kind)
        text = f"{k.label}: {reason}"
        note = k.gv_typ
        if currency != "EUR":
            # the format has no foreign-currency field (Währung is EUR only): the EUR
            # value it was signed with, the foreign cash named in the note
            note += f"; {_signed(int(amount))} {currency}"
        if _text(text, BELEGTEXT_MAX) != _text(text):
            # a reason (up to 60 characters) after the kind does not fit the Belegtext's
            # 60 (fiscal-de.md): the note keeps it whole, the reason being what the
            # withdrawal or deposit is booked by
            note += f"; Grund: {reason}"
        yield _row(
            int(value),
            f"K{number}",
            from_db(created).astimezone(zone),
            text,
            account=(
                accounts.difference_surplus
                if k is CashMovementKind.DIFFERENCE and value > 0
                else accounts.movements.get(k.value, "")
            ),
            note=note,
        )


def cash_book(
    conn: sqlite3.Connection,
    register_id: str,
    currency: str,
    start: datetime,
    end: datetime,
    accounts: Accounts | None = None,
    *,
    zone: tzinfo,
) -> list[tuple[str, bytes]]:
    """DATEV Kassenbuch online: the cash movements of ``[start, end)``."""
    _check(currency, start, end)
    acc = accounts or Accounts()
    return [
        f
        for s, e in _years(start, end, zone)
        for f in _files(
            "kassenbuch", s, e, zone, _movement_rows(conn, register_id, s, e, zone, acc)
        )
    ]


def extended_cash_book(
    conn: sqlite3.Connection,
    register_id: str,
    currency: str,
    start: datetime,
    end: datetime,
    accounts: Accounts | None = None,
    *,
    zone: tzinfo,
) -> list[tuple[str, bytes]]:
    """Every receipt of ``[start, end)`` per payment method, then the cash movements."""
    _check(currency, start, end)
    acc = accounts or Accounts()

    def rows(s: datetime, e: datetime) -> Iterator[str]:
        yield from _receipt_rows(conn, register_id, currency, s, e, zone, acc)
        yield from _movement_rows(conn, register_id, s, e, zone, acc)

    return [
        f
        for s, e in _years(start, end, zone)
        for f in _files("kassenbuch_alle_belege", s, e, zone, rows(s, e))
    ]


def _years(start: datetime, end: datetime, zone: tzinfo) -> Iterator[tuple[datetime, datetime]]:
    """``[start, end)`` cut at each 1 January 00:00 on the register's calendar: a file's
    ``BelegDatum`` (``TTMM``) has no year, so one file holds one year's rows (a period
    over the year end was one file in which 0101 could be either year's)."""
    while True:
        try:
            local = start.astimezone(zone)
        except OverflowError:  # past 9999-12-31 on the register's calendar
            local = datetime.max
        if local.year >= MAXYEAR:  # no new year after it
            yield start, end
            return
        new_year = datetime(local.year + 1, 1, 1, tzinfo=zone)
        if end <= new_year:
            yield start, end
            return
        yield start, new_year
        start = new_year


def _receipt_rows(
    conn: sqlite3.Connection,
    register_id: str,
    currency: str,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    acc: Accounts,
) -> Iterator[str]:
    params = (register_id, to_db(start), to_db(end))
    where = (
        "s.register_id = ? AND s.state = 'POSTED' AND s.posted_at >= ? AND s.posted_at < ?"
        " AND s.training = 0"  # training sales are no turnover
    )
    heads = conn.execute(
        "SELECT s.seq, s.receipt_number, s.posted_at, s.total, s.currency, s.exchange_rate,"
        " COALESCE(s.rounding, 0), COALESCE(s.change_rounding, 0)"
        f" FROM sales s WHERE {where} ORDER BY s.seq",
        params,
    )
    # per-rate gross as posted (schema 6: discounts and net pricing included); sales
    # posted before it fall back to unit price x quantity
    lines = conn.execute(
        "SELECT s.seq, v.vat_category, v.vat_rate, v.gross, NULL FROM sales s"
        f" JOIN sale_vat_totals v ON v.sale_id = s.sale_id WHERE {where}"
        " UNION ALL"
        " SELECT s.seq, l.vat_category, l.vat_rate, l.unit_price, l.quantity FROM sales s"
        f" JOIN sale_lines l ON l.sale_id = s.sale_id WHERE {where}"
        " AND NOT EXISTS (SELECT 1 FROM sale_vat_totals x WHERE x.sale_id = s.sale_id)"
        " ORDER BY 1",
        params + params,
    )
    # open invoices paid, rests put on the shop's balancing account (BALANCING, NOT_TAXABLE
    # at 0 %: no supply, domain/sale._is_supply) and multi-purpose vouchers sold or
    # redeemed (no revenue): their amounts leave their rate's row (gross as posted;
    # voucher sales before schema 6 as the rate's row counted them, unit price x quantity)
    off_revenue = conn.execute(
        "SELECT s.seq, l.kind, l.item_id, l.voucher_code, l.vat_category, l.vat_rate,"
        " l.gross, l.unit_price, l.quantity FROM sales s"
        f" JOIN sale_lines l ON l.sale_id = s.sale_id WHERE {where}"
        " AND (l.kind IN ('INVOICE_PAYMENT', 'BALANCING') OR (l.vat_category = ? AND"
        " (l.kind = 'VOUCHER_REDEMPTION' OR (l.kind IN ('GOODS', 'RETURN')"
        " AND l.item_type = 'VOUCHER'))))"
        " ORDER BY s.seq, l.position",
        (*params, int(VatCategory.NOT_TAXABLE)),
    )
    pays = conn.execute(
        "SELECT s.seq, p.method, p.amount, p.kept FROM sales s"
        f" JOIN sale_payments p ON p.sale_id = s.sale_id WHERE {where}"
        " ORDER BY s.seq, p.position",
        params,
    )
    line_it, pay_it, off_it = iter(lines), iter(pays), iter(off_revenue)
    line_head = next(line_it, None)
    pay_head = next(pay_it, None)
    off_head = next(off_it, None)
    for seq, number, posted, total, sale_currency, rate, rounding, change_rounding in heads:
        when = from_db(posted).astimezone(zone)  # BelegDatum: the register's date
        conv = partial(
            local_amount, currency=sale_currency, local_currency=currency, rate=Decimal(rate or 1)
        )
        groups: dict[tuple[int, str], int] = {}
        while line_head is not None and line_head[0] <= seq:
            if line_head[0] == seq:
                key = (int(line_head[1]), str(line_head[2]))
                amount = (
                    int(line_head[3])
                    if line_head[4] is None
                    else line_total(int(line_head[3]), line_head[4])
                )
                groups[key] = groups.get(key, 0) + amount
            line_head = next(line_it, None)
        # (kind, invoice number or voucher code, gross) of the lines that are no revenue
        off_lines: list[tuple[str, str, int]] = []
        while off_head is not None and off_head[0] <= seq:
            if off_head[0] == seq:
                kind, invoice, code, cat, vat_rate, gross, price, qty = off_head[1:]
                amount = int(gross) if gross is not None else line_total(int(price), qty)
                key = (int(cat), str(vat_rate))
                groups[key] = groups.get(key, 0) - amount
                # the invoice's number or the balancing account (item_id), else the code
                ref = str(invoice) if kind in ("INVOICE_PAYMENT", "BALANCING") else str(code)
                off_lines.append((str(kind), ref, amount))
            off_head = next(off_it, None)
        payments: list[tuple[str, int]] = []
        stored: list[tuple[str, int]] = []
        while pay_head is not None and pay_head[0] <= seq:
            if pay_head[0] == seq:
                payments.append((str(pay_head[1]), int(pay_head[2])))
                if pay_head[3] is not None:
                    stored.append((str(pay_head[1]), int(pay_head[3])))
            pay_head = next(pay_it, None)
        if payments and len(stored) == len(payments):
            # what the drawer kept as posted (schema 8: sale_payments.kept), per method
            sums: dict[str, int] = {}
            for method, amount in stored:
                sums[method] = sums.get(method, 0) + amount
            own = list(sums.items())
        else:  # before schema 8: the change comes off the cash payments
            paid = sum(a for _, a in payments)
            own = kept_payments(payments, max(0, paid - int(total) - int(rounding)))
        # in EUR: the receipt's total converted once, split over its rates and payments;
        # the rounding is what the payments hold beyond it (+: the drawer kept more)
        rates = sorted(groups.items())
        gross_own = sum(g for _, g in rates) + sum(a for _, _, a in off_lines)
        total_local = conv(gross_own)
        parts_local = split_converted(
            [g for _, g in rates] + [a for _, _, a in off_lines], total_local, conv
        )
        rates_local, off_local = parts_local[: len(rates)], parts_local[len(rates) :]
        kept_local = split_converted([a for _, a in own], conv(sum(a for _, a in own)), conv)
        kept = [(m, a) for (m, _), a in zip(own, kept_local, strict=True)]
        # plus the rounding of change paid out in EUR for foreign cash (Sale.change_rounding)
        rounding_local = conv(gross_own + int(rounding)) - total_local + int(change_rounding)
        methods = ", ".join(f"{payment_kind(m).name} {_signed(a)}" for m, a in kept if a)
        for ((cat, vat_rate), _), gross in zip(rates, rates_local, strict=True):
            if not gross:
                continue
            tax = tax_of(gross, vat_rate)
            yield _row(
                gross,
                str(number),
                when,
                f"Beleg {number} Umsatz {vat_rate}%",
                rate=vat_rate,
                account=acc.revenue.get(cat, ""),
                note=f"USt {_signed(tax)}; Zahlarten: {methods}",
            )
        for (kind, ref, _), amount in zip(off_lines, off_local, strict=True):
            if not amount:
                continue
            if kind == "INVOICE_PAYMENT":
                yield _row(
                    amount,
                    str(number),
                    when,
                    f"Beleg {number} Zahlung Rechnung {ref}",
                    account=acc.receivables,
                    note=f"Forderungsaufloesung Rechnung {ref}; Zahlarten: {methods}",
                )
            elif kind == "BALANCING":
                # the shop's balancing account (shop.balancing_account) is a free code, by
                # default "AUSGLEICH": Gegenkonto is numeric, of at most the Sachkonten-
                # nummernlänge + 1 digits (DATEV Hilfe-Dokument 1002367), so only a ledger
                # account of the chart's length is booked (one digit more would be a
                # personal account, more a row DATEV refuses); any other is named for the
                # adviser
                yield _row(
                    amount,
                    str(number),
                    when,
                    f"Beleg {number} Ausgleichskonto {ref}",
                    account=_account(ref, acc.length),
                    note=f"Ausgleichsbuchung {ref}; Zahlarten: {methods}",
                )
            elif kind == "VOUCHER_REDEMPTION":
                yield _row(
                    amount,
                    str(number),
                    when,
                    f"Beleg {number} Gutschein {ref} eingeloest",
                    account=acc.vouchers,
                    note=f"MehrzweckgutscheinEinloesung {ref}; Zahlarten: {methods}",
                )
            else:  # sold (GOODS) or taken back (RETURN, negative)
                yield _row(
                    amount,
                    str(number),
                    when,
                    f"Beleg {number} Gutschein {ref} verkauft",
                    account=acc.vouchers,
                    note=f"MehrzweckgutscheinKauf {ref}; Zahlarten: {methods}",
                )
        if rounding_local:
            # the cash rounding stays in the drawer (or is missing from it): booked on its
            # own, without VAT, so that the cash book keeps the drawer's balance
            yield _row(
                rounding_local,
                str(number),
                when,
                f"Beleg {number} Rundung",
                account=acc.rounding,
                note="Rundungsdifferenz Bargeld",
            )
        for method, amount in kept:
            kind = payment_kind(method)
            if kind.cash or not amount:
                continue
            yield _row(
                -amount,
                str(number),
                when,
                f"Beleg {number} {kind.name}",
                account=acc.non_cash_transit,
                note=f"Zahlart {kind.zahlart_typ}",
            )
