"""Closing totals, cash counts and the DSFinV-K number formats (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.domain.closing import CashMovementKind, ClosingBuilder, ClosingReport
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.money import round_half_up
from posd_daemon.domain.shift import CountLine, balances, count_line, merge_counts
from posd_daemon.domain.vat import VatCategory, tax_from_gross, totals_from_gross
from posd_daemon.exports import dsfinvk, dsfinvk_spec


def test_builder_sums_receipts_movements_and_keeps_gateways_apart() -> None:
    b = ClosingBuilder("REG-1", "EUR")
    vat = totals_from_gross(
        [(VatCategory.NORMAL, Decimal(19), 1000), (VatCategory.REDUCED, Decimal(7), 500)]
    )
    b.add_sale(
        bon_id=1, operator_id="1", currency="EUR", vat=vat, payments=[("CASH", 2000)], change=500
    )
    b.add_sale(
        bon_id=2,
        operator_id="2",
        currency="EUR",
        vat=vat,
        payments=[("GATEWAY", 1500)],
        change=0,
        late=True,
        shift_id=None,
    )
    b.add_abort(bon_id=3)
    b.add_movement(
        bon_id=4, kind=CashMovementKind.WITHDRAWAL, amount=-300, currency="EUR", operator_id="1"
    )
    r = b.report(z_nr=7, created_at="2024-01-01T20:00:00.000000Z")
    assert (r.first_bon_id, r.last_bon_id, r.receipts, r.aborted, r.movements) == (1, 4, 2, 1, 1)
    assert r.gross == 3000 and r.late == 1
    assert {p.method: p.amount for p in r.payments} == {"CASH": 1500 - 300}
    assert [(g.method, g.amount, g.zahlart_typ) for g in r.gateways] == [
        ("GATEWAY", 1500, "ElZahlungsdienstleister")
    ]
    assert r.payments_total == 2700 and r.cash_total == 1200
    cases = {c.case: c for c in r.cases}
    assert cases["SALES"].gross == 3000 and cases["CASH_WITHDRAWALS"].gross == -300
    assert cases["VOUCHERS_SOLD"].count == 0
    assert {(g.gv_typ, g.ust_key): g.gross for g in r.gv_totals} == {
        ("Umsatz", 1): 2000,
        ("Umsatz", 2): 1000,
        ("Privatentnahme", 5): -300,
    }
    assert ClosingReport.from_dict(r.to_dict()) == r


def test_counts_validate_and_merge() -> None:
    lines = merge_counts(
        [count_line("EUR", 200, 3), count_line("EUR", 200, 2), count_line("EUR", 0, 0, 150)]
    )
    assert lines == [CountLine("EUR", 0, 1, 150), CountLine("EUR", 200, 5, 1000)]
    with pytest.raises(DomainError):
        count_line("EUR", 200, 3, total=7)
    with pytest.raises(DomainError):
        count_line("XXX", 200, 3)
    (b,) = balances({"EUR": 100}, {"EUR": 50}, {"EUR": 140})
    assert (b.expected, b.difference) == (150, -10)


@given(st.integers(-(10**9), 10**9), st.sampled_from(["19", "7", "10.7", "5.5", "0", "16"]))
def test_integer_tax_equals_the_decimal_rule(gross: int, rate: str) -> None:
    assert dsfinvk.tax_of(gross, rate) == tax_from_gross(gross, Decimal(rate))


@given(st.integers(0, 10**7), st.sampled_from(["1", "2", "0.333", "1.5", "0.001", "1E+1", "12"]))
def test_integer_line_total_equals_the_decimal_rule(price: int, qty: str) -> None:
    assert dsfinvk.line_total(price, qty) == round_half_up(Decimal(price) * Decimal(qty))


def test_number_formats() -> None:
    assert [dsfinvk.money(x) for x in (0, 5, -5, 123456, -100)] == [
        "0,00",
        "0,05",
        "-0,05",
        "1234,56",
        "-1,00",
    ]
    assert dsfinvk.quantity_text("0.25") == "0,250"
    assert dsfinvk.quantity_text("1E+1") == "10,000"


def test_index_xml_follows_the_dtd_order_and_lists_every_file() -> None:
    root = ET.fromstring(dsfinvk_spec.index_xml("Shop", "Berlin", "test"))
    assert [c.tag for c in root] == ["Version", "DataSupplier", "Media"]
    tables = root.findall("./Media/Table")
    assert len(tables) == 20
    order = [
        "URL",
        "Name",
        "Description",
        "UTF8",
        "DecimalSymbol",
        "DigitGroupingSymbol",
        "Range",
        "VariableLength",
    ]
    for t in tables:
        assert [c.tag for c in t] == order
        for col in t.find("VariableLength").findall("VariableColumn"):  # type: ignore[union-attr]
            tags = [c.tag for c in col]
            assert tags in (
                ["Name", "Description", "Numeric"],
                ["Name", "Description", "AlphaNumeric", "MaxLength"],
            )
    assert {t.findtext("URL") for t in tables} == {t.file for t in dsfinvk_spec.TABLES}
