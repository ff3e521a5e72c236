"""The DSFinV-K receipt QR code: build, parse and verify it independently.

Format (DSFinV-K annex, fiscal-de.md "Receipt QR code")::

    V0;<clientId>;<processType>;<processData>;<transactionNumber>;
    <signatureCounter of the finish>;<start time>;<log time of the finish>;
    <signature algorithm>;<time format>;<signature base64>;<public key base64>

Times are ISO-8601 UTC with milliseconds (``2019-07-10T18:41:04.000Z``).

:func:`verify_qr` rebuilds the signed bytes of the FinishTransaction log message from the
QR fields alone (TR-03151 layout, see :mod:`posd_daemon.fiscal.log_message`) and checks
the signature against the public key in the QR code. That only works when the TSE wrote
no additionalExternalData/additionalInternalData (they are not in the QR code).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from posd_daemon.fiscal import log_message as lm
from posd_daemon.services.tse_port import TseInfo, TseLogResult, TseOperation

QR_VERSION = "V0"
_FIELDS = 12
_TIME_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z")


class QrError(ValueError):
    """A QR string that is not a DSFinV-K V0 receipt code."""


def format_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds: ``2019-07-10T18:41:04.000Z``."""
    if moment.tzinfo is None:
        raise ValueError("time must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise QrError(f"time {text!r} is not ISO-8601 UTC (YYYY-MM-DDTHH:MM:SS.fffZ)")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int(((match.group(7) or "") + "000000")[:6])
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise QrError(f"bad time {text!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class QrCode:
    """The fields of a receipt QR code."""

    client_id: str
    process_type: str
    process_data: str
    transaction_number: int
    signature_counter: int
    start_time: datetime
    log_time: datetime
    signature_algorithm: str
    time_format: str
    signature: bytes
    public_key: bytes
    version: str = QR_VERSION

    def to_string(self) -> str:
        return ";".join(
            [
                self.version,
                self.client_id,
                self.process_type,
                self.process_data,
                str(self.transaction_number),
                str(self.signature_counter),
                format_time(self.start_time),
                format_time(self.log_time),
                self.signature_algorithm,
                self.time_format,
                base64.b64encode(self.signature).decode("ascii"),
                base64.b64encode(self.public_key).decode("ascii"),
            ]
        )


def qr_code(result: TseLogResult, info: TseInfo) -> QrCode:
    """QR fields of a finished transaction."""
    if result.operation is not TseOperation.FINISH:
        raise ValueError("the receipt QR code is made from the FinishTransaction result")
    return QrCode(
        client_id=result.client_id,
        process_type=result.process_type,
        process_data=result.process_data.decode("utf-8"),
        transaction_number=result.transaction_number,
        signature_counter=result.signature_counter,
        start_time=result.start_time,
        log_time=result.log_time,
        signature_algorithm=info.signature_algorithm,
        time_format=info.time_format,
        signature=result.signature,
        public_key=info.public_key,
    )


def build_qr(result: TseLogResult, info: TseInfo) -> str:
    """The ``V0;...`` string for the receipt of a finished transaction."""
    return qr_code(result, info).to_string()


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise QrError(f"{what} is not base64") from None


def _int(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise QrError(f"{what} {text!r} is not a non-negative integer")
    return int(text)


def parse_qr(text: str) -> QrCode:
    """Parses a ``V0;...`` string. processData may itself contain ';'."""
    parts = text.split(";")
    if len(parts) < _FIELDS:
        raise QrError(f"{len(parts)} fields, expected {_FIELDS}")
    if parts[0] != QR_VERSION:
        raise QrError(f"unknown QR version {parts[0]!r}")
    extra = len(parts) - _FIELDS
    process_data = ";".join(parts[3 : 4 + extra])
    tail = parts[4 + extra :]
    return QrCode(
        client_id=parts[1],
        process_type=parts[2],
        process_data=process_data,
        transaction_number=_int(tail[0], "transaction number"),
        signature_counter=_int(tail[1], "signature counter"),
        start_time=parse_time(tail[2]),
        log_time=parse_time(tail[3]),
        signature_algorithm=tail[4],
        time_format=tail[5],
        signature=_b64(tail[6], "signature"),
        public_key=_b64(tail[7], "public key"),
    )


def signed_bytes(code: QrCode) -> bytes:
    """The bytes the TSE signed for the FinishTransaction behind ``code``."""
    try:
        time_format = lm.TimeFormat(code.time_format)
    except ValueError:
        raise QrError(f"unknown time format {code.time_format!r}") from None
    log_time: int | datetime = code.log_time
    if time_format is lm.TimeFormat.UNIX:
        log_time = int(code.log_time.timestamp())
    elif time_format is lm.TimeFormat.UTC:
        log_time = code.log_time.replace(microsecond=0)
    data = lm.TransactionData(
        operation_type=lm.OPERATION_FINISH,
        client_id=code.client_id,
        process_data=code.process_data.encode("utf-8"),
        process_type=code.process_type,
        transaction_number=code.transaction_number,
    )
    try:
        return lm.encode_signed_part(
            certified_data_type=lm.OID_TRANSACTION_LOG,
            certified_data=data.encode(),
            serial_number=hashlib.sha256(code.public_key).digest(),
            signature_algorithm=code.signature_algorithm,
            signature_counter=code.signature_counter,
            log_time=log_time,
            time_format=time_format,
        )
    except ValueError as exc:  # DerError, LogMessageError
        raise QrError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class QrVerification:
    """Outcome of :func:`verify_qr`."""

    valid: bool
    #: Curve the public key was found on, e.g. ``brainpoolP256r1``.
    curve: str | None = None
    #: ``plain`` (r||s, as TR-03151 prescribes) or ``der`` (an ECDSA-Sig-Value).
    signature_encoding: str | None = None
    reason: str = ""


def verify_qr(qr: str | QrCode) -> QrVerification:
    """Verifies the signature of a receipt QR code against the public key it carries.

    Tries every supported curve the key is a valid point on (P-256, P-384,
    brainpoolP256r1, brainpoolP384r1) and both signature encodings: plain r||s and DER.
    """
    try:
        code = parse_qr(qr) if isinstance(qr, str) else qr
        data = signed_bytes(code)
    except QrError as exc:
        return QrVerification(False, reason=str(exc))
    if code.signature_algorithm not in lm.SIGNATURE_ALGORITHM_OIDS:
        return QrVerification(False, reason=f"unknown algorithm {code.signature_algorithm!r}")
    keys = lm.load_public_point(code.public_key)
    if not keys:
        return QrVerification(False, reason="public key is not a point on a supported curve")
    for curve, key in keys:
        if len(code.signature) == 2 * curve.size and lm.verify_plain(
            key, code.signature_algorithm, data, code.signature
        ):
            return QrVerification(True, curve.name, "plain")
        if _is_der_signature(code.signature) and lm.verify_der(
            key, code.signature_algorithm, data, code.signature
        ):
            return QrVerification(True, curve.name, "der")
    return QrVerification(False, reason="signature does not match the QR code data")


def _is_der_signature(signature: bytes) -> bool:
    try:
        decode_dss_signature(signature)
    except ValueError:
        return False
    return True
