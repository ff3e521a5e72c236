"""Training sales (Schulungsmodus): signed as AVTraining, printed as training receipts,
never turnover (no drawer money, no stock, not in the Z totals), exported as AVTraining."""

from __future__ import annotations

import sqlite3
import time

from posd.client import PosdClient, new_request_id
from posd.v1 import common_pb2, sale_pb2, shop_pb2

from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import cents, read_export
from tests.support.cash import close_as_expected
from tests.support.fullsale import update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH


def sell(pos: PosdClient, *, training: bool) -> sale_pb2.Sale:
    s = pos.call(
        pos.sales.CreateSale,
        sale_pb2.CreateSaleRequest(request_id=new_request_id(), training=training),
    ).sale
    assert s.training is training
    pos.add_line(s.sale_id, item_id="A", quantity="2")
    pos.add_payment(s.sale_id, CASH, 2000)
    return pos.post_sale(s.sale_id)


def test_training_sales_are_signed_printed_and_never_turnover(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("A", "Kaffee", 899)
    dc.open_shift([])
    real = sell(pos, training=False)
    training = sell(pos, training=True)

    assert real.tse.process_data.startswith("Beleg^")
    assert training.tse.state == "SIGNED"
    assert training.tse.process_data == "AVTraining^17.98_0.00_0.00_0.00_0.00^17.98:Bar"
    assert training.receipt_number == real.receipt_number + 1  # one gapless numbering

    db = day.running.config.database_path
    with sqlite3.connect(db) as c:
        drawer = c.execute(
            "SELECT COUNT(*) FROM drawer_entries WHERE sale_id = ?", (training.sale_id,)
        ).fetchone()[0]
        kicks = c.execute(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'drawer' AND ref = ?", (training.sale_id,)
        ).fetchone()[0]
    assert (drawer, kicks) == (0, 0)  # no money moved, the drawer stays shut

    out = day.running.config.state_dir / "printer.txt"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "TRAININGSBELEG" not in (
        out.read_text("utf-8") if out.exists() else ""
    ):
        time.sleep(0.02)
    assert "TRAININGSBELEG" in out.read_text("utf-8")

    # exactly the real sale's cash is in the drawer: counting it leaves no difference
    counted = PosdClient.cash_counts({1000: 1, 500: 1, 200: 1, 50: 1, 20: 2, 5: 1, 2: 1, 1: 1})
    closed = dc.close_shift(counted)
    assert sum(c.total_minor for c in closed.closing_counts) == real.total.amount_minor
    z = dc.z_closing()
    assert z.report.cash_movements == 0  # no DifferenzSollIst: training moved no money
    assert z.report.receipts == 1
    assert z.report.training == 1
    assert z.report.payments_total.amount_minor == real.total.amount_minor
    assert sum(v.gross.amount_minor for v in z.report.vat_totals) == real.total.amount_minor

    tables, _ = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    by_type = {t["BON_TYP"]: t for t in tables["transactions.csv"]}
    assert cents(by_type["AVTraining"]["UMS_BRUTTO"]) == training.total.amount_minor
    assert cents(by_type["Beleg"]["UMS_BRUTTO"]) == real.total.amount_minor
    train_bon = by_type["AVTraining"]["BON_ID"]
    # its payment as the receipt states and the TSE signed it (17.98:Bar), never the Z's
    paid = [r for r in tables["datapayment.csv"] if r["BON_ID"] == train_bon]
    assert [(r["ZAHLART_TYP"], cents(r["BASISWAEH_BETRAG"])) for r in paid] == [("Bar", 1798)]
    (cp,) = tables["cashpointclosing.csv"]
    assert cents(cp["Z_SE_ZAHLUNGEN"]) == real.total.amount_minor


def test_a_training_receipt_is_exported_as_the_tse_signed_it(day: Day) -> None:
    """8.99 paid in cash where cash is rounded to 0.05: the TSE signs AVTraining with
    8.99 + 0.01 rounding and 9.00:Bar. The export said UMS_BRUTTO 8.99 (without the
    rounding its own VAT rows carry) and had no payment for it."""
    pos, dc = day.pos, day.day
    pos.upsert_item("A", "Kaffee", 899)
    step = [shop_pb2.CashRounding(currency_code="EUR", increment_minor=5)]
    update_shop(pos, cash_rounding=step)
    dc.open_shift([])
    s = pos.call(
        pos.sales.CreateSale, sale_pb2.CreateSaleRequest(request_id=new_request_id(), training=True)
    ).sale
    pos.add_line(s.sale_id, item_id="A")
    pos.add_payment(s.sale_id, CASH, 0)  # the open amount, rounded: 9.00
    training = pos.post_sale(s.sale_id)
    assert training.tse.process_data == "AVTraining^8.99_0.00_0.00_0.00_0.01^9.00:Bar"
    close_as_expected(dc)
    z = dc.z_closing()
    assert (z.report.training, z.report.payments_total.amount_minor) == (1, 0)
    tables, _ = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    (head,) = tables["transactions.csv"]
    assert (head["BON_TYP"], cents(head["UMS_BRUTTO"])) == ("AVTraining", 900)
    vat = {r["UST_SCHLUESSEL"]: cents(r["BON_BRUTTO"]) for r in tables["transactions_vat.csv"]}
    assert vat == {"1": 899, "5": 1}
    paid = [(r["ZAHLART_TYP"], cents(r["BASISWAEH_BETRAG"])) for r in tables["datapayment.csv"]]
    assert paid == [("Bar", 900)]
    assert not [r for r in tables["payment.csv"] if cents(r["Z_ZAHLART_BETRAG"])]
