"""A sign the printer's code page lacks (® and £ are not in CP852, © not in CP437) is
printed as its base letter or '?', one byte per character: before, the codec's
replacement was checked against Latin-1 ("charmap"), so a receipt naming "Horalky®"
on a Latin-2 printer raised and the print job failed."""

from __future__ import annotations

import pytest

from posd_daemon.devices.charset import CODE_TABLES, encode_in_code_page
from posd_daemon.devices.escpos.codec import encode_text


@pytest.mark.parametrize("encoding", sorted(CODE_TABLES))
def test_every_character_of_latin_text_is_one_byte_in_every_page(encoding: str) -> None:
    text = "".join(chr(c) for c in range(0x20, 0x250) if chr(c).isprintable())
    out = encode_in_code_page(text, encoding)
    assert len(out) == len(text)


def test_signs_latin2_lacks_print_as_question_marks() -> None:
    assert encode_in_code_page("Horalky® £2 ¥", "cp852") == b"Horalky? ?2 ?"
    assert encode_in_code_page("Čaj © ł", "cp437") == b"Caj ? l"
    assert encode_in_code_page("Žluťoučký kůň", "cp852") == "Žluťoučký kůň".encode("cp852")


def test_a_receipt_line_with_such_a_sign_encodes() -> None:
    assert encode_text("Horalky® 12,90", "cp852").startswith(b"Horalky? ")
