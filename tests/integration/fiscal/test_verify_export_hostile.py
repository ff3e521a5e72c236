"""verify-export against hostile or odd TARs: every one must end in one named problem and
a non-zero exit, never a traceback and never "OK"; and correct exports of both backends
(software TSE, fiskaly-style names and certificate chains) must still pass.

The exports are real: the software TSE on a SQLite file, or log messages built and
signed here with ``fiscal.log_message`` (what a TSE does), packed as the TAR a broken
copy or an attacker would leave."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from posd_daemon.fiscal import der, tar_export
from posd_daemon.fiscal import log_message as lm
from posd_daemon.fiscal.software_tse import SoftwareTse
from posd_daemon.fiscal.verify_export import VerifyReport, verify_export

CLIENT = "KASSE-01"
RECEIPT = b"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar"
INFO = ("info.csv", b'"description:","x","manufacturer:","x","version:","1"\r\n')
START, UPDATE, FINISH = lm.OPERATION_START, lm.OPERATION_UPDATE, lm.OPERATION_FINISH

Member = tuple[str, bytes]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real software TSE export, as it wrote it."""
    tse = SoftwareTse(tmp_path_factory.mktemp("tse"))
    try:
        tse.register_client(CLIENT)
        for _ in range(3):
            r = tse.start_transaction(CLIENT, "Kassenbeleg-V1", b"")
            tse.finish_transaction(CLIENT, r.transaction_number, "Kassenbeleg-V1", RECEIPT)
        out = io.BytesIO()
        tse.export(out)
    finally:
        tse.close()
    return out.getvalue()


@pytest.fixture(scope="module")
def members(written: bytes) -> list[Member]:
    """The members of the real export, in archive order."""
    with tarfile.open(fileobj=io.BytesIO(written)) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]


def pack(members: Sequence[Member]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def verify(data: bytes) -> VerifyReport:
    return verify_export(io.BytesIO(data))


def assert_fails_on(report: VerifyReport, file: str, *words: str) -> None:
    assert not report.ok, "reported OK"
    first = report.first_problem
    assert first is not None
    assert first.file == file, str(first)
    for word in words:
        assert word in first.what, str(first)


# --------------------------------------------------------------------------- builders


def certificate(
    key: ec.EllipticCurvePrivateKey,
    name: str,
    *,
    issuer: tuple[ec.EllipticCurvePrivateKey, str] | None = None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer, issuer_name = issuer if issuer is not None else (key, name)
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(signer, hashes.SHA256())
    )


def der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def key_hash(key: ec.EllipticCurvePrivateKey) -> str:
    return hashlib.sha256(lm.public_point(key.public_key())).hexdigest()


def signed_part(
    key: ec.EllipticCurvePrivateKey,
    counter: int,
    operation: str | None = None,
    number: int = 0,
    *,
    log_time: int = 1_700_000_000,
    time_format: lm.TimeFormat = lm.TimeFormat.UNIX,
    certified_data: bytes | None = None,
) -> bytes:
    if certified_data is None:
        certified_data = (
            lm.SystemData("initialize", lm.initialize_operation_data("test")).encode()
            if operation is None
            else lm.TransactionData(operation, CLIENT, b"", "Kassenbeleg-V1", number).encode()
        )
    return lm.encode_signed_part(
        certified_data_type=lm.OID_SYSTEM_LOG if operation is None else lm.OID_TRANSACTION_LOG,
        certified_data=certified_data,
        serial_number=hashlib.sha256(lm.public_point(key.public_key())).digest(),
        signature_algorithm="ecdsa-plain-SHA256",
        signature_counter=counter,
        log_time=log_time,
        time_format=time_format,
    )


def message(
    key: ec.EllipticCurvePrivateKey,
    counter: int,
    operation: str | None = None,
    number: int = 0,
    **kwargs: object,
) -> bytes:
    signed = signed_part(key, counter, operation, number, **kwargs)  # type: ignore[arg-type]
    return lm.assemble_log_message(signed, lm.sign_plain(key, "ecdsa-plain-SHA256", signed))


def log_member(raw: bytes) -> Member:
    return tar_export.log_file_name(lm.parse_log_message(raw)), raw


def sale_log(key: ec.EllipticCurvePrivateKey, sales: int = 2) -> list[bytes]:
    """initialize, then ``sales`` transactions of start and finish: counters 1..2n+1."""
    out = [message(key, 1)]
    for n in range(1, sales + 1):
        out += [message(key, 2 * n, START, n), message(key, 2 * n + 1, FINISH, n)]
    return out


def export(
    key: ec.EllipticCurvePrivateKey,
    logs: Sequence[bytes],
    *,
    extra: Sequence[Member] = (),
) -> bytes:
    cert = der_of(certificate(key, "TSE " + key_hash(key)[:8]))
    return pack(
        [*map(log_member, logs), (tar_export.certificate_file_name(cert), cert), INFO, *extra]
    )


KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())


# --------------------------------------------------------------------------- tests


def test_a_correct_self_built_export_verifies() -> None:
    assert verify(export(KEY, sale_log(KEY))).ok


@pytest.mark.parametrize(
    "name",
    ["../{}", "../../tmp/{}", "/tmp/{}", "x/../../{}"],
    ids=["parent", "parent-twice", "absolute", "inner-parent"],
)
def test_a_member_with_a_path_outside_the_archive_is_named(
    members: list[Member], name: str
) -> None:
    """Extracting such a TAR writes outside the target directory; the verifier looked at
    the last path part only and reported the export OK."""
    first, data = members[0]
    hostile = name.format(first)
    report = verify(pack([(hostile, data), *members[1:]]))
    assert_fails_on(report, hostile, "path")


@pytest.mark.parametrize("which", ["info.csv", "_X509.der", "_Sig-3_"])
def test_the_same_file_twice_under_a_dot_slash_name_is_named(
    members: list[Member], which: str
) -> None:
    """``./info.csv`` beside ``info.csv``: two different info.csv (or certificates) were
    taken silently, the last one winning; the report was OK."""
    name, data = next(m for m in members if which in m[0])
    report = verify(pack([*members, ("./" + name, data)]))
    assert_fails_on(report, "./" + name, "twice")


def test_a_huge_member_is_named_without_reading_it_into_memory(
    members: list[Member], tmp_path: Path
) -> None:
    """A member of 64 MiB (it could be gigabytes) was read into memory whole."""
    huge = 64 * 1024 * 1024
    name = members[-3][0].replace("_Sig-", "_Sig-9")  # a log message's name

    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = huge

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    path = tmp_path / "huge.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for member_name, data in members:
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(name)
        info.size = huge
        tar.addfile(info, io.BufferedReader(Zeros()))
    tracemalloc.start()
    try:
        report = verify_export(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_fails_on(report, name, "too large")
    assert peak < 8 * 1024 * 1024, peak


@pytest.mark.parametrize("field", ["signatureCounter", "transactionNumber"])
def test_an_absurdly_large_counter_is_a_problem_not_a_traceback(field: str) -> None:
    """A 5000-digit INTEGER (validly signed) crashed the file-name check with Python's
    "Exceeds the limit (4300 digits) for integer string conversion"."""
    big = 10**5000
    logs = sale_log(KEY, 1)
    if field == "signatureCounter":
        bad = message(KEY, big, START, 2)
        name = "Unixt_1700000000_Sig-4_Log-Tra_No-2_Start_Client-KASSE-01.log"
    else:
        bad = message(KEY, 4, START, big)
        name = "Unixt_1700000000_Sig-4_Log-Tra_No-2_Start_Client-KASSE-01.log"
    report = verify(pack([*map(log_member, logs), (name, bad), *export_rest(KEY)]))
    assert_fails_on(report, name, field, "out of range")


def export_rest(key: ec.EllipticCurvePrivateKey) -> list[Member]:
    cert = der_of(certificate(key, "TSE"))
    return [(tar_export.certificate_file_name(cert), cert), INFO]


def test_log_messages_of_a_second_key_with_its_own_certificate_are_named() -> None:
    """A second, self-consistent set of log messages (counters from 1, transactions 1..n)
    signed by another key and shipped with that key's certificate: the export was OK,
    so anyone could add forged sales to a TSE export and have them verified."""
    forged = [message(OTHER, 1, log_time=1_600_000_000)] + [
        message(OTHER, c, op, n, log_time=1_600_000_000)
        for c, op, n in ((2, START, 1), (3, FINISH, 1))
    ]
    cert = der_of(certificate(OTHER, "Forger"))
    data = export(
        KEY,
        sale_log(KEY),
        extra=[*map(log_member, forged), (tar_export.certificate_file_name(cert), cert)],
    )
    report = verify(data)
    assert_fails_on(report, log_member(forged[0])[0], "key", key_hash(OTHER))


def _envelopes() -> dict[str, tuple[bytes, bytes, str]]:
    """(valid message, the same with a non-DER envelope, a word of the problem)."""
    raw = message(KEY, 1)
    outer = der.decode(raw)
    items = outer.children()
    signature = items[-1]
    body = b"".join(i.raw for i in items[:-1])
    long_signature = b"\x04\x81" + bytes([len(signature.content)]) + signature.content
    return {
        "indefinite": (raw, b"\x30\x80" + outer.content + b"\x00\x00", "DER"),
        "leading-zero-length": (raw, b"\x30\x83\x00" + len(outer.content).to_bytes(2, "big")
                                + outer.content, "DER"),
        "long-signature-length": (
            raw, der.encode_tlv(der.TAG_SEQUENCE, body + long_signature), "DER"
        ),
        "trailing-bytes": (raw, raw + b"\x00\x00", "trailing bytes"),
    }  # fmt: skip


@pytest.mark.parametrize("damage", sorted(_envelopes()))
def test_a_log_message_that_is_not_der_outside_the_signed_part_is_named(damage: str) -> None:
    """TR-03151 log messages are DER. The signature covers only version..logTime, so an
    envelope re-encoded after signing still verified and the export was OK."""
    raw, odd, word = _envelopes()[damage]
    name = log_member(raw)[0]
    report = verify(pack([(name, odd), *map(log_member, sale_log(KEY)[1:]), *export_rest(KEY)]))
    assert_fails_on(report, name, word)


def test_indefinite_length_process_data_as_a_vendor_stores_it_still_verifies() -> None:
    """fiscal-de.md: one vendor stores processData as indefinite-length BER; the signed
    bytes are exactly those, so the export is correct and must pass."""
    certified = (
        der.encode_printable_string(FINISH, tag=der.context_tag(0))
        + der.encode_printable_string(CLIENT, tag=der.context_tag(1))
        + b"\xa2\x80" + der.encode_octet_string(RECEIPT[:6])
        + der.encode_octet_string(RECEIPT[6:]) + b"\x00\x00"
        + der.encode_printable_string("Kassenbeleg-V1", tag=der.context_tag(3))
        + der.encode_integer(1, tag=der.context_tag(5))
    )  # fmt: skip
    finish = message(KEY, 3, FINISH, 1, certified_data=certified)
    assert lm.parse_log_message(finish).transaction is not None
    logs = [message(KEY, 1), message(KEY, 2, START, 1), finish]
    report = verify(export(KEY, logs))
    assert report.ok, report.summary()
    assert report.complete_transactions == 1


def test_a_fiskaly_style_export_with_pem_chain_and_other_time_formats_verifies() -> None:
    """Certificates as .pem/.crt with upper-case hex names and their CA, log times as
    UTCTime and GeneralizedTime (``Utc_``/``Gent_``), an UpdateTransaction: all allowed
    by the reference (fiscal-de.md "TSE export (TAR)")."""
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = certificate(ca_key, "Test CA")
    leaf = certificate(KEY, "TSE", issuer=(ca_key, "Test CA"))
    gen, utc = lm.TimeFormat.GENERALIZED, lm.TimeFormat.UTC
    logs = [
        message(KEY, 1, log_time=1_700_000_000, time_format=utc),
        message(KEY, 2, START, 1, log_time=1_700_000_001, time_format=gen),
        message(KEY, 3, UPDATE, 1, log_time=1_700_000_002, time_format=gen),
        message(KEY, 4, FINISH, 1, log_time=1_700_000_003, time_format=utc),
    ]
    names = [log_member(m)[0] for m in logs]
    assert names[0].startswith("Utc_231114221320Z_Sig-1_Log-Sys_initialize")
    assert names[1].startswith("Gent_20231114221321Z_Sig-2_Log-Tra_No-1_Start_")
    pem = serialization.Encoding.PEM
    data = pack(
        [
            INFO,
            (key_hash(KEY).upper() + "_X509.pem", leaf.public_bytes(pem)),
            (key_hash(ca_key).upper() + "_X509.crt", ca.public_bytes(pem)),
            *map(log_member, reversed(logs)),
        ]
    )
    report = verify(data)
    assert report.ok, report.summary()
    assert (report.certificates, report.complete_transactions) == (2, 1)


@pytest.mark.parametrize(
    "case",
    ["counter-gap", "reordered", "other-key", "never-finished", "finish-without-start"],
)
def test_broken_sequences_are_named(case: str) -> None:
    """The signature checks and the counter and transaction rules, each on its own."""
    logs = sale_log(KEY, 3)  # counters 1..7, transactions 1..3
    if case == "counter-gap":
        logs.pop(3)  # counter 4: transaction 2's start
        expect = (log_member(logs[3])[0], "gap")
    elif case == "reordered":
        # transaction 2 handed out before transaction 1: its start has a lower counter
        logs[1:5] = [
            message(KEY, 2, START, 2),
            message(KEY, 3, FINISH, 2),
            message(KEY, 4, START, 1),
            message(KEY, 5, FINISH, 1),
        ]
        expect = (log_member(logs[1])[0], "started before a lower number")
    elif case == "other-key":
        signed = signed_part(KEY, 4, START, 2)
        logs[3] = lm.assemble_log_message(
            signed, lm.sign_plain(OTHER, "ecdsa-plain-SHA256", signed)
        )
        expect = (log_member(logs[3])[0], "signature does not verify")
    elif case == "never-finished":
        logs.pop(4)  # transaction 2's finish; counters renumbered after it
        logs[4:] = [message(KEY, 5, START, 3), message(KEY, 6, FINISH, 3)]
        expect = (log_member(logs[3])[0], "has no FinishTransaction")
    else:
        logs.pop(3)  # transaction 2's start
        logs[3:] = [
            message(KEY, 4, FINISH, 2),
            message(KEY, 5, START, 3),
            message(KEY, 6, FINISH, 3),
        ]
        expect = (log_member(logs[3])[0], "does not begin with StartTransaction")
    assert_fails_on(verify(export(KEY, logs)), *expect)


#: TR-03153 names as the reference gives them (fiscal-de.md "TSE export (TAR)")
_REFERENCE_NAMES = [
    re.compile(
        rf"Unixt_\d+_Sig-[1-9]\d*_Log-Tra_No-[1-9]\d*_(Start|Update|Finish)_Client-{CLIENT}\.log"
    ),
    re.compile(r"Unixt_\d+_Sig-[1-9]\d*_Log-Sys_(initialize|registerClient|selfTest)\.log"),
    re.compile(r"[0-9a-f]{64}_X509\.der"),
    re.compile(r"info\.csv"),
]


def test_the_software_tse_writes_exactly_the_reference_names(
    written: bytes, members: list[Member]
) -> None:
    """Flat, regular files only, every name one of the reference's forms."""
    with tarfile.open(fileobj=io.BytesIO(written)) as tar:
        assert all(m.isfile() for m in tar)
    assert verify(written).ok
    for name, _ in members:
        assert any(p.fullmatch(name) for p in _REFERENCE_NAMES), name
    assert sum(1 for n, _ in members if n.endswith("_X509.der")) == 1
    info = dict(members)["info.csv"]
    assert re.fullmatch(
        rb'"description:","[^"]+","manufacturer:","[^"]+","version:","[^"]+"\r\n', info
    ), info


def test_posctl_exits_non_zero_naming_the_problem_without_a_traceback(tmp_path: Path) -> None:
    """The CLI on an export with a 5000-digit counter: a traceback before."""
    bad = message(KEY, 10**5000, START, 1)
    name = "Unixt_1700000000_Sig-2_Log-Tra_No-1_Start_Client-KASSE-01.log"
    path = tmp_path / "bad.tar"
    path.write_bytes(pack([log_member(message(KEY, 1)), (name, bad), *export_rest(KEY)]))
    run = subprocess.run(
        [sys.executable, "-m", "posd_daemon.cli.posctl", "tse", "verify-export", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert f"FAILED: {name}" in run.stdout


def _special(kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo("Unixt_1_Sig-99_Log-Aud.log")
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(
    "case",
    [
        "empty-file",
        "not-a-tar",
        "gzip-of-text",
        "directory",
        "symlink",
        "hardlink",
        "device",
        "fifo",
        "no-info-csv",
        "info-csv-malformed",
        "no-certificate",
        "huge-der-length",
        "key-on-p521",
    ],
)
def test_each_hostile_or_broken_export_gives_one_named_problem(
    members: list[Member], case: str
) -> None:
    """The brief's list, each on its own: never OK, never an exception."""
    logs = [m for m in members if m[0].endswith(".log")]
    cert = next(m for m in members if m[0].endswith("_X509.der"))
    specials = {
        "directory": (tarfile.DIRTYPE, ""),
        "symlink": (tarfile.SYMTYPE, "/etc/passwd"),
        "hardlink": (tarfile.LNKTYPE, "info.csv"),
        "device": (tarfile.CHRTYPE, ""),
        "fifo": (tarfile.FIFOTYPE, ""),
    }
    if case == "empty-file":
        data, where, word = b"", "(export)", "not a readable TAR"
    elif case == "not-a-tar":
        data, where, word = b"PK\x03\x04" + bytes(2000), "(export)", "not a readable TAR"
    elif case == "gzip-of-text":
        data, where, word = gzip.compress(b"hello\n" * 200), "(export)", "not a readable TAR"
    elif case in specials:
        kind, link = specials[case]
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, content in members:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            tar.addfile(_special(kind, link))
        data, where, word = out.getvalue(), "Unixt_1_Sig-99_Log-Aud.log", "not a regular file"
    elif case == "no-info-csv":
        data, where, word = pack([*logs, cert]), "info.csv", "missing"
    elif case == "info-csv-malformed":
        bad = ("info.csv", b"description;posd\nmanufacturer;x\n")
        data, where, word = pack([*logs, cert, bad]), "info.csv", "info.csv"
    elif case == "no-certificate":
        data, where, word = pack([*logs, INFO]), "(export)", "no certificate"
    elif case == "huge-der-length":
        name = logs[0][0]
        hostile = b"\x30\x88" + b"\xff" * 8 + logs[0][1][3:]
        data, where, word = pack([(name, hostile), *logs[1:], cert, INFO]), name, "truncated"
    else:
        key = ec.generate_private_key(ec.SECP521R1())
        signed = signed_part(key, 1)  # signed on P-521: no TSE curve
        signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
        raw = lm.assemble_log_message(signed, lm.der_to_plain(signature, 66))
        name = log_member(raw)[0]
        cert_der = der_of(certificate(key, "P-521"))
        data = pack([(name, raw), (f"{key_hash(key)}_X509.der", cert_der), INFO])
        where, word = name, "a curve no TSE uses"
    assert_fails_on(verify(data), where, word)
