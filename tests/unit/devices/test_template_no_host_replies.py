"""Template control codes must not make the printer send data to the host.

posd reads the printer's status itself, with real-time ``DLE EOT`` requests on the same
connection the receipts go out on (devices/printer.py): any byte the printer sends
unasked would be read as a status reply, misreport the printer (paper end, cover open)
or fail the job. So every command, or command function, that makes the printer transmit
data is refused at load, with that reason, like ``GS a`` (automatic status back) is:

* the ``GS ( L`` / ``GS 8 L`` functions that transmit graphics memory capacity or key
  code lists (fn 48, 51, 52, 64, 80), while printing and storing graphics stay allowed;
* the ``GS ( k`` function that transmits the size of the stored symbol (fn 82, every
  symbology), while setting up, storing and printing symbols stay allowed;
* ``GS I``, ``GS r``, ``ESC u``, ``ESC v`` (transmit ID or status), ``GS j`` and
  ``FS ( e`` (automatic status back for ink / extended status) and ``GS ( H``
  (request a response).

As for every refused command, the bytes count only where the printer reads a command:
inside a symbol's data or an image they are data and the template loads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from posd_daemon.devices.templates import TemplateError, load_template, template_from_mapping

REASON = "the printer would send data back where posd reads its status"


def _codes(text: str) -> bytes:
    return template_from_mapping({"start_codes": text}).start_codes


def _refusal(text: str) -> str:
    with pytest.raises(TemplateError) as info:
        _codes(text)
    return str(info.value)


@pytest.mark.parametrize(
    ("codes", "command", "at"),
    [
        # GS ( L pL pH m fn: the graphics functions that transmit
        ("1d 28 4c 02 00 30 30", "GS ( L fn 48 (transmit NV graphics memory capacity)", 0),
        ("1d 28 4c 02 00 30 33", "GS ( L fn 51 (transmit remaining NV graphics capacity)", 0),
        (
            "1d 28 4c 02 00 30 34",
            "GS ( L fn 52 (transmit remaining download graphics capacity)",
            0,
        ),
        ("1d 28 4c 02 00 30 40", "GS ( L fn 64 (transmit NV graphics key code list)", 0),
        ("1d 28 4c 02 00 30 50", "GS ( L fn 80 (transmit download graphics key code list)", 0),
        # the same in the GS 8 L form, after a centring command
        (
            "1b 61 01 1d 38 4c 02 00 00 00 30 40",
            "GS 8 L fn 64 (transmit NV graphics key code list)",
            3,
        ),
        # GS ( k pL pH cn fn m: transmit size information of the stored symbol, QR Code
        # (cn 49) after storing and printing one, PDF417 (cn 48), DataMatrix (cn 54)
        (
            "1d 28 6b 05 00 31 50 30 41 42 1d 28 6b 03 00 31 51 30 1d 28 6b 03 00 31 52 30",
            "GS ( k fn 82 (transmit size information of the stored symbol)",
            18,
        ),
        ("1d 28 6b 03 00 30 52 30", "GS ( k fn 82 (transmit size information", 0),
        ("1d 28 6b 03 00 36 52 30", "GS ( k fn 82 (transmit size information", 0),
        # GS I n: transmit printer ID (n=1: model ID)
        ("1d 49 01", "GS I (transmit printer ID)", 0),
        # GS r n: transmit status (n=1: paper sensor status)
        ("41 42 0a 1d 72 01", "GS r (transmit status)", 3),
        # ESC u n / ESC v: transmit peripheral device / paper sensor status
        ("1b 75 00", "ESC u (transmit peripheral device status)", 0),
        ("1b 76", "ESC v (transmit paper sensor status)", 0),
        # GS j n: automatic status back for ink
        ("1d 6a 01", "GS j (automatic status back for ink)", 0),
        # FS ( e pL pH m n: automatic status back for extended status
        ("1c 28 65 02 00 33 08", "FS ( e (automatic status back, extended status)", 0),
        # GS ( H pL pH fn m d1 d2 d3 d4: request a process ID response
        (
            "1d 28 48 06 00 30 30 31 32 33 34",
            "GS ( H (request transmission of response or status)",
            0,
        ),
        # inside a macro: it would transmit whenever GS ^ runs it
        ("1d 3a 1d 28 6b 03 00 31 52 30 1d 3a", "GS ( k fn 82 (transmit size information", 2),
        ("1d 3a 1d 72 02 1d 3a", "GS r (transmit status)", 2),
    ],
)
def test_commands_that_transmit_to_the_host_are_refused(codes: str, command: str, at: int) -> None:
    message = _refusal(codes)
    assert message.startswith(f"receipt.start_codes: contains {command}")
    assert f" at byte {at}: not allowed in templates: {REASON}" in message


def test_a_template_file_that_would_transmit_names_file_key_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_text('end_codes = "1b 42 02 02 1d 28 4c 02 00 30 40"\n', "utf-8")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert str(info.value) == (
        f"{path}.end_codes: contains GS ( L fn 64 (transmit NV graphics key code list) at "
        f"byte 4: not allowed in templates: {REASON}"
    )


@pytest.mark.parametrize(
    "codes",
    [
        # GS ( L fn 49: reference dot density; fn 50: print the print-buffer graphics
        "1d 28 4c 04 00 30 31 32 32",
        "1d 28 4c 02 00 30 32",
        "1d 38 4c 02 00 00 00 30 32",
        # download graphics (RAM): delete all (fn 81), delete one (fn 82), print (fn 85)
        "1d 28 4c 02 00 30 51 1d 28 4c 04 00 30 52 20 20 1d 28 4c 06 00 30 55 20 20 01 01",
        # QR Code: model 2 (fn 65), module size 6 (fn 67), error correction M (fn 69),
        # store "AB" (fn 80), print (fn 81)
        "1d 28 6b 04 00 31 41 32 00 1d 28 6b 03 00 31 43 06 1d 28 6b 03 00 31 45 31 "
        "1d 28 6b 05 00 31 50 30 41 42 1d 28 6b 03 00 31 51 30",
        # PDF417: columns (fn 65), store and print
        "1d 28 6b 03 00 30 41 03 1d 28 6b 05 00 30 50 30 41 42 1d 28 6b 03 00 30 51 30",
        # transmitting commands' bytes as a symbol's data and as raster image data
        "1d 28 6b 08 00 31 50 30 1d 72 01 1d 49 1d 28 6b 03 00 31 51 30",
        "1d 76 30 00 03 00 01 00 1b 75 00 1b 61 01",
    ],
)
def test_printing_and_setup_functions_still_load(codes: str) -> None:
    assert _codes(codes) == bytes.fromhex(codes)


def test_a_symbol_command_without_a_function_is_refused() -> None:
    # every GS ( k function has cn and fn (Epson): without them the check cannot tell
    # whether it transmits
    assert _refusal("1d 28 6b 01 00 31").startswith(
        "receipt.start_codes: GS ( k at byte 0: 1 parameter byte (cn and fn need 2)"
    )
