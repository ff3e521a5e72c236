"""Parking codes: EAN-13 with check digit and Code128, both read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.domain.parking import (
    CODE128,
    EAN13,
    canonical_parking_code,
    ean13_check_digit,
    parking_code_code128,
    parking_code_ean13,
    parking_symbology,
    parse_parking_code,
)


@pytest.mark.parametrize(
    ("first12", "check"),
    [
        ("400638133393", 1),  # 4006381333931, a real product EAN
        ("590123412345", 7),  # 5901234123457, the GS1 textbook example
        ("290300000042", 2),  # 2*1 + 9*3 + 3*3 + 4*1 + 2*3 = 48 -> 2
        ("000000000000", 0),  # sum 0: check digit 0, not 10
        ("290100000001", 5),  # 2 + 27 + 3 + 3 = 35 -> 5
    ],
)
def test_ean13_check_digit(first12: str, check: int) -> None:
    assert ean13_check_digit(first12) == check


@pytest.mark.parametrize("bad", ["", "29030000004", "2903000000422", "29030000004x", "²9030000004"])
def test_ean13_check_digit_needs_12_ascii_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="12 digits"):
        ean13_check_digit(bad)


def test_ean13_parking_code_layout() -> None:
    code = parking_code_ean13("29", 3, 42)
    assert code == "2903000000422"  # prefix 29, register 03, number 00000042, check 2
    assert parking_code_ean13("20", 99, 99_999_999) == "2099999999998"
    assert parse_parking_code(code) == (3, 42)
    assert parse_parking_code(code, prefix="29") == (3, 42)
    assert parking_symbology(code) == EAN13


def test_code128_parking_code_layout() -> None:
    code = parking_code_code128(3, 42)
    assert code == "P0300000042"
    assert parse_parking_code(code) == (3, 42)
    assert parse_parking_code("p0300000042\r\n") == (3, 42)  # caps lock, scanner line end
    assert parking_symbology(code) == CODE128


@pytest.mark.parametrize(
    "code",
    [
        "2903000000423",  # wrong check digit
        "290300000042",  # 12 digits
        "29030000004222",  # 14 digits
        "2900000000428",  # register 00
        "P0000000042",  # register 00
        "P030000004",  # too short
        "X0300000042",  # not "P"
        "P03000000AB",
        "",
        "29０3000000422",  # a full-width digit is no barcode digit
    ],
)
def test_anything_else_is_not_a_parking_code(code: str) -> None:
    assert parse_parking_code(code) is None


def test_a_product_ean_is_refused_when_the_prefix_is_given() -> None:
    assert parse_parking_code("4006381333931") == (6, 38133393)  # shape alone matches
    assert parse_parking_code("4006381333931", prefix="29") is None


@pytest.mark.parametrize(
    ("prefix", "register", "number"),
    [("2", 1, 1), ("2a", 1, 1), ("29", 0, 1), ("29", 100, 1), ("29", 1, -1), ("29", 1, 10**8)],
)
def test_bad_parts_are_refused(prefix: str, register: int, number: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        parking_code_ean13(prefix, register, number)


def test_code128_refuses_bad_parts() -> None:
    with pytest.raises(ValueError, match="register number"):
        parking_code_code128(0, 1)
    with pytest.raises(ValueError, match="parking number"):
        parking_code_code128(1, 10**8)


@given(st.integers(1, 99), st.integers(0, 99_999_999), st.integers(0, 99))
def test_codes_read_back(register: int, number: int, prefix: int) -> None:
    ean = parking_code_ean13(f"{prefix:02d}", register, number)
    assert len(ean) == 13
    assert parse_parking_code(ean, prefix=f"{prefix:02d}") == (register, number)
    assert parse_parking_code(parking_code_code128(register, number)) == (register, number)
    # any single wrong digit is caught by the check digit
    i = number % 13
    wrong = ean[:i] + str((int(ean[i]) + 1) % 10) + ean[i + 1 :]
    assert parse_parking_code(wrong) is None


@pytest.mark.parametrize(
    ("scanned", "stored"),
    [
        ("p0100000001", "P0100000001"),  # caps-lock keyboard wedge
        (" P0100000001\r\n", "P0100000001"),
        ("2901000000015\n", "2901000000015"),
        # not parking codes: unchanged, so validation still refuses what was sent
        ("p01 0000001", "p01 0000001"),
        ("sommer10", "sommer10"),
        ("4006381333932", "4006381333932"),
    ],
)
def test_canonical_parking_code(scanned: str, stored: str) -> None:
    assert canonical_parking_code(scanned) == stored


@given(st.integers(1, 99), st.integers(0, 99_999_999))
def test_canonical_code128_reads_back_the_same(register: int, number: int) -> None:
    code = parking_code_code128(register, number)
    assert canonical_parking_code(code.lower()) == code
