"""Prometheus metrics of one daemon (own registry, so tests can run several daemons)."""

from __future__ import annotations

from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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
        server, _thread = start_http_server(
            int(port), addr=host.strip("[]"), registry=self.registry
        )
        self._http = server
        self.bound_port = int(server.server_address[1])
        return self.bound_port

    def close(self) -> None:
        """Stops the HTTP exporter (if serving) and frees its port."""
        server, self._http = self._http, None
        if server is not None:
            server.shutdown()
            server.server_close()
