"""Fiscal signing through the running server: receipts, QR codes, cancellation, export,
outages (begin, during, recovery) with both backends."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sqlite3
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from posd.client import PosdClient
from posd.v1 import closing_pb2, common_pb2, fiscal_pb2, sale_pb2

from posd_daemon.fiscal.verify_export import verify_export
from tests.conftest import Running, start_in_thread
from tests.support.fake_fiskaly import FakeFiskaly

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


# -- an independent verifier of the receipt QR code ---------------------------------------
# Rebuilds the signed part of the FinishTransaction log message from the QR fields
# (BSI TR-03151 field order and tags, fiscal-de.md) with a tiny DER writer of its own,
# and checks the plain r||s signature with `cryptography` against the QR's public key.


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def _int(v: int) -> bytes:
    raw = v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True)
    return _tlv(0x02, raw)


def _oid(text: str) -> bytes:
    arcs = [int(a) for a in text.split(".")]
    out = bytearray()
    for first in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        value = first
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def independently_verify_qr(qr: str) -> bool:
    f = qr.split(";")
    assert f[0] == "V0"
    client, ptype, pdata, txnr, sigctr = f[1], f[2], f[3], int(f[4]), int(f[5])
    log_time = datetime.strptime(f[7], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=None)
    unix = int((log_time - datetime(1970, 1, 1)).total_seconds())
    alg, sig, pub = f[8], base64.b64decode(f[10]), base64.b64decode(f[11])
    assert alg == "ecdsa-plain-SHA256" and f[9] == "unixTime"
    serial = hashlib.sha256(pub).digest()
    signed = b"".join(
        [
            _int(2),
            _oid("0.4.0.127.0.7.3.7.1.1"),
            _tlv(0x80, b"FinishTransaction"),
            _tlv(0x81, client.encode()),
            _tlv(0x82, pdata.encode()),
            _tlv(0x83, ptype.encode()),
            _tlv(0x85, txnr.to_bytes(txnr.bit_length() // 8 + 1, "big")),
            _tlv(0x04, serial),
            _tlv(0x30, _oid("0.4.0.127.0.7.1.1.4.1.3")),
            _int(sigctr),
            _int(unix),
        ]
    )
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    half = len(sig) // 2
    der = encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big"))
    try:
        key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


# -- helpers ----------------------------------------------------------------------------------


def sell(pos: PosdClient, method: int = CASH, amount: int = 2000, qty: str = "1") -> sale_pb2.Sale:
    s = pos.create_sale()
    pos.add_line(s.sale_id, item_id="1002", quantity=qty)
    pos.add_line(s.sale_id, item_id="1001")
    total = pos.get_sale(s.sale_id).total.amount_minor
    pos.add_payment(s.sale_id, method, amount if method == CASH else total)
    return pos.post_sale(s.sale_id)


def seed(pos: PosdClient) -> None:
    pos.upsert_item("1001", "Brot", 349, vat_category=2)
    pos.upsert_item("1002", "Kaffee", 899)


def printed(running: Running) -> str:
    out = running.config.state_dir / "printer.txt"
    return out.read_text("utf-8") if out.exists() else ""


def wait_for(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def export(pos: PosdClient) -> bytes:
    chunks = pos.fiscal.ExportTse(fiscal_pb2.ExportTseRequest(), metadata=pos._metadata())
    return b"".join(c.chunk for c in chunks)


# -- software TSE -------------------------------------------------------------------------------


def test_signed_receipt_qr_verifies_independently(running: Running, pos: PosdClient) -> None:
    seed(pos)
    posted = sell(pos, CASH, 2000)
    tse = posted.tse
    assert tse.state == "SIGNED"
    assert tse.process_type == "Kassenbeleg-V1"
    # 8.99 at 19 % and 3.49 at 7 %, paid 12.48 in cash (the change is not a payment)
    assert tse.process_data == "Beleg^8.99_3.49_0.00_0.00_0.00^12.48:Bar"
    assert tse.transaction_number >= 1
    assert independently_verify_qr(tse.qr_code)
    tampered = tse.qr_code.replace("Beleg^8.99", "Beleg^1.99")
    assert not independently_verify_qr(tampered)
    info = pos.call(pos.fiscal.GetTseInfo, fiscal_pb2.GetTseInfoRequest())
    assert info.certified is False
    assert "NOT CERTIFIED" in info.model
    assert info.serial_number == tse.tse_serial
    assert hashlib.sha256(base64.b64decode(info.public_key)).hexdigest() == info.serial_number
    wait_for(lambda: "TSE-Signatur" in printed(running))
    text = printed(running)
    assert "NICHT ZERTIFIZIERT" in text
    assert f"TSE-Transaktion: {tse.transaction_number}" in text
    assert "[QR V0;REG-1;Kassenbeleg-V1;Beleg^8.99_3.49" in text


def test_public_reference_vector_verifies() -> None:
    # fiskaly SIGN DE documentation example (fiscal-de.md): brainpoolP256r1, DER signature.
    from posd_daemon.fiscal.qr import verify_qr

    vector = (
        "V0;955002-00;Kassenbeleg-V1;Beleg^0.00_2.55_0.00_0.00_0.00^2.55:Bar;18;112;"
        "2019-07-10T18:41:04.000Z;2019-07-10T18:41:04.000Z;ecdsa-plain-SHA256;unixTime;"
        "MEQCIAy4P9k+7x9saDO0uRZ4El8QwN+qTgYiv1DIaJIMWRiuAiAt+saFDGjK2Yi5Cxgy7PprXQ5O0seRgx4"
        "ltdpW9REvwA==;BHhWOeisRpPBTGQ1W4VUH95TXx2GARf8e2NYZXJoInjtGqnxJ8sZ3CQpYgjI+LYEmW5A"
        "37sLWHsyU7nSJUBemyU="
    )
    assert verify_qr(vector).valid
    assert not verify_qr(vector.replace(";112;", ";113;")).valid


def test_start_happens_at_first_line_and_cancel_is_belegabbruch(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    s = pos.create_sale()
    pos.add_line(s.sale_id, item_id="1002")
    wait_for(
        lambda: (
            running.daemon.gateway.tse is not None
            and bool(running.daemon.gateway.tse.open_transactions("REG-1"))
        )
    )
    cancelled = pos.cancel_sale(s.sale_id, "Kunde hat kein Geld")
    assert cancelled.tse.state == "CANCELLED"
    assert cancelled.tse.process_data == "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"
    tar = export(pos)
    report = verify_export(io.BytesIO(tar))
    assert report.ok, report.summary()
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        names = archive.getnames()
    assert any("_Finish_Client-REG-1.log" in n for n in names)


def test_export_through_the_api_verifies_and_tampering_is_found(
    running: Running, pos: PosdClient
) -> None:
    seed(pos)
    for _ in range(3):
        sell(pos)
    tar = export(pos)
    report = verify_export(io.BytesIO(tar))
    assert report.ok, report.summary()
    # flip one byte in the middle of the last log file
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tar)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        logs = [m for m in src.getmembers() if m.name.endswith(".log")]
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m is logs[-1]:
                data = data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
            dst.addfile(m, io.BytesIO(data))
    bad = verify_export(io.BytesIO(out.getvalue()))
    assert not bad.ok
    assert bad.first_problem is not None
    assert bad.first_problem.file == logs[-1].name


# -- fiskaly backend and outages ------------------------------------------------------------


@pytest.fixture
def fiskaly_register(tmp_path: Path) -> Iterator[tuple[Running, FakeFiskaly]]:
    with FakeFiskaly() as fake:
        r = start_in_thread(
            tmp_path / "state",
            {
                "tse": {
                    "backend": "fiskaly",
                    "fiskaly_url": fake.base_url,
                    "fiskaly_api_key": fake.api_key,
                    "fiskaly_api_secret": fake.api_secret,
                    "fiskaly_tss_id": fake.tss_id,
                    "timeout_ms": 400,
                    "probe_seconds": 3600,
                },
                "metrics": {"listen": "127.0.0.1:0"},
            },
        )
        try:
            yield r, fake
        finally:
            r.stop()


def test_fiskaly_backend_signs_receipts(fiskaly_register: tuple[Running, FakeFiskaly]) -> None:
    running, fake = fiskaly_register
    with running.client() as pos:
        seed(pos)
        posted = sell(pos, CARD)
        assert posted.tse.state == "SIGNED"
        assert posted.tse.process_data == "Beleg^8.99_3.49_0.00_0.00_0.00^12.48:Unbar"
        tx = fake.transaction_by_number(posted.tse.transaction_number)
        assert tx.state == "FINISHED"
        info = pos.call(pos.fiscal.GetTseInfo, fiscal_pb2.GetTseInfoRequest())
        assert info.backend == "fiskaly"
        assert info.manufacturer == "fiskaly"
        tar = export(pos)
        assert verify_export(io.BytesIO(tar)).ok


def test_outage_begin_during_and_recovery(fiskaly_register: tuple[Running, FakeFiskaly]) -> None:
    running, fake = fiskaly_register
    port = running.daemon.metrics.bound_port
    with running.client() as pos:
        seed(pos)
        ok = sell(pos)
        assert ok.tse.state == "SIGNED"
        fake.fail_all(status=503)
        t0 = time.perf_counter()
        first = sell(pos)  # the TSE fails: the sale still posts
        assert time.perf_counter() - t0 < 5
        assert first.tse.state == "OUTAGE"
        assert first.tse.outage_number == 1
        second = sell(pos, CARD)
        assert second.tse.state == "OUTAGE"
        assert second.tse.outage_number == 1
        assert [first.receipt_number, second.receipt_number] == [
            ok.receipt_number + 1,
            ok.receipt_number + 2,
        ]
        outages = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages
        assert len(outages) == 1
        o = outages[0]
        assert o.error_code.startswith("HTTP_503") or o.error_code in ("HTTP_503", "TIMEOUT")
        assert o.tse_manufacturer == "fiskaly"
        assert o.client_id == "REG-1"
        assert o.register_id == "REG-1"
        assert o.printer.startswith("simulated")
        assert list(o.receipt_numbers) == [first.receipt_number, second.receipt_number]
        assert not o.HasField("end_time")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        assert "posd_tse_outage_active 1.0" in metrics
        assert "posd_tse_outages_total 1.0" in metrics
        wait_for(lambda: "TSE-AUSFALL" in printed(running))
        # both receipts carry the marking (word-wrapped on the 42-column paper)
        wait_for(lambda: printed(running).count("ausgefallen. Ausfallnummer: 1") >= 2)
        # still failing: no recovery
        r = pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest())
        assert not r.recovered
        fake.clear_faults()
        r = pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest())
        assert r.recovered
        outages = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages
        assert outages[0].HasField("end_time")
        wait_for(lambda: "TSE wieder verfügbar" in printed(running))
        text = printed(running)
        assert f"Beleg-Nr. {first.receipt_number}  Ausfallnummer 1" in text
        assert f"Beleg-Nr. {second.receipt_number}  Ausfallnummer 1" in text
        after = sell(pos)
        assert after.tse.state == "SIGNED"
        csv = pos.call(pos.fiscal.ExportOutages, fiscal_pb2.ExportOutagesRequest()).csv.decode()
        lines = csv.split("\r\n")
        assert lines[0] == (
            "TSE-Hersteller;TSE-Seriennummer;Belegnummer;Ausfallzeit;Ausfallnummer;Fehlercode"
        )
        assert lines[1].startswith("fiskaly;")
        assert f";{first.receipt_number};" in lines[1]
        assert lines[1].split(";")[4] == "1"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        assert "posd_tse_outage_active 0.0" in metrics
        assert 'posd_tse_operation_duration_seconds_count{operation="finish"}' in metrics


def test_a_slow_tse_times_out_into_an_outage(
    fiskaly_register: tuple[Running, FakeFiskaly],
) -> None:
    running, fake = fiskaly_register
    with running.client() as pos:
        seed(pos)
        s = pos.create_sale()
        pos.add_line(s.sale_id, item_id="1002")
        pos.add_payment(s.sale_id, CASH, 1000)
        time.sleep(0.3)  # let the background start finish
        fake.delay_next(4, seconds=2.0, before=True)
        t0 = time.perf_counter()
        posted = pos.post_sale(s.sale_id)
        elapsed = time.perf_counter() - t0
        assert posted.tse.state == "OUTAGE"
        assert elapsed < 2.0  # the 400 ms timeout, not the TSE's 2 s
        outage = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages[0]
        assert outage.error_code == "TIMEOUT"


def test_a_cash_movement_whose_finish_answer_is_lost_names_that_transaction(
    fiskaly_register: tuple[Running, FakeFiskaly],
) -> None:
    """The TSE finishes a cash movement but its answer comes after the timeout: the
    movement is recorded in the outage that opens, naming the transaction the TSE
    finished (not a second one), and the recovery fetches that transaction's signature
    (the same data finished again), where the backend still gives it, into the journal.
    Every TSE transaction stays with exactly one record."""
    running, fake = fiskaly_register
    db = running.config.database_path
    with running.client() as pos:
        pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 5000, "Wechselgeld")
        # the finish (the transaction's 2nd revision) takes effect, its answer is late,
        # and so is the answer to the backend's one repeat within the timeout
        fake.delay_next(2, seconds=1.0, match="tx_revision=2")
        moved = pos.add_cash_movement(
            closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL, 1000, "Bank", request_id="mv-lost"
        )
        assert moved.tse.state == "OUTAGE"
        assert moved.tse.outage_number == 1
        number = moved.tse.transaction_number
        assert number > 0, "the outage record does not name the started transaction"
        tx = fake.transaction_by_number(number)
        assert tx.state == "FINISHED"
        assert (
            pos.add_cash_movement(
                closing_pb2.CASH_MOVEMENT_KIND_WITHDRAWAL, 1000, "Bank", request_id="mv-lost"
            )
            == moved
        )
        time.sleep(1.0)  # the late answer has come (the TSE's one thread is free)
        assert pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest()).recovered
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT payload FROM journal WHERE kind = 'TSE_EVENT_SIGNED_LATE'"
        ).fetchall()
        assert len(rows) == 1
        late = json.loads(rows[0][0])
        assert late["transaction_number"] == number
        assert late["process_data"] == moved.tse.process_data
        # the fiskaly backend forgets a transaction once it learnt it was closed (the
        # pending revision settled by open_transactions): no signature to fetch back,
        # the journal names the transaction without it (the TSE export has it)
        assert late["signature"] in ("", tx.revisions[-1][1]["signature"]["value"])
        assert conn.execute(
            "SELECT state FROM tse_pending_events ORDER BY event_id"
        ).fetchall() == [
            ("DONE",),
            ("DONE",),
        ]
        movements = conn.execute(
            "SELECT transaction_number FROM cash_movements ORDER BY number"
        ).fetchall()
    finally:
        conn.close()
    finished = [t.number for t in fake.transactions.values() if t.state == "FINISHED"]
    assert sorted(finished) == sorted(int(n) for (n,) in movements)
    assert all(t.state == "FINISHED" for t in fake.transactions.values())
