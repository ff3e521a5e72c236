"""``posctl import …`` (master data from CSV/JSON files) and ``posctl sales purge``.

    posctl --operator 1 import items items.csv
    posctl --operator 1 import customers customers.json --validate-only
    posctl --operator 1 import stock stock.csv --skip-invalid
    posctl --operator 1 import orders orders.csv     # one row per order line
    posctl --operator 1 import open-items open_items.csv
    posctl --operator 1 sales purge --older-than 2h [--dry-run]

An import is one request and one transaction in the daemon: unless ``--skip-invalid``
is given, a single bad row means nothing is imported, and the report names every
rejected row (its line in the file) with the reason. Rows posctl cannot even parse are
rejected the same way (reason PARSE_ERROR); the daemon then only validates the rest so
the report is complete.

CSV: a header row naming the columns (see :data:`CSV_COLUMNS`), ``,`` or ``;`` as the
delimiter, UTF-8. Amounts are decimal major units ("3.49", or "3,49"); lists inside a
cell are separated by ``|`` and their parts by ``:`` (``variants = M:Größe M|L:Größe
L:2199``). Quantities and exchange rates likewise ("1.5", "2,5", "1500"); one whose
only separator is followed by three digits is refused when that separator groups
thousands in the file's locale ("1.500" in a ``;`` file, as German Excel saves it; a
quoted "1,500" in a ``,`` file): write 1500 or 1,5 (1.5). Orders: one row per order
line, the rows of one ``order_number`` make the order (its ``customer_number`` and
``currency_code`` must agree); a row posctl cannot parse rejects its whole order. JSON:
a list of objects in the proto3 JSON form of the message (or an object with that list
under the kind's name), e.g. ``[{"itemId": "1001", "name": "Brot", "grossPrice":
{"amountMinor": "349", "currencyCode": "EUR"}, ...}]``.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import difflib
import io
import json
import re
import stat
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, DecimalException, InvalidOperation
from pathlib import Path
from typing import Any

from google.protobuf import duration_pb2
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import Message
from posd.client import new_request_id
from posd.v1 import catalog_pb2, common_pb2, customer_pb2, order_pb2, sale_pb2, shop_pb2

from posd_daemon.cli.posctl_day import AMOUNT_TEXT
from posd_daemon.domain.money import CURRENCY_EXPONENTS
from posd_daemon.domain.text import is_digits

EXIT_REJECTED = 1
#: the largest file read, per byte of api.max_message_bytes: proto3 JSON, indented, takes
#: several times the bytes of the message it makes; a file beyond this cannot fit
FILE_BYTES_PER_MESSAGE_BYTE = 16


class RowError(Exception):
    """A row posctl cannot turn into a request message."""


@dataclass(frozen=True)
class Kind:
    name: str
    message: type[Message]
    json_key: str
    request: Callable[..., Message]
    stub: str  # attribute of PosdClient holding the stub
    rpc: str
    columns: tuple[str, ...]
    #: (row, register currency, the file's delimiter: its spreadsheet's locale)
    from_csv: Callable[[dict[str, str], str, str], Message]
    #: CSV rows of one record spread over several rows (an order's lines): the column
    #: naming the record, and how a later row's message joins the first one
    group_column: str = ""
    merge: Callable[[Message, Message], None] | None = None
    #: columns no row can do without (the record's key): a header without one is
    #: refused whole, rather than every row of the file one by one
    required: tuple[str, ...] = ()


# -- cell parsing -----------------------------------------------------------------------------


def _bool(text: str, column: str) -> bool:
    t = text.strip().lower()
    if t in ("", "0", "false", "no", "n", "nein"):
        return False
    if t in ("1", "true", "yes", "y", "ja", "j"):
        return True
    raise RowError(f"{column}: {text!r} is not true/false")


#: "1.000", "-12,500": one to three digits, one separator, three digits
_GROUPED = re.compile(r"[+-]?[1-9][0-9]{0,2}[.,][0-9]{3}")
#: "1.234,56", "1,234.56", "1.000.000": a number as a spreadsheet shows it with
#: thousands separators (German Excel's "Zahl" format "mit 1000er-Trennzeichen")
_GROUPED_MANY = re.compile(r"[+-]?[0-9]{1,3}(?:[.,][0-9]{3})+(?:[.,][0-9]*)?")
#: an ISO 4217 code written into the cell ("EUR 2,99"), as a currency format shows it
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
#: "1 500,00", "- 2 000": spaces grouping thousands (after the sign, before each group
#: of three digits of the whole part), as ISO 80000-1 and French or Swiss Excel write it
_SPACED = re.compile(r"[+-]? ?[0-9]{1,3}(?: [0-9]{3})*(?:[.,][0-9]*)?")
#: the no-break spaces a spreadsheet groups digits with, read as a space
_NO_BREAK_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


def _not_an_amount(text: str, t: str, column: str) -> RowError:
    """The problem of a cell that is no plain amount, saying what to write instead: a
    spreadsheet saves a cell as it shows it, its number format included."""
    if _GROUPED_MANY.fullmatch(t):
        hint = " (a thousands separator? write the amount without one: 1234,56)"
    elif _CURRENCY_CODE.search(t) or any(unicodedata.category(c) == "Sc" for c in t):
        hint = (
            " (a currency sign? write the amount alone, e.g. 2,99; the currency is the"
            " currency_code column or the register's)"
        )
    elif " " in t:
        hint = (
            " (a space inside it groups no thousands: write the amount without one, e.g. 1234,56)"
        )
    else:
        hint = ""
    return RowError(f"{column}: {text!r} is not an amount{hint}")


def _minor(text: str, currency: str, column: str) -> int:
    t = text.strip().translate(_NO_BREAK_SPACES)
    if _SPACED.fullmatch(t):
        # a space only where it groups thousands: "3 49" (a typo of 3,49?) was read as
        # 349.00, a price 100 times too high
        t = t.replace(" ", "")
    exp = CURRENCY_EXPONENTS.get(currency, 2)
    if "," in t and "." not in t:
        t = t.replace(",", ".")
    # plain decimal text only: Decimal() also takes "1_000", "NaN", "inf" and other
    # scripts' digits, which in a price column are a broken export, not a price
    m = AMOUNT_TEXT.fullmatch(t)
    if m is None or not (m.group(2) or m.group(3)):  # digits before or after the point
        raise _not_an_amount(text, t, column)
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise RowError(f"{column}: {text!r} is not an amount") from None
    try:
        minor = value.scaleb(exp)
    except DecimalException:  # beyond Decimal's exponent range (1e999999)
        raise RowError(f"{column}: {text!r} is too large for an amount") from None
    # scaleb() rounds a value below Decimal's smallest exponent to zero without a trap
    # (1e-999999999999999999): the way back must give the value in the file
    if not minor.is_finite() or minor != minor.to_integral_value() or minor.scaleb(-exp) != value:
        raise RowError(f"{column}: {text!r} has more decimals than {currency} allows")
    if abs(minor) > 2**63 - 1:  # int64 minor units, as the API carries them
        raise RowError(f"{column}: {text!r} is too large for an amount")
    # a spreadsheet writes a cell as it shows it: "1.000" (German) or "1,000" (English)
    # with a thousands separator is 1000; read as decimals it is 1.00, still a whole
    # number of cents. Refused: a price off by a factor of 1000 is not a guess to make
    if exp < 3 and _GROUPED.fullmatch(t):
        raise RowError(
            f"{column}: {text!r} has more decimals than {currency} allows (a thousands"
            " separator? write the amount without one)"
        )
    return int(minor)


def _money(text: str, currency: str, column: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=_minor(text, currency, column), currency_code=currency)


def _decimal_text(text: str) -> str:
    t = text.strip()
    return t.replace(",", ".") if "," in t and "." not in t else t


def _decimal(text: str, column: str, delimiter: str) -> str:
    """A decimal cell (a quantity, an exchange rate) as decimal text ("2,5" -> "2.5"),
    refusing one a thousands separator makes ambiguous. A file's delimiter tells the
    spreadsheet's locale: German Excel saves ";" with a decimal comma and "." grouping
    thousands, so there "1.500" is 1500 as likely as 1.5 (it was read as 1.5: stock, or
    a rate "395.500", off by a factor of 1000); a "," file is English ("." decimal, ","
    thousands), where a quoted "1,500" is the ambiguous one. Refused: one separator
    followed by exactly three digits that is the locale's thousands separator (_GROUPED:
    "0.500" has no thousands, a fourth digit no grouping). "1.5", "0.25", "2,5", "1500"
    and, in a ";" file, "1,500" (German: 1.5) are read as before."""
    t = text.strip()
    thousands = "." if delimiter == ";" else ","
    if thousands in t and _GROUPED.fullmatch(t):
        whole = t.replace(thousands, "")
        decimal = "," if thousands == "." else "."
        fraction = t.replace(thousands, decimal).rstrip("0").rstrip(decimal)
        raise RowError(
            f"{column}: {text!r} is ambiguous (a thousands separator or a decimal one?):"
            f" write {whole} or {fraction}"
        )
    return _decimal_text(t)


def _list(text: str) -> list[list[str]]:
    return [[p.strip() for p in part.split(":")] for part in text.split("|") if part.strip()]


def _enum(enum_type: Any, prefix: str, text: str, column: str, aliases: dict[str, str]) -> int:
    t = text.strip().upper()
    if not t:
        return 0
    t = aliases.get(t, t)
    try:
        if is_digits(t):
            if int(t) > 2**31 - 1:  # an enum is an int32
                raise ValueError(t)
            return int(t)
        return int(enum_type.Value(f"{prefix}{t}"))
    except ValueError:
        names = [
            v.name.removeprefix(prefix)
            for v in enum_type.DESCRIPTOR.values
            if not v.name.endswith("UNSPECIFIED")
        ]
        raise RowError(f"{column}: {text!r} is not one of {', '.join(names)}") from None


# -- CSV rows -> messages ---------------------------------------------------------------------


def item_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    cur = row.get("currency_code", "").strip() or currency
    item = catalog_pb2.Item(
        item_id=row.get("item_id", "").strip(),
        name=row.get("name", "").strip(),
        vat_category=_enum(  # type: ignore[arg-type]
            common_pb2.VatCategory, "VAT_CATEGORY_", row.get("vat_category", ""), "vat_category", {}
        ),
        barcodes=[c for c in row.get("barcodes", "").replace(" ", "").split("|") if c],
        unit=row.get("unit", "").strip(),
        fractional_quantity=_bool(row.get("fractional", ""), "fractional"),
        item_type=_enum(  # type: ignore[arg-type]
            catalog_pb2.ItemType, "ITEM_TYPE_", row.get("item_type", ""), "item_type", {}
        ),
        tracking=_enum(  # type: ignore[arg-type]
            catalog_pb2.Tracking, "TRACKING_", row.get("tracking", ""), "tracking", {}
        ),
    )
    if row.get("gross_price", "").strip():
        item.gross_price.CopyFrom(_money(row["gross_price"], cur, "gross_price"))
    if row.get("net_price", "").strip():
        item.net_price.CopyFrom(_money(row["net_price"], cur, "net_price"))
    for parts in _list(row.get("variants", "")):
        v = catalog_pb2.ItemVariant(variant_id=parts[0], name=parts[1] if len(parts) > 1 else "")
        if len(parts) > 2 and parts[2]:
            v.price.CopyFrom(_money(parts[2], cur, "variants"))
        v.barcodes.extend(p for p in parts[3:] if p)
        item.variants.append(v)
    for parts in _list(row.get("units", "")):
        u = catalog_pb2.ItemUnit(
            unit=parts[0],
            quantity_per_unit=_decimal(parts[1], "units", delimiter) if len(parts) > 1 else "",
        )
        if len(parts) > 2 and parts[2]:
            u.price.CopyFrom(_money(parts[2], cur, "units"))
        if len(parts) > 3:
            u.fractional_quantity = _bool(parts[3], "units")
        u.barcodes.extend(p for p in parts[4:] if p)
        item.units.append(u)
    return item


PRICE_ENTRY = {"CONSUMER": "GROSS", "BUSINESS": "NET", "B2C": "GROSS", "B2B": "NET"}


def customer_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    return customer_pb2.Customer(
        customer_number=row.get("customer_number", "").strip(),
        name=row.get("name", "").strip(),
        company=row.get("company", "").strip(),
        email=row.get("email", "").strip(),
        street=row.get("street", "").strip(),
        postal_code=row.get("postal_code", "").strip(),
        city=row.get("city", "").strip(),
        country_code=row.get("country_code", "").strip().upper(),
        vat_id=row.get("vat_id", "").strip(),
        default_currency_code=row.get("default_currency_code", "").strip().upper(),
        price_entry=_enum(  # type: ignore[arg-type]
            common_pb2.PriceBasis,
            "PRICE_BASIS_",
            row.get("price_entry", ""),
            "price_entry",
            PRICE_ENTRY,
        ),
        discount_percent=_decimal_text(row.get("discount_percent", "")),
    )


def shop_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    cur = row.get("currency_code", "").strip().upper() or currency
    shop = shop_pb2.Shop(
        shop_id=row.get("shop_id", "").strip(),
        name=row.get("name", "").strip(),
        currency_code=cur,
        default_customer_number=row.get("default_customer_number", "").strip(),
        vat_policy=_enum(  # type: ignore[arg-type]
            shop_pb2.VatPolicy, "VAT_POLICY_", row.get("vat_policy", ""), "vat_policy", {}
        ),
        vat_rounding=_enum(  # type: ignore[arg-type]
            shop_pb2.VatRounding, "VAT_ROUNDING_", row.get("vat_rounding", ""), "vat_rounding", {}
        ),
        allow_negative_stock=_bool(row.get("allow_negative_stock", ""), "allow_negative_stock"),
        price_edit_allowed=_bool(row.get("price_edit_allowed", ""), "price_edit_allowed"),
        vendor_scan_allowed=_bool(row.get("vendor_scan_allowed", ""), "vendor_scan_allowed"),
    )
    if row.get("simplified_invoice_limit", "").strip():
        shop.simplified_invoice_limit.CopyFrom(
            _money(row["simplified_invoice_limit"], cur, "simplified_invoice_limit")
        )
    timeout = row.get("empty_sale_timeout_seconds", "").strip()
    if timeout:
        if not is_digits(timeout):
            raise RowError("empty_sale_timeout_seconds: whole seconds")
        shop.empty_sale_timeout_seconds = int(timeout)
    for parts in _list(row.get("fixed_rates", "")):
        shop.fixed_rates.append(
            shop_pb2.FixedRate(
                currency_code=parts[0].upper(), rate=_decimal(parts[-1], "fixed_rates", delimiter)
            )
        )
    for parts in _list(row.get("cash_rounding", "")):
        if len(parts) != 2 or not is_digits(parts[1]):
            raise RowError("cash_rounding: CUR:minor_units|...")
        shop.cash_rounding.append(
            shop_pb2.CashRounding(currency_code=parts[0].upper(), increment_minor=int(parts[1]))
        )
    for parts in _list(row.get("discounts", "")):
        if len(parts) != 3:
            raise RowError("discounts: CODE:name:percent|...")
        shop.discounts.append(
            shop_pb2.ShopDiscount(code=parts[0], name=parts[1], percent=_decimal_text(parts[2]))
        )
    for column in ("role_discount_limits", "operator_discount_limits"):
        for parts in _list(row.get(column, "")):
            if len(parts) != 2:
                raise RowError(f"{column}: key:percent|...")
            getattr(shop, column).append(
                shop_pb2.DiscountLimit(key=parts[0], percent=_decimal_text(parts[1]))
            )
    return shop


def register_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    reg = shop_pb2.Register(
        register_id=row.get("register_id", "").strip(),
        shop_id=row.get("shop_id", "").strip(),
        location_id=row.get("location_id", "").strip(),
        price_edit_allowed=_bool(row.get("price_edit_allowed", ""), "price_edit_allowed"),
    )
    for parts in _list(row.get("document_types", "")):
        reg.document_types.append(
            _enum(shop_pb2.DocumentType, "DOCUMENT_TYPE_", parts[0], "document_types", {})  # type: ignore[arg-type]
        )
    for parts in _list(row.get("requirements", "")):
        if len(parts) != 2:
            raise RowError("requirements: DOCUMENT:attribute|...")
        reg.requirements.append(
            shop_pb2.DocumentRequirement(
                document_type=_enum(  # type: ignore[arg-type]
                    shop_pb2.DocumentType, "DOCUMENT_TYPE_", parts[0], "requirements", {}
                ),
                attribute=parts[1],
            )
        )
    return reg


def stock_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    return catalog_pb2.StockEntry(
        location_id=row.get("location_id", "").strip(),
        item_id=row.get("item_id", "").strip(),
        variant_id=row.get("variant_id", "").strip(),
        lot_number=row.get("lot_number", "").strip(),
        serial_number=row.get("serial_number", "").strip(),
        quantity=_decimal(row.get("quantity", ""), "quantity", delimiter),
        expiry_date=row.get("expiry_date", "").strip(),
    )


def vendor_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    v = catalog_pb2.Vendor(
        vendor_number=row.get("vendor_number", "").strip(), name=row.get("name", "").strip()
    )
    for parts in _list(row.get("items", "")):
        v.items.append(
            catalog_pb2.VendorItem(
                item_id=parts[0], vendor_item_number=parts[1] if len(parts) > 1 else ""
            )
        )
    return v


def open_item_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    cur = row.get("currency_code", "").strip().upper() or currency
    open_text = row.get("amount_open", "").strip()
    original_text = row.get("original_amount", "").strip()
    if not open_text:
        raise RowError("amount_open: required")
    msg = customer_pb2.OpenItem(
        invoice_number=row.get("invoice_number", "").strip(),
        customer_number=row.get("customer_number", "").strip(),
        amount_open=_money(open_text, cur, "amount_open"),
        # without an original amount the invoice is open in full
        original_amount=_money(original_text or open_text, cur, "original_amount"),
        invoice_date=row.get("invoice_date", "").strip(),
        due_date=row.get("due_date", "").strip(),
        text=row.get("text", "").strip(),
    )
    return msg


def rate_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    return shop_pb2.ExchangeRate(
        base_currency_code=row.get("base_currency_code", "").strip().upper() or currency,
        currency_code=row.get("currency_code", "").strip().upper(),
        date=row.get("date", "").strip(),
        rate=_decimal(row.get("rate", ""), "rate", delimiter),
    )


def order_from_csv(row: dict[str, str], currency: str, delimiter: str = ",") -> Message:
    """One CSV row is one order line; the rows of one order number make the order."""
    cur = row.get("currency_code", "").strip().upper() or currency
    order = order_pb2.Order(
        order_number=row.get("order_number", "").strip(),
        customer_number=row.get("customer_number", "").strip(),
        currency_code=cur,
    )
    line = order.lines.add(
        item_id=row.get("item_id", "").strip(),
        variant_id=row.get("variant_id", "").strip(),
        quantity=_decimal(row.get("quantity", ""), "quantity", delimiter),
        text=row.get("text", "").strip(),
        # optional columns (files from before order lines had them): the base unit, no
        # lot or serial reserved (the cashier picks it at LoadOrder)
        unit=row.get("unit", "").strip(),
        lot_number=row.get("lot_number", "").strip(),
        serial_number=row.get("serial_number", "").strip(),
    )
    if row.get("unit_price", "").strip():
        line.unit_price.CopyFrom(_money(row["unit_price"], cur, "unit_price"))
    return order


def merge_order(first: Message, later: Message) -> None:
    if not isinstance(first, order_pb2.Order) or not isinstance(later, order_pb2.Order):
        raise TypeError("merge_order joins orders")
    for name in ("customer_number", "currency_code"):
        if getattr(first, name) != getattr(later, name):
            raise RowError(
                f"{name}: {getattr(later, name)!r} differs from the order's first row"
                f" ({getattr(first, name)!r})"
            )
    first.lines.extend(later.lines)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "items",
            catalog_pb2.Item,
            "items",
            catalog_pb2.ImportItemsRequest,
            "catalog",
            "ImportItems",
            (
                "item_id", "name", "gross_price", "net_price", "currency_code", "vat_category",
                "unit", "fractional", "barcodes", "item_type", "tracking", "variants", "units",
            ),
            item_from_csv,
            required=("item_id",),
        ),
        Kind(
            "customers",
            customer_pb2.Customer,
            "customers",
            customer_pb2.ImportCustomersRequest,
            "customers",
            "ImportCustomers",
            (
                "customer_number", "name", "company", "email", "street", "postal_code", "city",
                "country_code", "vat_id", "default_currency_code", "price_entry",
                "discount_percent",
            ),
            customer_from_csv,
        ),
        Kind(
            "shops",
            shop_pb2.Shop,
            "shops",
            shop_pb2.ImportShopsRequest,
            "shops",
            "ImportShops",
            (
                "shop_id", "name", "currency_code", "default_customer_number", "vat_policy",
                "vat_rounding", "simplified_invoice_limit", "allow_negative_stock",
                "price_edit_allowed", "vendor_scan_allowed", "fixed_rates", "cash_rounding",
                "discounts", "role_discount_limits", "operator_discount_limits",
                "empty_sale_timeout_seconds",
            ),
            shop_from_csv,
            required=("shop_id",),
        ),
        Kind(
            "registers",
            shop_pb2.Register,
            "registers",
            shop_pb2.ImportRegistersRequest,
            "shops",
            "ImportRegisters",
            (
                "register_id", "shop_id", "location_id", "document_types", "requirements",
                "price_edit_allowed",
            ),
            register_from_csv,
            required=("register_id",),
        ),
        Kind(
            "stock",
            catalog_pb2.StockEntry,
            "entries",
            catalog_pb2.ImportStockRequest,
            "catalog",
            "ImportStock",
            (
                "location_id", "item_id", "variant_id", "lot_number", "serial_number",
                "quantity", "expiry_date",
            ),
            stock_from_csv,
            required=("item_id", "quantity"),
        ),
        Kind(
            "vendors",
            catalog_pb2.Vendor,
            "vendors",
            catalog_pb2.ImportVendorsRequest,
            "catalog",
            "ImportVendors",
            ("vendor_number", "name", "items"),
            vendor_from_csv,
            required=("vendor_number",),
        ),
        Kind(
            "rates",
            shop_pb2.ExchangeRate,
            "rates",
            shop_pb2.ImportExchangeRatesRequest,
            "shops",
            "ImportExchangeRates",
            ("base_currency_code", "currency_code", "date", "rate"),
            rate_from_csv,
            required=("currency_code", "rate"),
        ),
        Kind(
            "orders",
            order_pb2.Order,
            "orders",
            order_pb2.UpsertOrdersRequest,
            "orders",
            "UpsertOrders",
            (
                "order_number", "customer_number", "currency_code", "item_id", "variant_id",
                "quantity", "unit", "unit_price", "text", "lot_number", "serial_number",
            ),
            order_from_csv,
            group_column="order_number",
            merge=merge_order,
            required=("order_number",),
        ),
        Kind(
            "open-items",
            customer_pb2.OpenItem,
            "open_items",
            customer_pb2.ImportOpenItemsRequest,
            "customers",
            "ImportOpenItems",
            (
                "invoice_number", "customer_number", "currency_code", "amount_open",
                "original_amount", "invoice_date", "due_date", "text",
            ),
            open_item_from_csv,
            required=("invoice_number", "amount_open"),
        ),
    )
}  # fmt: skip
CSV_COLUMNS = {name: kind.columns for name, kind in KINDS.items()}


@dataclass
class ParsedFile:
    messages: list[Message]
    lines: list[int]  # file line (CSV) or list index + 1 (JSON) of each message
    errors: list[tuple[int, str]]  # (line, message)


def _delimiter(text: str) -> str:
    """The CSV file's delimiter, by its header: ";" (German Excel) or ","."""
    first = text.splitlines()[0] if text.strip() else ""
    return ";" if first.count(";") > first.count(",") else ","


def _csv_rows(
    text: str, source: Path, header_out: list[str]
) -> Iterator[tuple[int, dict[str, str], str]]:
    """(line, cells by column, what is wrong with the row's shape or "").

    The line is where the row starts: a quoted cell may span lines, and the report must
    point at the row the user has to fix, not at its last line. ``header_out`` receives
    the header's column names (checked even when no row follows)."""
    delimiter = _delimiter(text)
    # newline=None: CRLF and a lone CR (Excel for Mac) end a line as LF does
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=delimiter)
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a NUL byte, a cell beyond the csv module's size limit
            raise RowError(f"{source}: line {start}: {exc}") from None
        if header is None:  # the first line, even an empty one (then no row fits it)
            header = [c.strip() for c in cells]
            header_out.extend(header)
            # "gross_price;…; gross_price ": which of the two values is meant is no guess
            # to make (csv.DictReader would silently take the last one)
            twice = sorted({c for c in header if c and header.count(c) > 1})
            if twice:
                raise RowError(
                    f"{source}: column(s) {', '.join(twice)} twice in the header (line 1)"
                )
            continue
        if not cells:  # an empty line
            continue
        # cells beyond the header's columns: a value with the delimiter in it, unquoted
        # ("3,49"), would else lose its tail silently
        extra = [c for c in cells[len(header) :] if c.strip()]
        extra += [c for c, name in zip(cells, header, strict=False) if not name and c.strip()]
        if not extra and not any(c.strip() for c in cells):
            continue
        named = sum(1 for n in header if n)
        if not named:
            problem = "line 1 is empty: the first line must be the header naming the columns"
        elif extra:
            problem = (
                f"{len(extra)} cell(s) more than the {named} columns of the"
                f" header (line 1): {delimiter!r} in a value? quote it"
            )
        else:
            problem = ""
        row = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}
        row.pop("", None)  # a column without a name (a trailing delimiter), empty
        yield start, row, problem


def _text(path: Path, data: bytes) -> str:
    """The file's UTF-8 text (a BOM, as Excel writes it, is dropped). Other encodings are
    refused where they first show: an "ä" of Windows-1252 or Latin-1 is a valid character
    there too, so guessing the encoding could turn it into another letter unnoticed."""
    bom = b"\xef\xbb\xbf"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode Text" (UTF-16 with a BOM): named as such, not as a byte 0xff
        # that hints at Windows-1252
        raise RowError(
            f'{path}: saved as UTF-16 (Excel: "Unicode Text"): save the file as UTF-8'
            ' (Excel: "CSV UTF-8")'
        )
    body = data.removeprefix(bom)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = body.rfind(b"\n", 0, exc.start) + 1
        line = body.count(b"\n", 0, exc.start) + 1
        column = len(body[line_start : exc.start].decode("utf-8")) + 1
        raise RowError(
            f"{path}: line {line}, column {column}: byte 0x{body[exc.start]:02x} is not UTF-8"
            " (saved as Windows-1252/ANSI or Latin-1?): save the file as UTF-8"
            ' (Excel: "CSV UTF-8")'
        ) from None


class _JsonObject(dict[str, Any]):
    """A JSON object, with the keys it gave more than once (json keeps the last)."""

    repeated: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        repeated: list[str] = []
        for k, _ in pairs:
            if k in seen:
                repeated.append(k)
            seen.add(k)
        obj.repeated = tuple(repeated)
    return obj


def _repeated_key(value: Any) -> str:
    """A key some object in ``value`` gives twice, or "": which of two prices or names is
    meant is not posctl's guess to make. (A loop, not recursion: the json module reads
    nesting as deep as Python's recursion limit.)"""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, _JsonObject):
            if v.repeated:
                return v.repeated[0]
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return ""


def parse_file(kind: Kind, path: Path, fmt: str, currency: str) -> ParsedFile:
    text = _text(path, path.read_bytes())
    out = ParsedFile([], [], [])
    if fmt == "json":
        try:
            data = json.loads(text, object_pairs_hook=_json_object)
        except ValueError as exc:
            raise RowError(f"{path}: not valid JSON: {exc}") from None
        except RecursionError:
            raise RowError(f"{path}: not valid JSON: nested too deeply") from None
        if isinstance(data, _JsonObject):
            if data.repeated:
                raise RowError(f"{path}: key {data.repeated[0]!r} twice")
            data = data.get(kind.json_key, data.get(kind.name))
        if not isinstance(data, list):
            raise RowError(
                f"{path}: expected a list of {kind.name} (or {{{kind.json_key!r}: [...]}})"
            )
        if not data:
            raise RowError(f"{path}: an empty list: no {kind.name} to import")
        for i, obj in enumerate(data, start=1):
            try:
                if not isinstance(obj, dict):
                    raise RowError("not an object")
                twice = _repeated_key(obj)
                if twice:
                    raise RowError(f"key {twice!r} given twice in one object")
                try:  # "\udcff" escapes half a character (a lone surrogate): no text
                    json.dumps(obj, ensure_ascii=False).encode("utf-8")
                except UnicodeEncodeError:
                    raise RowError("a \\u escape of half a character (a lone surrogate)") from None
                out.messages.append(ParseDict(obj, kind.message()))
                out.lines.append(i)
            except (ParseError, RowError) as exc:
                out.errors.append((i, str(exc)))
            except (OverflowError, ValueError) as exc:
                # a number beyond a float (1e400, Infinity) where ParseDict wants an integer
                out.errors.append((i, f"a number out of range: {exc}"))
        return out
    if not text.strip():
        # an export that found nothing: sending it would "import" nothing and exit 0
        what = "empty (0 bytes)" if not text else "only blank lines"
        raise RowError(f"{path}: {what}: no header, no {kind.name} to import")
    delimiter = _delimiter(text)
    header: list[str] = []
    keys: list[str] = []  # group_column of each message
    failed: dict[str, int] = {}  # group -> first line posctl could not parse
    for line, row, problem in _csv_rows(text, path, header):
        key = row.get(kind.group_column, "").strip() if kind.group_column else ""
        try:
            if problem:
                raise RowError(problem)
            out.messages.append(kind.from_csv(row, currency, delimiter))
            out.lines.append(line)
            keys.append(key)
        except RowError as exc:
            out.errors.append((line, str(exc)))
            if key:
                failed.setdefault(key, line)
    _check_header(kind, path, header)
    if not out.messages and not out.errors:
        raise RowError(f"{path}: no rows after the header (line 1): no {kind.name} to import")
    if kind.merge is not None:
        out = _grouped(kind.merge, out, keys, failed)
    return out


def _check_header(kind: Kind, path: Path, header: list[str]) -> None:
    """Refuses a header with a column posctl does not know (a typo would else drop the
    column's values silently) or without a required one, naming them."""
    columns = [c for c in header if c]
    if not columns:  # each row is rejected, saying so (see _csv_rows)
        return
    absent = [c for c in kind.columns if c not in columns]
    unknown: list[str] = []
    meant: set[str] = set()
    for name in sorted(set(columns) - set(kind.columns)):
        # "Item_ID", "gross_prise": the column probably meant, as the config's unknown
        # keys are named
        match = difflib.get_close_matches(name.lower(), absent, n=1, cutoff=0.75)
        meant.update(match)
        unknown.append(f"{name} (did you mean {match[0]}?)" if match else name)
    missing = [c for c in kind.required if c not in columns and c not in meant]
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"column(s) {', '.join(missing)} missing in the header (line 1)")
    if problems:
        raise RowError(
            f"{path}: {'; '.join(problems)}; {kind.name} columns: {', '.join(kind.columns)}"
        )


def _one_line(text: str) -> str:
    """``text`` on one line: the report is one problem a line (a technician greps and
    counts it), and a reason may quote a cell or a parser message with a line break."""
    return " / ".join(text.splitlines()) if text else text


def _grouped(
    merge: Callable[[Message, Message], None],
    parsed: ParsedFile,
    keys: list[str],
    failed: dict[str, int],
) -> ParsedFile:
    """Joins the rows of one record (by key) into its first row's message. A record
    with a row posctl could not parse is rejected whole: nothing of it is sent."""
    errors = list(parsed.errors)
    joined: list[tuple[Message, int, str]] = []
    first: dict[str, int] = {}  # key -> index in joined
    for message, line, key in zip(parsed.messages, parsed.lines, keys, strict=True):
        if key and key in first:
            try:
                merge(joined[first[key]][0], message)
            except RowError as exc:
                errors.append((line, str(exc)))
                failed.setdefault(key, line)
            continue
        if key:
            first[key] = len(joined)
        joined.append((message, line, key))
    out = ParsedFile([], [], errors)
    for message, line, key in joined:
        if key in failed:
            out.errors.append((line, f"{key} is rejected whole with its line {failed[key]}"))
        else:
            out.messages.append(message)
            out.lines.append(line)
    return out


# -- commands ---------------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    columns = "\n".join(
        f"  {name}: {', '.join(kind.columns)}" for name, kind in sorted(KINDS.items())
    )
    imp = sub.add_parser(
        "import",
        help="import master data from a CSV or JSON file (one transaction)",
        description=__doc__,
        epilog=f"CSV columns:\n{columns}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("kind", choices=sorted(KINDS))
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=("csv", "json"), help="default: by the file's suffix")
    imp.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid rows even when some are rejected (default: all or nothing)",
    )
    imp.add_argument(
        "--validate-only", action="store_true", help="only check the file; import nothing"
    )
    sales = sub.add_parser("sales", help="maintenance of sales").add_subparsers(
        dest="sales_command", required=True
    )
    purge = sales.add_parser(
        "purge",
        help="cancel open sales idle for longer than --older-than (TSE transaction cancelled)",
    )
    purge.add_argument(
        "--older-than", required=True, help="e.g. 90m, 2h, 3d, 1h30m (at least 1 minute)"
    )
    purge.add_argument("--dry-run", action="store_true", help="only show what would happen")


_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: google.protobuf.Duration's largest number of seconds
MAX_DURATION_S = 315_576_000_000


def parse_duration(text: str) -> int:
    t = text.strip().lower()
    parts = _DURATION.findall(t)
    if is_digits(t):
        seconds = int(t)
    elif not parts or "".join(n + u for n, u in parts) != t:
        raise ValueError(f"{text!r} is not a duration like 90m, 2h, 3d or 1h30m")
    else:
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{text!r} is too long (at most 10000 years)")
    return seconds


def cmd_import(args: argparse.Namespace) -> int:
    from posd_daemon.cli import posctl as core  # noqa: PLC0415 - posctl imports this module
    from posd_daemon.ops.config import ConfigError, load  # noqa: PLC0415

    kind = KINDS[args.kind]
    if not args.file.exists():
        raise core.CliError(f"{args.file}: no such file")
    st = args.file.stat()
    if stat.S_ISDIR(st.st_mode):
        raise core.CliError(f"{args.file}: is a directory")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would be waited on, maybe forever
        raise core.CliError(f"{args.file}: not a regular file")
    fmt = args.format or ("json" if args.file.suffix.lower() == ".json" else "csv")
    overrides = {"state": {"dir": args.state_dir}} if args.state_dir else None
    try:
        config = load(args.config, overrides)
    except ConfigError as exc:
        raise core.CliError(str(exc)) from None
    limit = config.api.max_message_bytes
    if st.st_size > FILE_BYTES_PER_MESSAGE_BYTE * limit:
        # read whole, a file named by mistake (a dump of gigabytes) would exhaust memory;
        # one this large cannot fit into one request anyway
        raise core.CliError(
            f"{args.file}: too large ({st.st_size} bytes; at most"
            f" {FILE_BYTES_PER_MESSAGE_BYTE * limit} with api.max_message_bytes = {limit}):"
            " split it into several files"
        )
    try:
        parsed = parse_file(kind, args.file, fmt, config.register.currency)
    except RowError as exc:
        raise core.CliError(_one_line(str(exc))) from None
    validate_only = args.validate_only or (bool(parsed.errors) and not args.skip_invalid)
    request = kind.request(
        request_id=new_request_id(),
        skip_invalid_rows=args.skip_invalid,
        validate_only=validate_only,
    )
    getattr(request, kind.json_key).extend(parsed.messages)
    size = request.ByteSize()
    if size > limit:
        # the daemon would refuse it only as "Received message larger than max"
        count = len(parsed.messages)
        raise core.CliError(
            f"{args.file}: its {count} {kind.name} make a request of {size} bytes, more than"
            f" the daemon takes (api.max_message_bytes = {limit}): split the file into parts"
            f" of at most about {max(1, count * limit * 9 // (size * 10))} rows"
        )
    with core._client(args, login=True) as c:
        stub = getattr(c, kind.stub)
        summary = c.call(getattr(stub, kind.rpc), request).summary
    rejected = [(line, "", "", "PARSE_ERROR", msg) for line, msg in parsed.errors]
    for r in summary.rejections:
        line = parsed.lines[r.row - 1] if 0 < r.row <= len(parsed.lines) else r.row
        rejected.append((line, r.key, r.field, r.reason, r.message))
    rejected.sort()
    where = "line" if fmt == "csv" else "entry"
    committed = summary.committed and not (validate_only and not args.validate_only)
    rows = [
        f"{args.file}: {len(parsed.messages) + len(parsed.errors)} rows, {len(rejected)} rejected",
    ]
    if committed:
        rows.append(
            f"imported {summary.imported} {kind.name}"
            f" ({summary.created} new, {summary.updated} replaced)"
        )
    elif args.validate_only:
        rows.append(f"validated only: {summary.imported} would be imported; nothing changed")
    else:
        rows.append("NOTHING imported (all or nothing; --skip-invalid imports the valid rows)")
    for line, key, field, reason, message in rejected:
        label = f"{where} {line}" + (f" [{_one_line(key)}]" if key else "")
        rows.append(_one_line(f"  {label}: {reason}: {message}" + (f" ({field})" if field else "")))
    data = {
        "file": str(args.file),
        "kind": kind.name,
        "committed": committed,
        "summary": MessageToDict(summary, preserving_proto_field_name=True),
        "rejected": [
            {"line": line, "key": key, "field": field, "reason": reason, "message": message}
            for line, key, field, reason, message in rejected
        ],
    }
    core._out(args, data, "\n".join(rows))
    return EXIT_REJECTED if rejected else 0


def cmd_sales(args: argparse.Namespace) -> int:
    from posd_daemon.cli import posctl as core  # noqa: PLC0415 - posctl imports this module

    try:
        seconds = parse_duration(args.older_than)
    except ValueError as exc:
        raise core.CliError(str(exc)) from None
    with core._client(args, login=True) as c:
        resp = c.call(
            c.sales.PurgeSales,
            sale_pb2.PurgeSalesRequest(
                request_id=new_request_id(),
                older_than=duration_pb2.Duration(seconds=seconds),
                validate_only=args.dry_run,
            ),
        )
    verb = "would be " if args.dry_run else ""
    rows = [f"{'sale id':<32}  {'last change':<19}  action"]
    for p in resp.sales:
        action = sale_pb2.PurgeAction.Name(p.action).removeprefix("PURGE_ACTION_").lower()
        when = p.update_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        rows.append(f"{p.sale_id:<32}  {when:<19}  {verb}{action} {p.reason}".rstrip())
    done = sum(1 for p in resp.sales if p.action != sale_pb2.PURGE_ACTION_KEPT)
    rows.append(f"{done} abandoned sale(s) {verb}removed, {len(resp.sales) - done} kept")
    core._out(
        args,
        [MessageToDict(p, preserving_proto_field_name=True) for p in resp.sales],
        "\n".join(rows),
    )
    return 0


#: posctl dispatches on (command, None) for these (their sub-commands are read here)
HANDLERS: dict[tuple[str, str | None], Callable[[argparse.Namespace], int]] = {
    ("import", None): cmd_import,
    ("sales", None): cmd_sales,
}
