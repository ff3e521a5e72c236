"""DATEV extended cash book: the shop's balancing account as Gegenkonto.

``shop.balancing_account`` is a free code (1..64 ASCII characters); the export booked any
all-digit one of up to 9 digits as the row's Gegenkonto. DATEV Kassenbuch online takes a
Gegenkonto of at most the Sachkontennummernlänge + 1 digits (DATEV Hilfe-Dokument
1002367): "12345678" in a chart of 4-digit accounts made a row DATEV refuses. One that
does not fit the chart is named for the adviser, without a Gegenkonto, as a code is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from posd.client import PosdClient

from tests.conftest import running_daemon
from tests.integration.day.test_datev_balancing_line import balanced_exchange
from tests.support.fullsale import update_shop
from tests.unit.test_config_datev_account_length import FIVE_DIGIT_CHART


def _balancing_row(pos: PosdClient) -> list[str]:
    number, rows = balanced_exchange(pos)
    (row,) = [r for r in rows[1:] if r[2] == number and r[1] == "+10,83"]
    return row


@pytest.mark.parametrize("account", ["12345678", "15900"])
def test_a_balancing_account_longer_than_the_chart_is_named_not_booked(
    pos: PosdClient, account: str
) -> None:
    update_shop(pos, balancing_account=account)
    row = _balancing_row(pos)
    assert row[7] == ""  # no Gegenkonto DATEV would refuse (default: 4-digit accounts)
    assert account in row[4]  # named for the adviser


def test_a_balancing_account_of_the_chart_is_booked(pos: PosdClient) -> None:
    update_shop(pos, balancing_account="1590")
    row = _balancing_row(pos)
    assert row[7] == "1590"


def test_a_long_code_with_a_quote_and_a_semicolon_stays_one_field(pos: PosdClient) -> None:
    """A code may hold any printable ASCII (domain/text.check_code): quotes are doubled
    inside the quoted field and a semicolon stays in it (DATEV-Format, developer.datev.de
    "Einstieg": a quote in a text field is doubled, no control characters); the Belegtext
    is cut at its 60 characters, the whole code stays in Nachricht."""
    code = 'A"B;C' + "X" * 59  # the longest code (64)
    update_shop(pos, balancing_account=code)
    row = _balancing_row(pos)
    assert len(row) == 13  # one record, every field in its place
    assert len(row[4]) <= 60
    assert row[4].startswith('Beleg 2 Ausgleichskonto A"B;C')
    assert code in row[12]


def test_a_chart_of_5_digit_accounts_books_a_5_digit_balancing_account(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "state", {"datev": FIVE_DIGIT_CHART}) as running:
        pos = running.client(open_shift=False)  # (_balancing_row opens it)
        update_shop(pos, balancing_account="15900")
        assert _balancing_row(pos)[7] == "15900"
