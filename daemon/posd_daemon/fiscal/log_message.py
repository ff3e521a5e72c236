"""TR-03151 log messages: build, parse, sign and verify.

Structure (BSI TR-03151 / TR-03153, see fiscal-de.md "TSE transaction log message")::

    LogMessage ::= SEQUENCE {
        version             INTEGER (2),
        certifiedDataType   OBJECT IDENTIFIER,
        certifiedData       -- context-tagged fields, depending on certifiedDataType
        serialNumber        OCTET STRING,   -- SHA-256(04||X||Y)
        signatureAlgorithm  SEQUENCE { OBJECT IDENTIFIER, parameters OPTIONAL },
        seAuditData         OCTET STRING OPTIONAL,  -- audit logs only
        signatureCounter    INTEGER,
        logTime             INTEGER (unixTime) | UTCTime | GeneralizedTime,
        signatureValue      OCTET STRING    -- plain ECDSA r||s (TR-03111)
    }

certifiedData of a transaction log (id-SE-API-transaction-log, ...7.3.7.1.1)::

    operationType [0] PrintableString, clientId [1] PrintableString,
    processData [2] OCTET STRING, processType [3] PrintableString,
    additionalExternalData [4] OCTET STRING OPTIONAL, transactionNumber [5] INTEGER,
    additionalInternalData [6] OCTET STRING OPTIONAL

certifiedData of a system log (id-SE-API-system-log, ...7.3.7.1.2), TR-03151 (the same
layout is what independent verifiers such as the KONFIDAS TSE test tool expect)::

    operationType [0] PrintableString (e.g. initialize, registerClient, selfTest),
    systemOperationData [1] OCTET STRING (DER of an operation specific SEQUENCE),
    additionalInternalData [2] OCTET STRING OPTIONAL

The signed bytes are the complete TLVs from ``version`` through ``logTime`` exactly as
stored (fiscal-de.md; verified there against 272 real fiskaly/D-Trust log messages).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from posd_daemon.fiscal import der

# certifiedDataType OIDs (TR-03151; fiscal-de.md).
OID_TRANSACTION_LOG = "0.4.0.127.0.7.3.7.1.1"
OID_SYSTEM_LOG = "0.4.0.127.0.7.3.7.1.2"
OID_AUDIT_LOG = "0.4.0.127.0.7.3.7.1.3"

LOG_MESSAGE_VERSION = 2

# ecdsa-plain-SHA* OIDs (BSI TR-03111 §5.2.1 / fiscal-de.md).
SIGNATURE_ALGORITHM_OIDS: dict[str, str] = {
    "ecdsa-plain-SHA224": "0.4.0.127.0.7.1.1.4.1.2",
    "ecdsa-plain-SHA256": "0.4.0.127.0.7.1.1.4.1.3",
    "ecdsa-plain-SHA384": "0.4.0.127.0.7.1.1.4.1.4",
    "ecdsa-plain-SHA512": "0.4.0.127.0.7.1.1.4.1.5",
}
SIGNATURE_ALGORITHM_NAMES: dict[str, str] = {v: k for k, v in SIGNATURE_ALGORITHM_OIDS.items()}

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "ecdsa-plain-SHA224": hashes.SHA224,
    "ecdsa-plain-SHA256": hashes.SHA256,
    "ecdsa-plain-SHA384": hashes.SHA384,
    "ecdsa-plain-SHA512": hashes.SHA512,
}

OPERATION_START = "StartTransaction"
OPERATION_UPDATE = "UpdateTransaction"
OPERATION_FINISH = "FinishTransaction"
TRANSACTION_OPERATIONS = (OPERATION_START, OPERATION_UPDATE, OPERATION_FINISH)


class LogMessageError(ValueError):
    """A log message that does not follow TR-03151."""


class TimeFormat(enum.Enum):
    """logTime encodings (TR-03151) with their DSFinV-K names and export file prefixes."""

    UNIX = "unixTime"
    UTC = "utcTime"
    GENERALIZED = "generalizedTime"

    @property
    def file_prefix(self) -> str:
        # TR-03153 export file names: Unixt_ / Utc_ / Gent_ (fiscal-de.md "TSE export").
        return {"unixTime": "Unixt", "utcTime": "Utc", "generalizedTime": "Gent"}[self.value]


# --------------------------------------------------------------------------- curves


@dataclass(frozen=True, slots=True)
class Curve:
    """An elliptic curve used by certified TSEs (fiscal-de.md: P-256, P-384, brainpool)."""

    name: str
    #: Length of one coordinate and of r and s in bytes.
    size: int
    #: Signature algorithm a TSE uses with this curve (hash as strong as the curve).
    signature_algorithm: str

    def ec_curve(self) -> ec.EllipticCurve:
        return _EC_CURVES[self.name]()

    @property
    def point_length(self) -> int:
        """Length of the uncompressed point 04||X||Y."""
        return 1 + 2 * self.size


_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
}

CURVES: dict[str, Curve] = {
    "P-256": Curve("P-256", 32, "ecdsa-plain-SHA256"),
    "P-384": Curve("P-384", 48, "ecdsa-plain-SHA384"),
    "brainpoolP256r1": Curve("brainpoolP256r1", 32, "ecdsa-plain-SHA256"),
    "brainpoolP384r1": Curve("brainpoolP384r1", 48, "ecdsa-plain-SHA384"),
}


def curve_by_name(name: str) -> Curve:
    try:
        return CURVES[name]
    except KeyError:
        raise ValueError(f"unsupported curve {name!r}; one of {sorted(CURVES)}") from None


def curve_of_key(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> Curve:
    for curve in CURVES.values():
        if key.curve.name == curve.ec_curve().name:
            return curve
    raise ValueError(f"unsupported curve {key.curve.name}")


def public_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """Uncompressed point 04||X||Y."""
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def load_public_point(point: bytes) -> list[tuple[Curve, ec.EllipticCurvePublicKey]]:
    """All supported curves on which ``point`` (04||X||Y) is a valid public key.

    The length tells the curve size; a point almost never lies on both curves of a size,
    so the list normally has one entry. Empty when the point is on none of them.
    """
    found: list[tuple[Curve, ec.EllipticCurvePublicKey]] = []
    for curve in CURVES.values():
        if len(point) != curve.point_length:
            continue
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(curve.ec_curve(), point)
        except ValueError:
            continue
        found.append((curve, key))
    return found


# --------------------------------------------------------------------------- signatures


def hash_for(algorithm: str) -> hashes.HashAlgorithm:
    """Hash of an ``ecdsa-plain-SHA*`` algorithm given by name or OID."""
    name = SIGNATURE_ALGORITHM_NAMES.get(algorithm, algorithm)
    try:
        return _HASHES[name]()
    except KeyError:
        raise ValueError(f"unsupported signature algorithm {algorithm!r}") from None


def plain_to_der(signature: bytes, size: int) -> bytes:
    """Plain r||s (TR-03111 §5.2.1) to the DER ECDSA-Sig-Value most libraries expect."""
    if len(signature) != 2 * size:
        raise ValueError(f"plain signature must be {2 * size} bytes, got {len(signature)}")
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    return encode_dss_signature(r, s)


def der_to_plain(signature: bytes, size: int) -> bytes:
    """DER ECDSA-Sig-Value to plain r||s with fixed-length halves."""
    r, s = decode_dss_signature(signature)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign_plain(key: ec.EllipticCurvePrivateKey, algorithm: str, data: bytes) -> bytes:
    """Signs ``data`` and returns the plain r||s signature."""
    curve = curve_of_key(key)
    der_sig = key.sign(data, ec.ECDSA(hash_for(algorithm)))
    return der_to_plain(der_sig, curve.size)


def verify_plain(
    key: ec.EllipticCurvePublicKey, algorithm: str, data: bytes, signature: bytes
) -> bool:
    """True when ``signature`` (plain r||s) is valid for ``data``; False also for a key on
    a curve no TSE uses (a tampered export may name one)."""
    try:
        curve = curve_of_key(key)
        der_sig = plain_to_der(signature, curve.size)
        key.verify(der_sig, data, ec.ECDSA(hash_for(algorithm)))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_der(
    key: ec.EllipticCurvePublicKey, algorithm: str, data: bytes, signature: bytes
) -> bool:
    """True when ``signature`` (DER ECDSA-Sig-Value) is valid for ``data``."""
    try:
        key.verify(signature, data, ec.ECDSA(hash_for(algorithm)))
    except (InvalidSignature, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- building


@dataclass(frozen=True, slots=True)
class TransactionData:
    """certifiedData of a transaction log message."""

    operation_type: str
    client_id: str
    process_data: bytes
    process_type: str
    transaction_number: int
    additional_external_data: bytes | None = None
    additional_internal_data: bytes | None = None

    def encode(self) -> bytes:
        """The certifiedData TLVs, tags [0]..[6] implicit, in the TR-03151 order."""
        if self.operation_type not in TRANSACTION_OPERATIONS:
            raise LogMessageError(f"bad operationType {self.operation_type!r}")
        if self.transaction_number < 0:
            raise LogMessageError("transactionNumber must not be negative")
        parts = [
            der.encode_printable_string(self.operation_type, tag=der.context_tag(0)),
            der.encode_printable_string(self.client_id, tag=der.context_tag(1)),
            der.encode_octet_string(self.process_data, tag=der.context_tag(2)),
            der.encode_printable_string(self.process_type, tag=der.context_tag(3)),
        ]
        if self.additional_external_data is not None:
            parts.append(
                der.encode_octet_string(self.additional_external_data, tag=der.context_tag(4))
            )
        parts.append(der.encode_integer(self.transaction_number, tag=der.context_tag(5)))
        if self.additional_internal_data is not None:
            parts.append(
                der.encode_octet_string(self.additional_internal_data, tag=der.context_tag(6))
            )
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class SystemData:
    """certifiedData of a system log message."""

    operation_type: str
    system_operation_data: bytes
    additional_internal_data: bytes | None = None

    def encode(self) -> bytes:
        parts = [
            der.encode_printable_string(self.operation_type, tag=der.context_tag(0)),
            der.encode_octet_string(self.system_operation_data, tag=der.context_tag(1)),
        ]
        if self.additional_internal_data is not None:
            parts.append(
                der.encode_octet_string(self.additional_internal_data, tag=der.context_tag(2))
            )
        return b"".join(parts)


# systemOperationData contents for the system operations posd's software TSE logs. Each is
# a SEQUENCE of context-tagged fields starting at [1], as in TR-03151's tables
# (initialize: description [1]; selfTest: componentName [1], result [2] BOOLEAN).


def initialize_operation_data(description: str) -> bytes:
    return der.encode_sequence(der.encode_printable_string(description, tag=der.context_tag(1)))


def register_client_operation_data(client_id: str) -> bytes:
    return der.encode_sequence(der.encode_printable_string(client_id, tag=der.context_tag(1)))


def self_test_operation_data(component: str, result: bool) -> bytes:
    return der.encode_sequence(
        der.encode_printable_string(component, tag=der.context_tag(1)),
        der.encode_boolean(result, tag=der.context_tag(2)),
    )


def encode_log_time(log_time: int | datetime, time_format: TimeFormat = TimeFormat.UNIX) -> bytes:
    """logTime TLV: unixTime INTEGER, UTCTime or GeneralizedTime."""
    if time_format is TimeFormat.UNIX:
        seconds = int(log_time.timestamp()) if isinstance(log_time, datetime) else log_time
        return der.encode_integer(seconds)
    moment = log_time if isinstance(log_time, datetime) else datetime.fromtimestamp(log_time, UTC)
    if time_format is TimeFormat.UTC:
        return der.encode_utc_time(moment)
    return der.encode_generalized_time(moment)


def encode_signed_part(
    *,
    certified_data_type: str,
    certified_data: bytes,
    serial_number: bytes,
    signature_algorithm: str,
    signature_counter: int,
    log_time: int | datetime,
    time_format: TimeFormat = TimeFormat.UNIX,
    se_audit_data: bytes | None = None,
) -> bytes:
    """The bytes a TSE signs: the TLVs from version through logTime, concatenated.

    ``signature_algorithm`` is a name such as ``ecdsa-plain-SHA256``; ``certified_data``
    comes from :meth:`TransactionData.encode` or :meth:`SystemData.encode`.
    """
    try:
        algorithm_oid = SIGNATURE_ALGORITHM_OIDS[signature_algorithm]
    except KeyError:
        raise LogMessageError(f"unsupported signature algorithm {signature_algorithm!r}") from None
    if signature_counter < 0:
        raise LogMessageError("signatureCounter must not be negative")
    parts = [
        der.encode_integer(LOG_MESSAGE_VERSION),
        der.encode_oid(certified_data_type),
        certified_data,
        der.encode_octet_string(serial_number),
        der.encode_sequence(der.encode_oid(algorithm_oid)),
    ]
    if se_audit_data is not None:
        parts.append(der.encode_octet_string(se_audit_data))
    parts.append(der.encode_integer(signature_counter))
    parts.append(encode_log_time(log_time, time_format))
    return b"".join(parts)


def assemble_log_message(signed_part: bytes, signature: bytes) -> bytes:
    """The complete log message: SEQUENCE { signed part, signatureValue }."""
    return der.encode_sequence(signed_part, der.encode_octet_string(signature))


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class LogMessage:
    """A parsed log message. Every field keeps its stored bytes in :attr:`signed_bytes`."""

    raw: bytes
    version: int
    certified_data_type: str
    #: The context-tagged certifiedData elements as stored.
    certified_data: tuple[der.Tlv, ...]
    serial_number: bytes
    signature_algorithm_oid: str
    #: ``ecdsa-plain-SHA256`` etc., or None for an unknown OID.
    signature_algorithm: str | None
    se_audit_data: bytes | None
    signature_counter: int
    log_time: datetime
    time_format: TimeFormat
    #: logTime as written in export file names (unix seconds or the time string).
    log_time_text: str
    signature_value: bytes
    #: Exactly the stored bytes of version .. logTime: what the signature covers.
    signed_bytes: bytes
    transaction: TransactionData | None
    system: SystemData | None

    @property
    def kind(self) -> str:
        """``Tra``, ``Sys`` or ``Aud`` as in export file names, ``?`` otherwise."""
        return {OID_TRANSACTION_LOG: "Tra", OID_SYSTEM_LOG: "Sys", OID_AUDIT_LOG: "Aud"}.get(
            self.certified_data_type, "?"
        )

    def verify(self, key: ec.EllipticCurvePublicKey) -> bool:
        """Checks signatureValue (plain r||s) over :attr:`signed_bytes`."""
        if self.signature_algorithm is None:
            return False
        return verify_plain(key, self.signature_algorithm, self.signed_bytes, self.signature_value)


def _parse_transaction(fields: Sequence[der.Tlv]) -> TransactionData:
    by_number: dict[int, der.Tlv] = {}
    last = -1
    for tlv in fields:
        if tlv.tag_class != der.CLASS_CONTEXT or tlv.number > 6:
            raise LogMessageError(f"unexpected element 0x{tlv.tag:02x} in certifiedData")
        if tlv.number <= last:
            raise LogMessageError(f"certifiedData field [{tlv.number}] out of order")
        last = tlv.number
        by_number[tlv.number] = tlv
    missing = [n for n in (0, 1, 2, 3, 5) if n not in by_number]
    if missing:
        raise LogMessageError(f"transaction log lacks certifiedData field(s) {missing}")
    operation = der.decode_printable_string(by_number[0], tag=der.context_tag(0))
    if operation not in TRANSACTION_OPERATIONS:
        raise LogMessageError(f"bad operationType {operation!r}")
    # processData may be a constructed (indefinite-length BER) string: allow tag 0xa2.
    process_tlv = by_number[2]
    if process_tlv.number != 2 or process_tlv.tag_class != der.CLASS_CONTEXT:
        raise LogMessageError("bad processData")
    external = by_number.get(4)
    internal = by_number.get(6)
    return TransactionData(
        operation_type=operation,
        client_id=der.decode_printable_string(by_number[1], tag=der.context_tag(1)),
        process_data=process_tlv.octets(),
        process_type=der.decode_printable_string(by_number[3], tag=der.context_tag(3)),
        transaction_number=der.decode_integer(by_number[5], tag=der.context_tag(5)),
        additional_external_data=None if external is None else external.octets(),
        additional_internal_data=None if internal is None else internal.octets(),
    )


def _parse_system(fields: Sequence[der.Tlv]) -> SystemData:
    numbers = [t.number if t.tag_class == der.CLASS_CONTEXT else -1 for t in fields]
    if numbers not in ([0, 1], [0, 1, 2]):
        raise LogMessageError(f"system log certifiedData tags {numbers}, expected [0],[1][,[2]]")
    return SystemData(
        operation_type=der.decode_printable_string(fields[0], tag=der.context_tag(0)),
        system_operation_data=fields[1].octets(),
        additional_internal_data=fields[2].octets() if len(fields) == 3 else None,
    )


def _parse_log_time(tlv: der.Tlv) -> tuple[datetime, TimeFormat, str]:
    if tlv.tag == der.TAG_INTEGER:
        seconds = der.decode_integer(tlv)
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise LogMessageError(f"logTime {_number(seconds)} out of range") from None
        return moment, TimeFormat.UNIX, str(seconds)
    if tlv.tag == der.TAG_UTC_TIME:
        return der.decode_utc_time(tlv), TimeFormat.UTC, tlv.octets().decode("ascii")
    if tlv.tag == der.TAG_GENERALIZED_TIME:
        return (
            der.decode_generalized_time(tlv),
            TimeFormat.GENERALIZED,
            tlv.octets().decode("ascii"),
        )
    raise LogMessageError(f"logTime has unexpected tag 0x{tlv.tag:02x}")


#: Most elements a log message SEQUENCE may hold: version, certifiedDataType, the
#: certifiedData fields (seven for a transaction log), serialNumber, signatureAlgorithm,
#: seAuditData, signatureCounter, logTime, signatureValue are 15; the limit leaves room
#: for audit logs and stops a hostile message of millions of tiny elements early.
_MAX_LOG_ELEMENTS = 64


def _number(value: int) -> str:
    """An INTEGER for an error message: Python refuses to print one of more than 4300
    digits (ValueError "Exceeds the limit"), which named the interpreter, not the field."""
    return str(value) if value.bit_length() <= 64 else f"(a {value.bit_length()}-bit number)"


def parse_log_message(raw: bytes) -> LogMessage:
    """Parses one log message (DER; indefinite-length BER inside is accepted).

    Raises :class:`LogMessageError` (a ``ValueError``) for anything malformed.
    """
    try:
        return _parse(bytes(raw))
    except der.DerError as exc:
        raise LogMessageError(str(exc)) from None


def _parse(raw: bytes) -> LogMessage:
    outer = der.decode(raw, ber=True)
    if outer.tag != der.TAG_SEQUENCE:
        raise LogMessageError("log message is not a SEQUENCE")
    items = outer.children(limit=_MAX_LOG_ELEMENTS)
    if len(items) < 7:
        raise LogMessageError(f"log message has only {len(items)} elements")
    version = der.decode_integer(items[0])
    if version != LOG_MESSAGE_VERSION:
        raise LogMessageError(f"version {_number(version)}, expected {LOG_MESSAGE_VERSION}")
    data_type = der.decode_oid(items[1])
    pos = 2
    certified: list[der.Tlv] = []
    while pos < len(items) and items[pos].tag_class == der.CLASS_CONTEXT:
        certified.append(items[pos])
        pos += 1
    rest = items[pos:]
    if len(rest) not in (5, 6):
        raise LogMessageError("unexpected elements after certifiedData")
    serial = der.decode_octet_string(rest[0])
    if rest[1].tag != der.TAG_SEQUENCE:
        raise LogMessageError("signatureAlgorithm is not a SEQUENCE")
    algorithm_items = rest[1].children(limit=3)
    if not 1 <= len(algorithm_items) <= 2:
        raise LogMessageError("signatureAlgorithm must hold an OID and optional parameters")
    algorithm_oid = der.decode_oid(algorithm_items[0])
    audit = der.decode_octet_string(rest[2]) if len(rest) == 6 else None
    counter = der.decode_integer(rest[-3])
    if counter < 0:
        raise LogMessageError("negative signatureCounter")
    log_time, time_format, log_time_text = _parse_log_time(rest[-2])
    signature = der.decode_octet_string(rest[-1])
    transaction: TransactionData | None = None
    system: SystemData | None = None
    if data_type == OID_TRANSACTION_LOG:
        transaction = _parse_transaction(certified)
    elif data_type == OID_SYSTEM_LOG:
        system = _parse_system(certified)
    # The signed bytes are the stored TLVs up to (not including) signatureValue; the
    # children are contiguous, so this is a slice of the stored contents.
    signed = b"".join(item.raw for item in items[:-1])
    return LogMessage(
        raw=raw,
        version=version,
        certified_data_type=data_type,
        certified_data=tuple(certified),
        serial_number=serial,
        signature_algorithm_oid=algorithm_oid,
        signature_algorithm=SIGNATURE_ALGORITHM_NAMES.get(algorithm_oid),
        se_audit_data=audit,
        signature_counter=counter,
        log_time=log_time,
        time_format=time_format,
        log_time_text=log_time_text,
        signature_value=signature,
        signed_bytes=signed,
        transaction=transaction,
        system=system,
    )
