"""Receipt QR code: the public fiskaly vector verifies, any change breaks it."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from posd_daemon.fiscal import log_message as lm
from posd_daemon.fiscal import qr
from posd_daemon.services.tse_port import TseInfo, TseLogResult, TseOperation, TseState

# Example of fiskaly's SIGN DE API documentation (fiscal-de.md, "Receipt QR code"):
# brainpoolP256r1, SHA-256, signature given DER-encoded (not plain r||s).
FISKALY_VECTOR = (
    "V0;955002-00;Kassenbeleg-V1;Beleg^0.00_2.55_0.00_0.00_0.00^2.55:Bar;18;112;"
    "2019-07-10T18:41:04.000Z;2019-07-10T18:41:04.000Z;ecdsa-plain-SHA256;unixTime;"
    "MEQCIAy4P9k+7x9saDO0uRZ4El8QwN+qTgYiv1DIaJIMWRiuAiAt+saFDGjK2Yi5Cxgy7PprXQ5O0seRgx4ltdpW9REvwA==;"
    "BHhWOeisRpPBTGQ1W4VUH95TXx2GARf8e2NYZXJoInjtGqnxJ8sZ3CQpYgjI+LYEmW5A37sLWHsyU7nSJUBemyU="
)


def test_public_vector_verifies() -> None:
    result = qr.verify_qr(FISKALY_VECTOR)
    assert result == qr.QrVerification(True, "brainpoolP256r1", "der")


def test_public_vector_in_plain_form_verifies() -> None:
    code = qr.parse_qr(FISKALY_VECTOR)
    plain = lm.der_to_plain(code.signature, 32)
    converted = dataclasses.replace(code, signature=plain)
    assert qr.verify_qr(converted.to_string()) == qr.QrVerification(
        True, "brainpoolP256r1", "plain"
    )


def test_parse_public_vector() -> None:
    code = qr.parse_qr(FISKALY_VECTOR)
    assert code.client_id == "955002-00"
    assert code.process_type == "Kassenbeleg-V1"
    assert code.process_data == "Beleg^0.00_2.55_0.00_0.00_0.00^2.55:Bar"
    assert code.transaction_number == 18
    assert code.signature_counter == 112
    assert code.log_time == datetime(2019, 7, 10, 18, 41, 4, tzinfo=UTC)
    assert len(code.public_key) == 65
    assert code.to_string() == FISKALY_VECTOR


def _change(text: str, index: int) -> str:
    char = text[index]
    replacement = "1" if char != "1" else "2"
    if char.isalpha():
        replacement = "B" if char != "B" else "C"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize(
    "needle",
    [
        "955002-00",  # clientId
        "Kassenbeleg",  # processType
        "2.55:Bar",  # processData
        ";18;",  # transaction number
        ";112;",  # signature counter
        "41:04.000Z;ecdsa",  # log time
        "MEQCIAy4",  # signature
        "BHhWOeis",  # public key
    ],
)
def test_one_character_change_fails(needle: str) -> None:
    index = FISKALY_VECTOR.index(needle) + (1 if needle.startswith(";") else 0)
    index += 2 if needle in ("MEQCIAy4", "BHhWOeis") else 0
    changed = _change(FISKALY_VECTOR, index)
    assert changed != FISKALY_VECTOR
    assert not qr.verify_qr(changed).valid


def test_every_single_character_change_in_signed_fields_fails() -> None:
    # Every position of clientId .. signature counter and of the finish log time.
    start_field = FISKALY_VECTOR.index(";2019") + 1
    start_end = FISKALY_VECTOR.index(";", start_field)
    end = FISKALY_VECTOR.index(";ecdsa")
    millis = range(end - 4, end - 1)  # unixTime has whole seconds: ".000" is not signed
    for index in [*range(3, start_field), *range(start_end + 1, end)]:
        if FISKALY_VECTOR[index] == ";" or index in millis:
            continue
        assert not qr.verify_qr(_change(FISKALY_VECTOR, index)).valid, index


def test_start_time_is_not_covered_by_the_finish_signature() -> None:
    # The start time belongs to the StartTransaction log message: the finish signature in
    # the QR code cannot vouch for it (a known limit of the DSFinV-K QR code).
    start_field = FISKALY_VECTOR.index(";2019") + 1
    assert qr.verify_qr(_change(FISKALY_VECTOR, start_field)).valid


def test_garbage_is_reported_not_raised() -> None:
    assert qr.verify_qr("V0;a;b").reason.startswith("3 fields")
    assert not qr.verify_qr(FISKALY_VECTOR.replace("unixTime", "fooTime")).valid
    assert not qr.verify_qr(FISKALY_VECTOR.replace("ecdsa-plain-SHA256", "rsa")).valid
    with pytest.raises(qr.QrError):
        qr.parse_qr(FISKALY_VECTOR.replace("V0;", "V1;"))


def test_time_format() -> None:
    moment = datetime(2019, 7, 10, 18, 41, 4, 123999, tzinfo=UTC)
    assert qr.format_time(moment) == "2019-07-10T18:41:04.123Z"
    assert qr.parse_time("2019-07-10T18:41:04.123Z") == moment.replace(microsecond=123000)
    with pytest.raises(ValueError):
        qr.format_time(datetime(2019, 7, 10))
    with pytest.raises(qr.QrError):
        qr.parse_time("2019-07-10 18:41:04")


@pytest.mark.parametrize("curve_name", sorted(lm.CURVES))
def test_build_and_verify_own_signature(curve_name: str) -> None:
    curve = lm.CURVES[curve_name]
    key = ec.generate_private_key(curve.ec_curve())
    point = lm.public_point(key.public_key())
    log_time = datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)
    process = b"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar;with;semicolons"
    signed = lm.encode_signed_part(
        certified_data_type=lm.OID_TRANSACTION_LOG,
        certified_data=lm.TransactionData(
            lm.OPERATION_FINISH, "K-1", process, "Kassenbeleg-V1", 7
        ).encode(),
        serial_number=hashlib.sha256(point).digest(),
        signature_algorithm=curve.signature_algorithm,
        signature_counter=42,
        log_time=int(log_time.timestamp()),
    )
    signature = lm.sign_plain(key, curve.signature_algorithm, signed)
    assert len(signature) == 2 * curve.size
    result = TseLogResult(
        operation=TseOperation.FINISH,
        client_id="K-1",
        transaction_number=7,
        signature_counter=42,
        log_time=log_time,
        process_type="Kassenbeleg-V1",
        process_data=process,
        signature=signature,
        start_time=datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC),
    )
    info = TseInfo(
        manufacturer="test",
        model="test",
        serial_number=hashlib.sha256(point).digest(),
        public_key=point,
        certificates=(),
        signature_algorithm=curve.signature_algorithm,
        time_format="unixTime",
        signature_counter=42,
        transaction_counter=7,
        state=TseState.INITIALIZED,
        certified=False,
    )
    text = qr.build_qr(result, info)
    assert text.startswith(
        "V0;K-1;Kassenbeleg-V1;Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar;with;semicolons;7;42;"
        "2024-03-01T12:00:00.000Z;2024-03-01T12:00:05.000Z;"
    )
    assert base64.b64encode(signature).decode() in text
    assert qr.parse_qr(text).process_data.endswith(";with;semicolons")
    assert qr.verify_qr(text) == qr.QrVerification(True, curve_name, "plain")
    assert not qr.verify_qr(text.replace(";42;", ";43;")).valid
    start = dataclasses.replace(result, operation=TseOperation.START)
    with pytest.raises(ValueError, match="Finish"):
        qr.build_qr(start, info)
