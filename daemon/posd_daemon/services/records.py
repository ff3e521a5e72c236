"""Plain-data records of posted sales for the journal and exports."""

from __future__ import annotations

from typing import Any

from posd_daemon.domain.sale import Sale
from posd_daemon.store.timeutil import to_db


def sale_record(sale: Sale) -> dict[str, Any]:
    return {
        "sale_id": sale.sale_id,
        "register_id": sale.register_id,
        "operator_id": sale.operator_id,
        "receipt_number": sale.receipt_number,
        "training": sale.training,
        "state": sale.state.value,
        "currency": sale.currency,
        "created_at": to_db(sale.created_at),
        "posted_at": to_db(sale.posted_at) if sale.posted_at else None,
        "cancelled_at": to_db(sale.cancelled_at) if sale.cancelled_at else None,
        "cancel_reason": sale.cancel_reason,
        "lines": [
            {
                "line_id": ln.line_id,
                "item_id": ln.item_id,
                "name": ln.name,
                "quantity": str(ln.quantity),
                "unit": ln.unit,
                "unit_price": ln.unit_price,
                "total": ln.total,
                "vat_category": int(ln.vat_category),
                "vat_rate": str(ln.vat_rate),
            }
            for ln in sale.lines
        ],
        # kept: what each payment leaves in the drawer or account (cash less the change);
        # with the rounding they balance: sum(kept) == total + rounding + change_rounding
        "payments": [
            {"payment_id": p.payment_id, "method": p.method.value, "amount": p.amount, "kept": kept}
            for p, kept in sale.kept_amounts()
        ],
        "total": sale.total,
        "change": sale.change,
        "rounding": sale.rounding,
        "change_rounding": sale.change_rounding,
        "vat": [
            {
                "category": int(v.category),
                "rate": str(v.percent),
                "gross": v.gross,
                "net": v.net,
                "tax": v.tax,
            }
            for v in sale.vat_totals()
        ],
    }
