"""TR-03151 log messages: layout, signed bytes exactly as stored, BER processData."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from posd_daemon.fiscal import der
from posd_daemon.fiscal import log_message as lm

KEY = ec.generate_private_key(ec.SECP256R1())
POINT = lm.public_point(KEY.public_key())
SERIAL = hashlib.sha256(POINT).digest()


def _message(certified: bytes, counter: int = 5) -> bytes:
    signed = lm.encode_signed_part(
        certified_data_type=lm.OID_TRANSACTION_LOG,
        certified_data=certified,
        serial_number=SERIAL,
        signature_algorithm="ecdsa-plain-SHA256",
        signature_counter=counter,
        log_time=1562784064,
    )
    return lm.assemble_log_message(signed, lm.sign_plain(KEY, "ecdsa-plain-SHA256", signed))


def test_transaction_log_layout() -> None:
    data = lm.TransactionData(lm.OPERATION_UPDATE, "K1", b"x", "Kassenbeleg-V1", 3)
    raw = _message(data.encode())
    items = der.decode(raw).children()
    assert [i.tag for i in items] == [
        0x02, 0x06, 0x80, 0x81, 0x82, 0x83, 0x85, 0x04, 0x30, 0x02, 0x02, 0x04
    ]  # fmt: skip
    parsed = lm.parse_log_message(raw)
    assert parsed.transaction == data
    assert parsed.signed_bytes == b"".join(i.raw for i in items[:-1])
    assert parsed.verify(KEY.public_key())
    assert len(parsed.signature_value) == 64
    assert parsed.log_time == datetime(2019, 7, 10, 18, 41, 4, tzinfo=UTC)
    assert parsed.log_time_text == "1562784064"
    assert parsed.kind == "Tra"


def test_optional_fields_in_order() -> None:
    data = lm.TransactionData(lm.OPERATION_START, "K1", b"", "Bestellung-V1", 1, b"ext", b"int")
    items = der.decode(_message(data.encode())).children()
    assert [i.tag for i in items[2:9]] == [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86]
    assert lm.parse_log_message(_message(data.encode())).transaction == data


def test_indefinite_length_process_data_verifies_as_stored() -> None:
    # A vendor stores processData as indefinite-length BER (fiscal-de.md): the signature
    # covers those bytes, so re-encoding them as DER would break it.
    certified = (
        der.encode_printable_string(lm.OPERATION_FINISH, tag=0x80)
        + der.encode_printable_string("K1", tag=0x81)
        + bytes.fromhex("a280") + der.encode_octet_string(b"Beleg^") + der.encode_octet_string(
            b"1.00_0.00_0.00_0.00_0.00^1.00:Bar"
        ) + b"\x00\x00"
        + der.encode_printable_string("Kassenbeleg-V1", tag=0x83)
        + der.encode_integer(9, tag=0x85)
    )  # fmt: skip
    raw = _message(certified)
    parsed = lm.parse_log_message(raw)
    assert parsed.transaction is not None
    assert parsed.transaction.process_data == b"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar"
    assert parsed.verify(KEY.public_key())
    reencoded = lm.encode_signed_part(
        certified_data_type=lm.OID_TRANSACTION_LOG,
        certified_data=parsed.transaction.encode(),
        serial_number=SERIAL,
        signature_algorithm="ecdsa-plain-SHA256",
        signature_counter=5,
        log_time=1562784064,
    )
    assert reencoded != parsed.signed_bytes
    assert not lm.verify_plain(
        KEY.public_key(), "ecdsa-plain-SHA256", reencoded, parsed.signature_value
    )


def test_system_log() -> None:
    certified = lm.SystemData("registerClient", lm.register_client_operation_data("K1")).encode()
    signed = lm.encode_signed_part(
        certified_data_type=lm.OID_SYSTEM_LOG,
        certified_data=certified,
        serial_number=SERIAL,
        signature_algorithm="ecdsa-plain-SHA256",
        signature_counter=2,
        log_time=datetime(2024, 1, 1, tzinfo=UTC),
        time_format=lm.TimeFormat.GENERALIZED,
    )
    raw = lm.assemble_log_message(signed, lm.sign_plain(KEY, "ecdsa-plain-SHA256", signed))
    parsed = lm.parse_log_message(raw)
    assert parsed.kind == "Sys"
    assert parsed.system is not None
    assert parsed.system.operation_type == "registerClient"
    inner = der.decode(parsed.system.system_operation_data).children()
    assert der.decode_printable_string(inner[0], tag=0x81) == "K1"
    assert parsed.time_format is lm.TimeFormat.GENERALIZED
    assert parsed.log_time_text == "20240101000000Z"
    assert parsed.verify(KEY.public_key())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw[:-1],  # truncated
        lambda raw: raw + b"\x00",  # trailing byte
        lambda raw: raw.replace(b"\x02\x01\x02", b"\x02\x01\x03", 1),  # version 3
        lambda raw: raw.replace(b"\x80\x11Fini", b"\x80\x11Xini", 1),  # bad operationType
    ],
)
def test_malformed_rejected(mutate: object) -> None:
    data = lm.TransactionData(lm.OPERATION_FINISH, "K1", b"x", "Kassenbeleg-V1", 3)
    raw = _message(data.encode())
    assert callable(mutate)
    with pytest.raises(lm.LogMessageError):
        lm.parse_log_message(mutate(raw))


def test_plain_der_conversion() -> None:
    plain = bytes(range(1, 65))
    assert lm.der_to_plain(lm.plain_to_der(plain, 32), 32) == plain
    with pytest.raises(ValueError):
        lm.plain_to_der(plain, 48)
