"""What a printed invoice must say by German VAT law, through a real daemon: the storno
of an invoiced sale names the invoice it cancels (number and date, § 14 (4) UStG with
§ 31 (5) UStDV) and its recipient; a foreign-currency invoice states the VAT in EUR
(§ 16 (6) UStG)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from posd.client import PosdClient, new_request_id
from posd.v1 import common_pb2, sale_pb2, shop_pb2

from tests.conftest import Running, running_daemon
from tests.support.fullsale import (
    customer,
    import_customers,
    import_items,
    item,
    printed,
    update_shop,
)

CASH, CARD = common_pb2.PAYMENT_METHOD_CASH, common_pb2.PAYMENT_METHOD_CARD
REDUCED = common_pb2.VAT_CATEGORY_REDUCED


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    return pos.call(getattr(pos.sales, rpc), request_type(request_id=new_request_id(), **fields))


def seed(pos: PosdClient) -> None:
    import_items(
        pos,
        item("COFFEE", "Kaffee", 899),
        item("ROLL", "Brötchen", 35, vat=REDUCED),
        item("TV", "Fernseher", 49900),
    )
    import_customers(
        pos,
        customer(
            "B1",
            "Bau GmbH",
            company="Bau GmbH",
            street="Hauptstr. 1",
            postal_code="10115",
            city="Berlin",
            country_code="DE",
            vat_id="DE999999999",
        ),
        customer("P1", "Erika Muster", street="Weg 2", postal_code="20095", city="Hamburg"),
        customer(
            "CH2",
            "Urs Meier",
            street="Bahnhofstr. 3",
            postal_code="8001",
            city="Zürich",
            country_code="CH",
            default_currency_code="CHF",
        ),
    )


def storno_document(running: Running) -> str:
    """The printed storno document (the printer's output is cut between documents)."""
    text = printed(running, "STORNO zu ")
    return next(doc for doc in text.split("======== cut ========") if "STORNO zu " in doc)


def test_storno_of_an_invoice_names_the_invoice_it_cancels(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    big = pos.create_sale().sale_id
    pos.add_line(big, item_id="TV")
    pos.set_customer(big, "P1")
    pos.add_payment(big, CARD, 49900)
    posted = pos.post_sale(big)
    assert posted.document_type == shop_pb2.DOCUMENT_TYPE_INVOICE
    day = posted.post_time.ToDatetime().strftime("%d.%m.%Y")
    text = printed(running, "Rechnungs-Nr. REG-1-1")
    storno = call(pos, "ReverseReceipt", sale_id=big, reason="Fehlbon").reversal
    text = storno_document(running)
    assert f"Rechnungs-Nr. REG-1-{storno.receipt_number}" in text
    # the credit note names the invoice it cancels by its number and date: "Beleg 1"
    # alone is not the invoice number, and which register's Beleg 1 it is the paper
    # does not say
    assert f"zu Rechnung REG-1-1 vom {day}" in text
    assert "Erika Muster" in text and "20095 Hamburg" in text


def test_storno_of_an_invoice_issued_later_is_a_credit_note_to_its_recipient(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="COFFEE")
    pos.add_payment(sid, CASH, 1000)
    receipt = pos.post_sale(sid)
    day = receipt.post_time.ToDatetime().strftime("%d.%m.%Y")
    call(pos, "PrintInvoice", sale_id=sid, customer_number="B1")
    printed(running, "Rechnungs-Nr. REG-1-1")
    storno = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
    tail = storno_document(running)
    # the invoice showed 1.44 EUR VAT to Bau GmbH (which may deduct it): its storno is
    # a credit note to Bau GmbH naming that invoice, not an anonymous storno receipt
    assert f"Rechnungs-Nr. REG-1-{storno.receipt_number}" in tail
    assert f"zu Rechnung REG-1-1 vom {day}" in tail
    assert "Bau GmbH" in tail and "USt-IdNr. DE999999999" in tail


def test_foreign_currency_invoice_states_the_vat_in_eur(running: Running, pos: PosdClient) -> None:
    seed(pos)
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.9412")])
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="TV")
    pos.add_line(sid, item_id="ROLL", quantity="10")
    sale = pos.set_customer(sid, "CH2", recalculate_lines=False)
    assert sale.currency_code == "CHF"
    pos.add_payment(sid, CARD, sale.total.amount_minor, currency="CHF")
    posted = pos.post_sale(sid)
    assert posted.document_type == shop_pb2.DOCUMENT_TYPE_INVOICE
    text = printed(running, "Rechnungs-Nr. REG-1-1")
    # 499.00 EUR -> 469.66 CHF, VAT 74.99 CHF -> 79.67 EUR; 3.50 EUR -> 3.29 CHF, VAT
    # 0.22 CHF -> 0.23 EUR: the tax per rate in EUR, as the Z report books it
    taxes = {v.vat_rate: v.tax.amount_minor for v in posted.vat_totals}
    assert taxes
    assert "USt in EUR" in text
    assert "A 19%" in text.split("USt in EUR", 1)[1]
    assert "79,67 EUR" in text.split("USt in EUR", 1)[1]


class MovableClock:
    """The daemon's clock, moved on by the test (days pass between sale and invoice)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_an_invoice_issued_days_later_is_dated_when_issued(tmp_path: Path) -> None:
    clock = MovableClock()
    with running_daemon(tmp_path / "state", clock=clock) as running, running.client() as pos:
        seed(pos)
        sid = pos.create_sale().sale_id
        pos.add_line(sid, item_id="COFFEE")
        pos.add_payment(sid, CASH, 1000)
        supplied = pos.post_sale(sid).post_time.ToDatetime()
        clock.offset = timedelta(days=3)
        call(pos, "PrintInvoice", sale_id=sid, customer_number="B1")
        text = printed(running, "Rechnungs-Nr. REG-1-1")
        text = text[text.rindex("RECHNUNG") :]
        # the invoice's date is the day it was issued (§ 14 (4) Nr. 3 UStG), the day
        # of supply the day of the sale (Nr. 6): three days apart, both on the paper
        issued = (supplied + timedelta(days=3)).strftime("%d.%m.%Y")
        number_line = next(ln for ln in text.splitlines() if "Rechnungs-Nr." in ln)
        assert number_line.endswith(issued)
        assert f"Leistungsdatum {supplied.strftime('%d.%m.%Y')}" in text
        # its storno names the invoice by the date the invoice carries
        storno = call(pos, "ReverseReceipt", sale_id=sid, reason="Fehlbon").reversal
        assert storno.receipt_number == 2
        assert f"zu Rechnung REG-1-1 vom {issued}" in storno_document(running)
