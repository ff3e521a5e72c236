"""verify-export: a tampered or truncated TSE export TAR must fail naming the
problem, never crash and never pass. The export comes from the software TSE (real SQLite
file); the damage is done to its bytes as an attacker or a broken copy would."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from posd_daemon.fiscal import log_message as lm
from posd_daemon.fiscal import tar_export
from posd_daemon.fiscal.software_tse import SoftwareTse
from posd_daemon.fiscal.verify_export import verify_export

CLIENT = "KASSE-01"
RECEIPT = b"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar"


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    """The members of a real export (2 system logs, 4 transactions), in archive order."""
    tse = SoftwareTse(tmp_path_factory.mktemp("tse"))
    try:
        tse.register_client(CLIENT)
        for _ in range(4):
            r = tse.start_transaction(CLIENT, "Kassenbeleg-V1", b"")
            tse.finish_transaction(CLIENT, r.transaction_number, "Kassenbeleg-V1", RECEIPT)
        out = io.BytesIO()
        tse.export(out)
    finally:
        tse.close()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]


def pack(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def header_offsets(data: bytes) -> dict[str, int]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m.offset for m in tar}


def info_first(members: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The same files with info.csv and the certificate first (a valid order: nothing
    prescribes it, and an export of another TSE may well be written so)."""
    logs = [m for m in members if m[0].endswith(".log")]
    return [m for m in members if not m[0].endswith(".log")] + logs


def test_the_repacked_export_itself_verifies(members: list[tuple[str, bytes]]) -> None:
    assert verify_export(io.BytesIO(pack(info_first(members)))).ok


def test_an_export_cut_off_between_two_files_fails_as_truncated(
    members: list[tuple[str, bytes]],
) -> None:
    """Cut right before the last transaction's StartTransaction: what is left is
    complete in itself (counters 1..n, transactions 1..3 started and finished), only the
    end-of-archive blocks are missing. It was reported OK."""
    data = pack(info_first(members))
    last_start = next(n for n, _ in members if "_No-4_Start_" in n)
    cut = data[: header_offsets(data)[last_start]]
    report = verify_export(io.BytesIO(cut))
    assert not report.ok
    assert "truncated" in str(report.first_problem)


def test_a_damaged_header_in_the_middle_is_named(members: list[tuple[str, bytes]]) -> None:
    """A header whose checksum no longer fits ended the reading silently: every file
    after it was left out and the rest reported OK."""
    data = bytearray(pack(info_first(members)))
    victim = next(n for n, _ in members if "_Sig-5_" in n)
    at = header_offsets(bytes(data))[victim]
    data[at + 3] ^= 0x01  # a byte of the file name: the header checksum fails
    report = verify_export(io.BytesIO(bytes(data)))
    assert not report.ok
    assert f"offset {at}" in str(report.first_problem)
    assert "header" in str(report.first_problem)


#: damage to the certificate's DER that cryptography notices only when that part is read
CERT_DAMAGE = {
    # version v3 (2) -> 3: x509.InvalidVersion
    "version": (b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x03"),
    # the subject's CN UTF8String re-tagged as RELATIVE-OID: ValueError
    "subject": (b"\x06\x03\x55\x04\x03\x0c", b"\x06\x03\x55\x04\x03\x0d"),
    # P-256's OID 1.2.840.10045.3.1.7 -> .3.1.6: UnsupportedAlgorithm
    "curve": (b"\x2a\x86\x48\xce\x3d\x03\x01\x07", b"\x2a\x86\x48\xce\x3d\x03\x01\x06"),
}


@pytest.mark.parametrize("part", sorted(CERT_DAMAGE))
def test_a_damaged_certificate_is_a_problem_not_a_crash(
    members: list[tuple[str, bytes]], part: str
) -> None:
    """cryptography parses a certificate's parts only when they are read; verify_export
    read them outside its error handling, so a tampered certificate crashed it
    (InvalidVersion, ValueError, UnsupportedAlgorithm)."""
    name, cert = next(m for m in members if m[0].endswith("_X509.der"))
    old, new = CERT_DAMAGE[part]
    assert cert.count(old) >= 1
    bad = cert.replace(old, new, 1)
    tampered = [(n, bad if n == name else d) for n, d in members]
    report = verify_export(io.BytesIO(pack(tampered)))
    assert not report.ok
    assert report.first_problem is not None and report.first_problem.file == name


def _p521_export() -> tuple[bytes, str]:
    key = ec.generate_private_key(ec.SECP521R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not a TSE curve")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA512())
        .public_bytes(serialization.Encoding.DER)
    )
    point = lm.public_point(key.public_key())
    signed = lm.encode_signed_part(
        certified_data_type=lm.OID_TRANSACTION_LOG,
        certified_data=lm.TransactionData(
            lm.OPERATION_START, CLIENT, b"", "Kassenbeleg-V1", 1
        ).encode(),
        serial_number=hashlib.sha256(point).digest(),
        signature_algorithm="ecdsa-plain-SHA256",
        signature_counter=1,
        log_time=1_700_000_000,
    )
    message = lm.assemble_log_message(signed, bytes(64))
    log_name = tar_export.log_file_name(lm.parse_log_message(message))
    info = b'"description:","x","manufacturer:","x","version:","1"\r\n'
    files = [
        (log_name, message),
        (f"{hashlib.sha256(point).hexdigest()}_X509.der", cert),
        ("info.csv", info),
    ]
    return pack(files), log_name


def test_a_log_message_of_a_key_on_an_unsupported_curve_is_a_problem_not_a_crash() -> None:
    """A certificate on P-521 (no TSE curve) whose key a log message names: checking the
    signature raised ValueError("unsupported curve") out of verify_export."""
    data, log_name = _p521_export()
    report = verify_export(io.BytesIO(data))
    assert not report.ok
    assert report.first_problem is not None and report.first_problem.file == log_name
    assert "signature does not verify" in report.first_problem.what


def test_every_truncation_and_every_flipped_header_byte_fails_without_a_crash(
    members: list[tuple[str, bytes]],
) -> None:
    """Exhaustively over the archive's meaningful part: never an exception, never OK."""
    data = pack(info_first(members))
    end = max(o for o in header_offsets(data).values()) + 1024
    for cut in range(0, end, 41):
        report = verify_export(io.BytesIO(data[:cut]))
        assert not report.ok, cut
    for at in header_offsets(data).values():
        for i in range(0, 512, 7):
            damaged = bytearray(data)
            damaged[at + i] ^= 0x10
            verify_export(io.BytesIO(bytes(damaged)))  # must not raise
