"""The TSE port: the one interface the sale code uses for fiscal signing.

Every backend (software TSE, fiskaly SIGN DE cloud TSE, and later hardware TSEs from
Swissbit, cryptovision, Epson or Diebold Nixdorf) implements :class:`Tse`. The sale code
never knows which backend is behind it.

The port is synchronous on purpose: a TSE is a device with one serialised queue. The
caller runs it in a dedicated worker thread and applies the outage timeout there
(see ``services/fiscal``), so backends stay simple blocking code. The one exception is
:meth:`Tse.export`: it runs on a thread of its own beside the transaction calls.

Terms follow BSI TR-03151 / TR-03153 (see ../shared/reference/fiscal-de.md).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable


class TseState(enum.Enum):
    """Life cycle state of a TSE (TR-03153: uninitialised, initialised, disabled)."""

    UNINITIALIZED = "UNINITIALIZED"
    INITIALIZED = "INITIALIZED"
    DISABLED = "DISABLED"


class TseOperation(enum.Enum):
    """operationType of a transaction log message (TR-03151)."""

    START = "StartTransaction"
    UPDATE = "UpdateTransaction"
    FINISH = "FinishTransaction"


@dataclass(frozen=True, slots=True)
class TseInfo:
    """What a TSE says about itself."""

    manufacturer: str
    model: str
    #: SHA-256 of the uncompressed public key point 04||X||Y, 32 bytes.
    serial_number: bytes
    #: Uncompressed public key point 04||X||Y.
    public_key: bytes
    #: DER certificates: the TSE's own first, then the chain up to the root.
    certificates: tuple[bytes, ...]
    #: e.g. "ecdsa-plain-SHA256" (the DSFinV-K name of the signature algorithm).
    signature_algorithm: str
    #: e.g. "unixTime", "utcTime", "generalizedTime".
    time_format: str
    signature_counter: int
    transaction_counter: int
    state: TseState
    #: False for anything that is not a BSI-certified TSE (e.g. the software TSE).
    certified: bool
    firmware_version: str = ""
    #: Client ids registered with this TSE.
    registered_clients: tuple[str, ...] = ()

    @property
    def serial_hex(self) -> str:
        return self.serial_number.hex()


@dataclass(frozen=True, slots=True)
class TseLogResult:
    """The signed result of one transaction operation (one log message)."""

    operation: TseOperation
    client_id: str
    transaction_number: int
    signature_counter: int
    #: Moment the TSE signed the log message (timezone-aware UTC).
    log_time: datetime
    process_type: str
    process_data: bytes
    #: "Plain" ECDSA signature r||s (TR-03111), base64 on receipts and in the QR code.
    signature: bytes
    #: Start time of the transaction (equals log_time for a start).
    start_time: datetime


class TseError(Exception):
    """A TSE operation failed.

    ``code`` is a short stable machine code (e.g. ``TIMEOUT``, ``UNREACHABLE``,
    ``HTTP_503``, ``NOT_INITIALIZED``, ``UNKNOWN_TRANSACTION``) used in outage records.
    ``transient`` tells whether retrying later may succeed (network, timeouts): a
    transient error opens an outage, a permanent one (bad request) is a bug to report.
    """

    def __init__(self, code: str, message: str, *, transient: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.transient = transient


@runtime_checkable
class Tse(Protocol):
    """A technical security system (Technische Sicherheitseinrichtung)."""

    def info(self) -> TseInfo:
        """Manufacturer, serial, key, certificates, counters and state."""
        ...

    def self_test(self) -> None:
        """Runs the TSE's self test; raises :class:`TseError` when it fails."""
        ...

    def register_client(self, client_id: str) -> None:
        """Registers the register's client id (idempotent)."""
        ...

    def start_transaction(
        self, client_id: str, process_type: str, process_data: bytes
    ) -> TseLogResult:
        """Starts a transaction; the result carries its new transaction number."""
        ...

    def update_transaction(
        self, client_id: str, transaction_number: int, process_type: str, process_data: bytes
    ) -> TseLogResult:
        """Signs an update of an open transaction."""
        ...

    def finish_transaction(
        self, client_id: str, transaction_number: int, process_type: str, process_data: bytes
    ) -> TseLogResult:
        """Finishes an open transaction (for a receipt: its processData)."""
        ...

    def cancel_transaction(self, client_id: str, transaction_number: int) -> TseLogResult:
        """Ends an open transaction as aborted.

        The result is a FinishTransaction log message with processType
        ``Kassenbeleg-V1`` and processData ``AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^``
        (fiscal-de.md, processData); cloud backends map it to their CANCELLED state.
        """
        ...

    def open_transactions(self, client_id: str) -> Sequence[int]:
        """Transaction numbers started but not finished (for start-up reconciliation)."""
        ...

    def export(self, out: BinaryIO, abort: threading.Event | None = None) -> None:
        """Writes the TSE export (TAR, TR-03153 file names) to ``out``.

        Unlike every other call, an export may run on its own thread *beside* the
        transaction calls (it takes minutes, and selling must not wait for it): a backend
        must neither hold the lock its signing uses for the export's duration nor share
        a connection that is not thread-safe with it. The export is a consistent
        snapshot: every log message up to one signature counter, a transaction open at
        that moment as far as it was signed then. At most one export runs at a time (the
        caller ensures it). ``abort`` set (the daemon stopping, the caller's timeout)
        ends it soon, with :class:`TseError` ``EXPORT_ABORTED``; ``out`` then holds part
        of a TAR that the caller discards.
        """
        ...

    def close(self) -> None:
        """Releases the device/session."""
        ...
