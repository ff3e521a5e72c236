"""DATEV extended cash book: a balancing line (LINE_KIND_BALANCING, the rest of an
exchange put on the shop's balancing account) is no revenue.

The line is NOT_TAXABLE at 0 % (services/sale_ops), so it fell into the receipt's 0 %
revenue row on 8100 "Steuerfreie Umsätze": 10.83 EUR owed to the customer showed as
tax-free turnover (and the goods' row as 10.83 less). It is not part of a supply
(domain/sale._is_supply): its amount belongs on the balancing account it names.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from posd.client import PosdClient

from posd_daemon.domain.shop import DEFAULT_BALANCING_ACCOUNT
from tests.integration.api.test_sale_part2 import CASH, call, pay, post, seed, sold_receipt


def balanced_exchange(pos: PosdClient) -> tuple[str, list[list[str]]]:
    """An exchange whose rest (10.83) is put on the shop's balancing account, posted:
    its receipt number and the rows of today's extended cash book."""
    seed(pos)
    pos.open_shift(PosdClient.cash_counts(total=10000))
    original = sold_receipt(pos)  # 3 x 8.99 - 10 % = 24.27
    sid = pos.create_sale().sale_id
    call(pos, "AddReturnLine", sale_id=sid, original_sale_id=original.sale_id,
         original_line_id="1", quantity="2")  # fmt: skip
    pos.add_line(sid, item_id="ROLL")  # -16.18 + 0.35 = -15.83
    pay(pos, sid, CASH, -500)  # 5.00 back in cash, 10.83 to the balancing account
    done = post(pos, sid, balance_negative_total=True)
    now = datetime.now(UTC)
    (book,) = pos.export_cash_book(now - timedelta(days=1), now + timedelta(days=1))
    rows = list(csv.reader(io.StringIO(book.content.decode("utf-8"), newline=""), delimiter=";"))
    return str(done.receipt_number), rows


def test_the_rest_put_on_the_balancing_account_is_no_tax_free_revenue(
    pos: PosdClient,
) -> None:
    number, rows = balanced_exchange(pos)
    mine = [(r[1], r[5], r[7]) for r in rows[1:] if r[2] == number]
    # the cash book still adds up to the 5.00 paid out
    assert sum(int(a.replace(",", "")) for a, _, _ in mine) == -500
    # named in the text; DEFAULT_BALANCING_ACCOUNT is no account number, so no Gegenkonto:
    # the tax adviser books it (Gegenkonto is numeric, DATEV Hilfe-Dokument 1002367)
    (balancing,) = [r for r in rows[1:] if r[2] == number and r[1] == "+10,83"]
    assert DEFAULT_BALANCING_ACCOUNT in balancing[4]
    assert (balancing[5], balancing[7]) == ("", "")
    assert not [r for r in mine if r[2] == "8100"]  # no tax-free revenue
