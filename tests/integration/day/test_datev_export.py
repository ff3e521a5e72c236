"""The DATEV extended cash book through the gRPC API with real SQLite: amounts in EUR for
receipts in a foreign currency, the cash rounding on a row of its own, the payments as
the drawer kept them (sale_payments.kept); multi-purpose vouchers sold and redeemed on
the voucher liability account."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import catalog_pb2, closing_pb2, common_pb2, sale_pb2, shop_pb2

from posd_daemon.exports import datev
from posd_daemon.ops.config import ConfigError, load
from tests.conftest import start_in_thread
from tests.integration.api.test_sale_part2 import call, pay, post, sale_of
from tests.integration.api.test_sale_part2 import seed as part2_seed
from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import CARD, CASH, cents, seed
from tests.support.fullsale import import_items, item, update_shop


def test_extended_cash_book_in_eur_with_cash_rounding_and_kept_amounts(day: Day) -> None:
    pos, dc = day.pos, day.day
    seed(pos)
    update_shop(
        pos,
        fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")],
        cash_rounding=[shop_pb2.CashRounding(currency_code="EUR", increment_minor=5)],
    )
    dc.open_shift(PosdClient.cash_counts(total=2000))
    # 1: 8.99 paid in cash, rounded to 9.00; 10.00 tendered, 1.00 back
    a = pos.create_sale().sale_id
    pos.add_line(a, item_id="A", quantity="1")
    pos.add_payment(a, CASH, 1000)
    assert pos.post_sale(a).rounding.amount_minor == 1
    # 2: the same in CHF (8.54 CHF = 8.99 EUR), 20.00 CHF tendered
    b = pos.create_sale().sale_id
    pos.add_line(b, item_id="A", quantity="1")
    call(pos, "SetCurrency", sale_id=b, currency_code="CHF")
    pos.add_payment(b, CASH, 2000, currency="CHF")
    assert pos.post_sale(b).total.amount_minor == 854
    # 3: in CHF by card, two rates: 8.54 + 3.32 CHF = 11.86 CHF, 12.48 EUR
    c = pos.create_sale().sale_id
    pos.add_line(c, item_id="A", quantity="1")
    pos.add_line(c, item_id="B", quantity="1")
    call(pos, "SetCurrency", sale_id=c, currency_code="CHF")
    pos.add_payment(c, CARD, 1186, currency="CHF")
    assert pos.post_sale(c).total.amount_minor == 1186

    now = datetime.now(UTC)
    (book,) = dc.export_cash_book(now - timedelta(days=1), now + timedelta(days=1))
    rows = list(csv.reader(io.StringIO(book.content.decode("utf-8")), delimiter=";"))[1:]
    got = [(r[0], r[1], r[2], r[4], r[5], r[7], r[12]) for r in rows]
    assert got == [
        ("EUR", "+8,99", "1", "Beleg 1 Umsatz 19%", "19,00", "8400",
         "USt 1,44; Zahlarten: Bar 9,00"),
        # the 0.01 the drawer kept beyond the total, without VAT, on the rounding account
        ("EUR", "+0,01", "1", "Beleg 1 Rundung", "", "8200", "Rundungsdifferenz Bargeld"),
        ("EUR", "+8,99", "2", "Beleg 2 Umsatz 19%", "19,00", "8400",
         "USt 1,44; Zahlarten: Bar 8,99"),
        ("EUR", "+8,99", "3", "Beleg 3 Umsatz 19%", "19,00", "8400",
         "USt 1,44; Zahlarten: Karte 12,48"),
        ("EUR", "+3,49", "3", "Beleg 3 Umsatz 7%", "7,00", "8300",
         "USt 0,23; Zahlarten: Karte 12,48"),
        ("EUR", "-12,48", "3", "Beleg 3 Karte", "", "1360", "Zahlart Unbar"),
    ]  # fmt: skip
    # the cash book moves by what the drawer kept: 9.00 EUR and 8.54 CHF (8.99 EUR)
    assert sum(cents(r[1].replace("+", "")) for r in rows) == 900 + 899


def test_multi_purpose_vouchers_are_no_revenue_single_purpose_ones_are(day: Day) -> None:
    """A Mehrzweckgutschein sold is no supply yet (§3 Abs. 14 UStG): its sale credits and
    its redemption debits the voucher liability account, never a revenue account (8100
    "steuerfreie Umsätze" before). An Einzweckgutschein is revenue at its rate when sold,
    and its redemption takes no revenue back twice."""
    pos, dc = day.pos, day.day
    part2_seed(pos)  # GIFT: multi-purpose voucher (NOT_TAXABLE), COFFEE 8.99, TV 100.00
    import_items(
        pos,
        item("SHIRT", "Hemd", 11900),
        item("GIFT19", "Einzweckgutschein", 11900, item_type=catalog_pb2.ITEM_TYPE_VOUCHER),
    )
    dc.open_shift(PosdClient.cash_counts(total=0))
    # 1: a 30.00 multi-purpose voucher and a coffee, cash
    s1 = sale_of(pos, ("COFFEE", "1"))
    call(pos, "AddVoucherLine", sale_id=s1, code="2900000000001",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="GV-1",
         amount=common_pb2.Money(amount_minor=3000, currency_code="EUR"))  # fmt: skip
    pay(pos, s1, CASH, 3899)
    post(pos, s1)
    # 2: a single-purpose voucher (19 %), by card
    s2 = pos.create_sale().sale_id
    call(pos, "AddVoucherLine", sale_id=s2, code="GIFT19",
         action=sale_pb2.VOUCHER_ACTION_SELL, voucher_code="EZ-1")  # fmt: skip
    pay(pos, s2, CARD, 11900)
    post(pos, s2)
    # 3: the TV, 30.00 of it paid with the multi-purpose voucher, the rest in cash
    s3 = sale_of(pos, ("TV", "1"))
    call(pos, "AddVoucherLine", sale_id=s3, code="GV-1")
    pay(pos, s3, CASH, 7000)
    post(pos, s3)
    # 4: the shirt for the single-purpose voucher: its VAT was due when it was sold
    s4 = sale_of(pos, ("SHIRT", "1"))
    call(pos, "AddVoucherLine", sale_id=s4, code="EZ-1")
    assert post(pos, s4).total.amount_minor == 0

    now = datetime.now(UTC)
    (book,) = dc.export_cash_book(now - timedelta(days=1), now + timedelta(days=1))
    rows = list(csv.reader(io.StringIO(book.content.decode("utf-8")), delimiter=";"))[1:]
    got = [(r[1], r[2], r[4], r[5], r[7], r[12]) for r in rows]
    assert got == [
        ("+8,99", "1", "Beleg 1 Umsatz 19%", "19,00", "8400",
         "USt 1,44; Zahlarten: Bar 38,99"),
        ("+30,00", "1", "Beleg 1 Gutschein GV-1 verkauft", "", "1604",
         "MehrzweckgutscheinKauf GV-1; Zahlarten: Bar 38,99"),
        ("+119,00", "2", "Beleg 2 Umsatz 19%", "19,00", "8400",
         "USt 19,00; Zahlarten: Karte 119,00"),
        ("-119,00", "2", "Beleg 2 Karte", "", "1360", "Zahlart Unbar"),
        ("+100,00", "3", "Beleg 3 Umsatz 19%", "19,00", "8400",
         "USt 15,97; Zahlarten: Bar 70,00"),
        ("-30,00", "3", "Beleg 3 Gutschein GV-1 eingeloest", "", "1604",
         "MehrzweckgutscheinEinloesung GV-1; Zahlarten: Bar 70,00"),
    ]  # fmt: skip
    assert not {"8100", "8200"} & {r[7] for r in rows}  # no not-taxable revenue
    # the cash book still moves by the cash the drawer kept
    assert sum(cents(r[1].replace("+", "")) for r in rows) == 3899 + 7000
    # another liability account, as the tax adviser set it up
    with sqlite3.connect(day.running.config.database_path) as conn:
        (other,) = datev.extended_cash_book(
            conn, "REG-1", "EUR", now - timedelta(days=1), now + timedelta(days=1),
            datev.Accounts(vouchers="1700"), zone=UTC,
        )  # fmt: skip
    assert other[1].decode("utf-8").count(";1700;") == 2


def test_the_accounts_come_from_the_datev_config_section(tmp_path: Path) -> None:
    skr04 = {
        "datev": {
            "revenue": {"NORMAL": "4400"},
            "movements": {"DEPOSIT": "2180"},
            "rounding": "4200",
        }
    }
    running = start_in_thread(tmp_path / "state", skr04)
    try:
        with running.client(open_shift=False) as pos:
            pos.upsert_item("A", "Kaffee", 899)
            pos.open_shift([])
            sale = pos.create_sale().sale_id
            pos.add_line(sale, item_id="A")
            pos.add_payment(sale, CASH, 899)
            pos.post_sale(sale)
            pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 5000, "Wechselgeld")
            now = datetime.now(UTC)
            (book,) = pos.export_cash_book(now - timedelta(days=1), now + timedelta(days=1))
        rows = list(csv.reader(io.StringIO(book.content.decode("utf-8")), delimiter=";"))[1:]
        accounts = {(r[4].split()[-1], r[7]) for r in rows}
        # the configured ones where set, the SKR03 defaults elsewhere
        assert ("19%", "4400") in accounts
        assert any(acct == "2180" for _, acct in accounts)
        assert not any(acct in ("8400", "1890") for _, acct in accounts)
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"revenue": {"NORMALL": "4400"}}, "datev.revenue.NORMALL: not a VAT category"),
        ({"revenue": {"NORMAL": "44OO"}}, "datev.revenue.NORMAL: an account number"),
        ({"movements": {"TIPS": "1"}}, "datev.movements.TIPS: not a cash movement kind"),
        ({"vouchers": "16-04"}, "datev.vouchers: an account number"),
    ],
)
def test_a_bad_datev_section_is_refused_naming_the_key(
    section: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(None, {"datev": section})
