"""Open items (back-office invoices) paid at the register, through the gRPC API on real
SQLite: import and listing, AddInvoicePayment (partial, whole, refused), two sales on
one invoice, posting and storno, training, processData, the Z, DSFinV-K and DATEV."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from posd.client import PosdClient, PosdError, new_request_id
from posd.v1 import common_pb2, customer_pb2, sale_pb2, shop_pb2

from tests.conftest import Running
from tests.integration.api.test_master_data import run_posctl
from tests.integration.day.test_full_day import cents, read_export
from tests.support.fullsale import customer, import_customers, import_items, item, printed

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD
OPEN = customer_pb2.OPEN_ITEM_STATE_OPEN
PAID = customer_pb2.OPEN_ITEM_STATE_PAID


def money(minor: int, currency: str = "EUR") -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency_code=currency)


def open_item(
    number: str,
    customer_number: str,
    open_minor: int,
    original: int | None = None,
    *,
    currency: str = "EUR",
    invoice_date: str = "2024-05-02",
    due_date: str = "2024-06-01",
    text: str = "",
) -> customer_pb2.OpenItem:
    return customer_pb2.OpenItem(
        invoice_number=number,
        customer_number=customer_number,
        amount_open=money(open_minor, currency),
        original_amount=money(open_minor if original is None else original, currency),
        invoice_date=invoice_date,
        due_date=due_date,
        text=text,
    )


def import_open_items(
    pos: PosdClient, *items: customer_pb2.OpenItem, skip: bool = False
) -> common_pb2.ImportSummary:
    req = customer_pb2.ImportOpenItemsRequest(
        request_id=new_request_id(), open_items=list(items), skip_invalid_rows=skip
    )
    return pos.call(pos.customers.ImportOpenItems, req).summary


def get_item(pos: PosdClient, number: str) -> customer_pb2.OpenItem:
    req = customer_pb2.GetOpenItemRequest(invoice_number=number)
    return pos.call(pos.customers.GetOpenItem, req).open_item


def list_items(pos: PosdClient, **kw: Any) -> customer_pb2.ListOpenItemsResponse:
    return pos.call(pos.customers.ListOpenItems, customer_pb2.ListOpenItemsRequest(**kw))


def pay_invoice(
    pos: PosdClient, sale_id: str, number: str, amount: int = 0, currency: str = "EUR"
) -> sale_pb2.AddInvoicePaymentResponse:
    req = sale_pb2.AddInvoicePaymentRequest(
        request_id=new_request_id(), sale_id=sale_id, invoice_number=number
    )
    if amount:
        req.amount.CopyFrom(money(amount, currency))
    return pos.call(pos.sales.AddInvoicePayment, req)


def refused(fn: Any, *args: Any, **kw: Any) -> PosdError:
    with pytest.raises(PosdError) as err:
        fn(*args, **kw)
    return err.value


def rows(running: Running, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(running.config.database_path) as conn:
        return conn.execute(sql, args).fetchall()


def post_record(running: Running, receipt_number: int) -> Any:
    """The journal record of the post of receipt ``receipt_number``."""
    (payload,) = rows(
        running,
        "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' AND ref = ?",
        f"receipt:{receipt_number}",
    )
    return json.loads(payload[0])


def seed(pos: PosdClient) -> None:
    import_customers(
        pos,
        customer("K1", "Erika Muster", street="Hauptstr. 1", postal_code="10115", city="Berlin"),
        customer("K2", "Max Beispiel"),
    )
    summary = import_open_items(
        pos,
        open_item("R-100", "K1", 10000, text="Lieferung Mai"),
        open_item("R-200", "K1", 4000, 5000),
        open_item("R-300", "K2", 2500),
        open_item("R-CHF", "K1", 3000, currency="CHF"),
    )
    assert summary.committed and summary.created == 4, summary


def cash_post(pos: PosdClient, sale_id: str, amount: int) -> sale_pb2.Sale:
    pos.add_payment(sale_id, CASH, amount)
    return pos.post_sale(sale_id)


# -- master data ----------------------------------------------------------------------------


def test_import_reports_rejected_rows_and_imports_nothing_half(pos: PosdClient) -> None:
    import_customers(pos, customer("K1", "Erika Muster"))
    bad = [
        open_item("R-1", "K1", 1000),
        open_item("R-2", "NOBODY", 1000),  # unknown customer
        open_item("R-3", "K1", 2000, 1000),  # more open than the invoice
        open_item("R-4", "K1", 1000, invoice_date="2024-13-01"),
        open_item("R-1", "K1", 500),  # the same invoice twice
        open_item("R-5", "K1", 1000, currency="EU1"),  # not a currency code
        customer_pb2.OpenItem(invoice_number="R-6", customer_number="K1"),  # no amounts
    ]
    summary = import_open_items(pos, *bad)
    assert not summary.committed and summary.imported == 0
    reasons = {r.row: r.reason for r in summary.rejections}
    assert reasons == {
        2: "CUSTOMER_NOT_FOUND",
        3: "INVALID_AMOUNT",
        4: "INVALID_DATE",
        5: "DUPLICATE_ROW",
        6: "UNKNOWN_CURRENCY",
        7: "INVALID_ARGUMENT",
    }
    fields = {r.row: r.field for r in summary.rejections}
    assert fields[3] == "open_item.amount_open.amount_minor"
    assert fields[7] == "open_item.amount_open"
    assert list_items(pos).open_items == []  # all or nothing: nothing imported

    summary = import_open_items(pos, *bad, skip=True)
    assert summary.committed and (summary.imported, summary.created) == (1, 1)
    assert [i.invoice_number for i in list_items(pos).open_items] == ["R-1"]


def test_posctl_imports_open_items_from_csv_and_json(
    running: Running, pos: PosdClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_customers(pos, customer("K1", "Erika Muster"), customer("K2", "Max Beispiel"))
    path = tmp_path / "open_items.csv"
    path.write_text(
        "invoice_number;customer_number;amount_open;original_amount;invoice_date;due_date;text\n"
        "RE-1;K1;119,00;238,00;2024-05-02;2024-06-01;Lieferung Mai\n"
        "RE-2;K2;50;;2024-05-03;;\n"
        "RE-3;K9;10,00;;2024-05-03;;\n"  # unknown customer
        "RE-4;K1;1,234;;2024-05-03;;\n",  # three decimals: no EUR amount
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "open-items", str(path))
    assert code == 1
    assert "NOTHING imported" in out
    assert "line 4 [RE-3]: CUSTOMER_NOT_FOUND" in out
    assert "line 5: PARSE_ERROR: amount_open" in out
    assert list_items(pos).open_items == []

    code, out = run_posctl(running, capsys, "import", "open-items", str(path), "--skip-invalid")
    assert code == 1 and "imported 2 open-items (2 new, 0 replaced)" in out, out
    re1 = get_item(pos, "RE-1")
    assert (re1.amount_open.amount_minor, re1.original_amount.amount_minor) == (11900, 23800)
    assert (re1.due_date, re1.text) == ("2024-06-01", "Lieferung Mai")
    re2 = get_item(pos, "RE-2")
    assert (re2.amount_open.amount_minor, re2.original_amount.amount_minor) == (5000, 5000)

    data = tmp_path / "open_items.json"
    data.write_text(
        json.dumps(
            {
                "open_items": [
                    {
                        "invoiceNumber": "RE-2",
                        "customerNumber": "K2",
                        "amountOpen": {"amountMinor": "2000", "currencyCode": "EUR"},
                        "originalAmount": {"amountMinor": "5000", "currencyCode": "EUR"},
                        "invoiceDate": "2024-05-03",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    code, out = run_posctl(running, capsys, "import", "open-items", str(data))
    assert code == 0 and "imported 1 open-items (0 new, 1 replaced)" in out, out
    assert get_item(pos, "RE-2").amount_open.amount_minor == 2000


def test_upsert_get_and_list_by_customer_and_state_with_pages(pos: PosdClient) -> None:
    seed(pos)
    req = customer_pb2.UpsertOpenItemRequest(
        request_id=new_request_id(), open_item=open_item("R-050", "K2", 0, 700)
    )
    first = pos.call(pos.customers.UpsertOpenItem, req)
    assert first.created and first.open_item.state == PAID
    again = pos.call(pos.customers.UpsertOpenItem, req)  # the same request id: same answer
    assert again == first
    replaced = pos.call(
        pos.customers.UpsertOpenItem,
        customer_pb2.UpsertOpenItemRequest(
            request_id=new_request_id(), open_item=open_item("R-050", "K2", 300, 700)
        ),
    )
    assert not replaced.created and replaced.open_item.amount_open.amount_minor == 300
    got = get_item(pos, "R-100")
    assert (got.customer_number, got.amount_open.amount_minor, got.text) == (
        "K1",
        10000,
        "Lieferung Mai",
    )
    assert (got.invoice_date, got.due_date, got.state) == ("2024-05-02", "2024-06-01", OPEN)
    e = refused(get_item, pos, "R-999")
    assert (e.code, e.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")

    k1 = list_items(pos, customer_number="K1")
    assert [i.invoice_number for i in k1.open_items] == ["R-100", "R-200", "R-CHF"]
    assert k1.next_page_token == ""
    pos.call(
        pos.customers.UpsertOpenItem,
        customer_pb2.UpsertOpenItemRequest(
            request_id=new_request_id(), open_item=open_item("R-300", "K2", 0, 2500)
        ),
    )
    assert [i.invoice_number for i in list_items(pos, state=PAID).open_items] == ["R-300"]
    assert [
        i.invoice_number for i in list_items(pos, customer_number="K2", state=OPEN).open_items
    ] == ["R-050"]
    seen: list[str] = []
    token = ""
    while True:
        page = list_items(pos, page_size=2, page_token=token)
        assert len(page.open_items) <= 2
        seen += [i.invoice_number for i in page.open_items]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["R-050", "R-100", "R-200", "R-300", "R-CHF"]
    e = refused(list_items, pos, page_token="garbage")
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT


def test_cashier_may_not_import_open_items(running: Running, pos: PosdClient) -> None:
    seed(pos)
    with running.client("2", "0000") as cashier:
        e = refused(import_open_items, cashier, open_item("R-9", "K1", 100))
        assert e.code == grpc.StatusCode.PERMISSION_DENIED


# -- paying in a sale -------------------------------------------------------------------------


def test_partial_then_whole_payment_posts_journals_and_prints(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    sid = pos.create_sale().sale_id
    r = pay_invoice(pos, sid, "R-100", 3000)
    (line,) = r.sale.lines
    assert line.line_id == r.line_id
    assert (line.kind, line.invoice_number, line.name) == (
        sale_pb2.LINE_KIND_INVOICE_PAYMENT,
        "R-100",
        "Zahlung Rechnung R-100",
    )
    assert line.vat_category == common_pb2.VAT_CATEGORY_NOT_TAXABLE and line.vat_rate == "0"
    assert line.amount.amount_minor == 3000 and r.sale.total.amount_minor == 3000
    assert r.sale.customer.customer_number == "K1"  # the invoice's customer, the sale had none
    held = get_item(pos, "R-100")
    assert (held.amount_open.amount_minor, held.amount_held.amount_minor) == (10000, 3000)

    posted = cash_post(pos, sid, 5000)
    assert posted.state == sale_pb2.SALE_STATE_POSTED and posted.change.amount_minor == 2000
    # not taxable: the fifth processData slot, as vouchers are
    assert posted.tse.process_data == "Beleg^0.00_0.00_0.00_0.00_30.00^30.00:Bar"
    after = get_item(pos, "R-100")
    assert (after.amount_open.amount_minor, after.amount_held.amount_minor) == (7000, 0)
    assert after.state == OPEN
    (payload,) = [
        json.loads(p)
        for (p,) in rows(
            running, "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' AND ref = ?",
            f"receipt:{posted.receipt_number}",
        )
    ]  # fmt: skip
    assert payload["invoice_payments"] == [
        {"invoice_number": "R-100", "amount": 3000, "currency": "EUR", "amount_open_after": 7000}
    ]
    text = printed(running, "Zahlung Rechnung R-100")
    assert "30,00" in text

    # 0 = all that is open; a repeated request (same request_id) adds nothing
    sid2 = pos.create_sale().sale_id
    req = sale_pb2.AddInvoicePaymentRequest(
        request_id=new_request_id(), sale_id=sid2, invoice_number="R-100"
    )
    r2 = pos.call(pos.sales.AddInvoicePayment, req)
    assert pos.call(pos.sales.AddInvoicePayment, req) == r2
    assert len(pos.get_sale(sid2).lines) == 1
    assert r2.sale.lines[0].amount.amount_minor == 7000
    pos.add_payment(sid2, CARD, 7000)
    pos.post_sale(sid2)
    done = get_item(pos, "R-100")
    assert (done.amount_open.amount_minor, done.state) == (0, PAID)
    e = refused(pay_invoice, pos, pos.create_sale().sale_id, "R-100")
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_NOT_OPEN")


def test_bad_payments_are_refused_and_change_nothing(pos: PosdClient) -> None:
    seed(pos)
    import_items(pos, item("COFFEE", "Kaffee", 899))
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="COFFEE")

    def unchanged() -> None:
        sale = pos.get_sale(sid)
        assert [ln.item_id for ln in sale.lines] == ["COFFEE"]

    e = refused(pay_invoice, pos, sid, "R-999")
    assert (e.code, e.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    e = refused(pay_invoice, pos, sid, "R-200", 4001)
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_AMOUNT_EXCEEDED")
    assert e.metadata["available_minor"] == "4000"
    unchanged()
    e = refused(pay_invoice, pos, sid, "R-200", 1000, "CHF")  # amount in another currency
    assert (e.code, e.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CURRENCY_MISMATCH")
    assert e.field_violations[0][0] == "amount.currency_code"
    e = refused(pay_invoice, pos, sid, "R-CHF")  # an invoice in CHF, the sale in EUR
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CURRENCY_MISMATCH")
    e = refused(pay_invoice, pos, sid, "bad code")
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.field_violations[0][0] == "invoice_number"
    unchanged()
    assert pos.get_sale(sid).customer.anonymous  # a refused payment set no customer

    # a sale of another customer cannot pay K1's invoice
    pos.set_customer(sid, "K2", recalculate_lines=False)
    e = refused(pay_invoice, pos, sid, "R-100", 100)
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_CUSTOMER_MISMATCH")
    unchanged()

    # once it pays an invoice, the sale keeps the invoice's customer and currency
    sid2 = pos.create_sale().sale_id
    pay_invoice(pos, sid2, "R-100", 100)
    e = refused(pos.set_customer, sid2, "K2", recalculate_lines=False)
    assert e.reason == "INVOICE_CUSTOMER_MISMATCH"
    e = refused(
        pos.call,
        pos.sales.SetCurrency,
        sale_pb2.SetCurrencyRequest(request_id=new_request_id(), sale_id=sid2, currency_code="CHF"),
    )
    assert e.reason == "CURRENCY_MISMATCH"
    assert pos.get_sale(sid2).customer.customer_number == "K1"


def test_two_sales_on_one_invoice_second_refused_at_add_and_at_post(pos: PosdClient) -> None:
    seed(pos)
    a = pos.create_sale().sale_id
    pay_invoice(pos, a, "R-100", 6000)
    b = pos.create_sale().sale_id
    e = refused(pay_invoice, pos, b, "R-100", 5000)  # 6000 of 10000 are held by sale a
    assert e.reason == "INVOICE_AMOUNT_EXCEEDED" and e.metadata["available_minor"] == "4000"
    rb = pay_invoice(pos, b, "R-100")  # the rest
    assert rb.sale.lines[0].amount.amount_minor == 4000
    assert get_item(pos, "R-100").amount_held.amount_minor == 10000
    c = pos.create_sale().sale_id
    assert refused(pay_invoice, pos, c, "R-100").reason == "INVOICE_NOT_OPEN"

    # the back office meanwhile booked a bank transfer: 5000 are open now
    pos.call(
        pos.customers.UpsertOpenItem,
        customer_pb2.UpsertOpenItemRequest(
            request_id=new_request_id(), open_item=open_item("R-100", "K1", 5000, 10000)
        ),
    )
    pos.add_payment(a, CASH, 6000)
    e = refused(pos.post_sale, a)  # re-checked at posting, before the TSE signs
    assert (e.code, e.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_AMOUNT_EXCEEDED")
    assert pos.get_sale(a).state == sale_pb2.SALE_STATE_OPEN
    assert get_item(pos, "R-100").amount_open.amount_minor == 5000
    # sale b posts its 4000; a, with its line removed, pays 1000 of what is left
    pos.add_payment(b, CASH, 4000)
    pos.post_sale(b)
    assert get_item(pos, "R-100").amount_open.amount_minor == 1000
    line_id = pos.get_sale(a).lines[0].line_id
    pos.remove_line(a, line_id)
    assert get_item(pos, "R-100").amount_held.amount_minor == 0
    pos.remove_payment(a, pos.get_sale(a).payments[0].payment_id)
    pay_invoice(pos, a, "R-100", 1000)
    cash_post(pos, a, 1000)
    assert get_item(pos, "R-100").state == PAID


def test_cancelled_sale_releases_and_storno_restores_training_never_touches(
    pos: PosdClient,
) -> None:
    seed(pos)
    a = pos.create_sale().sale_id
    pay_invoice(pos, a, "R-300")
    assert get_item(pos, "R-300").amount_held.amount_minor == 2500
    pos.cancel_sale(a, "Kunde ging")
    assert get_item(pos, "R-300").amount_held.amount_minor == 0

    b = pos.create_sale().sale_id
    pay_invoice(pos, b, "R-300")
    posted = cash_post(pos, b, 2500)
    assert get_item(pos, "R-300").state == PAID
    rev = pos.call(
        pos.sales.ReverseReceipt,
        sale_pb2.ReverseReceiptRequest(request_id=new_request_id(), sale_id=b, reason="Irrtum"),
    ).reversal
    (line,) = rev.lines
    assert line.kind == sale_pb2.LINE_KIND_INVOICE_PAYMENT and line.invoice_number == "R-300"
    assert (
        line.amount.amount_minor == -2500 and rev.reverses_receipt_number == posted.receipt_number
    )
    restored = get_item(pos, "R-300")
    assert (restored.amount_open.amount_minor, restored.state) == (2500, OPEN)

    # training: may rehearse a payment, never holds or reduces the open amount
    t = pos.call(
        pos.sales.CreateSale, sale_pb2.CreateSaleRequest(request_id=new_request_id(), training=True)
    ).sale.sale_id
    pay_invoice(pos, t, "R-300")
    assert get_item(pos, "R-300").amount_held.amount_minor == 0
    cash_post(pos, t, 2500)
    assert get_item(pos, "R-300").amount_open.amount_minor == 2500


# -- Z, DSFinV-K, DATEV -------------------------------------------------------------------------


def test_z_dsfinvk_and_datev_book_forderungsaufloesung_not_turnover(pos: PosdClient) -> None:
    seed(pos)
    import_items(pos, item("COFFEE", "Kaffee", 1190))
    start = datetime.now(UTC) - timedelta(minutes=1)
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="COFFEE")
    pay_invoice(pos, sid, "R-200", 2500)
    posted = cash_post(pos, sid, 5000)
    assert posted.tse.process_data == "Beleg^11.90_0.00_0.00_0.00_25.00^36.90:Bar"

    x = pos.x_report()
    cases = {c.business_case: c for c in x.business_cases}
    assert cases["INVOICE_PAYMENTS"].gv_typ == "Forderungsaufloesung"
    assert (
        cases["INVOICE_PAYMENTS"].gross.amount_minor,
        cases["INVOICE_PAYMENTS"].tax.amount_minor,
    ) == (2500, 0)
    assert cases["SALES"].gross.amount_minor == 1190  # the invoice payment is no turnover

    pos.close_shift(PosdClient.cash_counts(total=3690))
    z = pos.z_closing()
    zcases = {c.business_case: c for c in z.report.business_cases}
    assert zcases["INVOICE_PAYMENTS"].gross.amount_minor == 2500
    assert zcases["SALES"].gross.amount_minor == 1190

    tables, _ = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    lines = {r["ARTIKELTEXT"]: r for r in tables["lines.csv"]}
    inv = lines["Zahlung Rechnung R-200"]
    assert (inv["GV_TYP"], inv["ART_NR"]) == ("Forderungsaufloesung", "R-200")
    assert lines["Kaffee"]["GV_TYP"] == "Umsatz"
    vat = {(r["BON_ID"], r["POS_ZEILE"]): r for r in tables["lines_vat.csv"]}
    inv_vat = vat[(inv["BON_ID"], inv["POS_ZEILE"])]
    assert (inv_vat["UST_SCHLUESSEL"], cents(inv_vat["POS_BRUTTO"]), cents(inv_vat["POS_UST"])) == (
        "5",
        2500,
        0,
    )
    gv = {(r["GV_TYP"], r["UST_SCHLUESSEL"]): r for r in tables["businesscases.csv"]}
    row = gv[("Forderungsaufloesung", "5")]
    assert (cents(row["Z_UMS_BRUTTO"]), cents(row["Z_UMS_NETTO"]), cents(row["Z_UST"])) == (
        2500,
        2500,
        0,
    )
    assert cents(gv[("Umsatz", "1")]["Z_UMS_BRUTTO"]) == 1190
    assert ("Umsatz", "5") not in gv

    # DATEV Kassenbuch online, the extended cash book (every receipt)
    files = pos.export_cash_book(start, datetime.now(UTC) + timedelta(minutes=1))
    text = b"".join(f.content for f in files).decode("utf-8")
    booked = [ln.split(";") for ln in text.splitlines()[1:] if f'"{posted.receipt_number}"' in ln]
    by_account = {r[7]: r for r in booked}
    assert by_account["1400"][1] == "+25,00"  # receivables (SKR03 1400)
    assert by_account["8400"][1] == "+11,90"
    assert "Zahlung Rechnung R-200" in by_account["1400"][4]
    assert set(by_account) == {"1400", "8400"}  # nothing of it as not-taxable revenue


def test_a_storno_never_raises_the_open_amount_above_the_invoice(pos: PosdClient) -> None:
    """Paid at the register, re-imported by a stale back-office run as open again, then
    the register's sale reversed: the invoice is open for its amount once, not twice."""
    seed(pos)
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-300")
    cash_post(pos, sid, 2500)
    paid = get_item(pos, "R-300")
    assert paid.amount_open.amount_minor == 0
    import_open_items(pos, open_item("R-300", paid.customer_number, 2500))
    pos.call(
        pos.sales.ReverseReceipt,
        sale_pb2.ReverseReceiptRequest(request_id=new_request_id(), sale_id=sid, reason="Irrtum"),
    )
    after = get_item(pos, "R-300")
    assert (after.amount_open.amount_minor, after.original_amount.amount_minor) == (2500, 2500)


def test_paying_an_invoice_above_the_simplified_invoice_limit_is_a_receipt(
    pos: PosdClient,
) -> None:
    """A payment on account is no supply (§33 UStDV counts the supply's price): 900.00
    paid on an invoice by a customer without an address is a receipt, not an invoice
    the register cannot issue; goods beside it still count."""
    seed(pos)
    import_open_items(pos, open_item("R-900", "K2", 90000))
    import_items(pos, item("TV", "Fernseher", 30000))
    sid = pos.create_sale().sale_id
    s = pay_invoice(pos, sid, "R-900").sale
    assert s.document_type == shop_pb2.DOCUMENT_TYPE_RECEIPT
    posted = cash_post(pos, sid, 90000)
    assert posted.document_type == shop_pb2.DOCUMENT_TYPE_RECEIPT
    assert get_item(pos, "R-900").state == PAID
    # 300.00 of goods beside a small payment on account: the goods need an invoice
    import_open_items(pos, open_item("R-901", "K2", 1000))
    sid = pos.create_sale().sale_id
    pay_invoice(pos, sid, "R-901")
    pos.add_line(sid, item_id="TV")
    assert pos.get_sale(sid).document_type == shop_pb2.DOCUMENT_TYPE_INVOICE
