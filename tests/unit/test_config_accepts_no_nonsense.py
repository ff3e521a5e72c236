"""Config values that passed ``load`` (and ``posd --check-config``) but crashed the start
with a traceback, or left the register unable to work, are refused at load, naming the
key: the daemon must not get as far as a start that cannot succeed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from posd_daemon.ops.config import ConfigError, load
from tests.support.check_config import check_config

_DEMO_HASH = "cG9zZC1kZW1vLXNhbHQtMg==$5OkpXSCGJd9uKZmLgz8AlathXuq9mdaD0tIW0ybtnjw="


def problems(tmp_path: Path, doc: dict[str, Any]) -> str:
    doc = {"state": {"dir": str(tmp_path)}, **doc}
    with pytest.raises(ConfigError) as err:
        load(None, doc)
    return str(err.value)


# -- paths: a ConfigError naming the key, not a RuntimeError/ValueError traceback ----------


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ({"state": {"dir": "~no-such-user-posd/state"}}, "state.dir: "),
        ({"state": {"dir": "/var/lib/po\0sd"}}, "state.dir: "),
        ({"api": {"socket": "/run/po\0sd.sock"}}, "api.socket: "),
        ({"printer": {"output": "~no-such-user-posd/paper.txt"}}, "printer.output: "),
        ({"scanner": {"fifo": "/tmp/scan\0.fifo"}}, "scanner.fifo: "),
        ({"tse": {"software_dir": "~no-such-user-posd/tse"}}, "tse.software_dir: "),
        ({"receipt": {"template": "~no-such-user-posd/receipt.toml"}}, "receipt.template: "),
        (
            {"api": {"tcp": "127.0.0.1:50051", "tls_cert": "/c\0.pem", "tls_key": "/k.pem"}},
            "api.tls_cert: ",
        ),
    ],
)
def test_an_unusable_path_is_a_config_error(
    tmp_path: Path, doc: dict[str, Any], named: str
) -> None:
    assert named in problems(tmp_path, doc)


def test_check_config_names_an_unknown_home_directory(tmp_path: Path) -> None:
    config = tmp_path / "posd.toml"
    config.write_text('[state]\ndir = "~no-such-user-posd/state"\n', encoding="utf-8")
    run = check_config(config)
    assert run.returncode == 78, run.stderr
    assert "Traceback" not in run.stderr
    assert "state.dir: " in run.stderr


# -- fiskaly: what FiskalyTse refuses at the start ------------------------------------------


_FISKALY = {
    "backend": "fiskaly",
    "fiskaly_api_key": "key",
    "fiskaly_api_secret": "secret",
    "fiskaly_tss_id": "8d8c6a4c-3f55-4a8c-8a1b-3c1f2d7c9e10",
}


def test_fiskaly_settings_the_backend_refuses_are_config_errors(tmp_path: Path) -> None:
    text = problems(tmp_path, {"tse": {**_FISKALY, "fiskaly_tss_id": "my-tss"}})
    assert "tse.fiskaly_tss_id: " in text
    text = problems(
        tmp_path, {"tse": {**_FISKALY, "fiskaly_url": "kassensichv-middleware.fiskaly.com"}}
    )
    assert "tse.fiskaly_url: " in text
    # a good one loads
    assert load(None, {"state": {"dir": str(tmp_path)}, "tse": _FISKALY}).tse.backend == "fiskaly"


# -- VAT rates: a day without a rate is a configuration error, not a refused sale -----------


def _rate(percent: str, start: str, until: str = "") -> dict[str, str]:
    rate = {"category": "NORMAL", "percent": percent, "valid_from": start}
    if until:
        rate["valid_until"] = until
    return rate


def test_a_vat_rate_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    text = problems(tmp_path, {"vat_rates": [_rate("19", "2021-01-01", "2020-12-31")]})
    assert "vat_rates[0].valid_until: " in text


def test_a_gap_between_two_vat_rates_is_refused(tmp_path: Path) -> None:
    rates = [_rate("16", "2020-07-01", "2020-12-30"), _rate("19", "2021-01-01")]
    text = problems(tmp_path, {"vat_rates": rates})
    assert "vat_rates: " in text and "NORMAL" in text and "2020-12-31" in text
    # back to back loads
    rates = [_rate("16", "2020-07-01", "2020-12-31"), _rate("19", "2021-01-01")]
    assert len(load(None, {"state": {"dir": str(tmp_path)}, "vat_rates": rates}).vat_rates) == 2


def test_a_vat_rate_with_more_than_two_decimals_is_refused(tmp_path: Path) -> None:
    # DSFinV-K's UST_SATZ has two decimals: the export cut 19.125 to 19.12 while the
    # receipts and the journal carried 19.125
    text = problems(tmp_path, {"vat_rates": [_rate("19.125", "2021-01-01")]})
    assert "vat_rates[0].percent: " in text
    rates = [_rate("10.70", "2021-01-01")]
    assert load(None, {"state": {"dir": str(tmp_path)}, "vat_rates": rates}).vat_rates


# -- operators: scrypt parameters the PIN check cannot use ----------------------------------


@pytest.mark.parametrize("params", ["32768$8$1", "16384$16$1", "65536$1$1"])
def test_a_pin_hash_scrypt_cannot_check_is_refused(tmp_path: Path, params: str) -> None:
    op = {
        "id": "9",
        "name": "Neu",
        "role": "cashier",
        "pin_scrypt": f"scrypt${params}${_DEMO_HASH}",
    }
    # the default operators plus one whose PIN could never be checked (every login
    # would fail as a wrong PIN)
    text = problems(tmp_path, {"operators": [op]})
    assert "operators[0].pin_scrypt: " in text


# -- the scanner's evdev URL: its parameters are checked like the other devices' ---------


@pytest.mark.parametrize(
    "url",
    [
        "evdev:///dev/input/event0?layout=fr",
        "evdev:///dev/input/event0?grab=maybe",
        "evdev:///dev/input/event0?grap=0",
        "evdev://dev/input/event0",
        "evdev://",
    ],
)
def test_a_bad_evdev_url_is_a_config_error(tmp_path: Path, url: str) -> None:
    assert "scanner.url: " in problems(tmp_path, {"scanner": {"url": url}})


def test_a_good_evdev_url_loads(tmp_path: Path) -> None:
    url = "evdev:///dev/input/by-id/usb-scanner-event-kbd?layout=de&grab=0"
    assert load(None, {"state": {"dir": str(tmp_path)}, "scanner": {"url": url}}).scanner.url


# -- sim:// devices: the file that is their paper or their input ---------------------------


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ({"printer": {"url": "sim://printer", "output": ""}}, "printer.output: "),
        ({"scanner": {"url": "sim://scanner", "fifo": ""}}, "scanner.fifo: "),
    ],
)
def test_a_sim_device_without_its_file_is_a_config_error(
    tmp_path: Path, doc: dict[str, Any], named: str
) -> None:
    # printer.output "": every print job failed ("PosixPath('.') has an empty name")
    assert named in problems(tmp_path, doc)
