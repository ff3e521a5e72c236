"""Digital receipts (digitaler Kassenbon): tokens issued at posting, the printed QR block,
the receipt fetched by token (text or JSON), and the pruning of expired tokens.

* :meth:`DigitalReceipts.issue` runs inside the post's own transaction
  (``SaleCommands.post_hooks``): a receipt never carries a token that was not stored,
  and with the feature on no posted receipt lacks one.
* :meth:`DigitalReceipts.decorate` is the receipt renderer's hook: the printed receipt
  gets the "Digitaler Beleg" block (or, ``print = "slip"``, becomes the short slip).
* :meth:`DigitalReceipts.fetch` is what the HTTP receipt server (``api/receipt_http``)
  answers: the same Document the paper shows, as text, or the receipt as JSON.
* :meth:`DigitalReceipts.revoke` ends a link before it expires (RevokeDigitalReceipt):
  the server answers it 410 Gone, a reprint prints no link, and it is journaled.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from posd_daemon.domain.digital_receipt import (
    Delivery,
    PrintMode,
    digital_block,
    receipt_url,
    render_digital_slip,
    sale_json,
    with_digital_block,
)
from posd_daemon.domain.document import Document
from posd_daemon.domain.errors import not_found
from posd_daemon.domain.operators import Operator, Permission
from posd_daemon.domain.receipt import ShopHeader
from posd_daemon.domain.sale import Sale
from posd_daemon.domain.text import check_code, check_text
from posd_daemon.services.clock import Clock
from posd_daemon.services.documents import DocumentRenderer, fiscal_block
from posd_daemon.services.executor import Tx
from posd_daemon.services.sales import fiscal_record
from posd_daemon.store import digital_receipts as store
from posd_daemon.store import fiscal as fstore
from posd_daemon.store import journal
from posd_daemon.store import sales as sale_store

#: 24 random bytes = 192 bits, 32 URL-safe characters (a short URL, a small QR code).
TOKEN_BYTES = 24
#: What a token may look like; anything else is "not found" without a database lookup.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: The revocation's reason, as long as a cancellation's (SaleCommands.cancel).
MAX_REVOKE_REASON = 200


@dataclass(frozen=True, slots=True)
class DigitalSettings:
    base_url: str
    lifetime: timedelta
    print_mode: PrintMode = PrintMode.FULL
    #: the register's time zone: "abrufbar bis" prints the date and time on its clock
    zone: tzinfo = UTC


@dataclass(frozen=True, slots=True)
class DigitalLink:
    """A posted receipt's valid link."""

    sale_id: str
    url: str
    expires: datetime
    delivery: Delivery
    #: set once revoked (the link no longer works); None: valid
    revoked: datetime | None = None
    revoke_reason: str = ""


@dataclass(frozen=True, slots=True)
class RevokedLink:
    """What a revoked token fetches: no receipt data, only that it was revoked."""

    sale_id: str


@dataclass(frozen=True, slots=True)
class FetchedReceipt:
    sale_id: str
    receipt_number: int
    text: str
    data: dict[str, Any]


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class DigitalReceipts:
    def __init__(self, settings: DigitalSettings, shop: ShopHeader, clock: Clock) -> None:
        self.settings = settings
        self._shop = shop
        self._clock = clock

    # -- posting ---------------------------------------------------------------------------

    def issue(
        self, conn: sqlite3.Connection, sale: Sale, now: datetime, delivery: Delivery
    ) -> None:
        """The post's hook: stores the sale's token in the post's transaction."""
        store.add(
            conn,
            new_token(),
            sale.sale_id,
            now,
            now + self.settings.lifetime,
            delivery.value,
        )

    # -- printing --------------------------------------------------------------------------

    def url(self, conn: sqlite3.Connection, sale_id: str) -> str | None:
        """The receipt's URL while its token is valid; None: none or expired."""
        found = self.link(conn, sale_id)
        return None if found is None else found.url

    def link(self, conn: sqlite3.Connection, sale_id: str) -> DigitalLink | None:
        """The receipt's link while its token is valid; None: none or expired."""
        found = store.link_of(conn, sale_id, self._clock())
        if found is None:
            return None
        token, expires, delivery = found
        return DigitalLink(
            sale_id, receipt_url(self.settings.base_url, token), expires, Delivery(delivery)
        )

    def _link_of(self, found: store.StoredLink) -> DigitalLink:
        return DigitalLink(
            found.sale_id,
            receipt_url(self.settings.base_url, found.token),
            found.expires,
            Delivery(found.delivery),
            found.revoked,
            found.revoke_reason,
        )

    def revoked(self, conn: sqlite3.Connection, sale_id: str) -> DigitalLink | None:
        """The receipt's link when it was revoked and has not expired yet; else None."""
        found = store.by_sale(conn, sale_id, self._clock())
        return None if found is None or found.revoked is None else self._link_of(found)

    def revoke(
        self, tx: Tx, operator: Operator, sale_id: str, reason: str
    ) -> tuple[DigitalLink, int]:
        """Revokes the posted sale's link (and its receipt number): journaled once; a
        link revoked before answers its revoked state again, without a second record."""
        # who may reverse a receipt may take its link back (a supervisor's decision)
        operator.require(Permission.STORNO)
        check_code(sale_id, "sale_id")
        check_text(reason, "reason", max_len=MAX_REVOKE_REASON)
        conn = tx.conn
        sale = sale_store.get(conn, sale_id)
        if sale is None:
            raise not_found("SALE_NOT_FOUND", f"no sale {sale_id!r}", sale_id=sale_id)
        now = self._clock()
        found = store.by_sale(conn, sale_id, now)
        if found is None:
            raise not_found(
                "DIGITAL_RECEIPT_NOT_FOUND",
                f"sale {sale_id!r} has no valid digital receipt (not posted, posted"
                " before digital receipts were on, or its link expired)",
                sale_id=sale_id,
            )
        if found.revoked is None:
            store.revoke(conn, sale_id, now, reason)
            # the token stays out of the journal: it is the very secret being withdrawn
            journal.append(
                conn,
                kind="DIGITAL_RECEIPT_REVOKED",
                register_id=sale.register_id,
                ref=f"receipt:{sale.receipt_number}",
                payload={
                    "sale_id": sale_id,
                    "receipt_number": sale.receipt_number,
                    "operator_id": operator.operator_id,
                    "reason": reason,
                },
                when=now,
            )
            found = store.by_sale(conn, sale_id, now)
            assert found is not None
        return self._link_of(found), sale.receipt_number

    def decorate(
        self, conn: sqlite3.Connection, sale: Sale, doc: Document, as_invoice: bool
    ) -> Document:
        """The printed receipt with the "Digitaler Beleg" block, or the short slip
        (never for an invoice: a full invoice must print whole). Unchanged when the sale
        has no valid token (posted before the feature was on, or expired: a reprint)."""
        found = store.token_of(conn, sale.sale_id, self._clock())
        if found is None:
            return doc
        token, expires = found
        url = receipt_url(self.settings.base_url, token)
        # the local time of the expiry, not only its date (see digital_block); the
        # seconds are dropped, so the link works at least until the minute printed
        until = expires.astimezone(self.settings.zone)
        block = digital_block(url, doc.columns, until)
        if self.settings.print_mode is PrintMode.SLIP and not as_invoice:
            return render_digital_slip(sale, self._shop, doc.columns, block, copy=doc.copy)
        return with_digital_block(doc, block)

    # -- serving ---------------------------------------------------------------------------

    def fetch(
        self, conn: sqlite3.Connection, renderer: DocumentRenderer, token: str
    ) -> FetchedReceipt | RevokedLink | None:
        """The receipt of a valid token; RevokedLink (no receipt data) for a revoked one
        not yet expired; None for a malformed, unknown or expired one (one answer for
        all: a primary-key lookup, nothing to learn from its timing)."""
        if not TOKEN_RE.fullmatch(token):
            return None
        found = store.by_token(conn, token, self._clock())
        if found is None:
            return None
        sale_id = found.sale_id
        if found.revoked is not None:
            return RevokedLink(sale_id)
        sale = sale_store.get(conn, sale_id)
        if sale is None or sale.receipt_number == 0:
            return None
        doc = renderer.receipt(conn, sale_id, copy=False, digital=False)
        data = sale_json(sale)
        data["tse"] = tse_json(conn, sale_id, certified=renderer.tse_certified)
        data["shop"] = {
            "name": renderer.shop.name,
            "address": list(renderer.shop.address_lines),
            "vat_id": renderer.shop.vat_id,
            "tax_number": renderer.shop.tax_number,
        }
        return FetchedReceipt(sale_id, sale.receipt_number, doc.plain_text(), data)

    # -- housekeeping ----------------------------------------------------------------------

    def prune(self, conn: sqlite3.Connection) -> int:
        return store.prune(conn, self._clock())


def tse_json(conn: sqlite3.Connection, sale_id: str, *, certified: bool) -> dict[str, Any] | None:
    """The receipt's TSE data (KassenSichV) with the DSFinV-K QR payload; None: the
    register has no TSE."""
    row = fstore.get(conn, sale_id)
    if row is None:
        return None
    # the fields the journal records (sales.fiscal_record), the serial under the name a
    # customer's app knows, and what it needs to check the signature itself
    out: dict[str, Any] = dict(fiscal_record(row))
    out["serial_number"] = out.pop("tse_serial")
    out.update(
        signature_algorithm=row.signature_algorithm,
        public_key=row.public_key,
        certified=certified,
        qr_code="",
    )
    if row.state in (fstore.SIGNED, fstore.OUTAGE, fstore.SIGNED_LATE):
        out["qr_code"] = fiscal_block(row, certified=certified).qr_data
    return out
