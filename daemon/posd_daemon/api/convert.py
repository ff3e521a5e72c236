"""Proto <-> domain conversion."""

from __future__ import annotations

import dataclasses
import operator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from google.protobuf import timestamp_pb2
from posd.v1 import (
    catalog_pb2,
    common_pb2,
    customer_pb2,
    fiscal_pb2,
    operator_pb2,
    sale_pb2,
    shop_pb2,
)

from posd_daemon.domain.catalog import (
    Item,
    ItemType,
    Tracking,
    UnitOfMeasure,
    Variant,
    Vendor,
    VendorItem,
)
from posd_daemon.domain.customer import Customer
from posd_daemon.domain.digital_receipt import Delivery
from posd_daemon.domain.errors import invalid
from posd_daemon.domain.open_items import OpenItem, OpenItemState
from posd_daemon.domain.operators import Operator
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.pricing import fmt_decimal, parse_percent, parse_rate
from posd_daemon.domain.sale import LineKind, Sale, SaleLine, SaleState, format_quantity
from posd_daemon.domain.shop import (
    DEFAULT_BALANCING_ACCOUNT,
    DEFAULT_EMPTY_SALE_TIMEOUT_S,
    DEFAULT_REFUND_METHODS,
    DEFAULT_SIMPLIFIED_INVOICE_LIMIT,
    DocumentType,
    ParkingBarcode,
    RateSource,
    Register,
    Shop,
    ShopDiscount,
    VatPolicy,
)
from posd_daemon.domain.vat import PriceBasis, VatCategory, VatRounding
from posd_daemon.services.catalog import StockEntry
from posd_daemon.services.digital_receipts import DigitalLink
from posd_daemon.services.documents import fiscal_block
from posd_daemon.services.housekeeping import PurgeAction, PurgedSale
from posd_daemon.services.imports import ImportReport
from posd_daemon.services.sale_ops import VoucherStatus
from posd_daemon.services.sales import Candidate, ScanChoice, ScanMatch, ScanResult
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.shops import DailyRate
from posd_daemon.store.stock import StockLevel

SALE_STATE_TO_PB = {
    SaleState.OPEN: sale_pb2.SALE_STATE_OPEN,
    SaleState.POSTED: sale_pb2.SALE_STATE_POSTED,
    SaleState.CANCELLED: sale_pb2.SALE_STATE_CANCELLED,
    SaleState.PARKED: sale_pb2.SALE_STATE_PARKED,
    SaleState.TRANSFERRED: sale_pb2.SALE_STATE_TRANSFERRED,
}
LINE_KIND_TO_PB = {
    LineKind.GOODS: sale_pb2.LINE_KIND_GOODS,
    LineKind.RETURN: sale_pb2.LINE_KIND_RETURN,
    LineKind.DISCOUNT: sale_pb2.LINE_KIND_DISCOUNT,
    LineKind.VOUCHER_REDEMPTION: sale_pb2.LINE_KIND_VOUCHER_REDEMPTION,
    LineKind.BALANCING: sale_pb2.LINE_KIND_BALANCING,
    LineKind.INVOICE_PAYMENT: sale_pb2.LINE_KIND_INVOICE_PAYMENT,
}
PARKING_TO_PB = {
    ParkingBarcode.EAN13: shop_pb2.PARKING_BARCODE_EAN13,
    ParkingBarcode.CODE128: shop_pb2.PARKING_BARCODE_CODE128,
}
SALE_STATE_FROM_PB = {v: k for k, v in SALE_STATE_TO_PB.items()}

METHOD_TO_PB = {
    PaymentMethod.CASH: common_pb2.PAYMENT_METHOD_CASH,
    PaymentMethod.CARD: common_pb2.PAYMENT_METHOD_CARD,
    PaymentMethod.CONSUMER_CREDIT: common_pb2.PAYMENT_METHOD_CONSUMER_CREDIT,
    PaymentMethod.BANK_TRANSFER: common_pb2.PAYMENT_METHOD_BANK_TRANSFER,
    PaymentMethod.CASH_ON_DELIVERY: common_pb2.PAYMENT_METHOD_CASH_ON_DELIVERY,
    PaymentMethod.BENEFIT: common_pb2.PAYMENT_METHOD_BENEFIT,
    PaymentMethod.GATEWAY: common_pb2.PAYMENT_METHOD_GATEWAY,
}
METHOD_FROM_PB = {v: k for k, v in METHOD_TO_PB.items()}

BASIS_TO_PB = {
    PriceBasis.GROSS: common_pb2.PRICE_BASIS_GROSS,
    PriceBasis.NET: common_pb2.PRICE_BASIS_NET,
}
ITEM_TYPE_TO_PB = {
    ItemType.INVENTORY: catalog_pb2.ITEM_TYPE_INVENTORY,
    ItemType.SERVICE: catalog_pb2.ITEM_TYPE_SERVICE,
    ItemType.VOUCHER: catalog_pb2.ITEM_TYPE_VOUCHER,
}
TRACKING_TO_PB = {
    Tracking.NONE: catalog_pb2.TRACKING_NONE,
    Tracking.LOT: catalog_pb2.TRACKING_LOT,
    Tracking.SERIAL: catalog_pb2.TRACKING_SERIAL,
}
POLICY_TO_PB = {
    VatPolicy.CUSTOMER: shop_pb2.VAT_POLICY_CUSTOMER,
    VatPolicy.GROSS: shop_pb2.VAT_POLICY_GROSS,
    VatPolicy.NET: shop_pb2.VAT_POLICY_NET,
}
ROUNDING_TO_PB = {
    VatRounding.DOCUMENT: shop_pb2.VAT_ROUNDING_DOCUMENT,
    VatRounding.LINE: shop_pb2.VAT_ROUNDING_LINE,
}
DOC_TO_PB = {
    DocumentType.RECEIPT: shop_pb2.DOCUMENT_TYPE_RECEIPT,
    DocumentType.INVOICE: shop_pb2.DOCUMENT_TYPE_INVOICE,
}
RATE_SOURCE_TO_PB = {
    RateSource.NONE: sale_pb2.RATE_SOURCE_NONE,
    RateSource.FIXED: sale_pb2.RATE_SOURCE_FIXED,
    RateSource.DAILY: sale_pb2.RATE_SOURCE_DAILY,
    RateSource.MANUAL: sale_pb2.RATE_SOURCE_MANUAL,
}
SCAN_MATCH_TO_PB = {
    ScanMatch.CUSTOMER: sale_pb2.SCAN_MATCH_CUSTOMER,
    ScanMatch.BARCODE: sale_pb2.SCAN_MATCH_BARCODE,
    ScanMatch.LOT: sale_pb2.SCAN_MATCH_LOT,
    ScanMatch.SERIAL: sale_pb2.SCAN_MATCH_SERIAL,
    ScanMatch.ITEM_NUMBER: sale_pb2.SCAN_MATCH_ITEM_NUMBER,
    ScanMatch.SHOP_DISCOUNT: sale_pb2.SCAN_MATCH_SHOP_DISCOUNT,
    ScanMatch.VENDOR: sale_pb2.SCAN_MATCH_VENDOR,
}
SCAN_CHOICE_TO_PB = {
    ScanChoice.NONE: sale_pb2.SCAN_CHOICE_UNSPECIFIED,
    ScanChoice.AMBIGUOUS_BARCODE: sale_pb2.SCAN_CHOICE_AMBIGUOUS_BARCODE,
    ScanChoice.VARIANT_REQUIRED: sale_pb2.SCAN_CHOICE_VARIANT_REQUIRED,
    ScanChoice.AMBIGUOUS_LOT: sale_pb2.SCAN_CHOICE_AMBIGUOUS_LOT,
    ScanChoice.VENDOR_ITEMS: sale_pb2.SCAN_CHOICE_VENDOR_ITEMS,
    ScanChoice.AMBIGUOUS_SERIAL: sale_pb2.SCAN_CHOICE_AMBIGUOUS_SERIAL,
}
PURGE_TO_PB = {
    PurgeAction.CANCELLED: sale_pb2.PURGE_ACTION_CANCELLED,
    PurgeAction.DELETED: sale_pb2.PURGE_ACTION_DELETED,
    PurgeAction.KEPT: sale_pb2.PURGE_ACTION_KEPT,
}


def _from_pb(table: dict[object, int], value: int, field: str, default: object = None) -> object:
    if value == 0 and default is not None:
        return default
    for k, v in table.items():
        if v == value:
            return k
    raise invalid(field, "unknown or unspecified value")


#: The range google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799


def time_from_pb(msg: Any, name: str) -> datetime | None:
    """A client's Timestamp field ``name`` of ``msg`` as an aware UTC datetime, None when
    unset. Every Timestamp a client sends goes through here: a value outside the range
    (which ``ToDatetime`` cannot convert) is refused, naming the field."""
    if not msg.HasField(name):
        return None
    ts: timestamp_pb2.Timestamp = getattr(msg, name)
    if (
        not MIN_TIMESTAMP_SECONDS <= ts.seconds <= MAX_TIMESTAMP_SECONDS
        or not 0 <= ts.nanos < 1_000_000_000
    ):
        raise invalid(
            name,
            "not a valid timestamp: seconds within 0001-01-01..9999-12-31 UTC, nanos 0..999999999",
        )
    return ts.ToDatetime(tzinfo=UTC)


def timestamp(when: datetime | None) -> timestamp_pb2.Timestamp | None:
    if when is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


def money(minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency_code=currency)


def day_text(day: date | None) -> str:
    return day.isoformat() if day else ""


def vat_category_from_pb(value: int, field: str) -> VatCategory:
    try:
        return VatCategory(value)
    except ValueError:
        raise invalid(field, "unknown or unspecified VAT category") from None


def payment_method_from_pb(value: int, field: str = "method") -> PaymentMethod:
    method: PaymentMethod | None = METHOD_FROM_PB.get(value)  # type: ignore[call-overload]
    if method is None:
        raise invalid(field, "unknown or unspecified payment method")
    return method


def sale_state_from_pb(value: int) -> SaleState | None:
    if value == sale_pb2.SALE_STATE_UNSPECIFIED:
        return None
    state: SaleState | None = SALE_STATE_FROM_PB.get(value)  # type: ignore[call-overload]
    if state is None:
        raise invalid("state", "unknown sale state")
    return state


_VOUCHER_STATE_TO_PB = {
    "ISSUED": sale_pb2.VOUCHER_STATE_ISSUED,
    "REDEEMED": sale_pb2.VOUCHER_STATE_REDEEMED,
    "VOID": sale_pb2.VOUCHER_STATE_VOID,
}


def voucher_to_pb(status: VoucherStatus) -> sale_pb2.Voucher:
    v = status.voucher
    return sale_pb2.Voucher(
        code=v.code,
        item_id=v.item_id,
        value=money(v.value, v.currency),
        redeemed=money(v.redeemed, v.currency),
        balance=money(status.balance, v.currency),
        held=money(status.held, v.currency),
        state=_VOUCHER_STATE_TO_PB.get(v.state, sale_pb2.VOUCHER_STATE_UNSPECIFIED),
        sold_sale_id=status.sold_sale_id,
        update_time=timestamp(status.updated_at),
        valid_until="" if v.valid_until is None else v.valid_until.isoformat(),
    )


def delivery_from_pb(value: int) -> Delivery:
    """PostSaleRequest.receipt_delivery; UNSPECIFIED is PAPER."""
    if value in (sale_pb2.RECEIPT_DELIVERY_UNSPECIFIED, sale_pb2.RECEIPT_DELIVERY_PAPER):
        return Delivery.PAPER
    if value == sale_pb2.RECEIPT_DELIVERY_DIGITAL:
        return Delivery.DIGITAL
    raise invalid("receipt_delivery", "unknown receipt delivery")


def digital_receipt_to_pb(link: DigitalLink, receipt_number: int) -> sale_pb2.DigitalReceipt:
    return sale_pb2.DigitalReceipt(
        sale_id=link.sale_id,
        receipt_number=receipt_number,
        url=link.url,
        expire_time=timestamp(link.expires),
        delivery=(
            sale_pb2.RECEIPT_DELIVERY_DIGITAL
            if link.delivery is Delivery.DIGITAL
            else sale_pb2.RECEIPT_DELIVERY_PAPER
        ),
        revoke_time=timestamp(link.revoked),
        revoke_reason=link.revoke_reason,
    )


def document_type_from_pb(value: int, field: str = "document_type") -> DocumentType | None:
    if value == shop_pb2.DOCUMENT_TYPE_UNSPECIFIED:
        return None
    doc = _from_pb(DOC_TO_PB, value, field)  # type: ignore[arg-type]
    assert isinstance(doc, DocumentType)
    return doc


def tse_to_pb(row: fstore.SaleTse) -> fiscal_pb2.SaleTse:
    msg = fiscal_pb2.SaleTse(
        state=row.state,
        client_id=row.client_id,
        transaction_number=row.transaction_number or 0,
        signature_counter=row.finish_counter or 0,
        signature=row.signature,
        process_type=row.process_type,
        process_data=row.process_data,
        tse_serial=row.tse_serial,
        outage_number=row.outage_number or 0,
    )
    for when, name in ((row.start_time, "start_time"), (row.finish_time, "finish_time")):
        ts = timestamp(when)
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    if row.state in (fstore.SIGNED, fstore.SIGNED_LATE):
        msg.qr_code = fiscal_block(row).qr_data
    return msg


#: SaleLine messages already built, by everything they are built from (the line's fields
#: and the sale's currency terms): a sale answered after each scan rebuilds only the line
#: that changed. Bounded; cleared when full (simple and safe from any thread).
_LINE_MESSAGES: dict[tuple[Any, ...], sale_pb2.SaleLine] = {}
_LINE_MESSAGES_MAX = 512
_LINE_FIELDS = tuple(f.name for f in dataclasses.fields(SaleLine) if f.name != "memo")
_line_values = operator.attrgetter(*_LINE_FIELDS)  # one C call for the whole key


def _line_to_pb(sale: Sale, ln: SaleLine) -> sale_pb2.SaleLine:
    key = (sale.currency, sale.local_currency, sale.exchange_rate, sale.vat_direction)
    key += _line_values(ln)
    line = _LINE_MESSAGES.get(key)
    if line is None:
        line = _build_line(sale, ln)
        if len(_LINE_MESSAGES) >= _LINE_MESSAGES_MAX:
            _LINE_MESSAGES.clear()
        _LINE_MESSAGES[key] = line
    return line


def _build_line(sale: Sale, ln: SaleLine) -> sale_pb2.SaleLine:
    cur = sale.currency
    amount = ln.amount
    line = sale_pb2.SaleLine(
        line_id=ln.line_id,
        item_id=ln.item_id,
        name=ln.name,
        quantity=format_quantity(ln.quantity),
        unit=ln.unit,
        unit_price=money(ln.unit_price, cur),
        total=money(ln.total, cur),
        vat_category=int(ln.vat_category),  # type: ignore[arg-type]
        vat_rate=f"{ln.vat_rate.normalize():f}",
        scanned_code=ln.scanned_code,
        variant_id=ln.variant_id,
        quantity_per_unit=fmt_decimal(ln.unit_factor),
        price_overridden=ln.price_overridden,
        price_from_label=ln.price_from_label,
        discount_percent=fmt_decimal(ln.discount_percent),
        discount=money(ln.base_amount - amount, cur),
        amount=money(amount, cur),
        net=money(ln.net, cur),
        lot_number=ln.lot,
        serial_number=ln.serial,
        note=ln.note,
        pickup_date=day_text(ln.pickup_date),
        item_type=ITEM_TYPE_TO_PB[ln.item_type],
        kind=LINE_KIND_TO_PB[ln.kind],
        ref_sale_id=ln.ref_sale_id,
        ref_line_id=ln.ref_line_id,
        ref_receipt_number=ln.ref_receipt,
        voucher_code=ln.voucher_code,
        discount_cap="" if ln.discount_cap is None else fmt_decimal(ln.discount_cap),
        invoice_number=ln.invoice_number,
    )
    if ln.list_price is not None:
        line.list_unit_price.CopyFrom(
            money(sale.price_for(ln.list_price, ln.list_basis, ln.vat_rate), cur)
        )
    return line


def sale_to_pb(sale: Sale, tse: fstore.SaleTse | None = None) -> sale_pb2.Sale:
    with sale.frozen_totals():
        return _sale_to_pb(sale, tse, sale_pb2.Sale())


def post_answer(sale: Sale) -> sale_pb2.PostSaleResponse:
    """PostSale's answer for the posted sale, built in place while the TSE signs: once
    the signature is there, only its fiscal part (and digital receipt) is added."""
    answer = sale_pb2.PostSaleResponse()
    with sale.frozen_totals():
        _sale_to_pb(sale, None, answer.sale)
    return answer


#: The parts of a Sale message that stay put while a cashier scans (who, where, which
#: customer and currency terms), by everything they are built from: each answer copies
#: them in one C call instead of setting some thirty fields again. Bounded like the lines.
_HEADERS: dict[tuple[Any, ...], sale_pb2.Sale] = {}
_HEADERS_MAX = 256


def _header(sale: Sale) -> sale_pb2.Sale:
    c = sale.customer
    key = (
        sale.sale_id,
        sale.register_id,
        sale.operator_id,
        sale.currency,
        sale.local_currency,
        sale.change_currency,
        sale.parking_code,
        sale.held_by,
        sale.origin_register,
        sale.reverses_sale_id,
        sale.reverses_receipt,
        sale.training,
        c,
        sale.vat_direction,
        sale.vat_rounding,
        str(sale.exchange_rate),  # Decimal('1') == Decimal('1.00'): key the text
        sale.rate_source,
        sale.rate_date,
        sale.shop_id,
        sale.location_id,
        sale.pickup_date,
        sale.created_at,
        sale.order_number,
    )
    header = _HEADERS.get(key)
    if header is None:
        cur = sale.currency
        header = sale_pb2.Sale(
            sale_id=sale.sale_id,
            register_id=sale.register_id,
            operator_id=sale.operator_id,
            currency_code=cur,
            change_currency_code=sale.change_currency or cur,
            parking_code=sale.parking_code,
            held_by=sale.held_by,
            origin_register_id=sale.origin_register,
            reverses_sale_id=sale.reverses_sale_id,
            reverses_receipt_number=sale.reverses_receipt,
            training=sale.training,
            order_number=sale.order_number,
            customer=sale_pb2.SaleCustomer(
                customer_number=c.number,
                name=c.name,
                company=c.company,
                anonymous=c.anonymous,
                address_lines=list(c.address_lines()) if c.number else [],
                vat_id=c.vat_id,
                email=c.email,
            ),
            vat_direction=BASIS_TO_PB[sale.vat_direction],
            vat_rounding=ROUNDING_TO_PB[sale.vat_rounding],
            local_currency_code=sale.local_currency,
            exchange_rate=fmt_decimal(sale.exchange_rate),
            rate_source=RATE_SOURCE_TO_PB[sale.rate_source],
            rate_date=day_text(sale.rate_date),
            pickup_date=day_text(sale.pickup_date),
            shop_id=sale.shop_id,
            location_id=sale.location_id,
        )
        created = timestamp(sale.created_at)
        if created is not None:
            header.create_time.CopyFrom(created)
        if len(_HEADERS) >= _HEADERS_MAX:
            _HEADERS.clear()
        _HEADERS[key] = header
    return header


def _set_money(msg: common_pb2.Money, minor: int, currency: str) -> None:
    msg.amount_minor = minor
    msg.currency_code = currency


def _sale_to_pb(sale: Sale, tse: fstore.SaleTse | None, msg: sale_pb2.Sale) -> sale_pb2.Sale:
    """Fills ``msg`` (empty) with the sale and returns it."""
    cur = sale.currency
    local = sale.local_currency
    vat_totals = sale.vat_totals()  # once: every total below derives from it
    total = sum(vt.gross for vt in vat_totals)
    open_amount = sale.open_amount
    msg.CopyFrom(_header(sale))
    msg.state = SALE_STATE_TO_PB[sale.state]
    msg.receipt_number = sale.receipt_number
    msg.revision = sale.revision
    msg.cancel_reason = sale.cancel_reason
    msg.discount_percent = fmt_decimal(sale.discount_percent)
    msg.discount_code = sale.discount_code
    msg.document_type = DOC_TO_PB[sale.document_type or sale.document_for_total(total)]
    msg.document_type_forced = sale.document_forced is not None
    msg.invoice_issued = sale.invoice_to is not None
    if sale.warnings:
        msg.warnings.extend(sale.warnings)
    _set_money(msg.total, total, cur)
    _set_money(msg.paid, sale.paid, cur)
    _set_money(msg.open_amount, open_amount, cur)
    _set_money(msg.change, sale.change, cur)
    _set_money(msg.rounding, sale.rounding, cur)
    _set_money(msg.amount_due, sale.due, cur)
    _set_money(msg.open_amount_cash, sale.open_amount_cash, cur)
    _set_money(msg.change_local, sale.change_local, local)
    _set_money(msg.total_local, sale.to_local(total), local)
    _set_money(msg.open_amount_local, sale.to_local(open_amount), local)
    _set_money(msg.net_total, sum(vt.net for vt in vat_totals), cur)
    _set_money(msg.tax_total, sum(vt.tax for vt in vat_totals), cur)
    _set_money(msg.discount_total, sale.discount_total, cur)
    if tse is not None and tse.state != fstore.STARTED:
        msg.tse.CopyFrom(tse_to_pb(tse))
    for when, name in (
        (sale.posted_at, "post_time"),
        (sale.cancelled_at, "cancel_time"),
        (sale.parked_at, "park_time"),
    ):
        ts = timestamp(when)
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    msg.lines.extend([_line_to_pb(sale, ln) for ln in sale.lines])
    for p, kept in sale.kept_amounts():
        msg.payments.append(
            sale_pb2.Payment(
                payment_id=p.payment_id,
                method=METHOD_TO_PB[p.method],
                amount=money(p.amount, cur),
                card_institute=p.card_institute,
                authorization_code=p.authorization_code,
                contract_number=p.contract_number,
                reference=p.reference,
                rounding_increment_minor=p.rounding_step,
                down_payment_for=p.down_payment_for,
                kept=money(kept, cur),
            )
        )
    for vt in vat_totals:
        msg.vat_totals.append(
            sale_pb2.VatTotal(
                vat_category=int(vt.category),  # type: ignore[arg-type]
                vat_rate=f"{vt.percent.normalize():f}",
                gross=money(vt.gross, cur),
                net=money(vt.net, cur),
                tax=money(vt.tax, cur),
            )
        )
    return msg


# -- scanning ----------------------------------------------------------------------------------


def candidate_to_pb(c: Candidate, currency: str) -> sale_pb2.ScanCandidate:
    return sale_pb2.ScanCandidate(
        item_id=c.item_id,
        variant_id=c.variant_id,
        unit=c.unit,
        name=c.name,
        unit_price=money(c.unit_price, currency),
        vendor_item_number=c.vendor_item_number,
        lot_number=c.lot,
        serial_number=c.serial,
    )


def scan_to_pb(r: ScanResult) -> sale_pb2.ScanResponse:
    return sale_pb2.ScanResponse(
        sale=sale_to_pb(r.sale),
        match=SCAN_MATCH_TO_PB[r.match],
        line_id=r.line_id,
        choice=SCAN_CHOICE_TO_PB[r.choice],
        candidates=[candidate_to_pb(c, r.sale.currency) for c in r.candidates],
    )


def purged_to_pb(p: PurgedSale) -> sale_pb2.PurgedSale:
    return sale_pb2.PurgedSale(
        sale_id=p.sale_id,
        action=PURGE_TO_PB[p.action],
        reason=p.reason,
        update_time=timestamp(p.updated_at),
    )


# -- decimals in requests ------------------------------------------------------------------------


def decimal_field(text: str, field: str, *, places: int = 3) -> Decimal:
    if not text or len(text) > 24:
        raise invalid(field, "a decimal number is required")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid(field, f"{text[:24]!r} is not a decimal number") from None
    if not value.is_finite():
        raise invalid(field, "must be a finite number")
    try:
        exact = value == value.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:  # "1e30": more digits than a Decimal context holds
        raise invalid(field, "out of range") from None
    if not exact:
        raise invalid(field, f"at most {places} decimal places")
    return value


def _price(msg: common_pb2.Money, field: str, currency: str) -> int:
    if msg.currency_code and msg.currency_code != currency:
        raise invalid(f"{field}.currency_code", f"must be {currency}", "CURRENCY_MISMATCH")
    return msg.amount_minor


# -- items ---------------------------------------------------------------------------------------


def item_to_pb(item: Item) -> catalog_pb2.Item:
    msg = catalog_pb2.Item(
        item_id=item.item_id,
        name=item.name,
        vat_category=int(item.vat_category),  # type: ignore[arg-type]
        barcodes=list(item.barcodes),
        unit=item.unit,
        fractional_quantity=item.fractional_quantity,
        item_type=ITEM_TYPE_TO_PB[item.item_type],
        tracking=TRACKING_TO_PB[item.tracking],
    )
    price = money(item.price, item.currency)
    if item.price_basis is PriceBasis.GROSS:
        msg.gross_price.CopyFrom(price)
    else:
        msg.net_price.CopyFrom(price)
    for v in item.variants:
        pv = catalog_pb2.ItemVariant(
            variant_id=v.variant_id, name=v.name, barcodes=list(v.barcodes)
        )
        if v.price is not None:
            pv.price.CopyFrom(money(v.price, item.currency))
        msg.variants.append(pv)
    for u in item.units:
        pu = catalog_pb2.ItemUnit(
            unit=u.unit,
            quantity_per_unit=fmt_decimal(u.quantity_per_unit),
            fractional_quantity=u.fractional_quantity,
            barcodes=list(u.barcodes),
        )
        if u.price is not None:
            pu.price.CopyFrom(money(u.price, item.currency))
        msg.units.append(pu)
    return msg


def item_from_pb(msg: catalog_pb2.Item) -> Item:
    gross, net = msg.HasField("gross_price"), msg.HasField("net_price")
    if gross == net:
        raise invalid("item.gross_price", "give exactly one of gross_price and net_price")
    price = msg.gross_price if gross else msg.net_price
    currency = price.currency_code
    item_type = _from_pb(ITEM_TYPE_TO_PB, msg.item_type, "item.item_type", ItemType.INVENTORY)  # type: ignore[arg-type]
    tracking = _from_pb(TRACKING_TO_PB, msg.tracking, "item.tracking", Tracking.NONE)  # type: ignore[arg-type]
    assert isinstance(item_type, ItemType)
    assert isinstance(tracking, Tracking)
    variants = tuple(
        Variant(
            variant_id=v.variant_id,
            name=v.name,
            barcodes=tuple(v.barcodes),
            price=_price(v.price, f"item.variants[{i}].price", currency)
            if v.HasField("price")
            else None,
        )
        for i, v in enumerate(msg.variants)
    )
    units = tuple(
        UnitOfMeasure(
            unit=u.unit,
            quantity_per_unit=decimal_field(
                u.quantity_per_unit, f"item.units[{i}].quantity_per_unit"
            ),
            price=_price(u.price, f"item.units[{i}].price", currency)
            if u.HasField("price")
            else None,
            fractional_quantity=u.fractional_quantity,
            barcodes=tuple(u.barcodes),
        )
        for i, u in enumerate(msg.units)
    )
    return Item(
        item_id=msg.item_id,
        name=msg.name,
        price=price.amount_minor,
        currency=currency,
        vat_category=vat_category_from_pb(msg.vat_category, "item.vat_category"),
        barcodes=tuple(msg.barcodes),
        unit=msg.unit or "pcs",
        fractional_quantity=msg.fractional_quantity,
        price_basis=PriceBasis.GROSS if gross else PriceBasis.NET,
        item_type=item_type,
        tracking=tracking,
        variants=variants,
        units=units,
    )


def stock_entry_from_pb(msg: catalog_pb2.StockEntry) -> StockEntry:
    return StockEntry(
        location_id=msg.location_id,
        item_id=msg.item_id,
        variant_id=msg.variant_id,
        lot=msg.lot_number,
        serial=msg.serial_number,
        quantity=msg.quantity,
        expiry_date=msg.expiry_date,
    )


def stock_level_to_pb(level: StockLevel, unit: str) -> catalog_pb2.StockLevel:
    return catalog_pb2.StockLevel(
        location_id=level.location_id,
        item_id=level.item_id,
        variant_id=level.variant_id,
        lot_number=level.lot,
        on_hand=fmt_decimal(level.on_hand),
        reserved=fmt_decimal(level.reserved),
        available=fmt_decimal(level.available),
        unit=unit,
    )


def vendor_to_pb(v: Vendor) -> catalog_pb2.Vendor:
    return catalog_pb2.Vendor(
        vendor_number=v.vendor_number,
        name=v.name,
        items=[
            catalog_pb2.VendorItem(item_id=i.item_id, vendor_item_number=i.vendor_item_number)
            for i in v.items
        ],
    )


def vendor_from_pb(msg: catalog_pb2.Vendor) -> Vendor:
    return Vendor(
        vendor_number=msg.vendor_number,
        name=msg.name,
        items=tuple(VendorItem(i.item_id, i.vendor_item_number) for i in msg.items),
    )


# -- customers ---------------------------------------------------------------------------------


def customer_to_pb(c: Customer) -> customer_pb2.Customer:
    return customer_pb2.Customer(
        customer_number=c.number,
        name=c.name,
        company=c.company,
        email=c.email,
        street=c.street,
        postal_code=c.postal_code,
        city=c.city,
        country_code=c.country,
        vat_id=c.vat_id,
        default_currency_code=c.default_currency,
        price_entry=BASIS_TO_PB[c.price_entry],
        discount_percent=fmt_decimal(c.discount_percent),
        anonymous=c.anonymous,
        etag=c.etag,  # output only: sent back, it makes an update conditional (AIP-154)
    )


def customer_from_pb(msg: customer_pb2.Customer) -> Customer:
    entry = _from_pb(BASIS_TO_PB, msg.price_entry, "customer.price_entry", PriceBasis.GROSS)  # type: ignore[arg-type]
    assert isinstance(entry, PriceBasis)
    return Customer(
        number=msg.customer_number,
        name=msg.name,
        company=msg.company,
        email=msg.email,
        street=msg.street,
        postal_code=msg.postal_code,
        city=msg.city,
        country=msg.country_code,
        vat_id=msg.vat_id,
        default_currency=msg.default_currency_code,
        price_entry=entry,
        discount_percent=parse_percent(
            msg.discount_percent, "customer.discount_percent", empty=Decimal(0)
        ),
        anonymous=msg.anonymous,
    )


# -- shops and registers -----------------------------------------------------------------------


def shop_to_pb(s: Shop) -> shop_pb2.Shop:
    return shop_pb2.Shop(
        shop_id=s.shop_id,
        name=s.name,
        currency_code=s.currency,
        default_customer_number=s.default_customer_number,
        fixed_rates=[
            shop_pb2.FixedRate(currency_code=c, rate=fmt_decimal(r)) for c, r in s.fixed_rates
        ],
        vat_policy=POLICY_TO_PB[s.vat_policy],
        vat_rounding=ROUNDING_TO_PB[s.vat_rounding],
        cash_rounding=[
            shop_pb2.CashRounding(currency_code=c, increment_minor=step)
            for c, step in s.cash_rounding
        ],
        simplified_invoice_limit=money(s.simplified_invoice_limit, s.currency),
        allow_negative_stock=s.allow_negative_stock,
        price_edit_allowed=s.price_edit_allowed,
        vendor_scan_allowed=s.vendor_scan_allowed,
        discounts=[
            shop_pb2.ShopDiscount(code=d.code, name=d.name, percent=fmt_decimal(d.percent))
            for d in s.discounts
        ],
        role_discount_limits=[
            shop_pb2.DiscountLimit(key=k, percent=fmt_decimal(p)) for k, p in s.role_discount_limits
        ],
        operator_discount_limits=[
            shop_pb2.DiscountLimit(key=k, percent=fmt_decimal(p))
            for k, p in s.operator_discount_limits
        ],
        empty_sale_timeout_seconds=s.empty_sale_timeout_seconds,
        card_authorization_required=s.card_authorization_required,
        refund_methods=sorted(METHOD_TO_PB[m] for m in s.refund_methods),
        balancing_account=s.balancing_account,
        payment_rounding=[
            shop_pb2.PaymentRounding(
                currency_code=c, payment_method=METHOD_TO_PB[m], increment_minor=step
            )
            for c, m, step in s.payment_rounding
        ],
        parking_barcode=PARKING_TO_PB[s.parking_barcode],
        parking_prefix=s.parking_prefix,
    )


def shop_from_pb(msg: shop_pb2.Shop) -> Shop:
    policy = _from_pb(POLICY_TO_PB, msg.vat_policy, "shop.vat_policy", VatPolicy.CUSTOMER)  # type: ignore[arg-type]
    rounding = _from_pb(
        ROUNDING_TO_PB,  # type: ignore[arg-type]
        msg.vat_rounding,
        "shop.vat_rounding",
        VatRounding.DOCUMENT,
    )
    assert isinstance(policy, VatPolicy)
    assert isinstance(rounding, VatRounding)
    limit = DEFAULT_SIMPLIFIED_INVOICE_LIMIT
    if msg.HasField("simplified_invoice_limit"):
        limit = _price(
            msg.simplified_invoice_limit, "shop.simplified_invoice_limit", msg.currency_code
        )
    return Shop(
        shop_id=msg.shop_id,
        name=msg.name,
        currency=msg.currency_code,
        default_customer_number=msg.default_customer_number or "0",
        fixed_rates=tuple(
            (r.currency_code, parse_rate(r.rate, f"shop.fixed_rates[{i}].rate"))
            for i, r in enumerate(msg.fixed_rates)
        ),
        vat_policy=policy,
        vat_rounding=rounding,
        cash_rounding=tuple((c.currency_code, c.increment_minor) for c in msg.cash_rounding),
        simplified_invoice_limit=limit,
        allow_negative_stock=msg.allow_negative_stock,
        price_edit_allowed=msg.price_edit_allowed,
        vendor_scan_allowed=msg.vendor_scan_allowed,
        discounts=tuple(
            ShopDiscount(d.code, d.name, parse_percent(d.percent, f"shop.discounts[{i}].percent"))
            for i, d in enumerate(msg.discounts)
        ),
        role_discount_limits=tuple(
            (d.key, parse_percent(d.percent, f"shop.role_discount_limits[{i}].percent"))
            for i, d in enumerate(msg.role_discount_limits)
        ),
        operator_discount_limits=tuple(
            (d.key, parse_percent(d.percent, f"shop.operator_discount_limits[{i}].percent"))
            for i, d in enumerate(msg.operator_discount_limits)
        ),
        empty_sale_timeout_seconds=msg.empty_sale_timeout_seconds or DEFAULT_EMPTY_SALE_TIMEOUT_S,
        card_authorization_required=msg.card_authorization_required,
        refund_methods=frozenset(
            payment_method_from_pb(m, f"shop.refund_methods[{i}]")
            for i, m in enumerate(msg.refund_methods)
        )
        or DEFAULT_REFUND_METHODS,
        balancing_account=msg.balancing_account or DEFAULT_BALANCING_ACCOUNT,
        payment_rounding=tuple(
            (
                r.currency_code,
                payment_method_from_pb(r.payment_method, f"shop.payment_rounding[{i}]"),
                r.increment_minor,
            )
            for i, r in enumerate(msg.payment_rounding)
        ),
        parking_barcode=ParkingBarcode.CODE128
        if msg.parking_barcode == shop_pb2.PARKING_BARCODE_CODE128
        else ParkingBarcode.EAN13,
        parking_prefix=msg.parking_prefix or "29",
    )


def register_to_pb(r: Register) -> shop_pb2.Register:
    return shop_pb2.Register(
        register_id=r.register_id,
        shop_id=r.shop_id,
        location_id=r.location_id,
        document_types=sorted(DOC_TO_PB[d] for d in r.document_types),
        requirements=[
            shop_pb2.DocumentRequirement(document_type=DOC_TO_PB[d], attribute=a)
            for d, a in r.requirements
        ],
        price_edit_allowed=r.price_edit_allowed,
        orders_only=r.orders_only,
        register_number=r.register_number,
    )


def register_from_pb(msg: shop_pb2.Register) -> Register:
    docs = set()
    for i, d in enumerate(msg.document_types):
        doc = document_type_from_pb(d, f"register.document_types[{i}]")
        if doc is None:
            raise invalid(f"register.document_types[{i}]", "RECEIPT or INVOICE")
        docs.add(doc)
    reqs = []
    for i, req in enumerate(msg.requirements):
        doc = document_type_from_pb(req.document_type, f"register.requirements[{i}].document_type")
        if doc is None:
            raise invalid(f"register.requirements[{i}].document_type", "RECEIPT or INVOICE")
        reqs.append((doc, req.attribute))
    return Register(
        register_id=msg.register_id,
        shop_id=msg.shop_id,
        location_id=msg.location_id or "MAIN",
        document_types=frozenset(docs) if docs else frozenset(DocumentType),
        requirements=tuple(reqs),
        price_edit_allowed=msg.price_edit_allowed,
        orders_only=msg.orders_only,
        register_number=msg.register_number or 1,
    )


def rate_from_pb(msg: shop_pb2.ExchangeRate) -> DailyRate:
    try:
        day = date.fromisoformat(msg.date)
    except ValueError:
        raise invalid("rate.date", "a date like 2026-11-22", "INVALID_DATE") from None
    return DailyRate(
        base_currency=msg.base_currency_code,
        currency=msg.currency_code,
        day=day,
        rate=parse_rate(msg.rate, "rate.rate"),
    )


OPEN_ITEM_STATE_TO_PB = {
    OpenItemState.OPEN: customer_pb2.OPEN_ITEM_STATE_OPEN,
    OpenItemState.PAID: customer_pb2.OPEN_ITEM_STATE_PAID,
}


def open_item_to_pb(item: OpenItem, held: int) -> customer_pb2.OpenItem:
    return customer_pb2.OpenItem(
        invoice_number=item.invoice_number,
        customer_number=item.customer_number,
        amount_open=money(item.amount_open, item.currency),
        original_amount=money(item.original_amount, item.currency),
        invoice_date=item.invoice_date,
        due_date=item.due_date,
        text=item.text,
        state=OPEN_ITEM_STATE_TO_PB[item.state],
        amount_held=money(held, item.currency),
    )


def open_item_from_pb(msg: customer_pb2.OpenItem) -> OpenItem:
    """An open item as sent (validated by the service); both amounts are required and in
    one currency."""
    if not msg.HasField("amount_open"):
        raise invalid("open_item.amount_open", "is required")
    if not msg.HasField("original_amount"):
        raise invalid("open_item.original_amount", "is required")
    currency = msg.amount_open.currency_code
    if msg.original_amount.currency_code != currency:
        raise invalid(
            "open_item.original_amount.currency_code",
            f"must be the open amount's currency {currency[:8]!r}",
            "CURRENCY_MISMATCH",
        )
    return OpenItem(
        invoice_number=msg.invoice_number,
        customer_number=msg.customer_number,
        currency=currency,
        amount_open=msg.amount_open.amount_minor,
        original_amount=msg.original_amount.amount_minor,
        invoice_date=msg.invoice_date,
        due_date=msg.due_date,
        text=msg.text,
    )


def open_item_state_from_pb(state: int) -> OpenItemState | None:
    if state == customer_pb2.OPEN_ITEM_STATE_UNSPECIFIED:
        return None
    for k, v in OPEN_ITEM_STATE_TO_PB.items():
        if v == state:
            return k
    raise invalid("state", f"unknown open item state {state}")


def summary_to_pb(r: ImportReport) -> common_pb2.ImportSummary:
    return common_pb2.ImportSummary(
        rows=r.rows,
        imported=r.imported,
        created=r.created,
        updated=r.updated,
        committed=r.committed,
        validate_only=r.validate_only,
        rejections=[
            common_pb2.ImportRejection(
                row=x.row, key=x.key, field=x.field, reason=x.reason, message=x.message
            )
            for x in r.rejections
        ],
    )


def operator_to_pb(op: Operator) -> operator_pb2.Operator:
    return operator_pb2.Operator(
        operator_id=op.operator_id,
        name=op.name,
        role=op.role,
        permissions=sorted(p.value for p in op.permissions),
    )
