"""``posctl import`` with the files a back office really has: written by Excel or an ERP,
a FIFO or a huge file named by mistake, a column or JSON key typed twice. Real daemon,
real socket, real files; the database file shows what was (not) imported."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import catalog_pb2, customer_pb2

from tests.conftest import Running
from tests.support.posctl_run import posctl_args

HEADER = "item_id;name;gross_price;vat_category\n"


def posctl_import(running: Running, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """posctl as the back office runs it: its own process (a hang is a timeout here)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "posd_daemon.cli.posctl",
            *posctl_args(running, socket=False),
            "import",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def item_count(running: Running) -> int:
    with sqlite3.connect(running.config.database_path) as db:
        return int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def test_a_fifo_is_refused_at_once_not_waited_on(running: Running, tmp_path: Path) -> None:
    fifo = tmp_path / "items.csv"
    os.mkfifo(fifo)
    code, out, err = posctl_import(running, "items", str(fifo), timeout=20)
    assert code == 1
    assert err.strip() == f"posctl: {fifo}: not a regular file", err
    assert "Traceback" not in out + err


def test_a_column_named_twice_in_the_header_is_refused(running: Running, tmp_path: Path) -> None:
    # which of the two prices is meant is not posctl's guess to make
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id;name;gross_price;vat_category; gross_price \n7001;Brot;1,50;NORMAL;15,00\n",
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1
    assert "gross_price" in err and "twice" in err, err
    assert "Traceback" not in out + err
    assert item_count(running) == 0


def test_a_json_key_given_twice_in_one_entry_is_refused(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(
        '[{"itemId": "7002", "name": "Kaffee", "vatCategory": "VAT_CATEGORY_NORMAL",'
        ' "grossPrice": {"amountMinor": "899", "currencyCode": "EUR"},'
        ' "grossPrice": {"amountMinor": "8", "currencyCode": "EUR"}}]',
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1
    assert "entry 1: PARSE_ERROR" in out and "grossPrice" in out, out + err
    assert "NOTHING imported" in out
    assert item_count(running) == 0


def test_a_rejected_record_spanning_lines_is_named_by_its_first_line(
    running: Running, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(
        (
            HEADER + '7003;"Brot\r\nvom Vortag";x;NORMAL\r\n'  # lines 2-3
            "\r\n"  # line 4: empty
            '7004;"Kaffee";y;NORMAL\r\n'  # line 5
        ).encode()
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1, out + err
    assert "line 2: PARSE_ERROR: gross_price: 'x' is not an amount" in out, out
    assert "line 5: PARSE_ERROR: gross_price: 'y' is not an amount" in out, out
    assert item_count(running) == 0


def test_a_windows_1252_file_is_refused_naming_line_and_column(
    running: Running, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(
        (HEADER + "7005;Brot;1,50;NORMAL\n7006;K\xe4se;2,50;REDUCED\n").encode("cp1252")
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1
    assert "line 3, column 7" in err, err
    assert "UTF-8" in err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1
    assert item_count(running) == 0


def test_a_file_too_large_for_one_request_is_refused_with_what_to_do(
    running: Running, tmp_path: Path
) -> None:
    # fewer rows than an import takes, more bytes than the daemon receives in a message
    limit = running.config.api.max_message_bytes
    rows = "".join(f"{i};Artikel {'x' * 200} {i};1,00;NORMAL\n" for i in range(limit // 150))
    path = tmp_path / "items.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1
    assert "api.max_message_bytes" in err and "split" in err, err
    assert "Traceback" not in out + err
    assert item_count(running) == 0


def test_a_huge_file_is_refused_before_it_is_read(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "dump.csv"
    with path.open("wb") as f:  # sparse: no disk used, but reading it would take 4 GiB
        f.truncate(4 * 1024**3)
    code, out, err = posctl_import(running, "items", str(path), timeout=30)
    assert code == 1
    assert "too large" in err and "split" in err, err
    assert "Traceback" not in out + err


def test_a_customer_import_keeps_the_walk_in_customer_anonymous(
    running: Running, pos: PosdClient, tmp_path: Path
) -> None:
    # an ERP's export of all customers includes the register's walk-in customer "0"
    walk_in = pos.call(
        pos.customers.GetCustomer, customer_pb2.GetCustomerRequest(customer_number="0")
    ).customer
    assert walk_in.anonymous
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_number;name;city\n0;Laufkunde;Berlin\nK7001;Erika Muster;Berlin\n",
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "customers", str(path))
    assert code == 0, out + err
    assert "imported 2 customers (1 new, 1 replaced)" in out
    after = pos.call(
        pos.customers.GetCustomer, customer_pb2.GetCustomerRequest(customer_number="0")
    ).customer
    assert after.anonymous and after.city == "Berlin"

    # and an import does not make a named customer anonymous (not on receipts, invoices
    # or in the DSFinV-K export any more)
    path = tmp_path / "customers.json"
    path.write_text(
        json.dumps([{"customerNumber": "K7001", "name": "Erika Muster", "anonymous": True}]),
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "customers", str(path))
    assert code == 1, out + err
    assert "entry 1 [K7001]" in out and "anonymous" in out, out
    erika = pos.call(
        pos.customers.GetCustomer, customer_pb2.GetCustomerRequest(customer_number="K7001")
    ).customer
    assert not erika.anonymous


@pytest.mark.parametrize(
    "data",
    [
        # what Excel writes: a BOM, CRLF, ';', decimal commas, trailing empty lines,
        # a header in another order and with spaces
        "\ufeffname ; item_id;vat_category;gross_price\r\nBrot;7010;NORMAL;1,50\r\n"
        "Käse;7011;REDUCED;12,50\r\n;;;\r\n\r\n",
        # an ERP's comma-separated file with quoted decimal commas
        'item_id,name,gross_price,vat_category\n7010,Brot,"1,50",NORMAL\n'
        '7011,"Käse, alt",12.50,REDUCED\n',
    ],
)
def test_excel_and_erp_csv_files_import_their_amounts_exactly(
    running: Running, pos: PosdClient, tmp_path: Path, data: str
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(data.encode("utf-8"))
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 0, out + err
    assert "imported 2 items (2 new, 0 replaced)" in out
    prices = {
        item_id: pos.call(
            pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id=item_id)
        ).item.gross_price.amount_minor
        for item_id in ("7010", "7011")
    }
    assert prices == {"7010": 150, "7011": 1250}


@pytest.mark.parametrize(
    ("header", "price"),
    [
        # a spreadsheet's thousands separator: 1000 EUR, not 1.00 EUR
        ("item_id;name;gross_price;vat_category\n", "1.000"),
        ("item_id,name,gross_price,vat_category\n", '"1,000"'),
        ("item_id,name,gross_price,vat_category\n", '"12,500"'),
    ],
)
def test_a_price_with_a_thousands_separator_is_refused_not_read_as_decimals(
    running: Running, tmp_path: Path, header: str, price: str
) -> None:
    delimiter = header[7]
    path = tmp_path / "items.csv"
    path.write_text(
        header + delimiter.join(("7020", "Fahrrad", price, "NORMAL")) + "\n", encoding="utf-8"
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1, out + err
    assert "line 2: PARSE_ERROR: gross_price:" in out and "thousands" in out, out
    assert item_count(running) == 0


@pytest.mark.parametrize("value", ["1e400", "Infinity", "NaN"])
def test_a_json_number_beyond_a_float_is_a_rejected_entry_not_a_traceback(
    running: Running, tmp_path: Path, value: str
) -> None:
    path = tmp_path / "items.json"
    path.write_text(
        '[{"itemId": "7030", "name": "Brot", "vatCategory": "VAT_CATEGORY_NORMAL",'
        ' "grossPrice": {"amountMinor": "100", "currencyCode": "EUR"}},'
        f' {{"itemId": "7031", "name": "Kaffee", "vatCategory": {value}}}]',
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert "entry 2: PARSE_ERROR" in out or f"posctl: {path}: not valid JSON" in err, out + err
    assert item_count(running) == 0


def test_json_nested_as_deep_as_json_reads_is_a_clear_error(
    running: Running, tmp_path: Path
) -> None:
    path = tmp_path / "items.json"
    depth = 990  # within what the json module parses
    path.write_text('[{"itemId": ' + "[" * depth + "]" * depth + "}]", encoding="utf-8")
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert item_count(running) == 0


@pytest.mark.parametrize("field", ["itemId", "name", "vatCategory"])
def test_a_json_escape_of_half_a_character_is_a_rejected_entry(
    running: Running, tmp_path: Path, field: str
) -> None:
    entry = {
        "itemId": "7040",
        "name": "Brot",
        "vatCategory": "VAT_CATEGORY_NORMAL",
        "grossPrice": {"amountMinor": "100", "currencyCode": "EUR"},
    }
    entry[field] = "Br\udcffot"  # json.dumps writes it as the escape \\udcff
    path = tmp_path / "items.json"
    path.write_text(json.dumps([entry]), encoding="utf-8")
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert "entry 1: PARSE_ERROR" in out, out + err
    assert item_count(running) == 0


def test_a_csv_with_classic_mac_line_ends_imports(running: Running, tmp_path: Path) -> None:
    # Excel for Mac's "CSV (Macintosh)" ends lines with CR alone
    path = tmp_path / "items.csv"
    path.write_bytes(b"item_id;name;gross_price;vat_category\r7050;Brot;1,50;NORMAL\r")
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 0, out + err
    assert "imported 1 items (1 new, 0 replaced)" in out
