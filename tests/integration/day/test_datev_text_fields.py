"""DATEV Kassenbuch online: the text fields of the cash book as a tax adviser imports them.

fiscal-de.md, "DATEV Kassenbuch online import": ``Belegtext`` at most 60 characters, UTF-8,
``;``-separated with a line per record.

* A cash movement's Belegtext is its kind and its reason ("Entnahme: ..."): with a reason
  of the 60 characters posd takes, the end of the reason was cut off and lost from the
  export; the Entnahme's reason is what the adviser books it by.
* Text in decomposed form (an umlaut as a letter and a combining mark, as some keyboards
  send it) was exported as is: the cut at 60 code points could drop the mark off its
  letter, and DATEV got two characters where it counts one.
* A reason may hold U+2028/U+2029 (no control characters, so posd takes them); readers
  that split lines at them (Python's ``str.splitlines``, among others) saw the record
  broken in two.
* A foreign cash movement worth 0.00 EUR made a "+0,00" row (VorzBetrag is never 0).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import UTC, datetime, timedelta

from posd.client import PosdClient
from posd.v1 import closing_pb2, shop_pb2

from tests.support.fullsale import update_shop

WITHDRAWAL = closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL
DEPOSIT = closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT


def _rows(pos: PosdClient) -> tuple[str, list[list[str]]]:
    now = datetime.now(UTC)
    (book,) = pos.export_datev(now - timedelta(days=1), now + timedelta(days=1))
    text = book.content.decode("utf-8")
    return text, list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[1:]


def test_a_long_reason_cut_from_the_belegtext_stays_whole_in_the_message(
    pos: PosdClient,
) -> None:
    pos.open_shift(PosdClient.cash_counts(total=10000))
    reason = "Einkauf Reinigungsmittel, Kaffeefilter und Milch; Beleg 4711"
    assert len(reason) == 60  # the longest reason posd takes
    pos.add_cash_movement(WITHDRAWAL, 2345, reason)

    _, rows = _rows(pos)
    (row,) = rows
    assert row[1] == "-23,45"
    belegtext, nachricht = row[4], row[12]
    assert len(belegtext) <= 60  # the format's limit
    assert belegtext.startswith("Entnahme: Einkauf")
    # nothing of the reason is lost: what the Belegtext has no room for is in the message
    assert nachricht.startswith("Privatentnahme")
    assert reason in nachricht


def test_decomposed_umlauts_are_exported_composed_and_never_cut_apart(
    pos: PosdClient,
) -> None:
    pos.open_shift(PosdClient.cash_counts(total=10000))
    # "üller" with the ü decomposed (u + U+0308), the mark exactly at the cut where
    # "Entnahme: " + reason reaches 60 code points
    reason = "x" * 49 + "u\u0308ller"
    pos.add_cash_movement(WITHDRAWAL, 500, reason)

    text, rows = _rows(pos)
    assert unicodedata.is_normalized("NFC", text)
    (row,) = rows
    # composed, the ü is one character and fits: not a bare u
    assert row[4] == "Entnahme: " + "x" * 49 + "\u00fc"
    assert "x" * 49 + "\u00fcller" in row[12]


def test_a_combining_mark_never_loses_its_letter_at_the_cut(pos: PosdClient) -> None:
    pos.open_shift(PosdClient.cash_counts(total=10000))
    # q + U+0308 has no composed form: the cut must not leave the q without its mark
    reason = "x" * 49 + "q\u0308\u0308z"
    pos.add_cash_movement(WITHDRAWAL, 500, reason)

    _, rows = _rows(pos)
    (row,) = rows
    assert row[4] == "Entnahme: " + "x" * 49
    assert reason in row[12]


def test_a_line_separator_in_a_reason_never_breaks_the_record(pos: PosdClient) -> None:
    pos.open_shift(PosdClient.cash_counts(total=10000))
    pos.add_cash_movement(WITHDRAWAL, 1000, "Bank\u2028Einzahlung\u2029Filiale")

    text, rows = _rows(pos)
    assert len(text.splitlines()) == 2  # the header and one record
    assert text.endswith("\r\n")
    (row,) = rows
    assert row[4] == "Entnahme: Bank Einzahlung Filiale"


def test_foreign_cash_worth_nothing_in_eur_makes_no_zero_row(pos: PosdClient) -> None:
    """VorzBetrag is never 0 (DATEV Hilfe-Dokument 1002367, as the module says): 0.01 HUF
    at 400 HUF per EUR is 0.0025 cents, 0.00 EUR, so it is no row, as in the Z (0.00 EUR
    deposited). Before, the file had a "+0,00" row, which the import refuses."""
    update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="HUF", rate="400")])
    pos.open_shift(PosdClient.cash_counts(total=10000))
    pos.add_cash_movement(DEPOSIT, 1, "Forint", currency="HUF")
    pos.add_cash_movement(DEPOSIT, 10000, "Forint", currency="HUF")  # 100 HUF: 0.25 EUR

    _, rows = _rows(pos)
    assert [(r[1], r[2], r[12]) for r in rows] == [("+0,25", "K2", "Privateinlage; 100,00 HUF")]
    deposits = {c.business_case: c.gross.amount_minor for c in pos.x_report().business_cases}
    assert deposits["CASH_DEPOSITS"] == 25  # what the cash book adds up to
