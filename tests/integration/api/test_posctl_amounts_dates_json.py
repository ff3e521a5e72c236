"""posctl reads money typed on its command line exactly, in the register currency's
decimals, says a day typed in ISO basic form (20240101) as that whole day, and keeps its
``--json`` output JSON (in-process daemon, real socket, posctl's own main)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from posd_daemon.cli import posctl
from tests.conftest import Running, running_daemon
from tests.support.posctl_run import posctl_args


def run_posctl(
    running: Running, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    try:
        code = posctl.main(posctl_args(running, *args))
    except SystemExit as exc:  # argparse: a bad argument
        code = exc.code if isinstance(exc.code, int) else 2
    out = capsys.readouterr()
    return code, posctl_output(out.out), out.err


#: the in-process daemon's own log lines share posctl's stdout here
DAEMON_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def posctl_output(out: str) -> str:
    """posctl's stdout without the in-process daemon's log lines."""
    return "\n".join(line for line in out.splitlines() if not DAEMON_LOG.match(line))


@pytest.fixture
def yen(tmp_path: Path) -> Iterator[tuple[Running, Path]]:
    """A register that keeps yen (no minor unit), and its config file as posctl on the
    register reads it."""
    state = tmp_path / "state"
    config = tmp_path / "posd.toml"
    config.write_text(
        f'[state]\ndir = "{state}"\n[register]\ncurrency = "JPY"\ntimezone = "UTC"\n',
        encoding="utf-8",
    )
    with running_daemon(state, {"register": {"currency": "JPY"}}) as r:
        yield r, config


def test_a_cash_movement_on_a_yen_register_is_read_in_yen(
    yen: tuple[Running, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    running, config = yen
    with running.client():
        pass  # opens the shift
    code, out, err = run_posctl(
        running, capsys, "--config", str(config), "cash", "in", "500", "--reason", "Wechselgeld"
    )
    assert code == 0, err
    assert ": 500 JPY" in out, out  # it was 50000 JPY: "500" read as 500.00
    code, out, err = run_posctl(running, capsys, "--config", str(config), "cash", "in", "1.50")
    assert code == 2  # --reason missing: argparse, before anything
    code, out, err = run_posctl(
        running, capsys, "--config", str(config), "cash", "in", "1.5", "--reason", "x"
    )
    assert code == 1 and "at most 0 decimals" in err, (out, err)


def test_a_shift_on_a_yen_register_counts_yen(
    yen: tuple[Running, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    running, config = yen
    code, out, err = run_posctl(
        running, capsys, "--config", str(config), "shift", "open", "--total", "500"
    )
    assert code == 0, err
    code, out, err = run_posctl(running, capsys, "--config", str(config), "shift", "show")
    assert code == 0, err
    # it opened with 500.00 EUR: the float in a currency the register does not keep
    assert "expected cash now: 500 JPY" in out, out
    assert "EUR" not in out
    code, out, err = run_posctl(
        running, capsys, "--config", str(config), "shift", "close", "--count", "0.50=2"
    )
    assert code == 1 and "at most 0 decimals" in err, (out, err)


def test_receipts_min_on_a_yen_register_is_in_yen(
    yen: tuple[Running, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    running, config = yen
    with running.client() as pos:
        pos.upsert_item("A", "Tee", 300, currency="JPY")
        s = pos.create_sale()
        pos.add_line(s.sale_id, item_id="A")
        pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CASH, 300, currency="JPY")
        pos.post_sale(s.sale_id)
    code, out, err = run_posctl(
        running, capsys, "--config", str(config), "--json", "receipts", "list", "--min", "300"
    )
    assert code == 0, err
    assert [r["receipt_number"] for r in json.loads(out)] == ["1"], out  # --min was 30000


def _expected_cash(running: Running, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_posctl(running, capsys, "shift", "show")
    assert code == 0, err
    return "\n".join(line for line in out.splitlines() if line.startswith("expected cash"))


@pytest.mark.parametrize(
    "text",
    ["NaN", "inf", "Infinity", "sNaN", "1_000", "١٢", "1,000", "1.000", "12.345",
     "0x10", "1.2.3", "1e", "1e-3", "1.5e1.2", "1e-999999999999999999", "", " ", "+", "."],
)  # fmt: skip
def test_an_amount_that_is_not_plain_decimal_text_is_refused(
    running: Running, pos: PosdClient, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    before = _expected_cash(running, capsys)
    code, out, err = run_posctl(running, capsys, "cash", "in", text, "--reason", "x")
    assert code == 1, (text, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("posctl: "), err
    assert "Traceback" not in err
    # NaN and inf were said as "at most 2 decimals", sNaN as "too large"
    assert "not an amount" in err or "at most 2 decimals" in err, err
    if text.lower().lstrip("+-s") in ("nan", "inf", "infinity"):
        assert "not an amount" in err, err
    assert _expected_cash(running, capsys) == before  # nothing booked


def test_amounts_are_read_exactly(
    running: Running, pos: PosdClient, capsys: pytest.CaptureFixture[str]
) -> None:
    for text in ("0.1", "0.2", "1,50", "+2", ".05", "3.", "1e1", "2.5E-1"):
        code, _out, err = run_posctl(running, capsys, "cash", "in", text, "--reason", "x")
        assert code == 0, (text, err)
    # 0.10 + 0.20 + 1.50 + 2.00 + 0.05 + 3.00 + 10.00 + 0.25, not a float's 17.1000000001
    assert "expected cash now: 17.10 EUR" in _expected_cash(running, capsys)


def test_a_day_in_iso_basic_form_is_the_whole_day(
    running: Running, pos: PosdClient, capsys: pytest.CaptureFixture[str]
) -> None:
    pos.upsert_item("A", "Kaffee", 899)
    s = pos.create_sale()
    pos.add_line(s.sale_id, item_id="A")
    pos.add_payment(s.sale_id, common_pb2.PAYMENT_METHOD_CASH, 899)
    posted = pos.post_sale(s.sale_id)
    day = posted.post_time.ToDatetime().date()  # the register's zone is UTC in tests
    for text in (day.isoformat(), day.strftime("%Y%m%d")):
        code, out, err = run_posctl(
            running, capsys, "--json", "receipts", "list", "--from", text, "--to", text
        )
        assert code == 0, err
        # --to 20240101 was read as that day's midnight: an empty range
        assert [r["receipt_number"] for r in json.loads(out)] == ["1"], (text, out)


def test_monitor_json_is_json_lines_only(
    running: Running, pos: PosdClient, capsys: pytest.CaptureFixture[str]
) -> None:
    def kick() -> None:
        time.sleep(1.0)  # once the monitor is listening
        pos.open_drawer("test")

    t = threading.Thread(target=kick)
    t.start()
    try:
        code, out, err = run_posctl(running, capsys, "monitor", "printer", "--count", "1", "--json")
    finally:
        t.join()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines, out
    for line in lines:  # "# monitoring printer ..." came first on stdout
        assert isinstance(json.loads(line), dict), line


@pytest.mark.parametrize("price", ["1_000", "NaN", "Infinity", "١٢", "0x10"])
def test_an_imported_price_that_is_no_decimal_text_is_a_rejected_row(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path, price: str
) -> None:
    items = tmp_path / "items.csv"
    items.write_text(
        f"item_id,name,vat_category,gross_price\n9001,Brot,NORMAL,{price}\n", encoding="utf-8"
    )
    code, out, err = run_posctl(running, capsys, "import", "items", str(items))
    assert code == 1, (out, err)
    # "1_000" and "١٢" were imported as 1000.00 and 12.00; NaN said "more decimals"
    assert f"line 2: PARSE_ERROR: gross_price: {price!r} is not an amount" in out, out
    assert "NOTHING imported" in out


def test_an_imported_price_too_small_for_the_currency_is_not_zero(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items = tmp_path / "items.csv"
    items.write_text(
        "item_id,name,vat_category,gross_price\n9001,Brot,NORMAL,1e-999999999999999999\n",
        encoding="utf-8",
    )
    code, out, err = run_posctl(running, capsys, "import", "items", str(items))
    assert code == 1, (out, err)  # it imported Brot at 0.00: Decimal's underflow to zero
    assert "line 2: PARSE_ERROR: gross_price: " in out and "more decimals than EUR" in out, out


def test_posctl_without_the_daemons_config_takes_the_daemons_currency(
    yen: tuple[Running, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Reached by --socket with no config file (posctl's defaults say EUR), posctl books
    in the currency the daemon names (GetStatus currency_code): 500 is 500 JPY, not a
    EUR movement of 5.00 on a yen register."""
    running, _ = yen
    with running.client() as client:
        assert client.status().currency_code == "JPY"
    code, out, err = run_posctl(running, capsys, "cash", "in", "500", "--reason", "Wechselgeld")
    assert code == 0, err
    assert ": 500 JPY" in out, out
    code, out, err = run_posctl(running, capsys, "--json", "status")
    assert code == 0 and json.loads(out)["currency_code"] == "JPY", (out, err)
