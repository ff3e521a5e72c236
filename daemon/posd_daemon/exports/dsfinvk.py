"""DSFinV-K export of Z closings (a Z-number range or the closings of a date range).

Every file of the DSFinV-K list (``dsfinvk_spec.TABLES``) with its exact columns, plus
``index.xml`` and the GDPdU DTD, as a directory or a ZIP. UTF-8, ``;``, CRLF, ``"`` around
every alphanumeric value, decimal comma, the Z key (Z_KASSE_ID, Z_ERSTELLUNG, Z_NR) on
every record. Only closed periods are exported: a DSFinV-K record belongs to a
Kassenabschluss.

Streaming: three SQLite cursors (Vorgang heads, lines, payments) in BON_ID order are
written row by row; the files that come out of the same cursor as another
(``transactions_tse.csv`` with the heads, ``lines_vat.csv``/``transactions_vat.csv`` with
the lines) go through temporary files, so memory does not grow with the number of
transactions. Each pass reads in one read transaction. The lines pass runs in a child
process (``python -m posd_daemon.exports.dsfinvk lines …``) beside the other two, so a
second core works too; without a database file (or if the child fails) it runs inline.

Mapping (DSFinV-K 2.x, fiscal-de.md):

* BON_ID: the register's running Vorgang number (``register_transactions.bon_id``).
  BON_NR: the printed receipt number (sales), the cash movement slip number, and for an
  aborted sale (no receipt is printed) its BON_ID.
* BON_TYP: ``Beleg`` for posted sales and cash movements; ``AVBelegabbruch`` for sales
  cancelled before posting (UMS_BRUTTO 0,00, no payments; their entered lines are listed
  for the record); ``AVTransfer`` for a parked sale handed over to another register
  (UMS_BRUTTO its total as its AVTransfer processData signs it, no payments, its lines
  listed as an aborted sale's, its amounts per VAT key in transactions_vat.csv as its
  lines add up, so that Bonkopf, Bonkopf_USt and Bonpos_USt agree); ``AVTraining`` for
  training sales (their lines, VAT rows and payments as the TSE signed them, UMS_BRUTTO
  with the rounding line). Like every ``AV*`` type they stay out of the Z totals.
* Lines: GV_TYP by line kind (``domain.closing.line_gv_typ``): goods, returns (negative
  quantity) and the lines of a reversal (storno) receipt (all amounts negated, BON_STORNO
  0, BON_NOTIZ names the reversed receipt) are ``Umsatz``; shop discount lines
  ``Rabatt``; the line and document discount of a goods line of a posted (or
  training) sale one more line ``Rabatt`` at the goods' VAT key after the receipt's
  lines, the goods line at its amount before it, as the Z books discounts (Umsatz
  before the discount, Rabatt beside it: ``_rebate``); a voucher sold
  ``MehrzweckgutscheinKauf`` and a redeemed one
  ``MehrzweckgutscheinEinloesung`` (UST_SCHLUESSEL 5; a taxed voucher is an
  Einzweckgutschein), GUTSCHEIN_NR its code; a balancing line ``Umsatz`` (GV_NAME
  "Ausgleichskonto"). A cash rounding difference is one more line, ``Rabatt`` (rounded
  down) or ``Aufschlag`` (rounded up) named "Rundung", UST_SCHLUESSEL 5 (DSFinV-K has
  no GV_TYP "Rundung"; see ``domain.closing.ROUNDING_NAME``). A cash movement is one
  line with its own GV_TYP (Privateinlage, Privatentnahme, Geldtransit, TrinkgeldAN,
  DifferenzSollIst) under UST_SCHLUESSEL 5. ``itemamounts.csv`` (Bonpos_Preisfindung)
  stays empty.
  An open invoice paid at the register (line kind INVOICE_PAYMENT) is
  ``Forderungsaufloesung`` under UST_SCHLUESSEL 5, ART_NR its invoice number.
  STK_BR is the unit price including VAT: a net-priced (business) sale's net unit
  price plus its tax (``gross_unit_price``).
* UST_SCHLUESSEL: ``domain.closing.ust_key`` (posd's NOT_TAXABLE is key 5 "Nicht
  Steuerbar", ZERO key 6 "Umsatzsteuerfrei"); keys 1-4 stand for the rates in force on
  the day of the closing's last Vorgang (``_z_rates``), a line or receipt taxed at
  another rate (a storno or return keeps its original receipt's rate; a Z closed after
  midnight for the day before) gets the historic key of its rate (DSFinV-K Anlage 2,
  ``spec.HISTORIC_UST_KEYS``: 16 % is 21, 19 % 11, ...) in lines_vat.csv,
  transactions_vat.csv and businesscases.csv (``_business_cases``), and vat.csv lists
  every key a closing used.
* Z_START_ID/Z_ENDE_ID of a closing without any Vorgang: the empty range after the last
  Vorgang closed before it (``_bon_range``).
* Payments (datapayment.csv): per method what the register kept (cash less change,
  refunds negative); a foreign-currency payment carries its amount in ZAHLWAEH_BETRAG and
  the converted one in BASISWAEH_BETRAG; change of foreign cash paid out in the register
  currency is a negative ``Bar`` row in that currency (the foreign surplus stays in the
  foreign ``Bar`` row, at its value: what it is worth beyond the change paid out,
  ``sales.change_rounding``, is part of the receipt's "Rundung" line).
* VAT: ``transactions_vat.csv`` holds each receipt's VAT split as printed (tax per rate
  and receipt); ``lines_vat.csv`` the split of each line on its own. A foreign-currency
  sale's lines_vat rows are its converted per-key totals split over its lines (largest
  remainder, ``pricing.split_converted``), so they add up to transactions_vat.csv.
* References (``references.csv``, Bon_Referenzen): a reversal (storno) refers to the
  receipt it reverses from its Bonkopf (POS_ZEILE empty), a return line to the receipt it
  takes goods back from (POS_ZEILE of the return line), both as REF_TYP ``Transaktion``
  with that receipt's Z key (REF_Z_KASSE_ID, REF_DATUM = its closing's Z_ERSTELLUNG,
  REF_Z_NR) and BON_ID; an invoice paid at the register as ``ExterneRechnung`` with the
  invoice number as REF_BON_ID (see ``_references``).
* Customer (transactions.csv KUNDE_*): the sale's customer snapshot as the receipt
  names it; empty for the anonymous walk-in customer and for cash movements (see
  ``_customer_columns``).
* Lengths: every alphanumeric value is cut to the MaxLength index.xml declares for its
  column (``_q``), numbers are written with at most their declared Accuracy. Only a
  processData too long for TSE_VORGANGSDATEN is left out rather than cut
  (``_process_data``: a cut one would not verify). Item ids longer than ART_NR (A50; posd
  allows 64) are cut too, and the export names them, and the ids that became one ART_NR,
  in index.xml's comment, ``ExportStats`` and the log (``_art_nr_report``).
* GTIN: of the code scanned (``_gtin``); for a line added by item number, or scanned by
  a code that is no GTIN (an in-store price/weight label, a lot or serial number, an
  internal code), the GTIN the catalog registers for its item, variant or unit
  (``_catalog_gtins``, ``_line_gtin``). A restricted circulation number is never one.
* TSE: ``transactions_tse.csv`` per Vorgang; TSE_TA_FEHLER names the outage number for
  receipts made during a TSE outage ("nachsigniert" once signed after recovery), also
  for a sale cancelled in an outage before its TSE transaction could start (it has no
  TSE row: the outage is the one ``tse_outages`` holds for its time), or says that no
  TSE is configured.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from posd_daemon.domain.barcode import gtin_valid, upce_to_upca
from posd_daemon.domain.business_day import business_day
from posd_daemon.domain.closing import (
    ROUNDING_NAME,
    UST_NOT_TAXABLE,
    CashMovementKind,
    ClosingBuilder,
    ClosingReport,
    GvTotal,
    line_gv_typ,
    local_change,
    payment_kind,
    rounding_gv_typ,
    ust_key,
)
from posd_daemon.domain.customer import CustomerSnapshot
from posd_daemon.domain.errors import DomainError, invalid, not_found
from posd_daemon.domain.money import CURRENCY_EXPONENTS
from posd_daemon.domain.pricing import local_amount, split_converted
from posd_daemon.domain.text import is_digits
from posd_daemon.domain.vat import VatCategory, VatTable, tax_from_gross, tax_from_net
from posd_daemon.exports import dsfinvk_spec as spec
from posd_daemon.exports.iso3166 import alpha3
from posd_daemon.ops import logging as plog
from posd_daemon.store import day as store
from posd_daemon.store import sales as sales_store
from posd_daemon.store.database import connect
from posd_daemon.store.facts import book_fact, period_facts
from posd_daemon.store.timeutil import from_db, to_db

CHUNK_LINES = 4096

#: The lines pass (lines.csv, lines_vat.csv, transactions_vat.csv: three quarters of the
#: export's work) runs in this many child processes, each over a consecutive range of
#: closings with about as many receipts, next to this process writing every other file.
#: Measured on 2 cores, 302,112 receipts: one child 17.5 s (the export's critical path,
#: this process idle for 6 of them), two children see bench/register_year.py.
LINE_PARTS = 2
_MAX_LENGTH = spec.MAX_LENGTH

log = plog.get("posd.exports")


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = "DEU"
    tax_number: str = ""
    vat_id: str = ""

    @staticmethod
    def from_address(
        name: str, address: Iterable[str], vat_id: str = "", tax_number: str = ""
    ) -> Company:
        """``["Musterstraße 1", "10115 Berlin"]`` -> street, postcode, city."""
        lines = list(address)
        street = lines[0] if lines else ""
        postcode, city = "", ""
        if len(lines) > 1:
            first, _, rest = lines[1].partition(" ")
            if first.isdigit():
                postcode, city = first, rest
            else:
                city = lines[1]
        return Company(name, street, postcode, city, "DEU", tax_number, vat_id)


@dataclass(frozen=True, slots=True)
class ExportSettings:
    register_id: str
    currency: str
    company: Company
    software_version: str
    vat_table: VatTable | None = None
    operator_names: Mapping[str, str] = field(default_factory=dict)
    #: DER certificate per TSE serial (hex), for tse.csv
    tse_certificates: Mapping[str, bytes] = field(default_factory=dict)
    #: the register's time zone (``register.timezone``): a Z's business date is compared
    #: with the date on the register's calendar on which the Z was made
    zone: tzinfo = UTC


@dataclass
class ExportStats:
    closings: int = 0
    z_from: int = 0
    z_to: int = 0
    receipts: int = 0
    vorgaenge: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    #: item ids of lines longer than ART_NR (A50), cut to it in lines.csv (sorted)
    cut_item_ids: list[str] = field(default_factory=list)
    #: ART_NR values that several item ids became (ART_NR -> the ids, sorted; one may be
    #: an id of exactly 50 characters, not cut): in lines.csv these articles cannot be
    #: told apart (``_art_nr_report``)
    shared_art_nr: dict[str, list[str]] = field(default_factory=dict)


# -- selecting closings ------------------------------------------------------------------


def select_closings(
    conn: sqlite3.Connection,
    register_id: str,
    *,
    z_from: int = 0,
    z_to: int = 0,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[store.Closing]:
    """Closings in ``z_from..z_to`` (inclusive) or created in ``[start, end)``."""
    if (z_from or z_to) and (start or end):
        raise invalid("range", "give a Z range or a date range, not both")
    if z_from or z_to:
        if z_from <= 0 or z_to < z_from:
            raise invalid("z_to", "a Z range like 1-31 (from <= to)")
        found = store.closings_in(conn, register_id, z_from=z_from, z_to=z_to)
    else:
        lo = to_db(start) if start else ""
        hi = to_db(end) if end else "~"
        if start and end and end <= start:
            raise invalid("end_time", "must be after start_time")
        found = store.closings_in(conn, register_id, start=lo, end=hi)
    if not found:
        raise not_found("NO_CLOSINGS_IN_RANGE", "no Z closing in the requested range")
    return found


# -- formatting ----------------------------------------------------------------------------


def _q(text: str, column: str) -> str:
    """An alphanumeric value of ``column``, cut to the MaxLength index.xml declares for
    it, in its text encapsulator.

    The length counts characters of the value (GDPdU ``MaxLength``; the file is UTF-8,
    and a doubled ``"`` is one character of the value), so the value is cut before it is
    escaped. The lengths are DSFinV-K's own (its index.xml, chapters 3.1-3.3), not ours
    to widen, and an importer that trusts index.xml (IDEA, AIS TaxAudit) would reject a
    longer value or cut it without saying so: cut here, the export and its index agree
    and every file is cut the same way (from the start, at the declared length)."""
    n = _MAX_LENGTH[column]
    if len(text) > n:
        text = text[:n]
    if '"' in text or "\r" in text or "\n" in text:
        text = text.replace('"', '""').replace("\r", " ").replace("\n", " ")
    return f'"{text}"'


_MONEY: dict[int, str] = {}


def money_of(currency: str) -> Callable[[int], str]:
    """The formatter of amounts in minor units of ``currency`` as the N2 amount columns
    want them (DSFinV-K 2.x, index.xml: every amount column has Accuracy 2 or 5 and holds
    currency units, not minor units): ``money`` itself for a currency of two decimals
    (the hot loops keep their one call), else the amount scaled to two decimals first,
    so a register that keeps yen (no minor unit, ``register.currency``) writes 1600 JPY
    as ``1600,00``, not ``16,00``. Every currency posd takes has at most two decimals
    (``domain.money.CURRENCY_EXPONENTS``); one of more would not fit N2 exactly."""
    exp = CURRENCY_EXPONENTS.get(currency, 2)
    if exp == 2:
        return money
    if exp > 2:
        raise ValueError(f"{currency} has {exp} decimals: DSFinV-K amounts have 2")
    scale = 10 ** (2 - exp)
    return lambda minor: money(minor * scale)


def amount5_of(currency: str) -> Callable[[int], str]:
    """The formatter of the Accuracy-5 amount columns (DSFinV-K 2.x, index.xml: STK_BR,
    POS_/BON_/PF_ amounts, ZI_BASISPREIS_*, Z_UMS_BRUTTO/Z_UMS_NETTO/Z_UST are
    ``<Accuracy>5</Accuracy>``): an importer reads a number by the Accuracy index.xml
    declares for it, so each is written with exactly five decimals. posd's amounts are
    whole minor units (at most two decimals, :func:`money_of`), padded with zeros."""
    two = money_of(currency)
    return lambda minor: two(minor) + "000"


#: a zero Accuracy-5 amount (the tax of an amount of no VAT)
ZERO5 = "0,00000"


def money_in(minor: int, currency: str) -> str:
    """An amount in minor units of ``currency`` with 2 decimals: 16000 JPY -> 16000,00."""
    return money_of(currency)(minor)


def money(minor: int) -> str:
    """Minor units (2 decimals) with a decimal comma: -1234 -> ``-12,34``."""
    text = _MONEY.get(minor)
    if text is None:
        q, r = divmod(-minor if minor < 0 else minor, 100)
        text = f"-{q},{r:02d}" if minor < 0 else f"{q},{r:02d}"
        if len(_MONEY) < 200_000:  # amounts repeat a lot; the cache stays bounded
            _MONEY[minor] = text
    return text


def _ts(stored: str | None) -> str:
    """Stored ISO-8601 UTC (microseconds) -> ``2024-05-31T18:00:00Z``."""
    return "" if not stored else stored[:19] + "Z"


def _tse_ts(stored: str | None) -> str:
    """TSE log times with milliseconds, as on the receipt QR code."""
    return "" if not stored else stored[:23] + "Z"


_RATIO: dict[str, tuple[int, int]] = {}


def _ratio(text: str) -> tuple[int, int]:
    r = _RATIO.get(text)
    if r is None:
        r = Decimal(text).as_integer_ratio()
        _RATIO[text] = r
    return r


def _rdiv(n: int, d: int) -> int:
    """n / d rounded half away from zero (exactly what ROUND_HALF_UP does), d > 0."""
    q, r = divmod(-n if n < 0 else n, d)
    if r + r >= d:
        q += 1
    return -q if n < 0 else q


def line_total(unit_price: int, quantity: str) -> int:
    """SaleLine.total in integers: round_half_up(unit_price * quantity)."""
    num, den = _ratio(quantity)
    return unit_price * num if den == 1 else _rdiv(unit_price * num, den)


def tax_of(gross: int, rate: str) -> int:
    """vat.tax_from_gross in integers: gross * p / (100 + p), rounded half up."""
    a, b = _ratio(rate)
    return 0 if a == 0 else _rdiv(gross * a, 100 * b + a)


def gross_unit_price(unit_price: int, rate: str, *, net: bool) -> int:
    """lines.csv STK_BR, "Preis pro Einheit inkl. USt": a net-priced (business) sale's
    lines keep net unit prices; their gross is net + vat.tax_from_net (half up)."""
    if not net:
        return unit_price
    a, b = _ratio(rate)
    return unit_price + (0 if a == 0 else _rdiv(unit_price * a, 100 * b))


_QTY: dict[str, str] = {}


def quantity_text(quantity: str) -> str:
    """Stored decimal quantity -> 3 decimals with a comma (``0.25`` -> ``0,250``)."""
    t = _QTY.get(quantity)
    if t is None:
        d = Decimal(quantity).quantize(Decimal("0.001"))
        whole, _, frac = f"{d:f}".partition(".")
        t = f"{whole},{(frac + '000')[:3]}"
        _QTY[quantity] = t
    return t


#: GS1 prefixes of an EAN-13 (a GTIN-12 with its leading 0) that are no GTIN of a trade
#: item: restricted circulation numbers (02 and 20-29 within a geographic region, e.g.
#: in-store price/weight labels; 04 within a company), coupons (05, 981-984, 99) and
#: refund receipts (980) (GS1 General Specifications, "GS1 Prefixes" table).
_NOT_TRADE_ITEM_PREFIXES = (
    "02",
    "04",
    "05",
    *(str(p) for p in range(20, 30)),
    "980",
    "981",
    "982",
    "983",
    "984",
    "99",
)


#: GS1-8 prefixes of an EAN-8 that is a restricted circulation number (RCN-8), for use
#: within a company (GS1 General Specifications, "Restricted Circulation Numbers").
_RCN8_PREFIXES = ("0", "2")


def _gs1_check_ok(digits: str) -> bool:
    """The GS1 check digit of any GTIN length: weights 3, 1, 3 … from the right of the
    digits before it (GS1 General Specifications, "Standard check digit calculations")."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (1 if i % 2 else 3) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _gtin(code: str) -> str:
    """The DSFinV-K ``GTIN`` of a line scanned as ``code``: the article's Global Trade
    Item Number, or empty when the code is none (DSFinV-K 2.x, Bonpos ``GTIN``: "GTIN",
    beside ``ART_NR``, the shop's own item number, dsfinvk_spec.py).

    * EAN-8 and GTIN-14 as scanned; a UPC-A (GTIN-12) as its EAN-13 (the same GTIN with a
      leading 0, GS1 General Specifications: GTINs right-justified in 14 digits), so one
      article has one GTIN however the scanner sent it (domain.barcode.gtin_key);
    * a UPC-E (8 digits that are no EAN-8) as the EAN-13 of the GTIN-12 it abbreviates;
    * empty for a restricted circulation number (an in-store price or weight label carries
      a price or weight, its zeroed form is the shop's own code: neither is a GTIN, and
      the article is named by ``ART_NR``), a coupon, a wrong check digit, or anything
      else that is not all digits of a GTIN length (lot, serial, internal item codes).
      An 8-digit code with GS1-8 prefix 0 or 2 is an RCN-8, for use within a company
      (GS1 General Specifications, "Restricted Circulation Numbers": RCN-8); one that
      starts with 0 and is also a valid UPC-E is read as the UPC-E, the only reading of
      its digits that names a GTIN (the digits alone do not tell the two symbols apart).
    """
    if not is_digits(code):
        return ""
    if len(code) == 8:
        if gtin_valid(code) and code[0] not in _RCN8_PREFIXES:
            return code
        upca = upce_to_upca(code)
        return "" if upca is None else "0" + upca
    if len(code) == 12:
        code = "0" + code
    elif len(code) == 14 and code[0] == "0":
        code = code[1:]  # a GTIN-13 (or -12) written in 14 digits
    if len(code) not in (13, 14) or not _gs1_check_ok(code):
        return ""
    if len(code) == 13 and code.startswith(_NOT_TRADE_ITEM_PREFIXES):
        return ""
    return code


def _catalog_gtins(conn: sqlite3.Connection) -> dict[str, str]:
    """The GTIN of each item, variant and unit in the catalog, for the lines added by
    item number or scanned by a code that is no GTIN (``_line_gtin``): ``item_id``,
    ``variant_id`` and ``unit`` joined by ``\\x1f`` -> the GTIN as ``_gtin`` writes a
    scanned one (barcodes that are no GTIN, restricted circulation numbers among them,
    left out). Of several GTINs the lowest (compared right-justified in 14 digits, GS1
    General Specifications) is taken: the catalog keeps no order of an item's barcodes
    (``store.catalog`` reads them sorted by code), and the lowest one makes every export
    of a period say the same. One pass over ``barcodes`` before the lines, no query per
    line; the map holds GTINs only. It is today's catalog: a closed period's line names
    its article by ``ART_NR`` and the article's GTIN as registered now."""
    out: dict[str, str] = {}
    for code, item_id, variant, unit in conn.execute(
        "SELECT code, item_id, variant_id, unit FROM barcodes"
    ):
        g = _gtin(str(code))
        if not g:
            continue
        k = f"{item_id}\x1f{variant}\x1f{unit}"
        have = out.get(k)
        if have is None or g.zfill(14) < have.zfill(14):
            out[k] = g
    return out


def _line_gtin(
    gtins: Mapping[str, str], code: str, item_id: str, variant: str, unit: str, factor: str
) -> str:
    """The GTIN of a line: of the code scanned when it is one, else (a line added by item
    number, or scanned by a code that is no GTIN: an in-store price/weight label, whose
    zeroed code named the item, a lot or serial number, an internal code) the catalog's
    GTIN of what it sold: the variant's own (an item with variants is sold as one of
    them, and each is its own trade item: never the item's GTIN), the unit's own for a
    line in a further unit (a case of 6 is another trade item than one bottle), else the
    item's. Empty when the catalog has none for it: ``gtins`` holds GTINs only, never a
    restricted circulation number. The lines query passes a lot or serial number
    scanned as no code (it may have a GTIN's digits, but names no trade item)."""
    if code:
        scanned = _gtin(code)
        if scanned:
            return scanned
    g = gtins.get(f"{item_id}\x1f{variant}\x1f{unit}")
    if g is None and factor == "1":
        g = gtins.get(f"{item_id}\x1f{variant}\x1f")
    return g or ""


# -- output ----------------------------------------------------------------------------------


class _Writer:
    """Buffered CSV lines into a binary stream."""

    def __init__(self, stream: IO[bytes], header: str) -> None:
        """``header`` "": none (a part of a file whose first part has it)."""
        self._stream = stream
        self._buf: list[str] = [header] if header else []
        self.rows = -1 if header else 0  # the header is counted by flush
        #: appends one line; call :meth:`spill` now and then (hot loops skip the check)
        self.add = self._buf.append

    def spill(self) -> None:
        buf = self._buf
        if len(buf) >= CHUNK_LINES:
            self.rows += len(buf)
            self._stream.write("".join(buf).encode("utf-8"))
            buf.clear()

    def flush(self) -> None:
        if self._buf:
            self.rows += len(self._buf)
            self._stream.write("".join(self._buf).encode("utf-8"))
            self._buf.clear()


class _Sink:
    """Where the files go: a directory, or a ZIP archive (one file open at a time)."""

    def __init__(self, out: Path | IO[bytes], *, as_zip: bool) -> None:
        self._zip: zipfile.ZipFile | None = None
        self._dir: Path | None = None
        if as_zip:
            self._zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        else:
            assert isinstance(out, Path)
            out.mkdir(parents=True, exist_ok=True)
            self._dir = out

    def open(self, name: str) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(name, "w", force_zip64=True)
        assert self._dir is not None
        return open(self._dir / name, "wb")

    def put(self, name: str, data: bytes) -> None:
        with self.open(name) as f:
            f.write(data)

    def copy(self, name: str, tmp: IO[bytes]) -> None:
        tmp.seek(0)
        with self.open(name) as f:
            shutil.copyfileobj(tmp, f, 1024 * 1024)

    def join(self, name: str, parts: Iterable[Path]) -> None:
        """One file made of ``parts`` (files) in order."""
        with self.open(name) as f:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, f, 1024 * 1024)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


# -- the export ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Z:
    closing: store.Closing
    report: ClosingReport
    key: str
    tse_ids: dict[str, int]
    tse_meta: dict[str, dict[str, str]]
    #: Z_START_ID and Z_ENDE_ID (see ``_bon_range``)
    bon_range: tuple[int, int] = (0, 0)


#: per closing: base UST_SCHLUESSEL (1-4) -> the percent in force for it (``_z_rates``)
ZRates = Mapping[int, Mapping[int, Decimal]]


def _z_rates(
    conn: sqlite3.Connection, s: ExportSettings, closings: Iterable[store.Closing]
) -> dict[int, dict[int, Decimal]]:
    """The rates UST_SCHLUESSEL 1-4 stand for in each closing: the rates in force on the
    business day of its last Vorgang (the day the Z was made, for a Z without any).

    DSFinV-K Anlage 2 defines keys 1-4 as the rate "zum Zeitpunkt der Erfassung des
    Geschäftsvorfalls geltend", and vat.csv (Stamm_USt) gives each key of a closing one
    UST_SATZ. A closing's lines at another rate (a storno or return keeps its original
    receipt's rate, § 17 UStG; a Z closed after midnight for the day before holds both
    sides of a rate change) take the historic key of their rate
    (``spec.HISTORIC_UST_KEYS``). The latest day is the one whose rates are current: the
    older ones are the historic ones, and a historic key is defined from the day its
    rate stopped being in force. Without a rate table (``vat_table`` None) every line
    keeps its base key."""
    out: dict[int, dict[int, Decimal]] = {}
    for c in closings:
        rates: dict[int, Decimal] = {}
        out[c.z_nr] = rates
        if s.vat_table is None:
            continue
        when = c.created_at
        if c.last_bon_id is not None:
            row = conn.execute(
                "SELECT recorded_at FROM register_transactions WHERE bon_id = ?",
                (c.last_bon_id,),
            ).fetchone()
            if row is not None:
                when = from_db(row[0])
        day = business_day(when, s.zone)
        for key in (1, 2, 3, 4):
            # no rate configured for the category that day: its lines keep their base
            # key, as vat.csv shows it (_rate_on)
            with suppress(DomainError):
                rates[key] = s.vat_table.rate(VatCategory(key), day)
    return out


def _rates_json(rates: ZRates) -> str:
    return json.dumps({str(z): {str(k): str(p) for k, p in r.items()} for z, r in rates.items()})


def _rates_from_json(text: str) -> dict[int, dict[int, Decimal]]:
    d: dict[str, dict[str, str]] = json.loads(text)
    return {int(z): {int(k): Decimal(p) for k, p in r.items()} for z, r in d.items()}


def ust_key_at(current: Mapping[int, Decimal], category: int, rate: str) -> int:
    """The UST_SCHLUESSEL of a line of VAT ``category`` taxed at ``rate`` in a closing
    whose keys 1-4 stand for the ``current`` rates (``_z_rates``): its base key
    (``domain.closing.ust_key``), or the historic key of its rate when that is not the
    rate its base key stands for (DSFinV-K Anlage 2; ``spec.HISTORIC_UST_KEYS``)."""
    base = ust_key(category)
    now = current.get(base)
    if now is None:
        return base
    pct = Decimal(rate)
    if pct == now:
        return base
    historic = spec.HISTORIC_UST_KEYS.get((base, pct))
    return base if historic is None else historic[0]


@dataclass
class _LinesDone:
    """What the lines pass found besides its files."""

    #: item ids of ART_NR's length or longer (for :func:`_art_nr_stats`)
    full_ids: set[str] = field(default_factory=set)
    #: per closing the historic UST_SCHLUESSEL its lines or receipts used (vat.csv)
    historic: dict[int, set[int]] = field(default_factory=dict)

    def merge(self, other: _LinesDone) -> None:
        self.full_ids |= other.full_ids
        for z_nr, keys in other.historic.items():
            self.historic.setdefault(z_nr, set()).update(keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "full_ids": sorted(self.full_ids),
            "historic": {str(z): sorted(keys) for z, keys in self.historic.items()},
        }

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> _LinesDone:
        return _LinesDone(
            set(d["full_ids"]),
            {int(z): {int(k) for k in keys} for z, keys in d["historic"].items()},
        )


#: per closing, GV_TYP and historic UST_SCHLUESSEL: [gross, net, tax] its Belege booked
#: at that key's rate (:func:`_historic_cases`)
_HistoricCases = dict[tuple[int, str, int], list[int]]


def export(
    conn: sqlite3.Connection,
    settings: ExportSettings,
    closings: list[store.Closing],
    out: Path | IO[bytes],
    *,
    as_zip: bool = True,
    parallel: bool = True,
) -> ExportStats:
    """Writes the DSFinV-K export of ``closings`` (consecutive Z numbers) to ``out``."""
    if not closings:
        raise not_found("NO_CLOSINGS_IN_RANGE", "no Z closing in the requested range")
    stats = ExportStats(closings=len(closings), z_from=closings[0].z_nr, z_to=closings[-1].z_nr)
    sink = _Sink(out, as_zip=as_zip)
    conn.execute("PRAGMA cache_size = -16384")  # 16 MB for the big joins, bounded
    own_tx = not conn.in_transaction
    if own_tx:
        conn.execute("BEGIN")  # one snapshot for every file
    try:
        # Each pass streams its main file into the sink and its other files through
        # temporary files (a ZIP takes one member at a time). The lines pass (the
        # biggest, the export's critical path) starts first, in a child process on its
        # own read-only connection, while this one writes every other file: two cores,
        # two GILs. (Threads were slower: the sqlite3 module hands the GIL over on every
        # row.) Closed periods do not change, so the child's snapshot holds the same data.
        with tempfile.TemporaryDirectory(prefix="posd-dsfinvk-") as tmp:
            folders = [Path(tmp) / str(i) for i in range(LINE_PARTS)]
            rates = _z_rates(conn, settings, closings)
            rates_file = Path(tmp) / "rates.json"
            rates_file.write_text(_rates_json(rates), encoding="utf-8")
            children = (
                _start_lines_children(conn, settings, closings, folders, rates_file)
                if parallel
                else []
            )
            try:
                zs = {c.z_nr: _z_info(conn, settings, c) for c in closings}
                _heads(conn, sink, settings, zs, stats)
                _payments(conn, sink, settings, zs, stats)
                _references(conn, sink, settings, zs, stats)
                done = _finish_lines_children(children)
            finally:
                for child in children:
                    if child.poll() is None:  # this process failed: they are not needed
                        child.kill()
                        child.wait()
            if done is None:
                keys = {z: info.key for z, info in zs.items()}
                done_inline = _lines(conn, sink, settings, keys, rates, stats)
                _art_nr_stats(stats, done_inline.full_ids)
                keys_used = done_inline
            else:
                rows, keys_used = done
                stats.rows.update(rows)
                _art_nr_stats(stats, keys_used.full_ids)
                for name in _LINE_FILES:
                    sink.join(name, [folder / name for folder in folders[: len(children)]])
            # after the lines: vat.csv names the keys they used, businesscases.csv splits
            # the Z's rows by them (_business_cases)
            cases = _historic_cases(conn, settings, rates, keys_used)
            _master_data(sink, settings, zs, rates, keys_used, cases, stats)
        for t in ("itemamounts.csv", "subitems.csv", "allocation_groups.csv"):
            sink.put(t, spec.TABLE_BY_FILE[t].header.encode("utf-8"))
            stats.rows[t] = 0
        comment = (
            f"DSFinV-K export of register {settings.register_id}, Z {stats.z_from}-{stats.z_to},"
            f" posd {settings.software_version}"
        ) + _art_nr_report(stats)
        location = ", ".join(
            x
            for x in (settings.company.street, settings.company.postcode, settings.company.city)
            if x
        )
        sink.put("index.xml", spec.index_xml(settings.company.name, location, comment))
        sink.put(spec.DTD_NAME, spec.GDPDU_DTD.encode("utf-8"))
    finally:
        if own_tx:
            conn.execute("COMMIT")
        sink.close()
    return stats


_LINE_FILES = ("lines.csv", "lines_vat.csv", "transactions_vat.csv")


def _db_file(conn: sqlite3.Connection) -> str:
    """The database file behind ``conn`` ('' for an in-memory database)."""
    for _, name, path in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(path or "")
    return ""


def _line_parts(closings: list[store.Closing], parts: int) -> list[list[store.Closing]]:
    """``closings`` cut into at most ``parts`` consecutive runs with about as many
    receipts (Vorgänge: a closing's BON_ID range) each."""
    sizes = [
        0 if c.first_bon_id is None or c.last_bon_id is None else c.last_bon_id - c.first_bon_id + 1
        for c in closings
    ]
    total = sum(sizes)
    out: list[list[store.Closing]] = [[]]
    seen = 0
    for c, size in zip(closings, sizes, strict=True):
        if out[-1] and len(out) < parts and seen >= total * len(out) / parts:
            out.append([])
        out[-1].append(c)
        seen += size
    return out


def _start_lines_children(
    conn: sqlite3.Connection,
    s: ExportSettings,
    closings: list[store.Closing],
    folders: list[Path],
    rates_file: Path,
) -> list[subprocess.Popen[str]]:
    """The lines pass in child processes, one per part of ``closings`` (the first writes
    the files' header lines); none when it cannot run so (the caller runs it itself)."""
    db = _db_file(conn)
    if not db:
        return []
    children: list[subprocess.Popen[str]] = []
    for i, part in enumerate(_line_parts(closings, len(folders))):
        argv = [sys.executable, "-m", "posd_daemon.exports.dsfinvk", "lines", db, s.register_id]
        argv += [s.currency, str(part[0].z_nr), str(part[-1].z_nr), str(folders[i])]
        argv.append("header" if i == 0 else "no-header")
        argv.append(str(rates_file))
        try:
            children.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))
        except OSError:
            for child in children:
                child.kill()
                child.wait()
            return []
    return children


def _finish_lines_children(
    children: list[subprocess.Popen[str]],
) -> tuple[dict[str, int], _LinesDone] | None:
    """The children's row counts (summed) and what their lines pass found (item ids of
    ART_NR's length or longer, VAT keys and amounts per closing), or None when one of
    them failed or none ran (the caller runs the pass itself)."""
    rows: dict[str, int] = {}
    found = _LinesDone()
    ok = bool(children)
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            ok = False
            continue
        done: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        for name, n in done["rows"].items():
            rows[name] = rows.get(name, 0) + int(n)
        found.merge(_LinesDone.from_json(done))
    return (rows, found) if ok else None


def _art_nr_report(stats: ExportStats) -> str:
    """What index.xml's DataSupplier comment says of item ids cut to ART_NR, and the
    warning logged: posd item ids may be 64 characters, DSFinV-K's ART_NR holds 50
    (Bonpos ``ART_NR`` A50, index.xml, chapter 3.1). The value is cut as every value is
    (``_q``: the export must keep to its index); two ids equal in their first 50
    characters then name one ART_NR in lines.csv. An auditor cannot tell those articles
    apart from the file alone, so the export says which ids were cut and which share an
    ART_NR, in the export itself (the comment an import of index.xml shows), in
    ``ExportStats`` and in the log, instead of merging them silently. Empty when no id
    was cut."""
    if not stats.cut_item_ids:
        return ""
    n = _MAX_LENGTH["ART_NR"]
    log.warning(
        "dsfinvk_art_nr_cut",
        length=n,
        cut_item_ids=stats.cut_item_ids,
        shared_art_nr=stats.shared_art_nr,
    )
    text = f". ART_NR (A{n}) cut to {n} characters for item ids: " + ", ".join(stats.cut_item_ids)
    for art, ids in stats.shared_art_nr.items():
        text += f". Not told apart in lines.csv: {' and '.join(ids)} share ART_NR {art}"
    return text


def lines_child_main(argv: list[str]) -> int:
    """``python -m posd_daemon.exports.dsfinvk lines DB REGISTER CURRENCY Z_FROM Z_TO
    FOLDER header|no-header RATES`` (the register currency: which sales are foreign and
    converted; RATES: a file of ``_rates_json``, the rates in force per closing). Prints
    its row counts and what the pass found (``_LinesDone.to_json``)."""
    db, register, currency, z_from, z_to, folder, header, rates_path = argv
    rates = _rates_from_json(Path(rates_path).read_text(encoding="utf-8"))
    conn = connect(Path(db), readonly=True)
    try:
        conn.execute("BEGIN")
        closings = store.closings_in(conn, register, z_from=int(z_from), z_to=int(z_to))
        settings = ExportSettings(register, currency, Company(""), "")
        keys = {c.z_nr: _z_key(settings, c) for c in closings}
        stats = ExportStats()
        sink = _Sink(Path(folder), as_zip=False)
        found = _lines(conn, sink, settings, keys, rates, stats, header=header == "header")
        conn.execute("COMMIT")
    finally:
        conn.close()
    print(json.dumps({"rows": stats.rows, **found.to_json()}))
    return 0


def _z_key(s: ExportSettings, c: store.Closing) -> str:
    """The key columns every row of a closing starts with (Z_KASSE_ID;Z_ERSTELLUNG;Z_NR)."""
    made = _q(_ts(to_db(c.created_at)), "Z_ERSTELLUNG")
    return f"{_q(s.register_id, 'Z_KASSE_ID')};{made};{c.z_nr}"


def _z_info(conn: sqlite3.Connection, s: ExportSettings, c: store.Closing) -> _Z:
    """A closing's report, Z key prefix and the TSEs its Vorgänge used (tse.csv)."""
    report = ClosingReport.from_dict(json.loads(c.report))
    key = _z_key(s, c)
    meta: dict[str, dict[str, str]] = {}
    for serial, algo, fmt, pub in conn.execute(
        "SELECT st.tse_serial, MAX(st.signature_algorithm), MAX(st.time_format),"
        " MAX(st.public_key) FROM register_transactions t"
        " JOIN sale_tse st ON st.sale_id = t.sale_id"
        " WHERE t.z_nr = ? AND t.register_id = ? AND st.tse_serial != ''"
        " GROUP BY st.tse_serial"
        " UNION ALL SELECT m.tse_serial, MAX(m.signature_algorithm), MAX(m.time_format),"
        " MAX(m.public_key) FROM register_transactions t"
        " JOIN cash_movements m ON m.movement_id = t.movement_id"
        " WHERE t.z_nr = ? AND t.register_id = ? AND m.tse_serial != ''"
        " GROUP BY m.tse_serial",
        (c.z_nr, s.register_id, c.z_nr, s.register_id),
    ):
        entry = meta.setdefault(str(serial), {})
        for name, value in (("algo", algo), ("time_format", fmt), ("key", pub)):
            if value and not entry.get(name):
                entry[name] = str(value)
    # a sale cancelled in an outage before its TSE transaction could start has no TSE
    # row: its TSE is the one its outage marks (as the outage rows of that outage name it)
    for (serial,) in conn.execute(
        f"SELECT DISTINCT (SELECT o.tse_serial {_OUTAGE_OF_ROWLESS_SALE}"
        " ORDER BY o.outage_number LIMIT 1) FROM register_transactions t"
        " JOIN sales s ON s.sale_id = t.sale_id"
        " LEFT JOIN sale_tse st ON st.sale_id = t.sale_id"
        " WHERE t.z_nr = ? AND t.register_id = ? AND st.sale_id IS NULL"
        f" AND EXISTS (SELECT 1 {_OUTAGE_OF_ROWLESS_SALE})",
        (c.z_nr, s.register_id),
    ):
        meta.setdefault(str(serial or UNKNOWN_SERIAL), {})
    for serial, entry in meta.items():
        if len(entry) < 3 and serial:
            _tse_meta_elsewhere(conn, serial, entry)
    if _unknown_tse_used(conn, s, c):
        # Vorgänge of a TSE that was out before posd ever read its serial (UNKNOWN_SERIAL)
        meta.setdefault(UNKNOWN_SERIAL, {})
    ids = {serial: i for i, serial in enumerate(sorted(meta), 1)}
    return _Z(c, report, key, ids, meta, _bon_range(conn, s, c))


#: the outages (tse_outages ``o``) a sale (``s``, Vorgang ``t``) without a TSE row lived
#: through: the one it was cancelled in before its TSE transaction could start
_OUTAGE_OF_ROWLESS_SALE = (
    "FROM tse_outages o WHERE o.register_id = t.register_id"
    " AND o.started_at <= t.recorded_at"
    " AND (o.ended_at IS NULL OR o.ended_at >= s.created_at)"
)

#: the tse_serial of a TSE row recorded in an outage of a TSE whose serial posd never
#: read (out from the start): the TSE of such Vorgänge gets a Stamm_TSE row all the same
UNKNOWN_SERIAL = ""


def _unknown_tse_used(conn: sqlite3.Connection, s: ExportSettings, c: store.Closing) -> bool:
    """Whether a Vorgang of closing ``c`` was recorded in an outage of a TSE of unknown
    serial (its TSE row names none). Such a Vorgang was still made with a TSE, one that
    failed: its TSE_Transaktionen row names the TSE by TSE_ID, the key of a Stamm_TSE
    row of its closing (DSFinV-K 2.x, 3.1.2.5 and 3.2.6: TSE_ID "wird zur Referenzierung
    innerhalb eines Kassenabschlusses verwendet"), so tse.csv has that row, keyed like
    every row, with what is known of the TSE (nothing beyond its encoding)."""
    row = conn.execute(
        "SELECT 1 FROM register_transactions t"
        " LEFT JOIN sale_tse st ON st.sale_id = t.sale_id"
        " LEFT JOIN cash_movements m ON m.movement_id = t.movement_id"
        " WHERE t.z_nr = ? AND t.register_id = ? AND ("
        " (st.sale_id IS NOT NULL AND COALESCE(st.tse_serial, '') = ''"
        " AND (st.state = 'OUTAGE' OR st.outage_number IS NOT NULL))"
        " OR (m.movement_id IS NOT NULL AND COALESCE(m.tse_serial, '') = ''"
        " AND (m.tse_state = 'OUTAGE' OR m.outage_number IS NOT NULL)))"
        " LIMIT 1",
        (c.z_nr, s.register_id),
    ).fetchone()
    return row is not None


def _tse_meta_elsewhere(conn: sqlite3.Connection, serial: str, entry: dict[str, str]) -> None:
    """Fills what ``entry`` lacks of TSE ``serial``'s signature algorithm, time format
    and public key from any Vorgang it signed, of any closing. A closing whose Vorgänge
    were all recorded in an outage names the TSE (the outage's marking serial) but none
    of them carries a signature, so none has these; Stamm_TSE still needs them
    (TSE_SIG_ALGO, TSE_ZEITFORMAT and TSE_PUBLIC_KEY are mandatory, DSFinV-K Anhang G),
    and they are the TSE's own, the same for every transaction it signs. Only for such
    a closing (rare): the query scans the signed rows until it finds one."""
    for table in ("sale_tse", "cash_movements"):
        row = conn.execute(
            f"SELECT signature_algorithm, time_format, public_key FROM {table}"
            " WHERE tse_serial = ? AND public_key != '' AND signature_algorithm != ''"
            " LIMIT 1",
            (serial,),
        ).fetchone()
        if row is not None:
            for name, value in zip(("algo", "time_format", "key"), row, strict=True):
                if value and not entry.get(name):
                    entry[name] = str(value)
            return


def _bon_range(conn: sqlite3.Connection, s: ExportSettings, c: store.Closing) -> tuple[int, int]:
    """Z_START_ID and Z_ENDE_ID of a closing: its first and last BON_ID ("Erste/Letzte
    BON_ID im Abschluss", Stamm_Abschluss, DSFinV-K 3.2.1). The spec marks neither
    optional and validators refuse a blank one (opencore dsfinvk-java's StammAbschluss
    model: @NotBlank), so a closing without any Vorgang (a day without sales) names the
    empty range where its Vorgänge would have been: from the BON_ID after the last one
    closed before it to that last one (start = end + 1; 1 and 0 before any Vorgang).
    The ranges of consecutive closings so still follow on without a gap or an overlap,
    and no closing claims another one's Vorgang."""
    if c.first_bon_id is not None and c.last_bon_id is not None:
        return c.first_bon_id, c.last_bon_id
    (before,) = conn.execute(
        "SELECT MAX(last_bon_id) FROM closings WHERE register_id = ? AND z_nr < ?",
        (s.register_id, c.z_nr),
    ).fetchone()
    last = int(before or 0)
    return last + 1, last


def _rate_on(vat: VatTable | None, key: int, day: date) -> Decimal:
    if vat is None or key > 6:
        return Decimal(0)
    try:
        return vat.rate(VatCategory(key), day)
    except Exception:  # a category without a configured rate: shown as 0
        return Decimal(0)


def _historic_cases(
    conn: sqlite3.Connection, s: ExportSettings, rates: ZRates, found: _LinesDone
) -> _HistoricCases:
    """Per closing whose Vorgänge used a historic UST_SCHLUESSEL (``found``): what its
    Belege booked at each historic key's rate, per GV_TYP. The closing's sales are
    replayed through the Z's own bookkeeping (``ClosingBuilder.add_sale`` via
    ``store.facts``), so that the rows are the very amounts the Z summed under the base
    key: a receipt's tax per rate is computed once from its total, not the sum of its
    lines' taxes (ten lines of 1.03 at 16 %: 1.42, not 10 x 0.14), and the Z's split
    into returns, vouchers, discounts (Rabatt beside Umsatz), foreign sales converted
    once, is the same. Closings without a historic key (nearly all) are not read."""
    out: _HistoricCases = {}
    for z_nr in sorted(z for z, keys in found.historic.items() if keys):
        builder = ClosingBuilder(s.register_id, s.currency)
        for fact in period_facts(conn, s.register_id, z_nr):
            book_fact(builder, fact)
        current = rates.get(z_nr, {})
        for gv, cat, pct, g, n, t in builder.sale_cases_by_rate():
            key = ust_key_at(current, cat, str(pct))
            if key > 9 and (g or n or t):
                acc = out.setdefault((z_nr, gv, key), [0, 0, 0])
                acc[0] += g
                acc[1] += n
                acc[2] += t
    return out


def _business_cases(
    z_nr: int, totals: Iterable[GvTotal], cases: _HistoricCases
) -> list[tuple[str, str, int, int, int, int]]:
    """businesscases.csv rows of a closing (GV_TYP, GV_NAME, UST_SCHLUESSEL, gross, net,
    tax): its Z's rows, each of keys 1-4 split by the rates of its Belege's lines. The Z
    books a business case per VAT category; DSFinV-K's Z_GV_Typ sums the Einzelaufzeich-
    nungen per GV_TYP and UST_SCHLUESSEL, so what the Belege booked at a historic key's
    rate (``cases``) is that key's row and the rest of the Z's row stays under the base
    key. When no line of the case is under the base key, a cent of tax that the Z split
    otherwise goes to the largest historic row, never to a row of no turnover."""
    moved: dict[tuple[str, int], list[list[int]]] = {}
    for (z, gv, key), (g, n, t) in sorted(cases.items()):
        if z == z_nr:
            moved.setdefault((gv, key % 10), []).append([key, g, n, t])
    out: list[tuple[str, str, int, int, int, int]] = []
    for row in totals:
        parts = [] if row.gv_name else moved.get((row.gv_typ, row.ust_key), [])
        if not parts or not 1 <= row.ust_key <= 4:
            out.append((row.gv_typ, row.gv_name, row.ust_key, row.gross, row.net, row.tax))
            continue
        rest = [
            row.gross - sum(p[1] for p in parts),
            row.net - sum(p[2] for p in parts),
            row.tax - sum(p[3] for p in parts),
        ]
        if not rest[0] and any(rest):
            big = max(parts, key=lambda p: abs(p[1]))
            big[2] += rest[1]
            big[3] += rest[2]
            rest = [0, 0, 0]
        if any(rest):
            out.append((row.gv_typ, row.gv_name, row.ust_key, rest[0], rest[1], rest[2]))
        out += [(row.gv_typ, row.gv_name, key, g, n, t) for key, g, n, t in parts]
    return out


def _master_data(
    sink: _Sink,
    s: ExportSettings,
    zs: Mapping[int, _Z],
    rates: ZRates,
    found: _LinesDone,
    cases: _HistoricCases,
    stats: ExportStats,
) -> None:
    co = s.company
    base_money = money_of(s.currency)
    amount5 = amount5_of(s.currency)  # Z_GV_Typ's amounts (Accuracy 5)
    rows: dict[str, list[str]] = {t.file: [] for t in spec.TABLES}
    for z in zs.values():
        k, rep, c = z.key, z.report, z.closing
        made_on = business_day(c.created_at, s.zone).isoformat()
        booking = "" if c.business_date == made_on else c.business_date
        rows["cashpointclosing.csv"].append(
            f"{k};{_q(booking, 'Z_BUCHUNGSTAG')};{_q(spec.TAXONOMY_VERSION, 'TAXONOMIE_VERSION')};"
            f"{_q(str(z.bon_range[0]), 'Z_START_ID')};"
            f"{_q(str(z.bon_range[1]), 'Z_ENDE_ID')};{_q(co.name, 'NAME')};"
            f"{_q(co.street, 'STRASSE')};{_q(co.postcode, 'PLZ')};{_q(co.city, 'ORT')};"
            f"{_q(co.country, 'LAND')};{_q(co.tax_number, 'STNR')};{_q(co.vat_id, 'USTID')};"
            f"{base_money(rep.payments_total)};{base_money(rep.cash_total)}\r\n"
        )
        rows["location.csv"].append(
            f"{k};{_q(co.name, 'LOC_NAME')};{_q(co.street, 'LOC_STRASSE')};"
            f"{_q(co.postcode, 'LOC_PLZ')};{_q(co.city, 'LOC_ORT')};"
            f"{_q(co.country, 'LOC_LAND')};{_q(co.vat_id, 'LOC_USTID')}\r\n"
        )
        rows["cashregister.csv"].append(
            f"{k};{_q('posd', 'KASSE_BRAND')};{_q('posd', 'KASSE_MODELL')};"
            f"{_q(s.register_id, 'KASSE_SERIENNR')};{_q('posd', 'KASSE_SW_BRAND')};"
            f"{_q(s.software_version, 'KASSE_SW_VERSION')};"
            f"{_q(s.currency, 'KASSE_BASISWAEH_CODE')};{_q('0', 'KEINE_UST_ZUORDNUNG')}\r\n"
        )
        for serial, tse_id in z.tse_ids.items():
            meta = z.tse_meta.get(serial, {})
            cert = base64.b64encode(s.tse_certificates.get(serial, b"")).decode("ascii")
            rows["tse.csv"].append(
                f"{k};{tse_id};{_q(serial, 'TSE_SERIAL')};"
                f"{_q(meta.get('algo', ''), 'TSE_SIG_ALGO')};"
                f"{_q(meta.get('time_format', ''), 'TSE_ZEITFORMAT')};"
                f"{_q('UTF-8', 'TSE_PD_ENCODING')};{_q(meta.get('key', ''), 'TSE_PUBLIC_KEY')};"
                f"{_q(cert[:1000], 'TSE_ZERTIFIKAT_I')};"
                f"{_q(cert[1000:2000], 'TSE_ZERTIFIKAT_II')}\r\n"
            )
        day = date.fromisoformat(c.business_date)
        current = rates.get(c.z_nr, {})
        vat_rows = [
            (key, current.get(key, _rate_on(s.vat_table, key, day)), text)
            for key, text in spec.UST_DESCRIPTIONS.items()
        ]
        # and the historic keys its Vorgänge used (every key a closing's files name is
        # in its vat.csv)
        for key in sorted(found.historic.get(c.z_nr, ())):
            _base, pct, text = spec.HISTORIC_UST[key]
            vat_rows.append((key, pct, text))
        for key, rate, text in vat_rows:
            # UST_SATZ is N2: the configuration allows no more than two decimals
            # (ops.config checks the rates)
            rows["vat.csv"].append(
                f"{k};{key};{money(int(rate * 100))};{_q(text, 'UST_BESCHR')}\r\n"
            )
        for gv, gv_name, key, gross, net, tax in _business_cases(c.z_nr, rep.gv_totals, cases):
            rows["businesscases.csv"].append(
                f"{k};{_q(gv, 'GV_TYP')};{_q(gv_name, 'GV_NAME')};;{key};"
                f"{amount5(gross)};{amount5(net)};{amount5(tax)}\r\n"
            )
        # Z_Zahlart in the base currency: foreign payments at their converted value
        # (each currency's cash on its own in cash_per_currency.csv)
        per_type: dict[tuple[str, str], int] = {}
        for p in (*rep.payments, *rep.gateways):
            t = (p.zahlart_typ, p.name)
            per_type[t] = per_type.get(t, 0) + p.base_amount
        for (typ, name), amount in per_type.items():
            rows["payment.csv"].append(
                f"{k};{_q(typ, 'ZAHLART_TYP')};{_q(name, 'ZAHLART_NAME')};{base_money(amount)}\r\n"
            )
        for currency, amount in rep.cash_per_currency:
            rows["cash_per_currency.csv"].append(
                f"{k};{_q(currency, 'ZAHLART_WAEH')};{money_in(amount, currency)}\r\n"
            )
    for name in (
        "cashpointclosing.csv",
        "location.csv",
        "cashregister.csv",
        "slaves.csv",
        "pa.csv",
        "tse.csv",
        "vat.csv",
        "businesscases.csv",
        "payment.csv",
        "cash_per_currency.csv",
    ):
        body = spec.TABLE_BY_FILE[name].header + "".join(rows[name])
        sink.put(name, body.encode("utf-8"))
        stats.rows[name] = len(rows[name])


def _to_local(currency: str | None, rate: Any, base: str) -> Callable[[int], int]:
    """Amounts of a sale in ``currency`` (``rate`` units per unit of the register's
    ``base`` currency) in the base currency, as the sale's total_local and the Z."""
    if not currency or currency == base:
        return _same
    r = Decimal(rate or 1)
    return lambda a: local_amount(a, currency=currency, local_currency=base, rate=r)


def _same(amount: int) -> int:
    return amount


def _tse_error(state: str, outage: Any, signature: str) -> str:
    # any Vorgang with an outage number was recorded during an outage, whatever its state
    # (a sale cancelled or handed over then too): TSE_TA_FEHLER says so (fiscal-de.md,
    # DSFinV-K "TSE_TA_FEHLER for errors"; outage: receipts "show it")
    if state == "OUTAGE" or (outage is not None and not signature):
        return f"TSE-Ausfall Nr. {outage}: Vorgang ohne TSE-Signatur aufgezeichnet"
    if state == "SIGNED_LATE" or outage is not None:
        return f"TSE-Ausfall Nr. {outage}: nach Wiederherstellung nachsigniert"
    if state == "NONE":
        return "Keine TSE konfiguriert"
    if state == "STARTED":
        return "TSE-Transaktion nicht abgeschlossen"
    return ""


def _process_data(data: str | None) -> str:
    """TSE_VORGANGSDATEN: the processData the TSE signed, if it fits the column (A1000).
    The column is optional (DSFinV-K 2.x, 3.1.2.5, "optional"); a cut processData would
    no longer verify against TSE_TA_SIG and look like tampered data, so a longer one is
    left out (the TSE export holds it whole) instead of being cut like other texts."""
    if not data or len(data) > _MAX_LENGTH["TSE_VORGANGSDATEN"]:
        return ""
    return data


#: the eight empty KUNDE_* columns of a Vorgang without a (named) customer
_NO_CUSTOMER = ";".join(['""'] * 8)
#: KUNDE_TYP of a customer with a company or a VAT id (a business); the snapshot knows
#: no other kind, so a customer without either gets no type rather than a guessed one
BUSINESS_CUSTOMER = "Unternehmen"


def _customer_columns(c: CustomerSnapshot) -> str:
    """KUNDE_NAME .. KUNDE_USTID of the Bonkopf (DSFinV-K 2.x, 3.1.2: the
    Leistungsempfänger, as the receipt names it) for a sale's customer snapshot; empty for
    the anonymous walk-in customer (and a sale without any), whom the receipt does not
    name either (``domain.receipt``). KUNDE_NAME is the company when there is one (the
    business is the recipient), else the person. KUNDE_LAND is the ISO 3166-1 alpha-3
    code, like every ``*_LAND`` column (declared A3; the company's LAND is "DEU");
    posd stores alpha-2. KUNDE_USTID without the spaces, dots and dashes a VAT id may
    be written with (``DE 123 456 789``): the identification number itself, which keeps
    it within A15 where the written form would not fit."""
    if not c.number or c.anonymous:
        return _NO_CUSTOMER
    vat_id = c.vat_id.replace(" ", "").replace(".", "").replace("-", "")
    typ = BUSINESS_CUSTOMER if c.company or c.vat_id else ""
    return ";".join(
        (
            _q(c.company or c.name, "KUNDE_NAME"),
            _q(c.number, "KUNDE_ID"),
            _q(typ, "KUNDE_TYP"),
            _q(c.street, "KUNDE_STRASSE"),
            _q(c.postal_code, "KUNDE_PLZ"),
            _q(c.city, "KUNDE_ORT"),
            _q(alpha3(c.country) if c.country else "", "KUNDE_LAND"),
            _q(vat_id, "KUNDE_USTID"),
        )
    )


def _heads(
    conn: sqlite3.Connection,
    sink: _Sink,
    s: ExportSettings,
    zs: Mapping[int, _Z],
    stats: ExportStats,
) -> None:
    """transactions.csv (direct) and transactions_tse.csv (temporary file)."""
    z_lo, z_hi = min(zs), max(zs)
    names = s.operator_names
    base_money = money_of(s.currency)
    cur = conn.execute(
        "SELECT t.z_nr, t.bon_id, t.kind, t.late, t.shift_id, t.recorded_at,"
        " s.receipt_number, s.created_at, s.operator_id, s.total, s.cancel_reason,"
        " st.state, st.transaction_number, st.start_time, st.finish_time, st.process_type,"
        " st.finish_counter, st.signature, st.process_data, st.tse_serial, st.outage_number,"
        # a movement's amount in the register currency (foreign cash: as booked, schema 22)
        " m.number, m.kind, COALESCE(m.amount_local, m.amount), m.reason, m.operator_id,"
        " m.tse_state, m.transaction_number, m.start_time, m.finish_time, m.process_type,"
        " m.finish_counter, m.signature, m.process_data, m.tse_serial, m.outage_number,"
        " COALESCE(s.training, 0), COALESCE(s.rounding, 0), COALESCE(s.reverses_receipt, 0),"
        " s.currency, s.exchange_rate, s.state, s.held_by, COALESCE(s.change_rounding, 0),"
        # a sale without any TSE row (cancelled in an outage before its TSE transaction
        # could start): the outage it lived through, if any
        " CASE WHEN st.sale_id IS NULL AND s.sale_id IS NOT NULL THEN"
        f" (SELECT MIN(o.outage_number) {_OUTAGE_OF_ROWLESS_SALE}) END,"
        # the sale's customer as it was at the sale (domain.customer.CustomerSnapshot)
        " s.customer_json,"
        # and the serial of the TSE that outage marks (as _z_info finds it)
        " CASE WHEN st.sale_id IS NULL AND s.sale_id IS NOT NULL THEN"
        f" (SELECT o.tse_serial {_OUTAGE_OF_ROWLESS_SALE}"
        " ORDER BY o.outage_number LIMIT 1) END"
        " FROM register_transactions t"
        " LEFT JOIN sales s ON s.sale_id = t.sale_id"
        " LEFT JOIN sale_tse st ON st.sale_id = t.sale_id"
        " LEFT JOIN cash_movements m ON m.movement_id = t.movement_id"
        " WHERE t.register_id = ? AND t.z_nr BETWEEN ? AND ?"
        " ORDER BY t.z_nr, t.bon_id",
        (s.register_id, z_lo, z_hi),
    )
    with tempfile.TemporaryFile() as tmp:
        with sink.open("transactions.csv") as main:
            tx = _Writer(main, spec.TABLE_BY_FILE["transactions.csv"].header)
            tt = _Writer(tmp, spec.TABLE_BY_FILE["transactions_tse.csv"].header)
            add_tx, add_tt = tx.add, tt.add
            ops: dict[str, str] = {}  # operator id -> its two quoted columns

            def op_cols(op: str) -> str:
                cols = ops.get(op)
                if cols is None:
                    cols = ops[op] = (
                        f"{_q(op, 'BEDIENER_ID')};{_q(names.get(op, op), 'BEDIENER_NAME')}"
                    )
                return cols

            customers: dict[str, str] = {}  # customer_json -> its KUNDE_* columns

            def customer_cols(snapshot: str | None) -> str:
                if not snapshot:
                    return _NO_CUSTOMER
                cols = customers.get(snapshot)
                if cols is None:
                    cols = _customer_columns(CustomerSnapshot.from_dict(json.loads(snapshot)))
                    if len(customers) > 10_000:
                        customers.clear()
                    customers[snapshot] = cols
                return cols

            for r in cur:
                z = zs.get(r[0])
                if z is None:
                    continue
                k = z.key
                bon = r[1]
                if not bon & 511:
                    tx.spill()
                    tt.spill()
                kind = r[2]
                late = r[3]
                if kind == "MOVEMENT":
                    mk = CashMovementKind(r[22])
                    op = r[25]
                    start = end = _ts(r[5])
                    note = _q(r[24], "BON_NOTIZ")
                    add_tx(
                        f'{k};"{bon}";{r[21]};"Beleg";{_q(mk.label, "BON_NAME")};"";"0";'
                        f'"{start}";"{end}";'
                        f'{op_cols(op)};{base_money(r[23])};"";"";"";"";"";"";"";"";'
                        f"{note}\r\n"
                    )
                    tse = r[26:36]
                else:
                    op = r[8]
                    start, end = _ts(r[7]), _ts(r[5])
                    conv = _to_local(r[39], r[40], s.currency)
                    if kind == "SALE" and r[36]:
                        # a training sale: AVTraining with its amounts as signed, the
                        # rounding line included as for a Beleg, never turnover
                        typ, nr, gross = "AVTraining", r[6], base_money(conv(r[9] + r[37]) + r[43])
                        note = "Trainingsbeleg"
                    elif kind == "SALE":
                        # UMS_BRUTTO: what the lines add up to, the rounding line included
                        # (with the rounding of change paid out in the register currency);
                        # in the register currency, as the Z (a foreign sale converted)
                        typ, nr, gross = "Beleg", r[6], base_money(conv(r[9] + r[37]) + r[43])
                        stats.receipts += 1
                        note = f"nachträglich gebucht (Schicht {r[4]})" if late else ""
                        if r[38]:
                            # a reversal: negated amounts, BON_STORNO 0 (DSFinV-K allows
                            # the negative representation of a Storno)
                            note = f"Storno zu Beleg {r[38]}" + (f"; {note}" if note else "")
                    elif r[41] == "TRANSFERRED":
                        # handed over to another register (schema 17): its TSE
                        # transaction here finished as AVTransfer with the sale's amounts
                        # and no payments (fiscal-de.md, processData); like an aborted
                        # sale no turnover and no payments, its lines listed for the record
                        typ, nr, gross = "AVTransfer", bon, base_money(conv(r[9]))
                        note = f"übergeben an Kasse {r[42]}" if r[42] else "übergeben"
                    else:
                        typ, nr, gross = "AVBelegabbruch", bon, "0,00"
                        note = f"abgebrochen: {r[10]}" if r[10] else "abgebrochen"
                    customer = customer_cols(r[45])
                    add_tx(
                        f'{k};"{bon}";{nr};"{typ}";"";"";"0";"{start}";"{end}";{op_cols(op)};'
                        f"{gross};{customer};{_q(note, 'BON_NOTIZ')}\r\n"
                    )
                    tse = r[11:21]
                stats.vorgaenge += 1
                state = tse[0] or "NONE"
                if tse[0] is None and r[44] is not None:
                    # no TSE row because the TSE was out: an outage Vorgang, not one
                    # of a register without a TSE
                    state = "OUTAGE"
                    tse = (*tse[:8], r[46], r[44])
                # an outage Vorgang without a serial: the TSE of unknown serial (_z_info);
                # one of a register without a TSE names none
                serial = tse[8] or UNKNOWN_SERIAL
                outage = tse[9] is not None or state == "OUTAGE"
                tse_id = z.tse_ids.get(serial, "") if serial or outage else ""
                tanr = "" if tse[1] is None else tse[1]
                sigz = "" if tse[5] is None else tse[5]
                sig = tse[6] or ""
                add_tt(
                    f'{k};"{bon}";{tse_id};{tanr};"{_tse_ts(tse[2])}";"{_tse_ts(tse[3])}";'
                    f"{_q(tse[4] or '', 'TSE_TA_VORGANGSART')};{sigz};{_q(sig, 'TSE_TA_SIG')};"
                    f"{_q(_tse_error(state, tse[9], sig), 'TSE_TA_FEHLER')};"
                    f"{_q(_process_data(tse[7]), 'TSE_VORGANGSDATEN')}\r\n"
                )
            tx.flush()
            tt.flush()
        stats.rows["transactions.csv"] = tx.rows
        stats.rows["transactions_tse.csv"] = tt.rows
        sink.copy("transactions_tse.csv", tmp)


# Bon_Referenzen (references.csv). The reference (fiscal-de.md) names the file but not
# its rules; they are taken from DSFinV-K 2.x Tz. 4.2.2 and Anhang E (Bon_Referenzen):
# a Storno MUST refer to the Vorgang it reverses; REF_TYP is "Transaktion" for a Vorgang
# of a (this or another) register, with REF_Z_KASSE_ID, REF_DATUM (the Z_ERSTELLUNG of the
# closing that holds it), REF_Z_NR and REF_BON_ID of that Vorgang; "ExterneRechnung",
# "ExternerLieferschein" or "ExterneSonstige" (then REF_NAME describes it) for a document
# of another system, REF_BON_ID its number. POS_ZEILE is empty for a reference of the whole
# Vorgang (from the Bonkopf) and the line number for a reference of one line.
REF_TRANSACTION = "Transaktion"
REF_INVOICE = "ExterneRechnung"


def _references(
    conn: sqlite3.Connection,
    sink: _Sink,
    s: ExportSettings,
    zs: Mapping[int, _Z],
    stats: ExportStats,
) -> None:
    """references.csv: per reversal one reference of the receipt it reverses (from its
    Bonkopf), per return line one of the receipt the goods came from, per invoice paid at
    the register one of the invoice (ExterneRechnung, REF_DATUM left empty: the invoice
    date is the back office's). A referenced receipt of an earlier Z carries that Z's key;
    one of a period not closed yet (another register's) leaves REF_Z_NR and REF_DATUM
    empty; one this database does not hold (another register's receipt) is left out."""
    z_lo, z_hi = min(zs), max(zs)
    args = (s.register_id, z_lo, z_hi)
    in_range = "t.register_id = ? AND t.z_nr BETWEEN ? AND ? AND t.kind = 'SALE'"
    original = (
        " JOIN register_transactions o ON o.sale_id = {ref}"
        " LEFT JOIN closings c ON c.register_id = o.register_id AND c.z_nr = o.z_nr"
    )
    # Each part is driven by the partial index of the few rows it needs (reversals,
    # return lines, invoice payments) and looks their receipts up by sale id: scanning
    # the period's receipts and their lines for them took seconds for a year and found
    # nothing on most registers. INDEXED BY makes a missing index an error, not a scan.
    # (kind 'SALE' is a posted sale: the Vorgang trigger of schema 3.)
    cur = conn.execute(
        # a reversal, from its Bonkopf
        f"SELECT t.z_nr, t.bon_id, 0, '{REF_TRANSACTION}', o.register_id, o.z_nr,"
        " c.created_at, o.bon_id"
        " FROM sales s INDEXED BY sales_reverses"
        " CROSS JOIN register_transactions t ON t.sale_id = s.sale_id"
        + original.format(ref="s.reverses_sale_id")
        + " WHERE s.reverses_sale_id IS NOT NULL AND s.state = 'POSTED'"
        f" AND {in_range}"
        # a return line (the lines of a reversal refer to the reversed receipt through
        # its Bonkopf already)
        f" UNION ALL SELECT t.z_nr, t.bon_id, l.position + 1, '{REF_TRANSACTION}',"
        " o.register_id, o.z_nr, c.created_at, o.bon_id"
        " FROM sale_lines l INDEXED BY sale_lines_ref"
        " CROSS JOIN register_transactions t ON t.sale_id = l.sale_id"
        " JOIN sales s ON s.sale_id = t.sale_id"
        + original.format(ref="l.ref_sale_id")
        + " WHERE l.ref_sale_id != '' AND l.kind = 'RETURN' AND s.reverses_sale_id IS NULL"
        f" AND {in_range}"
        # an invoice paid (or, on a reversal, its payment reversed)
        f" UNION ALL SELECT t.z_nr, t.bon_id, l.position + 1, '{REF_INVOICE}',"
        " NULL, NULL, NULL, l.item_id"
        " FROM sale_lines l INDEXED BY sale_lines_invoice_payment"
        " CROSS JOIN register_transactions t ON t.sale_id = l.sale_id"
        f" WHERE l.kind = 'INVOICE_PAYMENT' AND {in_range}"
        " ORDER BY 1, 2, 3",
        args * 3,
    )
    with sink.open("references.csv") as main:
        out = _Writer(main, spec.TABLE_BY_FILE["references.csv"].header)
        for z_nr, bon, pos, typ, ref_register, ref_z, ref_created, ref_bon in cur:
            z = zs.get(z_nr)
            if z is None:
                continue
            line = str(pos) if pos else ""
            created = _ts(to_db(from_db(ref_created))) if ref_created else ""
            ref_z_nr = "" if ref_z is None else str(ref_z)
            out.add(
                f'{z.key};"{bon}";"{line}";"{typ}";"";"{created}";'
                f"{_q(ref_register or '', 'REF_Z_KASSE_ID')};{ref_z_nr};"
                f"{_q(str(ref_bon), 'REF_BON_ID')}\r\n"
            )
            out.spill()
        out.flush()
    stats.rows["references.csv"] = out.rows


class _BonRows:
    """Rows ``(bon_id, *values)`` of a cursor in BON_ID order, taken receipt by receipt."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._it = iter(cursor)
        self._head: tuple[Any, ...] | None = next(self._it, None)

    def take(self, bon_id: int) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        while self._head is not None and int(self._head[0]) <= bon_id:
            if self._head[0] == bon_id:
                out.append(tuple(self._head[1:]))
            self._head = next(self._it, None)
        return out


def _lines(
    conn: sqlite3.Connection,
    sink: _Sink,
    s: ExportSettings,
    keys: Mapping[int, str],
    rates: ZRates,
    stats: ExportStats,
    *,
    header: bool = True,
) -> _LinesDone:
    """lines.csv (direct), lines_vat.csv and transactions_vat.csv (temporary files);
    ``keys``: the Z key prefix of each closing (:func:`_z_key`); ``rates``: the rates
    its UST_SCHLUESSEL 1-4 stand for (:func:`_z_rates`); ``header`` False: the files
    without their header line (a part after the first, see LINE_PARTS). Returns the
    item ids of ART_NR's length or longer (for :func:`_art_nr_stats`) and the historic
    keys used per closing (for vat.csv and businesscases.csv: :func:`_historic_cases`)."""
    z_lo, z_hi = min(keys), max(keys)
    cur = conn.execute(
        "SELECT t.z_nr, t.bon_id, t.kind, l.position, l.item_id, l.name, l.quantity, l.unit,"
        " l.unit_price, l.vat_category, l.vat_rate,"
        # a lot or serial number scanned is no GTIN, whatever its digits (_line_gtin)
        " CASE WHEN l.scanned_code IN (l.lot, l.serial) THEN '' ELSE l.scanned_code END,"
        " m.kind, COALESCE(m.amount_local, m.amount), m.reason,"
        # a line not posted (an aborted sale) has no gross: a weighed pack's printed price
        # (fixed_total, schema 23) is still what it cost
        " COALESCE(l.gross, l.fixed_total), l.kind, l.item_type, l.voucher_code,"
        " COALESCE(s.rounding, 0),"
        " s.currency, s.exchange_rate, COALESCE(s.change_rounding, 0), s.vat_direction,"
        " l.variant_id, l.unit_factor, COALESCE(l.discount, 0), s.state, l.gross IS NULL"
        " FROM register_transactions t"
        " LEFT JOIN sales s ON s.sale_id = t.sale_id"
        " LEFT JOIN sale_lines l ON l.sale_id = t.sale_id"
        " LEFT JOIN cash_movements m ON m.movement_id = t.movement_id"
        " WHERE t.register_id = ? AND t.z_nr BETWEEN ? AND ?"
        " ORDER BY t.z_nr, t.bon_id, l.position",
        (s.register_id, z_lo, z_hi),
    )
    # the receipts' per-rate totals as posted (schema 6; discounts and net pricing
    # included), in the same order as the lines
    posted = _BonRows(
        conn.execute(
            "SELECT t.bon_id, v.vat_category, v.vat_rate, v.gross, v.net, v.tax"
            " FROM register_transactions t JOIN sale_vat_totals v ON v.sale_id = t.sale_id"
            " WHERE t.register_id = ? AND t.z_nr BETWEEN ? AND ? AND t.kind = 'SALE'"
            " ORDER BY t.z_nr, t.bon_id, v.position",
            (s.register_id, z_lo, z_hi),
        )
    )
    gtins = _catalog_gtins(conn)
    art_nr_length = _MAX_LENGTH["ART_NR"]
    # every amount of lines.csv (STK_BR), lines_vat.csv and transactions_vat.csv has
    # Accuracy 5
    base_money = amount5_of(s.currency)
    found = _LinesDone()
    #: item ids of ART_NR's length or longer: those cut and those a cut one may equal
    full_ids = found.full_ids
    resolved: dict[tuple[int, Any, Any], int] = {}
    #: per closing an id of its key mapping (closings of the same rates share one), so
    #: that the cached line tails serve every closing of the same rates
    mappings: dict[tuple[tuple[int, Decimal], ...], int] = {}
    rate_ids = {
        z: mappings.setdefault(tuple(sorted(r.items())), len(mappings)) for z, r in rates.items()
    }

    def key_of(z_nr: int, category: Any, rate: Any) -> int:
        """The UST_SCHLUESSEL in closing ``z_nr`` of VAT category and rate as stored
        (:func:`ust_key_at`); once per closing, category and rate."""
        k = resolved.get((z_nr, category, rate))
        if k is None:
            k = ust_key_at(rates.get(z_nr, {}), int(category), str(rate))
            resolved[(z_nr, category, rate)] = k
            if k > 9:
                found.historic.setdefault(z_nr, set()).add(k)
        return k

    with tempfile.TemporaryFile() as tmp_lv, tempfile.TemporaryFile() as tmp_tv:
        with sink.open("lines.csv") as main:

            def head(name: str) -> str:
                return spec.TABLE_BY_FILE[name].header if header else ""

            ln = _Writer(main, head("lines.csv"))
            lv = _Writer(tmp_lv, head("lines_vat.csv"))
            tv = _Writer(tmp_tv, head("transactions_vat.csv"))
            add_ln, add_lv, add_tv = ln.add, lv.add, tv.add
            cur_bon = -1
            cur_key = ""
            cur_z = 0
            #: whether the current Vorgang is an AVTransfer (see _transfer_amounts)
            transferred = False
            #: a sale's lines with their amounts (a posted or training sale, an
            #: AVTransfer): discounts as Rabatt lines, Bonkopf_USt per key
            as_sale = False
            #: an AVTransfer's line gross after discounts by position, and its per-rate
            #: totals (_transfer_amounts)
            xfer_gross: dict[int, int] = {}
            xfer_totals: list[tuple[int, str, int, int, int]] = []
            #: the UST_SCHLUESSEL mapping of the current closing (its id in rate_ids)
            cur_rid = -1
            groups: dict[tuple[int, str], int] = {}
            last_pos = 0
            rounding = 0
            change_rounding = 0
            conv: Callable[[int], int] = _same
            #: the lines of the current foreign-currency sale, (POS_ZEILE prefix, VAT
            #: key, gross and tax in the sale's currency), written when it is complete
            foreign_lines: list[tuple[str, int, int, int]] = []
            #: the discounts on the current receipt's goods lines, written as its own
            #: Rabatt lines when it is complete (see ``_rebate``)
            rebates: list[_Rebate] = []

            def flush_receipt() -> None:
                # per UST_SCHLUESSEL: the receipt's totals as posted (or, before schema 6,
                # from its lines), plus the rounding difference under key 5
                by_key: dict[int, list[int]] = {}
                exact = xfer_totals if transferred else posted.take(cur_bon)
                totals = (
                    [(key_of(cur_z, cat, rate), g, t) for cat, rate, g, _n, t in exact]
                    if exact
                    else [
                        (key_of(cur_z, cat, rate), g, tax_of(g, rate))
                        for (cat, rate), g in groups.items()
                    ]
                )
                groups.clear()
                # in the register currency, as the Z books a foreign sale: its total
                # converted once (total_local), split over the rates; the rounding is what
                # the amount due holds beyond the total (fiscal-de.md: amounts in EUR)
                total = sum(g for _, g, _ in totals)
                parts = split_converted([g for _, g, _ in totals], conv(total), conv)
                for (key, _g, t), g in zip(totals, parts, strict=True):
                    acc = by_key.setdefault(key, [0, 0, 0])
                    acc[0] += g
                    acc[1] += g - conv(t)
                    acc[2] += conv(t)
                # the discounts in the register currency, as the Z converts them
                rebate_amounts = _rebate_amounts(rebates, conv)
                if foreign_lines:
                    # a foreign sale's lines: each key's converted totals split over them
                    # (the goods before their discounts: the key's total plus them)
                    heads = {k: list(v) for k, v in by_key.items()}
                    for rb, (rg, rt) in zip(rebates, rebate_amounts, strict=True):
                        acc = heads.setdefault(rb.key, [0, 0, 0])
                        acc[0] -= rg
                        acc[2] -= rt
                    for pz, key, g, t in _split_line_vat(foreign_lines, heads, conv):
                        add_lv(
                            f"{pz};{key};{base_money(g)};{base_money(g - t)};{base_money(t)}\r\n"
                        )
                    foreign_lines.clear()
                pos = last_pos
                for rb, (rg, rt) in zip(rebates, rebate_amounts, strict=True):
                    pos += 1
                    amount = base_money(rg)
                    add_ln(
                        f'{cur_key};"{cur_bon}";"{pos}";"";{_q(rb.text, "ARTIKELTEXT")};"";'
                        f'"{REBATE_GV}";"";"0";"0";;"";"";"";"";1,000;1,000;"";{amount}\r\n'
                    )
                    add_lv(
                        f'{cur_key};"{cur_bon}";"{pos}";{rb.key};{amount};'
                        f"{base_money(rg - rt)};{base_money(rt)}\r\n"
                    )
                rebates.clear()
                # and the rounding of change paid out in the register currency for
                # foreign cash (Sale.change_rounding): one rounding line for both
                local_rounding = conv(total + rounding) - conv(total) + change_rounding
                if local_rounding:
                    r = base_money(local_rounding)
                    add_ln(
                        f'{cur_key};"{cur_bon}";"{pos + 1}";"";"{ROUNDING_NAME}";"";'
                        f'"{rounding_gv_typ(local_rounding)}";"{ROUNDING_NAME}";"0";"0";;"";"";"";"";'
                        f'1,000;1,000;"";{r}\r\n'
                    )
                    add_lv(
                        f'{cur_key};"{cur_bon}";"{pos + 1}";{UST_NOT_TAXABLE};{r};{r};{ZERO5}\r\n'
                    )
                    acc = by_key.setdefault(UST_NOT_TAXABLE, [0, 0, 0])
                    acc[0] += local_rounding
                    acc[1] += local_rounding
                for key in sorted(by_key):
                    g, n, t = by_key[key]
                    add_tv(
                        f'{cur_key};"{cur_bon}";{key};{base_money(g)};{base_money(n)};{base_money(t)}\r\n'
                    )

            # Lines repeat (same item, quantity, price): their formatted tails are cached
            # (bounded), so the loop mostly joins strings.
            tails: dict[tuple[Any, ...], tuple[str, str, int, int, _Rebate | None, str, int]] = {}
            kb = ""
            kind_of_bon = ""
            for r in cur:
                z_key = keys.get(r[0])
                if z_key is None:
                    continue
                bon = r[1]
                if bon != cur_bon:
                    if cur_bon >= 0 and (groups or kind_of_bon == "SALE"):
                        flush_receipt()
                    cur_bon = bon
                    cur_key = z_key
                    if r[0] != cur_z:
                        cur_z = r[0]
                        cur_rid = rate_ids.get(cur_z, -1)
                    kind_of_bon = r[2]
                    transferred = r[2] == "ABORT" and r[27] == "TRANSFERRED"
                    as_sale = r[2] == "SALE" or transferred
                    if transferred:
                        xfer_gross, xfer_totals = _transfer_amounts(conn, s.register_id, bon)
                    rounding = int(r[19]) if r[2] == "SALE" else 0
                    change_rounding = int(r[22]) if r[2] == "SALE" else 0
                    conv = _to_local(r[20], r[21], s.currency)
                    last_pos = 0
                    kb = f'{cur_key};"{bon}";'
                    if not bon & 255:
                        ln.spill()
                        lv.spill()
                        tv.spill()
                kind = r[2]
                if kind == "MOVEMENT":
                    mk = CashMovementKind(r[12])
                    a = base_money(r[13])
                    add_ln(
                        f'{kb}"1";"";{_q(r[14], "ARTIKELTEXT")};"";"{mk.gv_typ}";'
                        f'{_q(mk.label, "GV_NAME")};"0";"0";;'
                        f'"";"";"";"";1,000;1,000;"";{a}\r\n'
                    )
                    add_lv(f'{kb}"1";5;{a};{a};{ZERO5}\r\n')
                    add_tv(f"{kb}5;{a};{a};{ZERO5}\r\n")
                    continue
                pos = r[3]
                if pos is None:
                    continue  # an aborted sale without lines
                last_pos = pos + 1
                # a posted (or training) sale's discount on the line (Z: Umsatz and
                # Rabatt), an AVTransfer's likewise
                disc = int(r[26]) if as_sale else 0
                # the closing's key mapping, not the key: the key is resolved (key_of)
                # when a tail is made, which keeps the per-line cost of a cache hit
                key = (
                    cur_rid,
                    *r[4:12],
                    # an AVTransfer's line at what it costs after its discounts, as a
                    # posted sale's (sale_lines.gross is written by the post only)
                    xfer_gross.get(pos, r[15])
                    if transferred
                    else (_unposted_gross(r) if r[28] and r[23] == "NET" else r[15]),
                    *r[16:19],
                    r[20],
                    r[21],
                    r[24],
                    r[25],
                    r[23] == "NET",
                    disc,
                )
                cached = tails.get(key)
                if cached is None:
                    item, name, qty, unit, price, cat, rate, code, stored, lk, it, vc = key[1:13]
                    vat_key = key_of(cur_z, cat, rate)
                    net_priced = key[-2]
                    gross = line_total(price, qty) if stored is None else stored
                    if len(item) >= art_nr_length:
                        full_ids.add(item)  # reported by the export (_art_nr_report)
                    # a foreign sale's line in the register currency, converted on its own
                    # (a posted sale's lines_vat rows are split from its converted per-key
                    # totals instead, in flush_receipt)
                    local_gross = conv(gross)
                    tax = tax_of(local_gross, rate)
                    lk = lk or "GOODS"
                    gv = line_gv_typ(lk, it == "VOUCHER", int(cat))
                    gv_name = "Ausgleichskonto" if lk == "BALANCING" else ""
                    rebate = (
                        _rebate(name, int(cat), rate, disc, net=net_priced, key=vat_key)
                        if disc and gv == "Umsatz"
                        else None
                    )
                    own_gross, own_tax = gross, tax_of(gross, rate)
                    if rebate is not None:
                        # the goods before their discount, which is a line of its own
                        local_gross += rebate.gross
                        tax += rebate.tax
                        own_gross += rebate.gross
                        own_tax += rebate.tax
                    cached = (
                        f';{_q(vc or "", "GUTSCHEIN_NR")};{_q(name, "ARTIKELTEXT")};"";'
                        f'{_q(gv, "GV_TYP")};{_q(gv_name, "GV_NAME")};"0";"0";;'
                        f"{_q(item, 'ART_NR')};"
                        f'"{_line_gtin(gtins, code, item, key[-4], unit, key[-3])}";"";"";'
                        f"{quantity_text(qty)};1,000;{_q(unit, 'EINHEIT')};"
                        f"{base_money(conv(gross_unit_price(price, rate, net=net_priced)))}\r\n",
                        f";{vat_key};{base_money(local_gross)};"
                        f"{base_money(local_gross - tax)};{base_money(tax)}\r\n",
                        own_gross,
                        own_tax,
                        rebate,
                        gv,
                        vat_key,
                    )
                    if len(tails) > 100_000:
                        tails.clear()
                    tails[key] = cached
                pz = f'{kb}"{pos + 1}"'
                add_ln(pz + cached[0])
                vat_key = cached[6]
                rb = cached[4]
                if vat_key > 9:
                    # (a tail may have been made for another closing of the same rates)
                    found.historic.setdefault(cur_z, set()).add(vat_key)
                if as_sale and conv is not _same:
                    foreign_lines.append((pz, vat_key, cached[2], cached[3]))
                else:
                    add_lv(pz + cached[1])
                if as_sale:
                    g = (r[9], r[10])
                    # (the receipt's own totals, after the discount: what it charged)
                    groups[g] = groups.get(g, 0) + cached[2] - (rb.gross if rb else 0)
                    if rb is not None:
                        rebates.append(rb)
            if cur_bon >= 0 and (groups or kind_of_bon == "SALE"):
                flush_receipt()
            ln.flush()
            lv.flush()
            tv.flush()
        stats.rows["lines.csv"] = ln.rows
        stats.rows["lines_vat.csv"] = lv.rows
        stats.rows["transactions_vat.csv"] = tv.rows
        sink.copy("lines_vat.csv", tmp_lv)
        sink.copy("transactions_vat.csv", tmp_tv)
    return found


def _unposted_gross(r: tuple[Any, ...]) -> int:
    """The gross of a line of a net-priced (business customer's) sale never posted (an
    aborted one): sale_lines.gross is written by the post only, and what the sale holds
    (a weighed pack's printed price, unit price times quantity) is net, which lines_vat
    lists gross (POS_BRUTTO) like every other line, net + tax_from_net, half up."""
    net = r[15] if r[15] is not None else line_total(r[8], r[6])
    return gross_unit_price(int(net), str(r[10]), net=True)


def _transfer_amounts(
    conn: sqlite3.Connection, register_id: str, bon_id: int
) -> tuple[dict[int, int], list[tuple[int, str, int, int, int]]]:
    """An AVTransfer's amounts as its TSE transaction signed them
    (``services.fiscal.transfer_process_data``: the sale's per-rate totals after its
    discounts): each line's gross after its discounts by position, and the per-rate
    totals (category, rate, gross, net, tax) in the sale's currency. The post writes
    both for a posted sale (sale_lines.gross, sale_vat_totals, schema 6); a sale handed
    over is never posted here, so they are computed from the sale as stored. The lines
    pass lists it as a posted sale's lines (the discounts as Rabatt lines) and its
    Bonkopf_USt from these totals, so that they add up to UMS_BRUTTO and to the signed
    processData key by key (DSFinV-K 3.1.2: Bonkopf_USt splits each Bonkopf's amounts
    per UST_SCHLUESSEL). Once per AVTransfer, which are few."""
    row = conn.execute(
        "SELECT sale_id FROM register_transactions WHERE register_id = ? AND bon_id = ?",
        (register_id, bon_id),
    ).fetchone()
    sale = None if row is None else sales_store.get(conn, str(row[0]))
    if sale is None:
        return {}, []
    with sale.frozen_totals():
        totals = [
            (int(v.category), str(v.percent), v.gross, v.net, v.tax) for v in sale.vat_totals()
        ]
        gross = sale.line_gross_amounts()
    by_position = {i: gross[ln.line_id] for i, ln in enumerate(sale.lines) if ln.line_id in gross}
    return by_position, totals


#: GV_TYP of a discount on a receipt's goods (DSFinV-K Anhang C "Rabatt")
REBATE_GV = "Rabatt"


@dataclass(frozen=True, slots=True)
class _Rebate:
    """The line and document discount of one goods line of a posted sale, in the sale's
    currency: gross and tax (positive for a discount given, negative on a storno)."""

    text: str
    category: int
    rate: str
    key: int
    gross: int
    tax: int


def _rebate(name: str, category: int, rate: str, discount: int, *, net: bool, key: int) -> _Rebate:
    """A goods line's discount (``sale_lines.discount``, in the sale's price basis) as
    the Z books it: its Z_GV_Typ is turnover before the discount (``Umsatz``) beside the
    discount (``Rabatt``, negative), gross and tax per line exactly as
    ``services.day._discounts`` derives them (net: plus ``tax_from_net``; gross: its tax
    ``tax_from_gross``). lines.csv says the same: the goods line at its amount before the
    discount, the discount one more line of GV_TYP Rabatt at the goods' VAT key (``key``,
    their UST_SCHLUESSEL, historic ones included), so that
    Bonpos summed per GV_TYP and UST_SCHLUESSEL is Z_GV_Typ (DSFinV-K 2.x: Z_GV_Typ sums
    the business cases of the closing's Einzelaufzeichnungen)."""
    pct = Decimal(rate)
    if net:
        tax = tax_from_net(discount, pct)
        gross = discount + tax
    else:
        gross, tax = discount, tax_from_gross(discount, pct)
    return _Rebate(f"Rabatt {name}", category, rate, key, gross, tax)


def _rebate_amounts(rebates: list[_Rebate], conv: Callable[[int], int]) -> list[tuple[int, int]]:
    """The receipt's Rabatt lines (gross, tax; negative for a discount given) in the
    register currency: as the Z converts a foreign sale's discounts, per VAT rate once
    (``domain.closing``: ``conv`` of the rate's discount), split over the rate's lines
    (``pricing.split_converted``) so that they add up to the Z's Rabatt."""
    if conv is _same:
        return [(-rb.gross, -rb.tax) for rb in rebates]
    out = [(0, 0)] * len(rebates)
    per_rate: dict[tuple[int, str], list[int]] = {}
    for i, rb in enumerate(rebates):
        per_rate.setdefault((rb.category, rb.rate), []).append(i)
    for idx in per_rate.values():
        gs = [-rebates[i].gross for i in idx]
        ts = [-rebates[i].tax for i in idx]
        local_g = split_converted(gs, -conv(-sum(gs)), conv)
        local_t = split_converted(ts, -conv(-sum(ts)), conv)
        for i, g, t in zip(idx, local_g, local_t, strict=True):
            out[i] = (g, t)
    return out


def _art_nr_stats(stats: ExportStats, full_ids: Iterable[str]) -> None:
    """``stats.cut_item_ids`` and ``shared_art_nr`` from the item ids of ART_NR's length
    or longer that the lines pass met (see :func:`_art_nr_report`)."""
    n = _MAX_LENGTH["ART_NR"]
    ids = sorted(set(full_ids))
    stats.cut_item_ids = [i for i in ids if len(i) > n]
    by_art: dict[str, list[str]] = {}
    for item_id in ids:
        by_art.setdefault(item_id[:n], []).append(item_id)
    stats.shared_art_nr = {a: group for a, group in sorted(by_art.items()) if len(group) > 1}


def _split_line_vat(
    lines: list[tuple[str, int, int, int]],
    by_key: Mapping[int, list[int]],
    conv: Callable[[int], int],
) -> list[tuple[str, int, int, int]]:
    """A foreign sale's lines (prefix, VAT key, gross and tax in the sale's currency) in
    the register currency: per VAT key the receipt's converted gross and tax (its
    transactions_vat.csv row) split over the key's lines by largest remainder
    (``pricing.split_converted``), so that lines_vat.csv (Bonpos_USt) adds up to
    transactions_vat.csv (Bonkopf_USt) key by key; converted one by one they could miss
    it by a cent. A key without a receipt total (none expected) is converted line by line.
    Returns (prefix, key, gross, tax) in the lines' order."""
    per_key: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        per_key.setdefault(line[1], []).append(i)
    gross = [0] * len(lines)
    tax = [0] * len(lines)
    for key, idx in per_key.items():
        head = by_key.get(key)
        gs = [lines[i][2] for i in idx]
        ts = [lines[i][3] for i in idx]
        if head is None:
            local_g, local_t = [conv(g) for g in gs], [conv(t) for t in ts]
        else:
            local_g = split_converted(gs, head[0], conv)
            local_t = split_converted(ts, head[2], conv)
        for i, g, t in zip(idx, local_g, local_t, strict=True):
            gross[i], tax[i] = g, t
    return [(p, k, g, t) for (p, k, _, _), g, t in zip(lines, gross, tax, strict=True)]


def _payments(
    conn: sqlite3.Connection,
    sink: _Sink,
    s: ExportSettings,
    zs: Mapping[int, _Z],
    stats: ExportStats,
) -> None:
    """datapayment.csv: per Vorgang and payment method what the register kept."""
    z_lo, z_hi = min(zs), max(zs)
    base = s.currency
    base_money = money_of(base)
    cur = conn.execute(
        "SELECT t.z_nr, t.bon_id, t.kind, s.total, s.currency, p.method, p.amount,"
        " m.amount, m.currency, COALESCE(s.rounding, 0), s.exchange_rate,"
        " COALESCE(s.change_local, 0), p.kept, s.change_currency NOT IN ('', s.currency),"
        " s.change_rounding, COALESCE(m.amount_local, m.amount)"
        " FROM register_transactions t"
        " LEFT JOIN sales s ON s.sale_id = t.sale_id"
        " LEFT JOIN sale_payments p ON p.sale_id = t.sale_id"
        " LEFT JOIN cash_movements m ON m.movement_id = t.movement_id"
        # a training sale's payments too: its receipt states (and the TSE signs) them;
        # like its amounts they never reach the Z (payment.csv is the Z's)
        " WHERE t.register_id = ? AND t.z_nr BETWEEN ? AND ? AND t.kind != 'ABORT'"
        " ORDER BY t.z_nr, t.bon_id, p.position",
        (s.register_id, z_lo, z_hi),
    )
    with sink.open("datapayment.csv") as main:
        dp = _Writer(main, spec.TABLE_BY_FILE["datapayment.csv"].header)
        add = dp.add
        kinds: dict[str, tuple[str, str]] = {}

        def row(
            k: str, bon: int, method: str, currency: str, amount: int, base_amount: int
        ) -> None:
            info = kinds.get(method)
            if info is None:
                pk = payment_kind(method)
                info = (_q(pk.zahlart_typ, "ZAHLART_TYP"), _q(pk.name, "ZAHLART_NAME"))
                kinds[method] = info
            foreign = money_in(amount, currency) if currency != base else ""
            add(
                f'{k};"{bon}";{info[0]};{info[1]};"{currency}";{foreign};{base_money(base_amount)}\r\n'
            )

        cur_bon = -1
        cur_key = ""
        due = 0
        currency = base
        rate = Decimal(1)
        change_local = 0
        change_in_local = False
        change_rounding: int | None = None
        pays: list[tuple[str, int, int | None]] = []

        def flush_sale() -> None:
            paid = sum(a for _, a, _ in pays)
            change = max(0, paid - due) if due >= 0 else 0
            kept: list[tuple[str, int]] = []
            for method, amount, stored in pays:
                k = amount if stored is None else stored
                if stored is None and change and amount > 0 and payment_kind(method).cash:
                    # before schema 8: the change comes off the cash payments
                    k = max(0, amount - change)
                    change -= amount - k
                kept.append((method, k))
            amounts = [k for _, k in kept]
            if currency != base:
                # converted as the Z converts them: their sum once, split over the
                # payments (pricing.split_converted), so BASISWAEH_BETRAG adds up to it
                def conv(amount: int) -> int:
                    return local_amount(amount, currency=currency, local_currency=base, rate=rate)

                based = split_converted(amounts, conv(sum(amounts)), conv)
            else:
                based = amounts
            sums: dict[str, list[int]] = {}
            for (method, k), b in zip(kept, based, strict=True):
                acc = sums.setdefault(method, [0, 0])
                acc[0] += k
                acc[1] += b
            fx = None
            if currency != base:
                fx = local_change(
                    max(0, paid - due), change_local, change_rounding, in_local=change_in_local
                )
            if fx is not None:
                # foreign cash, change paid out in the base currency: the surplus stays in
                # the foreign Bar row at its value (as in the Z; what it is worth beyond
                # the change paid out is the receipt's rounding line), the payout is a
                # negative base-currency Bar row
                acc = sums.setdefault("CASH", [0, 0])
                acc[0] += fx.surplus
                acc[1] += fx.surplus_local
            for method, (amount, base_amount) in sums.items():
                if amount:
                    row(cur_key, cur_bon, method, currency, amount, base_amount)
            if fx is not None and fx.paid_out:
                row(cur_key, cur_bon, "CASH", base, -fx.paid_out, -fx.paid_out)
            pays.clear()

        for r in cur:
            z = zs.get(r[0])
            if z is None:
                continue
            bon = r[1]
            if bon != cur_bon:
                if pays:
                    flush_sale()
                cur_bon, cur_key = bon, z.key
                if not bon & 511:
                    dp.spill()
                if r[2] == "MOVEMENT":
                    # in its own currency, and in the register's as booked (schema 22)
                    row(cur_key, bon, "CASH", r[8], r[7], r[15])
                    continue
                due, currency = r[3] + r[9], r[4]
                rate = Decimal(r[10] or 1)
                change_local = int(r[11])
                change_in_local = bool(r[13])
                change_rounding = None if r[14] is None else int(r[14])
            if r[2] == "SALE" and r[5] is not None:
                pays.append((r[5], r[6], r[12]))
        if pays:
            flush_sale()
        dp.flush()
        stats.rows["datapayment.csv"] = dp.rows


if __name__ == "__main__":
    if len(sys.argv) == 10 and sys.argv[1] == "lines":
        sys.exit(lines_child_main(sys.argv[2:]))
    sys.exit(
        "usage: python -m posd_daemon.exports.dsfinvk lines DB REGISTER CURRENCY Z_FROM Z_TO"
        " DIR header|no-header RATES"
    )
