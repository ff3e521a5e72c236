"""The digital receipt server: ``GET <path><token>`` answers the receipt (HTTP/1.1).

A small asyncio server on the daemon's loop, stdlib only. Why not ``http.server``: it
runs a thread per connection (unbounded), has no per-connection deadline, and its
error pages echo request text; why not a framework: nothing installed fits, and the
whole protocol needed here is one GET without a body. What it does:

* ``GET``/``HEAD`` of ``<path><token>`` (the path of ``digital_receipt.base_url``; also in
  the absolute-form ``https://host<path><token>``):
  ``text/plain; charset=utf-8`` (the receipt Document as text, TSE data and the TSE's
  QR payload included) or, with ``Accept: application/json``, the receipt as JSON.
* 404 for a malformed, unknown or expired token (one answer for all); 410 Gone with a
  short bilingual page and no receipt data for a token revoked before it expired
  (RevokeDigitalReceipt; RFC 9110 § 15.5.11: gone for good, no forwarding address); 405 for other
  methods, 400 for a malformed request, a GET with a body, an HTTP/1.1 request without
  exactly one Host or with differing Content-Length values (RFC 9112), 431 for a request
  head over ``MAX_REQUEST_BYTES``, 408 when the head does not arrive within the deadline
  (or, with ``MAX_CONNECTIONS`` taken, at once for the oldest connection still waiting for
  its head: slow clients cannot lock customers out), 503 when ``MAX_CONNECTIONS`` are all
  being answered. One request per connection (``Connection: close``).
* Never a traceback to the client: a failure is logged and answered with a bare 500.
* The database is read on its own read-only connection and thread: a customer fetching
  a receipt never waits behind, nor disturbs, the sale path's database thread (a read
  there would give up a post run ahead).
* ``posd_digital_receipt_requests_total{outcome}`` counts served / not_found / revoked /
  others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from posd_daemon.ops import logging as plog
from posd_daemon.ops.metrics import Metrics
from posd_daemon.services.digital_receipts import DigitalReceipts, FetchedReceipt, RevokedLink
from posd_daemon.services.documents import DocumentRenderer

log = plog.get("posd.receipt_http")

#: Request line and headers together; a GET needs far less.
MAX_REQUEST_BYTES = 8192
#: The whole request head must arrive within this, and the answer go out within it. Short:
#: a client that trickles its head (slowloris) holds one of MAX_CONNECTIONS for at most
#: this long. Exposed to the internet, the server belongs behind the reverse proxy the
#: README describes, which reads whole requests before it forwards them.
TIMEOUT_S = 3.0
MAX_CONNECTIONS = 64

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    410: "Gone",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_BODIES = {
    400: "Ungültige Anfrage.\n",
    404: "Beleg nicht gefunden oder abgelaufen.\n",
    405: "Nur GET.\n",
    408: "Zeitüberschreitung.\n",
    410: "Dieser Beleg-Link wurde widerrufen.\nThis receipt link was revoked.\n",
    431: "Anfrage zu groß.\n",
    500: "Interner Fehler.\n",
    503: "Bitte später erneut versuchen.\n",
}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    outcome: str
    body: bytes
    content_type: str = "text/plain; charset=utf-8"

    @classmethod
    def error(cls, status: int, outcome: str) -> Answer:
        return cls(status, outcome, _BODIES[status].encode("utf-8"))


class ReceiptHttpServer:
    def __init__(
        self,
        receipts: DigitalReceipts,
        renderer: DocumentRenderer,
        conn: sqlite3.Connection,
        metrics: Metrics,
    ) -> None:
        self._receipts = receipts
        self._renderer = renderer
        self._conn = conn  # read-only, used only on self._pool's thread
        self._metrics = metrics
        self._prefix = urlsplit(receipts.settings.base_url).path or "/"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posd-receipt-http")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: the connections still waiting for their request head, oldest first, with
        #: their deadlines (see _evict_slowest)
        self._reading: dict[asyncio.Task[None], asyncio.Timeout] = {}
        self.port = 0
        self.timeout_s = TIMEOUT_S

    async def start(self, listen: str) -> int:
        host, _, port = listen.rpartition(":")
        self._server = await asyncio.start_server(
            self._connection, host.strip("[]"), int(port), limit=MAX_REQUEST_BYTES
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._pool.shutdown, wait=True)
        self._conn.close()

    # -- one connection --------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if len(self._tasks) > MAX_CONNECTIONS and not self._evict_slowest():
                answer, head_only = Answer.error(503, "busy"), False
            else:
                try:
                    async with asyncio.timeout(self.timeout_s) as deadline:
                        self._reading[task] = deadline
                        answer, head_only = await self._answer(reader, task)
                except TimeoutError:
                    answer, head_only = Answer.error(408, "timeout"), False
                except ConnectionError:
                    raise
                except Exception:
                    # a receipt that cannot be read or rendered (a damaged row, a database
                    # error): the customer gets a 500, the log gets the traceback
                    log.exception("receipt_http_failed")
                    answer, head_only = Answer.error(500, "error"), False
                finally:
                    self._reading.pop(task, None)
            if answer.outcome == "closed":
                return
            self._metrics.digital_receipt_requests.labels(answer.outcome).inc()
            async with asyncio.timeout(self.timeout_s):
                writer.write(_response(answer, head_only))
                await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        except Exception:  # never let a connection take anything else down
            log.exception("receipt_http_failed")
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _evict_slowest(self) -> bool:
        """Every slot is taken: ends the oldest connection still waiting for its request
        head (answered 408 at once), so that clients that open connections and never
        finish a request (slowloris) cannot lock customers out: a customer's request
        arrives with its connection and leaves this state within milliseconds. False:
        every connection has its request and is being answered."""
        if not self._reading:
            return False
        deadline = self._reading.pop(next(iter(self._reading)))
        deadline.reschedule(asyncio.get_running_loop().time())  # fires at once
        return True

    async def _answer(
        self, reader: asyncio.StreamReader, task: asyncio.Task[None]
    ) -> tuple[Answer, bool]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return Answer.error(431, "too_large"), False
        except asyncio.IncompleteReadError as exc:
            if len(exc.partial) >= MAX_REQUEST_BYTES:
                return Answer.error(431, "too_large"), False
            return Answer(0, "closed", b""), False
        finally:
            self._reading.pop(task, None)  # the head is in (or never comes): not evictable
        try:
            lines = head.decode("latin-1").split("\r\n")
            if not lines[0]:
                # an empty line before the request line is ignored (RFC 9112 § 2.2: a
                # server SHOULD ignore at least one)
                del lines[0]
            method, target, version = lines[0].split(" ")
            headers = _fields(lines[1:])
        except ValueError:
            return Answer.error(400, "bad_request"), False
        if not version.startswith("HTTP/1."):
            return Answer.error(400, "bad_request"), False
        if version != "HTTP/1.0" and "host" not in headers:
            # RFC 9112 § 3.2: an HTTP/1.1 request without Host MUST be answered 400
            # (one with two Host fields is refused by _fields)
            return Answer.error(400, "bad_request"), False
        if method not in ("GET", "HEAD"):
            return Answer.error(405, "method_not_allowed"), False
        head_only = method == "HEAD"
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            return Answer.error(400, "bad_request"), head_only
        if target[:8].lower().startswith(("http://", "https://")):
            # the absolute-form, which a server MUST accept (RFC 9112 § 3.2.2): a proxy
            # in front may forward "GET https://host/r/<token>"; its path is what counts
            try:
                target = urlsplit(target).path
            except ValueError:  # e.g. a malformed IPv6 host
                return Answer.error(400, "bad_request"), head_only
        path = target.split("?", 1)[0]
        if not path.startswith(self._prefix):
            return Answer.error(404, "not_found"), head_only
        token = path[len(self._prefix) :]
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self._pool, self._fetch, token)
        if found is None:
            return Answer.error(404, "not_found"), head_only
        if isinstance(found, RevokedLink):
            return Answer.error(410, "revoked"), head_only
        if _wants_json(headers.get("accept", "")):
            body = json.dumps(found.data, ensure_ascii=False, indent=2) + "\n"
            return Answer(200, "served", body.encode("utf-8"), "application/json"), head_only
        return Answer(200, "served", found.text.encode("utf-8")), head_only

    def _fetch(self, token: str) -> FetchedReceipt | RevokedLink | None:
        return self._receipts.fetch(self._conn, self._renderer, token)


def _fields(lines: list[str]) -> dict[str, str]:
    """The request's header fields by lower-case name. A repeated field is one list
    (RFC 9110 § 5.3: its values joined by commas); ValueError for a malformed line and
    for what RFC 9112 requires a 400 for: two Host fields (§ 3.2) and differing
    Content-Length values (§ 6.3 (5); the last one used to win)."""
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(line)
        key, value = name.lower(), value.strip()
        before = headers.get(key)
        if before is None:
            headers[key] = value
        elif key == "host" or (key == "content-length" and value != before):
            raise ValueError(line)
        elif key != "content-length":
            headers[key] = f"{before}, {value}"
    return headers


def _wants_json(accept: str) -> bool:
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        if media.strip().lower() != "application/json":
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def _response(answer: Answer, head_only: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {answer.status} {_REASONS[answer.status]}",
        f"Content-Type: {answer.content_type}",
        f"Content-Length: {len(answer.body)}",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        "Referrer-Policy: no-referrer",
        "Vary: Accept",
        "Connection: close",
    ]
    if answer.status == 405:
        lines.append("Allow: GET, HEAD")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head if head_only else head + answer.body
