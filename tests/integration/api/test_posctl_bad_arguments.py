"""posctl on arguments and files a technician gets wrong: a clear error and a non-zero
exit, never a traceback, and never a silently different import (in-process daemon, real
socket)."""

from __future__ import annotations

from pathlib import Path

import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import catalog_pb2

from posd_daemon.cli import posctl
from tests.conftest import Running
from tests.support.posctl_run import posctl_args

HUGE = "99999999999999999999"  # beyond int64: what the API carries


def run_posctl(
    running: Running, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    try:
        code = posctl.main(posctl_args(running, *args))
    except SystemExit as exc:  # argparse: a bad argument (usage and one error line)
        code = exc.code if isinstance(exc.code, int) else 2
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "argv",
    [
        ["shift", "open", "--count", f"5000={HUGE}"],
        ["shift", "open", "--count", f"{HUGE}=1"],
        ["shift", "show", HUGE],
        ["closing", "show", HUGE],
        ["export", "dsfinvk", "--z", f"1-{HUGE}", "{tmp}/z.zip"],
        ["receipts", "list", "--number-from", HUGE],
        ["receipts", "show", HUGE],
        ["receipts", "list", "--to", "9999-12-31"],
        ["export", "datev", "--from", "2024-01-01", "--to", "9999-12-31", "{tmp}/datev.csv"],
        ["sales", "purge", "--older-than", f"{HUGE}d", "--dry-run"],
        ["watch", "--after", HUGE, "--count", "1"],
        ["test", "scan", "--timeout", HUGE],
    ],
)
def test_a_number_or_date_out_of_range_is_a_clear_error(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run_posctl(running, capsys, *argv)
    assert code in (1, 2), (code, out, err)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("posctl"), err


@pytest.mark.parametrize("argv", [["receipts", "list"], ["closing", "list"]])
@pytest.mark.parametrize("limit", ["0", "-1"])
def test_a_limit_below_one_is_refused_not_an_empty_list(
    running: Running, capsys: pytest.CaptureFixture[str], argv: list[str], limit: str
) -> None:
    code, out, err = run_posctl(running, capsys, *argv, "--limit", limit)
    assert code == 2, (out, err)
    assert "--limit" in err


def test_receipts_url_of_a_huge_number_is_a_clear_error(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "posd.toml"
    config.write_text(
        '[digital_receipt]\nenabled = true\nbase_url = "https://kasse.example.de/r/"\n',
        encoding="utf-8",
    )
    code, out, err = run_posctl(running, capsys, "--config", str(config), "receipts", "url", HUGE)
    assert code in (1, 2), (out, err)
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("posctl")


# -- imports ----------------------------------------------------------------------------------


def test_a_csv_row_with_more_cells_than_the_header_is_rejected_not_cut(
    running: Running, pos: PosdClient, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # "3,49" unquoted in a comma-separated file: two cells; the price must not become 3.00
    items = tmp_path / "items.csv"
    items.write_text(
        "item_id,name,vat_category,gross_price\n9001,Brot,NORMAL,3,49\n9002,Milch,REDUCED,1.19\n",
        encoding="utf-8",
    )
    code, out, err = run_posctl(running, capsys, "import", "items", str(items))
    assert code == 1, (out, err)
    assert "line 2: PARSE_ERROR" in out and "NOTHING imported" in out
    with pytest.raises(PosdError):
        pos.call(pos.catalog.GetItem, catalog_pb2.GetItemRequest(item_id="9001"))


def test_a_csv_whose_header_is_not_on_the_first_line_imports_nothing_and_says_so(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items = tmp_path / "items.csv"
    items.write_text("\nitem_id,name,gross_price\n9003,Brot,3.49\n", encoding="utf-8")
    code, out, err = run_posctl(running, capsys, "import", "items", str(items))
    assert code == 1, (out, err)  # it said "0 rows, 0 rejected" and exited 0
    assert "PARSE_ERROR" in out


def test_an_enum_number_out_of_range_is_a_rejected_row(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items = tmp_path / "items.csv"
    items.write_text(f"item_id,name,gross_price,vat_category\n9004,Brot,3.49,{HUGE}\n")
    code, out, err = run_posctl(running, capsys, "import", "items", str(items))
    assert code == 1, (out, err)
    assert "line 2: PARSE_ERROR: vat_category: " in out


def test_a_deeply_nested_json_file_is_a_clear_error(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items = tmp_path / "items.json"
    items.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    code, out, err = run_posctl(running, capsys, "import", "items", str(items))
    assert code == 1, (out, err)
    assert err.startswith(f"posctl: {items}: ") and len(err.strip().splitlines()) == 1, err


def test_a_file_not_in_utf8_names_the_file(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items = tmp_path / "items.csv"
    items.write_bytes("item_id;name;gross_price\n9005;Br\xf6tchen;0,45\n".encode("latin-1"))
    code, out, err = run_posctl(running, capsys, "import", "items", str(items))
    assert code == 1, (out, err)
    assert err.startswith(f"posctl: {items}: "), err
    assert "UTF-8" in err


def test_direct_display_test_with_an_unknown_profile_names_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = posctl.main(
        ["test", "display", "--direct", "serial:///dev/nonexistent", "--profile", "cd-5220"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "unknown display profile 'cd-5220'" in err and "cd5220" in err, err


def test_an_export_to_a_directory_names_it_and_leaves_nothing_behind(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "out" / "exports"
    folder.mkdir(parents=True)
    code, out, err = run_posctl(running, capsys, "tse", "export", str(folder))
    assert code == 1, (out, err)
    assert err.startswith(f"posctl: {folder}: "), err  # it named exports.part
    assert [p.name for p in folder.parent.iterdir()] == ["exports"]  # no exports.part
