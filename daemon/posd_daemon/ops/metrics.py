"""Prometheus metrics of one daemon (own registry, so tests can run several daemons)."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from posd_daemon.ops import logging as plog

#: how long the exporter waits for each read from (and write to) a scraper. A scrape is
#: one short request; a peer silent this long is stuck, gone or hostile.
EXPORTER_IO_TIMEOUT_S = 5.0
#: how long one connection may take as a whole. The timeout above bounds each read, not
#: the request: a peer sending a byte of its headers every few seconds never hit it, and
#: EXPORTER_MAX_CONNECTIONS such peers kept every scrape out for as long as they liked.
#: Prometheus' default scrape_timeout is 10 s; the answer is a few kilobytes.
EXPORTER_CONNECTION_DEADLINE_S = 10.0
#: connections the exporter serves at once (a Prometheus server or two, a curl). Further
#: ones are closed at once: each would hold a thread and a file descriptor of the daemon,
#: and with systemd's default soft limit of 1024 open files, enough silent connections
#: (a port scan, a stuck scraper) left the daemon unable to accept a till's connection.
EXPORTER_MAX_CONNECTIONS = 8

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
)


@dataclass
class Metrics:
    registry: CollectorRegistry
    rpc_started: Counter
    rpc_total: Counter
    rpc_seconds: Histogram
    sales_posted: Counter
    post_seconds: Histogram
    posts_ahead: Counter
    outbox_pending: Gauge
    outbox_failures: Counter
    tse_seconds: Histogram
    tse_outage_active: Gauge
    tse_outages: Counter
    digital_receipt_requests: Counter
    login_failures: Counter
    login_lockouts: Counter
    loop_errors: Counter
    bound_port: int = 0
    _http: WSGIServer | None = None

    @classmethod
    def create(cls) -> Metrics:
        reg = CollectorRegistry()
        return cls(
            registry=reg,
            rpc_started=Counter(
                "posd_rpc_started",
                "gRPC calls started, by method (counted as each starts; less posd_rpc_total"
                " of the method, counted as each ends: the calls in flight). Unary calls"
                " only, not the SubscribeEvents and MonitorDevice streams",
                ["method"],
                registry=reg,
            ),
            rpc_total=Counter(
                "posd_rpc",
                "gRPC calls by method and status code",
                ["method", "code"],
                registry=reg,
            ),
            rpc_seconds=Histogram(
                "posd_rpc_duration_seconds",
                "gRPC call latency by method",
                ["method"],
                buckets=_LATENCY_BUCKETS,
                registry=reg,
            ),
            sales_posted=Counter("posd_sales_posted", "Sales posted", registry=reg),
            post_seconds=Histogram(
                "posd_post_duration_seconds",
                "PostSale latency (call to commit)",
                buckets=_LATENCY_BUCKETS,
                registry=reg,
            ),
            posts_ahead=Counter(
                "posd_posts_ahead",
                "Posts run ahead of their PostSale, by outcome (claimed: by its PostSale,"
                " committed and answered; claimed_caller_gone: committed, but its PostSale"
                " was cancelled (deadline, closed channel) before the answer, which only a"
                " repeat of the request id gets; abandoned: rolled back unclaimed; refused:"
                " its checks refused it; failed: it failed after its claim)",
                ["outcome"],
                registry=reg,
            ),
            outbox_pending=Gauge(
                "posd_outbox_pending_jobs", "Print/drawer jobs not yet done", registry=reg
            ),
            outbox_failures=Counter(
                "posd_outbox_failures",
                "Failed attempts of print/drawer jobs",
                ["kind"],
                registry=reg,
            ),
            tse_seconds=Histogram(
                "posd_tse_operation_duration_seconds",
                "TSE operation latency by operation",
                ["operation"],
                buckets=_LATENCY_BUCKETS,
                registry=reg,
            ),
            tse_outage_active=Gauge(
                "posd_tse_outage_active", "1 while a TSE outage is open", registry=reg
            ),
            tse_outages=Counter(
                "posd_tse_outages",
                "TSE outages opened (each once, however many failures found it)",
                registry=reg,
            ),
            digital_receipt_requests=Counter(
                "posd_digital_receipt_requests",
                "Digital receipt server requests by outcome (served, not_found,"
                " method_not_allowed, bad_request, too_large, timeout, busy)",
                ["outcome"],
                registry=reg,
            ),
            login_failures=Counter(
                "posd_login_failures",
                "Refused log-ins by reason (wrong_pin: unknown operator or wrong PIN;"
                " locked: refused during a lock-out)",
                ["reason"],
                registry=reg,
            ),
            login_lockouts=Counter(
                "posd_login_lockouts",
                "Lock-outs begun by repeated failed log-ins of one operator id",
                registry=reg,
            ),
            loop_errors=Counter(
                "posd_loop_errors",
                "Errors no caller handled, reported by the event loop (a failing callback,"
                " a task whose exception nobody retrieved); each is logged as loop_error",
                registry=reg,
            ),
        )

    def serve(self, listen: str) -> int:
        """Starts the HTTP exporter; returns the bound port (0 when disabled)."""
        if not listen:
            return 0
        host, _, port = listen.rpartition(":")
        server = _ExporterServer(host.strip("[]"), int(port))
        server.set_app(make_wsgi_app(self.registry))
        threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
        self._http = server
        self.bound_port = int(server.server_address[1])
        return self.bound_port

    def close(self) -> None:
        """Stops the HTTP exporter (if serving) and frees its port."""
        server, self._http = self._http, None
        if server is not None:
            server.shutdown()
            server.server_close()


class _ScrapeHandler(WSGIRequestHandler):
    """One scrape: silent (a log line per scrape would drown the journal), and bounded
    in time: ``timeout`` applies to every read and write of the connection."""

    timeout = EXPORTER_IO_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # the connection's deadline: shutting the socket down ends a read or write in
        # progress (EOF, or an OSError that handle_error drops), so the thread and its
        # slot are free again
        self._deadline = threading.Timer(EXPORTER_CONNECTION_DEADLINE_S, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return


class _ExporterServer(ThreadingMixIn, WSGIServer):
    """The metrics HTTP server: a thread per connection, at most
    EXPORTER_MAX_CONNECTIONS of them; a connection over the limit is closed at once."""

    daemon_threads = True  # the stop does not wait for a scraper

    def __init__(self, host: str, port: int) -> None:
        # the address family of the host (an IPv6 address needs AF_INET6)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, sockaddr = infos[0]
        self.address_family = family
        self._slots = threading.BoundedSemaphore(EXPORTER_MAX_CONNECTIONS)
        self._log = plog.get("posd.metrics")
        super().__init__((str(sockaddr[0]), port), _ScrapeHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # busy: no thread, no descriptor kept
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread started: give the slot back
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed. A peer that went away, reset or timed out is no
        error of the daemon's (socketserver would print a traceback to stderr for each,
        as many as a hostile client likes); anything else is logged as one JSON line."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        self._log.error("metrics_request_failed", peer=str(client_address), exc_info=exc)
