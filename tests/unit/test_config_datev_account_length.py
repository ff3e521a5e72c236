"""[datev] accounts against the chart's account length (Sachkontenlänge).

DATEV Hilfe-Dokument 1002367 ("Kassenbewegungen in DATEV Kassenbuch online importieren",
datev.de/hilfe/1002367): ``Gegenkonto`` at most the Sachkontennummernlänge + 1 digits (the
one more is a personal account, Debitor/Kreditor); the length is set per client, 4 to 8
(developer.datev.de, DATEV-Format, Buchungsstapel header: Sachkontenlänge). A 5-digit
account was taken for a chart of 4-digit accounts: DATEV reads it as a personal account
(or refuses it), so the cash book's rows land where the shop never meant them. It must be
refused at load, ``posd --check-config`` and the start alike, naming the key and the length.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from posd_daemon.ops.config import ConfigError, load
from tests.support.check_config import check_config


def _load(tmp_path: Path, datev: dict[str, Any]) -> None:
    load(None, {"state": {"dir": str(tmp_path / "state")}, "datev": datev})


def _problems(tmp_path: Path, datev: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, datev)
    return str(err.value)


@pytest.mark.parametrize(
    ("datev", "key"),
    [
        ({"non_cash_transit": "13600"}, "datev.non_cash_transit"),
        ({"revenue": {"NORMAL": "84000"}}, "datev.revenue.NORMAL"),
        ({"movements": {"TIP": "15920"}}, "datev.movements.TIP"),
        ({"difference_surplus": "27090"}, "datev.difference_surplus"),
        ({"vouchers": "160400", "account_length": 5}, "datev.vouchers"),
    ],
)
def test_an_account_longer_than_the_account_length_is_refused(
    tmp_path: Path, datev: dict[str, Any], key: str
) -> None:
    length = datev.get("account_length", 4)
    message = _problems(tmp_path, datev)
    (line,) = [x for x in message.splitlines() if key in x]
    assert f"{length} digits" in line
    assert "account_length" in line


#: every [datev] account of a chart of 5-digit accounts (SKR03 extended by a digit)
FIVE_DIGIT_CHART: dict[str, Any] = {
    "account_length": 5,
    "revenue": {
        "NORMAL": "84000", "REDUCED": "83000", "AVERAGE_24_3": "81900",
        "AVERAGE_24_1": "81900", "ZERO": "82000", "NOT_TAXABLE": "81000",
    },
    "movements": {
        "DEPOSIT": "18900", "WITHDRAWAL": "18000", "TRANSIT": "13600", "TIP": "15920",
        "DIFFERENCE": "23090",
    },
    "difference_surplus": "27090",
    "non_cash_transit": "13600",
    "rounding": "82000",
    "receivables": "14000",
    "vouchers": "16040",
}  # fmt: skip


def test_accounts_of_the_configured_length_load(tmp_path: Path) -> None:
    # shorter numbers are the same account without its leading zeros (DATEV-Format:
    # Konto ^\d{1,9}$)
    _load(tmp_path, FIVE_DIGIT_CHART)
    _load(tmp_path, {**FIVE_DIGIT_CHART, "rounding": "27"})
    _load(tmp_path, {"rounding": "27"})


def test_a_longer_chart_names_every_account_left_at_its_4_digit_default(tmp_path: Path) -> None:
    """The defaults are SKR03's 4-digit accounts: in a chart of 6-digit accounts DATEV
    reads 8400 as 008400, another account, and the cash book's rows would land there
    silently. Every account the shop left at its default is named, in one line."""
    chart = {**copy.deepcopy(FIVE_DIGIT_CHART), "account_length": 6}
    del chart["rounding"], chart["revenue"]["ZERO"], chart["movements"]["TIP"]
    message = _problems(tmp_path, chart)
    (line,) = [x for x in message.splitlines() if "4-digit" in x]
    assert "datev.account_length 6" in line
    for key in ("datev.rounding", "datev.revenue.ZERO", "datev.movements.TIP"):
        assert key in line
    assert "datev.vouchers" not in line  # set
    _load(tmp_path, {**FIVE_DIGIT_CHART, "account_length": 6})


def test_the_receivables_account_may_be_a_personal_account(tmp_path: Path) -> None:
    # an open invoice paid at the register may be booked on the customer's debtor account
    # (Personenkonto: one digit longer than the Sachkonten, Hilfe-Dokument 1002367)
    _load(tmp_path, {"receivables": "10000"})
    message = _problems(tmp_path, {"receivables": "100000"})
    assert "datev.receivables" in message
    assert "5 digits" in message


@pytest.mark.parametrize("length", [3, 9, 0])
def test_an_account_length_outside_4_to_8_is_refused(tmp_path: Path, length: int) -> None:
    message = _problems(tmp_path, {"account_length": length})
    assert "datev.account_length" in message
    assert "4 to 8" in message


def test_check_config_refuses_a_5_digit_account_in_a_4_digit_chart(tmp_path: Path) -> None:
    config = tmp_path / "posd.toml"
    config.write_text(
        f'[state]\ndir = "{tmp_path / "state"}"\n[metrics]\nlisten = ""\n'
        '[datev]\nmovements = { DEPOSIT = "18900" }\n',
        "utf-8",
    )
    done = check_config(config)
    assert done.returncode == 78, done.stderr
    assert "datev.movements.DEPOSIT" in done.stderr
    assert "4 digits" in done.stderr
