from __future__ import annotations

from pathlib import Path

import pytest

from posd_daemon.devices.errors import ProfileError
from posd_daemon.devices.escpos.profile import (
    BUILTIN_PROFILES,
    CP858_TABLE,
    CutMode,
    DrawerSensor,
    PrinterProfile,
    get_profile,
    profile_from_mapping,
)
from posd_daemon.devices.setup import display_profile, printer_profile
from posd_daemon.ops.config import load


def test_builtin_profiles_match_the_reference_widths() -> None:
    widths = {name: (p.columns, p.dots) for name, p in BUILTIN_PROFILES.items()}
    assert widths == {
        "generic-80mm": (48, 576),
        "generic-58mm": (32, 384),
        "epson-tm-t20": (48, 576),
        "epson-tm-t88": (42, 512),
    }
    for profile in BUILTIN_PROFILES.values():
        assert profile.code_table == CP858_TABLE == 19
        assert profile.encoding == "cp858"
        assert profile.drawer_pin in (2, 5)


def test_58mm_has_no_cutter_and_no_native_qr() -> None:
    p = get_profile("generic-58mm")
    assert p.cut is CutMode.NONE
    assert not p.native_qr


def test_overrides_from_config_mapping() -> None:
    p = profile_from_mapping(
        {
            "base": "epson-tm-t88",
            "drawer_pin": 5,
            "drawer_sensor": "open-low",
            "cut": "full",
            "read_status_after_kick": True,
        }
    )
    assert p.name == "epson-tm-t88"
    assert p.columns == 42
    assert p.drawer_pin == 5
    assert p.drawer_sensor is DrawerSensor.OPEN_LOW
    assert p.cut is CutMode.FULL
    assert p.read_status_after_kick
    # the built-in table is untouched
    assert get_profile("epson-tm-t88").drawer_pin == 2


def test_a_new_model_from_scratch() -> None:
    p = profile_from_mapping({"name": "acme-80", "columns": 42, "dots": 512, "native_qr": False})
    assert (p.name, p.columns, p.dots, p.native_qr) == ("acme-80", 42, 512, False)
    assert p.with_overrides({"columns": 40}).columns == 40


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colums": 48}, "unknown setting(s) colums"),
        ({"columns": "48"}, "columns must be an integer from 16 to 80, got '48'"),
        ({"columns": True}, "columns must be an integer"),
        ({"drawer_pin": 3}, "drawer_pin must be 2 or 5"),
        ({"drawer_on_ms": 600}, "drawer_on_ms must be an integer from 2 to 510"),
        ({"cut": "half"}, "cut must be one of 'full', 'partial', 'none', got 'half'"),
        ({"drawer_sensor": "high"}, "drawer_sensor must be one of"),
        ({"encoding": "klingon"}, "encoding 'klingon' is not a known text encoding"),
        ({"native_qr": "yes"}, "native_qr must be true or false"),
        ({"columns": 80, "dots": 384}, "80 columns do not fit on 384 dots"),
        ({"base": "epson-tm-t1000"}, "unknown printer profile 'epson-tm-t1000'"),
        ({"name": ""}, "name must be a non-empty string"),
    ],
)
def test_invalid_config_is_explained(data: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError) as info:
        profile_from_mapping(data)
    assert message in str(info.value)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ProfileError, match="code_table must be an integer from 0 to 255"):
        PrinterProfile(name="x", columns=48, dots=576, code_table=300)


def test_code_page_option_pins_codec_and_table_together(tmp_path: Path) -> None:
    cfg = load(None, {"state": {"dir": str(tmp_path)}})
    assert (printer_profile(cfg).encoding, printer_profile(cfg).code_table) == ("cp858", 19)
    cfg = load(
        None,
        {
            "state": {"dir": str(tmp_path)},
            "printer": {"code_page": "cp852"},
            "display": {"code_page": "cp852"},
        },
    )
    # ESC t 18 is PC852 on Epson (escpos-printer-db, see devices/charset.py)
    assert (printer_profile(cfg).encoding, printer_profile(cfg).code_table) == ("cp852", 18)
    assert (display_profile(cfg).encoding, display_profile(cfg).code_table) == ("cp852", 18)
