"""Proto <-> domain conversion."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from posd.v1 import catalog_pb2, common_pb2, fiscal_pb2, operator_pb2, sale_pb2

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.errors import invalid
from posd_daemon.domain.operators import Operator
from posd_daemon.domain.sale import PaymentMethod, Sale, SaleState, format_quantity
from posd_daemon.domain.vat import VatCategory
from posd_daemon.services.documents import fiscal_block
from posd_daemon.store import fiscal as fstore

SALE_STATE_TO_PB = {
    SaleState.OPEN: sale_pb2.SALE_STATE_OPEN,
    SaleState.POSTED: sale_pb2.SALE_STATE_POSTED,
    SaleState.CANCELLED: sale_pb2.SALE_STATE_CANCELLED,
}
SALE_STATE_FROM_PB = {v: k for k, v in SALE_STATE_TO_PB.items()}

METHOD_TO_PB = {
    PaymentMethod.CASH: sale_pb2.PAYMENT_METHOD_CASH,
    PaymentMethod.CARD: sale_pb2.PAYMENT_METHOD_CARD,
}
METHOD_FROM_PB = {v: k for k, v in METHOD_TO_PB.items()}


def timestamp(when: datetime | None) -> timestamp_pb2.Timestamp | None:
    if when is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


def money(minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency_code=currency)


def vat_category_from_pb(value: int, field: str) -> VatCategory:
    try:
        return VatCategory(value)
    except ValueError:
        raise invalid(field, "unknown or unspecified VAT category") from None


def payment_method_from_pb(value: int) -> PaymentMethod:
    method: PaymentMethod | None = METHOD_FROM_PB.get(value)  # type: ignore[call-overload]
    if method is None:
        raise invalid("method", "unknown or unspecified payment method")
    return method


def sale_state_from_pb(value: int) -> SaleState | None:
    if value == sale_pb2.SALE_STATE_UNSPECIFIED:
        return None
    state: SaleState | None = SALE_STATE_FROM_PB.get(value)  # type: ignore[call-overload]
    if state is None:
        raise invalid("state", "unknown sale state")
    return state


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


def sale_to_pb(sale: Sale, tse: fstore.SaleTse | None = None) -> sale_pb2.Sale:
    cur = sale.currency
    msg = sale_pb2.Sale(
        sale_id=sale.sale_id,
        state=SALE_STATE_TO_PB[sale.state],
        register_id=sale.register_id,
        operator_id=sale.operator_id,
        currency_code=cur,
        total=money(sale.total, cur),
        paid=money(sale.paid, cur),
        open_amount=money(sale.open_amount, cur),
        change=money(sale.change, cur),
        receipt_number=sale.receipt_number,
        revision=sale.revision,
        cancel_reason=sale.cancel_reason,
    )
    if tse is not None and tse.state != fstore.STARTED:
        msg.tse.CopyFrom(tse_to_pb(tse))
    for when, name in (
        (sale.created_at, "create_time"),
        (sale.posted_at, "post_time"),
        (sale.cancelled_at, "cancel_time"),
    ):
        ts = timestamp(when)
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    for ln in sale.lines:
        msg.lines.append(
            sale_pb2.SaleLine(
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
            )
        )
    for p in sale.payments:
        msg.payments.append(
            sale_pb2.Payment(
                payment_id=p.payment_id, method=METHOD_TO_PB[p.method], amount=money(p.amount, cur)
            )
        )
    for vt in sale.vat_totals():
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


def item_to_pb(item: Item) -> catalog_pb2.Item:
    return catalog_pb2.Item(
        item_id=item.item_id,
        name=item.name,
        gross_price=money(item.gross_price, item.currency),
        vat_category=int(item.vat_category),  # type: ignore[arg-type]
        barcodes=list(item.barcodes),
        unit=item.unit,
        fractional_quantity=item.fractional_quantity,
    )


def item_from_pb(msg: catalog_pb2.Item) -> Item:
    if not msg.HasField("gross_price"):
        raise invalid("item.gross_price", "is required")
    return Item(
        item_id=msg.item_id,
        name=msg.name,
        gross_price=msg.gross_price.amount_minor,
        currency=msg.gross_price.currency_code,
        vat_category=vat_category_from_pb(msg.vat_category, "item.vat_category"),
        barcodes=tuple(msg.barcodes),
        unit=msg.unit or "pcs",
        fractional_quantity=msg.fractional_quantity,
    )


def operator_to_pb(op: Operator) -> operator_pb2.Operator:
    return operator_pb2.Operator(
        operator_id=op.operator_id,
        name=op.name,
        role=op.role,
        permissions=sorted(p.value for p in op.permissions),
    )
