"""Independent verifier of a TSE TAR export (TR-03151 log messages, TR-03153 file names).

Deliberately does not use the software TSE or the export writer: it parses every file,
derives the expected file names itself and checks

1. every file is a regular file of at most ``MAX_MEMBER_SIZE`` bytes, its path stays
   inside the archive, no name comes twice, and it is known: log messages,
   ``<sha256-hex>_X509.<der|crt|pem|cer>`` certificates and ``info.csv`` (present and in
   the ``"description:",…`` form);
2. each certificate's file name is the SHA-256 of its public key point 04||X||Y and its
   signature verifies (self-signed, or by an issuer in the export);
3. each log message parses, its unsigned envelope is DER, its file name matches its
   contents, its serialNumber is the SHA-256 of the public key of a certificate in the
   export and the same in every log message (one TSE), and its signature verifies
   against that certificate over the bytes exactly as stored;
4. signature counters per TSE are continuous (from 1 for a full export), no duplicates;
5. transactions: numbers continuous, handed out in start order, each is
   StartTransaction, UpdateTransaction*, FinishTransaction, one client throughout.

The report names the FIRST problem (file and what) and lists counts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tarfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from posd_daemon.fiscal import der
from posd_daemon.fiscal import log_message as lm

EXPORT = "(export)"

#: Largest member read into memory. A TR-03151 log message is a few hundred bytes up to
#: some kilobytes (its processData), a certificate about one, info.csv one line: 16 MiB
#: is far above any of them, and a hostile TAR cannot make the verifier hold gigabytes.
MAX_MEMBER_SIZE = 16 * 1024 * 1024

#: signatureCounter and transactionNumber are counters a TSE keeps in 32 or 64 bits;
#: anything larger is not a TSE's (and would not even print: Python refuses to turn an
#: integer of more than 4300 digits into text).
_MAX_COUNTER = 2**64

_CERT_RE = re.compile(r"([0-9A-Fa-f]{64})_X509\.(der|crt|pem|cer)")
_LOG_RE = re.compile(r"(Unixt|Utc|Gent)_.+_Sig-\d+_Log-(Tra|Sys|Aud).*\.log")
_TIME_PREFIX = {
    lm.TimeFormat.UNIX: "Unixt",
    lm.TimeFormat.UTC: "Utc",
    lm.TimeFormat.GENERALIZED: "Gent",
}
_OP_SHORT = {
    lm.OPERATION_START: "Start",
    lm.OPERATION_UPDATE: "Update",
    lm.OPERATION_FINISH: "Finish",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: the file it is about and what is wrong."""

    file: str
    what: str

    def __str__(self) -> str:
        # Names and texts come from the archive: a control character printed raw (CR,
        # newline, an escape sequence) could overwrite the FAILED verdict on a terminal.
        return f"{_printable(self.file)}: {_printable(self.what)}"


def _printable(text: str) -> str:
    """``text`` with every character that is not printable as its Python escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    problems: tuple[Problem, ...]
    files: int = 0
    log_messages: int = 0
    transaction_logs: int = 0
    system_logs: int = 0
    audit_logs: int = 0
    valid_signatures: int = 0
    certificates: int = 0
    transactions: int = 0
    complete_transactions: int = 0
    open_transactions: tuple[int, ...] = ()
    first_signature_counter: int | None = None
    last_signature_counter: int | None = None
    info: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        head = "OK" if self.ok else f"FAILED: {self.first_problem}"
        return (
            f"{head} ({self.log_messages} log messages, {self.valid_signatures} valid "
            f"signatures, {self.transactions} transactions, {self.complete_transactions} "
            f"complete, {len(self.open_transactions)} open, {self.certificates} certificates, "
            f"{len(self.problems)} problems)"
        )


@dataclass(slots=True)
class _Log:
    name: str
    message: lm.LogMessage


@dataclass(slots=True)
class _Cert:
    name: str
    cert: x509.Certificate
    key: ec.EllipticCurvePublicKey | None


def _read_members(
    source: str | os.PathLike[str] | BinaryIO,
) -> tuple[list[tuple[str, bytes | str]], str | None]:
    """(name, content, or for a member that is not read the reason), in archive order,
    and what is wrong with the archive's end, if anything.

    tarfile ends its iteration silently, as at the end-of-archive blocks, when the data
    end at a file boundary (a truncated copy) or a header is damaged (its checksum does
    not fit): every file after that point would be left out unnoticed, and a verifier
    that checks what it got would pass the rest. So the reason it stopped is kept.
    """
    if isinstance(source, str | os.PathLike):
        with open(os.fspath(source), "rb") as fh:
            return _read_members(fh)
    out: list[tuple[str, bytes | str]] = []
    stops: list[tuple[int, tarfile.HeaderError]] = []

    class _Header(tarfile.TarInfo):
        @classmethod
        def fromtarfile(cls, tarfile_: tarfile.TarFile) -> _Header:
            try:
                return super().fromtarfile(tarfile_)
            except tarfile.HeaderError as exc:
                stops.append((tarfile_.offset, exc))
                raise

    with tarfile.open(fileobj=source, mode="r|*", tarinfo=_Header) as tar:
        for member in tar:
            if not member.isfile():
                out.append((member.name, "not a regular file"))
                continue
            if member.size > MAX_MEMBER_SIZE:
                # left unread: tarfile skips its data when it moves to the next header
                out.append(
                    (member.name, f"too large for a file of a TSE export ({member.size} bytes)")
                )
                continue
            handle = tar.extractfile(member)
            if handle is None:
                out.append((member.name, "not a regular file"))
                continue
            out.append((member.name, handle.read()))
    # tarfile's HeaderError subclasses, by name (typeshed does not declare them):
    # EOFHeaderError is the end-of-archive block, EmptyHeaderError no more data,
    # TruncatedHeaderError part of a header, InvalidHeaderError a damaged one
    end: str | None = None
    if stops and type(stops[-1][1]).__name__ != "EOFHeaderError":
        offset, exc = stops[-1]
        kind = type(exc).__name__
        if kind == "EmptyHeaderError":
            end = (
                f"truncated: the archive ends at offset {offset} without its end-of-archive"
                " blocks; files after that point are missing"
            )
        elif kind == "TruncatedHeaderError":
            end = f"truncated: the archive ends inside the header at offset {offset}"
        else:
            end = (
                f"damaged header at offset {offset} ({exc}): that file and every file after"
                " it cannot be read"
            )
    elif not stops:
        end = "truncated: the archive ends without its end-of-archive blocks"
    return out, end


def _path_problem(path: str) -> str | None:
    """What is wrong with a member's path: an extracting tool (tar, 7-Zip, Python's
    tarfile without a filter) would write it outside the directory it extracts into."""
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", path):
        return "absolute path: it would be extracted outside the target directory"
    if ".." in parts:
        return "path with '..': it would be extracted outside the target directory"
    return None


def _envelope_problem(raw: bytes) -> str | None:
    """The parts of a log message its signature does not cover: the outer SEQUENCE's
    length and the signatureValue. TR-03151 log messages are DER; the signed fields are
    taken as stored (fiscal-de.md: a vendor stores processData as indefinite-length BER,
    and the signature covers those bytes), but an envelope that is not DER was written
    by no TSE: the file was re-encoded after signing."""
    outer = der.decode(raw, ber=True)
    if outer.indefinite:
        return "not DER: the log message uses the indefinite length form (X.690 §10.1)"
    if not der.has_der_header(outer):
        return "not DER: the log message's length is not in the shortest form (X.690 §10.1)"
    signature = outer.children()[-1]
    if signature.constructed or not der.has_der_header(signature):
        return "not DER: signatureValue is not a primitive OCTET STRING of minimal length"
    return None


def _counter_problem(message: lm.LogMessage) -> str | None:
    if message.signature_counter >= _MAX_COUNTER:
        bits = message.signature_counter.bit_length()
        return f"signatureCounter out of range (a {bits}-bit number)"
    tx = message.transaction
    if tx is not None and not -_MAX_COUNTER < tx.transaction_number < _MAX_COUNTER:
        bits = tx.transaction_number.bit_length()
        return f"transactionNumber out of range (a {bits}-bit number)"
    return None


def expected_log_name(message: lm.LogMessage) -> str:
    """The TR-03153 file name the log message must have (own derivation)."""
    time_part = f"{_TIME_PREFIX[message.time_format]}_{message.log_time_text}"
    base = f"{time_part}_Sig-{message.signature_counter}_Log-{message.kind}"
    if message.transaction is not None:
        tx = message.transaction
        return (
            f"{base}_No-{tx.transaction_number}_{_OP_SHORT[tx.operation_type]}"
            f"_Client-{tx.client_id}.log"
        )
    if message.system is not None:
        return f"{base}_{message.system.operation_type}.log"
    return f"{base}.log"


def _parse_info(data: bytes) -> dict[str, str] | str:
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        return f"unreadable: {exc}"
    rows = [r for r in rows if r]
    if len(rows) != 1 or len(rows[0]) % 2:
        return 'expected one line "description:","…","manufacturer:","…","version:","…"'
    cells = rows[0]
    info = {cells[i].rstrip(":"): cells[i + 1] for i in range(0, len(cells), 2)}
    missing = [k for k in ("description", "manufacturer", "version") if k not in info]
    if missing:
        return f"missing {', '.join(missing)}"
    return info


#: What cryptography raises for a certificate it cannot use (it parses parts of a
#: certificate only when they are read: version, names and key are read here at once).
_CERT_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion)


def _load_certificate(data: bytes) -> tuple[x509.Certificate, ec.EllipticCurvePublicKey | None]:
    """The certificate and its EC key (None for another key type); raises one of
    ``_CERT_ERRORS`` for anything unusable, also in the names."""
    if data.lstrip().startswith(b"-----BEGIN"):
        cert = x509.load_pem_x509_certificate(data)
    else:
        cert = x509.load_der_x509_certificate(data)
    _ = cert.version, cert.subject, cert.issuer
    key = cert.public_key()
    return cert, key if isinstance(key, ec.EllipticCurvePublicKey) else None


def verify_export(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    allow_open_transactions: bool = False,
    full_export: bool = True,
) -> VerifyReport:
    """Verifies a TSE TAR export; see the module docstring for what is checked.

    ``full_export``: counters and transaction numbers must start at 1 (a complete export,
    not a time/counter range). ``allow_open_transactions``: transactions without a
    FinishTransaction are only counted, not reported (e.g. an export taken mid-sale).
    """
    problems: list[Problem] = []

    def problem(file: str, what: str) -> None:
        problems.append(Problem(file, what))

    try:
        members, end_problem = _read_members(source)
    except (tarfile.TarError, OSError, EOFError) as exc:
        return VerifyReport(problems=(Problem(EXPORT, f"not a readable TAR: {exc}"),))
    if end_problem is not None:
        problem(EXPORT, end_problem)

    logs: list[_Log] = []
    certs: list[_Cert] = []
    info: dict[str, str] = {}
    seen: dict[str, str] = {}
    info_found = False

    # -- 1./2./3a: every file on its own
    for path, data in members:
        unsafe = _path_problem(path)
        if unsafe is not None:
            problem(path, unsafe)
            continue
        # Files are told apart by their name: "./info.csv" beside "info.csv" (or in
        # another folder) is the same file twice, and only one of them could count.
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        if name in seen:
            also = "" if seen[name] == path else f" (also as {seen[name]})"
            problem(path, f"file appears twice in the export{also}")
            continue
        seen[name] = path
        if isinstance(data, str):
            problem(path, data)
            continue
        if name == "info.csv":
            info_found = True
            parsed = _parse_info(data)
            if isinstance(parsed, str):
                problem(path, f"info.csv {parsed}")
            else:
                info = parsed
            continue
        cert_match = _CERT_RE.fullmatch(name)
        if cert_match:
            try:
                cert, key = _load_certificate(data)
            except _CERT_ERRORS as exc:
                problem(path, f"not a usable certificate: {exc}")
                continue
            if key is None:
                certs.append(_Cert(path, cert, None))
                continue
            digest = hashlib.sha256(lm.public_point(key)).hexdigest()
            if digest != cert_match.group(1).lower():
                problem(path, f"file name is not the SHA-256 of the certificate's key ({digest})")
            certs.append(_Cert(path, cert, key))
            continue
        if _LOG_RE.fullmatch(name):
            try:
                message = lm.parse_log_message(data)
                odd = _envelope_problem(data) or _counter_problem(message)
            except ValueError as exc:
                problem(path, f"not a valid log message: {exc}")
                continue
            if odd is not None:
                problem(path, odd)
                continue
            expected = expected_log_name(message)
            if name != expected:
                problem(path, f"file name does not match the contents (expected {expected})")
            logs.append(_Log(path, message))
            continue
        problem(path, "unexpected file")

    if not info_found:
        problem("info.csv", "missing from the export")
    if not certs:
        problem(EXPORT, "no certificate in the export")
    for c in certs:
        issuer = next((o for o in certs if o.cert.subject == c.cert.issuer), None)
        if issuer is None:
            continue  # chain not included; nothing to check against
        try:
            c.cert.verify_directly_issued_by(issuer.cert)
        except (*_CERT_ERRORS, InvalidSignature):
            problem(c.name, f"certificate signature does not verify with {issuer.name}")

    # -- 3b: serial number and signature of every log message
    keys = {hashlib.sha256(lm.public_point(c.key)).digest(): c for c in certs if c.key}
    # An export is one TSE's: its log messages carry one serialNumber, the key whose
    # certificate (and CA chain) comes with them. Log messages of another key, even with
    # that key's certificate beside them, are not the TSE's: anyone can make such a key
    # and sign a complete, continuous set of sales with it. The TSE's key is the one
    # most log messages name (the first in archive order on a tie).
    usage: dict[bytes, int] = defaultdict(int)
    for log in logs:
        usage[log.message.serial_number] += 1
    main_serial = max(usage, key=lambda s: usage[s]) if usage else b""
    reported_serials: set[bytes] = set()
    valid = 0
    for log in logs:
        message = log.message
        owner = keys.get(message.serial_number)
        if owner is None or owner.key is None:
            problem(
                log.name,
                f"serialNumber {message.serial_number.hex()} matches no certificate in the export",
            )
            continue
        if message.serial_number != main_serial and message.serial_number not in reported_serials:
            reported_serials.add(message.serial_number)
            problem(
                log.name,
                f"signed by a second key {message.serial_number.hex()} ({owner.name}): the"
                f" export's other log messages are by {main_serial.hex()}, and an export"
                " holds one TSE's log messages",
            )
        if message.signature_algorithm is None:
            problem(log.name, f"unknown signature algorithm {message.signature_algorithm_oid}")
            continue
        if not message.verify(owner.key):
            curve = owner.key.curve.name
            if all(curve != c.ec_curve().name for c in lm.CURVES.values()):
                problem(
                    log.name,
                    f"signature does not verify with {owner.name}: its key is on {curve},"
                    " a curve no TSE uses",
                )
            else:
                problem(log.name, f"signature does not verify with {owner.name}")
            continue
        valid += 1

    # -- 4: signature counters per TSE
    by_serial: dict[bytes, list[_Log]] = defaultdict(list)
    for log in logs:
        by_serial[log.message.serial_number].append(log)
    counters: list[int] = []
    for group in by_serial.values():
        group.sort(key=lambda g: (g.message.signature_counter, g.name))
        previous: _Log | None = None
        for log in group:
            counter = log.message.signature_counter
            counters.append(counter)
            if previous is None:
                if full_export and counter != 1:
                    problem(log.name, f"signature counters start at {counter}, not 1")
            elif counter == previous.message.signature_counter:
                problem(log.name, f"duplicate signature counter {counter} (also {previous.name})")
            elif counter != previous.message.signature_counter + 1:
                missing = previous.message.signature_counter + 1
                problem(
                    log.name,
                    f"signature counter gap: {missing}..{counter - 1} missing before this file",
                )
            previous = log

    # -- 5: transactions per TSE
    transactions = 0
    complete = 0
    open_numbers: list[int] = []
    for group in by_serial.values():
        per_tx: dict[int, list[_Log]] = defaultdict(list)
        for log in group:  # already in counter order
            if log.message.transaction is not None:
                per_tx[log.message.transaction.transaction_number].append(log)
        previous_number: int | None = None
        previous_start = -1
        for number in sorted(per_tx):
            entries = per_tx[number]
            first = entries[0]
            transactions += 1
            if previous_number is None:
                if full_export and number != 1:
                    problem(first.name, f"transaction numbers start at {number}, not 1")
            elif number != previous_number + 1:
                problem(
                    first.name,
                    f"transaction numbers not continuous: {previous_number + 1}..{number - 1}"
                    " missing",
                )
            previous_number = number
            ok = True
            ops = [e.message.transaction.operation_type for e in entries if e.message.transaction]
            clients = {e.message.transaction.client_id for e in entries if e.message.transaction}
            if ops[0] != lm.OPERATION_START:
                problem(first.name, f"transaction {number} does not begin with StartTransaction")
                ok = False
            elif first.message.signature_counter < previous_start:
                problem(first.name, f"transaction {number} started before a lower number")
                ok = False
            else:
                previous_start = first.message.signature_counter
            for entry, op in list(zip(entries, ops, strict=True))[1:]:
                if op == lm.OPERATION_START:
                    problem(entry.name, f"second StartTransaction for transaction {number}")
                    ok = False
            finishes = [i for i, op in enumerate(ops) if op == lm.OPERATION_FINISH]
            if len(finishes) > 1 or (finishes and finishes[0] != len(ops) - 1):
                bad = entries[finishes[1] if len(finishes) > 1 else finishes[0] + 1]
                problem(bad.name, f"log message after FinishTransaction of transaction {number}")
                ok = False
            if len(clients) > 1:
                problem(first.name, f"transaction {number} used by clients {sorted(clients)}")
                ok = False
            if not finishes:
                open_numbers.append(number)
                if not allow_open_transactions:
                    problem(first.name, f"transaction {number} has no FinishTransaction")
            elif ok:
                complete += 1

    return VerifyReport(
        problems=tuple(problems),
        files=len(members),
        log_messages=len(logs),
        transaction_logs=sum(1 for g in logs if g.message.kind == "Tra"),
        system_logs=sum(1 for g in logs if g.message.kind == "Sys"),
        audit_logs=sum(1 for g in logs if g.message.kind == "Aud"),
        valid_signatures=valid,
        certificates=len(certs),
        transactions=transactions,
        complete_transactions=complete,
        open_transactions=tuple(sorted(open_numbers)),
        first_signature_counter=min(counters) if counters else None,
        last_signature_counter=max(counters) if counters else None,
        info=info,
    )
