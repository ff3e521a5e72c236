"""Template control codes that would disable or reconfigure the printer are refused at
load, with an error naming the template file, the key and the command.

* ``ESC = n`` (1B 3D n), select peripheral device: with bit 0 clear the printer ignores
  everything after it until selected again, so every later receipt is lost silently.
* ``GS ( D`` (1D 28 44), enable/disable real-time commands: with them disabled posd's
  ``DLE EOT`` status reads get no answer and the printer looks unreachable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from posd_daemon.devices.templates import TemplateError, load_template, template_from_mapping


@pytest.mark.parametrize(
    ("codes", "command", "at"),
    [
        ("1b 3d 00", "ESC = (select peripheral device)", 0),
        ("1c 70 01 00 1b 3d 02", "ESC = (select peripheral device)", 4),
        # GS ( D pL pH m [a1 b1]: fn 20, disable real-time commands type 1 and 2
        ("1d 28 44 05 00 14 01 00 02 00", "GS ( D (enable/disable real-time commands)", 0),
        ("1b 42 02 02 1d 28 44 03 00 14 01 00", "GS ( D (enable/disable real-time commands)", 4),
    ],
)
@pytest.mark.parametrize("key", ["start_codes", "end_codes"])
def test_a_template_file_that_would_disable_the_printer_is_refused(
    tmp_path: Path, key: str, codes: str, command: str, at: int
) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(f'header = ["Mo-Sa 7-18 Uhr"]\n{key} = "{codes}"\n', "utf-8")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    message = str(info.value)
    assert message.startswith(f"{path}.{key}: ")
    assert f"contains {command} at byte {at}" in message
    assert "not allowed in templates" in message


def test_the_configuration_template_is_refused_too() -> None:
    with pytest.raises(TemplateError, match=r"^receipt\.end_codes: contains ESC = "):
        template_from_mapping({"end_codes": "1b 3d 00"})


def test_harmless_codes_next_to_them_still_load() -> None:
    # ESC - n (underline) and GS ( L fn 50 (print the graphics in the print buffer) share
    # a first byte with the refused ones
    template = template_from_mapping({"start_codes": "1b 2d 01 1d 28 4c 02 00 30 32"})
    assert template.start_codes == b"\x1b-\x01\x1d(L\x02\x0002"
