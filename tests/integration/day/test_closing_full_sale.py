"""The full sale, part 2, in the day's closing and the DSFinV-K export, on a real SQLite
file: every payment method, refunds, cash rounding, foreign cash with change in the
local currency, returns, a storno, shop discounts, vouchers sold and redeemed.

Sales are built with the Sale aggregate and written with the store layer (as PostSale
writes them: the aggregate, its posted VAT totals, its drawer entries), then the shift
is closed and the Z made by DayCommands, and the export written by exports.dsfinvk.
"""

from __future__ import annotations

import io
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from posd_daemon.domain.catalog import ItemType
from posd_daemon.domain.closing import ClosingReport
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.shift import count_line
from posd_daemon.domain.vat import VatCategory
from posd_daemon.exports import dsfinvk
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.store import day as day_store
from posd_daemon.store import sales as sale_store
from posd_daemon.store.database import open_database, transaction
from posd_daemon.store.timeutil import to_db
from tests.integration.day.test_full_day import cents, read_export

NOW = datetime(2024, 5, 31, 12, tzinfo=UTC)
MANAGER = Operator("1", "M", "manager", frozenset(Permission))
N19 = (VatCategory.NORMAL, Decimal(19))
R7 = (VatCategory.REDUCED, Decimal(7))
FREE = (VatCategory.NOT_TAXABLE, Decimal(0))


class Register:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.number = 0
        self.ids: dict[str, int] = {}

    def sale(self, sale_id: str, currency: str = "EUR", rate: str = "1") -> Sale:
        return Sale(
            sale_id,
            "REG-1",
            "1",
            currency,
            NOW,
            local_currency="EUR",
            exchange_rate=Decimal(rate),
        )

    def post(self, sale: Sale) -> Sale:
        """What PostSale writes: the aggregate, its totals and its drawer entries (the
        same entries as services/sales.SaleCommands._drawer_entries)."""
        self.number += 1
        sale.post(self.number, NOW)
        with transaction(self.conn):
            sale_store.insert(self.conn, sale)
            sale_store.save_posted_amounts(self.conn, sale)
            local = sale.change_in_local

            def entry(kind: str, method: str, amount: int, currency: str) -> None:
                sale_store.add_drawer_entry(
                    self.conn,
                    register_id="REG-1",
                    sale_id=sale.sale_id,
                    receipt_number=self.number,
                    kind=kind,
                    method=method,
                    amount=amount,
                    currency=currency,
                    when=to_db(NOW),
                )

            for p, kept in sale.kept_amounts():
                entry("SALE_PAYMENT", p.method.value, kept if local else p.amount, sale.currency)
            if local:
                entry("CHANGE_DEPOSIT", "CASH", sale.change, sale.currency)
                entry("CHANGE_PAYOUT", "CASH", -sale.change_local, sale.local_currency)
            elif sale.change:
                entry("CHANGE", "CASH", -sale.change, sale.currency)
        vorgang = day_store.vorgang_of_sale(self.conn, sale.sale_id)
        assert vorgang is not None
        self.ids[sale.sale_id] = vorgang.bon_id
        return sale


def goods(sale: Sale, amount: int, vat: tuple[VatCategory, Decimal], **kw: object) -> None:
    sale.add_fixed_line(
        LineKind.GOODS, name="Ware", amount=amount, vat_category=vat[0], vat_rate=vat[1],
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def day(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, DayCommands, Register]]:
    conn = open_database(tmp_path / "posd.sqlite3")
    cmds = DayCommands(DaySettings("REG-1", "EUR", UTC), lambda: NOW, lambda: None)
    with transaction(conn):
        cmds.open_shift(Tx(conn), MANAGER, [count_line("EUR", 0, 0, 10000)])
    try:
        yield conn, cmds, Register(conn)
    finally:
        conn.close()


def sell_the_day(reg: Register) -> None:
    # A: cash rounded to 0.05: 10.02 due 10.00, 20.00 tendered, 10.00 change
    a = reg.sale("A")
    goods(a, 1002, N19)
    a.add_payment(PaymentMethod.CASH, 2000, "EUR", rounding_step=5)
    assert (a.rounding, a.change) == (-2, 1000)
    reg.post(a)
    # B: a shop discount line, paid by card; F reverses it (storno)
    b = reg.sale("B")
    goods(b, 500, R7)
    b.add_discount_amount(50, "Aktion")
    b.add_payment(PaymentMethod.CARD, 450, "EUR", authorization_code="A1")
    reg.post(b)
    # C: a voucher sold (not taxable), paid online (gateway)
    c = reg.sale("C")
    goods(c, 2500, FREE, item_type=ItemType.VOUCHER, voucher_code="V-1")
    c.add_payment(PaymentMethod.GATEWAY, 2500, "EUR", reference="pp-1")
    reg.post(c)
    # D: the voucher redeemed on goods, the rest by a benefit card
    d = reg.sale("D")
    goods(d, 3000, N19)
    d.add_fixed_line(
        LineKind.VOUCHER_REDEMPTION, name="Gutschein V-1", amount=-2500,
        vat_category=FREE[0], vat_rate=FREE[1], voucher_code="V-1",
    )  # fmt: skip
    d.add_payment(PaymentMethod.BENEFIT, 500, "EUR")
    reg.post(d)
    # E: a return of A's goods, refunded in cash
    e = reg.sale("E")
    e.add_fixed_line(
        LineKind.RETURN, name="Ware", amount=-1002, vat_category=N19[0], vat_rate=N19[1],
        quantity=Decimal(-1), ref_sale_id="A", ref_line_id="1", ref_receipt=1,
    )  # fmt: skip
    e.add_payment(PaymentMethod.CASH, -1002, "EUR")
    reg.post(e)
    # F: storno of B, every amount negated
    f = reg.sale("F")
    f.reverses_sale_id, f.reverses_receipt = "B", 2
    goods(f, -500, R7)
    f.add_fixed_line(LineKind.DISCOUNT, name="Aktion", amount=50, vat_category=R7[0],
                     vat_rate=R7[1])  # fmt: skip
    f.add_payment(PaymentMethod.CARD, -450, "EUR")
    reg.post(f)
    # G: consumer credit, bank transfer and cash on delivery
    g = reg.sale("G")
    goods(g, 15000, N19)
    g.add_payment(PaymentMethod.CONSUMER_CREDIT, 10000, "EUR", contract_number="K-9")
    g.add_payment(PaymentMethod.BANK_TRANSFER, 2000, "EUR")
    g.add_payment(PaymentMethod.CASH_ON_DELIVERY, 3000, "EUR")
    reg.post(g)
    # H: a sale in CHF (0.95 CHF per EUR) paid with 20.00 CHF, change in EUR
    h = reg.sale("H", "CHF", "0.95")
    goods(h, 950, N19)
    h.add_payment(PaymentMethod.CASH, 2000, "CHF")
    h.set_change_currency("EUR")
    reg.post(h)
    assert (h.change, h.change_local) == (1050, 1105)
    # I: a card sale
    i = reg.sale("I")
    goods(i, 1200, N19)
    i.add_payment(PaymentMethod.CARD, 1200, "EUR", authorization_code="A2")
    reg.post(i)


def test_cash_expected_per_currency_counts_the_new_drawer_kinds(
    day: tuple[sqlite3.Connection, DayCommands, Register],
) -> None:
    conn, cmds, reg = day
    sell_the_day(reg)
    plan = cmds.plan_close(conn, MANAGER, [count_line("EUR", 0, 0, 8893)])
    expected = {b.currency: b.expected for b in plan.balances}
    # EUR: float 100.00 + 20.00 - 10.00 change (A) - 10.02 refund (E) - 11.05 payout (H)
    # CHF: the 20.00 tendered stay in the drawer (10.50 kept + 10.50 surplus deposited)
    assert expected == {"EUR": 10000 + 2000 - 1000 - 1002 - 1105, "CHF": 2000}
    by_kind = dict(
        conn.execute(
            "SELECT kind || ':' || currency, SUM(amount) FROM drawer_entries"
            " WHERE sale_id = 'H' GROUP BY kind, currency"
        ).fetchall()
    )
    assert by_kind == {"SALE_PAYMENT:CHF": 950, "CHANGE_DEPOSIT:CHF": 1050,
                       "CHANGE_PAYOUT:EUR": -1105}  # fmt: skip


def closed_day(
    conn: sqlite3.Connection, cmds: DayCommands, reg: Register
) -> tuple[ClosingReport, dict[str, list[dict[str, str]]]]:
    sell_the_day(reg)
    x = cmds.x_report(conn, MANAGER)
    counts = [count_line("EUR", 0, 0, 8893), count_line("CHF", 0, 0, 2000)]
    with transaction(conn):
        cmds.close_shift(Tx(conn), MANAGER, counts)
        z = cmds.z_closing(Tx(conn), MANAGER)
    assert x.payments == z.report.payments and x.cases == z.report.cases
    out = io.BytesIO()
    settings = dsfinvk.ExportSettings("REG-1", "EUR", dsfinvk.Company("Muster"), "test")
    dsfinvk.export(conn, settings, [z.closing], out, parallel=False)
    tables, _ = read_export(out.getvalue())
    return z.report, tables


def test_z_totals_per_payment_method_cards_gateway_and_refunds(
    day: tuple[sqlite3.Connection, DayCommands, Register],
) -> None:
    r, _ = closed_day(*day)
    pays = {(p.method, p.currency): (p.zahlart_typ, p.amount, p.count, p.refunds)
            for p in r.payments}  # fmt: skip
    assert pays == {
        # A kept 10.00, E refunded 10.02, H's change paid out in EUR (no payment)
        ("CASH", "EUR"): ("Bar", 1000 - 1002 - 1105, 2, 1),
        ("CASH", "CHF"): ("Bar", 2000, 1, 0),
        ("CARD", "EUR"): ("Unbar", 450 - 450 + 1200, 3, 1),
        ("CONSUMER_CREDIT", "EUR"): ("Unbar", 10000, 1, 0),
        ("BANK_TRANSFER", "EUR"): ("Unbar", 2000, 1, 0),
        ("CASH_ON_DELIVERY", "EUR"): ("Unbar", 3000, 1, 0),
        ("BENEFIT", "EUR"): ("Guthabenkarte", 500, 1, 0),
    }
    assert [(g.method, g.zahlart_typ, g.amount) for g in r.gateways] == [
        ("GATEWAY", "ElZahlungsdienstleister", 2500)
    ]
    assert r.card_total == 1200  # CARD only, never the gateway
    # CHF at 0.95: 20.00 CHF are 21.05 EUR in the base-currency totals
    chf = next(p for p in r.payments if p.currency == "CHF")
    assert chf.base_amount == 2105
    assert dict(r.cash_per_currency) == {"EUR": 1000 - 1002 - 1105, "CHF": 2000}
    assert r.cash_total == 1000 - 1002 - 1105 + 2105


def test_z_business_cases_per_line_kind_and_rounding(
    day: tuple[sqlite3.Connection, DayCommands, Register],
) -> None:
    r, _ = closed_day(*day)
    cases = {c.case: (c.gv_typ, c.count, c.gross) for c in r.cases}
    assert cases["RETURNS"] == ("Umsatz", 1, -1002)
    assert cases["REVERSALS"] == ("Umsatz", 1, -500)
    assert cases["DISCOUNTS"] == ("Rabatt", 2, -50 + 50)
    assert cases["VOUCHERS_SOLD"] == ("MehrzweckgutscheinKauf", 1, 2500)
    assert cases["VOUCHERS_REDEEMED"] == ("MehrzweckgutscheinEinloesung", 1, -2500)
    assert cases["ROUNDING"] == ("Rabatt", 1, -2)
    assert r.rounding_total == -2
    gv = {(g.gv_typ, g.ust_key, g.gv_name): g.gross for g in r.gv_totals}
    assert gv[("MehrzweckgutscheinKauf", 5, "")] == 2500
    assert gv[("MehrzweckgutscheinEinloesung", 5, "")] == -2500
    assert gv[("Rabatt", 5, "Rundung")] == -2
    assert gv[("Rabatt", 2, "")] == 0  # B's discount, reversed by F
    # the receipts' business cases add up to what was paid (turnover + rounding), in EUR
    assert sum(g.gross for g in r.gv_totals) == r.gross + r.rounding_total
    assert r.payments_total == r.gross + r.rounding_total


def test_dsfinvk_export_gv_typ_per_line_zahlart_per_method_and_rounding(
    day: tuple[sqlite3.Connection, DayCommands, Register],
) -> None:
    _, _, reg = day
    r, t = closed_day(*day)
    bon = {sid: str(b) for sid, b in reg.ids.items()}
    lines: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for row in t["lines.csv"]:
        lines[row["BON_ID"]].append(
            (row["GV_TYP"], row["GV_NAME"], row["GUTSCHEIN_NR"], row["STK_BR"])
        )
    assert lines[bon["A"]] == [
        ("Umsatz", "", "", "10,02000"),
        ("Rabatt", "Rundung", "", "-0,02000"),
    ]
    assert lines[bon["B"]] == [("Umsatz", "", "", "5,00000"), ("Rabatt", "", "", "-0,50000")]
    assert lines[bon["C"]] == [("MehrzweckgutscheinKauf", "", "V-1", "25,00000")]
    assert lines[bon["D"]][1] == ("MehrzweckgutscheinEinloesung", "", "V-1", "-25,00000")
    assert lines[bon["E"]] == [("Umsatz", "", "", "-10,02000")]
    assert lines[bon["F"]] == [("Umsatz", "", "", "-5,00000"), ("Rabatt", "", "", "0,50000")]
    lv = {(row["BON_ID"], row["POS_ZEILE"]): row["UST_SCHLUESSEL"] for row in t["lines_vat.csv"]}
    assert lv[(bon["C"], "1")] == "5" and lv[(bon["A"], "2")] == "5"
    # Zahlart per method, kept amounts, refunds negative
    dp: dict[str, set[tuple[str, str, str, str, str]]] = defaultdict(set)
    for row in t["datapayment.csv"]:
        dp[row["BON_ID"]].add(
            (row["ZAHLART_TYP"], row["ZAHLART_NAME"], row["ZAHLWAEH_CODE"],
             row["ZAHLWAEH_BETRAG"], row["BASISWAEH_BETRAG"])
        )  # fmt: skip
    assert dp[bon["A"]] == {("Bar", "Bar", "EUR", "", "10,00")}
    assert dp[bon["C"]] == {("ElZahlungsdienstleister", "Zahlungsdienstleister", "EUR", "",
                             "25,00")}  # fmt: skip
    assert dp[bon["D"]] == {("Guthabenkarte", "Gutscheinkarte", "EUR", "", "5,00")}
    assert dp[bon["E"]] == {("Bar", "Bar", "EUR", "", "-10,02")}
    assert dp[bon["F"]] == {("Unbar", "Karte", "EUR", "", "-4,50")}
    assert dp[bon["G"]] == {
        ("Unbar", "Finanzierung", "EUR", "", "100,00"),
        ("Unbar", "Überweisung", "EUR", "", "20,00"),
        ("Unbar", "Nachnahme", "EUR", "", "30,00"),
    }
    assert dp[bon["H"]] == {("Bar", "Bar", "CHF", "20,00", "21,05"),
                            ("Bar", "Bar", "EUR", "", "-11,05")}  # fmt: skip
    # each EUR receipt: UMS_BRUTTO = its lines (rounding line included) = its payments
    heads = {row["BON_ID"]: row for row in t["transactions.csv"]}
    for sid in "ABCDEFGI":
        b = bon[sid]
        gross = cents(heads[b]["UMS_BRUTTO"])
        assert gross == sum(cents(x["POS_BRUTTO"]) for x in t["lines_vat.csv"]
                            if x["BON_ID"] == b)  # fmt: skip
        assert gross == sum(cents(x["BON_BRUTTO"]) for x in t["transactions_vat.csv"]
                            if x["BON_ID"] == b)  # fmt: skip
        assert gross == sum(cents(x["BASISWAEH_BETRAG"]) for x in t["datapayment.csv"]
                            if x["BON_ID"] == b)  # fmt: skip
    assert heads[bon["F"]]["BON_NOTIZ"] == "Storno zu Beleg 2"
    assert heads[bon["F"]]["BON_STORNO"] == "0"
    # the Z: rounding under key 5 named Rundung; Zahlart totals in EUR
    bc = {(g["GV_TYP"], g["GV_NAME"], g["UST_SCHLUESSEL"]): cents(g["Z_UMS_BRUTTO"])
          for g in t["businesscases.csv"]}  # fmt: skip
    assert bc[("Rabatt", "Rundung", "5")] == -2
    assert bc[("MehrzweckgutscheinKauf", "", "5")] == 2500
    pay = {(p["ZAHLART_TYP"], p["ZAHLART_NAME"]): cents(p["Z_ZAHLART_BETRAG"])
           for p in t["payment.csv"]}  # fmt: skip
    assert pay[("ElZahlungsdienstleister", "Zahlungsdienstleister")] == 2500
    assert pay[("Unbar", "Karte")] == 1200
    assert pay[("Bar", "Bar")] == 1000 - 1002 - 1105 + 2105
    cur = {c["ZAHLART_WAEH"]: cents(c["ZAHLART_BETRAG_WAEH"]) for c in t["cash_per_currency.csv"]}
    assert cur == {"EUR": 1000 - 1002 - 1105, "CHF": 2000}
    assert r.payments_total == sum(pay.values())


def z_report(conn: sqlite3.Connection, cmds: DayCommands) -> ClosingReport:
    """Closes the shift with the cash counted as expected (no difference), then the Z."""
    plan = cmds.plan_close(conn, MANAGER, [])
    counts = [count_line(b.currency, 0, 0, b.expected) for b in plan.balances]
    with transaction(conn):
        cmds.close_shift(Tx(conn), MANAGER, counts)
        return cmds.z_closing(Tx(conn), MANAGER).report


def test_z_of_foreign_sales_adds_up_to_their_local_totals(
    day: tuple[sqlite3.Connection, DayCommands, Register],
) -> None:
    conn, cmds, reg = day
    # 10.00 + 5.00 CHF at 0.9412: 10.62 + 5.31 converted rate by rate, but the receipt
    # says "entspricht 15,94 EUR" (15.00 / 0.9412 = 15.937)
    a = reg.sale("A", "CHF", "0.9412")
    goods(a, 1000, N19)
    goods(a, 500, R7)
    a.add_payment(PaymentMethod.CARD, 1500, "CHF", authorization_code="A1")
    reg.post(a)
    # cash in CHF rounded to 0.05: 15.03 CHF due 15.05
    b = reg.sale("B", "CHF", "0.9412")
    goods(b, 1002, N19)
    goods(b, 501, R7)
    b.add_payment(PaymentMethod.CASH, 1505, "CHF", rounding_step=5)
    assert b.rounding == 2
    reg.post(b)
    # an exchange in CHF: 5.07 returned (-5.39 EUR), 10.00 bought (10.62 EUR), 4.93 paid
    # by card (5.24 EUR: 4.93 / 0.9412 = 5.238)
    c = reg.sale("C", "CHF", "0.9412")
    c.add_fixed_line(
        LineKind.RETURN, name="Ware", amount=-507, vat_category=N19[0], vat_rate=N19[1],
        quantity=Decimal(-1),
    )  # fmt: skip
    goods(c, 1000, R7)
    c.add_payment(PaymentMethod.CARD, 493, "CHF", authorization_code="A2")
    reg.post(c)
    assert [s.total_local for s in (a, b, c)] == [1594, 1597, 524]
    r = z_report(conn, cmds)
    assert r.gross == sum(v.gross for v in r.vat) == 1594 + 1597 + 524
    assert r.payments_total == r.gross + r.rounding_total
    # B's 0.02 CHF rounding: 15.05 CHF paid are 15.99 EUR, 15.03 CHF of goods 15.97 EUR
    assert r.rounding_total == 1599 - 1597
    assert sum(g.gross for g in r.gv_totals) == r.gross + r.rounding_total
    for v in r.vat:
        assert v.net + v.tax == v.gross
    cases = {c.case: c.gross for c in r.cases}
    assert cases["RETURNS"] == -539  # 5.07 / 0.9412 = 5.387


def test_z_books_no_turnover_row_for_a_rate_without_goods(
    day: tuple[sqlite3.Connection, DayCommands, Register],
) -> None:
    conn, cmds, reg = day
    # two returns of 2.99: tax 0.48 each, but the receipt's 19 % holds 0.95 on 5.98
    a = reg.sale("A")
    for _ in range(2):
        a.add_fixed_line(
            LineKind.RETURN, name="Ware", amount=-299, vat_category=N19[0], vat_rate=N19[1],
            quantity=Decimal(-1),
        )  # fmt: skip
    a.add_payment(PaymentMethod.CASH, -598, "EUR")
    reg.post(a)
    # two single-purpose vouchers (taxed when sold) of 2.99 each, nothing else
    b = reg.sale("B")
    for i in range(2):
        goods(b, 299, N19, item_type=ItemType.VOUCHER, voucher_code=f"V-{i}")
    b.add_payment(PaymentMethod.CARD, 598, "EUR", authorization_code="A1")
    reg.post(b)
    assert [(v.gross, v.net, v.tax) for v in a.vat_totals() + b.vat_totals()] == [
        (-598, -503, -95), (598, 503, 95)
    ]  # fmt: skip
    r = z_report(conn, cmds)
    cases = {c.case: (c.count, c.gross, c.net, c.tax) for c in r.cases}
    # nothing was sold: no SALES case, the return receipt counts as a return only
    assert cases["SALES"] == (0, 0, 0, 0)
    assert cases["RETURNS"] == (1, -598, -503, -95)
    assert cases["VOUCHERS_SOLD"] == (1, 598, 503, 95)
    gv = {(g.gv_typ, g.ust_key): (g.gross, g.net, g.tax) for g in r.gv_totals}
    assert gv == {
        ("Umsatz", 1): (-598, -503, -95),
        ("EinzweckgutscheinKauf", 1): (598, 503, 95),
    }
