"""A local fake of the fiskaly SIGN DE v2 API for tests: real HTTP, real signatures.

Start it in a test, point :class:`posd_daemon.fiscal.fiskaly.FiskalyTse` at
:attr:`FakeFiskaly.base_url`, and it enforces the documented contract (fiscal-de.md,
"fiskaly SIGN DE v2", and the sources quoted in ``fiscal/fiskaly.py``):

* every call but ``POST /api/v2/auth`` needs a valid, unexpired Bearer token (401 else);
  tokens renew with a single-use ``refresh_token``;
* ``PUT /tss/{tss}/tx/{tx}?tx_revision=N``: N must be 1 for a new transaction and exactly
  latest + 1 afterwards (409 else); a repeat of a stored revision with the same body gets
  the stored answer (idempotent), with another body 409; a new transaction starts ACTIVE;
  ACTIVE may go to ACTIVE, FINISHED or CANCELLED, a closed one never changes; the client
  must be registered; at most ``max_active`` (2000) active transactions per TSS;
* lists of transactions are paged as fiskaly pages them: ``limit`` (default and at most
  ``list_limit``, 100) items from ``offset`` (default 0), ordered by ``order_by``/``order``
  (``number``, ``asc``/``desc``); a limit out of range is refused with 400; ``count`` is
  the number of items in the page;
* errors are fiskaly-shaped JSON ``{status_code, error, code, message}``.

It signs like a TSE: an EC P-256 key, one TR-03151 transaction log message per revision
(built with ``posd_daemon.fiscal.log_message``), a monotonic signature counter over the
TSS and transaction numbers. Exports are TARs with ``info.csv``, the certificate and every
log message under its TR-03153 file name.

Fault injection, callable from the test thread: :meth:`FakeFiskaly.fail_next` (5xx, before
or after the request took effect),
:meth:`FakeFiskaly.delay_next` (slow answers, to trigger timeouts) and
:meth:`FakeFiskaly.drop_next` (close the socket without an answer, before or after the
request took effect), :meth:`FakeFiskaly.mangle_next` (the request takes effect, the
answer is replaced, e.g. by malformed JSON or wrong fields).
:meth:`FakeFiskaly.advance` moves the fake's clock (token expiry).
Opt-in contract rules: ``reject_duplicate_exports`` (429 for a new export while one is
unfinished) and ``pending_tx_conflicts`` (409 ``E_PENDING_TX_CONFLICT`` for a transaction
call while a delayed one on it is still being processed).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import hashlib
import io
import json
import secrets
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from posd_daemon.fiscal import log_message, tar_export
from posd_daemon.fiscal.fiskaly import FiskalyTse

API_PREFIX = "/api/v2"
SIGNATURE_ALGORITHM = "ecdsa-plain-SHA256"
TIME_FORMAT = "unixTime"
API_VERSION = "2.2.2"

VAT_RATES = ("NORMAL", "REDUCED_1", "SPECIAL_RATE_1", "SPECIAL_RATE_2", "NULL")
RECEIPT_TYPES = {
    "RECEIPT": "Beleg",
    "TRAINING": "AVTraining",
    "TRANSFER": "AVTransfer",
    "ORDER": "AVBestellung",
    "CANCELLATION": "AVBelegabbruch",
    "ABORT": "AVBelegabbruch",
    "BENEFIT_IN_KIND": "AVSachbezug",
    "INVOICE": "AVRechnung",
    "OTHER": "AVSonstige",
}
PAYMENT_TYPES = {"CASH": "Bar", "NON_CASH": "Unbar"}
TX_STATES = ("ACTIVE", "FINISHED", "CANCELLED")


class ApiError(Exception):
    """An error answer in fiskaly's format."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "status_code": self.status,
            "error": HTTPStatus(self.status).phrase,
            "code": self.code,
            "message": self.message,
        }


@dataclass
class Recorded:
    """One request the fake received (path without ``/api/v2``)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0


@dataclass
class _Fault:
    kind: str  # "fail" | "delay" | "drop" | "mangle"
    remaining: int
    match: str | None
    status: int = 503
    seconds: float = 0.0
    after: bool = False
    #: "mangle": turns the JSON answer into another one (or into raw bytes)
    mangle: Callable[[Any], Any] | None = None
    #: only requests of this HTTP method (None: any)
    method: str | None = None


@dataclass
class FakeTx:
    tx_id: str
    client_id: str
    number: int
    time_start: int
    state: str = "ACTIVE"
    time_end: int | None = None
    #: (request body, response) per revision, revision N at index N-1.
    revisions: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)


@dataclass
class LogFile:
    name: str
    data: bytes


def _money(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, "E_VALIDATION", f"{what} must be a string")
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise ApiError(400, "E_VALIDATION", f"{what} is not a decimal") from None
    if amount.as_tuple().exponent != -2:
        raise ApiError(400, "E_VALIDATION", f"{what} needs exactly 2 decimals")
    return value


def render_receipt(receipt: Any) -> str:
    """standard_v1.receipt -> Kassenbeleg-V1 processData (fiscal-de.md, processData)."""
    if not isinstance(receipt, dict):
        raise ApiError(400, "E_VALIDATION", "receipt must be an object")
    try:
        bon_typ = RECEIPT_TYPES[receipt.get("receipt_type", "")]
    except KeyError:
        raise ApiError(400, "E_VALIDATION", "bad receipt_type") from None
    per_vat: dict[str, str] = {}
    for item in receipt.get("amounts_per_vat_rate", []):
        rate = item.get("vat_rate") if isinstance(item, dict) else None
        if rate not in VAT_RATES or rate in per_vat:
            raise ApiError(400, "E_VALIDATION", f"bad or repeated vat_rate {rate!r}")
        per_vat[rate] = _money(item.get("amount"), "amount")
    payments = []
    for item in receipt.get("amounts_per_payment_type", []):
        kind = item.get("payment_type") if isinstance(item, dict) else None
        if kind not in PAYMENT_TYPES:
            raise ApiError(400, "E_VALIDATION", f"bad payment_type {kind!r}")
        text = f"{_money(item.get('amount'), 'amount')}:{PAYMENT_TYPES[kind]}"
        currency = item.get("currency_code")
        if currency is not None:
            if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
                raise ApiError(400, "E_VALIDATION", f"bad currency_code {currency!r}")
            if currency != "EUR":
                text += f":{currency}"
        payments.append(text)
    amounts = "_".join(per_vat.get(rate, "0.00") for rate in VAT_RATES)
    return f"{bon_typ}^{amounts}^{'_'.join(payments)}"


def render_order(order: Any) -> str:
    """standard_v1.order -> Bestellung-V1 processData."""
    items = order.get("line_items") if isinstance(order, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(400, "E_VALIDATION", "order needs line_items")
    lines = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ApiError(400, "E_VALIDATION", "bad line item")
        quantity = item.get("quantity")
        if not isinstance(quantity, str):
            raise ApiError(400, "E_VALIDATION", "quantity must be a string")
        text = item["text"].replace('"', '""')
        lines.append(f'{quantity};"{text}";{_money(item.get("price_per_unit"), "price")}')
    return "\r".join(lines)


def render_process(schema: Any) -> tuple[str, bytes]:
    """processType and processData fiskaly signs for a request schema."""
    if schema is None:
        return "Kassenbeleg-V1", b""
    standard = schema.get("standard_v1") if isinstance(schema, dict) else None
    if not isinstance(standard, dict):
        raise ApiError(400, "E_VALIDATION", "schema.standard_v1 missing")
    if "receipt" in standard:
        return "Kassenbeleg-V1", render_receipt(standard["receipt"]).encode()
    if "order" in standard:
        return "Bestellung-V1", render_order(standard["order"]).encode()
    raise ApiError(400, "E_VALIDATION", "standard_v1 needs receipt or order")


def _iso(seconds: int) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeFiskaly:
    """The fake server; use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(
        self,
        *,
        api_key: str = "test-api-key",
        api_secret: str = "test-api-secret",
        tss_id: str | None = None,
        access_ttl_s: int = 600,
        refresh_ttl_s: int = 1200,
        max_active: int = 2000,
        max_clients: int = 199,
        admin_pin: str | None = None,
        export_polls: int = 1,
        clock_start: float | None = None,
        list_limit: int = 100,
        reject_duplicate_exports: bool = False,
        pending_tx_conflicts: bool = False,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        #: Sent as ``Retry-After`` with every 423, 429 and 5xx answer while set (seconds
        #: or an HTTP-date, RFC 9110 section 10.2.3).
        self.retry_after: str | None = None
        self.tss_id = tss_id or str(uuid.uuid4())
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self.max_active = max_active
        self.max_clients = max_clients
        self.admin_pin = admin_pin
        #: Client creation needs an admin login (POST .../admin/auth) when True.
        self.client_requires_admin = admin_pin is not None
        #: Answer a repeated client PUT with 409 even when it is identical.
        self.client_conflict_on_repeat = False
        self.export_polls = export_polls
        #: A new export while another is still PENDING/WORKING is refused with 429
        #: ``E_EXPORT_DUPLICATE_RATE_LIMITED``, as fiskaly does since July 2024 for an
        #: export of the same TSS with identical parameters (fiskaly Dev News 27,
        #: https://developer.fiskaly.com/blog/dev-news-27). Off by default: tests that
        #: leave an export unfinished on purpose need not complete it first.
        self.reject_duplicate_exports = reject_duplicate_exports
        #: A transaction call that arrives while an earlier one on the same transaction
        #: is still being processed (a ``delay_next(before=True)`` on its PUT) is refused
        #: with 409 ``E_PENDING_TX_CONFLICT``; the earlier one then still takes effect.
        #: Off by default (the other tests' delays model a slow network, not this).
        self.pending_tx_conflicts = pending_tx_conflicts
        #: transaction id -> PUTs on it still being processed (pending_tx_conflicts)
        self._in_flight: dict[str, int] = {}
        #: The default and largest page of a list of transactions.
        self.list_limit = list_limit
        self.tss_state = "INITIALIZED"

        self._offset = 0.0 if clock_start is None else clock_start - time.time()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._faults: list[_Fault] = []
        #: ``method``: the HTTP method of the request this thread is handling
        self._request = threading.local()
        self._access: dict[str, float] = {}
        self._refresh: dict[str, float] = {}
        self.logins = 0
        self.refreshes = 0
        self.admin_logged_in = False
        self.clients: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, FakeTx] = {}
        self.log_files: list[LogFile] = []
        self.exports: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self.signature_counter = 0
        self.transaction_counter = 0
        #: Raw items appended to every list of transactions that includes ACTIVE ones
        #: (a server answering with a malformed item among the good ones).
        self.extra_list_items: list[Any] = []

        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public_point = log_message.public_point(self.key.public_key())
        self.serial = hashlib.sha256(self.public_point).digest()
        self.certificate_der = self._make_certificate()
        self.certificate_pem = (
            x509.load_der_x509_certificate(self.certificate_der)
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        )

        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    #: the request handler (a test may extend it, e.g. to add a header to some answers)
    handler_class: type[BaseHTTPRequestHandler] | None = None

    def start(self) -> FakeFiskaly:
        handler = type("Handler", (self.handler_class or _Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeFiskaly:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # ------------------------------------------------------------------ knobs

    def now(self) -> float:
        """The fake's wall clock (real time plus :meth:`advance`)."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        match: str | None = None,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """The next ``n`` requests (whose path or query contains ``match``, of ``method``
        if given) answer ``status``; with ``after`` the request takes effect first (a
        proxy's 502 that replaced fiskaly's answer)."""
        with self._lock:
            self._faults.append(_Fault("fail", n, match, status=status, method=method, after=after))

    def delay_next(
        self, n: int = 1, *, seconds: float, match: str | None = None, before: bool = False
    ) -> None:
        """The next ``n`` requests answer ``seconds`` late (taking effect first, unless
        ``before``)."""
        with self._lock:
            self._faults.append(_Fault("delay", n, match, seconds=seconds, after=not before))

    def drop_next(self, n: int = 1, *, match: str | None = None, after: bool = False) -> None:
        """The next ``n`` requests get the socket closed without an answer; with ``after``
        the request takes effect first (the answer is lost)."""
        with self._lock:
            self._faults.append(_Fault("drop", n, match, after=after))

    def mangle_next(
        self, mangle: Callable[[Any], Any], n: int = 1, *, match: str | None = None
    ) -> None:
        """The next ``n`` requests take effect, but their JSON answer is replaced by
        ``mangle(answer)`` (a copy; bytes are sent as they are, still as JSON)."""
        with self._lock:
            self._faults.append(_Fault("mangle", n, match, mangle=mangle))

    def fail_all(self, *, status: int = 503) -> None:
        """Every request answers ``status`` until :meth:`clear_faults` (a long outage)."""
        with self._lock:
            self._faults.append(_Fault("fail", 10**9, None, status=status))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def revoke_access_tokens(self) -> None:
        """Every access token becomes invalid (refresh tokens stay valid)."""
        with self._lock:
            self._access.clear()

    def revoke_all_tokens(self) -> None:
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Waits until no request is being handled (e.g. delayed ones)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(t.name.startswith("fake-fiskaly-req") for t in threading.enumerate()):
                return
            time.sleep(0.01)
        raise TimeoutError("fake fiskaly still busy")

    # ------------------------------------------------------------------ inspection

    def tx_requests(self, method: str = "PUT") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and "/tx/" in r.path]

    def transaction_by_number(self, number: int) -> FakeTx:
        for tx in self.transactions.values():
            if tx.number == number:
                return tx
        raise KeyError(number)

    def export_tar(self) -> bytes:
        """The TAR an export produces now (TR-03153 names, via ``fiscal.tar_export``)."""
        with self._lock:
            buffer = io.BytesIO()
            tar_export.write_export(
                buffer,
                [f.data for f in self.log_files],
                [self.certificate_der],
                tar_export.ExportInfo("fiskaly SIGN DE v2 (fake)", "fiskaly", API_VERSION),
            )
            return buffer.getvalue()

    # ------------------------------------------------------------------ internals

    def _make_certificate(self) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.serial.hex())])
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=3650))
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.DER)

    def _take_fault(self, path: str) -> _Fault | None:
        # the HTTP method comes from the handling thread (subclasses override this with
        # the path alone)
        method = getattr(self._request, "method", None)
        with self._lock:
            for fault in self._faults:
                if (
                    fault.remaining > 0
                    and (fault.match is None or fault.match in path)
                    and (fault.method is None or fault.method == method)
                ):
                    fault.remaining -= 1
                    return fault
            return None

    def _issue_tokens(self) -> dict[str, Any]:
        now = self.now()
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._access[access] = now + self.access_ttl_s
        self._refresh[refresh] = now + self.refresh_ttl_s
        return {
            "access_token": access,
            "access_token_claims": {"env": "TEST", "organization_id": str(uuid.uuid4())},
            "access_token_expires_in": self.access_ttl_s,
            "access_token_expires_at": int(now + self.access_ttl_s),
            "refresh_token": refresh,
            "refresh_token_expires_in": self.refresh_ttl_s,
            "refresh_token_expires_at": int(now + self.refresh_ttl_s),
        }

    def _check_token(self, header: str | None) -> None:
        token = header[7:] if header and header.startswith("Bearer ") else None
        expiry = self._access.get(token or "")
        if expiry is None or self.now() >= expiry:
            raise ApiError(401, "E_UNAUTHORIZED", "missing, unknown or expired access token")

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, auth: str | None
    ) -> tuple[int, Any]:
        """Routes one request; returns (status, JSON body or bytes)."""
        with self._lock:
            if path == "/auth" and method == "POST":
                return 200, self._auth(body)
            self._check_token(auth)
            parts = [p for p in path.split("/") if p]
            if len(parts) < 2 or parts[0] != "tss":
                raise ApiError(404, "E_NOT_FOUND", f"no route {method} {path}")
            if parts[1] != self.tss_id:
                raise ApiError(404, "E_TSS_NOT_FOUND", f"TSS {parts[1]} not found")
            rest = parts[2:]
            route: dict[tuple[str, int, str], Callable[[], tuple[int, Any]]] = {
                ("GET", 0, ""): lambda: (200, self._tss_json()),
                ("GET", 1, "client"): lambda: (200, self._list(self._clients_json())),
                ("PUT", 2, "client"): lambda: (200, self._put_client(rest[1], body)),
                ("GET", 2, "client"): lambda: (200, self._get_client(rest[1])),
                ("GET", 3, "client"): lambda: (200, self._list_tx(query, rest[1])),
                ("POST", 2, "admin"): lambda: (200, self._admin(rest[1], body)),
                ("GET", 1, "tx"): lambda: (200, self._list_tx(query, None)),
                ("PUT", 2, "tx"): lambda: (200, self._put_tx(rest[1], query, body)),
                ("GET", 2, "tx"): lambda: (200, self._get_tx(rest[1], query)),
                ("PUT", 2, "export"): lambda: (200, self._put_export(rest[1])),
                ("GET", 2, "export"): lambda: (200, self._get_export(rest[1])),
                ("GET", 3, "export"): lambda: (200, self._export_file(rest[1], rest[2])),
            }
            action = route.get((method, len(rest), rest[0] if rest else ""))
            if action is None:
                raise ApiError(404, "E_NOT_FOUND", f"no route {method} {path}")
            return action()

    def _auth(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "E_VALIDATION", "JSON object expected")
        if "refresh_token" in body:
            expiry = self._refresh.pop(str(body["refresh_token"]), None)
            if expiry is None or self.now() >= expiry:
                raise ApiError(401, "E_UNAUTHORIZED", "refresh token unknown or expired")
            self.refreshes += 1
            return self._issue_tokens()
        if body.get("api_key") != self.api_key or body.get("api_secret") != self.api_secret:
            raise ApiError(401, "E_UNAUTHORIZED", "bad api_key or api_secret")
        self.logins += 1
        return self._issue_tokens()

    @staticmethod
    def _list(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"data": items, "count": len(items), "_type": "LIST", "_env": "TEST"}

    def _tss_json(self) -> dict[str, Any]:
        active = sum(1 for tx in self.transactions.values() if tx.state == "ACTIVE")
        return {
            "_id": self.tss_id,
            "_type": "TSS",
            "_env": "TEST",
            "_version": API_VERSION,
            "state": self.tss_state,
            "serial_number": self.serial.hex(),
            "public_key": base64.b64encode(self.public_point).decode(),
            "certificate": self.certificate_pem,
            "signature_algorithm": SIGNATURE_ALGORITHM,
            "signature_timestamp_format": TIME_FORMAT,
            "transaction_data_encoding": "UTF-8",
            # fiskaly sends the counters as strings; the client must cope.
            "signature_counter": str(self.signature_counter),
            "transaction_counter": str(self.transaction_counter),
            "number_registered_clients": len(self.clients),
            "max_number_registered_clients": self.max_clients,
            "number_active_transactions": active,
            "max_number_active_transactions": self.max_active,
        }

    def _clients_json(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(c) for c in self.clients.values()]

    def _admin(self, action: str, body: Any) -> dict[str, Any]:
        if action == "auth":
            if not isinstance(body, dict) or body.get("admin_pin") != self.admin_pin:
                raise ApiError(403, "E_ADMIN_PIN_INVALID", "wrong admin PIN")
            self.admin_logged_in = True
        elif action == "logout":
            self.admin_logged_in = False
        else:
            raise ApiError(404, "E_NOT_FOUND", f"no admin action {action}")
        return {}

    def _put_client(self, client_id: str, body: Any) -> dict[str, Any]:
        serial = body.get("serial_number") if isinstance(body, dict) else None
        if not isinstance(serial, str) or not serial:
            raise ApiError(400, "E_VALIDATION", "serial_number required")
        existing = self.clients.get(client_id)
        if existing is not None:
            if existing["serial_number"] != serial or self.client_conflict_on_repeat:
                raise ApiError(409, "E_CLIENT_CONFLICT", f"client {client_id} exists")
            return copy.deepcopy(existing)
        if self.client_requires_admin and not self.admin_logged_in:
            raise ApiError(403, "E_ADMIN_NOT_AUTHENTICATED", "admin login required")
        if len(self.clients) >= self.max_clients:
            raise ApiError(409, "E_TOO_MANY_CLIENTS", f"at most {self.max_clients} clients")
        client = {
            "_id": client_id,
            "_type": "CLIENT",
            "_env": "TEST",
            "serial_number": serial,
            "state": "REGISTERED",
            "tss_id": self.tss_id,
        }
        self.clients[client_id] = client
        return copy.deepcopy(client)

    def _get_client(self, client_id: str) -> dict[str, Any]:
        if client_id not in self.clients:
            raise ApiError(404, "E_CLIENT_NOT_FOUND", f"client {client_id} not found")
        return copy.deepcopy(self.clients[client_id])

    def _tx_json(self, tx: FakeTx, revision: int) -> dict[str, Any]:
        data = copy.deepcopy(tx.revisions[revision - 1][1])
        data["latest_revision"] = len(tx.revisions)
        return data

    def _get_tx(self, tx_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        tx = self.transactions.get(tx_id)
        if tx is None:
            raise ApiError(404, "E_TX_NOT_FOUND", f"transaction {tx_id} not found")
        revision = int(query.get("tx_revision", [str(len(tx.revisions))])[0])
        if not 1 <= revision <= len(tx.revisions):
            raise ApiError(404, "E_TX_NOT_FOUND", f"no revision {revision}")
        return self._tx_json(tx, revision)

    def _list_tx(self, query: dict[str, list[str]], client_id: str | None) -> dict[str, Any]:
        states = query.get("states[]", []) + query.get("states", [])
        items = [
            self._tx_json(tx, len(tx.revisions))
            for tx in sorted(self.transactions.values(), key=lambda t: t.number)
            if (not states or tx.state in states)
            and (client_id is None or tx.client_id == client_id)
        ]
        if query.get("order", ["asc"])[0] == "desc":
            items.reverse()
        if not states or "ACTIVE" in states:
            items += copy.deepcopy(self.extra_list_items)
        try:
            limit = int(query.get("limit", [str(self.list_limit)])[0])
            offset = int(query.get("offset", ["0"])[0])
        except ValueError as exc:
            raise ApiError(400, "E_VALIDATION", f"bad limit or offset: {exc}") from None
        if not 1 <= limit <= self.list_limit or offset < 0:
            raise ApiError(
                400,
                "E_VALIDATION",
                f"limit must be 1 to {self.list_limit} and offset at least 0,"
                f" not {limit} and {offset}",
            )
        return self._list(items[offset : offset + limit])

    def _put_tx(self, tx_id: str, query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        revision_text = query.get("tx_revision", [""])[0]
        if not revision_text.isdigit() or int(revision_text) < 1:
            raise ApiError(400, "E_TX_REVISION_MISSING", "query parameter tx_revision >= 1")
        revision = int(revision_text)
        if not isinstance(body, dict):
            raise ApiError(400, "E_VALIDATION", "JSON object expected")
        state, client_id = body.get("state"), body.get("client_id")
        if state not in TX_STATES:
            raise ApiError(400, "E_VALIDATION", f"bad state {state!r}")
        unknown = set(body) - {"state", "client_id", "schema", "metadata"}
        if unknown:
            raise ApiError(400, "E_VALIDATION", f"unknown fields {sorted(unknown)}")
        if self.tss_state != "INITIALIZED":
            raise ApiError(400, "E_TSS_NOT_INITIALIZED", f"TSS is {self.tss_state}")
        client = self.clients.get(str(client_id))
        if client is None or client["state"] != "REGISTERED":
            raise ApiError(400, "E_CLIENT_NOT_REGISTERED", f"client {client_id} unknown")
        process_type, process_data = render_process(body.get("schema"))
        if self._in_flight.get(tx_id) and getattr(self._request, "owns", None) != tx_id:
            raise ApiError(
                409,
                "E_PENDING_TX_CONFLICT",
                f"another request on transaction {tx_id} is still being processed",
            )
        tx = self.transactions.get(tx_id)
        if tx is None:
            if revision != 1:
                raise ApiError(409, "E_TX_REVISION", "a new transaction starts at tx_revision 1")
            if state != "ACTIVE":
                raise ApiError(400, "E_TX_STATE", "a new transaction must be ACTIVE")
            active = sum(1 for t in self.transactions.values() if t.state == "ACTIVE")
            if active >= self.max_active:
                raise ApiError(409, "E_TOO_MANY_ACTIVE", f"{active} active transactions")
            self.transaction_counter += 1
            tx = FakeTx(tx_id, str(client_id), self.transaction_counter, int(self.now()))
            self.transactions[tx_id] = tx
        else:
            if tx.client_id != client_id:
                raise ApiError(400, "E_CLIENT_MISMATCH", "transaction has another client")
            if revision <= len(tx.revisions):
                stored_body = tx.revisions[revision - 1][0]
                if stored_body == body:
                    return self._tx_json(tx, revision)
                raise ApiError(409, "E_TX_REVISION_CONFLICT", f"revision {revision} differs")
            if tx.state != "ACTIVE":
                raise ApiError(409, "E_TX_NOT_ACTIVE", f"transaction is {tx.state}")
            if revision != len(tx.revisions) + 1:
                raise ApiError(409, "E_TX_REVISION", f"tx_revision must be {len(tx.revisions) + 1}")
        operation = (
            "StartTransaction"
            if not tx.revisions
            else ("UpdateTransaction" if state == "ACTIVE" else "FinishTransaction")
        )
        response = self._sign(tx, str(state), operation, client, process_type, process_data)
        response["schema"] = copy.deepcopy(body.get("schema", {}))
        response["metadata"] = copy.deepcopy(body.get("metadata", {}))
        tx.revisions.append((copy.deepcopy(body), response))
        return self._tx_json(tx, len(tx.revisions))

    def _sign(
        self,
        tx: FakeTx,
        state: str,
        operation: str,
        client: Mapping[str, Any],
        process_type: str,
        process_data: bytes,
    ) -> dict[str, Any]:
        self.signature_counter += 1
        counter = self.signature_counter
        log_time = int(self.now())
        serial_number = str(client["serial_number"])
        data = log_message.TransactionData(
            operation_type=operation,
            client_id=serial_number,
            process_data=process_data,
            process_type=process_type,
            transaction_number=tx.number,
        )
        try:
            signed = log_message.encode_signed_part(
                certified_data_type=log_message.OID_TRANSACTION_LOG,
                certified_data=data.encode(),
                serial_number=self.serial,
                signature_algorithm=SIGNATURE_ALGORITHM,
                signature_counter=counter,
                log_time=log_time,
            )
        except ValueError as exc:
            self.signature_counter -= 1
            raise ApiError(400, "E_VALIDATION", f"cannot encode log message: {exc}") from None
        signature = log_message.sign_plain(self.key, SIGNATURE_ALGORITHM, signed)
        short = operation.removesuffix("Transaction")
        self.log_files.append(
            LogFile(
                f"Unixt_{log_time}_Sig-{counter}_Log-Tra_No-{tx.number}_{short}"
                f"_Client-{serial_number}.log",
                log_message.assemble_log_message(signed, signature),
            )
        )
        tx.state = state
        if state != "ACTIVE":
            tx.time_end = log_time
        signature_b64 = base64.b64encode(signature).decode()
        public_b64 = base64.b64encode(self.public_point).decode()
        response: dict[str, Any] = {
            "_id": tx.tx_id,
            "_type": "TRANSACTION",
            "_env": "TEST",
            "_version": API_VERSION,
            "tss_id": self.tss_id,
            "client_id": tx.client_id,
            "client_serial_number": serial_number,
            "tss_serial_number": self.serial.hex(),
            "number": tx.number,
            "state": state,
            "revision": len(tx.revisions) + 1,
            "time_start": tx.time_start,
            "log": {"operation": operation, "timestamp": log_time, "timestamp_format": TIME_FORMAT},
            "signature": {
                "value": signature_b64,
                "algorithm": SIGNATURE_ALGORITHM,
                "counter": counter,
                "public_key": public_b64,
            },
        }
        if tx.time_end is not None:
            response["time_end"] = tx.time_end
            response["qr_code_data"] = ";".join(
                [
                    "V0",
                    serial_number,
                    process_type,
                    process_data.decode(),
                    str(tx.number),
                    str(counter),
                    _iso(tx.time_start),
                    _iso(log_time),
                    SIGNATURE_ALGORITHM,
                    TIME_FORMAT,
                    signature_b64,
                    public_b64,
                ]
            )
        return response

    def _put_export(self, export_id: str) -> dict[str, Any]:
        if export_id not in self.exports:
            unfinished = [e for e, x in self.exports.items() if x["polls"] > 0]
            if self.reject_duplicate_exports and unfinished:
                raise ApiError(
                    429,
                    "E_EXPORT_DUPLICATE_RATE_LIMITED",
                    f"export {unfinished[0]} of this TSS is still PENDING or WORKING",
                )
            self.exports[export_id] = {"polls": self.export_polls, "tar": None}
        return self._export_json(export_id, "PENDING")

    def _export_json(self, export_id: str, state: str) -> dict[str, Any]:
        return {"_id": export_id, "_type": "EXPORT", "tss_id": self.tss_id, "state": state}

    def _get_export(self, export_id: str) -> dict[str, Any]:
        export = self.exports.get(export_id)
        if export is None:
            raise ApiError(404, "E_EXPORT_NOT_FOUND", f"export {export_id} not found")
        if export["polls"] > 0:
            export["polls"] -= 1
            return self._export_json(export_id, "WORKING")
        if export["tar"] is None:
            export["tar"] = self.export_tar()
        return self._export_json(export_id, "COMPLETED")

    def _export_file(self, export_id: str, what: str) -> bytes:
        export = self.exports.get(export_id)
        if what != "file" or export is None:
            raise ApiError(404, "E_EXPORT_NOT_FOUND", f"export {export_id} not found")
        if export["tar"] is None:
            raise ApiError(409, "E_EXPORT_NOT_COMPLETED", "export not completed")
        data: bytes = export["tar"]
        return data


class _Handler(BaseHTTPRequestHandler):
    fake: FakeFiskaly
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        if (code in (423, 429) or code >= 500) and self.fake.retry_after is not None:
            self.send_header("Retry-After", self.fake.retry_after)

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        threading.current_thread().name = f"fake-fiskaly-req-{id(self)}"
        try:
            self._serve_inner()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            threading.current_thread().name = "fake-fiskaly-idle"

    def _serve_inner(self) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        path = url.path.removeprefix(API_PREFIX)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        record = Recorded(self.command, path, query, body)
        with fake._lock:
            fake.requests.append(record)
        # a fault's ``match`` is looked for in the path and its query (tx_revision=2: a
        # transaction's first call after its start)
        fake._request.method = self.command
        fake._request.owns = None
        fault = fake._take_fault(f"{path}?{url.query}" if url.query else path)
        in_flight = None
        if (
            fault is not None
            and fault.kind == "delay"
            and not fault.after
            and fake.pending_tx_conflicts
            and self.command == "PUT"
            and "/tx/" in path
        ):
            in_flight = path.rstrip("/").rsplit("/", 1)[-1]
            with fake._lock:
                fake._in_flight[in_flight] = fake._in_flight.get(in_flight, 0) + 1
            fake._request.owns = in_flight
        try:
            self._serve_fault(fake, fault, path, query, body, record)
        finally:
            if in_flight is not None:
                with fake._lock:
                    fake._in_flight[in_flight] -= 1

    def _serve_fault(
        self,
        fake: FakeFiskaly,
        fault: _Fault | None,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        record: Recorded,
    ) -> None:
        if fault is not None and fault.kind == "delay" and not fault.after:
            fake._stopping.wait(fault.seconds)
        if fault is not None and fault.kind == "drop" and not fault.after:
            self._drop(record)
            return
        if fault is not None and fault.kind == "fail" and not fault.after:
            error = ApiError(fault.status, "E_INJECTED", "injected server error")
            status, payload = fault.status, error.body()
        else:
            try:
                status, payload = fake.handle(
                    self.command, path, query, body, self.headers.get("Authorization")
                )
            except ApiError as exc:
                status, payload = exc.status, exc.body()
            except Exception:
                fake.errors.append(traceback.format_exc())
                status, payload = 500, ApiError(500, "E_INTERNAL", "fake crashed").body()
        if fault is not None and fault.kind == "fail" and fault.after:
            error = ApiError(fault.status, "E_INJECTED", "injected server error")
            status, payload = fault.status, error.body()
        record.status = status
        if fault is not None and fault.kind == "drop":
            self._drop(record)
            return
        if fault is not None and fault.kind == "delay" and fault.after:
            fake._stopping.wait(fault.seconds)
        if fault is not None and fault.kind == "mangle" and fault.mangle is not None:
            payload = fault.mangle(copy.deepcopy(payload))
            if isinstance(payload, bytes):
                data, content_type = payload, "application/json"
            else:
                data, content_type = json.dumps(payload).encode(), "application/json"
        elif isinstance(payload, bytes):
            data, content_type = payload, "application/x-tar"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drop(self, record: Recorded) -> None:
        record.status = record.status or -1
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def registered_backend(
    fake: FakeFiskaly, state_dir: Path, client_id: str, *, timeout_s: float
) -> Iterator[FiskalyTse]:
    """The fiskaly backend against ``fake``, on the fake's clock, with ``client_id``
    registered (what a test of the backend alone starts from); closed afterwards."""
    backend = FiskalyTse(
        fake.base_url,
        fake.api_key,
        fake.api_secret,
        fake.tss_id,
        timeout_s=timeout_s,
        clock=fake.now,
        state_dir=state_dir,
    )
    try:
        backend.register_client(client_id)
        yield backend
    finally:
        backend.close()
