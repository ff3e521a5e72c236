"""Property: whatever a day's receipts are, the X report, the shift close and the Z add up
to them exactly, on a real SQLite file.

Random days of sales (goods at 19 %, 7 % and not taxable, line discounts, returns,
vouchers sold and redeemed, open invoices paid on account, balancing lines, shop
discounts; cash with and without a 0.05 step, card, split payments, refunds; some sales
in Swiss francs with the change in francs or in euro), cash movements of every kind and a
count that is off by a random amount. Sales are built with the Sale aggregate and written
as PostSale writes them (tests/integration/day/test_closing_full_sale.Register); the
shift is closed and the Z made by DayCommands. Checked:

* the Z's gross, per VAT rate gross/net/tax and per payment method totals equal the sums
  of the receipts' own values (for days in the register currency only: foreign receipts
  enter converted);
* payments (DSFinV-K Z_SE_ZAHLUNGEN) = turnover + rounding + cash movements, and so do
  the businesscases rows; each UST_SCHLUESSEL's business cases add up to its VAT totals;
* every line's net + tax = gross;
* per currency, the drawer expected at the close = float + the period's cash, the booked
  difference is counted - expected, and float + the Z's cash = what was counted.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posd_daemon.domain.catalog import ItemType
from posd_daemon.domain.closing import MOVEMENT_CASE, CashMovementKind, ust_key
from posd_daemon.domain.errors import DomainError
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.shift import count_line
from posd_daemon.domain.vat import VatCategory
from posd_daemon.services.day import DayCommands, DaySettings
from posd_daemon.services.executor import Tx
from posd_daemon.store.database import open_database, transaction
from tests.integration.day.test_closing_full_sale import FREE, MANAGER, N19, NOW, R7, Register

FLOAT = 10000
MOVEMENT_CASES = {c.value[0] for c in MOVEMENT_CASE.values()}


@dataclass(frozen=True)
class LineSpec:
    kind: str  # goods, return, voucher, invoice, redemption, balancing
    vat: tuple[VatCategory, Decimal]
    amount: int
    line_discount: int  # percent


@dataclass(frozen=True)
class SaleSpec:
    foreign: bool
    rate: str
    lines: tuple[LineSpec, ...]
    shop_discount: int
    pay: str  # cash, cash5, card, split
    split: float
    change_in_euro: bool


line_specs = st.builds(
    LineSpec,
    st.sampled_from(
        ["goods", "goods", "goods", "return", "voucher", "invoice", "redemption", "balancing"]
    ),
    st.sampled_from([N19, R7, FREE]),
    st.integers(1, 5000),
    st.sampled_from([0, 0, 10, 15]),
)
sale_specs = st.builds(
    SaleSpec,
    st.booleans(),
    st.sampled_from(["0.9412", "0.95", "1.07"]),
    st.lists(line_specs, min_size=1, max_size=5).map(tuple),
    st.sampled_from([0, 0, 0, 1, 37, 100]),
    st.sampled_from(["cash", "cash5", "card", "split"]),
    st.floats(0, 1),
    st.booleans(),
)
movement_specs = st.tuples(
    st.sampled_from(list(CashMovementKind)[:4]), st.integers(1, 3000), st.booleans()
)


def build(reg: Register, n: int, spec: SaleSpec) -> Sale | None:
    currency = "CHF" if spec.foreign else "EUR"
    s = reg.sale(f"S{n}", currency, spec.rate if spec.foreign else "1")
    for i, ln in enumerate(spec.lines):
        cat, pct = ln.vat
        if ln.kind == "goods":
            s.add_fixed_line(
                LineKind.GOODS,
                name="Ware",
                amount=ln.amount,
                vat_category=cat,
                vat_rate=pct,
                unit_price=ln.amount,
                quantity=Decimal(1),
            )
            if ln.line_discount:
                s.lines[-1].fixed_amount = None  # priced, so that the line discount applies
                s.lines[-1].discount_percent = Decimal(ln.line_discount)
        elif ln.kind == "return":
            s.add_fixed_line(
                LineKind.RETURN,
                name="R",
                amount=-ln.amount,
                vat_category=cat,
                vat_rate=pct,
                quantity=Decimal(-1),
            )
        elif ln.kind == "voucher":
            s.add_fixed_line(
                LineKind.GOODS,
                name="Gutschein",
                amount=ln.amount,
                vat_category=FREE[0],
                vat_rate=FREE[1],
                item_type=ItemType.VOUCHER,
                voucher_code=f"V{n}-{i}",
            )
        elif ln.kind == "invoice":
            s.add_fixed_line(
                LineKind.INVOICE_PAYMENT,
                name="Rechnung",
                amount=ln.amount,
                vat_category=FREE[0],
                vat_rate=FREE[1],
                item_id=f"R{n}-{i}",
            )
        elif ln.kind == "redemption":
            s.add_fixed_line(
                LineKind.VOUCHER_REDEMPTION,
                name="Gutschein",
                amount=-ln.amount,
                vat_category=FREE[0],
                vat_rate=FREE[1],
                voucher_code="VX",
            )
        else:
            s.add_fixed_line(
                LineKind.BALANCING,
                name="Ausgleich",
                amount=-ln.amount,
                vat_category=cat,
                vat_rate=pct,
                item_id="ACC",
            )
    try:
        if spec.shop_discount:
            s.add_discount_amount(spec.shop_discount, "Aktion")
        total = s.total
        step = 5 if spec.pay == "cash5" else 1
        if total < 0:
            method = PaymentMethod.CARD if spec.pay == "card" else PaymentMethod.CASH
            s.add_payment(method, 0, currency, rounding_step=1 if method.is_card else step)
        elif spec.pay in ("cash", "cash5"):
            s.add_payment(
                PaymentMethod.CASH, (total // 500 + 1) * 500, currency, rounding_step=step
            )
        elif spec.pay == "card" or total == 0:
            if total:
                s.add_payment(PaymentMethod.CARD, total, currency)
        else:
            part = int(total * spec.split)
            if part:
                s.add_payment(PaymentMethod.CARD, part, currency)
            if total - part:
                s.add_payment(PaymentMethod.CASH, 0, currency, rounding_step=step)
        if spec.foreign and spec.change_in_euro and s.change:
            s.set_change_currency("EUR")
        return reg.post(s)
    except DomainError:
        return None  # a sale the register refuses (nothing was written)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(sale_specs, max_size=8),
    st.lists(movement_specs, max_size=4),
    st.integers(-300, 300),
)
def test_z_totals_equal_the_receipts_and_the_drawer(
    specs: list[SaleSpec], movements: list[tuple[CashMovementKind, int, bool]], off: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_database(Path(tmp) / "posd.sqlite3")
        try:
            check_day(conn, specs, movements, off)
        finally:
            conn.close()


def check_day(
    conn: sqlite3.Connection,
    specs: list[SaleSpec],
    movements: list[tuple[CashMovementKind, int, bool]],
    off: int,
) -> None:
    cmds = DayCommands(DaySettings("REG-1", "EUR", UTC), lambda: NOW, lambda: None)
    with transaction(conn):
        cmds.open_shift(Tx(conn), MANAGER, [count_line("EUR", 0, 0, FLOAT)])
    reg = Register(conn)
    sales = [s for n, spec in enumerate(specs) if (s := build(reg, n, spec)) is not None]
    moved = 0
    for kind, amount, out in movements:
        try:
            direction = None if kind.implied_outgoing is not None else out
            req = cmds.validate_movement(
                conn, MANAGER, kind, amount, "EUR", "x", outgoing=direction
            )
        except DomainError:
            continue  # more than the drawer holds
        with transaction(conn):
            cmds.add_movement(Tx(conn), MANAGER, req)
        moved += req.amount

    x = cmds.x_report(conn, MANAGER)
    plan = cmds.plan_close(conn, MANAGER, [count_line("EUR", 0, 0, 0)])
    expected = {b.currency: b.expected for b in plan.balances}
    cash = dict(x.cash_per_currency)
    for currency, amount in expected.items():
        assert amount == (FLOAT if currency == "EUR" else 0) + cash.get(currency, 0), currency
    assert dict(x.open_shift_expected) == {c: a for c, a in expected.items() if c in cash or a}

    counted = {c: max(0, a) for c, a in expected.items()}
    counted["EUR"] = max(0, expected.get("EUR", 0) + off)
    with transaction(conn):
        cmds.close_shift(Tx(conn), MANAGER, [count_line(c, 0, 0, a) for c, a in counted.items()])
        z = cmds.z_closing(Tx(conn), MANAGER).report

    difference = counted["EUR"] - expected.get("EUR", 0)
    cases = {c.case: c.gross for c in z.cases}
    assert cases["CASH_DIFFERENCES"] == difference
    movements_total = moved + difference
    assert sum(g for c, g in cases.items() if c in MOVEMENT_CASES) == movements_total
    assert FLOAT + dict(z.cash_per_currency).get("EUR", 0) == counted["EUR"]
    euro = next(b for b in z.balances if b.currency == "EUR")
    assert (euro.expected, euro.counted, euro.difference) == (
        expected.get("EUR", 0),
        counted["EUR"],
        difference,
    )

    gross = sum(s.total_local for s in sales)
    assert z.gross == gross == sum(v.gross for v in z.vat)
    assert z.receipts == len(sales)
    assert z.payments_total == gross + z.rounding_total + movements_total
    assert sum(g.gross for g in z.gv_totals) == z.payments_total
    for line in (*z.vat, *z.cases, *z.gv_totals):
        assert line.net + line.tax == line.gross, line

    # each UST_SCHLUESSEL: the business cases of the receipts = the VAT totals
    by_key: dict[int, list[int]] = {}
    for g in z.gv_totals:
        if g.gv_name == "Rundung" or g.gv_typ in {c.gv_typ for c in CashMovementKind}:
            continue
        acc = by_key.setdefault(g.ust_key, [0, 0, 0])
        for i, v in enumerate((g.gross, g.net, g.tax)):
            acc[i] += v
    vat_by_key: dict[int, list[int]] = {}
    for v in z.vat:
        acc = vat_by_key.setdefault(ust_key(v.category), [0, 0, 0])
        for i, a in enumerate((v.gross, v.net, v.tax)):
            acc[i] += a
    nonzero = lambda d: {k: v for k, v in d.items() if any(v)}  # noqa: E731
    assert nonzero(by_key) == nonzero(vat_by_key)

    if any(s.currency != "EUR" for s in sales):
        return
    # register currency only: the Z's rates and methods are the receipts' own values
    receipts_vat: dict[tuple[int, Decimal], list[int]] = {}
    for s in sales:
        for v in s.vat_totals():
            acc = receipts_vat.setdefault((int(v.category), v.percent), [0, 0, 0])
            for i, a in enumerate((v.gross, v.net, v.tax)):
                acc[i] += a
    z_vat = {(v.category, Decimal(v.percent)): [v.gross, v.net, v.tax] for v in z.vat}
    assert nonzero(z_vat) == nonzero(receipts_vat)
    receipts_pay: dict[str, int] = {}
    for s in sales:
        for p, kept in s.kept_amounts():
            receipts_pay[p.method.value] = receipts_pay.get(p.method.value, 0) + kept
    z_pay = {p.method: p.amount for p in z.payments}
    z_pay["CASH"] = z_pay.get("CASH", 0) - movements_total
    assert {k: v for k, v in z_pay.items() if v} == {k: v for k, v in receipts_pay.items() if v}
