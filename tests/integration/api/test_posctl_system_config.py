"""On a register installed with systemd, posctl needs no options: the unit keeps the state
dir in /etc/posd/posd.toml (not on the command line), and posctl reads that file by
default, so it finds the daemon's socket and database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from posd.client import PosdClient, new_request_id
from posd.v1 import sale_pb2

from posd_daemon.cli import posctl
from posd_daemon.ops.config import load
from tests.conftest import Running

ROOT = Path(__file__).resolve().parents[3]


def test_the_unit_and_the_shipped_config_agree_on_the_state_dir() -> None:
    unit = (ROOT / "systemd" / "posd.service").read_text("utf-8")
    starts = re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE)
    assert starts == ["/usr/bin/posd --config /etc/posd/posd.toml"]
    assert "--state-dir" not in unit
    assert re.search(r"^StateDirectory=posd$", unit, re.MULTILINE)
    # device classes exist only once their driver is loaded (resolved at unit start)
    assert re.search(r"^After=.*modprobe@usbserial\.service", unit, re.MULTILINE)
    allowed = re.findall(r"^DeviceAllow=char-(\S+)", unit, re.MULTILINE)
    assert "usbmisc" not in allowed  # no /proc/devices name: usblp registers as "usb"
    assert {"usb", "ttyUSB", "ttyACM"} <= set(allowed)
    cfg = load(ROOT / "systemd" / "posd.toml")
    assert cfg.state_dir == Path("/var/lib/posd")
    assert cfg.socket_path == Path("/var/lib/posd/posd.sock")


def test_posctl_reads_the_installed_config_by_default(
    running: Running,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    installed = tmp_path / "posd.toml"
    installed.write_text(f'[state]\ndir = "{running.config.state_dir}"\n', encoding="utf-8")
    monkeypatch.setattr(posctl, "SYSTEM_CONFIG", installed)
    monkeypatch.delenv("POSD_CONFIG", raising=False)
    monkeypatch.delenv("POSD_SOCKET", raising=False)
    monkeypatch.chdir(tmp_path)  # not the daemon's directory
    assert posctl.main(["status"]) == 0
    assert "running" in capsys.readouterr().out
    # unreadable or absent: the embedded defaults, as before (nothing answers there)
    monkeypatch.setattr(posctl, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    assert posctl.main(["status"]) == posctl.EXIT_NOT_RUNNING


def test_posctl_shows_parked_sales_and_takes_a_relative_socket(
    running: Running,
    pos: PosdClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pos.upsert_item("1001", "Bio-Brot", 449)
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="1001")
    pos.call(
        pos.sales.ParkSale,
        sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sale.sale_id),
    )
    # a relative --socket (gRPC would read "unix://<relative>" as a host name)
    monkeypatch.chdir(running.config.state_dir.parent)
    relative = str(running.config.socket_path.relative_to(running.config.state_dir.parent))
    base = ["--socket", relative, "--operator", "1", "--pin", "1234"]
    assert posctl.main([*base, "status"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"parked sales:\s+1\b", out), out  # a Z is refused for it
    assert posctl.main([*base, "sale", "list", "--state", "parked"]) == 0
    assert sale.sale_id in capsys.readouterr().out
    with pytest.raises(SystemExit):
        posctl.main([*base, "sale", "list", "--limit", "0"])
