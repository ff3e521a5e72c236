"""An ESC/POS receipt printer: the codec and status decoders over one transport.

Blocking code: the daemon runs each printer in its own worker thread (the outbox
worker calls :meth:`EscPosPrinter.print_document` and :meth:`EscPosPrinter.kick_drawer`).
Before a job is sent the printer's real-time status is read; a printer that cannot
print (paper end, cover open, offline, unreachable) raises
:class:`PrinterNotReadyError` before any byte of the job leaves, so the job stays
queued and can be retried after the fault is cleared. Once the first byte of a job may
have left, every failure says the job may be partly printed (``partly_done``: the
retry is a copy): a connection lost while sending (:class:`JobSendError`), and after
the job, over the same connection and never a new one, a decoded fault, a lost
connection or no answer at all (:class:`PrintInterruptedError`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from posd_daemon.devices.errors import (
    DrawerKickExpired,
    EncodeError,
    JobSendError,
    PrinterJobError,
    PrinterNotReadyError,
    PrintInterruptedError,
    TransportError,
)
from posd_daemon.devices.escpos.codec import (
    STATUS_REQUEST_ALL,
    drawer_kick,
    drawer_kick_realtime,
    encode_document,
)
from posd_daemon.devices.escpos.profile import (
    CutMode,
    PrinterProfile,
    get_profile,
    profile_from_mapping,
)
from posd_daemon.devices.escpos.status import (
    AsbPacket,
    PrinterStatus,
    RealtimeReply,
    StatusStreamSplitter,
    UnknownByte,
    decode_asb,
    decode_status,
)
from posd_daemon.devices.transport import Transport, open_transport
from posd_daemon.domain.document import Document, Feed, Text

if TYPE_CHECKING:
    from posd_daemon.services.device_ports import CashDrawer, ReceiptPrinter

#: The slowest pace (bytes per second) at which a healthy printer is assumed to work off
#: a job: real-time requests sent right after the job may queue behind its bytes (a TCP
#: window closed by a full receive buffer, a slow serial line), so the wait for their
#: replies grows by one second per this many bytes of the job. Text at 100 mm/s is about
#: 1.2 KB/s on an 80 mm printer; half that leaves room for slower models.
AFTER_JOB_BYTES_PER_S = 500.0
#: The longest wait for the replies after a job (below the outbox's 120 s job timeout).
AFTER_JOB_MAX_WAIT_S = 60.0
#: How long after a status question gave up its missing replies are still expected, in
#: multiples of ``status_timeout`` (see :meth:`EscPosPrinter._settle`).
LATE_REPLY_GRACE_FACTOR = 2.0


@dataclass(frozen=True, slots=True)
class PrinterStatistics:
    """UnifiedPOS-style counters since the printer object was created."""

    jobs: int = 0
    lines: int = 0
    cuts: int = 0
    drawer_kicks: int = 0
    #: Failed operations: not-ready rejections and transport failures.
    errors: int = 0
    status_reads: int = 0
    bytes_written: int = 0


class EscPosPrinter:
    """One ESC/POS printer on one transport. Thread-safe (one lock), but blocking.

    ``check_status`` (default: the profile says the printer answers ``DLE EOT`` and the
    transport can read) makes every job and kick read the status first.
    ``status_timeout`` bounds how long :meth:`read_status` waits for the 4 replies;
    after a job the wait grows with its size (``after_job_bytes_per_s``).
    ``late_reply_grace`` (default ``LATE_REPLY_GRACE_FACTOR * status_timeout``): how long
    after a question gave up its missing replies may still arrive on a transport whose
    byte stream survives a reconnect (serial); the next question waits for them at most
    that long (see :meth:`_settle`).
    """

    def __init__(
        self,
        transport: Transport,
        profile: PrinterProfile,
        *,
        check_status: bool | None = None,
        status_timeout: float = 1.0,
        after_job_bytes_per_s: float = AFTER_JOB_BYTES_PER_S,
        late_reply_grace: float | None = None,
    ) -> None:
        self.transport = transport
        self.profile = profile
        if check_status is None:
            check_status = profile.realtime_status and bool(
                getattr(transport, "supports_read", True)
            )
        self.check_status = check_status
        self.status_timeout = status_timeout
        self.after_job_bytes_per_s = after_job_bytes_per_s
        if late_reply_grace is None:
            late_reply_grace = LATE_REPLY_GRACE_FACTOR * status_timeout
        self.late_reply_grace = late_reply_grace
        #: Replies still owed to a question that gave up, and until when they are
        #: expected (``time.monotonic()``); kept across a reconnect, which on a serial
        #: line does not stop them from coming.
        self._owed_replies = 0
        self._owed_until = 0.0
        self.last_status: PrinterStatus | None = None
        #: The latest automatic status back packet seen in the stream, decoded.
        self.last_asb: PrinterStatus | None = None
        self._lock = threading.RLock()
        self._open = False
        self._splitter = StatusStreamSplitter()
        self._stats = PrinterStatistics()

    # -- connection ----------------------------------------------------------------------

    def describe(self) -> str:
        return f"{self.profile.name} printer on {self.transport.describe()}"

    @property
    def columns(self) -> int:
        """Characters per line (font A): render documents for this width."""
        return self.profile.columns

    def open(self) -> None:
        """Connect now (otherwise the first operation connects). Raises TransportError."""
        with self._lock:
            self._ensure_open()

    def close(self) -> None:
        with self._lock:
            self._open = False
            self.transport.close()
            self._splitter.reset()

    def _ensure_open(self) -> bool:
        """Open the transport if needed; True if it was opened by this call."""
        if self._open:
            return False
        self.transport.open()
        self._open = True
        self._splitter.reset()
        return True

    def _drop(self) -> None:
        """Forget a broken connection: the next operation reconnects."""
        self._open = False
        self.transport.close()
        self._splitter.reset()

    def __enter__(self) -> EscPosPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statistics ----------------------------------------------------------------------

    @property
    def statistics(self) -> PrinterStatistics:
        """A snapshot of the counters."""
        with self._lock:
            return self._stats

    def _count(self, **deltas: int) -> None:
        self._stats = replace(
            self._stats, **{k: getattr(self._stats, k) + v for k, v in deltas.items()}
        )

    # -- status --------------------------------------------------------------------------

    def read_status(self) -> PrinterStatus:
        """Ask ``DLE EOT 1..4`` and wait for all four replies.

        Never raises for a dead printer: an unreachable or silent printer comes back as
        ``PrinterStatus(reachable=False, detail=...)``. Without status support
        (``check_status`` False) the printer is assumed ready (``known=False``).
        """
        with self._lock:
            if not self.check_status:
                status = self._assumed()
            else:
                status = self._read_status()
                self._count(status_reads=1)
            self.last_status = status
            return status

    def _read_status(self) -> PrinterStatus:
        for attempt in range(2):
            fresh = not self._open
            try:
                self._ensure_open()
                if not self._transport_reads():
                    return self._assumed()
                self._settle()
                self._drain()
                # Ref: after several real-time requests, wait for all replies before
                # sending data. The replies come back in request order.
                self.transport.write(STATUS_REQUEST_ALL)
                status = self._collect_replies()
                if not status.reachable:
                    # No complete answer in time (or garbage before it): the rest of the
                    # replies may still be on the way. The drain before the next question
                    # only takes what has arrived by then; replies arriving after it would
                    # be decoded as that question's answer (a paper end already fixed, or
                    # "ready" for a printer that has run out of paper since). Over TCP
                    # dropping the connection drops them with it, as after a job
                    # (_check_after_job); over a serial line they still come after the
                    # reopen, and the next question first waits for them (_settle).
                    self._drop_unanswered()
                return status
            except TransportError as exc:
                self._drop()
                # A connection that sat idle may have been dropped by the printer (or a
                # cable re-plugged): reconnect once before calling it unreachable.
                if fresh or attempt:
                    return PrinterStatus.unreachable(exc.message)
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop_unanswered(self) -> None:
        """Drop the connection after a question that got no complete answer. What of
        the owed replies has already arrived is counted first: reopening a serial port
        discards it, and :meth:`_settle` would wait in vain for it."""
        with contextlib.suppress(TransportError):
            self._settle(wait=False)
        self._drop()

    def _owe_replies(self, got: int) -> None:
        """Remember the replies a question that gave up (``got`` of 4) still owes."""
        if getattr(self.transport, "reopen_starts_fresh_stream", False):
            return  # dropping the connection (the caller does) ends them
        self._owed_replies = max(0, 4 - got)
        self._owed_until = time.monotonic() + self.late_reply_grace

    def _settle(self, *, wait: bool = True) -> None:
        """Before a question: read and discard the replies an earlier question that gave
        up still owes, waiting for them until its grace is over.

        Why this way: the replies to ``DLE EOT`` carry nothing that says which request
        they answer (ref: DLE EOT, every reply has bits 0, 1, 4, 7 fixed), so a late one
        cannot be told from a prompt one once the next question is out. Anything that
        arrives *before* the next question is sent cannot be its answer, so discarding it
        here never loses a genuine answer (a printer that was off and never answered
        leaves nothing to discard). Counting the owed bytes lets the wait end as soon as
        they are all in; the grace bounds it for a printer that never sends them. The
        cost falls only on a question that follows an unanswered one within the grace:
        a printer that answers at once owes nothing and never waits here. A reply later
        than the grace is still misread (no timing rule can exclude that on a stream).
        ``wait=False``: only count what has already arrived.
        """
        while self._owed_replies > 0:
            remaining = max(0.0, self._owed_until - time.monotonic()) if wait else 0.0
            if wait and remaining <= 0:
                break
            started = time.monotonic()
            data = self.transport.read(64, remaining)
            if data:
                replies: list[int] = []
                # ASB packets in between are decoded as ever; garbage owes nothing
                self._consume(data, replies)
                self._owed_replies = max(0, self._owed_replies - len(replies))
            elif not wait or not self._transport_reads():
                break
            elif time.monotonic() - started < remaining / 2:
                # The transport returned early without data: do not spin.
                time.sleep(min(0.02, max(0.0, self._owed_until - time.monotonic())))
        if wait:
            # all in, or the grace is over: they are not waited for again
            self._owed_replies = 0

    def _transport_reads(self) -> bool:
        """False once the transport knows it cannot read (a write-only device file)."""
        return bool(getattr(self.transport, "supports_read", True))

    def _assumed(self) -> PrinterStatus:
        return PrinterStatus.assumed_online(f"status not readable over {self.transport.describe()}")

    def _drain(self) -> None:
        """Consume stale input (late replies, ASB packets) before asking again."""
        for _ in range(64):
            data = self.transport.read(256, 0.0)
            if not data:
                break
            self._consume(data, [])
        self._splitter.reset()

    def _consume(self, data: bytes, replies: list[int], unknown: list[int] | None = None) -> None:
        for event in self._splitter.feed(data):
            if isinstance(event, RealtimeReply):
                replies.append(event.value)
            elif isinstance(event, AsbPacket):
                # the splitter checked the packet's shape already
                self.last_asb = decode_asb(event.data, self.profile.drawer_sensor)
            elif isinstance(event, UnknownByte) and unknown is not None:
                unknown.append(event.value)

    def _collect_replies(self, timeout: float | None = None) -> PrinterStatus:
        timeout = self.status_timeout if timeout is None else timeout
        replies: list[int] = []
        unknown: list[int] = []
        deadline = time.monotonic() + timeout
        while len(replies) < 4:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            started = time.monotonic()
            data = self.transport.read(64, remaining)
            if data:
                self._consume(data, replies, unknown)
            elif not self._transport_reads():
                return self._assumed()
            elif time.monotonic() - started < remaining / 2:
                # The transport returned early without data: do not spin.
                time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        where = self.transport.describe()
        if unknown or len(replies) < 4:
            self._owe_replies(len(replies))
        if unknown:
            # A printer answers DLE EOT with reply bytes only (ASB packets and XON/XOFF
            # aside). Other bytes mean this is no ESC/POS printer talking (a scale or
            # scanner on a port that moved, a wrong baud rate): the bytes that happen to
            # be shaped like replies must not be decoded as its paper or cover status.
            garbage = bytes(unknown[:8]).hex(" ")
            return PrinterStatus.unreachable(
                f"{where} sent {len(unknown)} unexpected byte(s) ({garbage}) instead of "
                "status replies: wrong baud rate, or not an ESC/POS printer?"
            )
        if len(replies) < 4:
            return PrinterStatus.unreachable(
                f"no status reply from {where} within {timeout:g} s "
                f"(got {len(replies)} of 4): printer off, cable unplugged, wrong port "
                "or baud rate"
            )
        return decode_status(replies[:4], self.profile.drawer_sensor)

    def _require_status(self, action: str, *, need_ready: bool) -> PrinterStatus | None:
        if not self.check_status:
            return None
        status = self.read_status()
        usable = status.ready if need_ready else (status.reachable and status.online)
        if not usable:
            self._count(errors=1)
            raise PrinterNotReadyError(status, action)
        return status

    # -- operations ----------------------------------------------------------------------

    def print_document(self, doc: Document) -> None:
        """Print ``doc`` (the status read before the job is in :attr:`last_status`).

        Raises :class:`PrinterNotReadyError` before sending anything when the printer
        cannot print (or cannot be reached), and once the job may have been sent, with
        ``partly_done`` (the receipt may be cut short, the retry must be a copy):
        :class:`JobSendError` when the connection fails while sending,
        :class:`PrintInterruptedError` when the status read right after the job reports
        a fault (paper end, cover open, error), the connection is lost, or no answer
        comes (see :meth:`_check_after_job`). :class:`PrinterJobError` for a document
        wider than the paper. All are :class:`DeviceError` (``services.device_ports``).
        """
        try:
            payload = encode_document(doc, self.profile)
        except EncodeError as exc:
            with self._lock:
                self._count(errors=1)
            raise PrinterJobError(str(exc)) from exc
        with self._lock:
            self._require_status("print", need_ready=True)
            self._connect()  # a failure to connect sends nothing: not partly done
            try:
                self._write(payload)
            except TransportError as exc:
                # some of the job may have reached the printer (and its paper)
                raise JobSendError(exc.message, exc.code) from exc
            lines = sum(1 for b in doc.blocks if isinstance(b, Text)) + sum(
                max(0, b.lines) for b in doc.blocks if isinstance(b, Feed)
            )
            cuts = 1 if doc.cut and self.profile.cut is not CutMode.NONE else 0
            self._count(jobs=1, lines=lines, cuts=cuts)
            if self.check_status:
                self._check_after_job(len(payload))

    def after_job_timeout(self, size: int) -> float:
        """How long the replies to the status asked right after a job of ``size`` bytes
        are waited for: they may queue behind the job's bytes on a slow printer."""
        extra = size / self.after_job_bytes_per_s if self.after_job_bytes_per_s > 0 else 0.0
        return self.status_timeout + min(extra, AFTER_JOB_MAX_WAIT_S)

    def _check_after_job(self, size: int) -> None:
        """Read ``DLE EOT 1..4`` again once the job is sent: paper end stops the printer
        (ref: DLE EOT 2 bit 5), so a roll that ended, or a cover opened, during the job
        has left the receipt cut short, and the job must not count as printed.

        * Over the connection the job went out on, never a new one: a printer that lost
          the connection (a reboot, a power blip) lost its buffer with it, and a
          reconnect would report the rebooted printer fine. A lost connection or end of
          stream here is :class:`PrintInterruptedError` (partly done).
        * The requests are answered when the printer receives them, which on a slow
          printer is after it has worked off most of the job: the replies are waited
          for :meth:`after_job_timeout` (grows with the job's size), not the usual
          ``status_timeout``.
        * Only a decoded fault counts as interrupted: paper end, cover open, an error
          bit. Offline alone (e.g. the FEED button pressed meanwhile) does not.
        * No (complete) answer within that deadline is unknown. It counts as
          interrupted: marking the job done would lose the receipt if the printer is
          gone, while the other way round the worst case is one extra copy marked
          ``*** KOPIE ***`` from a printer that is alive but slower than
          ``after_job_bytes_per_s``. The connection is dropped (late replies must not
          answer the next request).

        The same real-time status as before a job, not ``GS ( H`` (a reply once the
        printer has processed all data before it): devices.md does not document that
        command and the project's simulators do not implement it. A fault while the
        printer still works off its receive buffer after answering can follow this
        check unnoticed (the status poll reports it; the job is done by then).
        """
        timeout = self.after_job_timeout(size)
        try:
            self._settle()  # owes nothing here: the status before the job was complete
            self._drain()
            self.transport.write(STATUS_REQUEST_ALL)
            status = self._collect_replies(timeout)
        except TransportError as exc:
            self._drop()
            status = PrinterStatus.unreachable(
                f"connection lost right after the job: {exc.message}"
            )
        self._count(status_reads=1)
        self.last_status = status
        if not status.reachable:
            self._drop_unanswered()
        elif not (status.paper_end or status.cover_open or status.has_error):
            return
        self._count(errors=1)
        raise PrintInterruptedError(status)

    def kick_drawer(
        self, pin: int | None = None, on_ms: int | None = None, off_ms: int | None = None
    ) -> PrinterStatus | None:
        """Pulse the drawer kick-out connector (defaults from the profile).

        With ``ESC p`` the printer must be online: an offline printer would keep the
        kick in its buffer and pop the drawer open later, when nobody expects it. With
        the profile's ``realtime_drawer_kick`` (``DLE DC4``) the pulse goes out even
        when the printer is offline. If the profile has the "read status after kick"
        quirk, the status is read right after and returned.
        """
        pin = self.profile.drawer_pin if pin is None else pin
        on_ms = self.profile.drawer_on_ms if on_ms is None else on_ms
        off_ms = self.profile.drawer_off_ms if off_ms is None else off_ms
        if self.profile.realtime_drawer_kick:
            payload = drawer_kick_realtime(pin, on_ms)
        else:
            payload = drawer_kick(pin, on_ms, off_ms)
        with self._lock:
            status = None
            if not self.profile.realtime_drawer_kick:
                status = self._require_status("open the drawer", need_ready=False)
            self._write(payload)
            self._count(drawer_kicks=1)
            if self.profile.read_status_after_kick and self.check_status:
                return self.read_status()
            return status

    def write_raw(self, data: bytes) -> None:
        """Send bytes as they are (a test page, a daisy-chained display's output)."""
        with self._lock:
            self._write(data)

    def _connect(self) -> None:
        try:
            self._ensure_open()
        except TransportError:
            self._count(errors=1)
            self._drop()
            raise

    def _write(self, data: bytes) -> None:
        self._connect()
        try:
            self.transport.write(data)
        except TransportError:
            self._count(errors=1)
            self._drop()
            raise
        self._count(bytes_written=len(data))


def open_printer(
    url: str,
    profile: PrinterProfile | str | Mapping[str, Any] = "generic-80mm",
    *,
    usb_backend: object | None = None,
    check_status: bool | None = None,
    status_timeout: float = 1.0,
) -> EscPosPrinter:
    """An (unconnected) printer from configuration values.

    ``url`` is a device URL (``tcp://``, ``serial://``, ``usb://``, ``file://``);
    ``profile`` a built-in profile name, a profile, or a config mapping (see
    :func:`~posd_daemon.devices.escpos.profile.profile_from_mapping`). Raises
    DeviceUrlError / ProfileError for bad configuration.
    """
    if isinstance(profile, str):
        profile = get_profile(profile)
    elif not isinstance(profile, PrinterProfile):
        profile = profile_from_mapping(profile)
    return EscPosPrinter(
        open_transport(url, usb_backend=usb_backend),
        profile,
        check_status=check_status,
        status_timeout=status_timeout,
    )


class PrinterDrawer:
    """The cash drawer on a printer's kick-out connector (``services.device_ports``
    ``CashDrawer``: ``open()`` kicks it)."""

    def __init__(
        self,
        printer: EscPosPrinter,
        *,
        pin: int | None = None,
        on_ms: int | None = None,
        off_ms: int | None = None,
    ) -> None:
        self.printer = printer
        self.pin, self.on_ms, self.off_ms = pin, on_ms, off_ms

    def open(self, not_after: float | None = None) -> None:
        """Kick the drawer; raises PrinterNotReadyError/TransportError (DeviceError), and
        DrawerKickExpired after ``not_after`` (``time.monotonic()``)."""
        if not_after is not None and time.monotonic() > not_after:
            raise DrawerKickExpired("the drawer kick came after its deadline: not done")
        self.printer.kick_drawer(self.pin, self.on_ms, self.off_ms)

    def is_open(self) -> bool | None:
        """The drawer sensor (None: no sensor or no status)."""
        return self.printer.read_status().drawer_open


if TYPE_CHECKING:

    def _implements_ports(p: EscPosPrinter, d: PrinterDrawer) -> tuple[ReceiptPrinter, CashDrawer]:
        """Type check only: the adapters fit the use cases' device ports."""
        return p, d
