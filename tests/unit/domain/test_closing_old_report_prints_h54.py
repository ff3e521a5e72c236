"""h54: a Z stored before payment totals carried their refunds (or before the report had
gateways, gv_totals, open_shift_expected) still reads and prints."""

from __future__ import annotations

from posd_daemon.domain.closing import ClosingReport
from posd_daemon.domain.receipt import ShopHeader
from posd_daemon.services.documents import render_closing_report

OLD = {
    "z_nr": 3,
    "register_id": "K1",
    "currency": "EUR",
    "created_at": "2024-01-02T18:00:00.000000Z",
    "first_bon_id": 1,
    "last_bon_id": 2,
    "receipts": 2,
    "aborted": 0,
    "movements": 0,
    "late": 0,
    "outside_shift": 0,
    "gross": 1798,
    "payments": [
        {"method": "CASH", "zahlart_typ": "Bar", "name": "Bar", "currency": "EUR",
         "amount": 1798, "count": 2},
    ],
    "vat": [],
    "cases": [],
    "operators": [],
    "cash_per_currency": [["EUR", 1798]],
    "balances": [],
    "shifts": [1],
}  # fmt: skip


def test_an_old_stored_z_without_the_newer_keys_prints() -> None:
    report = ClosingReport.from_dict(OLD)
    (cash,) = report.payments
    assert (cash.count, cash.refunds, cash.refunds_amount) == (2, 0, 0)
    doc = render_closing_report(report, ShopHeader(name="Laden"), 42)
    text = "\n".join(b.text for b in doc.blocks if hasattr(b, "text"))
    assert "Z-BON 3" in text
    assert "2x Bar (EUR)" in text
    assert "Erstattung" not in text
