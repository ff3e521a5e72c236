"""Two devices configured on the same serial port (a receipt printer and a customer
display both on ``serial:///dev/ttyUSB0``) cannot work: two drivers open one tty, fight
over its settings and steal each other's bytes. The config passed ``load`` and
``posd --check-config``; it must be refused there, naming both keys and the port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from posd_daemon.ops.config import ConfigError, load
from tests.support.check_config import check_config


def problems(tmp_path: Path, doc: dict[str, Any]) -> str:
    doc = {"state": {"dir": str(tmp_path)}, **doc}
    with pytest.raises(ConfigError) as err:
        load(None, doc)
    return str(err.value)


def loads(tmp_path: Path, doc: dict[str, Any]) -> None:
    load(None, {"state": {"dir": str(tmp_path)}, **doc})


def test_a_printer_and_a_display_on_one_serial_port_are_refused(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        {
            "printer": {"url": "serial:///dev/ttyUSB0?baud=38400"},
            "display": {"url": "serial:///dev/ttyUSB0?baud=9600"},  # other settings, same port
        },
    )
    clash = [line for line in text.splitlines() if "/dev/ttyUSB0" in line]
    assert len(clash) == 1, text
    assert "printer.url" in clash[0] and "display.url" in clash[0]


@pytest.mark.parametrize(
    "display_url",
    [
        "serial:///dev//ttyUSB0",
        "serial:///dev/./ttyUSB0",
        "serial:///dev/serial/../ttyUSB0",
        "serial:////dev/ttyUSB0",
        "serial:///dev/ttyUSB0/",
        "SERIAL:///dev/ttyUSB0",
        "file:///dev/ttyUSB0",  # the same tty written as a plain device file
    ],
)
def test_other_spellings_of_the_same_port_are_the_same_port(
    tmp_path: Path, display_url: str
) -> None:
    text = problems(
        tmp_path,
        {"printer": {"url": "serial:///dev/ttyUSB0"}, "display": {"url": display_url}},
    )
    assert "printer.url" in text and "display.url" in text and "/dev/ttyUSB0" in text


def test_a_serial_scanner_on_the_display_port_is_refused(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        {
            "printer": {"url": "serial:///dev/ttyS0"},
            "display": {"url": "serial:///dev/ttyACM0"},
            "scanner": {"url": "serial:///dev/ttyACM0?baud=115200"},
        },
    )
    assert "display.url" in text and "scanner.url" in text and "/dev/ttyACM0" in text
    assert "printer.url" not in text  # the one device on a port of its own is fine


def test_a_serial_drawer_on_the_printer_port_points_to_the_printer_driver(
    tmp_path: Path,
) -> None:
    text = problems(
        tmp_path,
        {
            "printer": {"url": "serial:///dev/ttyS0"},
            "drawer": {"driver": "serial", "url": "serial:///dev/ttyS0"},
        },
    )
    assert "printer.url" in text and "drawer.url" in text and "/dev/ttyS0" in text
    # a drawer cabled to the printer is opened through it, not through its port
    assert "drawer.driver" in text


def test_devices_on_ports_of_their_own_load(tmp_path: Path) -> None:
    # none of these ports exists here: the check is on the configuration, not on what is
    # plugged in (--check-config runs before the devices may be there)
    loads(
        tmp_path,
        {
            "printer": {"url": "serial:///dev/ttyUSB0"},
            "drawer": {"driver": "serial", "url": "serial:///dev/ttyUSB1"},
            "display": {"url": "serial:///dev/ttyUSB10"},  # not a prefix match on ttyUSB1
            "scanner": {"url": "serial:///dev/ttyACM0"},
        },
    )
    # drawer.url is not opened by the printer driver: no clash with the printer's port
    loads(
        tmp_path,
        {
            "printer": {"url": "serial:///dev/ttyUSB0"},
            "drawer": {"driver": "printer", "url": "serial:///dev/ttyUSB0"},
        },
    )
    # the simulated devices of the embedded defaults never clash
    loads(tmp_path, {})
    # nor two devices writing to one file, not a serial port (the benchmarks' sink)
    loads(
        tmp_path,
        {"printer": {"url": "file:///dev/null"}, "display": {"url": "file:///dev/null"}},
    )


def test_check_config_exits_78_naming_both_keys_and_the_port(tmp_path: Path) -> None:
    config = tmp_path / "posd.toml"
    config.write_text(
        f'[state]\ndir = "{tmp_path}"\n'
        '[printer]\nurl = "serial:///dev/ttyUSB0?baud=38400"\n'
        '[display]\nurl = "serial:///dev/ttyUSB0"\n',
        encoding="utf-8",
    )
    run = check_config(config)
    assert run.returncode == 78, run.stderr
    assert "Traceback" not in run.stderr
    assert "printer.url" in run.stderr and "display.url" in run.stderr
    assert "/dev/ttyUSB0" in run.stderr
