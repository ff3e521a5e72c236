"""The printed receipt carries what KassenSichV § 6 and the AEAO zu § 146a require, on
the real daemon (software TSE or the fake fiskaly TSE) and the simulated printer:

- a signed receipt names the TSE's time format next to its times (fiscal-de.md,
  "Receipt QR code": the time format is one of the fields; the printed text must match
  the QR code it stands in for);
- a receipt made during a TSE outage still shows the start and the end of the Vorgang,
  from the till's clock in the register's time zone (KassenSichV § 6 Nr. 2; AEAO zu
  § 146a Nr. 7: "date and time then come from the till"), and the register's client id
  (§ 6 Nr. 6: the serial number of the recording system)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Running, running_daemon, start_in_thread
from tests.integration.fiscal.test_fiscal_api import (
    CASH,
    independently_verify_qr,
    printed,
    seed,
    sell,
    wait_for,
)
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly

BERLIN = {"register": {"timezone": "Europe/Berlin"}}


def receipt_text(running: Running, number: int, marker: str) -> str:
    wait_for(lambda: f"Beleg-Nr. {number} " in printed(running))
    wait_for(lambda: marker in printed(running).split(f"Beleg-Nr. {number} ")[1])
    paper = printed(running)
    start = paper.index(f"Beleg-Nr. {number} ")
    return paper[start : paper.index("== cut ==", start)]


@pytest.fixture
def berlin(tmp_path: Path) -> Iterator[Running]:
    with running_daemon(tmp_path / "state", BERLIN) as r:
        yield r


def test_a_signed_receipt_prints_the_time_format_of_its_tse_times(berlin: Running) -> None:
    with berlin.client() as pos:
        seed(pos)
        pos.ensure_shift()
        sale = sell(pos)
    text = receipt_text(berlin, sale.receipt_number, "[QR ")
    printed_qr = text[text.index("[QR ") + 4 : text.index("]", text.index("[QR "))]
    # the printed QR code is the signed data: the one the API reports, and it verifies
    assert printed_qr == sale.tse.qr_code and independently_verify_qr(printed_qr)
    qr = printed_qr.split(";")
    assert f"TSE-Zeitformat: {qr[9]}" in text  # "unixTime" from the TSE
    assert f"TSE-Algorithmus: {qr[8]}" in text
    # the printed TSE times are the QR code's (UTC, marked "Z")
    assert f"TSE-Start: {qr[6]}" in text and f"TSE-Ende: {qr[7]}" in text


@pytest.fixture
def berlin_fiskaly(tmp_path: Path) -> Iterator[tuple[Running, FakeFiskaly]]:
    with FakeFiskaly() as fake:
        r = start_in_thread(
            tmp_path / "state",
            fiskaly_config(fake, **BERLIN),
        )
        try:
            yield r, fake
        finally:
            r.stop()


def test_an_outage_receipt_shows_start_and_end_from_the_till_in_local_time(
    berlin_fiskaly: tuple[Running, FakeFiskaly],
) -> None:
    running, fake = berlin_fiskaly
    with running.client() as pos:
        seed(pos)
        pos.ensure_shift()
        fake.fail_all(status=503)
        sale = sell(pos, CASH)
        assert sale.tse.state == "OUTAGE"
    text = receipt_text(running, sale.receipt_number, "Ausfallnummer")
    marking = "Technische Sicherheitseinrichtung ausgefallen. Ausfallnummer: 1"
    assert marking in " ".join(text.split())  # word-wrapped on the paper
    header = re.search(r"Beleg-Nr\. \d+ +(\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d)", text)
    assert header is not None
    begin = re.search(r"Vorgangsbeginn: (\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d)", text)
    end = re.search(r"Vorgangsende: (\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d)", text)
    assert begin is not None and end is not None, text
    # the end is the posting moment the header shows (register time zone, not UTC)
    assert end.group(1) == header.group(1)
    assert begin.group(1) <= end.group(1)
    assert "Kassen-ID: " in text
