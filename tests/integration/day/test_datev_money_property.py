"""DATEV extended cash book (ExportCashBook) against the X report, over random sales
through the gRPC API with real SQLite: every posted receipt's amounts appear once, the
revenue rows per VAT rate sum to the report's gross per rate, the non-cash counter rows
to the non-cash payments, and the whole file to the cash the sales left in the drawer.

Format facts checked on every row (DATEV Hilfe-Dokument 1002367, "Kassenbewegungen in
DATEV Kassenbuch online importieren"): CRLF records, VorzBetrag with a sign, a decimal
comma, no thousands separator and never 0; RechNr of the allowed characters
(alphanumeric and ``$ & % * + - /``), at most 36; BelegDatum ``TTMM``; Belegtext at
most 60."""

from __future__ import annotations

import csv
import io
import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import CARD, CASH, cents, seed

AMOUNT = re.compile(r"[+-][0-9]{1,10},[0-9]{2}")
RECHNR = re.compile(r"[A-Za-z0-9$&%*+\-/]{1,36}")


@pytest.mark.parametrize("rng_seed", [1, 2, 3])
def test_every_receipt_appears_once_and_the_rows_sum_to_the_x_report(
    day: Day, rng_seed: int
) -> None:
    pos, dc = day.pos, day.day
    seed(pos)
    pos.upsert_item("D", "Zeitung", 250, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
    dc.open_shift(PosdClient.cash_counts(total=10000))
    rng = random.Random(rng_seed)
    totals: dict[str, int] = {}
    for _ in range(12):
        s = pos.create_sale().sale_id
        for _ in range(rng.randint(1, 4)):
            pos.add_line(s, item_id=rng.choice("ABCD"), quantity=str(rng.randint(1, 3)))
        total = pos.get_sale(s).total.amount_minor
        how = rng.choice(["cash", "card", "split", "tendered"])
        if how == "cash":
            pos.add_payment(s, CASH, total)
        elif how == "card":
            pos.add_payment(s, CARD, total)
        elif how == "split":
            part = rng.randint(1, total - 1)
            pos.add_payment(s, CARD, part)
            pos.add_payment(s, CASH, total - part)
        else:  # cash tendered above the total: the change comes off
            pos.add_payment(s, CASH, (total // 1000 + 1) * 1000)
        posted = pos.post_sale(s)
        totals[str(posted.receipt_number)] = posted.total.amount_minor

    now = datetime.now(UTC)
    (book,) = dc.export_cash_book(now - timedelta(days=1), now + timedelta(days=1))
    text = book.content.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[1:]
    x = dc.x_report()

    per_receipt: dict[str, int] = defaultdict(int)
    per_rate: dict[str, int] = defaultdict(int)
    non_cash = 0
    for r in rows:
        assert len(r) == 13, r
        assert r[0] == "EUR"
        assert AMOUNT.fullmatch(r[1]) and cents(r[1][1:]) != 0, r
        assert RECHNR.fullmatch(r[2]), r
        assert re.fullmatch(r"[0-3][0-9][01][0-9]", r[3]), r
        assert len(r[4]) <= 60
        amount = cents(r[1].replace("+", ""))
        if r[5]:  # a revenue row: gross at its rate
            per_receipt[r[2]] += amount
            per_rate[r[5]] += amount
        elif r[12].startswith("Zahlart"):
            non_cash += amount
    # each receipt's revenue is its total, once
    assert dict(per_receipt) == totals
    # per rate as the X report's VAT totals (rates with a decimal comma, two places)
    assert dict(per_rate) == {
        f"{v.vat_rate.partition('.')[0]},{(v.vat_rate.partition('.')[2] + '00')[:2]}":
        v.gross.amount_minor
        for v in x.vat_totals
        if v.gross.amount_minor
    }  # fmt: skip
    assert sum(per_rate.values()) == x.gross.amount_minor
    pay = {p.method: p.amount.amount_minor for p in x.payments}
    assert -non_cash == pay.get("CARD", 0)
    # the file moves the cash book by what the sales left in the drawer
    assert sum(cents(r[1].replace("+", "")) for r in rows) == pay.get("CASH", 0)
