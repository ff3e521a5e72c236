"""The digital receipt server under hostile or broken conditions, over real sockets against
the real daemon: slow clients must not lock customers out, a receipt the server cannot
read is a 500 (not a dropped connection) and the next customer is served; the receipt a
customer fetches says what the paper says, for a reversal (storno) and for a receipt made
during a TSE outage."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Running, start_in_thread
from tests.integration.api.test_digital_receipts import (
    digital_config,
    get,
    port_of,
    printed_url,
    sell,
)
from tests.integration.api.test_sale_part2 import call
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly

#: the server's cap on connections at once (api/receipt_http.MAX_CONNECTIONS)
CAP = 64


def slow_clients(port: int, n: int) -> list[socket.socket]:
    """``n`` connections that start a request head and never finish it (slowloris)."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /r/AAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n")
        out.append(s)
    return out


def closed_by_server(s: socket.socket, wait_s: float) -> bytes | None:
    """What the server sent before closing ``s`` within ``wait_s``; None: still open."""
    s.settimeout(wait_s)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return out


def test_slow_clients_holding_every_slot_do_not_lock_a_customer_out(
    tmp_path: Path,
) -> None:
    r = start_in_thread(tmp_path / "state", digital_config())
    try:
        with r.client() as pos:
            posted = sell(pos)
        path = urlsplit(printed_url(r, posted.receipt_number)).path
        port = port_of(r)
        # every slot taken by clients that never finish their request (within the 3 s
        # deadline each may take): the customer is served, not refused with a 503
        slow = slow_clients(port, CAP)
        try:
            time.sleep(0.3)
            started = time.monotonic()
            status, _, body = get(port, path)
            assert status == 200, body
            assert time.monotonic() - started < 1.0
            # and again with many more slow clients than slots: still served, and the
            # server does not hold on to more connections than its cap (the oldest
            # slow ones are answered 408 and closed at once, well before their deadline)
            slow += slow_clients(port, 3 * CAP)
            time.sleep(0.3)
            assert get(port, path)[0] == 200
            answers = [closed_by_server(s, 0.01) for s in slow]
            assert sum(a is not None for a in answers) >= 2 * CAP
            assert all(a is None or a.startswith(b"HTTP/1.1 408 ") for a in answers)
        finally:
            for s in slow:
                s.close()
        metrics = r.daemon.metrics.digital_receipt_requests
        assert metrics.labels("busy")._value.get() == 0
        assert metrics.labels("served")._value.get() == 2
    finally:
        r.stop()


def test_a_receipt_the_server_cannot_read_is_a_500_and_the_next_customer_is_served(
    tmp_path: Path,
) -> None:
    r = start_in_thread(tmp_path / "state", digital_config())
    try:
        with r.client() as pos:
            broken, fine = sell(pos), sell(pos)
        broken_path = urlsplit(printed_url(r, broken.receipt_number)).path
        fine_path = urlsplit(printed_url(r, fine.receipt_number)).path
        # a row the daemon cannot read back (a damaged database, a bad restore)
        db = sqlite3.connect(str(r.config.database_path), timeout=5)
        try:
            with db:
                db.execute(
                    "UPDATE sales SET posted_at = 'not a time' WHERE sale_id = ?",
                    (broken.sale_id,),
                )
        finally:
            db.close()
        port = port_of(r)
        for accept in ("", "application/json"):
            status, headers, body = get(port, broken_path, accept=accept)
            assert status == 500
            assert body == b"Interner Fehler.\n"
            assert headers["cache-control"] == "no-store"
        assert get(port, fine_path)[0] == 200
        metrics = r.daemon.metrics.digital_receipt_requests
        assert metrics.labels("error")._value.get() == 2
    finally:
        r.stop()


@pytest.fixture
def fiskaly_digital(tmp_path: Path) -> Iterator[tuple[Running, FakeFiskaly]]:
    with FakeFiskaly() as fake:
        r = start_in_thread(tmp_path / "state", fiskaly_config(fake, **digital_config()))
        try:
            yield r, fake
        finally:
            r.stop()


def fetch(running: Running, receipt_number: int) -> tuple[str, dict[str, object]]:
    path = urlsplit(printed_url(running, receipt_number)).path
    port = port_of(running)
    status, headers, text = get(port, path)
    assert status == 200 and headers["content-type"] == "text/plain; charset=utf-8"
    status, headers, data = get(port, path, accept="application/json")
    assert status == 200 and headers["content-type"] == "application/json"
    return text.decode("utf-8"), json.loads(data)


def test_a_reversal_and_an_outage_receipt_are_served_as_posted(
    fiskaly_digital: tuple[Running, FakeFiskaly],
) -> None:
    running, fake = fiskaly_digital
    with running.client() as pos:
        original = sell(pos)
        storno = call(pos, "ReverseReceipt", sale_id=original.sale_id, reason="Fehlbon").reversal
        fake.fail_all(status=503)
        outage = sell(pos)
    assert outage.tse.state == "OUTAGE"

    # the reversal: its own receipt, saying which receipt it reverses, its amounts negated
    text, data = fetch(running, storno.receipt_number)
    assert f"STORNO zu Beleg {original.receipt_number}" in text
    assert "SUMME      -36,47 EUR" in text
    assert data["receipt_number"] == storno.receipt_number
    assert data["reverses_receipt"] == original.receipt_number
    assert data["reverses_sale_id"] == original.sale_id
    totals = data["totals"]
    assert isinstance(totals, dict)
    assert totals["gross"] == storno.total.amount_minor == -3647
    assert data["payments"] == [{"method": "CASH", "label": "Rückzahlung Bar", "amount": -3647}]
    tse = data["tse"]
    assert isinstance(tse, dict)
    assert tse["qr_code"] == storno.tse.qr_code and tse["signature"] == storno.tse.signature
    assert f"[QR {storno.tse.qr_code}]" in text
    # the reversed receipt itself is served unchanged: not a reversal
    _, first = fetch(running, original.receipt_number)
    assert first["reverses_receipt"] is None and first["reverses_sale_id"] is None
    totals = first["totals"]
    assert isinstance(totals, dict) and totals["gross"] == 3647

    # the outage receipt: the outage marking, no signature, no TSE QR code
    text, data = fetch(running, outage.receipt_number)
    assert "Technische Sicherheitseinrichtung ausgefallen. Ausfallnummer: 1" in " ".join(
        text.split()
    )
    assert "Vorgangsbeginn: " in text and "Vorgangsende: " in text
    assert "TSE-Signatur" not in text and "[QR V0;" not in text
    tse = data["tse"]
    assert isinstance(tse, dict)
    assert tse["state"] == "OUTAGE" and tse["outage_number"] == 1
    assert tse["signature"] == "" and tse["qr_code"] == ""
    totals = data["totals"]
    assert isinstance(totals, dict) and totals["gross"] == outage.total.amount_minor == 3647
