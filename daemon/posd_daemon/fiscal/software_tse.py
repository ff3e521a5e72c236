"""A software TSE for development and training. It is NOT a certified TSE.

It behaves like a TR-03151/TR-03153 TSE as far as software can: its own EC key
(P-256 by default; P-384, brainpoolP256r1, brainpoolP384r1 selectable), a self-signed
X.509 certificate, serial number = SHA-256 of the uncompressed public key point, one
signature counter over all log messages, transaction numbers, TR-03151 log messages with
plain ECDSA signatures, and a TAR export with TR-03153 file names.

Durability: counters, clients, transactions and every signed log message live in one
SQLite file (WAL, synchronous=FULL). Each operation reads the counters, signs, stores the
log message and bumps the counters in ONE database transaction, and only returns after
the commit: a crash either loses the whole operation (its counter was never handed out)
or keeps all of it, so counters are never reused and never skipped. Counters are read
inside the write transaction, so even two processes on the same state directory stay
consistent. A lock makes an instance safe to call from several threads; the export
reads a snapshot on a connection of its own without that lock, beside the signing.

State directory layout::

    tse-key.pem      PKCS#8 private key, mode 0600 (unencrypted: a development TSE)
    tse-cert.der     self-signed certificate
    tse.sqlite3      counters, clients, transactions, log messages (mode 0600)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from posd_daemon.fiscal import der, process_data
from posd_daemon.fiscal import log_message as lm
from posd_daemon.services.tse_port import (
    TseError,
    TseInfo,
    TseLogResult,
    TseOperation,
    TseState,
)

MANUFACTURER = "posd"
MODEL = "posd software TSE (NOT CERTIFIED, development/training only)"
FIRMWARE_VERSION = "posd-software-tse-1"
CERTIFICATE_CN = "posd software TSE - NOT CERTIFIED"
TIME_FORMAT = lm.TimeFormat.UNIX

KEY_FILE = "tse-key.pem"
CERT_FILE = "tse-cert.der"
DB_FILE = "tse.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    signature_counter INTEGER NOT NULL,
    transaction_counter INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (id, signature_counter, transaction_counter) VALUES (1, 0, 0);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    registered_counter INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    number INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    start_counter INTEGER NOT NULL UNIQUE,
    finish_counter INTEGER UNIQUE
);
CREATE INDEX IF NOT EXISTS transactions_open ON transactions (client_id)
    WHERE finish_counter IS NULL;
CREATE TABLE IF NOT EXISTS log_messages (
    signature_counter INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('Tra', 'Sys')),
    operation TEXT NOT NULL,
    transaction_number INTEGER,
    log_time INTEGER NOT NULL,
    message BLOB NOT NULL
);
"""

_OPERATIONS = {
    lm.OPERATION_START: TseOperation.START,
    lm.OPERATION_UPDATE: TseOperation.UPDATE,
    lm.OPERATION_FINISH: TseOperation.FINISH,
}


def _default_clock() -> datetime:
    return datetime.now(UTC)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new_file(path: Path, data: bytes) -> bool:
    """Creates ``path`` atomically with mode 0600; False if it already exists."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process created it first
        except FileExistsError:
            return False
        _fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class SoftwareTse:
    """A :class:`~posd_daemon.services.tse_port.Tse` in software. NOT a certified TSE."""

    def __init__(
        self,
        state_dir: Path,
        curve: str = "P-256",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        try:
            self._curve = lm.curve_by_name(curve)
        except ValueError as exc:
            raise TseError("INVALID_ARGUMENT", str(exc), transient=False) from None
        self._dir = Path(state_dir)
        self._clock = clock or _default_clock
        self._lock = threading.RLock()
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = self._open_db()
        try:
            self._key = self._load_or_create_key()
            self._public_point = lm.public_point(self._key.public_key())
            self._serial = hashlib.sha256(self._public_point).digest()
            self._certificate = self._load_or_create_certificate()
            self._initialize()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ setup

    def _open_db(self) -> sqlite3.Connection:
        path = self._dir / DB_FILE
        if not path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise TseError("STORAGE", f"cannot open {path}: {exc}", transient=False) from exc
        return conn

    def _meta(self, key: str) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _load_or_create_key(self) -> ec.EllipticCurvePrivateKey:
        path = self._dir / KEY_FILE
        if not path.exists():
            if self._meta("serial") is not None:
                raise TseError(
                    "KEY_MISSING", f"{path} is gone but the TSE has signed before", transient=False
                )
            key = ec.generate_private_key(self._curve.ec_curve())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _write_new_file(path, pem)  # if another process won the race, load theirs
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise TseError("KEY_INVALID", f"{path} is not an EC key", transient=False)
        stored_curve = lm.curve_of_key(loaded)
        if stored_curve != self._curve:
            raise TseError(
                "CURVE_MISMATCH",
                f"state dir holds a {stored_curve.name} key, {self._curve.name} was asked for",
                transient=False,
            )
        return loaded

    def _load_or_create_certificate(self) -> bytes:
        path = self._dir / CERT_FILE
        if not path.exists():
            _write_new_file(path, self._make_certificate())
        cert_der = path.read_bytes()
        cert = x509.load_der_x509_certificate(cert_der)
        cert_key = cert.public_key()
        if (
            not isinstance(cert_key, ec.EllipticCurvePublicKey)
            or lm.public_point(cert_key) != self._public_point
        ):
            raise TseError("KEY_MISMATCH", f"{path} does not match the key", transient=False)
        return cert_der

    def _make_certificate(self) -> bytes:
        now = self._now()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_CN),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, MANUFACTURER),
                x509.NameAttribute(
                    NameOID.ORGANIZATIONAL_UNIT_NAME, "development/training only, no BSI TSE"
                ),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, self._serial.hex()),
            ]
        )
        public_key = self._key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365 * 15))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        cert_hash = hashes.SHA384() if self._curve.size > 32 else hashes.SHA256()
        cert = builder.sign(self._key, cert_hash)
        return cert.public_bytes(serialization.Encoding.DER)

    def _initialize(self) -> None:
        """First start: record the serial and sign the ``initialize`` system log."""
        stored = self._meta("serial")
        if stored is not None:
            if stored != self._serial.hex():
                raise TseError("KEY_MISMATCH", "database belongs to another key", transient=False)
            return

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone():
                raise _AlreadyDone
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('serial', ?)", (self._serial.hex(),)
            )
            conn.execute("INSERT INTO meta (key, value) VALUES ('curve', ?)", (self._curve.name,))

        with contextlib.suppress(_AlreadyDone):
            self._system_log(
                "initialize", lm.initialize_operation_data(CERTIFICATE_CN), before=work
            )

    # ------------------------------------------------------------------ helpers

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise TseError("CLOSED", "the software TSE is closed", transient=False)
        return self._conn

    def _now(self) -> datetime:
        moment = self._clock()
        if moment.tzinfo is None:
            raise TseError("INVALID_TIME", "clock returned a naive datetime", transient=False)
        return moment.astimezone(UTC)

    @staticmethod
    def _printable(value: str, what: str) -> str:
        try:
            der.check_printable(value)
        except der.DerError:
            raise TseError(
                "INVALID_ARGUMENT", f"{what} {value!r} is not a PrintableString", transient=False
            ) from None
        if not value:
            raise TseError("INVALID_ARGUMENT", f"{what} must not be empty", transient=False)
        return value

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; commits on success, rolls back on any error."""
        conn = self._db()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise TseError("STORAGE", f"cannot begin: {exc}") from exc
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise TseError("STORAGE", f"commit failed: {exc}") from exc

    def _sign(
        self, conn: sqlite3.Connection, certified_type: str, certified: bytes, log_time: int
    ) -> tuple[int, bytes, bytes]:
        """Signs the next log message in the open transaction: (counter, message, signature)."""
        # drawn and moved in one statement (the transaction is rolled back on any failure
        # below, the counter with it): on the pay path every statement hands the GIL to
        # the daemon's database thread and waits to get it back
        # (fetchall: the statement runs to its end, so nothing is left in progress)
        [(moved,)] = conn.execute(
            "UPDATE counters SET signature_counter = signature_counter + 1 WHERE id = 1"
            " RETURNING signature_counter"
        ).fetchall()
        counter = int(moved)
        signed = lm.encode_signed_part(
            certified_data_type=certified_type,
            certified_data=certified,
            serial_number=self._serial,
            signature_algorithm=self._curve.signature_algorithm,
            signature_counter=counter,
            log_time=log_time,
            time_format=TIME_FORMAT,
        )
        signature = lm.sign_plain(self._key, self._curve.signature_algorithm, signed)
        return counter, lm.assemble_log_message(signed, signature), signature

    def _system_log(
        self,
        operation: str,
        operation_data: bytes,
        *,
        before: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        log_time = int(self._now().timestamp())
        certified = lm.SystemData(operation, operation_data).encode()
        try:
            with self._write() as conn:
                if before is not None:
                    before(conn)
                counter, message, _ = self._sign(conn, lm.OID_SYSTEM_LOG, certified, log_time)
                conn.execute(
                    "INSERT INTO log_messages (signature_counter, kind, operation,"
                    " transaction_number, log_time, message) VALUES (?, 'Sys', ?, NULL, ?, ?)",
                    (counter, operation, log_time, message),
                )
        except sqlite3.Error as exc:
            raise TseError("STORAGE", str(exc)) from exc
        return counter

    # ------------------------------------------------------------------ Tse port

    def info(self) -> TseInfo:
        with self._lock:
            conn = self._db()
            try:
                sig, tx = conn.execute(
                    "SELECT signature_counter, transaction_counter FROM counters WHERE id = 1"
                ).fetchone()
                clients = tuple(
                    str(r[0])
                    for r in conn.execute("SELECT client_id FROM clients ORDER BY client_id")
                )
            except sqlite3.Error as exc:
                raise TseError("STORAGE", str(exc)) from exc
            return TseInfo(
                manufacturer=MANUFACTURER,
                model=MODEL,
                serial_number=self._serial,
                public_key=self._public_point,
                certificates=(self._certificate,),
                signature_algorithm=self._curve.signature_algorithm,
                time_format=TIME_FORMAT.value,
                signature_counter=int(sig),
                transaction_counter=int(tx),
                state=TseState.INITIALIZED,
                certified=False,
                firmware_version=FIRMWARE_VERSION,
                registered_clients=clients,
            )

    @property
    def curve(self) -> str:
        return self._curve.name

    def self_test(self) -> None:
        """Checks key, storage and counters, then logs a ``selfTest`` system log."""
        with self._lock:
            conn = self._db()
            problems: list[str] = []
            probe = b"posd software TSE self test " + os.urandom(16)
            signature = lm.sign_plain(self._key, self._curve.signature_algorithm, probe)
            cert_key = x509.load_der_x509_certificate(self._certificate).public_key()
            if not isinstance(cert_key, ec.EllipticCurvePublicKey) or not lm.verify_plain(
                cert_key, self._curve.signature_algorithm, probe, signature
            ):
                problems.append("test signature does not verify with the certificate")
            try:
                (check,) = conn.execute("PRAGMA quick_check").fetchone()
                if check != "ok":
                    problems.append(f"database check: {check}")
                sig, tx = conn.execute(
                    "SELECT signature_counter, transaction_counter FROM counters WHERE id = 1"
                ).fetchone()
                n_logs, max_logs = conn.execute(
                    "SELECT COUNT(*), COALESCE(MAX(signature_counter), 0) FROM log_messages"
                ).fetchone()
                if not sig == n_logs == max_logs:
                    problems.append(
                        f"signature counter {sig}, {n_logs} log messages, highest {max_logs}"
                    )
                n_tx, max_tx = conn.execute(
                    "SELECT COUNT(*), COALESCE(MAX(number), 0) FROM transactions"
                ).fetchone()
                if not tx == n_tx == max_tx:
                    problems.append(
                        f"transaction counter {tx}, {n_tx} transactions, highest {max_tx}"
                    )
                last = conn.execute(
                    "SELECT message FROM log_messages ORDER BY signature_counter DESC LIMIT 1"
                ).fetchone()
                if last is not None:
                    message = lm.parse_log_message(bytes(last[0]))
                    if message.serial_number != self._serial or not message.verify(
                        self._key.public_key()
                    ):
                        problems.append(
                            f"stored log message {message.signature_counter} is invalid"
                        )
            except (sqlite3.Error, ValueError) as exc:
                problems.append(f"storage: {exc}")
            if problems:
                raise TseError("SELF_TEST_FAILED", "; ".join(problems), transient=False)
            self._system_log("selfTest", lm.self_test_operation_data("posd software TSE", True))

    def register_client(self, client_id: str) -> None:
        with self._lock:
            self._printable(client_id, "clientId")
            if "/" in client_id:
                raise TseError("INVALID_ARGUMENT", "clientId must not contain '/'", transient=False)

            def work(conn: sqlite3.Connection) -> None:
                row = conn.execute(
                    "SELECT 1 FROM clients WHERE client_id = ?", (client_id,)
                ).fetchone()
                if row is not None:
                    raise _AlreadyDone
                (last,) = conn.execute(
                    "SELECT signature_counter FROM counters WHERE id = 1"
                ).fetchone()
                conn.execute(
                    "INSERT INTO clients (client_id, registered_counter) VALUES (?, ?)",
                    (client_id, int(last) + 1),
                )

            with contextlib.suppress(_AlreadyDone):
                self._system_log(
                    "registerClient", lm.register_client_operation_data(client_id), before=work
                )

    def start_transaction(
        self, client_id: str, process_type: str, process_data: bytes
    ) -> TseLogResult:
        return self._transaction(lm.OPERATION_START, client_id, None, process_type, process_data)

    def update_transaction(
        self, client_id: str, transaction_number: int, process_type: str, process_data: bytes
    ) -> TseLogResult:
        return self._transaction(
            lm.OPERATION_UPDATE, client_id, transaction_number, process_type, process_data
        )

    def finish_transaction(
        self, client_id: str, transaction_number: int, process_type: str, process_data: bytes
    ) -> TseLogResult:
        """Finishes a transaction. Idempotent: finishing an already finished transaction
        again with the same processType and processData returns the stored result (as
        fiskaly does for a repeated revision), which the daemon's crash reconciliation
        relies on. Different data for a finished transaction is refused.

        Whether it is finished is decided inside the signing transaction (see
        :meth:`_transaction`), so a repeated finish racing the first one (another thread,
        or another instance on the same state directory) gets the stored result too."""
        return self._transaction(
            lm.OPERATION_FINISH, client_id, transaction_number, process_type, process_data
        )

    def _finished_result(
        self, client_id: str, number: int, process_type: str, data: bytes
    ) -> TseLogResult | None:
        with self._lock:
            try:
                row = (
                    self._db()
                    .execute(
                        "SELECT t.start_time, m.message FROM transactions t JOIN log_messages m"
                        " ON m.signature_counter = t.finish_counter WHERE t.number = ?",
                        (number,),
                    )
                    .fetchone()
                )
            except sqlite3.Error as exc:
                raise TseError("STORAGE", str(exc)) from exc
        if row is None:
            return None
        msg = lm.parse_log_message(bytes(row[1]))
        tx = msg.transaction
        if (
            tx is None
            or tx.client_id != client_id
            or tx.process_type != process_type
            or tx.process_data != bytes(data)
        ):
            raise TseError(
                "UNKNOWN_TRANSACTION",
                f"transaction {number} is already finished with other data",
                transient=False,
            )
        return TseLogResult(
            operation=TseOperation.FINISH,
            client_id=client_id,
            transaction_number=number,
            signature_counter=msg.signature_counter,
            log_time=msg.log_time,
            process_type=process_type,
            process_data=tx.process_data,
            signature=msg.signature_value,
            start_time=datetime.fromtimestamp(int(row[0]), UTC),
        )

    def cancel_transaction(self, client_id: str, transaction_number: int) -> TseLogResult:
        """Finishes as AVBelegabbruch; idempotent like :meth:`finish_transaction` (a
        cancellation repeated after its saving failed gets the stored result)."""
        kind = process_data.PROCESS_TYPE_KASSENBELEG
        data = process_data.encode(process_data.AVBELEGABBRUCH)
        return self._transaction(lm.OPERATION_FINISH, client_id, transaction_number, kind, data)

    def open_transactions(self, client_id: str) -> Sequence[int]:
        with self._lock:
            try:
                rows = self._db().execute(
                    "SELECT number FROM transactions WHERE client_id = ? AND finish_counter IS NULL"
                    " ORDER BY number",
                    (client_id,),
                )
                return [int(r[0]) for r in rows]
            except sqlite3.Error as exc:
                raise TseError("STORAGE", str(exc)) from exc

    def export(self, out: BinaryIO, abort: threading.Event | None = None) -> None:
        """Writes all log messages, the certificate and info.csv as a TAR.

        Runs beside signing (TSE port): it does not take the TSE's lock, and reads on a
        SQLite connection of its own, opened and closed on the export's thread (the
        TSE's connection belongs to the signing calls under the lock). Its one read
        transaction is, in WAL mode, a snapshot that a commit of a signing call neither
        waits for nor changes: the export holds every log message up to the last counter
        committed when it began, without gaps, and a transaction started but not
        finished then appears with the messages signed so far (its start), as it always
        did: ``verify_export(..., allow_open_transactions=True)`` accepts it, a later
        export has its finish. ``abort`` set ends it between two log messages
        (``EXPORT_ABORTED``).
        """
        # tarfile and the writer only when exporting (a few hundred KB of idle memory)
        from posd_daemon.fiscal import tar_export  # noqa: PLC0415

        with self._lock:
            self._db()  # a closed TSE exports nothing
        info = tar_export.ExportInfo(
            description=MODEL, manufacturer=MANUFACTURER, version=FIRMWARE_VERSION
        )
        path = self._dir / DB_FILE
        try:
            conn = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise TseError("STORAGE", f"cannot open {path}: {exc}") from exc
        try:
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("BEGIN")  # the snapshot starts with the first read below
            try:
                rows = conn.execute("SELECT message FROM log_messages ORDER BY signature_counter")

                def messages() -> Iterator[bytes]:
                    for (raw,) in rows:
                        if abort is not None and abort.is_set():
                            raise _ExportAborted
                        yield bytes(raw)

                tar_export.write_export(out, messages(), [self._certificate], info)
            finally:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")  # read only: ends the snapshot
        except _ExportAborted:
            raise TseError("EXPORT_ABORTED", "the export was aborted", transient=False) from None
        except sqlite3.Error as exc:
            raise TseError("STORAGE", str(exc)) from exc
        except ValueError as exc:  # a stored log message no longer parses
            raise TseError("EXPORT_FAILED", str(exc), transient=False) from exc
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def __enter__(self) -> SoftwareTse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions

    def _transaction(
        self,
        operation: str,
        client_id: str,
        number: int | None,
        process_type: str,
        data: bytes,
    ) -> TseLogResult:
        self._printable(client_id, "clientId")
        self._printable(process_type, "processType")
        if not isinstance(data, bytes | bytearray):
            raise TseError("INVALID_ARGUMENT", "processData must be bytes", transient=False)
        data = bytes(data)
        with self._lock:
            log_time = int(self._now().timestamp())
            try:
                return self._sign_transaction(
                    operation, client_id, number, process_type, data, log_time
                )
            except _AlreadyFinished:
                pass
            # A finish of a transaction whose finish is already committed: the same data
            # gets the stored result (idempotent), other data is refused. Decided here,
            # after the signing transaction saw the finish, not by a look before it: a
            # look outside that transaction races a concurrent identical finish, which
            # then failed with "already finished" although it had been signed.
            done = self._finished_result(client_id, number or 0, process_type, data)
        if done is None:  # the finish's log message is missing: damaged storage
            raise TseError(
                "UNKNOWN_TRANSACTION", f"transaction {number} is already finished", transient=False
            )
        return done

    def _sign_transaction(
        self,
        operation: str,
        client_id: str,
        number: int | None,
        process_type: str,
        data: bytes,
        log_time: int,
    ) -> TseLogResult:
        """Signs and stores one transaction log message (caller holds the lock); raises
        :class:`_AlreadyFinished` for a finish of a finished transaction."""
        try:
            with self._write() as conn:
                # the client and (for an update or finish) the transaction in one read
                registered, row = self._client_and_transaction(conn, client_id, number)
                if not registered:
                    raise TseError(
                        "CLIENT_NOT_REGISTERED",
                        f"client {client_id!r} is not registered with this TSE",
                        transient=False,
                    )
                if number is None:
                    (last_tx,) = conn.execute(
                        "SELECT transaction_counter FROM counters WHERE id = 1"
                    ).fetchone()
                    number = int(last_tx) + 1
                    start_time = log_time
                else:
                    start_time = self._open_transaction(row, client_id, number, operation)
                certified = lm.TransactionData(
                    operation_type=operation,
                    client_id=client_id,
                    process_data=data,
                    process_type=process_type,
                    transaction_number=number,
                ).encode()
                counter, message, signature = self._sign(
                    conn, lm.OID_TRANSACTION_LOG, certified, log_time
                )
                conn.execute(
                    "INSERT INTO log_messages (signature_counter, kind, operation,"
                    " transaction_number, log_time, message) VALUES (?, 'Tra', ?, ?, ?, ?)",
                    (counter, operation, number, log_time, message),
                )
                if operation == lm.OPERATION_START:
                    conn.execute(
                        "INSERT INTO transactions (number, client_id, start_time,"
                        " start_counter) VALUES (?, ?, ?, ?)",
                        (number, client_id, log_time, counter),
                    )
                    conn.execute(
                        "UPDATE counters SET transaction_counter = ? WHERE id = 1", (number,)
                    )
                elif operation == lm.OPERATION_FINISH:
                    conn.execute(
                        "UPDATE transactions SET finish_counter = ? WHERE number = ?",
                        (counter, number),
                    )
        except sqlite3.Error as exc:
            raise TseError("STORAGE", str(exc)) from exc
        return TseLogResult(
            operation=_OPERATIONS[operation],
            client_id=client_id,
            transaction_number=number,
            signature_counter=counter,
            log_time=datetime.fromtimestamp(log_time, UTC),
            process_type=process_type,
            process_data=data,
            signature=signature,
            start_time=datetime.fromtimestamp(start_time, UTC),
        )

    @staticmethod
    def _client_and_transaction(
        conn: sqlite3.Connection, client_id: str, number: int | None
    ) -> tuple[bool, tuple[str, int, int | None] | None]:
        """Is the client registered; the transaction's (client_id, start_time,
        finish_counter), None when unknown (or no number given). One statement."""
        found = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM clients WHERE client_id = ?),"
            " t.client_id, t.start_time, t.finish_counter"
            " FROM (SELECT 1) LEFT JOIN transactions AS t ON t.number = ?",
            (client_id, number),
        ).fetchone()
        row = None if found[1] is None else (str(found[1]), int(found[2]), found[3])
        return bool(found[0]), row

    @staticmethod
    def _open_transaction(
        row: tuple[str, int, int | None] | None, client_id: str, number: int, operation: str
    ) -> int:
        if row is not None and row[2] is not None and operation == lm.OPERATION_FINISH:
            raise _AlreadyFinished  # rolls back; the caller answers from the stored finish
        if row is None or row[2] is not None:
            state = "unknown" if row is None else "already finished"
            raise TseError(
                "UNKNOWN_TRANSACTION", f"transaction {number} is {state}", transient=False
            )
        if row[0] != client_id:
            raise TseError(
                "CLIENT_MISMATCH",
                f"transaction {number} belongs to client {row[0]!r}, not {client_id!r}",
                transient=False,
            )
        return int(row[1])


class _AlreadyDone(Exception):
    """Internal: the idempotent operation was already done (rolls the transaction back)."""


class _AlreadyFinished(Exception):
    """Internal: a finish of a transaction whose finish is already stored."""


class _ExportAborted(Exception):
    """Internal: the export's abort event was set."""
