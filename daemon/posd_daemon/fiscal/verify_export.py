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
import sys
import tarfile
from collections import defaultdict
from collections.abc import Iterator
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
class _Cert:
    name: str
    cert: x509.Certificate
    key: ec.EllipticCurvePublicKey | None


def _members(source: BinaryIO, end: list[str | None]) -> Iterator[tuple[str, bytes | str]]:
    """(name, content, or for a member that is not read the reason), in archive order,
    one at a time; once done, ``end`` gets what is wrong with the archive's end, if
    anything.

    tarfile ends its iteration silently, as at the end-of-archive blocks, when the data
    end at a file boundary (a truncated copy) or a header is damaged (its checksum does
    not fit): every file after that point would be left out unnoticed, and a verifier
    that checks what it got would pass the rest. So the reason it stopped is kept.
    """
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
                yield member.name, "not a regular file"
                continue
            if member.size > MAX_MEMBER_SIZE:
                # left unread: tarfile skips its data when it moves to the next header
                yield member.name, f"too large for a file of a TSE export ({member.size} bytes)"
                continue
            handle = tar.extractfile(member)
            if handle is None:
                yield member.name, "not a regular file"
                continue
            yield member.name, handle.read()
            # tarfile keeps every header it read (``members``), which a stream needs
            # for nothing: some 550 bytes per file, the most of what a large export cost
            tar.members = []  # type: ignore[attr-defined]  # not in typeshed
    # tarfile's HeaderError subclasses, by name (typeshed does not declare them):
    # EOFHeaderError is the end-of-archive block, EmptyHeaderError no more data,
    # TruncatedHeaderError part of a header, InvalidHeaderError a damaged one
    problem: str | None = None
    if stops and type(stops[-1][1]).__name__ != "EOFHeaderError":
        offset, exc = stops[-1]
        kind = type(exc).__name__
        if kind == "EmptyHeaderError":
            problem = (
                f"truncated: the archive ends at offset {offset} without its end-of-archive"
                " blocks; files after that point are missing"
            )
        elif kind == "TruncatedHeaderError":
            problem = f"truncated: the archive ends inside the header at offset {offset}"
        else:
            problem = (
                f"damaged header at offset {offset} ({exc}): that file and every file after"
                " it cannot be read"
            )
    elif not stops:
        problem = "truncated: the archive ends without its end-of-archive blocks"
    end.append(problem)


def _file_name(path: str) -> str:
    # Files are told apart by their name: "./info.csv" beside "info.csv" (or in another
    # folder) is the same file twice, and only one of them could count.
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _keys(source: BinaryIO, end: list[str | None]) -> dict[bytes, _Cert]:
    """The first pass: the certificates' keys by serial (SHA-256 of the key's point), as
    the second pass takes the certificates (the first of a name, safe paths only)."""
    keys: dict[bytes, _Cert] = {}
    seen: set[str] = set()
    for path, data in _members(source, end):
        name = _file_name(path)
        if _path_problem(path) is not None or name in seen:
            continue
        seen.add(name)
        if isinstance(data, str) or not _CERT_RE.fullmatch(name):
            continue
        try:
            cert, key = _load_certificate(data)
        except _CERT_ERRORS:
            continue
        if key is not None:
            keys[hashlib.sha256(lm.public_point(key)).digest()] = _Cert(path, cert, key)
    return keys


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

    Two passes over the archive: the certificates first, then every file, each log
    message verified as it is read and kept as a few numbers (:class:`_Entry`). Holding
    every file and every parsed log message took some 2.5 KB per message: a year of a
    busy register (600,000 messages) needed gigabytes, more than the register has.
    """
    if isinstance(source, str | os.PathLike):
        with open(os.fspath(source), "rb") as fh:
            return verify_export(
                fh, allow_open_transactions=allow_open_transactions, full_export=full_export
            )
    try:
        if not source.seekable():
            source = io.BytesIO(source.read())  # a pipe: read once, in memory
        start = source.tell()
        end: list[str | None] = []
        keys = _keys(source, end)
        source.seek(start)
        return _verify(source, keys, end[0] if end else None, allow_open_transactions, full_export)
    except (tarfile.TarError, OSError, EOFError) as exc:
        return VerifyReport(problems=(Problem(EXPORT, f"not a readable TAR: {exc}"),))


@dataclass(slots=True)
class _Entry:
    """A log message as the counter and transaction checks need it (see verify_export)."""

    name: str
    serial: bytes
    counter: int
    kind: str
    #: transaction log messages: number, operation, client
    number: int | None
    operation: str
    client: str
    #: what 3b found wrong with its signature (None: it verifies), or "no-key"
    signature_problem: str | None
    algorithm_unknown: str | None


def _entry(path: str, message: lm.LogMessage, keys: dict[bytes, _Cert]) -> _Entry:
    owner = keys.get(message.serial_number)
    algorithm_unknown: str | None = None
    signature: str | None = None
    if owner is None or owner.key is None:
        signature = "no-key"
    elif message.signature_algorithm is None:
        algorithm_unknown = message.signature_algorithm_oid
    elif not message.verify(owner.key):
        curve = owner.key.curve.name
        if all(curve != c.ec_curve().name for c in lm.CURVES.values()):
            signature = (
                f"signature does not verify with {owner.name}: its key is on {curve},"
                " a curve no TSE uses"
            )
        else:
            signature = f"signature does not verify with {owner.name}"
    tx = message.transaction
    return _Entry(
        path,
        message.serial_number,
        message.signature_counter,
        sys.intern(message.kind),
        None if tx is None else tx.transaction_number,
        "" if tx is None else sys.intern(tx.operation_type),
        "" if tx is None else sys.intern(tx.client_id),
        signature,
        algorithm_unknown,
    )


def _verify(
    source: BinaryIO,
    keys: dict[bytes, _Cert],
    end_problem: str | None,
    allow_open_transactions: bool,
    full_export: bool,
) -> VerifyReport:
    problems: list[Problem] = []

    def problem(file: str, what: str) -> None:
        problems.append(Problem(file, what))

    if end_problem is not None:
        problem(EXPORT, end_problem)

    logs: list[_Entry] = []
    serials: dict[bytes, bytes] = {}  # one bytes object per serial, not one per message
    certs: list[_Cert] = []
    info: dict[str, str] = {}
    seen: dict[str, str] = {}
    info_found = False
    files = 0

    # -- 1./2./3a: every file on its own
    for path, data in _members(source, []):
        files += 1
        unsafe = _path_problem(path)
        if unsafe is not None:
            problem(path, unsafe)
            continue
        name = _file_name(path)
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
            entry = _entry(path, message, keys)
            entry.serial = serials.setdefault(entry.serial, entry.serial)
            logs.append(entry)
            continue
        problem(path, "unexpected file")
    del seen

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
    # An export is one TSE's: its log messages carry one serialNumber, the key whose
    # certificate (and CA chain) comes with them. Log messages of another key, even with
    # that key's certificate beside them, are not the TSE's: anyone can make such a key
    # and sign a complete, continuous set of sales with it. The TSE's key is the one
    # most log messages name (the first in archive order on a tie).
    usage: dict[bytes, int] = defaultdict(int)
    for log in logs:
        usage[log.serial] += 1
    main_serial = max(usage, key=lambda s: usage[s]) if usage else b""
    reported_serials: set[bytes] = set()
    valid = 0
    for log in logs:
        if log.signature_problem == "no-key":
            problem(
                log.name,
                f"serialNumber {log.serial.hex()} matches no certificate in the export",
            )
            continue
        if log.serial != main_serial and log.serial not in reported_serials:
            reported_serials.add(log.serial)
            owner = keys[log.serial]
            problem(
                log.name,
                f"signed by a second key {log.serial.hex()} ({owner.name}): the"
                f" export's other log messages are by {main_serial.hex()}, and an export"
                " holds one TSE's log messages",
            )
        if log.algorithm_unknown is not None:
            problem(log.name, f"unknown signature algorithm {log.algorithm_unknown}")
            continue
        if log.signature_problem is not None:
            problem(log.name, log.signature_problem)
            continue
        valid += 1

    # -- 4: signature counters per TSE
    by_serial: dict[bytes, list[_Entry]] = defaultdict(list)
    for log in logs:
        by_serial[log.serial].append(log)
    first_counter: int | None = None
    last_counter: int | None = None
    for group in by_serial.values():
        group.sort(key=lambda g: (g.counter, g.name))
        previous: _Entry | None = None
        for log in group:
            counter = log.counter
            first_counter = counter if first_counter is None else min(first_counter, counter)
            last_counter = counter if last_counter is None else max(last_counter, counter)
            if previous is None:
                if full_export and counter != 1:
                    problem(log.name, f"signature counters start at {counter}, not 1")
            elif counter == previous.counter:
                problem(log.name, f"duplicate signature counter {counter} (also {previous.name})")
            elif counter != previous.counter + 1:
                missing = previous.counter + 1
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
        per_tx: dict[int, list[_Entry]] = defaultdict(list)
        for log in group:  # already in counter order
            if log.number is not None:
                per_tx[log.number].append(log)
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
            ops = [e.operation for e in entries]
            clients = {e.client for e in entries}
            if ops[0] != lm.OPERATION_START:
                problem(first.name, f"transaction {number} does not begin with StartTransaction")
                ok = False
            elif first.counter < previous_start:
                problem(first.name, f"transaction {number} started before a lower number")
                ok = False
            else:
                previous_start = first.counter
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
        files=files,
        log_messages=len(logs),
        transaction_logs=sum(1 for g in logs if g.kind == "Tra"),
        system_logs=sum(1 for g in logs if g.kind == "Sys"),
        audit_logs=sum(1 for g in logs if g.kind == "Aud"),
        valid_signatures=valid,
        certificates=len(certs),
        transactions=transactions,
        complete_transactions=complete,
        open_transactions=tuple(sorted(open_numbers)),
        first_signature_counter=first_counter,
        last_signature_counter=last_counter,
        info=info,
    )
