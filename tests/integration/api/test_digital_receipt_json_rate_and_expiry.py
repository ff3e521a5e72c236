"""Digital receipts through the real daemon over real sockets: the JSON of a receipt in
a foreign currency says what its paper says (the local equivalent, the rate, and change
paid out in the local currency); a request target in absolute form is served; the paper
names the time its link stops working."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

from posd.v1 import common_pb2, shop_pb2

from posd_daemon.store.timeutil import from_db
from tests.conftest import start_in_thread
from tests.integration.api.test_digital_receipts import (
    digital_config,
    get,
    port_of,
    printed,
    printed_url,
    raw,
    sell,
)
from tests.integration.api.test_sale_part2 import call, pay, post, sale_of, seed
from tests.support.fullsale import update_shop

CASH = common_pb2.PAYMENT_METHOD_CASH


def test_a_foreign_currency_receipt_as_json_says_what_the_paper_says(tmp_path: Path) -> None:
    r = start_in_thread(tmp_path / "state", digital_config())
    try:
        with r.client() as pos:
            seed(pos)
            update_shop(pos, fixed_rates=[shop_pb2.FixedRate(currency_code="CHF", rate="0.95")])
            # the TV (100.00 EUR = 95.00 CHF) paid with 100 CHF, the change in euros
            sid = sale_of(pos, ("TV", "1"))
            call(pos, "SetCurrency", sale_id=sid, currency_code="CHF")
            pay(pos, sid, CASH, 10000, currency="CHF")
            fx = post(pos, sid, change_currency_code="EUR")
        url = printed_url(r, fx.receipt_number)
        paper = " ".join(printed(r).split())
        assert "entspricht 100,00 EUR" in paper
        assert "Kurs 1 EUR = 0.95 CHF (FIXED)" in paper
        assert "Rückgeld 5,26 EUR entspricht 5,00 CHF" in paper  # what the customer got

        status, _, body = get(port_of(r), urlsplit(url).path, accept="application/json")
        assert status == 200
        data = json.loads(body)
        assert data["currency"] == "CHF"
        assert data["totals"]["gross"] == 9500
        assert data["local_currency"] == "EUR"
        assert data["exchange_rate"] == {
            "rate": "0.95",
            "source": "FIXED",
            "text": "1 EUR = 0.95 CHF (FIXED)",
        }
        assert data["totals"]["gross_local"] == 10000
        # the change as paid out: 5.26 EUR, worth the 5.00 CHF of totals.change
        assert data["totals"]["change"] == 500
        assert data["change_paid"] == {"currency": "EUR", "amount": 526, "rounding": 0}
    finally:
        r.stop()


def test_a_local_currency_receipt_as_json_names_its_change_and_no_rate(
    tmp_path: Path,
) -> None:
    r = start_in_thread(tmp_path / "state", digital_config())
    try:
        with r.client() as pos:
            posted = sell(pos)
        url = printed_url(r, posted.receipt_number)
        status, _, body = get(port_of(r), urlsplit(url).path, accept="application/json")
        assert status == 200
        data = json.loads(body)
        assert data["local_currency"] == "EUR" and data["exchange_rate"] is None
        assert data["totals"]["gross_local"] == data["totals"]["gross"] == 3647
        assert data["change_paid"] == {"currency": "EUR", "amount": 5000 - 3647, "rounding": 0}
        assert data["prices"] == "gross"
    finally:
        r.stop()


def test_a_request_in_absolute_form_is_answered_like_its_path(tmp_path: Path) -> None:
    """RFC 9112 § 3.2.2: a server MUST accept the absolute-form of the request target
    ("GET https://host/r/<token> HTTP/1.1"), which a proxy in front may send."""
    r = start_in_thread(tmp_path / "state", digital_config())
    try:
        with r.client() as pos:
            posted = sell(pos)
        url = printed_url(r, posted.receipt_number)
        port = port_of(r)
        answer = raw(port, f"GET {url}?x=1 HTTP/1.1\r\nHost: kasse.example.de\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:60]
        assert f"Beleg-Nr. {posted.receipt_number}".encode() in answer
        # another path on the same host stays unknown, and a token's prefix is no token
        for target in ("https://kasse.example.de/other/x", url[:-1], url + "x"):
            # with its Host: an HTTP/1.1 request without one is a 400 (RFC 9112 § 3.2)
            answer = raw(port, f"GET {target} HTTP/1.1\r\nHost: kasse.example.de\r\n\r\n".encode())
            assert answer.startswith(b"HTTP/1.1 404 "), (target, answer[:60])
    finally:
        r.stop()


def test_the_paper_says_until_what_time_the_link_works(tmp_path: Path) -> None:
    """The link stops working at the moment of its expiry, not at the end of that day:
    a customer told "abrufbar bis 22.02.2027" who tries that evening must not be turned
    away with "abgelaufen". The paper names the time (register's zone) as well."""
    r = start_in_thread(tmp_path / "state", digital_config())
    try:
        with r.client() as pos:
            posted = sell(pos)
        printed_url(r, posted.receipt_number)
        db = sqlite3.connect(f"file:{r.config.database_path}?mode=ro", uri=True)
        try:
            (expires_at,) = db.execute(
                "SELECT expires_at FROM digital_receipts WHERE sale_id = ?", (posted.sale_id,)
            ).fetchone()
        finally:
            db.close()
        local = from_db(expires_at).astimezone(r.config.zone())
        paper = " ".join(printed(r).split())
        assert f"abrufbar bis {local:%d.%m.%Y %H:%M}" in paper
    finally:
        r.stop()
