"""posctl day commands: every command parses and has a handler."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from posd_daemon.cli import posctl_day


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["closing", "x"], ("closing", "x")),
        (["closing", "z", "--business-date", "2024-05-31"], ("closing", "z")),
        (["closing", "show", "3"], ("closing", "show")),
        (["closing", "list"], ("closing", "list")),
        (["shift", "open", "--count", "5000=2", "--count", "0.50=4"], ("shift", "open")),
        (["shift", "close", "--total", "120.00"], ("shift", "close")),
        (["shift", "show"], ("shift", "show")),
        (["cash", "in", "50.00", "--reason", "Wechselgeld"], ("cash", "in")),
        (["cash", "transit", "20", "--reason", "Bank", "--in"], ("cash", "transit")),
        (["export", "dsfinvk", "--z", "1-3", "out.zip"], ("export", "dsfinvk")),
        (
            ["export", "datev", "--from", "2024-01-01", "--to", "2024-01-31", "x.csv"],
            ("export", "datev"),
        ),
        (
            ["export", "cashbook", "--from", "2024-01-01", "--to", "2024-01-31", "d"],
            ("export", "cashbook"),
        ),
        (["receipts", "list", "--method", "card", "--min", "10.00"], ("receipts", "list")),
        (["receipts", "show", "17"], ("receipts", "show")),
    ],
)
def test_commands_parse_and_map_to_handlers(argv: list[str], key: tuple[str, str]) -> None:
    p = argparse.ArgumentParser()
    posctl_day.add_commands(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    assert (args.command, posctl_day.subcommand(args)) == key
    assert key in posctl_day.HANDLERS


@pytest.mark.parametrize("kind", ["transit", "tip"])
def test_a_transit_or_tip_needs_in_or_out(kind: str) -> None:
    p = argparse.ArgumentParser()
    posctl_day.add_commands(p.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        p.parse_args(["cash", kind, "20", "--reason", "Bank"])
    assert p.parse_args(["cash", kind, "20", "--reason", "Bank", "--out"]).direction_out


def test_amounts_are_exact() -> None:
    assert posctl_day.amount("12.50") == 1250
    assert posctl_day.amount("0,05") == 5
    with pytest.raises(Exception, match="2 decimals"):
        posctl_day.amount("1.005")


@pytest.mark.parametrize("text", ["1e30", "-1e30", "92233720368547758.08", "1e999999"])
def test_an_amount_beyond_the_api_is_one_clear_user_error(text: str) -> None:
    with pytest.raises(posctl_day._base().CliError, match="too large"):
        posctl_day.amount(text)


@pytest.mark.parametrize("count", ["abc=2", "5e3=2", "²=2", "5000=²", "5000", "=2"])
def test_a_bad_cash_count_is_one_clear_user_error(count: str) -> None:
    p = argparse.ArgumentParser()
    posctl_day.add_commands(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["shift", "open", "--count", count])
    args.register_currency = "EUR"  # what posctl asks the daemon (GetStatus) for
    with pytest.raises(posctl_day._base().CliError, match="DENOMINATION=PIECES"):
        posctl_day._counts(args)


def test_a_good_cash_count_reads_minor_units_or_amounts() -> None:
    p = argparse.ArgumentParser()
    posctl_day.add_commands(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["shift", "open", "--count", "5000=2", "--count", "0.50=12"])
    args.register_currency = "EUR"  # what posctl asks the daemon (GetStatus) for
    got = [(c.denomination_minor, c.pieces) for c in posctl_day._counts(args)]
    assert got == [(5000, 2), (50, 12)]


def test_dates_are_days_on_the_registers_calendar() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # a day in Berlin (CET, UTC+1) runs from 23:00 UTC the evening before
    assert posctl_day.when("2021-01-01", zone=berlin) == datetime(2020, 12, 31, 23, tzinfo=UTC)
    assert posctl_day.when("2021-01-01", end=True, zone=berlin) == datetime(
        2021, 1, 1, 23, tzinfo=UTC
    )
    # the day the clocks go forward has 23 hours there
    start = posctl_day.when("2021-03-28", zone=berlin).astimezone(UTC)
    end = posctl_day.when("2021-03-28", end=True, zone=berlin).astimezone(UTC)
    assert end - start == timedelta(hours=23)
    # a time without an offset is the register's wall clock; with one, as written
    assert posctl_day.when("2021-01-01T00:30", zone=berlin) == datetime(
        2020, 12, 31, 23, 30, tzinfo=UTC
    )
    assert posctl_day.when("2021-01-01T00:30+00:00", zone=berlin) == datetime(
        2021, 1, 1, 0, 30, tzinfo=UTC
    )
    assert posctl_day.when("2021-01-01") == datetime(2021, 1, 1, tzinfo=UTC)  # default UTC


@pytest.mark.parametrize("price", ["1e30", "1e999999"])
def test_an_imported_price_beyond_the_api_names_its_column(price: str) -> None:
    from posd_daemon.cli import posctl_catalog

    row = {"item_id": "brot", "name": "Brot", "gross_price": price}
    with pytest.raises(posctl_catalog.RowError, match=r"gross_price: .* too large"):
        posctl_catalog.item_from_csv(row, "EUR")
