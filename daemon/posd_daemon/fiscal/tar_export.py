"""TSE export as a TAR with the TR-03153 file names (fiscal-de.md "TSE export (TAR)").

- log messages: ``Unixt_<logtime>_Sig-<counter>_Log-Tra_No-<txnr>_<Start|Update|Finish>
  _Client-<clientId>.log`` (``Utc_``/``Gent_`` for the other time formats), system logs
  ``..._Log-Sys_<operationType>.log``, audit logs ``..._Log-Aud.log``;
- certificates ``<sha256-hex of the uncompressed public key>_X509.der``;
- ``info.csv``: ``"description:","…","manufacturer:","…","version:","…"``.

The output is deterministic: log messages in ascending signature counter order (the
input must already be in that order), then the certificates in the given order, then
``info.csv``; fixed owner, mode and modification times taken from the contents.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from posd_daemon.fiscal import log_message as lm

_OPERATION_NAMES = {
    lm.OPERATION_START: "Start",
    lm.OPERATION_UPDATE: "Update",
    lm.OPERATION_FINISH: "Finish",
}


@dataclass(frozen=True, slots=True)
class ExportInfo:
    """The three values of ``info.csv``."""

    description: str
    manufacturer: str
    version: str


def log_file_name(message: lm.LogMessage) -> str:
    """TR-03153 file name of a parsed log message."""
    head = (
        f"{message.time_format.file_prefix}_{message.log_time_text}"
        f"_Sig-{message.signature_counter}_Log-{message.kind}"
    )
    if message.transaction is not None:
        tx = message.transaction
        if "/" in tx.client_id:
            raise ValueError(f"clientId {tx.client_id!r} cannot be part of a file name")
        return (
            f"{head}_No-{tx.transaction_number}_{_OPERATION_NAMES[tx.operation_type]}"
            f"_Client-{tx.client_id}.log"
        )
    if message.system is not None:
        if "/" in message.system.operation_type:
            raise ValueError("operationType cannot be part of a file name")
        return f"{head}_{message.system.operation_type}.log"
    if message.kind == "Aud":
        return f"{head}.log"
    raise ValueError(f"unknown certifiedDataType {message.certified_data_type}")


def public_key_hash(certificate_der: bytes) -> str:
    """SHA-256 (hex) of the certificate's uncompressed EC public key point."""
    key = x509.load_der_x509_certificate(certificate_der).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("certificate does not hold an EC public key")
    return hashlib.sha256(lm.public_point(key)).hexdigest()


def certificate_file_name(certificate_der: bytes) -> str:
    return f"{public_key_hash(certificate_der)}_X509.der"


def _csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def info_csv(info: ExportInfo) -> bytes:
    fields = [
        "description:",
        info.description,
        "manufacturer:",
        info.manufacturer,
        "version:",
        info.version,
    ]
    return (",".join(_csv_field(f) for f in fields) + "\r\n").encode("utf-8")


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mtime = max(mtime, 0)
    member.mode = 0o644
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    tar.addfile(member, io.BytesIO(data))


def write_export(
    out: BinaryIO,
    log_messages: Iterable[bytes],
    certificates: Sequence[bytes],
    info: ExportInfo,
) -> int:
    """Writes the TAR to ``out`` (which may be a non-seekable stream).

    ``log_messages`` are the stored DER log messages in ascending signature counter order;
    ``certificates`` the DER certificates (the TSE's own first, then its chain).
    Returns the number of log messages written.
    """
    count = 0
    last_counter = -1
    last_time = 0
    names: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for raw in log_messages:
            message = lm.parse_log_message(raw)
            if message.signature_counter <= last_counter:
                raise ValueError("log messages must be given in ascending signature counter order")
            last_counter = message.signature_counter
            last_time = int(message.log_time.timestamp())
            _add(tar, log_file_name(message), raw, last_time)
            count += 1
        for cert in certificates:
            name = certificate_file_name(cert)
            if name in names:
                continue
            names.add(name)
            not_before = x509.load_der_x509_certificate(cert).not_valid_before_utc
            _add(tar, name, cert, int(not_before.timestamp()))
        _add(tar, "info.csv", info_csv(info), last_time)
    return count
