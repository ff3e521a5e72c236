"""Digital receipts by QR code through the real daemon: the token stored with the post,
the QR code read back from the simulated printer's paper, the receipt fetched over a
real TCP socket from the daemon's HTTP receipt server, errors, pruning, posctl."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
from posd.client import PosdClient, PosdError
from posd.v1 import common_pb2, sale_pb2

from posd_daemon.api.master_servicers import MasterData
from posd_daemon.api.receipt_http import MAX_REQUEST_BYTES, ReceiptHttpServer
from posd_daemon.bootstrap import StartupError
from posd_daemon.cli import posctl
from posd_daemon.ops.config import ConfigError, load
from posd_daemon.store.timeutil import to_db
from tests.conftest import Running, running_daemon, start_in_thread

CASH = common_pb2.PAYMENT_METHOD_CASH
BASE = "https://kasse.example.de/r/"
QR_URL = re.compile(r"\[QR (https://kasse\.example\.de/r/[A-Za-z0-9_-]+)\]")


def wait_for(cond: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def printed(running: Running) -> str:
    out = running.config.state_dir / "printer.txt"
    return out.read_text("utf-8") if out.exists() else ""


def digital_config(paper: str = "full") -> dict[str, object]:
    return {
        "digital_receipt": {
            "enabled": True,
            "listen": "127.0.0.1:0",
            "base_url": BASE,
            "token_days": 90,
            "paper": paper,
        }
    }


@pytest.fixture
def digital(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", digital_config()) as r:
        yield r


def port_of(running: Running) -> int:
    server = running.daemon.extra["receipt_http"]
    assert isinstance(server, ReceiptHttpServer)
    assert server.port > 0
    return server.port


def sell(pos: PosdClient) -> sale_pb2.Sale:
    pos.upsert_item("1001", "Bio-Brot", 449, vat_category=2)
    pos.upsert_item("2002", "Kaffee Crema", 1599)
    s = pos.create_sale()
    pos.add_line(s.sale_id, item_id="1001")
    pos.add_line(s.sale_id, item_id="2002", quantity="2")
    pos.add_payment(s.sale_id, CASH, 5000)
    return pos.post_sale(s.sale_id)


def printed_url(running: Running, receipt_number: int) -> str:
    """The receipt's QR code as the simulated printer decoded it from the ESC/POS bytes."""
    wait_for(lambda: f"Beleg-Nr. {receipt_number}" in printed(running)
             and "Digitaler Beleg" in printed(running))  # fmt: skip
    paper = printed(running)
    receipt = paper[paper.index(f"Beleg-Nr. {receipt_number}") :]
    urls = QR_URL.findall(receipt)
    assert len(urls) >= 1
    return str(urls[0])


def get(port: int, path: str, accept: str = "") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Accept": accept} if accept else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def raw(port: int, data: bytes) -> bytes:
    """Sends ``data`` on a plain TCP socket and reads the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        # the server may answer and close before the rest arrived
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_posted_receipt_prints_its_url_and_the_server_answers_text_and_json(
    digital: Running,
) -> None:
    with digital.client() as pos:
        posted = sell(pos)
    number = posted.receipt_number
    url = printed_url(digital, number)
    token = url.removeprefix(BASE)
    assert len(token) >= 22  # >= 128 bits in base64url
    # stored in the same database as the sale, with its expiry
    db = sqlite3.connect(f"file:{digital.config.database_path}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT sale_id, created_at, expires_at FROM digital_receipts WHERE token = ?",
            (token,),
        ).fetchone()
        posted_at = db.execute(
            "SELECT posted_at FROM sales WHERE sale_id = ?", (posted.sale_id,)
        ).fetchone()[0]
    finally:
        db.close()
    assert row[0] == posted.sale_id
    assert row[1] == posted_at
    created = datetime.fromisoformat(row[1].rstrip("Z")).replace(tzinfo=UTC)
    expires = datetime.fromisoformat(row[2].rstrip("Z")).replace(tzinfo=UTC)
    assert expires - created == timedelta(days=90)
    paper = printed(digital)
    assert "Digitaler Beleg" in paper
    assert f"abrufbar bis {expires.strftime('%d.%m.%Y')}" in " ".join(paper.split())
    # the full receipt is printed too (default paper = "full"): TSE block and its QR
    assert "TSE-Signatur" in paper
    assert "[QR V0;REG-1;Kassenbeleg-V1;" in paper

    port = port_of(digital)
    path = urlsplit(url).path
    status, headers, body = get(port, path)
    assert status == 200
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    text = body.decode("utf-8")
    assert f"Beleg-Nr. {number}" in text
    assert "SUMME" in text and "36,47 EUR" in text  # 4.49 + 2 x 15.99
    assert "TSE-Signatur:" in text
    assert posted.tse.signature in "".join(text.split())  # wrapped to the paper's width
    assert f"TSE-Transaktion: {posted.tse.transaction_number}" in text
    assert "[QR V0;REG-1;Kassenbeleg-V1;" in text  # the TSE's QR payload as text
    assert "Digitaler Beleg" not in text  # the link does not link to itself

    status, headers, body = get(port, path, accept="application/json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert data["sale_id"] == posted.sale_id
    assert data["receipt_number"] == number
    assert data["totals"]["gross"] == posted.total.amount_minor == 3647
    assert data["currency"] == "EUR"
    assert [ln["name"] for ln in data["lines"]] == ["Bio-Brot", "Kaffee Crema"]
    assert sum(v["gross"] for v in data["vat"]) == 3647
    assert {v["percent"] for v in data["vat"]} == {"7", "19"}
    assert data["payments"] == [{"method": "CASH", "label": "Bar", "amount": 5000}]
    assert data["totals"]["change"] == 5000 - 3647
    tse = data["tse"]
    assert tse["signature"] == posted.tse.signature
    assert tse["transaction_number"] == posted.tse.transaction_number
    assert tse["serial_number"] == posted.tse.tse_serial
    assert tse["process_data"] == posted.tse.process_data
    assert tse["qr_code"].startswith("V0;REG-1;Kassenbeleg-V1;")
    assert tse["qr_code"] == posted.tse.qr_code
    # HEAD: the same headers, no body
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("HEAD", path)
    resp = conn.getresponse()
    assert resp.status == 200 and int(resp.getheader("Content-Length") or 0) > 0
    assert resp.read() == b""
    conn.close()

    # a reprint (copy) carries the same link
    with digital.client() as pos:
        pos.reprint_receipt(posted.sale_id)
    wait_for(lambda: "*** KOPIE ***" in printed(digital))
    copy = printed(digital)[printed(digital).index("*** KOPIE ***") :]
    assert url in QR_URL.findall(copy)


def test_each_receipt_gets_its_own_token(digital: Running) -> None:
    with digital.client() as pos:
        first, second = sell(pos), sell(pos)
    a = printed_url(digital, first.receipt_number)
    b = printed_url(digital, second.receipt_number)
    assert a != b
    port = port_of(digital)
    _, _, body = get(port, urlsplit(b).path, accept="application/json")
    assert json.loads(body)["receipt_number"] == second.receipt_number


def test_unknown_expired_malformed_tokens_are_404_and_expired_ones_are_pruned(
    digital: Running,
) -> None:
    with digital.client() as pos:
        posted = sell(pos)
    url = printed_url(digital, posted.receipt_number)
    token = url.removeprefix(BASE)
    port = port_of(digital)
    unknown = get(port, "/r/" + "A" * len(token))
    assert unknown[0] == 404
    for path in ("/r/", "/r/../../etc/passwd", "/r/%00", "/other/" + token, "/r/" + token + "x"):
        assert get(port, path)[0] == 404, path
    # the token runs out: the same answer as an unknown one
    db = sqlite3.connect(str(digital.config.database_path), timeout=5)
    try:
        with db:
            db.execute(
                "UPDATE digital_receipts SET expires_at = ? WHERE token = ?",
                (to_db(datetime.now(UTC) - timedelta(seconds=1)), token),
            )
    finally:
        db.close()
    expired = get(port, "/r/" + token)
    assert expired[0] == 404
    assert expired[2] == unknown[2]
    assert get(port, "/r/" + token, accept="application/json")[0] == 404
    # the housekeeping sweep deletes it; the sale itself stays
    master = digital.daemon.extra["master"]
    assert isinstance(master, MasterData)
    done = asyncio.run_coroutine_threadsafe(
        master.housekeeping.run_periodic(force=True), digital.loop
    ).result(10)
    assert done["digital_receipts"] == 1
    db = sqlite3.connect(f"file:{digital.config.database_path}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT COUNT(*) FROM digital_receipts").fetchone()[0] == 0
        assert (
            db.execute(
                "SELECT receipt_number FROM sales WHERE sale_id = ?", (posted.sale_id,)
            ).fetchone()[0]
            == posted.receipt_number
        )
    finally:
        db.close()
    # counted
    metrics = digital.daemon.metrics.digital_receipt_requests
    assert metrics.labels("not_found")._value.get() >= 8


def test_other_methods_bad_and_oversized_requests_are_refused(digital: Running) -> None:
    with digital.client() as pos:
        posted = sell(pos)
    path = urlsplit(printed_url(digital, posted.receipt_number)).path
    port = port_of(digital)
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        answer = raw(
            port, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
        )
        assert answer.startswith(b"HTTP/1.1 405 "), (method, answer[:40])
        assert b"Allow: GET, HEAD" in answer
    # oversized head: refused without reading on
    big = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Pad: {'a' * (MAX_REQUEST_BYTES * 4)}\r\n\r\n"
    answer = raw(port, big.encode())
    assert answer.startswith(b"HTTP/1.1 431 ")
    # a body on a GET, garbage, a non-HTTP/1 version: 400, never a traceback
    for data in (
        f"GET {path} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".encode(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        f"GET {path} HTTP/2.0\r\n\r\n".encode(),
        b"GET\r\n\r\n",
    ):
        answer = raw(port, data)
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:60]
        assert b"Traceback" not in answer
    # still serving
    assert get(port, path)[0] == 200
    metrics = digital.daemon.metrics.digital_receipt_requests
    assert metrics.labels("method_not_allowed")._value.get() == 4
    assert metrics.labels("too_large")._value.get() == 1
    assert metrics.labels("served")._value.get() == 1


def test_slip_mode_prints_only_a_short_slip_with_the_qr(tmp_path: Path) -> None:
    r = start_in_thread(tmp_path / "state", digital_config(paper="slip"))
    try:
        with r.client() as pos:
            posted = sell(pos)
        url = printed_url(r, posted.receipt_number)
        paper = printed(r)
        assert "SUMME" in paper and "36,47 EUR" in paper
        assert "TSE-Signatur" not in paper  # the full receipt is behind the link
        assert "Kaffee Crema" not in paper
        assert "Ihr Kassenbeleg ist digital" in paper
        status, _, body = get(port_of(r), urlsplit(url).path)
        assert status == 200
        text = body.decode("utf-8")
        assert "Kaffee Crema" in text and "TSE-Signatur" in text
    finally:
        r.stop()


def test_disabled_prints_no_qr_block_stores_no_token_and_serves_nothing(
    running: Running, pos: PosdClient
) -> None:
    posted = sell(pos)
    wait_for(lambda: "TSE-Signatur" in printed(running))
    paper = printed(running)
    assert f"Beleg-Nr. {posted.receipt_number}" in paper
    assert "Digitaler Beleg" not in paper
    assert "[QR https://" not in paper
    assert running.daemon.extra["receipt_http"] is None
    db = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT COUNT(*) FROM digital_receipts").fetchone()[0] == 0
    finally:
        db.close()


def test_posctl_receipts_url_prints_the_link(
    digital: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    with digital.client() as pos:
        posted = sell(pos)
    url = printed_url(digital, posted.receipt_number)
    state = str(digital.config.state_dir)
    config = digital.config.state_dir / "digital.toml"
    config.write_text(f'[digital_receipt]\nenabled = true\nbase_url = "{BASE}"\n', "utf-8")
    args = ["--state-dir", state, "--config", str(config), "receipts", "url"]
    assert posctl.main([*args, str(posted.receipt_number)]) == 0
    # (the in-process daemon logs to stdout as well: the answer is the last line)
    assert capsys.readouterr().out.strip().splitlines()[-1] == url
    assert posctl.main([*args, "999"]) == 1
    assert "no receipt 999" in capsys.readouterr().err
    assert posctl.main(["--state-dir", state, "receipts", "url", "1"]) == 1
    assert "digital receipts are off" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enabled": True}, "digital_receipt.base_url: required when enabled"),
        ({"base_url": "ftp://x/r/"}, "digital_receipt.base_url: an http(s) URL"),
        ({"base_url": "https://x/r"}, "digital_receipt.base_url: an http(s) URL"),
        ({"base_url": "https://x/r/?a=1"}, "digital_receipt.base_url: an http(s) URL"),
        ({"base_url": "https:///r/"}, "digital_receipt.base_url: an http(s) URL"),
        ({"base_url": "https://x:99999/r/"}, "digital_receipt.base_url: an http(s) URL"),
        ({"listen": "8088"}, "digital_receipt.listen: must be host:port"),
        ({"token_days": 0}, "digital_receipt.token_days: between 1 and 3650"),
        ({"token_days": "90"}, "digital_receipt.token_days: must be a whole number"),
        ({"paper": "none"}, "digital_receipt.paper: full or slip"),
        ({"enabled": "yes"}, "digital_receipt.enabled: must be true or false"),
        ({"lifetime": 3}, "digital_receipt.lifetime: unknown key"),
    ],
)
def test_bad_digital_receipt_config_is_refused_naming_the_key(
    tmp_path: Path, section: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, {"state": {"dir": str(tmp_path)}, "digital_receipt": section})
    assert message in str(err.value)


def test_default_config_has_it_off_and_a_valid_section_loads(tmp_path: Path) -> None:
    cfg = load(None, {"state": {"dir": str(tmp_path)}})
    assert cfg.digital_receipt.enabled is False
    assert cfg.digital_receipt.token_days == 90
    assert cfg.digital_receipt.paper == "full"
    ok = load(None, {"state": {"dir": str(tmp_path)}, **digital_config("slip")})
    assert ok.digital_receipt.base_url == BASE


def test_a_slow_request_head_times_out_with_408(digital: Running) -> None:
    server = digital.daemon.extra["receipt_http"]
    assert isinstance(server, ReceiptHttpServer)
    server.timeout_s = 0.3  # the deadline per connection (3 s by default)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"GET /r/abc HTTP/1.1\r\nHost: x\r\n")  # ... and never the end
        started = time.monotonic()
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert s.recv(65536) == b""  # closed
        assert time.monotonic() - started < 3
    assert digital.daemon.metrics.digital_receipt_requests.labels("timeout")._value.get() == 1


def test_a_post_run_ahead_gets_its_token_dated_by_the_postsale(digital: Running) -> None:
    reg = digital.daemon.metrics.registry

    def claimed() -> float:
        return reg.get_sample_value("posd_posts_ahead_total", {"outcome": "claimed"}) or 0.0

    with digital.client() as pos:
        pos.upsert_item("1001", "Bio-Brot", 449, vat_category=2)
        sale = pos.create_sale()
        pos.add_line(sale.sale_id, item_id="1001")

        def tse_started() -> bool:
            with sqlite3.connect(digital.config.database_path) as conn:
                sql = "SELECT 1 FROM sale_tse WHERE sale_id = ?"
                return conn.execute(sql, (sale.sale_id,)).fetchone() is not None

        wait_for(tse_started)
        before = claimed()
        pos.add_payment(sale.sale_id, CASH, 500)  # paid in full: the post runs ahead
        time.sleep(0.3)
        posted = pos.post_sale(sale.sale_id)
    assert claimed() == before + 1
    db = sqlite3.connect(f"file:{digital.config.database_path}?mode=ro", uri=True)
    try:
        created, posted_at = db.execute(
            "SELECT d.created_at, s.posted_at FROM digital_receipts d"
            " JOIN sales s USING (sale_id) WHERE sale_id = ?",
            (posted.sale_id,),
        ).fetchone()
    finally:
        db.close()
    assert created == posted_at  # the call's time, not the time it ran ahead
    url = printed_url(digital, posted.receipt_number)
    status, _, body = get(port_of(digital), urlsplit(url).path, accept="application/json")
    assert status == 200 and json.loads(body)["receipt_number"] == posted.receipt_number


def test_a_listen_address_in_use_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = digital_config()
        cfg["digital_receipt"]["listen"] = f"127.0.0.1:{port}"  # type: ignore[index]
        with pytest.raises(StartupError) as err:
            start_in_thread(tmp_path / "state", cfg)
    assert f"digital_receipt.listen: cannot serve on 127.0.0.1:{port}" in str(err.value)


# -- delivery chosen per sale (PostSaleRequest.receipt_delivery) -----------------------------

DIGITAL = sale_pb2.RECEIPT_DELIVERY_DIGITAL
PAPER = sale_pb2.RECEIPT_DELIVERY_PAPER


def prepare(pos: PosdClient) -> str:
    pos.upsert_item("1001", "Bio-Brot", 449, vat_category=2)
    s = pos.create_sale()
    pos.add_line(s.sale_id, item_id="1001", quantity="2")
    pos.add_payment(s.sale_id, CASH, 1000)
    return s.sale_id


def rows(running: Running, sql: str, *args: object) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{running.config.database_path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def receipt_jobs(running: Running, sale_id: str) -> list[tuple[object, ...]]:
    return rows(running, "SELECT kind FROM outbox WHERE ref = ? AND kind = 'print'", sale_id)


def journal_delivery(running: Running, receipt_number: int) -> object:
    (payload,) = rows(
        running,
        "SELECT payload FROM journal WHERE kind = 'SALE_POSTED' AND ref = ?",
        f"receipt:{receipt_number}",
    )[0]
    assert isinstance(payload, str)
    return json.loads(payload)["receipt_delivery"]


@pytest.mark.parametrize("wait_s", [0.0, 0.3])  # the usual post, and with a post run ahead
def test_a_digital_only_receipt_prints_nothing_and_the_answer_carries_its_link(
    digital: Running, wait_s: float
) -> None:
    reg = digital.daemon.metrics.registry

    def abandoned() -> float:
        return reg.get_sample_value("posd_posts_ahead_total", {"outcome": "abandoned"}) or 0.0

    before = abandoned()
    with digital.client() as pos:
        sale_id = prepare(pos)
        time.sleep(wait_s)  # 0.3 s: the post ran ahead with a paper job; it must go
        answer = pos.post_sale_full(sale_id, request_id=f"post-digital-{wait_s}", delivery=DIGITAL)
        again = pos.post_sale_full(sale_id, request_id=f"post-digital-{wait_s}", delivery=DIGITAL)
        link = pos.get_digital_receipt(sale_id)
    posted = answer.sale
    assert posted.state == sale_pb2.SALE_STATE_POSTED and posted.tse.state == "SIGNED"
    got = answer.digital_receipt
    assert got.url.startswith(BASE) and got.delivery == DIGITAL
    assert got.receipt_number == posted.receipt_number and got.sale_id == sale_id
    assert got.expire_time.ToDatetime(UTC) > datetime.now(UTC) + timedelta(days=89)
    assert again == answer  # a repeat: the first answer
    assert link == got
    if wait_s:  # the run-ahead (with its print job) was rolled back, not claimed
        wait_for(lambda: abandoned() == before + 1)
    # nothing printed for it, the drawer still opens for the cash, the journal says why
    time.sleep(0.2)
    assert receipt_jobs(digital, sale_id) == []
    assert f"Beleg-Nr. {posted.receipt_number}" not in printed(digital)
    assert rows(digital, "SELECT 1 FROM outbox WHERE ref = ? AND kind = 'drawer'", sale_id)
    assert journal_delivery(digital, posted.receipt_number) == "DIGITAL"
    # the link serves the receipt with its TSE data
    status, _, body = get(port_of(digital), urlsplit(got.url).path, accept="application/json")
    assert status == 200
    data = json.loads(body)
    assert data["receipt_number"] == posted.receipt_number
    assert data["tse"]["signature"] == posted.tse.signature


def test_paper_delivery_prints_with_the_qr_block_and_the_answer_carries_the_link(
    digital: Running,
) -> None:
    with digital.client() as pos:
        sale_id = prepare(pos)
        answer = pos.post_sale_full(sale_id, delivery=PAPER)
    number = answer.sale.receipt_number
    assert answer.digital_receipt.delivery == PAPER
    assert printed_url(digital, number) == answer.digital_receipt.url
    assert journal_delivery(digital, number) == "PAPER"


def test_digital_delivery_without_the_feature_is_refused_before_signing(
    running: Running, pos: PosdClient
) -> None:
    sale_id = prepare(pos)
    with pytest.raises(PosdError) as err:
        pos.post_sale(sale_id, delivery=DIGITAL)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.reason == "DIGITAL_RECEIPTS_OFF"
    sale = pos.get_sale(sale_id)
    assert sale.state == sale_pb2.SALE_STATE_OPEN and sale.receipt_number == 0
    assert sale.tse.state != "SIGNED"  # the TSE was not asked to finish it
    with pytest.raises(PosdError) as err:
        pos.get_digital_receipt(sale_id)
    assert err.value.reason == "DIGITAL_RECEIPTS_OFF"
    # printed as usual, without a link in the answer
    answer = pos.post_sale_full(sale_id)
    assert answer.sale.state == sale_pb2.SALE_STATE_POSTED
    assert not answer.HasField("digital_receipt")
    assert journal_delivery(running, answer.sale.receipt_number) == "PAPER"


def test_unknown_delivery_and_sales_without_a_link_get_clear_errors(digital: Running) -> None:
    with digital.client() as pos:
        sale_id = prepare(pos)
        with pytest.raises(PosdError) as err:
            pos.post_sale(sale_id, delivery=7)  # type: ignore[arg-type]
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert ("receipt_delivery", "unknown receipt delivery") in err.value.field_violations
        assert pos.get_sale(sale_id).state == sale_pb2.SALE_STATE_OPEN
        with pytest.raises(PosdError) as err:
            pos.get_digital_receipt(sale_id)  # open: no receipt yet
        assert err.value.code == grpc.StatusCode.NOT_FOUND
        assert err.value.reason == "DIGITAL_RECEIPT_NOT_FOUND"
        with pytest.raises(PosdError) as err:
            pos.get_digital_receipt("x" * 500)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
