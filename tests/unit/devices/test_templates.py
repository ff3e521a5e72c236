"""Receipt templates: data, hex control codes validated at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from posd_daemon.devices.escpos.codec import encode_document
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.templates import (
    TemplateError,
    load_template,
    parse_hex_codes,
    template_from_mapping,
)
from posd_daemon.domain.document import Document, RawBytes, Text


def test_hex_codes_parse_in_common_spellings() -> None:
    assert parse_hex_codes("1b 61 01", "x") == b"\x1ba\x01"
    assert parse_hex_codes("0x1c,0x70,0x01,0x00", "x") == b"\x1cp\x01\x00"
    assert parse_hex_codes("1D4C0000", "x") == b"\x1dL\x00\x00"


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ("1b 6", "not hex bytes"),
        ("zz", "not hex bytes"),
        ("1b 70 00 32 64", "ESC p \\(drawer kick\\)"),
        ("10 14 01 00 01", "DLE DC4"),
        ("1b 40", "ESC @"),
        ("10 04 01", "DLE EOT"),
        ("00 " * 300, "at most 256"),
    ],
)
def test_dangerous_or_bad_codes_are_refused(codes: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        template_from_mapping({"start_codes": codes})


def test_template_applies_around_the_receipt(tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(
        'logo = ["BÄCKEREI"]\nheader = ["Mo-Sa 7-18 Uhr"]\nfooter = ["Bis bald!"]\n'
        'start_codes = "1c 70 01 00"\nend_codes = "1b 42 02 02"\n',
        "utf-8",
    )
    template = load_template(path)
    doc = template.apply(Document(columns=42, blocks=(Text("RECEIPT"),)))
    assert doc.blocks[0] == RawBytes(b"\x1cp\x01\x00")
    assert [b.text for b in doc.blocks if isinstance(b, Text)] == [
        "BÄCKEREI",
        "Mo-Sa 7-18 Uhr",
        "RECEIPT",
        "Bis bald!",
    ]
    assert doc.blocks[-1] == RawBytes(b"\x1bB\x02\x02")
    payload = encode_document(doc, get_profile("generic-80mm"))
    # the codes go out as they are, right after init + code page, and before the cut
    assert payload.startswith(b"\x1b@\x1bt\x13\x1cp\x01\x00")
    assert payload.index(b"\x1bB\x02\x02") < payload.index(b"\x1dVB")


def test_template_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no such receipt template"):
        load_template(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('logo = "not a list"\n', "utf-8")
    with pytest.raises(TemplateError, match=r"bad.toml.logo: must be a list of strings"):
        load_template(bad)
    bad.write_text('colour = "red"\n', "utf-8")
    with pytest.raises(TemplateError, match="colour: unknown key"):
        load_template(bad)
