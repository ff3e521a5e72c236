"""Exact bytes of the ESC/POS encoder (python-escpos' Dummy printer as an oracle)."""

from __future__ import annotations

import unicodedata

import pytest
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st

from posd_daemon.devices.charset import base_letter
from posd_daemon.devices.errors import EncodeError
from posd_daemon.devices.escpos.codec import (
    STATUS_REQUEST_ALL,
    barcode,
    drawer_kick,
    drawer_kick_realtime,
    enable_asb,
    encode_document,
    encode_text,
    feed_lines,
    qr_native,
    status_request,
)
from posd_daemon.devices.escpos.profile import CutMode, PrinterProfile, get_profile
from posd_daemon.devices.sim import escpos_to_plain_text, escpos_to_text
from posd_daemon.domain.document import (
    Align,
    Barcode,
    Document,
    Feed,
    QrCode,
    RawBytes,
    Text,
)
from tests.support.devices import sample_receipt

P80 = get_profile("generic-80mm")
HEAD = b"\x1b@\x1bt\x13"  # ESC @, ESC t 19 (CP858)
CUT = b"\x1dVB\x00"  # GS V 66 0: feed to the cutter, partial cut


def doc(*blocks: Text | QrCode | Barcode | Feed | RawBytes, cut: bool = False) -> Document:
    return Document(columns=48, blocks=blocks, cut=cut)


def test_every_job_starts_with_init_and_pins_cp858() -> None:
    assert encode_document(doc(), P80) == HEAD
    assert encode_document(doc(cut=True), P80) == HEAD + CUT


def test_german_umlauts_sharp_s_and_euro_in_cp858() -> None:
    data = encode_document(doc(Text("äöüß ÄÖÜ €")), P80)
    assert data == HEAD + bytes.fromhex("84 94 81 e1 20 8e 99 9a 20 d5 0a")


def test_unmappable_and_control_characters_print_as_question_marks() -> None:
    assert encode_text("Ω漢—x") == b"???x"
    # an item name must never smuggle a command in (ESC @, DLE EOT, GS V ...)
    assert encode_text("a\x1b@\x10\x04\x01\x1dV\x00b") == b"a?@????V?b"
    assert encode_text("a\tb\x85") == b"a b?"


@given(st.text())
def test_text_encoding_never_fails_and_keeps_one_byte_per_character(text: str) -> None:
    data = encode_text(text)
    assert len(data) == len(unicodedata.normalize("NFC", text))
    assert not any(b < 0x20 or b == 0x7F for b in data)


@given(st.lists(st.text(max_size=60), max_size=8))
def test_documents_of_any_text_encode(lines: list[str]) -> None:
    data = encode_document(doc(*(Text(t) for t in lines), cut=True), P80)
    assert data.startswith(HEAD)
    assert data.endswith(CUT)


def test_alignment_bold_and_double_size() -> None:
    data = encode_document(
        doc(
            Text("TOTAL", Align.CENTER, bold=True, large=True),
            Text("a", Align.RIGHT, bold=True),
            Text("b", Align.RIGHT, bold=True),
            Text("c"),
        ),
        P80,
    )
    assert (
        data
        == HEAD
        + (
            b"\x1ba\x01" + b"\x1b!\x38" + b"TOTAL\n"  # ESC a 1, ESC ! (bold|2h|2w)
            b"\x1ba\x02" + b"\x1b!\x08" + b"a\n"  # ESC a 2, ESC ! bold
            b"b\n"  # unchanged style: nothing re-sent
            b"\x1ba\x00" + b"\x1b!\x00" + b"c\n"
        )
    )


def test_native_qr_code_bytes() -> None:
    data = encode_document(doc(QrCode("hello", size=4)), P80)
    assert data == HEAD + b"\x1ba\x01" + bytes.fromhex(
        "1d 28 6b 04 00 31 41 32 00"  # fn 65: model 2
        "1d 28 6b 03 00 31 43 04"  # fn 67: module size 4
        "1d 28 6b 03 00 31 45 31"  # fn 69: error correction M
        "1d 28 6b 08 00 31 50 30 68 65 6c 6c 6f"  # fn 80: store "hello"
        "1d 28 6b 03 00 31 51 30"  # fn 81: print
    )


def test_native_qr_matches_python_escpos() -> None:
    oracle = Dummy()
    oracle.qr("V0;kasse;ä€", ec=QR_ECLEVEL_M, size=3, native=True)
    assert qr_native("V0;kasse;ä€", 3) == oracle.output


def test_qr_module_size_is_clamped() -> None:
    assert b"\x31\x43\x01" in qr_native("x", 0)
    assert b"\x31\x43\x10" in qr_native("x", 99)


def test_qr_store_length_is_little_endian() -> None:
    data = qr_native("x" * 300, 3)
    assert b"\x1d\x28\x6b\x2f\x01\x31\x50\x30" in data  # 300 + 3 = 0x012F


def test_qr_without_native_support_becomes_a_raster_image() -> None:
    p58 = get_profile("generic-58mm")
    data = encode_document(Document(32, (QrCode("hello", size=8),), cut=False), p58)
    assert b"\x1d(k" not in data
    start = data.index(b"\x1dv0\x00")  # GS v 0, normal scale
    width_bytes = data[start + 4] + 256 * data[start + 5]
    height = data[start + 6] + 256 * data[start + 7]
    assert width_bytes * 8 >= height  # square symbol, padded to whole bytes
    assert height <= 384  # scaled down to fit the 384-dot head
    assert escpos_to_text(data, columns=32) == ["[image]"]


def test_ean13_barcode_bytes() -> None:
    data = encode_document(doc(Barcode("4006381333931", "EAN13")), P80)
    assert data == HEAD + b"\x1ba\x01" + bytes.fromhex(
        "1d 68 50"  # GS h 80: height
        "1d 77 03"  # GS w 3: module width
        "1d 48 02"  # GS H 2: HRI below
        "1d 66 00"  # GS f 0: HRI font A
        "1d 6b 43 0c 34 30 30 36 33 38 31 33 33 33 39 33"  # GS k 67 n=12 digits
    )


def test_code128_uses_code_set_b_and_escapes_braces() -> None:
    symbol = barcode("CODE128", "AB{1", 576)
    assert symbol is not None
    assert symbol.endswith(b"\x1dk\x49\x07{BAB{{1")


def test_code128_matches_python_escpos_gs_k() -> None:
    oracle = Dummy()
    oracle.barcode("{BRCPT-42", "CODE128", function_type="B", check=False)
    symbol = barcode("CODE128", "RCPT-42", 576)
    assert symbol is not None
    gs_k = symbol[symbol.index(b"\x1dk") :]
    assert oracle.output.endswith(gs_k)


def test_code128_uses_code_set_c_for_even_digit_strings() -> None:
    symbol = barcode("code-128", "20240101", 576)
    assert symbol is not None
    assert symbol.endswith(b"\x1dk\x49\x06{C" + bytes((20, 24, 1, 1)))


def test_barcode_module_width_shrinks_to_fit_the_paper() -> None:
    narrow = barcode("CODE128", "X" * 20, 384)  # 275 modules: only 1 dot each fits
    assert narrow is not None
    assert b"\x1dw\x01" in narrow
    assert barcode("CODE128", "X" * 60, 384) is None  # wider than the paper


@pytest.mark.parametrize(
    ("symbology", "data"),
    [
        ("EAN13", "4006381333932"),  # wrong check digit
        ("EAN13", "40063813339"),  # 11 digits
        ("EAN13", "40063813339AB"),
        ("CODE128", "Grüße"),  # not ASCII
        ("CODE128", ""),
        ("QR", "x"),  # not a 1-D symbology
    ],
)
def test_invalid_barcode_data_prints_as_text_instead_of_failing(symbology: str, data: str) -> None:
    assert barcode(symbology, data, 576) is None
    out = encode_document(doc(Barcode(data, symbology)), P80)
    assert b"\x1dk" not in out
    assert out.endswith(encode_text(f"{symbology} {data}") + b"\n")


def test_feeds() -> None:
    assert feed_lines(0) == b""
    assert feed_lines(-2) == b""
    assert feed_lines(3) == b"\x1bd\x03"
    assert feed_lines(300) == b"\x1bd\xff\x1bd\x2d"
    assert encode_document(doc(Feed(2)), P80) == HEAD + b"\x1bd\x02"


def test_raw_bytes_pass_through_and_state_is_pinned_again() -> None:
    data = encode_document(doc(Text("a", bold=True), RawBytes(b"\x1b@\x1b-\x01"), Text("b")), P80)
    assert data == HEAD + (
        b"\x1b!\x08a\n"
        + b"\x1b@\x1b-\x01"  # verbatim: the template may even re-initialise the printer
        + b"\x1bt\x13\x1ba\x00\x1b!\x00b\n"  # so code table and styles are sent again
    )


@pytest.mark.parametrize(
    ("overrides", "ending"),
    [
        ({}, b"\x1dVB\x00"),  # GS V 66 0: feed-and-cut, partial
        ({"cut": CutMode.FULL}, b"\x1dVA\x00"),  # GS V 65 0: feed-and-cut, full
        ({"feed_and_cut_units": 24}, b"\x1dVB\x18"),
        ({"feed_and_cut": False}, b"\x1bd\x04\x1dV\x01"),  # feed 4, GS V 1 partial
        ({"feed_and_cut": False, "cut": CutMode.FULL}, b"\x1bd\x04\x1dV\x00"),  # GS V 0
        ({"cut": CutMode.NONE, "cut_feed_lines": 5}, b"\x1bd\x05"),  # tear-off feed only
    ],
)
def test_cut_per_profile(overrides: dict[str, object], ending: bytes) -> None:
    profile = P80.with_overrides(overrides)
    assert encode_document(doc(cut=True), profile) == HEAD + ending


def test_document_wider_than_the_paper_is_refused() -> None:
    with pytest.raises(EncodeError, match="48 columns but printer profile 'epson-tm-t88' has 42"):
        encode_document(doc(Text("x")), get_profile("epson-tm-t88"))
    # narrower is fine (a 42-column document on 48-column paper)
    encode_document(Document(42, (Text("x"),)), P80)


def test_decomposed_letters_print_composed() -> None:
    # "Ka" + COMBINING DIAERESIS + "se" (NFD, e.g. from a macOS export)
    assert encode_text("Ka\u0308se") == b"K\x84se"
    assert encode_text("Stra\u00dfe \u0041\u030a") == "Straße Å".encode("cp858")


def test_letters_missing_from_the_code_page_print_as_their_base_letter() -> None:
    assert encode_text("Příliš žluťoučký kůň") == "Prílis zlutoucký kun".encode("cp858")
    assert encode_text("Łódź Żurek śląski") == b"L\xa2dz Zurek slaski"
    assert encode_text("ﬁ⅓Ω") == b"???"  # no one-letter base: the column count stays


def test_cp852_for_central_european_shops() -> None:
    p = PrinterProfile(name="pl", columns=48, dots=576, code_table=18, encoding="cp852")
    data = encode_document(doc(Text("Żurek śląski"), Text("Příliš žluťoučký kůň")), p)
    assert data.startswith(b"\x1b@\x1bt\x12")  # ESC t 18: PC852
    assert escpos_to_text(data) == ["Żurek śląski", "Příliš žluťoučký kůň"]


def test_other_code_tables_from_the_profile() -> None:
    p = PrinterProfile(name="cp1252", columns=48, dots=576, code_table=16, encoding="cp1252")
    assert encode_document(doc(Text("€ä")), p) == b"\x1b@\x1bt\x10" + b"\x80\xe4\n"


def test_drawer_kick() -> None:
    assert drawer_kick(2, 100, 200) == b"\x1bp\x00\x32\x64"  # t = ms / 2
    assert drawer_kick(5, 50, 50) == b"\x1bp\x01\x19\x19"
    assert drawer_kick(2, 101, 0) == b"\x1bp\x00\x33\x01"  # rounded up, at least 1
    assert drawer_kick(2, 10_000, 511) == b"\x1bp\x00\xff\xff"  # clamped to 510 ms
    oracle = Dummy()
    oracle.cashdraw(2)
    assert drawer_kick(2, 100, 100) == oracle.output


@pytest.mark.parametrize(("pin", "on", "off"), [(3, 100, 100), (0, 100, 100), (2, -1, 100)])
def test_drawer_kick_rejects_bad_values(pin: int, on: int, off: int) -> None:
    with pytest.raises(ValueError, match="drawer kick"):
        drawer_kick(pin, on, off)


def test_realtime_drawer_pulse() -> None:
    assert drawer_kick_realtime(2, 100) == b"\x10\x14\x01\x00\x01"  # DLE DC4 1 m t
    assert drawer_kick_realtime(5, 250) == b"\x10\x14\x01\x01\x03"  # t x 100 ms
    assert drawer_kick_realtime(2, 5000) == b"\x10\x14\x01\x00\x08"


def test_status_requests() -> None:
    assert [status_request(n) for n in (1, 2, 3, 4)] == [
        b"\x10\x04\x01",
        b"\x10\x04\x02",
        b"\x10\x04\x03",
        b"\x10\x04\x04",
    ]
    assert bytes.fromhex("10 04 01 10 04 02 10 04 03 10 04 04") == STATUS_REQUEST_ALL
    for bad in (0, 5, True):
        with pytest.raises(ValueError, match=r"1\.\.4"):
            status_request(bad)


def test_enable_asb() -> None:
    assert enable_asb() == b"\x1da\x0f"
    assert enable_asb(0) == b"\x1da\x00"
    with pytest.raises(ValueError, match="ASB mask"):
        enable_asb(256)


def test_recorded_bytes_decode_back_to_the_documents_plain_text() -> None:
    receipt = sample_receipt(48)
    data = encode_document(receipt, P80)
    assert escpos_to_plain_text(data, columns=48) == receipt.plain_text()


def test_receipt_for_42_columns_on_a_tm_t88() -> None:
    receipt = sample_receipt(42)
    data = encode_document(receipt, get_profile("epson-tm-t88"))
    assert escpos_to_plain_text(data, columns=42) == receipt.plain_text()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_printer_text_is_that_of_one_character_at_a_time(text: str) -> None:
    """The one-pass cleaning gives the bytes of cleaning each character on its own (of
    the NFC text; a letter missing from CP858 as its base letter, else '?')."""
    text = unicodedata.normalize("NFC", text)
    cleaned = "".join(
        " "
        if ch == "\t"
        else "?"
        if ord(ch) < 0x20 or ord(ch) == 0x7F or 0x80 <= ord(ch) < 0xA0
        else ch
        for ch in text
    )
    expected = bytearray()
    for ch in cleaned:
        for candidate in (ch, base_letter(ch), "?"):
            try:
                expected += candidate.encode("cp858")
                break
            except UnicodeEncodeError:
                continue
    assert encode_text(text) == bytes(expected)
