"""Template control codes: macros, non-volatile memory and persistent settings.

* A macro (``GS :`` ... ``GS :``, run by ``GS ^ r t m``) holds commands the printer
  executes later, so its body is checked like any other codes: a refused command inside
  it is refused, and a definition the codes leave open is refused as truncated (the
  receipt posd prints after the codes would be recorded into it). ``GS ^`` runs only a
  macro defined earlier in the same codes (anything else in the printer's macro buffer
  was never checked), never inside a definition, and never in the mode that waits for
  the FEED button (the printer would stop until someone pressed it).
* Commands that write the printer's non-volatile memory or its persistent settings
  (``FS q``, ``GS ( L`` / ``GS 8 L`` define/delete NV graphics, ``GS ( E``, ``GS ( C``,
  ``GS ( M``, ``FS g``, ``GS g``) are refused with the reason: that is set up with the
  vendor's utility, not by a receipt template. Printing stored NV images stays allowed.
"""

from __future__ import annotations

import pytest

from posd_daemon.devices.templates import TemplateError, template_from_mapping

NV_REASON = "non-volatile memory and printer settings are set up with the vendor's utility"


def _codes(text: str) -> bytes:
    return template_from_mapping({"end_codes": text}).end_codes


def _refusal(text: str) -> str:
    with pytest.raises(TemplateError) as info:
        _codes(text)
    return str(info.value)


# --- macros ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codes",
    [
        # define a macro (centre, text, LF), run it twice 0.5 s apart (mode 0)
        "1d 3a 1b 61 01 41 42 0a 1d 3a 1d 5e 02 05 00",
        # an empty macro definition
        "1d 3a 1d 3a",
        # a macro holding a QR code and a cut; GS : bytes inside a raster image outside
        # any macro are image data
        "1d 3a 1d 28 6b 03 00 31 51 30 1d 56 00 1d 3a 1d 5e 01 00 00",
        "1d 76 30 00 02 00 01 00 1d 3a 1b 61 01",
    ],
)
def test_complete_macros_of_allowed_commands_load(codes: str) -> None:
    assert _codes(codes) == bytes.fromhex(codes)


@pytest.mark.parametrize(
    ("codes", "command", "at"),
    [
        # ESC = 0 recorded into the macro: it would deselect the printer when replayed
        ("1d 3a 41 1b 3d 00 1d 3a 1d 5e 01 00 00", "ESC = (select peripheral device)", 3),
        # ESC @ is the classic macro content (ESC @ does not clear a macro)
        ("1d 3a 1b 40 1d 3a", "ESC @ (initialise: resets the code page)", 2),
        ("1d 3a 1b 70 00 19 fa 1d 3a", "ESC p (drawer kick)", 2),
    ],
)
def test_a_refused_command_inside_a_macro_is_refused(codes: str, command: str, at: int) -> None:
    assert _refusal(codes) == (
        f"receipt.end_codes: contains {command} at byte {at}: not allowed in templates"
    )


def test_a_macro_left_open_is_refused_as_truncated() -> None:
    message = _refusal("1b 61 01 1d 3a 1b 61 00 41")
    assert message.startswith(
        "receipt.end_codes: truncated GS : (macro definition) at byte 3: the codes end inside it"
    )


def test_a_macro_whose_end_a_parameter_swallows_is_left_open() -> None:
    # ESC a takes 1D as its parameter: ":" is text, the definition is still open
    message = _refusal("1d 3a 1b 61 1d 3a")
    assert message.startswith("receipt.end_codes: truncated GS : (macro definition) at byte 0")


def test_a_macro_with_its_end_bytes_inside_data_is_refused() -> None:
    # a raster image inside the macro whose data is 1D 3A: whether the printer ends the
    # definition there or after the image is not something to rely on
    message = _refusal("1d 3a 1d 76 30 00 02 00 01 00 1d 3a 1d 3a")
    assert message.startswith("receipt.end_codes: GS : (macro definition) at byte 0: ")
    assert "1d 3a" in message


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        # no macro defined in these codes: the printer would replay whatever it holds
        ("1d 5e 01 00 00", "GS ^ at byte 0: no macro defined before it in these codes"),
        # an empty definition leaves no macro (or an old, unchecked one)
        ("1d 3a 1d 3a 1d 5e 01 00 00", "GS ^ at byte 4: no macro defined before it"),
        # the definition is still open: GS ^ inside a macro definition
        ("1d 3a 41 1d 5e 01 00 00 1d 3a", "GS ^ at byte 3: inside a macro definition"),
        # m=1: waits for the FEED button before each run
        ("1d 3a 41 1d 3a 1d 5e 01 00 01", "GS ^ at byte 5: macro mode m=1"),
    ],
)
def test_gs_caret_runs_only_a_checked_macro_without_waiting(codes: str, message: str) -> None:
    assert _refusal(codes).startswith(f"receipt.end_codes: {message}")


def test_a_truncated_gs_caret_is_refused() -> None:
    assert _refusal("1d 3a 41 1d 3a 1d 5e 01").startswith(
        "receipt.end_codes: truncated GS ^ at byte 5: the codes end inside it"
    )


# --- non-volatile memory and persistent settings ---------------------------------------


@pytest.mark.parametrize(
    ("codes", "command", "at"),
    [
        # FS q n [xL xH yL yH d...]: define NV bit image (1 image of 1 x 1 x 8 bytes)
        ("1c 71 01 01 00 01 00 00 00 00 00 00 00 00 00", "FS q (define NV bit image)", 0),
        # GS ( L pL pH m fn: delete all NV graphics (fn 65)
        ("1b 61 01 1d 28 4c 02 00 30 41", "GS ( L fn 65 (delete all NV graphics)", 3),
        # delete NV graphics kc1 kc2 (fn 66)
        ("1d 28 4c 04 00 30 42 20 20", "GS ( L fn 66 (delete NV graphics)", 0),
        # define NV graphics, raster (fn 67): named even though the data is cut off
        ("1d 28 4c 0c 00 30 43 30 20 20 01 01 00 01 00 31", "GS ( L fn 67 (define NV", 0),
        # define NV graphics, column format (fn 68), in the GS 8 L form
        ("1d 38 4c 0c 00 00 00 30 44 30 20 20 01 01 00 01 00 31", "GS 8 L fn 68 (define NV", 0),
        ("1d 38 4c 02 00 00 00 30 41", "GS 8 L fn 65 (delete all NV graphics)", 0),
        # GS ( E pL pH fn ...: user setup commands (memory switches, customised values)
        ("1d 28 45 03 00 01 49 4e", "GS ( E (user setup commands)", 0),
        # GS ( C pL pH m fn ...: edit NV user memory
        ("1d 28 43 05 00 00 30 20 20 00", "GS ( C (edit NV user memory)", 0),
        # GS ( M pL pH fn m: customise printer control values (save/load user settings)
        ("1d 28 4d 02 00 01 01", "GS ( M (customise printer control values)", 0),
        # FS g 1 m a1 a2 a3 a4 nL nH d...: write to NV user memory
        ("1c 67 31 00 00 00 00 00 01 00 41", "FS g (read/write NV user memory)", 0),
        # GS g 0 m nL nH: initialise a maintenance counter
        ("1d 67 30 00 14 00", "GS g (maintenance counters)", 0),
        # inside a macro as well
        ("1d 3a 1d 28 4c 02 00 30 41 1d 3a", "GS ( L fn 65 (delete all NV graphics)", 2),
    ],
)
def test_commands_writing_nv_memory_or_settings_are_refused(
    codes: str, command: str, at: int
) -> None:
    message = _refusal(codes)
    assert message.startswith(f"receipt.end_codes: contains {command}")
    assert f" at byte {at}: not allowed in templates" in message
    assert NV_REASON in message


@pytest.mark.parametrize(
    "codes",
    [
        # FS p n m: print NV bit image 1
        "1c 70 01 00",
        # GS ( L fn 69: print NV graphics kc1=" " kc2=" " at 1 x 1
        "1d 28 4c 06 00 30 45 20 20 01 01",
        "1d 38 4c 06 00 00 00 30 45 20 20 01 01",
        # GS ( L fn 112 then fn 50: store graphics in the print buffer and print it
        "1d 28 4c 0b 00 30 70 30 01 01 31 08 00 01 00 ff 1d 28 4c 02 00 30 32",
        # define and print download graphics (fn 83, fn 85): RAM, not NV memory
        "1d 28 4c 0c 00 30 53 30 20 20 01 08 00 01 00 31 ff 1d 28 4c 06 00 30 55 20 20 01 01",
    ],
)
def test_printing_stored_images_and_ram_graphics_still_load(codes: str) -> None:
    assert _codes(codes) == bytes.fromhex(codes)


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        # every GS ( L / GS 8 L function has m=48 (Epson); fn is unknowable without it
        ("1d 28 4c 02 00 31 45", "GS ( L at byte 0: graphics m=49"),
        ("1d 28 4c 01 00 30", "GS ( L at byte 0: 1 parameter byte (m and fn need 2)"),
    ],
)
def test_graphics_without_a_function_are_refused(codes: str, message: str) -> None:
    assert _refusal(codes).startswith(f"receipt.end_codes: {message}")


# --- harmless commands the table knows -------------------------------------------------


@pytest.mark.parametrize(
    "codes",
    [
        "1b 55 01",  # ESC U n: unidirectional printing
        "1b 20 02 1b 33 40 1b 32",  # ESC SP n, ESC 3 n, ESC 2
        "1d 42 01 41 1d 42 00 1d 62 01",  # GS B n reverse, GS b n smoothing
        "1b 56 01 1b 7b 01",  # ESC V n rotate, ESC { n upside-down
        "1d 4c 10 00 1d 57 00 02 1b 24 20 00",  # GS L, GS W, ESC $
        "1b 25 01 1b 26 03 41 41 01 00 00 00",  # ESC %, ESC & (one 1-dot column)
    ],
)
def test_common_harmless_commands_load(codes: str) -> None:
    assert _codes(codes) == bytes.fromhex(codes)
