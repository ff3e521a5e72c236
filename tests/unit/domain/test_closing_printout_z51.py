"""The printed Z report and X report show what the closing holds, readably on 32
columns: VAT lines label beside amount, the two 0 % categories told apart, the training
receipts, the Vorgänge outside a shift, the opening cash, an open shift's expected cash,
the business date, business cases by their German names, and an empty Z that says so."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posd_daemon.domain.closing import (
    BalanceLine,
    CaseTotal,
    ClosingBuilder,
    ClosingReport,
    OperatorTotal,
    PaymentTotal,
    VatLine,
)
from posd_daemon.domain.document import Document, Text
from posd_daemon.domain.receipt import ShopHeader
from posd_daemon.domain.vat import VatCategory
from posd_daemon.services.documents import (
    DocumentRenderer,
    render_closing_report,
    render_z_report,
)
from posd_daemon.store import day as day_store
from posd_daemon.store.database import open_database
from posd_daemon.store.outbox import OutboxJob

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SHOP = ShopHeader("Bäckerei Müller", ("Hauptstr. 1", "10115 Berlin"))


def printed(doc: Document) -> list[str]:
    """The text lines, each checked to fit the paper (composed letters one column)."""
    out = []
    for block in doc.blocks:
        if isinstance(block, Text):
            text = unicodedata.normalize("NFC", block.text)
            assert len(text) * (2 if block.large else 1) <= doc.columns, block
            out.append(text)
    return out


def flat(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def report(**kw: object) -> ClosingReport:
    base: dict[str, object] = dict(
        z_nr=7,
        register_id="R1",
        currency="EUR",
        created_at="2026-11-22T12:00:00.000000Z",
        first_bon_id=10,
        last_bon_id=20,
        receipts=8,
        aborted=1,
        movements=1,
        late=0,
        outside_shift=2,
        gross=5500,
        payments=(
            PaymentTotal("CASH", "Bar", "Bar", "EUR", 3000, 5, 3000),
            PaymentTotal("CASH", "Bar", "Bar", "CHF", 1000, 1, 1050),
        ),
        vat=(
            VatLine(int(VatCategory.NORMAL), "19", 3500, 2941, 559),
            VatLine(int(VatCategory.REDUCED), "5.5", 1055, 1000, 55),
            VatLine(int(VatCategory.ZERO), "0", 500, 500, 0),
            VatLine(int(VatCategory.NOT_TAXABLE), "0", 2000, 2000, 0),
        ),
        cases=(
            CaseTotal("SALES", "Umsatz", 6, 4555, 3941, 614),
            CaseTotal("VOUCHERS_SOLD", "MehrzweckgutscheinKauf", 1, 2000, 2000, 0),
            CaseTotal("CASH_DIFFERENCES", "DifferenzSollIst", 1, -45, -45, 0),
        ),
        operators=(OperatorTotal("anna", 8, 5500, 2950),),
        balances=(BalanceLine("EUR", 10000, 12995, 12950, -45),),
        shifts=(3, 4),
        training=3,
    )
    base.update(kw)
    return ClosingReport(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_vat_lines_are_label_and_amount_pairs(columns: int) -> None:
    lines = printed(render_closing_report(report(), SHOP, columns))
    vat = lines[lines.index("USt:") + 1 :]
    # every amount right-aligned at the paper's edge, beside its label
    for label, amount in (("brutto", "35,00 EUR"), ("netto", "29,41 EUR"), ("USt", "5,59 EUR")):
        row = next(line for line in vat if line.strip().startswith(label))
        assert row.endswith(amount), row
        assert row.lstrip().startswith(label), row
    # German decimal comma in a rate
    assert any(line.strip() == "5,5%" for line in vat), vat


def test_zero_rated_and_not_taxable_are_told_apart() -> None:
    lines = printed(render_closing_report(report(), SHOP, 32))
    text = flat(lines)
    assert "0% steuerfrei" in text
    assert "nicht steuerbar" in text
    # a bare "0%" heading is ambiguous: neither is printed as one
    assert not any(line.strip() == "0%" for line in lines)


def test_totals_the_report_has_are_on_the_paper() -> None:
    text = flat(printed(render_closing_report(report(), SHOP, 32)))
    assert "Training 3" in text
    assert "Außerhalb Schicht 2" in text
    assert "Anfangsbestand EUR 100,00 EUR" in text
    assert "Soll EUR 129,95 EUR" in text
    assert "Ist EUR 129,50 EUR" in text
    assert "Differenz EUR -0,45 EUR" in text
    # foreign cash and what it was booked as in the register currency
    assert "Bar (CHF) 10,00 CHF" in text
    assert "entspricht 10,50 EUR" in text
    assert "Zahlungen gesamt 40,50 EUR" in text
    # the operator's cash (accountability) beside the turnover
    assert "anna (8) 55,00 EUR" in text
    assert "davon bar 29,50 EUR" in text
    assert "Schichten 3, 4" in text


def test_business_cases_carry_german_names() -> None:
    text = flat(printed(render_closing_report(report(), SHOP, 32)))
    assert "Umsatz (6) 45,55 EUR" in text
    assert "MehrzweckgutscheinKauf (1) 20,00 EUR" in text
    assert "Kassendifferenz (1) -0,45 EUR" in text
    for internal in ("sales", "vouchers_sold", "cash_differences"):
        assert internal not in text


def test_an_x_report_shows_the_open_shift_expected_cash() -> None:
    x = report(z_nr=0, balances=(), open_shift_expected=(("EUR", 15000), ("CHF", 2000)))
    text = flat(printed(render_closing_report(x, SHOP, 32)))
    assert "X-BERICHT" in text
    assert "Offene Schicht" in text
    assert "Soll EUR 150,00 EUR" in text
    assert "Soll CHF 20,00 CHF" in text


def test_an_empty_z_says_there_were_no_vorgaenge() -> None:
    empty = ClosingBuilder("R1", "EUR").report(z_nr=3, created_at="2026-11-22T12:00:00.000000Z")
    text = flat(printed(render_closing_report(empty, SHOP, 32)))
    assert "0-0" not in text
    assert "keine Vorgänge" in text


def test_the_printed_z_shows_its_business_date(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "posd.db")
    r = report()
    body = json.dumps(r.to_dict())
    day_store.insert_closing(
        conn,
        day_store.Closing(
            7,
            "R1",
            NOW,
            "2026-11-21",
            "anna",
            10,
            20,
            body,
            hashlib.sha256(body.encode()).hexdigest(),
        ),
    )
    job = OutboxJob(1, "print", "", 0, {"z_nr": 7, "register_id": "R1"}, "NEW", 0, "", NOW)
    text = flat(printed(render_z_report(DocumentRenderer(SHOP, 32, tse_certified=True), conn, job)))
    assert "Geschäftstag 21.11.2026" in text
    conn.close()
