"""``posctl import`` of an exchange rate a thousands separator makes ambiguous, as a
quantity (h113): "395.500" in a German Excel file (";") is 395500 as likely as 395.5 and
was read as 395.5; in an English one (",") the quoted "1,500" is, read as 1.5. Such a
rate (of the rates file or a shop's fixed_rates) is refused with one line naming its
line, column and value and what to write; rates without that ambiguity import as
before. Real posctl processes against a real daemon (on a real socket), real files."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import Running
from tests.integration.api.test_import_files_as_back_offices_write_them import posctl_import
from tests.integration.api.test_posctl_import_technician_h106 import report_lines


def rates(running: Running, day: str = "2026-11-20") -> dict[str, Decimal]:
    with sqlite3.connect(running.config.database_path) as db:
        rows = db.execute(
            "SELECT currency, rate FROM exchange_rates WHERE day = ?", (day,)
        ).fetchall()
    return {currency: Decimal(rate) for currency, rate in rows}


def fixed_rates(running: Running) -> dict[str, str]:
    with sqlite3.connect(running.config.database_path) as db:
        rows = db.execute("SELECT currency, rate FROM shop_rates").fetchall()
    return dict(rows)


def refused(running: Running, tmp_path: Path, kind: str, text: str) -> list[str]:
    """The report's problem lines of a refused import of ``text`` (nothing imported)."""
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = posctl_import(running, kind, str(path))
    assert code == 1, out + err
    assert "NOTHING imported" in out
    return report_lines(out, "line")


AMBIGUOUS = "is ambiguous (a thousands separator or a decimal one?): write"


@pytest.mark.parametrize(
    ("text", "where", "instead"),
    [
        # German Excel: ";" and "." groups thousands
        ("currency_code;date;rate\nCHF;2026-11-20;0,9412\nHUF;2026-11-20;395.500\n",
         "line 3: PARSE_ERROR: rate: '395.500'", "395500 or 395,5"),
        ("currency_code;date;rate\nHUF;2026-11-20;+1.500\n",
         "line 2: PARSE_ERROR: rate: '+1.500'", "+1500 or +1,5"),
        # English: "," and a quoted "1,500" groups thousands
        ('currency_code,date,rate\nUSD,2026-11-20,"1,500"\n',
         "line 2: PARSE_ERROR: rate: '1,500'", "1500 or 1.5"),
    ],
)  # fmt: skip
def test_an_ambiguous_exchange_rate_is_refused_saying_what_to_write(
    running: Running, tmp_path: Path, text: str, where: str, instead: str
) -> None:
    assert refused(running, tmp_path, "rates", text) == [f"  {where} {AMBIGUOUS} {instead}"]
    assert rates(running) == {}


def test_an_ambiguous_fixed_rate_of_a_shop_is_refused(running: Running, tmp_path: Path) -> None:
    before = fixed_rates(running)
    text = "shop_id;name;fixed_rates\nS9;Filiale;CHF:0,9412|HUF:395.500\n"
    assert refused(running, tmp_path, "shops", text) == [
        f"  line 2: PARSE_ERROR: fixed_rates: '395.500' {AMBIGUOUS} 395500 or 395,5"
    ]
    assert fixed_rates(running) == before


def test_unambiguous_rates_import_as_before(running: Running, tmp_path: Path) -> None:
    german = tmp_path / "rates.csv"
    # "1,500" in a German file has a decimal comma: 1.5; "0.9234" groups no thousands
    german.write_text(
        "currency_code;date;rate\nCHF;2026-11-20;0,9234\nHUF;2026-11-20;395,5\n"
        "USD;2026-11-20;1,500\nGBP;2026-11-20;0.9234\nJPY;2026-11-20;1.5\n",
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "rates", str(german))
    assert code == 0, out + err
    assert rates(running) == {
        "CHF": Decimal("0.9234"),
        "HUF": Decimal("395.5"),
        "USD": Decimal("1.5"),
        "GBP": Decimal("0.9234"),
        "JPY": Decimal("1.5"),
    }
    english = tmp_path / "rates_en.csv"
    # "1.500" in an English file has a decimal point: 1.5
    english.write_text(
        "currency_code,date,rate\nCHF,2026-11-21,0.9234\nHUF,2026-11-21,395.5\n"
        'USD,2026-11-21,1.500\nGBP,2026-11-21,"0,9234"\n',
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "rates", str(english))
    assert code == 0, out + err
    assert rates(running, "2026-11-21") == {
        "CHF": Decimal("0.9234"),
        "HUF": Decimal("395.5"),
        "USD": Decimal("1.5"),
        "GBP": Decimal("0.9234"),
    }


# -- spaces in an amount ------------------------------------------------------------------


def prices(running: Running) -> dict[str, int]:
    with sqlite3.connect(running.config.database_path) as db:
        rows = db.execute("SELECT item_id, gross_price FROM items").fetchall()
    return dict(rows)


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        ("3 49", "'3 49'"),  # was 349.00: a typo of 3,49 read 100 times too high
        ("12 5,50", "'12 5,50'"),  # was 125.50
        ("1\u00a050,00", "'1\\xa050,00'"),
    ],
)
def test_a_space_that_groups_no_thousands_in_an_amount_is_refused(
    running: Running, tmp_path: Path, price: str, shown: str
) -> None:
    text = f"item_id;name;gross_price;vat_category\n7001;Brot;{price};NORMAL\n"
    assert refused(running, tmp_path, "items", text) == [
        f"  line 2: PARSE_ERROR: gross_price: {shown} is not an amount (a space inside it"
        " groups no thousands: write the amount without one, e.g. 1234,56)"
    ]
    assert prices(running) == {}


def test_a_space_grouping_thousands_in_an_amount_is_read_as_one(
    running: Running, tmp_path: Path
) -> None:
    # a space, or the no-break space (U+00A0, U+202F) a spreadsheet groups digits with
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id;name;gross_price;vat_category\n7001;Brot;1 500,00;NORMAL\n"
        "7002;Kaffee;1\u00a0234,56;NORMAL\n7003;Tee;-\u00a02\u202f000;NORMAL\n"
        "7004;Saft; 2,99 ;NORMAL\n",
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "items", str(path), "--validate-only")
    assert "PARSE_ERROR" not in out, out + err
    path.write_text(
        "item_id;name;gross_price;vat_category\n7001;Brot;1 500,00;NORMAL\n"
        "7002;Kaffee;1\u00a0234,56;NORMAL\n7004;Saft;\u00a02,99 ;NORMAL\n",
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 0, out + err
    assert prices(running) == {"7001": 150000, "7002": 123456, "7004": 299}


# -- JSON numbers -------------------------------------------------------------------------


def test_a_json_float_artefact_never_becomes_money_or_a_rate(
    running: Running, tmp_path: Path
) -> None:
    # JSON numbers are the JSON spec's ("." decimal): not ambiguous; but a float sum's
    # artefact (0.1 + 0.2) is refused, not rounded into minor units or a rate
    items = tmp_path / "items.json"
    items.write_text(
        '[{"itemId": "7001", "name": "Brot", "vatCategory": "VAT_CATEGORY_NORMAL",'
        ' "grossPrice": {"amountMinor": 230.00000000000003, "currencyCode": "EUR"}}]',
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "items", str(items))
    assert code == 1, out + err
    assert "entry 1: PARSE_ERROR:" in out and "230.00000000000003" in out, out
    assert prices(running) == {}
    rates_json = tmp_path / "rates.json"
    rates_json.write_text(
        '[{"currencyCode": "USD", "date": "2026-11-20", "rate": 0.30000000000000004}]',
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "rates", str(rates_json))
    assert code == 1, out + err
    assert "entry 1: PARSE_ERROR:" in out, out
    assert rates(running) == {}
