"""What the TSE and the DSFinV-K export end up with for sales whose TSE transaction was
started before an outage and ended during it: cancelled, handed over to another register,
or posted. Recovery (or the next start) finishes each open transaction as the sale ended
(fiscal-de.md, TSE outage: recovery "finishes what can be finished"), and the export marks
each such Vorgang with its outage (TSE_TA_FEHLER)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient, new_request_id
from posd.v1 import fiscal_pb2, sale_pb2, shop_pb2

from tests.conftest import start_in_thread
from tests.integration.fiscal.test_fiscal_api import CASH, seed, wait_for
from tests.support.fake_fiskaly import FakeFiskaly, render_process


def fiskaly_config(fake: FakeFiskaly, *, timeout_ms: int = 400, **extra: Any) -> dict[str, Any]:
    return {
        "tse": {
            "backend": "fiskaly",
            "fiskaly_url": fake.base_url,
            "fiskaly_api_key": fake.api_key,
            "fiskaly_api_secret": fake.api_secret,
            "fiskaly_tss_id": fake.tss_id,
            "timeout_ms": timeout_ms,
            "probe_seconds": 3600,
        },
        **extra,
    }


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def started_sale(pos: PosdClient, fake: FakeFiskaly) -> tuple[str, int]:
    """A sale with a line whose TSE transaction the fake has started: (sale id, tx number)."""
    active = {t.number for t in fake.transactions.values() if t.state == "ACTIVE"}
    sid = pos.create_sale().sale_id
    pos.add_line(sid, item_id="1002")
    wait_for(lambda: len({t.number for t in fake.transactions.values()} - active) >= 1)
    wait_for(lambda: any(t.state == "ACTIVE" for t in fake.transactions.values()))
    fake.wait_idle()
    number = max(t.number for t in fake.transactions.values() if t.state == "ACTIVE")
    return sid, number


def finished_as(fake: FakeFiskaly, number: int) -> tuple[str, str]:
    """The fake TSE's state of the transaction and the processData it was ended with."""
    tx = fake.transaction_by_number(number)
    schema = tx.revisions[-1][0].get("schema") if tx.state != "ACTIVE" else None
    return tx.state, render_process(schema)[1].decode("utf-8") if schema else ""


def recover(pos: PosdClient) -> None:
    assert pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest()).recovered


def z_export(pos: PosdClient) -> dict[str, list[dict[str, str]]]:
    pos.close_shift(PosdClient.cash_counts(total=0))
    z = pos.z_closing()
    data = pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr)
    zf = zipfile.ZipFile(io.BytesIO(data))
    return {
        n: list(csv.DictReader(io.StringIO(zf.read(n).decode("utf-8"), newline=""), delimiter=";"))
        for n in zf.namelist()
        if n.endswith(".csv")
    }


def tse_rows(tables: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, str]]:
    """transactions_tse.csv by TSE_TANR."""
    return {t["TSE_TANR"]: t for t in tables["transactions_tse.csv"]}


def test_a_sale_cancelled_during_an_outage_is_aborted_at_the_tse_on_recovery(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            sid, number = started_sale(pos, fake)
            fake.fail_all(status=503)
            cancelled = pos.cancel_sale(sid, "Kunde weg")
            assert (cancelled.tse.state, cancelled.tse.outage_number) == ("CANCELLED", 1)
            assert fake.transaction_by_number(number).state == "ACTIVE"
            fake.clear_faults()
            recover(pos)
            fake.wait_idle()
            # the TSE no longer holds it open: it ended as the sale did
            state, data = finished_as(fake, number)
            assert (state, data) == ("CANCELLED", "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^")
            tse = pos.get_sale(sid).tse
            assert (tse.state, tse.transaction_number, tse.outage_number) == (
                "CANCELLED", number, 1
            )  # fmt: skip
            assert tse.signature and tse.process_data.startswith("AVBelegabbruch^")
            # the export shows the abort signed and the outage it happened in
            row = tse_rows(z_export(pos))[str(number)]
            assert row["TSE_TA_SIG"] and row["TSE_TA_ENDE"]
            assert row["TSE_TA_FEHLER"].startswith("TSE-Ausfall Nr. 1:")
    finally:
        running.stop()


def test_a_cancellation_left_open_by_an_outage_is_finished_at_the_next_start(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """The daemon stops before the TSE comes back: start-up reconciliation finishes it."""
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            sid, number = started_sale(pos, fake)
            fake.fail_all(status=503)
            assert pos.cancel_sale(sid, "weg").tse.outage_number == 1
    finally:
        running.stop()
    fake.clear_faults()
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        fake.wait_idle()
        assert finished_as(fake, number)[0] == "CANCELLED"
        with running.client() as pos:
            tse = pos.get_sale(sid).tse
            assert tse.state == "CANCELLED" and tse.signature and tse.outage_number == 1
    finally:
        running.stop()


def test_a_receipt_posted_during_an_outage_is_finished_as_sold_on_recovery(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """Its transaction was started before the outage: recovery finishes it with the
    receipt's own processData, so the TSE log and the register agree that it was sold;
    the receipt keeps its outage number and is signed late."""
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            sid, number = started_sale(pos, fake)
            fake.fail_all(status=503)
            pos.add_payment(sid, CASH, 1000)
            posted = pos.post_sale(sid)
            assert (posted.tse.state, posted.tse.transaction_number) == ("OUTAGE", number)
            receipt = posted.tse.process_data
            assert receipt == "Beleg^8.99_0.00_0.00_0.00_0.00^8.99:Bar"
            fake.clear_faults()
            recover(pos)
            fake.wait_idle()
            assert finished_as(fake, number) == ("FINISHED", receipt)
            tse = pos.get_sale(sid).tse
            assert (tse.state, tse.outage_number, tse.process_data) == (
                "SIGNED_LATE", 1, receipt
            )  # fmt: skip
            assert tse.signature
            row = tse_rows(z_export(pos))[str(number)]
            assert row["TSE_VORGANGSDATEN"] == receipt and row["TSE_TA_SIG"]
            assert row["TSE_TA_FEHLER"] == "TSE-Ausfall Nr. 1: nach Wiederherstellung nachsigniert"
    finally:
        running.stop()


def test_a_sale_handed_over_during_an_outage_is_finished_as_avtransfer_on_recovery(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    secret = "store-secret-4711"
    dirs = {"K1": tmp_path / "K1", "K2": tmp_path / "K2"}
    peers = {r: {o: f"unix:{d / 'posd.sock'}" for o, d in dirs.items() if o != r} for r in dirs}
    k1 = start_in_thread(
        dirs["K1"],
        fiskaly_config(fake, register={"id": "K1"}, store={"peers": peers["K1"], "secret": secret}),
    )
    k2 = start_in_thread(
        dirs["K2"], {"register": {"id": "K2"}, "store": {"peers": peers["K2"], "secret": secret}}
    )
    try:
        for running in (k1, k2):
            with running.client() as pos:
                seed(pos)
                for reg, number in (("K1", 1), ("K2", 2)):
                    r = shop_pb2.Register(register_id=reg, shop_id="SHOP-1", register_number=number)
                    req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
                    pos.call(pos.shops.UpsertRegister, req)
        with k1.client() as pos:
            sid, number = started_sale(pos, fake)
            req = sale_pb2.ParkSaleRequest(request_id=new_request_id(), sale_id=sid)
            code = pos.call(pos.sales.ParkSale, req).sale.parking_code
            fake.fail_all(status=503)
        with k2.client() as pos:
            req2 = sale_pb2.ResumeSaleRequest(request_id=new_request_id(), code=code)
            assert pos.call(pos.sales.ResumeSale, req2).sale.register_id == "K2"
        with sqlite3.connect(k1.config.database_path) as conn:
            row = conn.execute(
                "SELECT state, outage_number, signature FROM sale_tse WHERE sale_id = ?", (sid,)
            ).fetchone()
        assert row == ("TRANSFERRED", 1, "")
        fake.clear_faults()
        with k1.client() as pos:
            recover(pos)
        fake.wait_idle()
        state, data = finished_as(fake, number)
        assert (state, data) == ("FINISHED", "AVTransfer^8.99_0.00_0.00_0.00_0.00^")
        with sqlite3.connect(k1.config.database_path) as conn:
            row = conn.execute(
                "SELECT state, outage_number, process_data, signature != '' FROM sale_tse"
                " WHERE sale_id = ?",
                (sid,),
            ).fetchone()
        assert row == ("TRANSFERRED", 1, data, 1)
    finally:
        k1.stop()
        k2.stop()


def test_a_cancellation_closed_in_a_z_during_the_outage(tmp_path: Path, fake: FakeFiskaly) -> None:
    """The Z closes the period while the TSE is still out: the export shows the outage in
    TSE_TA_FEHLER (not an empty field); recovery then still ends the transaction at the
    TSE, and since the closed period is frozen, its signature goes to the journal."""
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            sid, number = started_sale(pos, fake)
            fake.fail_all(status=503)
            pos.cancel_sale(sid, "weg")
            row = tse_rows(z_export(pos))[str(number)]
            assert row["TSE_TA_FEHLER"] == (
                "TSE-Ausfall Nr. 1: Vorgang ohne TSE-Signatur aufgezeichnet"
            )
            assert not row["TSE_TA_SIG"]
            fake.clear_faults()
            recover(pos)
            fake.wait_idle()
            assert finished_as(fake, number)[0] == "CANCELLED"
            assert pos.verify_journal().ok
        with sqlite3.connect(running.config.database_path) as conn:
            (payload,) = conn.execute(
                "SELECT payload FROM journal WHERE kind = 'TSE_FINISHED_AFTER_CLOSING'"
            ).fetchone()
            frozen = conn.execute(
                "SELECT state, signature FROM sale_tse WHERE sale_id = ?", (sid,)
            ).fetchone()
        done = json.loads(payload)
        assert (done["sale_id"], done["transaction_number"]) == (sid, number)
        assert done["signature"] and done["process_data"].startswith("AVBelegabbruch^")
        assert frozen == ("CANCELLED", "")
    finally:
        running.stop()


def test_an_outage_begun_before_the_tse_ever_answered_names_it_once_it_does(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    """Unreachable at start: the outage cannot name the TSE yet (its manufacturer and
    serial come from the TSE). Once it answers, the outage log and CSV name it."""
    fake.fail_all()
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client() as pos:
            seed(pos)
            sid = pos.create_sale().sale_id
            total = pos.add_line(sid, item_id="1002").sale.total.amount_minor
            pos.add_payment(sid, CASH, total)
            assert pos.post_sale(sid).tse.state == "OUTAGE"
            fake.clear_faults()
            assert pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest()).recovered
            csv = pos.call(pos.fiscal.ExportOutages, fiscal_pb2.ExportOutagesRequest()).csv
            info = pos.call(pos.fiscal.GetTseInfo, fiscal_pb2.GetTseInfoRequest())
    finally:
        running.stop()
    rows = csv.decode("utf-8").splitlines()[1:]
    assert rows, csv
    for row in rows:
        manufacturer, serial = row.split(";")[:2]
        assert (manufacturer, serial) == (info.manufacturer, info.serial_number), row
