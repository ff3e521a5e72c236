"""The daemon as systemd and a technician see it: READY, SIGTERM, watchdog, locking,
configuration errors, ``posctl status`` and ``posctl journal verify``.

Every test runs the real ``posd`` process (tests/support/daemon_process.py).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pty
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from posd.client import PosdClient, PosdError, error_from_rpc
from posd.v1 import common_pb2, sale_pb2
from prometheus_client.parser import text_string_to_metric_families

from posd_daemon import __version__

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `pytest` without `python -m`: make `tests.support` importable
    sys.path.insert(0, str(_ROOT))

from tests.support.daemon_process import (  # noqa: E402
    POSCTL_EXECUTABLE as POSCTL,
)
from tests.support.daemon_process import (  # noqa: E402
    POSD_EXECUTABLE as POSD,
)
from tests.support.daemon_process import DaemonError, DaemonProcess  # noqa: E402
from tests.support.tls import self_signed  # noqa: E402

pytestmark = pytest.mark.e2e

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD
POSTED = sale_pb2.SALE_STATE_POSTED
OPEN = sale_pb2.SALE_STATE_OPEN


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    with DaemonProcess(tmp_path / "state") as d:
        yield d


def one_sale(pos: PosdClient, n: int, steps: list[str] | None = None) -> sale_pb2.Sale:
    """A complete sale; ``steps`` records each call before it is made."""
    steps = [] if steps is None else steps
    steps.append("CreateSale")
    sale = pos.create_sale()
    steps.append("AddLine")
    pos.add_line(sale.sale_id, item_id="brot")
    steps.append("AddLine")
    resp = pos.add_line(sale.sale_id, code="4000000000020", quantity="2")
    total = resp.sale.total.amount_minor
    steps.append("AddPayment")
    if n % 2:
        pos.add_payment(sale.sale_id, CARD, total)
    else:
        pos.add_payment(sale.sale_id, CASH, total + 51)
    steps.append("PostSale")
    return pos.post_sale(sale.sale_id)


def catalog(pos: PosdClient) -> None:
    pos.upsert_item("brot", "Roggenbrot", 349, barcodes=("4000000000013",))
    pos.upsert_item("milch", "Vollmilch 1 l", 119, barcodes=("4000000000020",))


def db_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- systemd: READY, watchdog, SIGTERM ----------------------------------------------------------


def test_ready_is_sent_only_once_the_api_answers(daemon: DaemonProcess) -> None:
    pid = daemon.spawn()
    ready = daemon.wait_ready()
    assert ready.pid == pid  # from the main process itself (SCM_CREDENTIALS)
    assert str(daemon.socket_path) in ready.fields.get("STATUS", "")
    assert daemon.socket_path.is_socket()

    # the very first calls after READY succeed at once: no wait_for_ready, no retries
    with grpc.insecure_channel(daemon.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        answer = health.Check(
            health_pb2.HealthCheckRequest(service="posd.v1.SaleService"), timeout=2
        )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    pos = daemon.client(login=False, retries=0)
    assert pos.status().version == __version__
    pos.login("1", "1234")
    assert pos.whoami().operator.operator_id == "1"

    # metrics listen on the configured 127.0.0.1:0 (a free port, logged at start)
    port = daemon.metrics_port()
    assert port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    assert "posd_sales_posted" in body

    # no WATCHDOG_USEC, no watchdog pings; exactly one READY
    time.sleep(0.3)
    sent = [m.raw for m in daemon.notify.messages(pid)]
    assert not [m for m in sent if "WATCHDOG=1" in m]
    assert sum("READY=1" in m for m in sent) == 1


def test_watchdog_is_pinged_from_the_event_loop(tmp_path: Path) -> None:
    usec = 200_000
    with DaemonProcess(tmp_path / "state", watchdog_usec=usec) as daemon:
        daemon.start()
        pid = daemon.pid
        pos = daemon.client(retries=0)
        catalog(pos)
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 1.2:  # keep it busy: pings must go on under load
            one_sale(pos, n)
            n += 1
        ready = daemon.ready_message
        assert ready is not None
        pings = [
            m.at
            for m in daemon.notify.messages(pid)
            if m.fields.get("WATCHDOG") == "1" and m.at >= ready.at
        ]
        assert len(pings) >= 5, f"only {len(pings)} WATCHDOG=1 in 1.2 s (WATCHDOG_USEC={usec})"
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert max(gaps) < usec / 1e6, f"a watchdog gap of {max(gaps):.3f} s: systemd would kill"
        assert daemon.terminate() == 0


def test_sigterm_during_a_client_loop_stops_cleanly(daemon: DaemonProcess) -> None:
    daemon.start()
    pid = daemon.pid
    setup = daemon.client(retries=0)
    catalog(setup)
    acked: dict[str, int] = {}
    errors: list[PosdError] = []
    steps: list[str] = []
    started = threading.Event()

    def cashier() -> None:
        pos = daemon.client(retries=0)
        n = 0
        while True:
            try:
                posted = one_sale(pos, n, steps)
            except PosdError as exc:
                errors.append(exc)
                return
            acked[posted.sale_id] = posted.receipt_number
            n += 1
            if n == 3:
                started.set()

    thread = threading.Thread(target=cashier, daemon=True)
    thread.start()
    assert started.wait(10), "the client loop did not get going"
    time.sleep(0.3)
    assert daemon.terminate() == 0, daemon.stderr()[-3000:]
    thread.join(10)
    assert not thread.is_alive()

    # later calls are refused. A call that reaches the server in the very instant the
    # shutdown begins is cancelled by gRPC without running (it changed nothing: see below).
    assert len(errors) == 1
    assert errors[0].code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), (
        errors[0],
        steps[-1],
    )
    assert not daemon.socket_path.exists(), "socket file left behind"
    # the last connection checkpointed the WAL into the database and removed it
    wal = daemon.db_path.with_name(daemon.db_path.name + "-wal")
    assert not wal.exists(), f"WAL of {wal.stat().st_size} bytes left behind"
    assert any(m.fields.get("STOPPING") == "1" for m in daemon.notify.messages(pid))
    log = [e.get("event") for e in daemon.log_events()]
    assert "stopping" in log
    assert "stopped" in log

    # nothing half-written: every acknowledged post is there, nothing else is half-posted
    numbers = sorted(acked.values())
    assert numbers == list(range(1, len(numbers) + 1))
    sales = db_rows(daemon.db_path, "SELECT sale_id, state, receipt_number FROM sales")
    posted = {str(sid): int(str(num)) for sid, state, num in sales if state == "POSTED"}
    for sid, number in acked.items():
        assert posted.get(sid) == number
    assert sorted(posted.values()) == list(range(1, len(posted) + 1))
    for _sid, state, num in sales:
        assert (state == "POSTED") == (num is not None)
    assert len(posted) - len(acked) <= 1  # at most the post whose answer was in flight
    journal = db_rows(daemon.db_path, "SELECT ref FROM journal WHERE kind = 'SALE_POSTED'")
    assert sorted(int(str(r[0]).split(":")[1]) for r in journal) == sorted(posted.values())
    jobs = db_rows(daemon.db_path, "SELECT receipt_number FROM outbox WHERE kind = 'print'")
    assert sorted(int(str(r[0])) for r in jobs) == sorted(posted.values())
    rc = daemon.posctl("journal", "verify", "--db", str(daemon.db_path))
    assert rc.returncode == 0, rc.stdout + rc.stderr

    # and it starts again on the same state, answering with the same data
    daemon.start()
    pos = daemon.client(retries=0)
    for sid, number in acked.items():
        assert pos.get_sale(sid).receipt_number == number


def _login_calls(port: int) -> tuple[float, float]:
    """Login calls the daemon has started and finished, from one scrape of its metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    started = finished = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("method") != "Login":
                continue
            if sample.name == "posd_rpc_started_total":
                started += sample.value
            elif sample.name == "posd_rpc_total":  # one sample per status code
                finished += sample.value
    return started, finished


def test_sigterm_lets_in_flight_calls_finish(daemon: DaemonProcess) -> None:
    """Calls in flight at SIGTERM get answers. Login is slow on purpose (scrypt, ~50 ms
    of CPU), and six for one operator queue: at most MAX_FAILURES = 5 PIN checks of one
    operator run at once, the sixth waits for one of them to end. No timing
    guess: SIGTERM goes out once the daemon's own metrics say it has started all six
    (a call that only arrives after SIGTERM is rightly refused, and proves nothing)."""
    daemon.start()
    port = daemon.metrics_port()
    clients = [daemon.client(login=False, retries=0) for _ in range(6)]
    for pos in clients:
        pos.status()  # connected before the race starts
    results: list[tuple[str, float]] = []
    lock = threading.Lock()

    def login(pos: PosdClient) -> None:
        try:
            pos.login("1", "1234")
            outcome = "OK"
        except PosdError as exc:
            outcome = exc.code.name
        with lock:
            results.append((outcome, time.monotonic()))

    threads = [threading.Thread(target=login, args=(pos,)) for pos in clients]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20  # bounded: a loaded machine, not a lost call
    started, finished = _login_calls(port)
    while started < len(clients):
        assert time.monotonic() < deadline, f"the daemon started {started:.0f} of 6 logins"
        time.sleep(0.002)
        started, finished = _login_calls(port)
    term_at = time.monotonic()
    assert daemon.terminate() == 0
    for t in threads:
        t.join(10)
    assert started == len(clients)
    # all six were the daemon's when SIGTERM went out: every one is answered, none refused
    assert [r[0] for r in results] == ["OK"] * len(clients)
    # and the stop really had calls to wait for: unanswered at the last scrape before
    # SIGTERM (the daemon's view), and answered only after it (the clients' view)
    assert finished < len(clients), "all six logins ended before SIGTERM: nothing was in flight"
    assert any(at > term_at for _, at in results), "no call was in flight at SIGTERM"
    assert not daemon.socket_path.exists()


def test_every_call_has_one_summary_line_in_time_order(daemon: DaemonProcess) -> None:
    """One JSON line per RPC (method, request id, status, reason, duration), each
    written right after its answer went out: every line of the run is in time order,
    a refused call's line names its reason, and a SIGTERM right after the calls loses
    none of them (all are written before ``stopped``)."""
    daemon.start()
    pos = daemon.client(retries=0)
    catalog(pos)
    sale = pos.create_sale(request_id="rq-create")
    pos.add_line(sale.sale_id, item_id="brot", request_id="rq-line")
    with pytest.raises(PosdError):
        pos.add_line(sale.sale_id, item_id="no-such-item", request_id="rq-bad")
    assert daemon.terminate() == 0  # at once

    events = list(daemon.log_events())
    summaries = [e for e in events if e.get("event") == "rpc"]
    by_id = {e["request_id"]: e for e in summaries if e["request_id"]}
    assert [e["request_id"] for e in summaries if e["request_id"].startswith("rq-")] == [
        "rq-create",
        "rq-line",
        "rq-bad",
    ]
    assert by_id["rq-create"]["method"] == "CreateSale"
    assert by_id["rq-line"]["status"] == "OK"
    assert by_id["rq-bad"]["status"] == "NOT_FOUND"
    assert by_id["rq-bad"]["reason"] == "ITEM_NOT_FOUND"
    assert all(e["duration_ms"] > 0 for e in summaries)
    assert all(e["level"] == "info" for e in summaries)
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps), "log lines out of time order"
    assert events[-1]["event"] == "stopped"


# -- refusing to start -------------------------------------------------------------------------


def test_a_second_daemon_on_the_same_state_dir_refuses_to_start(daemon: DaemonProcess) -> None:
    daemon.start()
    with DaemonProcess(daemon.state_dir) as second, pytest.raises(DaemonError) as refused:
        second.start()
    assert refused.value.returncode not in (None, 0)
    assert f"another posd is running on {daemon.state_dir}" in refused.value.stderr
    # the first one is unharmed
    assert daemon.running
    assert daemon.socket_path.is_socket()
    assert daemon.client(login=False, retries=0).status().version == __version__


@pytest.mark.parametrize(
    ("toml", "named", "problem"),
    [
        (
            '[api]\ntcp = "127.0.0.1:50999"\ntls_cert = "/nonexistent/c.pem"\n'
            'tls_key = "/nonexistent/k.pem"\n',
            "api.tls_cert",
            "cannot read /nonexistent/c.pem: No such file or directory",
        ),
        ("[printer]\ncolumnz = 42\n", "printer.columnz", "unknown key"),
        ('[printer]\ncolumns = "wide"\n', "printer.columns", "must be a whole number"),
        ("[api]\ngrace_seconds = true\n", "api.grace_seconds", "must be a whole number"),
        ("[bogus]\nx = 1\n", "bogus", "unknown key"),
        ("[store]\nopen_sale_flush_ms = -5\n", "store.open_sale_flush_ms", "between 0 and"),
        (
            '[metrics]\nlisten = "999.999.1.1:9100"\n',
            "metrics.listen",
            "999.999.1.1 is not an IPv4",
        ),
        ('[metrics]\nlisten = "127.0.0.1:65536"\n', "metrics.listen", "port must be"),
        (
            '[metrics]\nlisten = "no_such host:9100"\n',
            "metrics.listen",
            "'no_such host' is neither",
        ),
        (
            '[api]\ntcp = "0.0.0.0:99999"\ntls_cert = "c.pem"\ntls_key = "k.pem"\n',
            "api.tcp",
            "port must be a number between 1 and 65535",
        ),
        (
            '[api]\ntcp = "0.0.0.0:0"\ntls_cert = "c.pem"\ntls_key = "k.pem"\n',
            "api.tcp",
            "port must be a number between 1 and 65535",
        ),
        (
            f'[api]\nsocket = "/tmp/{"x" * 100}/posd.sock"\n',
            "api.socket",
            f"/tmp/{'x' * 100}/posd.sock is 115 bytes long; a unix socket path has at most 107",
        ),
    ],
    ids=[
        "tls-files-missing",
        "unknown-key",
        "wrong-type",
        "bool-for-int",
        "unknown-table",
        "out-of-range",
        "metrics-ip",
        "metrics-port",
        "metrics-host",
        "tcp-port",
        "tcp-port-0",
        "socket-too-long",
    ],
)
def test_a_bad_config_file_exits_78_and_names_the_key(
    tmp_path: Path, toml: str, named: str, problem: str
) -> None:
    config = tmp_path / "posd.toml"
    config.write_text(toml, encoding="utf-8")
    state = tmp_path / "state"
    with DaemonProcess(state, config=config) as daemon, pytest.raises(DaemonError) as failed:
        daemon.start()
    assert failed.value.returncode == 78  # EX_CONFIG
    assert f"{named}: {problem}" in failed.value.stderr
    assert str(config) in failed.value.stderr
    assert not (state / "posd.sqlite3").exists(), "touched the state before validating"
    assert not (state / "posd.sock").exists()
    # `posd --check-config` refuses it the same way
    check = subprocess.run(
        [*daemon.argv(), "--check-config"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 78
    assert f"{named}: {problem}" in check.stderr


# -- posctl ----------------------------------------------------------------------------------------


def test_posctl_status_shows_version_uptime_journal_and_last_receipt(
    daemon: DaemonProcess,
) -> None:
    daemon.start()
    pos = daemon.client(retries=0)
    catalog(pos)
    for n in range(3):
        one_sale(pos, n)
    time.sleep(1.1)  # a visible uptime

    out = daemon.posctl("status")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"posd {__version__}: running" in text
    uptime = re.search(r"uptime:\s+(\d+) s", text)
    assert uptime is not None
    assert int(uptime.group(1)) >= 1
    assert re.search(r"journal:\s+4 records", text), text  # shift opened + 3 sales
    assert re.search(r"last receipt:\s+3\b", text), text

    out = daemon.posctl("--json", "status")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["version"] == __version__
    assert int(data["last_receipt_number"]) == 3
    assert int(data["journal_records"]) == 4  # shift opened + 3 sales


def test_posctl_without_a_daemon_says_not_running(daemon: DaemonProcess) -> None:
    out = daemon.posctl("status")  # never started: no socket at all
    assert out.returncode == 3
    assert "not running" in out.stderr

    daemon.start()
    daemon.kill()  # a stale socket file is left behind, nobody answers on it
    assert daemon.socket_path.exists()
    out = daemon.posctl("status")
    assert out.returncode == 3
    assert "not running" in out.stderr


def _tamper_sql(db: Path, receipt: int) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        # the append-only triggers refuse the change ...
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE journal SET payload = payload WHERE seq = 1")
        # ... until someone with file access drops them
        conn.execute("DROP TRIGGER journal_no_update")
        cur = conn.execute(
            "UPDATE journal SET payload = replace(payload, '\"total\":', '\"total\":1')"
            " WHERE ref = ?",
            (f"receipt:{receipt}",),
        )
        assert cur.rowcount == 1
    finally:
        conn.close()


def _tamper_bytes(db: Path, sale_id: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    finally:
        conn.close()
    data = db.read_bytes()
    needle = f'"sale_id":"{sale_id}"'.encode()
    assert needle in data
    forged = needle.replace(sale_id[:4].encode(), b"f00d" if sale_id[:4] != "f00d" else b"beef")
    db.write_bytes(data.replace(needle, forged))


@pytest.mark.parametrize("how", ["sql", "bytes"])
def test_posctl_journal_verify_names_the_tampered_record(daemon: DaemonProcess, how: str) -> None:
    daemon.start()
    pos = daemon.client(retries=0)
    catalog(pos)
    sales = [one_sale(pos, n) for n in range(3)]
    ok = daemon.posctl("journal", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "4 records verified" in ok.stdout  # shift opened + 3 sales
    assert daemon.terminate() == 0

    victim = sales[1]
    assert victim.receipt_number == 2
    ((seq,),) = db_rows(daemon.db_path, "SELECT seq FROM journal WHERE ref = 'receipt:2'")
    if how == "sql":
        _tamper_sql(daemon.db_path, victim.receipt_number)
    else:
        _tamper_bytes(daemon.db_path, victim.sale_id)

    offline = daemon.posctl("journal", "verify", "--db", str(daemon.db_path))
    assert offline.returncode != 0
    assert f"BROKEN at record {seq}" in offline.stdout
    assert "receipt:2" in offline.stdout

    daemon.start()  # the daemon still starts; the technician finds the break online too
    online = daemon.posctl("--json", "journal", "verify")
    assert online.returncode != 0
    report = json.loads(online.stdout)
    assert report["ok"] is False
    assert report["first_bad_sequence"] == seq
    assert f"record {seq}" in report["problem"]


def test_sigkill_leaves_a_stale_socket_that_the_next_start_replaces(daemon: DaemonProcess) -> None:
    daemon.start()
    pos = daemon.client(retries=0)
    catalog(pos)
    first = one_sale(pos, 0)
    assert daemon.kill() == -signal.SIGKILL
    assert daemon.socket_path.exists()
    daemon.start()
    pos = daemon.client(retries=0)
    assert pos.get_sale(first.sale_id).state == POSTED
    assert one_sale(pos, 1).receipt_number == first.receipt_number + 1


# -- signals: SIGHUP, a subscribed UI at stop, a second SIGTERM ------------------------------------


def _config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "posd.toml"
    config.write_text(
        '[metrics]\nlisten = "127.0.0.1:0"\n\n[log]\nlevel = "info"\nformat = "json"\n\n' + extra,
        encoding="utf-8",
    )
    return config


def test_sighup_is_logged_and_ignored(daemon: DaemonProcess) -> None:
    """systemd counts death by SIGHUP as clean (no Restart=on-failure): posd must live."""
    daemon.start()
    pid = daemon.pid
    assert daemon.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while not any(e.get("event") == "sighup_ignored" for e in daemon.log_events()):
        assert daemon.running, daemon.stderr()[-3000:]
        assert time.monotonic() < deadline, "no sighup_ignored log line"
        time.sleep(0.05)
    assert daemon.running
    assert daemon.pid == pid
    assert daemon.client(login=False, retries=0).status().version == __version__
    assert daemon.terminate() == 0
    assert not daemon.socket_path.exists()
    # the unit file promises no reload either
    unit = (_ROOT / "systemd" / "posd.service").read_text(encoding="utf-8")
    assert not re.search(r"^\s*ExecReload\s*=", unit, re.MULTILINE)


def _read_stream(call: object, out: list[object]) -> threading.Thread:
    def read() -> None:
        try:
            for item in call:  # type: ignore[attr-defined]
                out.append(item)
        except grpc.RpcError as exc:
            out.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_an_event_stream_does_not_hold_the_stop(tmp_path: Path) -> None:
    config = _config(tmp_path, "[api]\ngrace_seconds = 30\n")
    with DaemonProcess(tmp_path / "state", config=config) as daemon:
        daemon.start()
        pos = daemon.client(retries=0)
        got: list[object] = []
        reader = _read_stream(pos.subscribe_events(after_sequence=0), got)
        deadline = time.monotonic() + 5
        while not got:  # the replayed start-up events: the stream is open
            assert time.monotonic() < deadline, "no event arrived"
            time.sleep(0.05)
        began = time.monotonic()
        assert daemon.terminate(timeout=25) == 0
        took = time.monotonic() - began
        assert took < 5, f"the open stream held the stop for {took:.1f} s"
        reader.join(5)
        assert not reader.is_alive()
        end = got[-1]
        assert isinstance(end, grpc.RpcError)
        assert end.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        assert error_from_rpc(end).reason == "DAEMON_STOPPING"
        log = [e.get("event") for e in daemon.log_events()]
        assert "stopped" in log
        assert not daemon.socket_path.exists()


def test_a_second_sigterm_stops_now_through_the_stop_path(tmp_path: Path) -> None:
    config = _config(tmp_path, "[api]\ngrace_seconds = 30\n")
    with DaemonProcess(tmp_path / "state", config=config) as daemon:
        daemon.start()
        pos = daemon.client(retries=0)
        catalog(pos)
        one_sale(pos, 0)
        got: list[object] = []
        # a device monitor stream runs until cancelled: it holds the grace period
        reader = _read_stream(pos.monitor_device("printer"), got)
        time.sleep(0.3)
        pid = daemon.pid
        assert daemon.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert daemon.running, "the grace period did not hold (nothing to test)"
        began = time.monotonic()
        assert daemon.send_signal(signal.SIGTERM)
        assert daemon.wait_exit(10) == 0
        assert time.monotonic() - began < 5
        reader.join(5)
        assert not reader.is_alive()
        assert any(m.fields.get("STOPPING") == "1" for m in daemon.notify.messages(pid))
        log = [e.get("event") for e in daemon.log_events()]
        assert "stop_now" in log
        assert log.index("stop_now") < log.index("stopped")
        assert not daemon.socket_path.exists()
        rc = daemon.posctl("journal", "verify", "--db", str(daemon.db_path))
        assert rc.returncode == 0, rc.stdout + rc.stderr


_STUCK_CLIENT = """
import sys, time
from posd.client import PosdClient
c = PosdClient(sys.argv[1])
c.token = sys.argv[2]
stream = c.subscribe_events()
print("subscribed", flush=True)
for event in stream:
    print("got", flush=True)
    time.sleep(3600)  # a frozen UI: never reads again
"""


def test_a_client_that_stops_reading_does_not_hold_the_stop(tmp_path: Path) -> None:
    """A frozen UI (or a machine gone from the network) with an event stream open: its
    unread events fill the connection, and gRPC's shutdown waits on that connection for
    good. The stop must still end, in bounded time, with everything closed."""
    config = _config(tmp_path, "[api]\ngrace_seconds = 1\n")
    with DaemonProcess(tmp_path / "state", config=config) as daemon:
        daemon.start()
        pos = daemon.client(retries=0)
        catalog(pos)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        stuck = [
            subprocess.Popen(
                [sys.executable, "-c", _STUCK_CLIENT, f"unix:{daemon.socket_path}", pos.token],
                stdout=subprocess.PIPE,
                env=env,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            for proc in stuck:
                assert proc.stdout is not None
                assert proc.stdout.readline().startswith("subscribed")
            one_sale(pos, 0)
            for proc in stuck:
                assert proc.stdout is not None
                assert proc.stdout.readline().startswith("got")
                os.kill(proc.pid, signal.SIGSTOP)  # frozen for good
            for n in range(1, 150):  # far more events than the connections take in
                one_sale(pos, n)
            posted = pos.status().last_receipt_number
            pos.close()
            began = time.monotonic()
            assert daemon.terminate(timeout=25) == 0
            took = time.monotonic() - began
            # grace 1 s + 1 s, the forced stop 2 s, the rest of the stop path
            assert took < 8, f"the stop took {took:.1f} s"
        finally:
            for proc in stuck:
                proc.kill()
                os.kill(proc.pid, signal.SIGCONT)
                proc.wait()
        log = [e.get("event") for e in daemon.log_events()]
        assert "server_stop_incomplete" in log
        assert "stopped" in log
        assert not daemon.socket_path.exists()
        # nothing half-written: the journal verifies and every receipt is there
        rc = daemon.posctl("journal", "verify", "--db", str(daemon.db_path))
        assert rc.returncode == 0, rc.stdout + rc.stderr
        assert db_rows(daemon.db_path, "SELECT MAX(receipt_number) FROM sales") == [(posted,)]


# -- start-up failures: one line naming the setting, the stop path, the right exit code -----------


def _taken_port() -> socket.socket:
    """A port another process listens on (the caller closes it)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken


def _refused_start(daemon: DaemonProcess) -> DaemonError:
    with pytest.raises(DaemonError) as failed:
        daemon.start()
    return failed.value


def _assert_one_line_and_clean(daemon: DaemonProcess, err: DaemonError, setting: str) -> None:
    assert err.returncode == 1  # not 78: the port may be free next time, systemd retries
    assert "Traceback" not in err.stderr
    lines = [ln for ln in err.stderr.splitlines() if ln.startswith("posd: ")]
    assert len(lines) == 1, err.stderr
    assert lines[0].startswith(f"posd: {setting} "), lines[0]
    assert "Address already in use" in lines[0]
    events = [e.get("event") for e in daemon.log_events()]
    assert "startup_failed" in events
    assert "serving" not in events
    assert "device_online" not in events, "devices were opened before the bind failed"
    assert not daemon.socket_path.exists()
    assert not any(m.fields.get("READY") == "1" for m in daemon.notify.messages())


def test_a_taken_metrics_port_fails_before_the_api_and_the_devices(tmp_path: Path) -> None:
    with _taken_port() as taken:
        port = taken.getsockname()[1]
        config = tmp_path / "taken.toml"
        config.write_text(f'[metrics]\nlisten = "127.0.0.1:{port}"\n[log]\nformat = "json"\n')
        check = subprocess.run(  # a port in use is no configuration error: 0, not 78
            [str(POSD), "--check-config", "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        with DaemonProcess(tmp_path / "state", config=config) as daemon:
            err = _refused_start(daemon)
            _assert_one_line_and_clean(daemon, err, "metrics.listen")
            assert not daemon.db_path.exists(), "the database was opened before the bind"


def test_a_taken_api_port_runs_the_stop_path_and_exits_1(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with _taken_port() as taken:
        port = taken.getsockname()[1]
        config = _config(
            tmp_path,
            f'[api]\ntcp = "127.0.0.1:{port}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n',
        )
        with DaemonProcess(tmp_path / "state", config=config) as daemon:
            err = _refused_start(daemon)
            _assert_one_line_and_clean(daemon, err, "api.tcp")
            events = [e.get("event") for e in daemon.log_events()]
            assert "stopped" in events  # the stop path ran: database and TSE closed
    # the port is free again: the same state starts and serves
    with DaemonProcess(tmp_path / "state", config=config) as daemon:
        daemon.start()
        assert daemon.client(login=False, retries=0).status().version == __version__


# -- an unusable state directory ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["unwritable", "under-a-file", "lock-is-a-directory"])
def test_an_unusable_state_dir_is_one_line_not_a_traceback(tmp_path: Path, how: str) -> None:
    """Every OSError of the state dir takes the same path (a read-only mount gives
    "Read-only file system" there; mounting needs rights a test machine may lack, so
    the unwritable case is a directory on /proc, where nothing can be created, even
    by root)."""
    state = tmp_path / "state"
    expected = {
        "unwritable": "No such file or directory",
        "under-a-file": "Not a directory",
        "lock-is-a-directory": "Is a directory",
    }[how]
    config = _config(tmp_path)
    if how == "unwritable":
        state = Path("/proc/posd-test-state")
    elif how == "under-a-file":
        (tmp_path / "file").write_text("x")
        state = tmp_path / "file" / "state"
    else:
        (state / "posd.lock").mkdir(parents=True)
    run = subprocess.run(
        [str(POSD), "--config", str(config), "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        line for line in run.stderr.strip().splitlines() if line.startswith("posd: ")
    ]
    assert f"posd: state dir {state}: {expected}" in run.stderr
    events = [json.loads(ln) for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert [e["event"] for e in events if e.get("level") == "error"] == ["startup_failed"]


# -- the journal head: the end of the chain, and posted receipts without their record ------------


def _posted_and_stopped(daemon: DaemonProcess, sales: int) -> None:
    daemon.start()
    pos = daemon.client(retries=0)
    catalog(pos)
    for n in range(sales):
        one_sale(pos, n)
    assert daemon.terminate() == 0


def test_the_journal_head_can_be_neither_set_back_nor_deleted(daemon: DaemonProcess) -> None:
    _posted_and_stopped(daemon, 2)
    assert db_rows(daemon.db_path, "SELECT seq FROM journal_head") == [(3,)]
    conn = sqlite3.connect(daemon.db_path, isolation_level=None)
    try:
        for sql in (
            "UPDATE journal_head SET seq = 2",
            "UPDATE journal_head SET hash = 'x'",
            "DELETE FROM journal_head",
            "INSERT INTO journal_head (id, seq, hash) VALUES (2, 1, 'x')",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="only follows the journal"):
                conn.execute(sql)
    finally:
        conn.close()
    ok = daemon.posctl("journal", "verify", "--db", str(daemon.db_path))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "3 records verified" in ok.stdout


def test_posctl_journal_verify_finds_a_deleted_last_record(daemon: DaemonProcess) -> None:
    _posted_and_stopped(daemon, 3)  # shift opened + 3 sales: records 1..4
    conn = sqlite3.connect(daemon.db_path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER journal_no_delete")
        assert conn.execute("DELETE FROM journal WHERE seq = 4").rowcount == 1
    finally:
        conn.close()
    offline = daemon.posctl("journal", "verify", "--db", str(daemon.db_path))
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert "BROKEN at record 4" in offline.stdout
    assert "record 4 missing at the end: the chain ends at 3, its head says 4" in offline.stdout

    daemon.start()  # the daemon still starts; online verify says the same
    online = daemon.posctl("--json", "journal", "verify")
    assert online.returncode == 1
    report = json.loads(online.stdout)
    assert report["ok"] is False
    assert report["first_bad_sequence"] == 4
    assert "missing at the end" in report["problem"]


def test_posctl_journal_verify_finds_a_receipt_without_its_record(daemon: DaemonProcess) -> None:
    """The head dropped too: the chain and its head agree, receipt 3 still has no record."""
    _posted_and_stopped(daemon, 3)
    conn = sqlite3.connect(daemon.db_path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER journal_no_delete")
        conn.execute("DROP TRIGGER journal_head_no_update")
        conn.execute("DELETE FROM journal WHERE seq = 4")
        prev = conn.execute("SELECT hash FROM journal WHERE seq = 3").fetchone()[0]
        conn.execute("UPDATE journal_head SET seq = 3, hash = ?", (prev,))
    finally:
        conn.close()
    offline = daemon.posctl("journal", "verify", "--db", str(daemon.db_path))
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert "receipt 3 (register REG-1) is posted but has no SALE_POSTED record" in offline.stdout


# -- posctl: user errors are one line, never a traceback -------------------------------------------


def _posctl(daemon: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """posctl without --operator/--pin and with stdin not a terminal (cron, ssh -T)."""
    return subprocess.run(
        [str(POSCTL), "--state-dir", str(daemon.state_dir), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _one_line(run: subprocess.CompletedProcess[str], expected: str) -> None:
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.strip() == expected


def test_posctl_user_errors_are_one_line(daemon: DaemonProcess, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    _one_line(
        _posctl(daemon, "journal", "verify", "--db", str(folder)),
        f"posctl: {folder}: is a directory, not a database file",
    )
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n" * 100)
    _one_line(
        _posctl(daemon, "journal", "verify", "--db", str(junk)),
        f"posctl: {junk}: file is not a database",
    )
    daemon.start()
    _one_line(
        daemon.posctl("import", "items", str(folder)),
        f"posctl: {folder}: is a directory",
    )
    _one_line(
        daemon.posctl("import", "items", str(tmp_path / "missing.csv")),
        f"posctl: {tmp_path / 'missing.csv'}: no such file",
    )
    # no operator or PIN and nobody to ask: say which option gives it, do not wait
    _one_line(
        _posctl(daemon, "journal", "verify"),
        "posctl: operator id missing: give --operator ID ($POSCTL_OPERATOR)"
        " (stdin is not a terminal)",
    )
    _one_line(
        _posctl(daemon, "--operator", "1", "journal", "verify"),
        "posctl: PIN missing: give --pin PIN ($POSCTL_PIN) (stdin is not a terminal)",
    )


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


def test_ctrl_c_at_the_pin_prompt_exits_130(daemon: DaemonProcess) -> None:
    daemon.start()
    argv = [str(POSCTL), "--state-dir", str(daemon.state_dir), "--operator", "1"]
    pid, fd = pty.fork()  # posctl on a terminal of its own: it prompts for the PIN
    if pid == 0:  # pragma: no cover (the child)
        os.execv(argv[0], [*argv, "journal", "verify"])
    try:
        prompt = _read_until(fd, b"PIN:", 20)
        assert b"PIN:" in prompt, prompt
        os.write(fd, b"\x03")  # Ctrl-C, through the terminal's line discipline
        rest = _read_until(fd, b"\0never", 10)
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130
    assert b"Traceback" not in rest
    assert b"KeyboardInterrupt" not in rest


# -- the README's client example runs as written --------------------------------------------------


def test_the_readme_client_example_runs(
    daemon: DaemonProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    example = next(b for b in blocks if "PosdClient(" in b and "post_sale" in b)
    assert 'PosdClient("unix:.state/posd.sock")' in example
    daemon.start()
    # the directory the daemon was started in, with its ./.state
    here = daemon.state_dir.parent / "cwd"
    here.mkdir()
    (here / ".state").symlink_to(daemon.state_dir)
    monkeypatch.chdir(here)
    exec(compile(example, "README.md", "exec"), {})  # the README's own code, as written
    assert capsys.readouterr().out.strip() == "1"  # the first receipt
