"""Documents the printer prints from the outbox: receipts (with their TSE data) and the
outage / recovery receipts."""

from __future__ import annotations

import base64
import sqlite3
from datetime import UTC, datetime

from posd_daemon.domain.document import Align, Block, Document, Feed, Text
from posd_daemon.domain.receipt import FiscalBlock, ShopHeader, render_receipt, wrap
from posd_daemon.fiscal.qr import QrCode, format_time
from posd_daemon.services.device_ports import DeviceError
from posd_daemon.services.fiscal import OUTAGE_TEXT
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import sales as sale_store
from posd_daemon.store.outbox import OutboxJob

NOT_CERTIFIED = "Software-TSE: NICHT ZERTIFIZIERT (nur Entwicklung/Schulung)"


def fiscal_block(row: fstore.SaleTse, *, certified: bool = True) -> FiscalBlock:
    """The TSE data a receipt must show (KassenSichV) and the DSFinV-K QR code."""
    if row.state == fstore.OUTAGE:
        lines = [OUTAGE_TEXT.format(n=row.outage_number)]
        if row.transaction_number:
            lines.append(f"TSE-Transaktion: {row.transaction_number}")
        return FiscalBlock(tuple(lines))
    assert row.start_time
    assert row.finish_time
    assert row.transaction_number is not None
    lines = [
        f"Kassen-ID: {row.client_id}",
        f"TSE-Seriennummer: {row.tse_serial}",
        f"TSE-Transaktion: {row.transaction_number}",
        f"TSE-Start: {format_time(row.start_time)}",
        f"TSE-Ende: {format_time(row.finish_time)}",
        f"TSE-Signaturzähler: {row.finish_counter}",
        f"Prozesstyp: {row.process_type}",
        f"Prozessdaten: {row.process_data}",
        f"TSE-Signatur: {row.signature}",
    ]
    if row.state == fstore.SIGNED_LATE:
        lines.insert(0, OUTAGE_TEXT.format(n=row.outage_number) + " (nachsigniert)")
    if not certified:
        lines.insert(0, NOT_CERTIFIED)
    qr = QrCode(
        client_id=row.client_id,
        process_type=row.process_type,
        process_data=row.process_data,
        transaction_number=row.transaction_number,
        signature_counter=row.finish_counter or 0,
        start_time=row.start_time,
        log_time=row.finish_time,
        signature_algorithm=row.signature_algorithm,
        time_format=row.time_format,
        signature=base64.b64decode(row.signature),
        public_key=base64.b64decode(row.public_key),
    )
    return FiscalBlock(tuple(lines), qr.to_string())


class DocumentRenderer:
    def __init__(self, shop: ShopHeader, columns: int, *, tse_certified: bool) -> None:
        self.shop = shop
        self.columns = columns
        self.tse_certified = tse_certified

    def __call__(self, conn: sqlite3.Connection, job: OutboxJob) -> Document:
        kind = job.payload.get("document", "receipt")
        if kind == "receipt":
            return self.receipt(conn, job.ref, copy=bool(job.payload.get("copy", False)))
        if kind in ("outage_begin", "outage_end"):
            return self.outage(conn, int(job.payload["outage"]), end=kind == "outage_end")
        raise DeviceError("NO_DOCUMENT", f"job {job.job_id}: unknown document {kind!r}")

    def receipt(self, conn: sqlite3.Connection, sale_id: str, *, copy: bool) -> Document:
        sale = sale_store.get(conn, sale_id)
        if sale is None:
            raise DeviceError("NO_DOCUMENT", f"sale {sale_id} is missing")
        row = fstore.get(conn, sale_id)
        block = None
        if row is not None and row.state in (fstore.SIGNED, fstore.OUTAGE, fstore.SIGNED_LATE):
            block = fiscal_block(row, certified=self.tse_certified)
        return render_receipt(sale, self.shop, self.columns, copy=copy, fiscal=block)

    def outage(self, conn: sqlite3.Connection, number: int, *, end: bool) -> Document:
        o = fstore.get_outage(conn, number)
        if o is None:
            raise DeviceError("NO_DOCUMENT", f"outage {number} is missing")
        width = self.columns
        title = "TSE wieder verfügbar" if end else "TSE-AUSFALL"
        blocks: list[Block] = [
            Text(self.shop.name, Align.CENTER, bold=True),
            Text(title, Align.CENTER, bold=True, large=True),
            Feed(),
        ]
        fields = [
            f"Ausfallnummer: {o.outage_number}",
            f"Beginn: {_local(o.started_at)}",
            f"Fehlercode: {o.error_code}",
            f"Fehler: {o.error_message}",
            f"TSE: {o.tse_manufacturer}",
            f"TSE-Seriennummer: {o.tse_serial}",
            f"Kassen-ID: {o.client_id}",
            f"Kasse: {o.register_id}",
            f"Bediener: {o.operator_id}",
            f"Drucker: {o.printer}",
        ]
        if end and o.ended_at is not None:
            fields.insert(2, f"Ende: {_local(o.ended_at)}")
            fields.append(f"Betroffene Belege: {len(o.receipts)}")
            fields += [f"  Beleg-Nr. {n}  Ausfallnummer {o.outage_number}" for n in o.receipts]
        for text in fields:
            blocks += [Text(part) for part in wrap(text, width)]
        blocks.append(Feed(2))
        return Document(columns=width, blocks=tuple(blocks))


def _local(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%d.%m.%Y %H:%M:%S UTC")
