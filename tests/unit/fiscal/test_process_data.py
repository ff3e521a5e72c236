"""processData strings pinned exactly (DSFinV-K, fiscal-de.md "processData")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from posd_daemon.fiscal import process_data as pd
from posd_daemon.fiscal.process_data import OrderLine, Payment, PaymentKind, VatSlot

CASH = PaymentKind.CASH
NON_CASH = PaymentKind.NON_CASH


def test_reference_example() -> None:
    payments = [Payment(6430, NON_CASH), Payment(500, CASH, "CHF"), Payment(1000, CASH)]
    assert (
        pd.kassenbeleg_v1("Beleg", [7533, 799, 0, 0, 0], payments)
        == "Beleg^75.33_7.99_0.00_0.00_0.00^10.00:Bar_5.00:Bar:CHF_64.30:Unbar"
    )


def test_fiskaly_example() -> None:
    assert (
        pd.kassenbeleg_v1("Beleg", {VatSlot.REDUCED: 255}, [Payment(255, CASH)])
        == "Beleg^0.00_2.55_0.00_0.00_0.00^2.55:Bar"
    )


def test_payment_order_independent_of_input_order() -> None:
    a = [Payment(100, NON_CASH), Payment(200, CASH, "USD"), Payment(300, CASH, "CHF")]
    b = [*reversed(a), Payment(400, CASH)]
    assert pd.format_payments(a) == "3.00:Bar:CHF_2.00:Bar:USD_1.00:Unbar"
    assert pd.format_payments(b) == "4.00:Bar_3.00:Bar:CHF_2.00:Bar:USD_1.00:Unbar"


def test_payments_summed_zero_left_out() -> None:
    # 50.00 cash given, 7.67 change back, card 0.00: one cash line of the net amount.
    payments = [Payment(5000, CASH), Payment(-767, CASH), Payment(0, NON_CASH)]
    assert pd.kassenbeleg_v1("Beleg", [4233, 0, 0, 0, 0], payments) == (
        "Beleg^42.33_0.00_0.00_0.00_0.00^42.33:Bar"
    )
    assert pd.format_payments([Payment(500, NON_CASH), Payment(-500, NON_CASH)]) == ""


def test_empty_payments_keep_trailing_caret() -> None:
    assert (
        pd.kassenbeleg_v1("AVTraining", [0, 0, 0, 0, 0]) == "AVTraining^0.00_0.00_0.00_0.00_0.00^"
    )


def test_negative_amounts() -> None:
    assert pd.kassenbeleg_v1("Beleg", [-1999, -5, 0, 0, 0], [Payment(-2004, CASH)]) == (
        "Beleg^-19.99_-0.05_0.00_0.00_0.00^-20.04:Bar"
    )


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (100, "1.00"),
        (-1, "-0.01"),
        (123456789, "1234567.89"),
    ],
)
def test_format_amount(cents: int, text: str) -> None:
    assert pd.format_amount(cents) == text


def test_cancelled_sale() -> None:
    assert pd.AVBELEGABBRUCH == "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"
    assert pd.avbelegabbruch() == pd.AVBELEGABBRUCH
    assert pd.encode(pd.AVBELEGABBRUCH) == b"AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"


def test_all_slots_in_fixed_order() -> None:
    gross = {VatSlot.ZERO: 5, VatSlot.NORMAL: 1, VatSlot.AVERAGE_24_1_NR1: 4}
    gross[VatSlot.AVERAGE_24_1_NR3] = 3
    gross[VatSlot.REDUCED] = 2
    assert pd.kassenbeleg_v1("AVSonstige", gross) == "AVSonstige^0.01_0.02_0.03_0.04_0.05^"


def test_money_is_never_float() -> None:
    with pytest.raises(TypeError):
        pd.format_amount(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pd.kassenbeleg_v1("Beleg", [1.0, 0, 0, 0, 0])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        pd.format_payments([Payment(Decimal("1.00"), CASH)])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pd.format_amount(True)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="AVBelegstorno"):
        pd.kassenbeleg_v1("AVBelegstorno", [0, 0, 0, 0, 0])
    with pytest.raises(ValueError):
        pd.kassenbeleg_v1("Beleg", [0, 0, 0, 0])
    with pytest.raises(ValueError):
        pd.format_payments([Payment(1, CASH, "EURO")])


def test_currency_code_normalised() -> None:
    assert pd.format_payments([Payment(1, CASH, "chf"), Payment(2, CASH, "eur")]) == (
        "0.02:Bar_0.01:Bar:CHF"
    )


def test_bestellung_v1() -> None:
    lines = [
        OrderLine(1, 'Eisbecher "Spezial"', 399),
        OrderLine(Decimal("0.500"), "Kaffee", 250),
        OrderLine(Decimal("1E+1"), "Brötchen\nmit Käse", 45),
        OrderLine(-1, "Pfand", -15),
    ]
    assert pd.bestellung_v1(lines) == (
        '1;"Eisbecher ""Spezial""";3.99\r'
        '0.5;"Kaffee";2.50\r'
        '10;"Brötchen mit Käse";0.45\r'
        '-1;"Pfand";-0.15'
    )
    assert pd.bestellung_v1([]) == ""
    with pytest.raises(TypeError):
        pd.bestellung_v1([OrderLine(0.5, "x", 1)])  # type: ignore[arg-type]
