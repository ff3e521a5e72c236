"""GS1 element strings (GS1-128, GS1 DataMatrix, GS1 DataBar) with more than the GTIN:
lot (10), serial (21), expiry (17), best before (15), net weight in kg (310n) and price
(392n), separated by GS (FNC1) after a variable-length field. Before, only "01" + GTIN
alone was understood; a pack of cheese with its weight or a drug with lot and expiry
matched nothing (UNKNOWN_CODE)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from posd_daemon.domain.barcode import ElementString, parse_element_string
from posd_daemon.domain.errors import DomainError

TODAY = date(2026, 11, 24)
GS = "\x1d"


def parse(code: str) -> ElementString | None:
    return parse_element_string(code, TODAY)


def test_gtin_lot_serial_and_dates() -> None:
    es = parse(f"010400638133393117261231{GS}10L-47{GS}21SN 1".replace(" ", ""))
    assert es is not None
    assert (es.gtin, es.lot, es.serial, es.expiry) == (
        "04006381333931",
        "L-47",
        "SN1",
        date(2026, 12, 31),
    )
    # a variable-length field last needs no GS; a leading FNC1 sent as GS is no data
    es = parse(f"{GS}0104006381333931{GS}10L47")
    assert es is not None and es.lot == "L47"
    # a case (GTIN-14 with indicator digit 1), its own check digit
    es = parse("0114006381333938")
    assert es is not None and es.gtin == "14006381333938"
    es = parse(f"{GS}0104006381333931{GS}10L47")
    assert es is not None and es.lot == "L47"
    # fixed-length fields need no GS between them; day 00 is the month's last day
    es = parse("01040063813339311526060017260700")
    assert es is not None
    assert (es.best_before, es.expiry) == (date(2026, 6, 30), date(2026, 7, 31))


def test_weight_decimals_in_the_fourth_digit_and_price() -> None:
    es = parse("01040000000000203103001250")
    assert es is not None and es.net_weight_kg == Decimal("1.250")
    es = parse("01040000000000203102001250")
    assert es is not None and es.net_weight_kg == Decimal("12.50")
    es = parse("0104000000000020310300125039220499")
    assert es is not None
    assert (es.net_weight_kg, es.price) == (Decimal("1.250"), Decimal("4.99"))


def test_century_of_a_two_digit_year() -> None:
    # GS1 General Specifications 7.12: up to 49 years back / 50 ahead of the current year
    es = parse("010400638133393117990101")
    assert es is not None and es.expiry == date(1999, 1, 1)
    es = parse("010400638133393117760101")
    assert es is not None and es.expiry == date(2076, 1, 1)


def test_not_an_element_string_is_none() -> None:
    for code in (
        "4006381333931",
        "0104006381333932",
        "01040063813339",
        "SN-1",
        "0204006381333931",
        "0114006381333931",
    ):
        assert parse(code) is None, code


@pytest.mark.parametrize(
    "code",
    [
        "0104006381333931999ABC",  # unknown AI
        "010400638133393117261332",  # month 13
        "010400638133393117260230",  # 30 February
        "01040063813339311726123",  # expiry cut short
        "0104000000000020310600125",  # weight with 6 decimals (310n: n 0 to 5)
        "0104000000000020310300125X",  # a letter in a numeric field
        f"0104006381333931{GS}",  # a separator and nothing after it
        "010400638133393110" + "L" * 21,  # a lot longer than 20 characters
        "010400638133393110L 47",  # a space is no GS1 character
        "010400638133393110",  # a lot with no characters
        f"010400638133393110L47{GS}{GS}21X",  # two separators
        "0104006381333931010400638133393",  # the GTIN twice, the second cut short
    ],
)
def test_a_malformed_element_string_is_refused_with_its_reason(code: str) -> None:
    with pytest.raises(DomainError) as err:
        parse(code)
    assert err.value.reason == "INVALID_ELEMENT_STRING"
    assert "code" in err.value.message
