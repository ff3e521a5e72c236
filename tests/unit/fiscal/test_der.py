"""DER encoder/decoder: X.690 vectors, strictness, BER leniency, raw bytes kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posd_daemon.fiscal import der


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "020100"),
        (1, "020101"),
        (127, "02017f"),
        (128, "02020080"),
        (256, "02020100"),
        (-1, "0201ff"),
        (-128, "020180"),
        (-129, "0202ff7f"),
        (1562784064, "02045d263140"),
    ],
)
def test_integer_vectors(value: int, encoded: str) -> None:
    assert der.encode_integer(value).hex() == encoded
    assert der.decode_integer(der.decode(bytes.fromhex(encoded))) == value


@given(st.integers(min_value=-(2**300), max_value=2**300))
def test_integer_roundtrip(value: int) -> None:
    assert der.decode_integer(der.decode(der.encode_integer(value))) == value


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8180"), (255, "81ff"), (256, "820100"), (65536, "83010000")],
)
def test_length_shortest_form(length: int, encoded: str) -> None:
    assert der.encode_length(length).hex() == encoded


@pytest.mark.parametrize(
    ("oid", "encoded"),
    [
        ("1.2.840.10045.2.1", "06072a8648ce3d0201"),  # id-ecPublicKey (RFC 5480)
        ("0.4.0.127.0.7.3.7.1.1", "060904007f000703070101"),
        ("0.4.0.127.0.7.1.1.4.1.3", "060a04007f00070101040103"),
        ("2.999.3", "0603883703"),
    ],
)
def test_oid_vectors(oid: str, encoded: str) -> None:
    assert der.encode_oid(oid).hex() == encoded
    assert der.decode_oid(der.decode(bytes.fromhex(encoded))) == oid


def test_implicit_context_tags() -> None:
    assert der.encode_printable_string("x", tag=der.context_tag(0)).hex() == "800178"
    assert der.encode_octet_string(b"\x01", tag=der.context_tag(2)).hex() == "820101"
    assert der.encode_integer(18, tag=der.context_tag(5)).hex() == "850112"
    assert der.context_tag(6, constructed=True) == 0xA6
    with pytest.raises(der.DerError):
        der.context_tag(31)


def test_printable_string_alphabet() -> None:
    assert der.encode_printable_string("Kassenbeleg-V1").hex() == "130e" + b"Kassenbeleg-V1".hex()
    for bad in ("a_b", "ä", "a@b", "a;b", "a^b"):
        with pytest.raises(der.DerError):
            der.encode_printable_string(bad)


def test_sequence_children_keep_raw_bytes() -> None:
    inner = [der.encode_integer(2), der.encode_oid("1.2.3"), der.encode_octet_string(b"\x00" * 200)]
    seq = der.decode(der.encode_sequence(*inner))
    children = seq.children()
    assert [c.raw for c in children] == inner
    assert b"".join(c.raw for c in children) == seq.content
    assert children[2].header_length == 3  # 04 81 c8
    assert children[2].octets() == b"\x00" * 200


@pytest.mark.parametrize(
    ("hexdata", "why"),
    [
        ("02810100", "non-minimal length"),
        ("02020001", "non-minimal integer"),
        ("0202ff80", "non-minimal negative integer"),
        ("0200", "empty integer"),
        ("30800201000000", "indefinite length"),
        ("020100ff", "trailing byte"),
        ("02050102", "truncated"),
        ("1f200100", "high tag number"),
        ("", "empty"),
    ],
)
def test_strict_der_rejects(hexdata: str, why: str) -> None:
    with pytest.raises(der.DerError):
        der.decode_integer(der.decode(bytes.fromhex(hexdata)))


def test_ber_indefinite_constructed_string() -> None:
    # [2] constructed, indefinite length, two OCTET STRING segments (X.690 §8.7.3).
    raw = bytes.fromhex("a280" + "0403616263" + "04026465" + "0000")
    with pytest.raises(der.DerError):
        der.decode(raw)
    tlv = der.decode(raw, ber=True)
    assert tlv.indefinite
    assert tlv.raw == raw  # kept exactly as stored, end-of-contents included
    assert tlv.is_context(2)
    assert tlv.octets() == b"abcde"


def test_ber_nested_in_sequence_keeps_bytes() -> None:
    indefinite = bytes.fromhex("a280" + "04026869" + "0000")
    seq_raw = der.encode_sequence(der.encode_integer(2), indefinite, der.encode_integer(7))
    seq = der.decode(seq_raw, ber=True)
    children = seq.children()
    assert children[1].raw == indefinite
    assert children[1].octets() == b"hi"
    assert der.decode_integer(children[2]) == 7


def test_ber_missing_end_of_contents() -> None:
    with pytest.raises(der.DerError):
        der.decode(bytes.fromhex("a28004026869"), ber=True)


def test_times() -> None:
    moment = datetime(2019, 7, 10, 18, 41, 4, tzinfo=UTC)
    utc = der.encode_utc_time(moment)
    assert utc == b"\x17\x0d190710184104Z"
    assert der.decode_utc_time(der.decode(utc)) == moment
    gen = der.encode_generalized_time(moment.replace(microsecond=120000))
    assert gen == b"\x18\x1220190710184104.12Z"
    assert der.decode_generalized_time(der.decode(gen)) == moment.replace(microsecond=120000)
    with pytest.raises(der.DerError):
        der.encode_utc_time(datetime(2019, 7, 10))  # naive
    with pytest.raises(der.DerError):
        der.decode_generalized_time(der.decode(b"\x18\x0f" + b"x" * 15))


def test_boolean() -> None:
    assert der.encode_boolean(True).hex() == "0101ff"
    assert der.decode_boolean(der.decode(bytes.fromhex("010100"))) is False
    with pytest.raises(der.DerError):
        der.decode_boolean(der.decode(bytes.fromhex("010101")))
