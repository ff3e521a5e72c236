"""FiscalService: TSE info, self test, export, outage journal."""

from __future__ import annotations

import base64
import csv
import io
import tempfile
from collections.abc import AsyncIterator

from posd.v1 import fiscal_pb2, fiscal_pb2_grpc

from posd_daemon.api import convert
from posd_daemon.api.runtime import Context, Runtime
from posd_daemon.domain.errors import DomainError, ErrorKind
from posd_daemon.domain.operators import Permission
from posd_daemon.services.fiscal import FiscalGateway, TseUnavailable
from posd_daemon.store import fiscal as fstore
from posd_daemon.store.timeutil import to_db

CHUNK = 64 * 1024


def tse_error(exc: TseUnavailable) -> DomainError:
    return DomainError(
        ErrorKind.UNAVAILABLE, "TSE_UNAVAILABLE", f"TSE: {exc}", metadata={"code": exc.code}
    )


def outages_csv(outages: list[fstore.Outage]) -> bytes:
    """The outage log (JTL practice, fiscal-de.md): one row per Vorgang recorded during
    the outage, sales and cash movements ("K<n>", as the movement's slip names it)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(
        [
            "TSE-Hersteller",
            "TSE-Seriennummer",
            "Belegnummer",
            "Ausfallzeit",
            "Ausfallnummer",
            "Fehlercode",
        ]
    )
    for o in outages:
        rows: tuple[str | None, ...] = o.vorgaenge or (None,)
        for receipt in rows:
            w.writerow(
                [
                    o.tse_manufacturer,
                    o.tse_serial,
                    "" if receipt is None else receipt,
                    to_db(o.started_at),
                    o.outage_number,
                    o.error_code,
                ]
            )
    return buf.getvalue().encode("utf-8")


class FiscalServicer(fiscal_pb2_grpc.FiscalServiceServicer):
    def __init__(self, rt: Runtime, gateway: FiscalGateway, backend: str) -> None:
        self.rt = rt
        self.gw = gateway
        self.backend = backend

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
                raise tse_error(exc) from None
            resp.manufacturer = info.manufacturer
            resp.model = info.model
            resp.serial_number = info.serial_hex
            resp.public_key = base64.b64encode(info.public_key).decode("ascii")
            resp.signature_algorithm = info.signature_algorithm
            resp.time_format = info.time_format
            resp.signature_counter = info.signature_counter
            resp.transaction_counter = info.transaction_counter
            resp.state = info.state.value
            resp.certified = info.certified
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
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115

        async def run() -> fiscal_pb2.ExportTseResponse:
            op = await self.rt.operator(context)
            op.require(Permission.EXPORT)
            try:
                await self.gw.export(spool)  # type: ignore[arg-type]
            except TseUnavailable as exc:
                raise tse_error(exc) from None
            return fiscal_pb2.ExportTseResponse()

        try:
            await self.rt.call(context, "ExportTse", request, run)
            spool.seek(0)
            while chunk := spool.read(CHUNK):
                yield fiscal_pb2.ExportTseResponse(chunk=chunk)
        finally:
            spool.close()

    async def ListOutages(
        self, request: fiscal_pb2.ListOutagesRequest, context: Context
    ) -> fiscal_pb2.ListOutagesResponse:
        async def run() -> fiscal_pb2.ListOutagesResponse:
            await self.rt.operator(context)
            outages = await self.rt.db.read(fstore.list_outages)
            resp = fiscal_pb2.ListOutagesResponse()
            for o in outages:
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
                    receipt_numbers=list(o.receipts),
                    vorgaenge=list(o.vorgaenge),
                )
                end = convert.timestamp(o.ended_at)
                if end is not None:
                    msg.end_time.CopyFrom(end)
                resp.outages.append(msg)
            return resp

        return await self.rt.call(context, "ListOutages", request, run)

    async def ExportOutages(
        self, request: fiscal_pb2.ExportOutagesRequest, context: Context
    ) -> fiscal_pb2.ExportOutagesResponse:
        async def run() -> fiscal_pb2.ExportOutagesResponse:
            op = await self.rt.operator(context)
            op.require(Permission.EXPORT)
            outages = await self.rt.db.read(fstore.list_outages)
            return fiscal_pb2.ExportOutagesResponse(csv=outages_csv(outages))

        return await self.rt.call(context, "ExportOutages", request, run)

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
