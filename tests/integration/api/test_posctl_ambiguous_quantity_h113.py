"""``posctl import`` of a quantity a thousands separator makes ambiguous: "1.500" in a
German Excel file (";") is 1500 as likely as 1.5, and was read as 1.5 (stock off by a
factor of 1000); in an English one (",") the quoted "1,500" is. Such a row is refused
with one line naming its line, column and value and what to write instead; quantities
without that ambiguity import as before. Real posctl processes against a real daemon
(in-process, on a real socket), real files."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from posd.client import PosdClient

from tests.conftest import Running
from tests.integration.api.test_import_files_as_back_offices_write_them import posctl_import
from tests.integration.api.test_posctl_import_technician_h106 import report_lines
from tests.integration.api.test_sale_part2 import seed


def stock(running: Running) -> dict[str, Decimal]:
    with sqlite3.connect(running.config.database_path) as db:
        rows = db.execute("SELECT item_id, quantity FROM stock").fetchall()
    return {item_id: Decimal(q) for item_id, q in rows}


@pytest.mark.parametrize(
    ("kind", "text", "where", "instead"),
    [
        # German Excel: ";" and "." groups thousands
        ("stock", "item_id;quantity\nCOFFEE;7\nROLL;1.500\n",
         "line 3: PARSE_ERROR: quantity: '1.500'", "1500 or 1,5"),
        ("stock", "item_id;quantity\nROLL;-12.000\n",
         "line 2: PARSE_ERROR: quantity: '-12.000'", "-12000 or -12"),
        ("orders", "order_number;item_id;quantity\nA-1;ROLL;12.000\n",
         "line 2: PARSE_ERROR: quantity: '12.000'", "12000 or 12"),
        ("items", "item_id;name;gross_price;vat_category;units\n"
                  "ROLL2;Brötchen;0,35;REDUCED;KIST:1.000\n",
         "line 2: PARSE_ERROR: units: '1.000'", "1000 or 1"),
        # English: "," and a quoted "1,500" groups thousands
        ("stock", 'item_id,quantity\nROLL,"1,500"\n',
         "line 2: PARSE_ERROR: quantity: '1,500'", "1500 or 1.5"),
    ],
)  # fmt: skip
def test_an_ambiguous_quantity_is_refused_saying_what_to_write(
    running: Running,
    pos: PosdClient,
    tmp_path: Path,
    kind: str,
    text: str,
    where: str,
    instead: str,
) -> None:
    seed(pos)
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = posctl_import(running, kind, str(path))
    assert code == 1, out + err
    assert report_lines(out, "line") == [
        f"  {where} is ambiguous (a thousands separator or a decimal one?): write {instead}"
    ], out
    assert "NOTHING imported" in out
    assert stock(running) == {}


def test_unambiguous_quantities_import_as_before(
    running: Running, pos: PosdClient, tmp_path: Path
) -> None:
    seed(pos)
    german = tmp_path / "stock.csv"
    # "1,500" in a German file has a decimal comma: 1.5
    german.write_text("item_id;quantity\nCOFFEE;1500\nROLL;2,5\nTV;1,500\n", encoding="utf-8")
    code, out, err = posctl_import(running, "stock", str(german))
    assert code == 0, out + err
    assert stock(running) == {
        "COFFEE": Decimal(1500),
        "ROLL": Decimal("2.5"),
        "TV": Decimal("1.5"),
    }
    english = tmp_path / "stock_en.csv"
    # "1.500" in an English file has a decimal point: 1.5
    english.write_text('item_id,quantity\nCOFFEE,1.500\nROLL,0.25\nTV,"2,5"\n', encoding="utf-8")
    code, out, err = posctl_import(running, "stock", str(english))
    assert code == 0, out + err
    assert stock(running) == {
        "COFFEE": Decimal("1.5"),
        "ROLL": Decimal("0.25"),
        "TV": Decimal("2.5"),
    }
