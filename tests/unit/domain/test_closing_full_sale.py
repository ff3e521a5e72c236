"""ClosingBuilder with the full sale, part 2 (pure): payment methods, refunds, cash
rounding, foreign cash with change in the local currency, business cases per line kind."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from posd_daemon.domain.closing import (
    PAYMENT_KINDS,
    ClosingBuilder,
    ClosingReport,
    LineAmount,
    line_gv_typ,
    ust_key,
)
from posd_daemon.domain.payments import PaymentMethod
from posd_daemon.domain.pricing import local_amount, split_converted
from posd_daemon.domain.sale import LineKind, Sale
from posd_daemon.domain.vat import VatCategory, VatTotal, totals_from_gross

N19 = (VatCategory.NORMAL, Decimal(19))
FREE = (VatCategory.NOT_TAXABLE, Decimal(0))


def vat(*parts: tuple[tuple[VatCategory, Decimal], int]) -> list[VatTotal]:
    return totals_from_gross((c, p, g) for (c, p), g in parts)


def test_every_payment_method_has_its_zahlart_and_only_card_counts_as_card() -> None:
    assert set(PAYMENT_KINDS) == {m.value for m in PaymentMethod}
    for m in PaymentMethod:
        assert PAYMENT_KINDS[m.value].card is m.is_card
        assert PAYMENT_KINDS[m.value].cash is m.is_cash
    assert PAYMENT_KINDS["GATEWAY"].zahlart_typ == "ElZahlungsdienstleister"
    assert PAYMENT_KINDS["BENEFIT"].zahlart_typ == "Guthabenkarte"
    assert {PAYMENT_KINDS[m].zahlart_typ for m in ("CONSUMER_CREDIT", "BANK_TRANSFER",
            "CASH_ON_DELIVERY", "CARD")} == {"Unbar"}  # fmt: skip


def test_payment_totals_per_method_refunds_reduce_gateway_never_a_card() -> None:
    b = ClosingBuilder("REG-1", "EUR")
    for i, method in enumerate(m.value for m in PaymentMethod):
        b.add_sale(bon_id=i + 1, operator_id="1", currency="EUR", vat=vat((N19, 1000)),
                   payments=[(method, 1000)], change=0)  # fmt: skip
    b.add_sale(bon_id=20, operator_id="1", currency="EUR", vat=vat((N19, -300)),
               payments=[("CARD", -300)], change=0, lines=[LineAmount("RETURN", 1,
               Decimal(19), -300)])  # fmt: skip
    r = b.report(z_nr=1, created_at="2024-01-01T20:00:00.000000Z")
    totals = {p.method: (p.amount, p.count, p.refunds) for p in r.payments}
    assert totals == {
        "CASH": (1000, 1, 0),
        "CARD": (700, 2, 1),
        "CONSUMER_CREDIT": (1000, 1, 0),
        "BANK_TRANSFER": (1000, 1, 0),
        "CASH_ON_DELIVERY": (1000, 1, 0),
        "BENEFIT": (1000, 1, 0),
    }
    assert [(g.method, g.amount) for g in r.gateways] == [("GATEWAY", 1000)]
    assert r.card_total == 700
    assert r.payments_total == 7000 - 300
    assert {c.case: c.gross for c in r.cases}["RETURNS"] == -300
    assert ClosingReport.from_dict(r.to_dict()) == r


def test_rounding_is_its_own_total_and_business_case_under_key_5() -> None:
    b = ClosingBuilder("REG-1", "EUR")
    b.add_sale(bon_id=1, operator_id="1", currency="EUR", vat=vat((N19, 1002)),
               payments=[("CASH", 2000)], change=1000, rounding=-2)  # fmt: skip
    b.add_sale(bon_id=2, operator_id="1", currency="EUR", vat=vat((N19, 998)),
               payments=[("CASH", 1000)], change=0, rounding=2)  # fmt: skip
    b.add_sale(bon_id=3, operator_id="1", currency="EUR", vat=vat((N19, 1004)),
               payments=[("CASH", 1005)], change=0, rounding=1)  # fmt: skip
    r = b.report(z_nr=1, created_at="2024-01-01T20:00:00.000000Z")
    assert r.rounding_total == 1
    rounding = next(c for c in r.cases if c.case == "ROUNDING")
    assert (rounding.count, rounding.gross, rounding.tax, rounding.gv_typ) == (3, 1, 0, "Aufschlag")
    gv = {(g.gv_typ, g.ust_key, g.gv_name): g.gross for g in r.gv_totals}
    assert gv[("Rabatt", 5, "Rundung")] == -2
    assert gv[("Aufschlag", 5, "Rundung")] == 3
    assert gv[("Umsatz", 1, "")] == 1002 + 998 + 1004  # VAT turnover: without rounding
    assert r.cash_total == 1000 + 1000 + 1005 == r.gross + r.rounding_total


def test_foreign_cash_with_change_in_local_currency_stays_per_currency() -> None:
    b = ClosingBuilder("REG-1", "EUR")
    # 9.50 CHF at 0.95 CHF/EUR; 20.00 CHF tendered, change 10.50 CHF paid as 11.05 EUR
    b.add_sale(bon_id=1, operator_id="1", currency="CHF", vat=vat((N19, 950)),
               payments=[("CASH", 2000)], change=1050, kept=[("CASH", 950)],
               rate=Decimal("0.95"), change_local=1105)  # fmt: skip
    r = b.report(z_nr=1, created_at="2024-01-01T20:00:00.000000Z")
    assert dict(r.cash_per_currency) == {"CHF": 2000, "EUR": -1105}
    assert r.gross == 1000  # turnover in EUR
    chf = next(p for p in r.payments if p.currency == "CHF")
    assert (chf.amount, chf.base_amount, chf.count) == (2000, 2105, 1)
    assert r.cash_total == 2105 - 1105 == r.gross


def test_business_cases_per_line_kind_add_up_to_the_receipt() -> None:
    b = ClosingBuilder("REG-1", "EUR")
    lines = [
        LineAmount("GOODS", 1, Decimal(19), 3000),
        LineAmount("DISCOUNT", 1, Decimal(19), -300),
        LineAmount("VOUCHER_REDEMPTION", 6, Decimal(0), -1000),
        LineAmount("GOODS", 6, Decimal(0), 2000, voucher=True),
        LineAmount("BALANCING", 6, Decimal(0), 100),
    ]
    receipt = vat((N19, 2700), (FREE, 1100))
    b.add_sale(bon_id=1, operator_id="1", currency="EUR", vat=receipt,
               payments=[("CASH", 3800)], change=0, lines=lines)  # fmt: skip
    # a storno: everything negated
    b.add_sale(bon_id=2, operator_id="1", currency="EUR", vat=vat((N19, -1190)),
               payments=[("CASH", -1190)], change=0, reversal=True,
               lines=[LineAmount("GOODS", 1, Decimal(19), -1190)])  # fmt: skip
    r = b.report(z_nr=1, created_at="2024-01-01T20:00:00.000000Z")
    cases = {c.case: (c.gv_typ, c.gross, c.net, c.tax) for c in r.cases}
    assert cases["SALES"] == ("Umsatz", 3000, 2521, 479)
    assert cases["DISCOUNTS"] == ("Rabatt", -300, -252, -48)
    assert cases["VOUCHERS_REDEEMED"] == ("MehrzweckgutscheinEinloesung", -1000, -1000, 0)
    assert cases["VOUCHERS_SOLD"] == ("MehrzweckgutscheinKauf", 2000, 2000, 0)
    assert cases["BALANCING"] == ("Umsatz", 100, 100, 0)
    assert cases["REVERSALS"] == ("Umsatz", -1190, -1000, -190)
    # per rate, the cases are exactly the receipts' VAT totals
    per_key: dict[int, list[int]] = {}
    for g in r.gv_totals:
        acc = per_key.setdefault(g.ust_key, [0, 0, 0])
        acc[0] += g.gross
        acc[1] += g.net
        acc[2] += g.tax
    assert per_key == {v.category: [v.gross, v.net, v.tax] for v in r.vat if v.category == 1} | {
        5: [1100, 1100, 0]
    }
    assert {(g.gv_typ, g.ust_key) for g in r.gv_totals} >= {
        ("MehrzweckgutscheinKauf", 5),
        ("MehrzweckgutscheinEinloesung", 5),
        ("Rabatt", 1),
    }


def test_line_gv_typ_and_ust_keys() -> None:
    assert line_gv_typ("RETURN", False, 1) == "Umsatz"
    assert line_gv_typ("DISCOUNT", False, 2) == "Rabatt"
    assert line_gv_typ("GOODS", True, 6) == "MehrzweckgutscheinKauf"
    assert line_gv_typ("GOODS", True, 1) == "EinzweckgutscheinKauf"
    assert line_gv_typ("VOUCHER_REDEMPTION", False, 6) == "MehrzweckgutscheinEinloesung"
    assert [ust_key(int(c)) for c in VatCategory] == [1, 2, 3, 4, 6, 5]


def test_split_converted_adds_up_for_parts_of_both_signs() -> None:
    def conv(a: int) -> int:
        return local_amount(a, currency="CHF", local_currency="EUR", rate=Decimal("0.9412"))

    # each part on its own: 10.62 + 5.31 = 15.93, but 15.00 CHF are 15.94 EUR
    assert split_converted([1000, 500], conv(1500), conv) == [1063, 531]
    # an even exchange: 0 in total, each part still its own value
    assert split_converted([-1000, 1000], conv(0), conv) == [-1062, 1062]
    assert split_converted([-507, 1000], conv(493), conv) == [-539, 1063]
    assert split_converted([], 0, conv) == []


@given(
    price=st.integers(1, 500_000),
    surplus=st.integers(0, 5_000),
    rate=st.sampled_from(["0.95", "0.9412", "25.31", "395.7", "0.0062"]),
    local_step=st.sampled_from([1, 5, 10]),
    currency=st.sampled_from(["CHF", "HUF", "JPY"]),
)
def test_foreign_cash_with_local_change_books_what_the_drawer_holds(
    price: int, surplus: int, rate: str, local_step: int, currency: str
) -> None:
    """Any foreign cash tendered, its change paid out in rounded euros: the Z's cash per
    currency is what the drawer entries hold (kept + surplus foreign, the change paid out
    in EUR), and its payments, valued in EUR, are turnover plus rounding to the cent."""
    s = Sale("s", "REG-1", "7", currency, datetime(2026, 1, 1, tzinfo=UTC),
             local_currency="EUR", exchange_rate=Decimal(rate))  # fmt: skip
    s.add_fixed_line(LineKind.GOODS, name="Ware", amount=price, vat_category=N19[0],
                     vat_rate=N19[1])  # fmt: skip
    s.local_cash_step = local_step
    s.add_payment(PaymentMethod.CASH, s.total + surplus, currency)
    assume(abs(s.to_local(s.change)) <= 10**12)
    s.set_change_currency("EUR")
    s.post(1, datetime(2026, 1, 1, tzinfo=UTC))
    assert s.change == surplus
    drawer = {currency: s.paid, "EUR": -s.change_local}
    b = ClosingBuilder("REG-1", "EUR")
    b.add_sale(bon_id=1, operator_id="1", currency=currency, vat=s.vat_totals(),
               payments=[("CASH", s.paid)], change=s.change,
               kept=[("CASH", k) for _, k in s.kept_amounts()], rate=s.exchange_rate,
               change_local=s.change_local, change_in_local=True,
               change_rounding=s.change_rounding)  # fmt: skip
    r = b.report(z_nr=1, created_at="2026-01-01T20:00:00.000000Z")
    assert {c: a for c, a in r.cash_per_currency if a} == {c: a for c, a in drawer.items() if a}
    assert r.gross == s.total_local
    assert r.payments_total == r.gross + r.rounding_total
    assert r.rounding_total == s.change_rounding
    # the foreign cash is worth its amount converted once, whatever change was paid
    assert r.payments_total + s.change_local == s.to_local(s.paid)
