"""A rest that rounds to nothing in cash is settled by a cash payment of 0.00 (CHF 0.02
in 0.05 steps, or the last rappen after a card). Nothing was paid in cash: the receipt,
printed and digital, lists no "Bar 0,00" (the TSE processData leaves it out too), while
the rounding that settled the rest stays."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Running, running_daemon
from tests.integration.api.test_cash_step_payments import chf_sale, chf_shop
from tests.integration.api.test_devices_api import printed, wait_for
from tests.integration.api.test_digital_receipts import digital_config, get, port_of, printed_url
from tests.integration.api.test_sale_part2 import CARD, CASH, pay, post

BAR = re.compile(r"^\s*Bar\s+(\S+)\s*$", re.M)


@pytest.fixture
def digital(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", digital_config()) as r:
        yield r


def receipt_of(running: Running, receipt_number: int) -> str:
    wait_for(lambda: f"Beleg-Nr. {receipt_number}" in printed(running), 10)
    wait_for(lambda: "TSE-Signatur" in printed(running).split(f"Beleg-Nr. {receipt_number}")[1])
    paper = printed(running)
    return paper[paper.index(f"Beleg-Nr. {receipt_number}") :]


def test_a_chf_total_of_two_rappen_prints_no_cash_payment_of_nothing(digital: Running) -> None:
    with digital.client() as pos:
        chf_shop(pos)
        sid = chf_sale(pos, "PIN")
        pay(pos, sid, CASH)  # 0.00: the 0.02 rest rounds to nothing in cash
        done = post(pos, sid)
    receipt = receipt_of(digital, done.receipt_number)
    assert "Rundung" in receipt and "-0,02" in receipt  # the rounding stays
    assert BAR.findall(receipt) == []  # no "Bar 0,00"
    # the digital receipt's text is the same receipt
    url = printed_url(digital, done.receipt_number)
    status, _, body = get(port_of(digital), urlsplit(url).path)
    assert status == 200
    text = body.decode("utf-8")
    assert "Rundung" in text and "-0,02" in text
    assert BAR.findall(text) == []


def test_the_last_rappen_after_a_card_prints_the_card_and_no_cash_of_nothing(
    running: Running,
) -> None:
    with running.client() as pos:
        chf_shop(pos)
        sid = chf_sale(pos, "COFFEE")  # 8.55 CHF
        pay(pos, sid, CARD, 854, currency="CHF", authorization_code="A1")
        pay(pos, sid, CASH)  # 0.00: the last rappen rounds to nothing in cash
        done = post(pos, sid)
    receipt = receipt_of(running, done.receipt_number)
    assert "Karte" in receipt and "8,54" in receipt
    assert "Rundung" in receipt and "-0,01" in receipt
    assert BAR.findall(receipt) == []
