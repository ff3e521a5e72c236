"""fiskaly SIGN DE v2 (cloud TSE) backend of the TSE port.

Talks to the fiskaly SIGN DE API v2 with the standard library HTTP client only. The API
facts used here, with their public sources (checked; the field names are repeated in
several independent integrations):

* Auth: ``POST /api/v2/auth {api_key, api_secret}`` answers ``access_token``,
  ``access_token_expires_in``, ``refresh_token``, ``refresh_token_expires_in`` (and
  ``*_expires_at``); a token is renewed with ``POST /api/v2/auth {refresh_token}``; the
  token goes in ``Authorization: Bearer``; "on 401 refresh or re-authenticate".
  (https://workspace.fiskaly.com/reference/authentication/,
  https://developer.fiskaly.com/sign-de/making-request)
* Base URLs: ``https://kassensichv-middleware.fiskaly.com/api/v2`` (middleware) and
  ``https://kassensichv.fiskaly.com/api/v2``; both accepted with or without ``/api/v2``.
  (https://workspace.fiskaly.com/getting-started/quickstart,
  https://developer.fiskaly.com/sign-de/api-v2)
* Transactions: ``PUT /tss/{tss_id}/tx/{tx_id}?tx_revision=N``, N = 1 to start and +1 on
  every further call; body ``{state: ACTIVE|FINISHED|CANCELLED, client_id, schema}``;
  at most 2000 active transactions and 199 clients per TSS.
  (https://workspace.fiskaly.com/countries/germany/faq/which-fields-should-the-schema-of-a-transaction-contain-5273159443346/,
  https://workspace.fiskaly.com/countries/germany/guides/migration-v1-v2, fiscal-de.md)
* ``schema.standard_v1.receipt``: ``receipt_type``, ``amounts_per_vat_rate[{vat_rate,
  amount}]`` with NORMAL/REDUCED_1/SPECIAL_RATE_1/SPECIAL_RATE_2/NULL,
  ``amounts_per_payment_type[{payment_type: CASH|NON_CASH, amount, currency_code}]``,
  amounts as decimal strings; negative amounts are allowed (retroactive cancellation is a
  new RECEIPT "with negative values").
  (fiscal-de.md; https://support.fiskaly.com/hc/en-001/articles/9314648383132)
* receipt_type per DSFinV-K BON_TYP: Beleg=RECEIPT, AVTraining=TRAINING,
  AVTransfer=TRANSFER, AVBestellung=ORDER, AVBelegabbruch=CANCELLATION (or ABORT),
  AVSachbezug=BENEFIT_IN_KIND, AVRechnung=INVOICE, AVSonstige=OTHER.
  (https://developer.fiskaly.com/dsfinvk/process_types_business_transaction_types)
* ``schema.standard_v1.order.line_items[{quantity, text, price_per_unit}]`` for
  ``Bestellung-V1``.
* Transaction response: ``number``, ``time_start``, ``time_end``, ``tss_serial_number``,
  ``signature{value, algorithm, counter, public_key}``, ``log{timestamp,
  timestamp_format}``, ``qr_code_data``, ``revision``/``latest_revision``.
  (https://developer.fiskaly.com/sign-de/receipt-data)
* Open transactions: ``GET .../tx?states[]=ACTIVE``; clients: ``PUT
  /tss/{tss_id}/client/{client_id} {serial_number}``; exports: ``PUT/GET
  /tss/{tss_id}/export/{export_id}`` and ``GET .../export/{export_id}/file``; admin
  login ``POST /tss/{tss_id}/admin/auth {admin_pin}``.
  (https://workspace.fiskaly.com/countries/germany/quickstart and public client code)
* Errors are JSON ``{status_code, error, code, message}``; 4xx must not be retried with the
  same payload, 5xx are temporary. (https://workspace.fiskaly.com/reference/error-codes,
  https://developer.fiskaly.com/submission/errors-status-codes)
  Two 4xx are no verdict on the payload but "not now", and so temporary as well: 429 Too
  Many Requests (rate limit; fiskaly also answers it for an export while an identical one
  still runs, https://developer.fiskaly.com/blog/dev-news-27), with ``Retry-After`` in
  seconds or as an HTTP-date (RFC 6585 section 4, RFC 9110 section 10.2.3), and 423
  Locked: the resource is locked (RFC 4918 section 11.3), which fiskaly answers while the
  TSS is busy, e.g. during an export, or a transaction is locked by a concurrent call.
  Neither took effect, so the identical request may be repeated; within a port call it is,
  after ``Retry-After`` (else a short back-off), while the call's time budget allows.
  (fiskaly's own pages found do not describe 423 further; RFC 4918 is the source.)
  A 5xx (500, 502, 503, 504: a proxy's 502, a 503 during a deploy) and a connection
  reset or closed before any answer are repeated the same way: a transaction call may
  have taken effect before its answer was lost, and its repeat (same revision, same body)
  gets the stored answer or a 409 that is settled by reading the transaction back (see
  Idempotency), never a second signature. A 503 may carry ``Retry-After`` (RFC 9110
  section 15.6.4).

Idempotency: every call of a transaction carries its revision. A call lost to a timeout is
sent again once, one lost to a dropped connection or answered by a 5xx as the budget allows
(above), with the *same* revision and body (fiskaly answers a repeat with the same result,
or 409 for a revision taken), all of one port call within ``timeout_s`` (the sale code's
TSE timeout, after which its outage handling takes over). If that fails too, the call
stays recorded as *pending* (in memory and in a small JSON file in ``state_dir``); the
next call on the transaction first asks fiskaly (``GET .../tx/{tx_id}``) whether the
pending revision arrived, so no revision is ever signed twice and a restart can still
finish or cancel what was open.
A transaction we closed stays in that file too (the last few hundred, with the body of
the closing call): finishing or cancelling it again with the same data reads it back
(``GET .../tx/{tx_id}``) and returns the stored result, as the TSE port promises.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import hashlib
import http.client
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, urlencode, urlsplit

from posd_daemon.services.tse_port import (
    TseError,
    TseInfo,
    TseLogResult,
    TseOperation,
    TseState,
)

__all__ = [
    "CANCEL_PROCESS_DATA",
    "FiskalyTse",
    "ProcessDataError",
    "client_uuid_for",
    "process_data_to_schema",
]

_log = logging.getLogger(__name__)

MANUFACTURER = "fiskaly"
MODEL = "SIGN DE v2 (cloud TSE)"

PROCESS_TYPE_RECEIPT = "Kassenbeleg-V1"
PROCESS_TYPE_ORDER = "Bestellung-V1"
#: processData of an aborted sale (fiscal-de.md, processData; tse_port.cancel_transaction).
CANCEL_PROCESS_DATA = b"AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"

#: DSFinV-K BON_TYP -> fiskaly receipt_type (see the module docstring for the source).
RECEIPT_TYPES: Mapping[str, str] = {
    "Beleg": "RECEIPT",
    "AVTraining": "TRAINING",
    "AVTransfer": "TRANSFER",
    "AVBestellung": "ORDER",
    "AVBelegabbruch": "CANCELLATION",
    "AVSachbezug": "BENEFIT_IN_KIND",
    "AVRechnung": "INVOICE",
    "AVSonstige": "OTHER",
}
#: The five Kassenbeleg-V1 gross amounts, in processData order (fiscal-de.md): 19 %, 7 %,
#: §24(1) Nr. 3 average rate, §24(1) Nr. 1 rate, 0 %.
VAT_RATES: tuple[str, ...] = ("NORMAL", "REDUCED_1", "SPECIAL_RATE_1", "SPECIAL_RATE_2", "NULL")
PAYMENT_TYPES: Mapping[str, str] = {"Bar": "CASH", "Unbar": "NON_CASH"}

#: Namespace of the client UUIDs derived from the register's client id.
_CLIENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:posd:fiskaly-sign-de:client")

_STATE_ACTIVE = "ACTIVE"
_STATE_FINISHED = "FINISHED"
_STATE_CANCELLED = "CANCELLED"

_MONEY_RE = re.compile(r"-?\d+\.\d{2}")
_QUANTITY_RE = re.compile(r"-?\d+(?:\.\d+)?")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_ORDER_LINE_RE = re.compile(r'(?P<qty>[^;"]*);"(?P<text>(?:[^"]|"")*)";(?P<price>[^;"]*)')

#: Renew the access token this long before it expires (capped at a quarter of its life).
_TOKEN_MARGIN_S = 60.0
#: Used when fiskaly does not say how long a token lives.
_DEFAULT_TOKEN_LIFETIME_S = 600.0
_CHUNK = 64 * 1024
#: Version 2 keeps closed transactions too; version 1 files (open ones only) still load.
_STATE_FILE_VERSION = 2
_STATE_FILE_VERSIONS = (1, 2)
#: How many closed transactions the state file remembers, so that finishing or
#: cancelling one again with the same data returns its stored result (the TSE port's
#: promise; the sale code posts a signed-but-not-saved sale again, and start-up
#: reconciliation completes one finished before a crash). Oldest dropped first.
_CLOSED_KEPT = 500
#: Items per page of a list of transactions: fiskaly's largest ``limit`` (SIGN DE API v2
#: reference, list endpoints: ``limit`` up to 100, with ``offset``).
_LIST_PAGE = 100
#: Active transactions a TSS holds at most (module docstring): the pages to read at most.
_MAX_ACTIVE = 2000
#: "Not now" answers: 423 Locked (RFC 4918 section 11.3; the TSS busy with an export, a
#: transaction locked) and 429 Too Many Requests (RFC 6585 section 4). The request took no
#: effect, so within a port call it is repeated, unchanged, while the time budget allows.
_BUSY_STATUSES = frozenset({423, 429})
#: Temporary server errors (module docstring: "5xx are temporary"): 500, 502 Bad Gateway,
#: 503 Service Unavailable, 504 Gateway Timeout (RFC 9110 section 15.6). Within a port
#: call they are repeated like a busy answer; 501 (Not Implemented) is no "not now".
_SERVER_ERROR_STATUSES = frozenset({500, 502, 503, 504})
#: The first wait before repeating a busy answer or a server error without
#: ``Retry-After`` (or a connection lost before any answer); doubled per repeat up to
#: ``_BUSY_BACKOFF_MAX_S``.
_BUSY_BACKOFF_S = 0.05
_BUSY_BACKOFF_MAX_S = 1.0


class ProcessDataError(ValueError):
    """processData that cannot be mapped to a fiskaly schema."""


# --------------------------------------------------------------------------- processData


def client_uuid_for(tss_id: str, client_id: str) -> str:
    """The fiskaly client UUID for a register's client id (deterministic, so repeatable).

    The TSS id is part of the name: a client belongs to one TSS, and a register moved to a
    new TSS must not collide with its old client.
    """
    return str(uuid.uuid5(_CLIENT_NAMESPACE, f"{tss_id}\n{client_id}"))


def _money(text: str, what: str) -> str:
    """A processData amount as fiskaly's decimal string with exactly two decimals."""
    if _MONEY_RE.fullmatch(text) is None:
        raise ProcessDataError(f"{what}: {text!r} is not an amount with 2 decimals")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ProcessDataError(f"{what}: {text!r} is not an amount") from None
    if value == 0:
        return "0.00"
    return f"{value:.2f}"


def receipt_schema(process_data: str) -> dict[str, Any]:
    """``Kassenbeleg-V1`` processData -> ``{"standard_v1": {"receipt": {...}}}``.

    Form (fiscal-de.md): ``<BON_TYP>^<5 gross amounts joined by _>^<payments joined by
    _>``, payment ``<amount>:Bar|Unbar[:<ISO-4217>]``. VAT rates with a zero amount are
    left out (fiskaly fills them in with 0.00); payments keep their order; a currency code
    is only sent for a foreign currency, as in processData.
    """
    parts = process_data.split("^")
    if len(parts) != 3:
        raise ProcessDataError("Kassenbeleg-V1 needs exactly three ^-separated parts")
    bon_typ, amounts_text, payments_text = parts
    try:
        receipt_type = RECEIPT_TYPES[bon_typ]
    except KeyError:
        raise ProcessDataError(f"unknown Kassenbeleg-V1 type {bon_typ!r}") from None
    amounts = amounts_text.split("_")
    if len(amounts) != len(VAT_RATES):
        raise ProcessDataError(f"Kassenbeleg-V1 needs {len(VAT_RATES)} gross amounts")
    per_vat: list[dict[str, str]] = []
    for vat_rate, amount_text in zip(VAT_RATES, amounts, strict=True):
        amount = _money(amount_text, f"amount {vat_rate}")
        if amount != "0.00":
            per_vat.append({"vat_rate": vat_rate, "amount": amount})
    per_payment: list[dict[str, str]] = []
    if payments_text:
        for payment in payments_text.split("_"):
            fields = payment.split(":")
            if len(fields) not in (2, 3):
                raise ProcessDataError(f"bad payment {payment!r}")
            try:
                payment_type = PAYMENT_TYPES[fields[1]]
            except KeyError:
                raise ProcessDataError(f"bad payment type in {payment!r}") from None
            entry = {"payment_type": payment_type, "amount": _money(fields[0], "payment")}
            if len(fields) == 3:
                if _CURRENCY_RE.fullmatch(fields[2]) is None:
                    raise ProcessDataError(f"bad currency code in {payment!r}")
                entry["currency_code"] = fields[2]
            per_payment.append(entry)
    return {
        "standard_v1": {
            "receipt": {
                "receipt_type": receipt_type,
                "amounts_per_vat_rate": per_vat,
                "amounts_per_payment_type": per_payment,
            }
        }
    }


def order_schema(process_data: str) -> dict[str, Any]:
    """``Bestellung-V1`` processData -> ``{"standard_v1": {"order": {"line_items": ...}}}``.

    Form (fiscal-de.md): one line per item ``<qty>;"<text>";<unit price>``, lines joined
    by CR, ``"`` in the text doubled.
    """
    items: list[dict[str, str]] = []
    lines = process_data.split("\r")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        match = _ORDER_LINE_RE.fullmatch(line)
        if match is None or _QUANTITY_RE.fullmatch(match["qty"]) is None:
            raise ProcessDataError(f"bad Bestellung-V1 line {line!r}")
        items.append(
            {
                "quantity": match["qty"],
                "text": match["text"].replace('""', '"'),
                "price_per_unit": _money(match["price"], "price_per_unit"),
            }
        )
    if not items:
        raise ProcessDataError("Bestellung-V1 without line items")
    return {"standard_v1": {"order": {"line_items": items}}}


def process_data_to_schema(process_type: str, process_data: bytes) -> dict[str, Any] | None:
    """The fiskaly ``schema`` for a TSE processType/processData, None for empty data.

    fiskaly builds the signed processData from this schema itself. Empty processData (the
    usual start of a transaction) sends no schema.
    """
    if not process_data:
        return None
    try:
        text = process_data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProcessDataError("processData is not UTF-8") from None
    if process_type == PROCESS_TYPE_RECEIPT:
        return receipt_schema(text)
    if process_type == PROCESS_TYPE_ORDER:
        return order_schema(text)
    raise ProcessDataError(f"processType {process_type!r} has no fiskaly schema")


def _qr_process(qr_code_data: object) -> tuple[str, bytes] | None:
    """processType and processData from a DSFinV-K QR code string, if it is one.

    ``V0;<clientId>;<processType>;<processData>;<8 more fields>`` (fiscal-de.md); the
    processData may itself contain ``;`` (Bestellung-V1), so it is cut from both ends.
    """
    if not isinstance(qr_code_data, str):
        return None
    fields = qr_code_data.split(";")
    if len(fields) < 12 or fields[0] != "V0":
        return None
    return fields[2], ";".join(fields[3:-8]).encode("utf-8")


# --------------------------------------------------------------------------- helpers


def _as_int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise TseError("BAD_RESPONSE", f"{what} is not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise TseError("BAD_RESPONSE", f"{what} is not an integer: {value!r}")


def _as_count(value: object, what: str) -> int:
    """A TSE counter or transaction number: TR-03151 counts them from 1 (fiscal-de.md),
    so 0 or a negative one cannot belong to a signed log message."""
    number = _as_int(value, what)
    if number < 1:
        raise TseError("BAD_RESPONSE", f"{what} is not a count from 1: {value!r}")
    return number


def _as_time(value: object, what: str) -> datetime:
    """A fiskaly time (unix seconds, as number or string; or ISO-8601) as aware UTC."""
    try:
        if isinstance(value, str) and not re.fullmatch(r"-?\d+", value.strip()):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        return datetime.fromtimestamp(_as_int(value, what), UTC)
    except (ValueError, OverflowError, OSError):
        # not ISO-8601, or seconds outside what a datetime (or time_t) holds
        raise TseError("BAD_RESPONSE", f"{what} is not a time: {value!r}"[:300]) from None


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise TseError("BAD_RESPONSE", f"{what} missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TseError("BAD_RESPONSE", f"{what} is not base64") from None


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise TseError("BAD_RESPONSE", f"{what} is not a JSON list")
    return value


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TseError("BAD_RESPONSE", f"{what} is not a JSON object")
    return value


_PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----"
)


def _certificates(value: object) -> tuple[bytes, ...]:
    """DER certificates from fiskaly's ``certificate`` (PEM chain, or base64 DER)."""
    if not isinstance(value, str) or not value.strip():
        return ()
    blocks = [m["body"] for m in _PEM_RE.finditer(value)]
    if not blocks:
        blocks = [value]
    out: list[bytes] = []
    for block in blocks:
        try:
            out.append(base64.b64decode("".join(block.split()), validate=True))
        except (binascii.Error, ValueError):
            raise TseError("BAD_RESPONSE", "certificate is neither PEM nor base64") from None
    return tuple(out)


_TSS_STATES: Mapping[str, TseState] = {
    "INITIALIZED": TseState.INITIALIZED,
    "DISABLED": TseState.DISABLED,
    "DELETED": TseState.DISABLED,
}


# --------------------------------------------------------------------------- local state


@dataclass(slots=True)
class _Tx:
    """What we keep about one fiskaly transaction: open, or closed by us not long ago."""

    tx_id: str
    client_id: str
    client_uuid: str
    #: TSE transaction number, known once fiskaly answered the start.
    number: int | None = None
    #: Last revision fiskaly confirmed (0: none yet).
    revision: int = 0
    #: A revision sent without a confirmed answer, and its body.
    pending_revision: int | None = None
    pending_body: dict[str, Any] | None = None
    closed: bool = False
    #: The body of the call that closed it (FINISHED/CANCELLED), at revision ``revision``:
    #: a repeat of exactly this call gets the stored result back.
    final_body: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_id": self.tx_id,
            "client_id": self.client_id,
            "client_uuid": self.client_uuid,
            "number": self.number,
            "revision": self.revision,
            "pending_revision": self.pending_revision,
            "pending_body": self.pending_body,
            "closed": self.closed,
            "final_body": self.final_body,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Tx:
        number = data.get("number")
        pending = data.get("pending_revision")
        body = data.get("pending_body")
        final = data.get("final_body")
        return cls(
            tx_id=str(data["tx_id"]),
            client_id=str(data["client_id"]),
            client_uuid=str(data["client_uuid"]),
            number=None if number is None else int(number),
            revision=int(data.get("revision", 0)),
            pending_revision=None if pending is None else int(pending),
            pending_body=dict(body) if isinstance(body, dict) else None,
            closed=bool(data.get("closed", False)),
            final_body=dict(final) if isinstance(final, dict) else None,
        )


class _StateFile:
    """The open (and recently closed) transactions of one TSS as a small JSON file,
    written durably."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> dict[str, _Tx]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text("utf-8"))
            if data.get("version") not in _STATE_FILE_VERSIONS:
                raise ValueError(f"unknown version {data.get('version')!r}")
            txs = [_Tx.from_json(item) for item in data["transactions"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Keep the bad file for inspection and go on: open transactions are also found
            # on fiskaly (open_transactions lists them), so nothing is lost for good.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            _log.error("fiskaly state file %s unreadable (%s); moved to %s", self.path, exc, aside)
            return {}
        return {tx.tx_id: tx for tx in txs}

    def save(self, txs: Sequence[_Tx]) -> None:
        if self.path is None:
            return
        payload = json.dumps(
            {"version": _STATE_FILE_VERSION, "transactions": [tx.to_json() for tx in txs]},
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --------------------------------------------------------------------------- HTTP


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    #: the ``Retry-After`` header (RFC 9110 section 10.2.3), if any
    retry_after: str | None = None

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            # RecursionError: nesting deeper than the parser follows (still no JSON we use)
            raise TseError("BAD_RESPONSE", f"HTTP {self.status}: body is not JSON") from None
        return _obj(data, "response")


class _TransportError(Exception):
    """No (complete) HTTP answer: timeout, refused, reset, TLS failure."""

    def __init__(self, code: str, message: str, *, stale: bool, wrote: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: A kept-alive connection the server had already closed (resend once for free).
        self.stale = stale
        #: Part of a streamed body was already written out (cannot be repeated).
        self.wrote = wrote

    def to_tse_error(self) -> TseError:
        return TseError(self.code, self.message, transient=True)


#: 409 codes that refuse a call only because an earlier request on the same transaction
#: is still being processed (``E_PENDING_TX_CONFLICT``; ``E_MIDDLEWARE_PENDING_REQUEST``
#: from the middleware URL). The earlier request may still be signed: no refusal of the
#: revision. Source: the SIGN DE v2 error-code table of a third-party client, stated to
#: follow fiskaly's OpenAPI 2.1.34; not yet checked against fiskaly's own reference.
_PENDING_CODES = frozenset({"E_PENDING_TX_CONFLICT", "E_MIDDLEWARE_PENDING_REQUEST"})


def _error_code(resp: _Response) -> str | None:
    """fiskaly's ``code`` from an error body, if there is one."""
    with contextlib.suppress(TseError):
        code = resp.json().get("code")
        if isinstance(code, str):
            return code
    return None


def _retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds to wait by a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110
    section 10.2.3), ``now`` being the wall clock; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # RFC 9110 section 5.6.7: HTTP-dates are GMT
    return max(0.0, moment.timestamp() - now)


def _http_error(resp: _Response, what: str) -> TseError:
    """fiskaly's JSON error body -> TseError (5xx, 408, 423, 429 transient; other 4xx
    not: see the module docstring)."""
    detail = ""
    with contextlib.suppress(TseError):
        data = resp.json()
        detail = " ".join(str(data[k]) for k in ("code", "message") if data.get(k))
    transient = resp.status >= 500 or resp.status in (408, *_BUSY_STATUSES)
    code = "UNAUTHORIZED" if resp.status == 401 else f"HTTP_{resp.status}"
    return TseError(code, f"{what}: HTTP {resp.status} {detail}".strip(), transient=transient)


class _ExportAborted(Exception):
    """Internal: the export's abort event was set (or the backend closed)."""


class _Channel:
    """One kept-alive HTTP connection. ``http.client`` connections are not thread-safe:
    the signing calls use one channel (under the backend's lock), an export its own."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        timeout_s: float,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._scheme = scheme
        self._host = host
        self._port = port
        self._timeout_s = timeout_s
        self._ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None
        #: set by :meth:`interrupt` from another thread: no further requests
        self._interrupted = False

    def connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """The kept-alive connection (and whether it was used before), or a new one."""
        if self._interrupted:
            raise _ExportAborted
        if self._conn is not None and self._conn.sock is not None:
            return self._conn, True
        self.drop()
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout_s, context=context
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        self._conn = conn
        return conn, False

    def drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def interrupt(self) -> None:
        """From another thread: ends a request waiting on the socket now, and refuses
        further ones (the closing backend ends a running export so)."""
        self._interrupted = True
        conn = self._conn
        sock = None if conn is None else conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def exchange(
        self,
        method: str,
        url: str,
        payload: bytes | None,
        headers: dict[str, str],
        sink: _Writer | None,
        timeout_s: float,
    ) -> _Response:
        """One request and its answer, each socket wait at most ``timeout_s``; without a
        ``sink`` (every call but an export's download) the whole answer too. A server
        trickling its answer a byte at a time never lets a socket wait time out: the
        call (and the TSE worker thread, with the sale waiting for it) ran on for as
        long as the server kept sending. A timer shuts the socket down at the deadline
        instead, which ends any wait at once."""
        conn, reused = self.connection()
        conn.timeout = timeout_s  # used by a connect still to come
        if conn.sock is not None:
            conn.sock.settimeout(timeout_s)
        expired = threading.Event()
        watchdog = None
        if sink is None:
            watchdog = threading.Timer(timeout_s, self._expire, (conn, expired))
            watchdog.daemon = True
            watchdog.start()
        try:
            resp = self._exchange(conn, reused, method, url, payload, headers, sink, timeout_s)
        except _TransportError as exc:
            if expired.is_set():
                raise _cut_short(timeout_s) from exc
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if expired.is_set():
                self.drop()  # its socket is shut down
        if expired.is_set():
            # a body read until the connection closed ends without an error when the
            # socket is shut: what arrived may be cut short (the retry asks again)
            raise _cut_short(timeout_s)
        return resp

    @staticmethod
    def _expire(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
        """The watchdog: past the deadline, the socket the exchange waits on is shut."""
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _exchange(self, conn: http.client.HTTPConnection, reused: bool, *request: Any) -> _Response:
        """:meth:`exchange`'s request and answer on ``conn``; ``request``: its method,
        url, payload, headers, sink and timeout."""
        method, url, payload, headers, sink, timeout_s = request
        wrote = False
        try:
            conn.request(method, url, body=payload, headers=headers)
            raw = conn.getresponse()
            if sink is not None and raw.status == 200:
                while chunk := raw.read(_CHUNK):
                    sink.write(chunk)
                    wrote = True
                body = b""
            else:
                body = raw.read()
            if raw.will_close:
                self.drop()
            return _Response(raw.status, body, raw.getheader("Retry-After"))
        except TimeoutError as exc:
            self.drop()
            raise _TransportError(
                "TIMEOUT", f"no answer within {timeout_s:.3g}s", stale=False, wrote=wrote
            ) from exc
        except ssl.SSLError as exc:
            self.drop()
            raise _TransportError("TLS_ERROR", str(exc), stale=False, wrote=wrote) from exc
        except (OSError, http.client.HTTPException) as exc:
            self.drop()
            if self._interrupted:
                raise _ExportAborted from exc
            stale = reused and isinstance(
                exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
            )
            message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise _TransportError("UNREACHABLE", message, stale=stale, wrote=wrote) from exc
        except BaseException:
            self.drop()  # e.g. an aborted export's sink: the answer is half read
            raise


def _cut_short(timeout_s: float) -> _TransportError:
    return _TransportError(
        "TIMEOUT", f"no complete answer within {timeout_s:.3g}s", stale=False, wrote=False
    )


class _Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _AbortableSink:
    """The export's output, checking its abort before each chunk of the download."""

    def __init__(self, out: BinaryIO, aborted: Callable[[], bool]) -> None:
        self._out = out
        self._aborted = aborted

    def write(self, data: bytes) -> int:
        if self._aborted():
            raise _ExportAborted
        return self._out.write(data)


# --------------------------------------------------------------------------- the backend


class FiskalyTse:
    """The TSE port on fiskaly SIGN DE v2.

    ``state_dir`` holds ``fiskaly-<tss_id>.json`` with the open and recently closed
    transactions (number -> transaction UUID and revision, and the call that closed it);
    without it that mapping lives in memory only.
    ``clock`` (wall clock, seconds) decides when the access token is renewed.
    ``admin_pin``, when given, logs in as TSS admin around client registration.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        tss_id: str,
        *,
        timeout_s: float = 5.0,
        clock: Callable[[], float] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        admin_pin: str | None = None,
        export_poll_s: float = 2.0,
        export_timeout_s: float = 900.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        prefix = parts.path.rstrip("/")
        if not prefix.endswith("/api/v2"):
            prefix += "/api/v2"
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = prefix
        self._api_key = api_key
        self._api_secret = api_secret
        self._tss_id = str(uuid.UUID(tss_id))
        self._timeout_s = timeout_s
        self._clock: Callable[[], float] = clock or time.time
        self._admin_pin = admin_pin
        self._export_poll_s = export_poll_s
        self._export_timeout_s = export_timeout_s
        self._ssl_context = ssl_context
        #: the signing calls (and everything else but the export): their channel, the
        #: transaction mapping and the state file
        self._lock = threading.RLock()
        self._channel = self._new_channel()
        #: the tokens, shared by the signing calls and an export on another thread
        self._auth_lock = threading.Lock()
        #: the running export's channel (interrupted by close)
        self._export_channel: _Channel | None = None
        self._export_stop: threading.Event | None = None
        self._closed = threading.Event()
        self._access_token: str | None = None
        self._access_renew_at = 0.0
        self._refresh_token: str | None = None
        self._refresh_renew_at = 0.0
        #: ``at``: the monotonic deadline of the port call running on this thread
        self._deadline = threading.local()
        state_path: Path | None = None
        if state_dir is not None:
            directory = Path(state_dir)
            directory.mkdir(parents=True, exist_ok=True)
            state_path = directory / f"fiskaly-{self._tss_id}.json"
        self._state = _StateFile(state_path)
        self._txs: dict[str, _Tx] = self._state.load()

    # ------------------------------------------------------------------ port: TSS

    def info(self) -> TseInfo:
        with self._lock, self._budget():
            tss = self._get_json(f"/tss/{self._tss_id}", "retrieve TSS")
            public_key = _b64(tss.get("public_key"), "TSS public_key")
            serial_text = tss.get("serial_number") or tss.get("tss_serial_number")
            if isinstance(serial_text, str) and serial_text:
                try:
                    serial = bytes.fromhex(serial_text)
                except ValueError:
                    raise TseError("BAD_RESPONSE", "TSS serial_number is not hex") from None
                # TR-03151: the serial is a SHA-256 hash, 32 bytes (fiscal-de.md); it is
                # printed on every receipt, so anything else is refused, not printed.
                if len(serial) != hashlib.sha256().digest_size:
                    raise TseError(
                        "BAD_RESPONSE", f"TSS serial_number is not 32 bytes: {serial_text!r}"
                    )
            else:
                # TR-03151: the serial number is SHA-256 of the public key (fiscal-de.md).
                serial = hashlib.sha256(public_key).digest()
            # every page: a TSS has up to 199 clients, more than one page of 100
            clients = [
                c
                for page in self._pages(f"/tss/{self._tss_id}/client", {}, "list clients")
                for c in page
            ]
            registered = tuple(
                str(c["serial_number"])
                for c in clients
                if isinstance(c, dict)
                and "serial_number" in c
                and c.get("state", "REGISTERED") == "REGISTERED"
            )
            return TseInfo(
                manufacturer=MANUFACTURER,
                model=MODEL,
                serial_number=serial,
                public_key=public_key,
                certificates=_certificates(tss.get("certificate")),
                signature_algorithm=str(tss.get("signature_algorithm", "")),
                time_format=str(tss.get("signature_timestamp_format", "")),
                signature_counter=_as_int(tss.get("signature_counter", 0), "signature_counter"),
                transaction_counter=_as_int(
                    tss.get("transaction_counter", 0), "transaction_counter"
                ),
                state=_TSS_STATES.get(str(tss.get("state")), TseState.UNINITIALIZED),
                certified=True,
                registered_clients=registered,
            )

    def self_test(self) -> None:
        """fiskaly has no self-test call: checks that the TSS answers and is initialised."""
        with self._lock, self._budget():
            tss = self._get_json(f"/tss/{self._tss_id}", "retrieve TSS")
            state = str(tss.get("state"))
            if state != "INITIALIZED":
                code = "DISABLED" if state in ("DISABLED", "DELETED") else "NOT_INITIALIZED"
                raise TseError(code, f"TSS {self._tss_id} is {state}", transient=False)

    def register_client(self, client_id: str) -> None:
        with self._lock, self._budget():
            client_uuid = client_uuid_for(self._tss_id, client_id)
            path = f"/tss/{self._tss_id}/client/{client_uuid}"
            with self._admin_session():
                resp = self._send("PUT", path, body={"serial_number": client_id})
            if resp.status == 409:
                # Exists already (fiskaly may refuse a second create): check it is ours.
                conflict = _http_error(resp, f"register client {client_id}")
                resp = self._send("GET", path)
                if resp.status != 200:
                    raise conflict  # another conflict, e.g. the TSS has too many clients
            if resp.status != 200:
                raise _http_error(resp, f"register client {client_id}")
            client = resp.json()
            if client.get("serial_number") != client_id:
                raise TseError(
                    "CLIENT_CONFLICT",
                    f"client {client_uuid} has serial {client.get('serial_number')!r}",
                    transient=False,
                )
            if client.get("state", "REGISTERED") != "REGISTERED":
                raise TseError(
                    "CLIENT_DEREGISTERED",
                    f"client {client_id} is {client.get('state')}",
                    transient=False,
                )

    # ------------------------------------------------------------------ port: transactions

    def start_transaction(
        self, client_id: str, process_type: str, process_data: bytes
    ) -> TseLogResult:
        with self._lock, self._budget():
            schema = self._schema(process_type, process_data)
            tx = _Tx(
                tx_id=str(uuid.uuid4()),
                client_id=client_id,
                client_uuid=client_uuid_for(self._tss_id, client_id),
            )
            self._txs[tx.tx_id] = tx
            return self._sign(tx, _STATE_ACTIVE, schema, process_type, process_data)

    def update_transaction(
        self, client_id: str, transaction_number: int, process_type: str, process_data: bytes
    ) -> TseLogResult:
        with self._lock, self._budget():
            schema = self._schema(process_type, process_data)
            tx = self._tx(client_id, transaction_number)
            return self._sign(tx, _STATE_ACTIVE, schema, process_type, process_data)

    def finish_transaction(
        self, client_id: str, transaction_number: int, process_type: str, process_data: bytes
    ) -> TseLogResult:
        with self._lock, self._budget():
            schema = self._schema(process_type, process_data)
            tx = self._tx(client_id, transaction_number, closed_too=True)
            if tx.closed:
                return self._repeat(tx, _STATE_FINISHED, schema, process_type, process_data)
            return self._sign(tx, _STATE_FINISHED, schema, process_type, process_data)

    def cancel_transaction(self, client_id: str, transaction_number: int) -> TseLogResult:
        with self._lock, self._budget():
            schema = self._schema(PROCESS_TYPE_RECEIPT, CANCEL_PROCESS_DATA)
            tx = self._tx(client_id, transaction_number, closed_too=True)
            if tx.closed:
                return self._repeat(
                    tx, _STATE_CANCELLED, schema, PROCESS_TYPE_RECEIPT, CANCEL_PROCESS_DATA
                )
            return self._sign(
                tx, _STATE_CANCELLED, schema, PROCESS_TYPE_RECEIPT, CANCEL_PROCESS_DATA
            )

    def open_transactions(self, client_id: str) -> Sequence[int]:
        """Open transactions of the client: the local mapping plus fiskaly's ACTIVE list.

        Pending calls are settled first; ACTIVE transactions fiskaly knows but the mapping
        lacks (e.g. a lost state file) are adopted so they can be finished or cancelled.
        """
        with self._lock, self._budget():
            for tx in list(self._txs.values()):
                if tx.client_id == client_id and tx.pending_revision is not None:
                    try:
                        self._settle(tx, None)
                    except TseError as exc:
                        if exc.transient:
                            raise
                        # fiskaly refuses to tell (e.g. 404): nothing we could finish.
                        _log.error("dropping fiskaly transaction %s: %s", tx.tx_id, exc)
                        tx.closed = True
            self._adopt_active(client_id)
            self._save()
            return sorted(
                tx.number
                for tx in self._txs.values()
                if tx.client_id == client_id and tx.number is not None and not tx.closed
            )

    # ------------------------------------------------------------------ port: export, close

    def export(self, out: BinaryIO, abort: threading.Event | None = None) -> None:
        """Triggers a full export, waits for it and streams the TAR into ``out``.

        Runs beside the signing calls (TSE port): on an HTTP connection of its own (an
        ``http.client`` connection is not thread-safe) and without the signing lock, so
        a sale's start and finish never wait for the export's trigger, its polls (for
        up to ``export_timeout_s``) or its download. The access token is shared (renewed
        under ``_auth_lock``, once for both threads). ``abort`` set, or :meth:`close`,
        ends it before the next poll or chunk (``EXPORT_ABORTED``). After an error
        ``out`` may hold part of a TAR: the caller discards it.
        """
        stop = abort if abort is not None else threading.Event()

        def aborted() -> bool:
            return stop.is_set() or self._closed.is_set()

        channel = self._new_channel()
        self._export_channel, self._export_stop = channel, stop
        try:
            if aborted():
                raise _ExportAborted
            export_id = str(uuid.uuid4())
            base = f"/tss/{self._tss_id}/export/{export_id}"
            deadline = time.monotonic() + self._export_timeout_s
            while True:
                resp = self._send("PUT", base, body={}, channel=channel)
                if resp.status in (200, 201, 202):
                    break
                refused = _http_error(resp, "trigger export")
                # 429: fiskaly still works on an earlier export of this TSS with the same
                # parameters (E_EXPORT_DUPLICATE_RATE_LIMITED, fiskaly Dev News 27,
                # https://developer.fiskaly.com/blog/dev-news-27), e.g. one whose caller
                # gave up; it goes on at fiskaly. Asking again (same export id: the PUT
                # is idempotent) until that one is done gives a complete export of now;
                # failing at once would refuse every export until it ends.
                if resp.status != 429 or time.monotonic() >= deadline:
                    raise refused
                _log.info("fiskaly export %s: %s; asking again", export_id, refused)
                if stop.wait(self._export_poll_s) or aborted():
                    raise _ExportAborted
            while True:
                failed: TseError | None = None
                try:
                    state = str(
                        self._get_json(base, "retrieve export", channel=channel).get("state")
                    )
                except TseError as exc:
                    # The export goes on at fiskaly while one poll fails (a 502 of a proxy,
                    # a lost answer): ending here threw away minutes of work. Only a
                    # refusal, or failing polls up to the export's deadline, end it (with
                    # the last poll's error).
                    if not exc.transient:
                        raise
                    failed, state = exc, "PENDING"
                if state == "COMPLETED":
                    break
                if state not in ("PENDING", "WORKING"):
                    raise TseError(f"EXPORT_{state}", f"export {export_id} is {state}")
                if time.monotonic() >= deadline:
                    if failed is not None:
                        raise failed
                    raise TseError("EXPORT_TIMEOUT", f"export {export_id} still {state}")
                if failed is not None:
                    _log.warning(
                        "fiskaly export %s: poll failed (%s); polling on", export_id, failed
                    )
                if stop.wait(self._export_poll_s) or aborted():
                    raise _ExportAborted
            resp = self._send(
                "GET",
                f"{base}/file",
                sink=_AbortableSink(out, aborted),
                channel=channel,
            )
            if resp.status != 200:
                raise _http_error(resp, "download export")
        except _ExportAborted:
            raise TseError("EXPORT_ABORTED", "the export was aborted", transient=False) from None
        finally:
            self._export_channel, self._export_stop = None, None
            channel.drop()

    def close(self) -> None:
        self._closed.set()
        stop, export = self._export_stop, self._export_channel
        if stop is not None:
            stop.set()  # wakes its wait for the next poll
        if export is not None:
            export.interrupt()
        with self._lock:
            self._channel.drop()

    # ------------------------------------------------------------------ transactions

    def _schema(self, process_type: str, process_data: bytes) -> dict[str, Any] | None:
        try:
            return process_data_to_schema(process_type, process_data)
        except ProcessDataError as exc:
            raise TseError("INVALID_PROCESS_DATA", str(exc), transient=False) from None

    def _tx(self, client_id: str, number: int, *, closed_too: bool = False) -> _Tx:
        """The open transaction ``number`` (or, with ``closed_too``, one we closed)."""
        for tx in self._txs.values():
            if tx.number == number and (closed_too or not tx.closed):
                if tx.client_id != client_id:
                    raise TseError(
                        "CLIENT_MISMATCH",
                        f"transaction {number} belongs to client {tx.client_id}",
                        transient=False,
                    )
                return tx
        raise TseError(
            "UNKNOWN_TRANSACTION", f"no open transaction {number} on this TSS", transient=False
        )

    def _tx_path(self, tx: _Tx) -> str:
        return f"/tss/{self._tss_id}/tx/{tx.tx_id}"

    @staticmethod
    def _body(tx: _Tx, state: str, schema: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"state": state, "client_id": tx.client_uuid}
        if schema is not None:
            body["schema"] = schema
        return body

    def _repeat(
        self,
        tx: _Tx,
        state: str,
        schema: dict[str, Any] | None,
        process_type: str,
        process_data: bytes,
    ) -> TseLogResult:
        """Finishing or cancelling a transaction we closed, again: the stored result.

        Only the very call that closed it (same state, same schema) gets an answer, read
        back from fiskaly (``GET .../tx/{tx_id}``) and mapped as the first answer was;
        anything else is UNKNOWN_TRANSACTION, as for a transaction that is not open.
        """
        if tx.final_body != self._body(tx, state, schema):
            raise TseError(
                "UNKNOWN_TRANSACTION",
                f"transaction {tx.number} is already closed with other data",
                transient=False,
            )
        resp = self._send("GET", self._tx_path(tx))
        if resp.status == 404:
            raise TseError(
                "UNKNOWN_TRANSACTION",
                f"transaction {tx.number} ({tx.tx_id}) is not known to fiskaly",
                transient=False,
            )
        if resp.status != 200:
            raise _http_error(resp, f"retrieve transaction {tx.tx_id}")
        data = resp.json()
        latest = _as_int(data.get("latest_revision", data.get("revision")), "latest_revision")
        number = _as_int(data.get("number", tx.number), "transaction number")
        if data.get("state") != state or latest != tx.revision or number != tx.number:
            raise TseError(
                "UNKNOWN_TRANSACTION",
                f"transaction {tx.number} is {data.get('state')} at revision {latest} on "
                f"fiskaly, not {state} at revision {tx.revision} as closed here",
                transient=False,
            )
        _log.info("fiskaly tx %s was closed before; returning its stored result", tx.tx_id)
        return self._result(tx, data, state, process_type, process_data, tx.revision)

    def _sign(
        self,
        tx: _Tx,
        state: str,
        schema: dict[str, Any] | None,
        process_type: str,
        process_data: bytes,
    ) -> TseLogResult:
        """Signs the next revision of ``tx`` and maps fiskaly's answer to the port."""
        body = self._body(tx, state, schema)
        if tx.pending_revision is not None:
            replay = self._settle(tx, body)
            if replay is not None:
                return self._result(tx, replay, state, process_type, process_data, tx.revision)
        for attempt in range(2):
            if tx.closed:
                self._save()
                raise TseError(
                    "TRANSACTION_CLOSED",
                    f"transaction {tx.number} is no longer active",
                    transient=False,
                )
            revision = tx.revision + 1
            tx.pending_revision, tx.pending_body = revision, body
            self._save()
            # Timeouts and connection losses are retried inside _send with this same
            # revision; if both attempts fail the revision stays pending (see _settle).
            resp = self._send(
                "PUT", self._tx_path(tx), query={"tx_revision": str(revision)}, body=body
            )
            if resp.status == 200:
                # Map first: an answer we cannot use leaves the revision pending.
                data = resp.json()
                result = self._result(tx, data, state, process_type, process_data, revision)
                tx.number = result.transaction_number
                tx.revision = revision
                tx.pending_revision, tx.pending_body = None, None
                tx.closed = state != _STATE_ACTIVE
                if tx.closed:
                    self._closed_by(tx, body)
                self._save()
                return result
            error = _http_error(resp, f"transaction revision {revision}")
            if resp.status == 409 and _error_code(resp) in _PENDING_CODES:
                # An earlier request on this transaction (a timed-out attempt of ours) is
                # still being processed and may yet be signed: no refusal, so the sale
                # code sees the TSE as not answering in time. A start stays pending (its
                # one possible body), to be read back by the next call (_settle); a
                # later revision is not: the request still in flight may carry an
                # earlier call's body, and the next call's PUT of this revision gets
                # either the stored answer (same body) or a 409 that settles it.
                if tx.revision > 0:
                    tx.pending_revision, tx.pending_body = None, None
                    self._save()
                raise TseError(error.code, error.message, transient=True)
            if resp.status == 409 and attempt == 0:
                # Revision taken, e.g. by a late copy of an earlier lost call: learn where
                # fiskaly is and go on with the next revision.
                replay = self._settle(tx, body)
                if replay is not None:
                    return self._result(tx, replay, state, process_type, process_data, tx.revision)
                if tx.closed and tx.revision == 0:
                    raise error  # a refused start: there is no transaction
                continue
            if not error.transient:
                # Refused: the revision was not signed, nothing is pending.
                tx.pending_revision, tx.pending_body = None, None
                if tx.revision == 0:
                    tx.closed = True
                self._save()
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(self, tx: _Tx, body: dict[str, Any] | None) -> dict[str, Any] | None:
        """Finds out whether the pending revision of ``tx`` was signed.

        Returns fiskaly's transaction object when that pending call is exactly the one now
        asked for (``body``) and it was signed: the caller gets that result instead of a
        second signature. Otherwise the mapping is brought up to fiskaly's revision.
        """
        pending_revision, pending_body = tx.pending_revision, tx.pending_body
        resp = self._send("GET", self._tx_path(tx))
        if resp.status == 404 and tx.revision == 0:
            # The start never reached fiskaly: there is no transaction.
            tx.pending_revision, tx.pending_body, tx.closed = None, None, True
            self._save()
            return None
        if resp.status != 200:
            raise _http_error(resp, f"retrieve transaction {tx.tx_id}")
        data = resp.json()
        latest = _as_int(data.get("latest_revision", data.get("revision")), "latest_revision")
        if "number" in data:
            tx.number = _as_int(data["number"], "transaction number")
        if latest < tx.revision:
            # fiskaly confirmed tx.revision to us: an older answer is a stale read, and
            # going back would send a used revision with another body (a 409 refusal);
            # revisions of a transaction only ever go up.
            _log.warning(
                "fiskaly tx %s read back at revision %d, below the confirmed %d; keeping it",
                tx.tx_id,
                latest,
                tx.revision,
            )
            latest = tx.revision
        tx.revision = latest
        tx.pending_revision, tx.pending_body = None, None
        tx.closed = data.get("state") != _STATE_ACTIVE
        if (
            tx.closed
            and pending_body is not None
            and pending_revision == latest
            and pending_body.get("state") == data.get("state")
        ):
            self._closed_by(tx, pending_body)  # our pending call is the one that closed it
        self._save()
        if (
            pending_revision is not None
            and latest == pending_revision
            and body is not None
            and pending_body == body
        ):
            _log.info("fiskaly tx %s revision %d was signed before; reusing it", tx.tx_id, latest)
            return data
        return None

    def _adopt_active(self, client_id: str) -> None:
        client_uuid = client_uuid_for(self._tss_id, client_id)
        items = self._list_active(client_uuid)
        if items is None:
            return
        for item in items:
            if not isinstance(item, dict) or item.get("state") != _STATE_ACTIVE:
                continue
            tx_id = str(item.get("_id", ""))
            if not tx_id or tx_id in self._txs:
                continue
            if item.get("client_id") not in (None, client_uuid):
                continue
            latest = item.get("latest_revision", item.get("revision"))
            # One malformed item must not keep the others from being reconciled (nor
            # keep every recovery failing): it is skipped, loudly; it stays ACTIVE at
            # fiskaly and is looked at again by the next list.
            try:
                number = _as_int(item.get("number"), "transaction number")
                revision = _as_int(latest, "latest_revision")
            except TseError as exc:
                _log.warning(
                    "skipping malformed active fiskaly transaction %s: %s", tx_id, exc.message
                )
                continue
            self._txs[tx_id] = _Tx(
                tx_id=tx_id,
                client_id=client_id,
                client_uuid=client_uuid,
                number=number,
                revision=revision,
            )
            _log.warning("adopted open fiskaly transaction %s from the server", tx_id)

    def _list_active(self, client_uuid: str) -> list[Any] | None:
        """Every ACTIVE transaction of the client at fiskaly, page by page (None when
        fiskaly refuses the list for good: the local state is all there is).

        fiskaly returns a list in pages of at most ``limit`` (100) items from ``offset``
        (fiskaly SIGN DE API v2 reference, "List Transactions of a Client": query
        ``states[]``, ``order_by``, ``order``, ``limit``, ``offset``), and a TSS holds up
        to 2000 active transactions: one page alone could miss most of them. Ordered by
        number, so the pages do not shift while they are read (under ``_lock`` nothing
        of this client is started or closed meanwhile); a page shorter than asked for is
        the last. A server that ignored ``offset`` (a page with nothing new) ends it too.
        """
        items: list[Any] = []
        pages = self._pages(
            f"/tss/{self._tss_id}/client/{client_uuid}/tx",
            {"states[]": _STATE_ACTIVE, "order_by": "number", "order": "asc"},
            "list active transactions",
            max_items=_MAX_ACTIVE,
        )
        try:
            for page in pages:
                items += page
        except TseError as error:
            if error.transient or error.code == "BAD_RESPONSE":
                raise
            _log.warning("cannot list active fiskaly transactions (%s); using local state", error)
            return items or None
        return items

    def _pages(
        self, path: str, query: Mapping[str, str], what: str, *, max_items: int = _MAX_ACTIVE
    ) -> Iterator[list[Any]]:
        """The pages of a fiskaly list, first to last (a refusal raised as ``_http_error``).

        fiskaly returns a list in pages of at most ``limit`` (100) items from ``offset``
        (fiskaly SIGN DE API v2 reference, list endpoints: ``limit``, ``offset``); a page
        shorter than asked for is the last. A server that ignored ``offset`` (a page with
        nothing new) ends it too, and so does reading past ``max_items``."""
        seen: set[str] = set()
        offset = 0
        while True:
            resp = self._send(
                "GET",
                path,
                query={**query, "limit": str(_LIST_PAGE), "offset": str(offset)},
            )
            if resp.status != 200:
                raise _http_error(resp, what)
            page = _list(resp.json().get("data", []), f"{what}: data")  # else nothing to go by
            ids = {str(i.get("_id", "")) for i in page if isinstance(i, dict)} - {""}
            if ids and ids <= seen:
                _log.warning("fiskaly repeated a page (%s); list ends", what)
                return
            seen |= ids
            yield page
            if len(page) < _LIST_PAGE or offset // _LIST_PAGE > max_items // _LIST_PAGE:
                return
            offset += len(page)

    def _closed_by(self, tx: _Tx, body: dict[str, Any]) -> None:
        """Records the call that closed ``tx``; the newest closed go last (kept longest)."""
        tx.final_body = body
        self._txs[tx.tx_id] = self._txs.pop(tx.tx_id, tx)

    def _save(self) -> None:
        # Closed transactions are kept (bounded) only when a repeat of the closing call
        # can be answered: number and closing body known.
        closed = [k for k, tx in self._txs.items() if tx.closed]
        kept = [
            k
            for k in closed
            if self._txs[k].number is not None and self._txs[k].final_body is not None
        ]
        keep = set(kept[-_CLOSED_KEPT:])
        for tx_id in closed:
            if tx_id not in keep:
                del self._txs[tx_id]
        try:
            self._state.save(list(self._txs.values()))
        except OSError:
            # The mapping stays correct in memory, and fiskaly's list of ACTIVE
            # transactions covers a restart; failing here could lose a signature.
            _log.exception("cannot write fiskaly state file %s", self._state.path)

    def _result(
        self,
        tx: _Tx,
        data: Mapping[str, Any],
        state: str,
        process_type: str,
        process_data: bytes,
        revision: int,
    ) -> TseLogResult:
        """Maps fiskaly's transaction object for revision ``revision`` of ``tx``, asked to
        be in ``state``.

        An answer that describes anything else (another transaction, number, revision or
        state) is refused as BAD_RESPONSE rather than printed on a receipt: the revision
        then stays pending and the next call reads back what fiskaly really signed.
        """
        answered = data.get("revision", revision)
        if _as_int(answered, "revision") != revision:
            raise TseError("BAD_RESPONSE", f"answer for revision {answered!r}, not {revision}")
        if data.get("state") != state:
            raise TseError(
                "BAD_RESPONSE", f"answer in state {data.get('state')!r}, not {state}"[:300]
            )
        if data.get("_id", tx.tx_id) != tx.tx_id:
            raise TseError(
                "BAD_RESPONSE", f"answer for transaction {data.get('_id')!r}, not {tx.tx_id}"
            )
        number = _as_count(data.get("number"), "number")
        if tx.number is not None and number != tx.number:
            raise TseError(
                "BAD_RESPONSE", f"answer for transaction number {number}, not {tx.number}"
            )
        if state == _STATE_ACTIVE:
            operation = TseOperation.START if revision == 1 else TseOperation.UPDATE
        else:
            operation = TseOperation.FINISH
        signature = _obj(data.get("signature"), "signature")
        log = _obj(data.get("log"), "log")
        log_time = _as_time(log.get("timestamp"), "log.timestamp")
        start = data.get("time_start")
        signed = _qr_process(data.get("qr_code_data"))
        if signed is not None:
            # The QR code carries what fiskaly really signed (built from our schema).
            process_type, process_data = signed
        return TseLogResult(
            operation=operation,
            client_id=tx.client_id,
            transaction_number=number,
            signature_counter=_as_count(signature.get("counter"), "signature.counter"),
            log_time=log_time,
            process_type=process_type,
            process_data=process_data,
            signature=_b64(signature.get("value"), "signature.value"),
            start_time=log_time if start is None else _as_time(start, "time_start"),
        )

    # ------------------------------------------------------------------ auth

    @contextlib.contextmanager
    def _admin_session(self) -> Iterator[None]:
        if self._admin_pin is None:
            yield
            return
        resp = self._send(
            "POST", f"/tss/{self._tss_id}/admin/auth", body={"admin_pin": self._admin_pin}
        )
        if resp.status != 200:
            raise _http_error(resp, "admin login")
        try:
            yield
        finally:
            with contextlib.suppress(TseError):
                self._send("POST", f"/tss/{self._tss_id}/admin/logout", body={})

    def _bearer(self, channel: _Channel) -> str:
        """A valid access token; renewed (refresh, else login) over ``channel``.

        The signing calls and an export use the tokens from two threads: renewal runs
        under ``_auth_lock``, and a thread that waited there finds the token the other
        one just got. Two renewals at once would spend the single-use refresh token twice
        (the second refused, then a full login) and could leave either pair behind."""
        with self._auth_locked():
            now = self._clock()
            if self._access_token is not None and now < self._access_renew_at:
                return self._access_token
            if self._refresh_token is not None and now < self._refresh_renew_at:
                try:
                    return self._authenticate(
                        {"refresh_token": self._refresh_token}, "refresh", channel
                    )
                except TseError as exc:
                    if exc.transient:
                        raise
                    _log.info("fiskaly token refresh refused (%s); logging in again", exc)
                    self._refresh_token = None
            return self._authenticate(
                {"api_key": self._api_key, "api_secret": self._api_secret},
                "authenticate",
                channel,
            )

    def _token_refused(self, token: str) -> None:
        """A 401 for ``token``: forget it, unless another thread has renewed it already."""
        with self._auth_locked():
            if self._access_token == token:
                self._access_token = None

    @contextlib.contextmanager
    def _auth_locked(self) -> Iterator[None]:
        """``_auth_lock``, waited for no longer than the running port call may take.

        The export renews on its own budget (each request ``timeout_s``, a refused
        refresh and then a login two of them): a signing call waiting behind it without
        a limit outlived its TSE timeout, which the sale code holds to (see
        :meth:`_budget`). Outside a port call (the export) it waits as long as needed:
        a signing call holds the lock only within its own deadline.
        """
        deadline: float | None = getattr(self._deadline, "at", None)
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._auth_lock.acquire(timeout=wait):
            raise TseError(
                "TIMEOUT",
                f"no access token within the TSE timeout of {self._timeout_s:g}s"
                " (a token renewal of the export is still running)",
            )
        try:
            yield
        finally:
            self._auth_lock.release()

    def _authenticate(self, body: dict[str, Any], what: str, channel: _Channel) -> str:
        resp = self._send("POST", "/auth", body=body, auth=False, channel=channel)
        if resp.status != 200:
            error = _http_error(resp, what)
            if resp.status in (400, 401, 403):
                raise TseError("AUTH_FAILED", error.message, transient=False)
            raise error
        data = resp.json()
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise TseError("BAD_RESPONSE", f"{what}: no access_token")
        now = self._clock()
        self._access_token = token
        self._access_renew_at = now + self._renew_after(data, "access_token", now)
        refresh = data.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._refresh_token = refresh
            self._refresh_renew_at = now + self._renew_after(data, "refresh_token", now)
        return token

    @staticmethod
    def _renew_after(data: Mapping[str, Any], prefix: str, now: float) -> float:
        """Seconds until a token should be renewed (relative: immune to clock skew)."""
        lifetime = _DEFAULT_TOKEN_LIFETIME_S
        expires_in = data.get(f"{prefix}_expires_in")
        expires_at = data.get(f"{prefix}_expires_at")
        with contextlib.suppress(TseError):
            if expires_in is not None:
                lifetime = float(_as_int(expires_in, "expires_in"))
            elif expires_at is not None:
                lifetime = float(_as_int(expires_at, "expires_at")) - now
        return max(0.0, lifetime - min(_TOKEN_MARGIN_S, lifetime / 4))

    # ------------------------------------------------------------------ HTTP

    @contextlib.contextmanager
    def _budget(self) -> Iterator[None]:
        """One port call: all its requests (token renewal, settling, retries) together
        within ``timeout_s``.

        The sale code waits that long for a TSE call and then opens an outage
        (services/fiscal, AEAO zu §146a Nr. 7); a backend still busy after it would hold
        the single TSE worker thread, so the next call waits behind it too, and could
        still sign something the sale has already recorded as unsigned.
        """
        if getattr(self._deadline, "at", None) is not None:
            yield  # nested in a running port call: its deadline holds
            return
        self._deadline.at = time.monotonic() + self._timeout_s
        try:
            yield
        finally:
            self._deadline.at = None

    def _get_json(self, path: str, what: str, *, channel: _Channel | None = None) -> dict[str, Any]:
        resp = self._send("GET", path, channel=channel)
        if resp.status != 200:
            raise _http_error(resp, what)
        return resp.json()

    def _new_channel(self) -> _Channel:
        return _Channel(self._scheme, self._host, self._port, self._timeout_s, self._ssl_context)

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        auth: bool = True,
        sink: _Writer | None = None,
        channel: _Channel | None = None,
    ) -> _Response:
        """One API call, on ``channel`` (default: the signing calls' channel, which the
        caller uses under ``_lock``).

        After a timeout or a lost connection the identical request is sent once more (all
        calls used are idempotent: a transaction call repeats its revision). A request that
        fails on a kept-alive connection the server had closed meanwhile is resent at once
        on a new connection without using up that retry. A 401 renews the token (refresh,
        else login) and repeats the call once. Within a port call a busy answer (423, 429:
        nothing took effect) or a server error (500, 502, 503, 504: repeating a call that
        took effect gets the stored answer, or a 409 the caller settles) is repeated after
        its ``Retry-After`` (else a growing short back-off) while that wait ends before the
        deadline; otherwise it is returned (a transient error to the caller: the sale
        code's outage, closed by its probe). A connection reset or closed before any
        answer is repeated so too (without using up the retry of a timeout).

        Everything stays within the deadline of the running port call (:meth:`_budget`;
        outside one, e.g. an export's polls, each request has ``timeout_s`` of its own):
        while a retry is left an attempt may use half of the time left, so that a lost
        answer can still be fetched once; past the deadline it is ``TIMEOUT``.
        """
        deadline: float | None = getattr(self._deadline, "at", None)
        # Outside a port call (an export) a busy answer is the caller's to handle: the
        # export waits for a running one on its own, much longer, schedule.
        in_call = deadline is not None
        if deadline is None:
            deadline = time.monotonic() + self._timeout_s
        via = self._channel if channel is None else channel
        url = self._prefix + path
        if query:
            url += "?" + urlencode(query, quote_via=quote, safe="[]")
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        retry_left, stale_left, reauth_left = 1, 1, 1
        backoff_s = _BUSY_BACKOFF_S
        while True:
            headers = {"Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = "application/json"
            token = None
            if auth:
                token = self._bearer(via)
                headers["Authorization"] = f"Bearer {token}"
            left = deadline - time.monotonic()
            if left <= 0:
                raise TseError(
                    "TIMEOUT",
                    f"{method} {path}: no answer within the TSE timeout of {self._timeout_s:g}s",
                )
            attempt_s = left / 2 if retry_left else left
            try:
                resp = via.exchange(method, url, payload, headers, sink, attempt_s)
            except _TransportError as exc:
                if exc.wrote:
                    raise exc.to_tse_error() from None
                if exc.stale and stale_left:
                    stale_left -= 1
                    continue
                if in_call and exc.code == "UNREACHABLE":
                    # Reset or closed before any answer (a proxy restarting, a deploy):
                    # not a wait that used up the attempt's time, so it does not spend
                    # the one retry of a timeout; repeated while the budget allows.
                    wait, backoff_s = backoff_s, min(backoff_s * 2, _BUSY_BACKOFF_MAX_S)
                    if self._wait_to_repeat(method, path, exc.message, wait, deadline):
                        continue
                    raise exc.to_tse_error() from None
                if retry_left:
                    retry_left -= 1
                    _log.warning("fiskaly %s %s: %s; retrying once", method, path, exc.message)
                    continue
                raise exc.to_tse_error() from None
            if resp.status == 401 and token is not None and reauth_left:
                reauth_left -= 1
                self._token_refused(token)
                continue
            if in_call and resp.status in _BUSY_STATUSES | _SERVER_ERROR_STATUSES:
                retry_after = _retry_after_s(resp.retry_after, self._clock())
                if retry_after is None:
                    wait, backoff_s = backoff_s, min(backoff_s * 2, _BUSY_BACKOFF_MAX_S)
                else:
                    wait = retry_after
                kind = "busy" if resp.status in _BUSY_STATUSES else "server error"
                why = f"HTTP {resp.status} ({kind})"
                if self._wait_to_repeat(method, path, why, wait, deadline):
                    continue
            return resp

    def _wait_to_repeat(
        self, method: str, path: str, why: str, wait: float, deadline: float
    ) -> bool:
        """Waits ``wait`` seconds before a repeat of a request; False (at once) when the
        wait would not end before ``deadline`` or the backend is closing."""
        if time.monotonic() + wait >= deadline:
            return False
        _log.info("fiskaly %s %s: %s; repeating in %.3gs", method, path, why, wait)
        return not self._closed.wait(wait)
