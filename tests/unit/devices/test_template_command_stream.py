"""Template control codes are checked as a stream of ESC/POS commands.

A refused command (``ESC =``, ``ESC t``, ``GS ( D``...) counts only where the printer
reads a command: the same bytes inside a raster image, a QR code's data, a graphics
block or a parameter are data, and the template loads. A command the check does not
know, or one cut short by the end of the codes, is refused with its byte offset: the
check cannot tell where its parameters end, so it cannot vouch for what follows.

Real-time commands (``DLE EOT``, ``DLE ENQ``, ``DLE DC4``) are the exception: the
printer acts on them wherever they appear, data included, so they are refused anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from posd_daemon.devices.templates import TemplateError, load_template, template_from_mapping


def _codes(text: str) -> bytes:
    return template_from_mapping({"start_codes": text}).start_codes


@pytest.mark.parametrize(
    "codes",
    [
        # GS v 0 m xL xH yL yH: 2 bytes wide x 2 rows = 4 data bytes, ESC = 0 among them
        "1d 76 30 00 02 00 02 00 1b 3d 00 ff 1b 61 01",
        # GS ( k pL pH cn fn m d...: QR store data (fn 80) holding ESC = 0 and ESC t 16,
        # then print it (fn 81)
        "1d 28 6b 09 00 31 50 30 1b 3d 00 1b 74 10 1d 28 6b 03 00 31 51 30",
        # GS ( L pL pH m fn ...: a graphics block holding ESC = 0, ESC t and GS ( D
        "1d 28 4c 0c 00 30 70 1b 3d 00 1b 74 02 1d 28 44 03 1b 61 00",
        # GS 8 L p1 p2 p3 p4 m fn ...: the 4-byte-length form of a graphics block
        "1d 38 4c 05 00 00 00 30 70 1b 3d 00",
        # ESC * m nL nH d...: 8-dot bit image, 3 columns of 1 byte
        "1b 2a 00 03 00 1b 3d 00 0a",
        # ESC * 33: 24-dot bit image, 1 column of 3 bytes
        "1b 2a 21 01 00 1b 3d 00",
        # GS k m n d... (function B, CODE128): the data may hold any byte 0..127
        "1d 6b 49 05 7b 42 1b 3d 00",
        # GS * x y d...: a downloaded bit image of 1 x 1 (8 bytes), then GS / 0 prints it
        "1d 2a 01 01 1b 3d 00 1b 74 00 00 00 1d 2f 00",
        # parameters: ESC ! n with n = ESC, then "=" and NUL as text; ESC a n with n = GS
        # followed by text that merely looks like "( D"
        "1b 21 1b 3d 00 1b 61 1d 28 44",
        # ESC & y c1 c2 [x d1...d(y*x)]: one user-defined character, y=1, x=2
        "1b 26 01 41 41 02 1b 3d 1b 25 01",
        # ESC D n1...nk NUL: tab positions
        "1b 44 08 10 00 09 41",
        # GS V m (n): full cut, then feed-and-cut with n
        "1d 56 00 1d 56 42 10",
    ],
)
def test_dangerous_bytes_inside_data_or_parameters_load(codes: str) -> None:
    assert _codes(codes) == bytes.fromhex(codes)


@pytest.mark.parametrize(
    ("codes", "command", "at"),
    [
        ("1b 74 10", "ESC t (select character code table)", 0),
        ("1b 61 01 1b 74 00", "ESC t (select character code table)", 3),
        # after a QR print (length-prefixed GS ( k)
        ("1d 28 6b 03 00 31 51 30 1b 3d 00", "ESC = (select peripheral device)", 8),
        # after a raster image whose data looked like a command
        (
            "1d 76 30 00 01 00 01 00 1b 1d 28 44 03 00 14 01 00",
            "GS ( D (enable/disable real-time commands)",
            9,
        ),
        # after a GS 8 L block
        ("1d 38 4c 02 00 00 00 30 45 1b 40", "ESC @ (initialise: resets the code page)", 9),
        # after a CODE128 barcode (function B: length-prefixed)
        ("1d 6b 49 02 7b 42 1b 74 00", "ESC t (select character code table)", 6),
        # after a CODE39 barcode (function A: NUL-terminated)
        ("1d 6b 04 41 42 00 1b 3d 00", "ESC = (select peripheral device)", 6),
        # after a bit image
        ("1b 2a 00 01 00 ff 1b 70 00 32 64", "ESC p (drawer kick)", 6),
        ("1d 61 0f", "GS a (automatic status back)", 0),
        # a refused command is named even when its parameters are cut off
        ("1b 3d", "ESC = (select peripheral device)", 0),
    ],
)
def test_dangerous_commands_at_command_positions_are_refused(
    codes: str, command: str, at: int
) -> None:
    with pytest.raises(TemplateError) as info:
        _codes(codes)
    assert str(info.value) == (
        f"receipt.start_codes: contains {command} at byte {at}: not allowed in templates"
    )


@pytest.mark.parametrize(
    ("codes", "name", "at"),
    [
        # DLE EOT in raster data: the printer answers it there too (real-time command)
        ("1d 76 30 00 03 00 01 00 10 04 01", "DLE EOT", 8),
        ("1d 28 6b 06 00 31 50 30 10 14 01", "DLE DC4", 8),
    ],
)
def test_real_time_commands_are_refused_even_inside_data(codes: str, name: str, at: int) -> None:
    with pytest.raises(TemplateError, match=f"contains {name}.* at byte {at}: not allowed"):
        _codes(codes)


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ("1b", "truncated ESC/POS command at byte 0: the codes end inside it"),
        ("1b 61", "truncated ESC a at byte 0: the codes end inside it"),
        ("1c 70 01 00 1b", "truncated ESC/POS command at byte 4: the codes end inside it"),
        # 2 x 2 raster bytes announced, 1 given
        ("1b 61 01 1d 76 30 00 02 00 02 00 ff", "truncated GS v 0 at byte 3: the codes end"),
        ("1d 28 6b 05 00 31 50", "truncated GS ( k at byte 0: the codes end inside it"),
        ("1d 6b 04 41 42", "truncated GS k at byte 0: the codes end inside it"),
        ("1d 38 4c 10 00", "truncated GS 8 L at byte 0: the codes end inside it"),
    ],
)
def test_a_truncated_command_is_refused_with_its_offset(codes: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        _codes(codes)
    assert str(info.value).startswith(f"receipt.start_codes: {message}")


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        # ESC DEL is no ESC/POS command: where would its parameters end?
        ("1b 7f 1b 3d 00", "unknown ESC/POS command 1b 7f at byte 0"),
        ("1b 61 01 1d ff", "unknown ESC/POS command 1d ff at byte 3"),
        ("10 41", "unknown ESC/POS command 10 41 at byte 0"),
        # GS ( E: user setup commands (memory switches, serial speed) are not template work
        ("1d 28 45 03 00 01 49 4e", "contains GS ( E (user setup commands) at byte 0: not allowed"),
        ("1d 76 31", "unknown ESC/POS command 1d 76 31 at byte 0"),
        # bad parameters that decide a length
        ("1b 2a 05 01 00 00", "ESC * at byte 0: bit-image mode m=5"),
        ("1d 56 07", "GS V at byte 0: cut mode m=7"),
        ("1d 6b 07 41 00", "GS k at byte 0: barcode system m=7"),
        ("1d 6b 04 41 1b 00", "GS k at byte 0: barcode data byte 0x1b at byte 4"),
    ],
)
def test_an_unknown_command_or_parameter_is_refused_with_its_offset(
    codes: str, message: str
) -> None:
    with pytest.raises(TemplateError) as info:
        _codes(codes)
    assert str(info.value).startswith(f"receipt.start_codes: {message}")


def test_a_template_file_names_file_key_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_text('end_codes = "1b 42 02 02 1d 76 30 00"\n', "utf-8")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert str(info.value).startswith(f"{path}.end_codes: truncated GS v 0 at byte 4")


@pytest.mark.parametrize(
    "codes",
    [
        "1b 61 01",  # ESC a 1: centre
        "1c 70 01 00",  # FS p 1 0: print NV logo 1
        "1b 42 02 02",  # ESC B n t: beep (compatible printers)
        "1d 4c 00 00",  # GS L: left margin
        "1b 2d 01 1d 28 4c 02 00 30 32",  # underline + GS ( L fn 50 (print graphics)
        "1b 21 08 41 42 43 0a 1b 64 02",  # bold text, feed
        "1d 21 11 1b 45 01 1b 47 00 09 0d 0c 18",  # sizes, emphasis, HT CR FF CAN
        "1d 68 50 1d 77 02 1d 48 02 1d 66 00 1d 6b 43 0c 34 30 30 36 33 38 31 33 33 33 39 33",
    ],
)
def test_ordinary_templates_still_load(codes: str) -> None:
    assert _codes(codes) == bytes.fromhex(codes)
