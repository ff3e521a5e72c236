"""Parking slip barcodes as exact ESC/POS bytes (python-escpos' Dummy as the oracle)."""

from __future__ import annotations

from escpos.printer import Dummy

from posd_daemon.devices.escpos.codec import barcode, encode_document
from posd_daemon.devices.escpos.profile import get_profile
from posd_daemon.devices.sim import escpos_to_plain_text
from posd_daemon.domain.document import Barcode, Document
from posd_daemon.domain.parking import (
    parking_code_code128,
    parking_code_ean13,
    parking_symbology,
)

P80 = get_profile("generic-80mm")
P58 = get_profile("generic-58mm")
HEAD = b"\x1b@\x1bt\x13"  # ESC @, ESC t 19 (CP858)
CENTER = b"\x1ba\x01"  # ESC a 1


def test_ean13_parking_code_bytes() -> None:
    code = parking_code_ean13("29", 3, 42)
    assert code == "2903000000422"
    data = encode_document(Document(48, (Barcode(code, parking_symbology(code)),), cut=False), P80)
    assert data == HEAD + CENTER + bytes.fromhex(
        "1d 68 50"  # GS h 80: bar height 80 dots (10 mm)
        "1d 77 03"  # GS w 3: module width 3 dots (115 modules = 345 dots <= 576)
        "1d 48 02"  # GS H 2: human-readable digits below the bars
        "1d 66 00"  # GS f 0: in font A
        "1d 6b 43 0c"  # GS k m=67 (EAN13, function B) n=12: the data digits
        "32 39 30 33 30 30 30 30 30 30 34 32"  # "290300000042"; the printer adds the 2
    )


def test_ean13_gs_k_matches_python_escpos() -> None:
    oracle = Dummy()
    oracle.barcode("290300000042", "EAN13", function_type="B")
    symbol = barcode("EAN13", "2903000000422", 576)
    assert symbol is not None
    gs_k = symbol[symbol.index(b"\x1dk") :]
    assert gs_k == bytes.fromhex("1d 6b 43 0c") + b"290300000042"
    assert oracle.output.endswith(gs_k)


def test_ean13_with_the_wrong_check_digit_is_not_printed_as_a_barcode() -> None:
    assert barcode("EAN13", "2903000000423", 576) is None
    assert barcode("EAN13", "29030000004²", 576) is None  # not an ASCII digit


def test_code128_parking_code_bytes() -> None:
    code = parking_code_code128(3, 42)
    assert code == "P0300000042"
    assert parking_symbology(code) == "CODE128"
    data = encode_document(Document(48, (Barcode(code, parking_symbology(code)),), cut=False), P80)
    assert data == HEAD + CENTER + bytes.fromhex(
        "1d 68 50"  # GS h 80
        "1d 77 03"  # GS w 3: 176 modules with quiet zones = 528 dots <= 576
        "1d 48 02"  # GS H 2
        "1d 66 00"  # GS f 0
        "1d 6b 49 0d"  # GS k m=73 (CODE128) n=13
        "7b 42"  # "{B": code set B
        "50 30 33 30 30 30 30 30 30 34 32"  # "P0300000042"
    )
    oracle = Dummy()
    oracle.barcode("{BP0300000042", "CODE128", function_type="B", check=False)
    assert oracle.output.endswith(data[data.index(b"\x1dk") :])


def test_code128_parking_code_narrows_on_58mm_paper() -> None:
    symbol = barcode("CODE128", parking_code_code128(3, 42), P58.dots)
    assert symbol is not None
    assert b"\x1dw\x02" in symbol  # 2 dots a module: 352 of 384 dots


def test_the_simulator_shows_the_full_ean_with_its_check_digit() -> None:
    for code in (parking_code_ean13("29", 3, 42), parking_code_code128(3, 42)):
        doc = Document(48, (Barcode(code, parking_symbology(code)),))
        text = escpos_to_plain_text(encode_document(doc, P80), columns=48)
        assert text == doc.plain_text()
        assert code in text
