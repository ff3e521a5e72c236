"""``posctl import`` as a German field technician uses it: files from German Excel, an
empty export, a typo in the header, a reason with a newline in it, Ctrl-C. Real posctl
processes, a real daemon where one is needed, real files."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import catalog_pb2

from tests.conftest import Running
from tests.integration.api.test_import_files_as_back_offices_write_them import (
    HEADER,
    item_count,
    posctl_import,
)


def posctl_argv(sock: Path, state_dir: Path, *args: str) -> list[str]:
    """posctl import as operator 1 over ``sock``."""
    return [sys.executable, "-m", "posd_daemon.cli.posctl", "--socket", str(sock),
            "--state-dir", str(state_dir), "--operator", "1", "--pin", "1234", "import",
            *args]  # fmt: skip


def posctl_without_daemon(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """posctl with a socket nobody listens on: a file it sends to the daemon ends with
    "no daemon" (exit 3), one it refuses before that with its own line (exit 1)."""
    proc = subprocess.run(
        posctl_argv(tmp_path / "nobody.sock", tmp_path, *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def report_lines(out: str, where: str) -> list[str]:
    """The report's problem lines; every line after the two summary lines is one."""
    lines = out.splitlines()
    assert all(line.startswith(f"  {where} ") for line in lines[2:]), out
    return lines[2:]


# -- 1. one problem, one line -------------------------------------------------------------


def test_a_json_reason_with_a_newline_is_one_report_line(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(
        json.dumps([{"itemId": "8001", "name": "Brot", "vatCategory": "NOR\nMAL"}]),
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1, out + err
    lines = report_lines(out, "entry")
    assert len(lines) == 1, out
    assert "entry 1: PARSE_ERROR" in lines[0] and "NOR / MAL" in lines[0], out
    assert item_count(running) == 0


def test_a_daemon_rejection_of_a_quoted_multi_line_cell_is_one_report_line(
    running: Running, tmp_path: Path
) -> None:
    # the key (and the daemon's message) carry the cell's newline
    path = tmp_path / "rates.csv"
    path.write_text(
        'base_currency_code;currency_code;date;rate\nEUR;"CH\nF";2026-11-20;0,95\n',
        encoding="utf-8",
    )
    code, out, err = posctl_import(running, "rates", str(path))
    assert code == 1, out + err
    lines = report_lines(out, "line")
    assert len(lines) == 1, out
    assert lines[0].startswith("  line 2"), out


# -- 2. a file without rows ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "lacks"),
    [
        ("items.csv", b"", "empty"),
        ("items.csv", HEADER.encode(), "no rows"),
        ("items.csv", b"\xef\xbb\xbf" + HEADER.encode() + b";;;\r\n\r\n", "no rows"),
        ("items.csv", b"\n\n\r\n", "no header"),
        ("items.json", b"[]", "no items"),
        ("items.json", b'{"items": []}', "no items"),
    ],
)
def test_a_file_without_rows_is_refused_before_the_daemon_is_asked(
    tmp_path: Path, name: str, data: bytes, lacks: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    code, out, err = posctl_without_daemon(tmp_path, "items", str(path))
    assert code == 1, out + err  # 3 would be "no daemon": it tried to send the file
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"posctl: {path}: ") and lacks in err, err


# -- German Excel -------------------------------------------------------------------------


def test_german_excel_csv_with_bom_umlauts_and_decimal_commas_imports_exactly(
    running: Running, pos: PosdClient, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + (
            "item_id;name;gross_price;vat_category;unit;fractional\r\n"
            "8010;Käse;2,99;REDUCED;kg;ja\r\n"
            "8011;Brötchen;0,5;REDUCED;;\r\n"
        ).encode()
    )
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 0, out + err
    stock = tmp_path / "stock.csv"
    stock.write_bytes(b"\xef\xbb\xbfitem_id;quantity\r\n8010;1,5\r\n")
    code, out, err = posctl_import(running, "stock", str(stock))
    assert code == 0, out + err
    items = {
        item_id: pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id=item_id)).item
        for item_id in ("8010", "8011")
    }
    assert {i: (it.name, it.gross_price.amount_minor) for i, it in items.items()} == {
        "8010": ("Käse", 299),
        "8011": ("Brötchen", 50),
    }


@pytest.mark.parametrize(
    ("price", "hint"),
    [
        ("1.234,56", "thousands separator"),
        ("1.000.000", "thousands separator"),
        ("2,99 €", "currency sign"),
        ("EUR 2,99", "currency sign"),
    ],
)
def test_a_formatted_excel_amount_is_refused_saying_what_to_write(
    running: Running, tmp_path: Path, price: str, hint: str
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(HEADER + f"8020;Fahrrad;{price};NORMAL\n", encoding="utf-8")
    code, out, err = posctl_import(running, "items", str(path))
    assert code == 1, out + err
    lines = report_lines(out, "line")
    assert len(lines) == 1 and "line 2: PARSE_ERROR: gross_price:" in lines[0], out
    assert hint in lines[0], out
    assert item_count(running) == 0


def test_a_utf16_file_is_refused_naming_its_encoding(tmp_path: Path) -> None:
    # Excel's "Unicode Text" is UTF-16 with a BOM
    path = tmp_path / "items.csv"
    path.write_bytes((HEADER + "8030;Käse;2,99;REDUCED\n").encode("utf-16"))
    code, out, err = posctl_without_daemon(tmp_path, "items", str(path))
    assert code == 1, out + err
    assert len(err.splitlines()) == 1 and "UTF-16" in err and "UTF-8" in err, err


# -- the header ---------------------------------------------------------------------------


def test_a_header_typo_is_named_with_the_column_probably_meant(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("Item_ID;name;gross_prise;vat_category\n", encoding="utf-8")
    code, out, err = posctl_without_daemon(tmp_path, "items", str(path))
    assert code == 1, out + err
    assert len(err.splitlines()) == 1, err
    assert "Item_ID (did you mean item_id?)" in err, err
    assert "gross_prise (did you mean gross_price?)" in err, err


def test_a_missing_key_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("name;gross_price;vat_category\nBrot;1,50;NORMAL\n", encoding="utf-8")
    code, out, err = posctl_without_daemon(tmp_path, "items", str(path))
    assert code == 1, out + err
    assert len(err.splitlines()) == 1, err
    assert f"posctl: {path}: column(s) item_id missing" in err, err


# -- Ctrl-C -------------------------------------------------------------------------------


def test_ctrl_c_while_waiting_for_the_daemon_is_one_line_exit_130(tmp_path: Path) -> None:
    # a daemon that accepts and never answers: posctl waits for it until Ctrl-C
    sock_path = tmp_path / "posd.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    server.settimeout(60)
    path = tmp_path / "items.csv"
    path.write_text(HEADER + "8040;Brot;1,50;NORMAL\n", encoding="utf-8")
    proc = subprocess.Popen(
        posctl_argv(sock_path, tmp_path, "items", str(path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        conn, _ = server.accept()
        conn.recv(1024)  # the HTTP/2 preface: posctl is in its call now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        conn.close()
    finally:
        proc.kill()
        proc.wait()
        server.close()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 1, err
