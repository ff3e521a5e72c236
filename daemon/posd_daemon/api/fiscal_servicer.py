"""FiscalService: TSE info, self test, export, outage journal."""

from __future__ import annotations

import base64
import csv
import functools
import io
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, tzinfo
from typing import IO, Any

from google.protobuf import empty_pb2
from posd.v1 import fiscal_pb2, fiscal_pb2_grpc

from posd_daemon.api import convert
from posd_daemon.api.runtime import Context, Runtime
from posd_daemon.domain.errors import DomainError, ErrorKind, invalid
from posd_daemon.domain.operators import Permission
from posd_daemon.domain.text import is_digits
from posd_daemon.services import paging
from posd_daemon.services.fiscal import FiscalGateway, TseUnavailable
from posd_daemon.services.tse_port import TseInfo
from posd_daemon.store import fiscal as fstore

CHUNK = 64 * 1024


def tse_error(exc: TseUnavailable) -> DomainError:
    return DomainError(
        ErrorKind.UNAVAILABLE, "TSE_UNAVAILABLE", f"TSE: {exc}", metadata={"code": exc.code}
    )


CSV_HEADER = (
    "TSE-Hersteller",
    "TSE-Seriennummer",
    "Belegnummer",
    "Ausfallzeit",
    "Ausfallnummer",
    "Fehlercode",
)

#: ListOutages: outages per page (AIP-158 default and maximum). An outage row is well
#: under 3 KB (error_message at most 500 characters), so 200 of them and a page's
#: Vorgänge stay far below the 4 MiB a client takes by default.
LIST_PAGE_DEFAULT = 50
LIST_PAGE_MAX = 200
#: Vorgänge per ListOutages page (a receipt number and its label, ~20 bytes each)
LIST_PAGE_VORGAENGE = 10_000
#: outages and Vorgänge the CSV export reads at a time: each read holds the database
#: thread (every post waits behind it) for a few tens of milliseconds, not seconds
EXPORT_READ_OUTAGES = 500
EXPORT_READ_VORGAENGE = 20_000
#: the largest message a client takes by default (gRPC's max_receive_message_length):
#: the deprecated unary ExportOutages refuses a larger CSV with a clear error
UNARY_CSV_LIMIT = 4 * 1024 * 1024 - 64
#: the kind of ListOutages' page tokens (paging.encode): it was "o", ListOrders' kind,
#: and ListOrders took an outage token as an order number to continue after
OUTAGE_PAGE_KIND = "to"


def outages_csv(outages: list[fstore.Outage], zone: tzinfo) -> bytes:
    """The outage log (JTL practice, fiscal-de.md): one row per Vorgang recorded during
    the outage, sales and cash movements ("K<n>", as the movement's slip names it); its
    times on the register's clock in ``zone`` (see :func:`csv_time`)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(CSV_HEADER)
    _csv_rows(w, outages, zone, continues=False)
    return buf.getvalue().encode("utf-8")


def csv_time(when: datetime, zone: tzinfo) -> str:
    """An outage time as the CSV gives it: ISO 8601 on the register's clock with its UTC
    offset, to the second ("2026-01-15T10:30:00+01:00"). The outage receipt, the marked
    receipts and `posctl outage list` show the register's local time to the second: in
    UTC ("...09:30:00.000000Z") an auditor comparing the log with the paper found every
    time one or two hours off; the offset keeps each one instant, also in the hour the
    clocks go back."""
    return when.astimezone(zone).isoformat(timespec="seconds")


def _csv_rows(w: Any, outages: list[fstore.Outage], zone: tzinfo, *, continues: bool) -> None:
    """The rows of ``outages``; ``continues``: the first is the rest of an outage an
    earlier page began (its row without a Vorgang was not due: it has Vorgänge)."""
    for i, o in enumerate(outages):
        rows: tuple[str | None, ...] = o.vorgaenge
        if not rows and not (continues and i == 0):
            rows = (None,)
        started = csv_time(o.started_at, zone)
        for receipt in rows:
            w.writerow(
                [
                    o.tse_manufacturer,
                    o.tse_serial,
                    "" if receipt is None else receipt,
                    started,
                    o.outage_number,
                    o.error_code,
                ]
            )


def _csv_page(
    conn: sqlite3.Connection, start: fstore.OutageCursor, zone: tzinfo
) -> tuple[bytes, fstore.OutageCursor | None]:
    """One read's part of the outage CSV (on the database thread: formatting tens of
    thousands of rows on the event loop held every other call for a second)."""
    outages, after = fstore.outage_page(conn, start, EXPORT_READ_OUTAGES, EXPORT_READ_VORGAENGE)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    _csv_rows(w, outages, zone, continues=start.continues)
    return buf.getvalue().encode("utf-8"), after


def _cursor(token: str) -> fstore.OutageCursor:
    """The page a ListOutages token names (outage, receipts and movements done)."""
    if not token:
        return fstore.OutageCursor()
    parts = paging.decode(token, OUTAGE_PAGE_KIND).split(".")
    # ASCII digits within SQLite's 64-bit integers; anything else was not made here
    if len(parts) != 3 or not all(is_digits(p) and len(p) <= 18 for p in parts):
        raise invalid("page_token", "not a token from a previous response")
    return fstore.OutageCursor(int(parts[0]), int(parts[1]), int(parts[2]))


def _token(cursor: fstore.OutageCursor | None) -> str:
    if cursor is None:
        return ""
    value = f"{cursor.outage_number}.{cursor.receipts_done}.{cursor.movements_done}"
    return paging.encode(OUTAGE_PAGE_KIND, value)


def outage_to_pb(o: fstore.Outage) -> fiscal_pb2.Outage:
    msg = fiscal_pb2.Outage(
        outage_number=o.outage_number,
        start_time=convert.timestamp(o.started_at),
        error_code=o.error_code,
        error_message=o.error_message,
        tse_manufacturer=o.tse_manufacturer,
        tse_serial=o.tse_serial,
        client_id=o.client_id,
        register_id=o.register_id,
        operator_id=o.operator_id,
        printer=o.printer,
        receipt_numbers=sorted(o.receipts),
        vorgaenge=list(o.vorgaenge),
    )
    end = convert.timestamp(o.ended_at)
    if end is not None:
        msg.end_time.CopyFrom(end)
    return msg


class FiscalServicer(fiscal_pb2_grpc.FiscalServiceServicer):
    def __init__(self, rt: Runtime, gateway: FiscalGateway, backend: str, zone: tzinfo) -> None:
        """``zone``: the register's time zone (``register.timezone``, as bootstrap
        resolved it), the clock the outage CSV gives its times on."""
        self.rt = rt
        self.gw = gateway
        self.backend = backend
        self.zone = zone

    async def GetTseInfo(
        self, request: fiscal_pb2.GetTseInfoRequest, context: Context
    ) -> fiscal_pb2.GetTseInfoResponse:
        async def run() -> fiscal_pb2.GetTseInfoResponse:
            await self.rt.operator(context)
            resp = fiscal_pb2.GetTseInfoResponse(
                backend=self.backend, active_outage_number=self.gw.outage or 0
            )
            if not self.gw.enabled:
                return resp
            try:
                info = await self.gw.current_info()
            except TseUnavailable as exc:
                outage = self.gw.outage
                if outage is None:
                    raise tse_error(exc) from None
                # The TSE does not answer during an outage: said as the open outage's
                # number (what a UI shows the cashier), not as an error that hid it. Only
                # the TSE's identity as last read is given (the outage receipts name that
                # serial); its counters and state are left unset, not reported stale.
                resp.active_outage_number = outage
                known = self.gw.info
                if known is not None:
                    _identity(resp, known)
                return resp
            _identity(resp, info)
            resp.signature_counter = info.signature_counter
            resp.transaction_counter = info.transaction_counter
            resp.state = info.state.value
            resp.certificates.extend(info.certificates)
            resp.registered_clients.extend(info.registered_clients)
            return resp

        return await self.rt.call(context, "GetTseInfo", request, run)

    async def RunTseSelfTest(
        self, request: fiscal_pb2.RunTseSelfTestRequest, context: Context
    ) -> fiscal_pb2.RunTseSelfTestResponse:
        async def run() -> fiscal_pb2.RunTseSelfTestResponse:
            op = await self.rt.operator(context)
            op.require(Permission.DEVICE_TEST)
            try:
                await self.gw.self_test()
            except TseUnavailable as exc:
                return fiscal_pb2.RunTseSelfTestResponse(
                    ok=False, error_code=exc.code, message=exc.message
                )
            return fiscal_pb2.RunTseSelfTestResponse(ok=True)

        return await self.rt.call(context, "RunTseSelfTest", request, run)

    async def ExportTse(
        self, request: fiscal_pb2.ExportTseRequest, context: Context
    ) -> AsyncIterator[fiscal_pb2.ExportTseResponse]:
        async def fill(spool: IO[bytes]) -> None:
            try:
                await self.gw.export(spool)  # type: ignore[arg-type]
            except TseUnavailable as exc:
                raise tse_error(exc) from None

        async for chunk in self._spooled(context, "ExportTse", request, fill):
            yield fiscal_pb2.ExportTseResponse(chunk=chunk)

    async def _spooled(
        self,
        context: Context,
        method: str,
        request: Any,
        fill: Callable[[IO[bytes]], Awaitable[None]],
    ) -> AsyncIterator[bytes]:
        """An export (permission EXPORT) written by ``fill`` into a spool inside the
        call, then streamed in CHUNK pieces once the call has answered."""
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115

        async def run() -> empty_pb2.Empty:
            op = await self.rt.operator(context)
            op.require(Permission.EXPORT)
            await fill(spool)
            return empty_pb2.Empty()  # the answer is the stream that follows

        try:
            await self.rt.call(context, method, request, run)
            spool.seek(0)
            while chunk := spool.read(CHUNK):
                yield chunk
        finally:
            spool.close()

    async def ListOutages(
        self, request: fiscal_pb2.ListOutagesRequest, context: Context
    ) -> fiscal_pb2.ListOutagesResponse:
        async def run() -> fiscal_pb2.ListOutagesResponse:
            await self.rt.operator(context)
            size = paging.page_size(
                request.page_size, default=LIST_PAGE_DEFAULT, maximum=LIST_PAGE_MAX
            )
            start = _cursor(request.page_token)
            outages, after = await self.rt.db.read(
                lambda c: fstore.outage_page(c, start, size, LIST_PAGE_VORGAENGE)
            )
            return fiscal_pb2.ListOutagesResponse(
                outages=[outage_to_pb(o) for o in outages], next_page_token=_token(after)
            )

        return await self.rt.call(context, "ListOutages", request, run)

    async def _outage_csv(self, spool: IO[bytes]) -> int:
        """The whole outage CSV into ``spool``, a read at a time; its size."""
        spool.write(outages_csv([], self.zone))
        cursor: fstore.OutageCursor | None = fstore.OutageCursor()
        while cursor is not None:
            part, cursor = await self.rt.db.read(
                functools.partial(_csv_page, start=cursor, zone=self.zone)
            )
            spool.write(part)
        return spool.tell()

    async def ExportOutages(
        self, request: fiscal_pb2.ExportOutagesRequest, context: Context
    ) -> fiscal_pb2.ExportOutagesResponse:
        async def run() -> fiscal_pb2.ExportOutagesResponse:
            op = await self.rt.operator(context)
            op.require(Permission.EXPORT)
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
                size = await self._outage_csv(spool)
                if size > UNARY_CSV_LIMIT:
                    # said as such, not as gRPC's "Sent message larger than max"
                    raise DomainError(
                        ErrorKind.RESOURCE_EXHAUSTED,
                        "OUTAGE_LOG_TOO_LARGE",
                        f"the outage log is {size} bytes, more than one message carries:"
                        " export it with ExportOutageLog (posctl outage export)",
                    )
                spool.seek(0)
                return fiscal_pb2.ExportOutagesResponse(csv=spool.read())

        return await self.rt.call(context, "ExportOutages", request, run)

    async def ExportOutageLog(
        self, request: fiscal_pb2.ExportOutageLogRequest, context: Context
    ) -> AsyncIterator[fiscal_pb2.ExportOutageLogResponse]:
        async def fill(spool: IO[bytes]) -> None:
            await self._outage_csv(spool)

        async for chunk in self._spooled(context, "ExportOutageLog", request, fill):
            yield fiscal_pb2.ExportOutageLogResponse(chunk=chunk)

    async def RecoverTse(
        self, request: fiscal_pb2.RecoverTseRequest, context: Context
    ) -> fiscal_pb2.RecoverTseResponse:
        async def run() -> fiscal_pb2.RecoverTseResponse:
            await self.rt.operator(context)
            ok = await self.gw.try_recover()
            return fiscal_pb2.RecoverTseResponse(
                recovered=ok, active_outage_number=self.gw.outage or 0
            )

        return await self.rt.call(context, "RecoverTse", request, run)


def _identity(resp: fiscal_pb2.GetTseInfoResponse, info: TseInfo) -> None:
    """What names the TSE (also known during an outage, as last read)."""
    resp.manufacturer = info.manufacturer
    resp.model = info.model
    resp.serial_number = info.serial_hex
    resp.public_key = base64.b64encode(info.public_key).decode("ascii")
    resp.signature_algorithm = info.signature_algorithm
    resp.time_format = info.time_format
    resp.certified = info.certified
