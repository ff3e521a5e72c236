"""A sale parked at K1 and resumed at K3 by its slip is handed over: K1's TSE transaction
finishes as AVTransfer (fiscal-de.md, processData). That signed transaction is a Vorgang
of K1 (schema 17): its Z counts it like an aborted sale, never as turnover, and K1's
DSFinV-K export lists it with BON_TYP AVTransfer, its lines, its amounts per VAT key
(transactions_vat.csv), no payments and its TSE row (transactions_tse.csv lists every TSE
transaction of the register)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from posd.client import PosdClient, new_request_id
from posd.v1 import common_pb2, sale_pb2, shop_pb2

from tests.conftest import Running, start_in_thread
from tests.integration.day.test_full_day import cents, read_export
from tests.support.fullsale import import_items, item

SECRET = "store-secret-4711"
REGISTERS = {"K1": 1, "K3": 3}


def call(pos: PosdClient, rpc: str, **fields: Any) -> Any:
    request_type = getattr(sale_pb2, f"{rpc}Request")
    if "request_id" in request_type.DESCRIPTOR.fields_by_name:
        fields["request_id"] = new_request_id()
    return pos.call(getattr(pos.sales, rpc), request_type(**fields))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[dict[str, Running]]:
    dirs = {reg: tmp_path / reg for reg in REGISTERS}
    started: dict[str, Running] = {}
    try:
        for reg, state in dirs.items():
            peers = {o: f"unix:{d / 'posd.sock'}" for o, d in dirs.items() if o != reg}
            started[reg] = start_in_thread(
                state, {"register": {"id": reg}, "store": {"peers": peers, "secret": SECRET}}
            )
        for running in started.values():
            with running.client() as pos:
                for reg, number in REGISTERS.items():
                    r = shop_pb2.Register(register_id=reg, shop_id="SHOP-1", register_number=number)
                    req = shop_pb2.UpsertRegisterRequest(request_id=new_request_id(), register=r)
                    pos.call(pos.shops.UpsertRegister, req)
                import_items(pos, item("LAMP", "Lampe", 3990))
        yield started
    finally:
        for running in started.values():
            running.stop()


def test_a_handed_over_sale_is_an_avtransfer_vorgang_of_the_giving_register(
    store: dict[str, Running],
) -> None:
    with store["K1"].client() as k1:
        posted = k1.create_sale()  # a Beleg before the hand-over: BON_ID 1
        k1.add_line(posted.sale_id, item_id="LAMP")
        k1.add_payment(posted.sale_id, common_pb2.PAYMENT_METHOD_CASH, 3990)
        k1.post_sale(posted.sale_id)
        sid = k1.create_sale().sale_id
        k1.add_line(sid, item_id="LAMP", quantity="2")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        call(k3, "ResumeSale", code=code)
    with sqlite3.connect(store["K1"].config.database_path) as c:
        tanr, state, pdata = c.execute(
            "SELECT transaction_number, state, process_data FROM sale_tse WHERE sale_id = ?",
            (sid,),
        ).fetchone()
        (vorgang,) = c.execute(
            "SELECT bon_id, kind FROM register_transactions WHERE sale_id = ?", (sid,)
        ).fetchall()
    assert state == "TRANSFERRED" and pdata == "AVTransfer^79.80_0.00_0.00_0.00_0.00^"
    assert vorgang == (2, "ABORT")
    with store["K1"].client(open_shift=False) as k1:
        k1.close_shift(PosdClient.cash_counts(total=3990))
        z = k1.z_closing()
        t, _ = read_export(k1.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    # the Z: counted like an aborted sale, the turnover is the one receipt
    assert (z.report.first_bon_id, z.report.last_bon_id, z.report.aborted) == (1, 2, 1)
    turnover = sum(
        cents(r["Z_UMS_BRUTTO"]) for r in t["businesscases.csv"]
        if r["GV_TYP"] == "Umsatz"
    )  # fmt: skip
    assert turnover == 3990
    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    transfer = heads["2"]
    assert (transfer["BON_TYP"], transfer["BON_NR"], transfer["UMS_BRUTTO"]) == (
        "AVTransfer", "2", "79,80"
    )  # fmt: skip
    assert transfer["BON_NOTIZ"] == "übergeben an Kasse K3"
    tse = {r["BON_ID"]: r for r in t["transactions_tse.csv"]}
    assert tse["2"]["TSE_TANR"] == str(tanr)
    assert tse["2"]["TSE_TA_VORGANGSART"] == "Kassenbeleg-V1"
    assert tse["2"]["TSE_VORGANGSDATEN"] == pdata
    assert tse["2"]["TSE_TA_SIG"] and tse["2"]["TSE_TA_FEHLER"] == ""
    # its lines for the record and its amounts per VAT key (Bonkopf_USt, as its lines
    # add up and its processData signs them), no payments
    (line,) = [r for r in t["lines.csv"] if r["BON_ID"] == "2"]
    assert (line["ART_NR"], line["MENGE"]) == ("LAMP", "2,000")
    assert [r["BON_ID"] for r in t["datapayment.csv"]] == ["1"]
    assert {r["BON_ID"] for r in t["transactions_vat.csv"]} == {"1", "2"}
