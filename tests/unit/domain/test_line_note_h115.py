"""A sale line's note (h115) in the domain: set with the line or later, validated (at most
80 printable characters: two receipt lines), printed indented and wrapped under its line
on receipts and invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posd_daemon.domain.catalog import Item
from posd_daemon.domain.document import Text
from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.receipt import ShopHeader, render_receipt
from posd_daemon.domain.sale import MAX_NOTE, Sale
from posd_daemon.domain.vat import VatCategory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SHOP = ShopHeader("Laden", ("Hauptstr. 1", "10115 Berlin"))
ITEM = Item("1", "Kaffee", 1234, "EUR", VatCategory.NORMAL)
NOTE = "Gravur: Anna, bitte in Schreibschrift und mittig auf dem Deckel anbringen"


def new_sale() -> Sale:
    return Sale("s1", "REGISTER-01", "op", "EUR", NOW)


def test_add_line_keeps_the_note_and_set_note_changes_and_clears_it() -> None:
    s = new_sale()
    ln = s.add_line(ITEM, Decimal(1), Decimal(19), note="Größe wird nachgeliefert")
    assert ln.note == "Größe wird nachgeliefert"
    s.set_note(ln.line_id, "Gravur: Anna")
    assert s.line(ln.line_id).note == "Gravur: Anna"
    s.set_note(ln.line_id, "")
    assert s.line(ln.line_id).note == ""


@pytest.mark.parametrize("bad", ["x" * (MAX_NOTE + 1), "a\nb", "tab\there", "\x1b@"])
def test_a_bad_note_is_refused_naming_the_field_and_nothing_changes(bad: str) -> None:
    assert MAX_NOTE == 80
    s = new_sale()
    with pytest.raises(DomainError) as err:
        s.add_line(ITEM, Decimal(1), Decimal(19), note=bad)
    assert err.value.kind is ErrorKind.INVALID_ARGUMENT
    assert [v.field for v in err.value.violations] == ["note"]
    assert s.lines == []
    ln = s.add_line(ITEM, Decimal(1), Decimal(19), note="ok")
    with pytest.raises(DomainError):
        s.set_note(ln.line_id, bad)
    assert s.line(ln.line_id).note == "ok"


@pytest.mark.parametrize("columns", [32, 42, 48])
@pytest.mark.parametrize("as_invoice", [False, True])
def test_the_note_prints_indented_and_wrapped_under_its_line(
    columns: int, as_invoice: bool
) -> None:
    s = new_sale()
    s.add_line(ITEM, Decimal(1), Decimal(19), note=NOTE)
    s.add_payment(PaymentMethod.CARD, s.total, "EUR")
    s.post(1, NOW)
    doc = render_receipt(s, SHOP, columns, as_invoice=as_invoice)
    rows = [b.text for b in doc.blocks if isinstance(b, Text)]
    first = next(i for i, r in enumerate(rows) if r.startswith("  Gravur: Anna"))
    assert any("Kaffee" in r for r in rows[max(0, first - 2) : first])
    part = []
    for r in rows[first:]:
        if not r.startswith("  ") or len(" ".join([*part, r.strip()])) > len(NOTE):
            break
        assert len(r) <= columns
        part.append(r.strip())
    assert " ".join(part) == NOTE
