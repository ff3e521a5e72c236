"""DSFinV-K: the TSE_ID of a sale cancelled in a TSE outage before its TSE transaction
could start (no TSE row at all).

Its transactions_tse.csv row got an empty TSE_ID: it is an outage Vorgang (the TSE was
configured and failed), but its TSE was looked up as the TSE of unknown serial, whose
tse.csv row only exists when another Vorgang of the Z names it. TSE_ID "wird zur
Referenzierung innerhalb eines Kassenabschlusses verwendet" (DSFinV-K 2.x, 3.2.6): every
Vorgang's TSE_ID must name a Stamm_TSE row of its Z.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2, fiscal_pb2

from tests.conftest import start_in_thread
from tests.integration.day.test_full_day import read_export
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly

CASH = common_pb2.PAYMENT_METHOD_CASH


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def test_a_sale_cancelled_in_an_outage_without_tse_row_names_a_tse_of_its_z(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client(open_shift=False) as pos:
            pos.upsert_item("A", "Kaffee", 899)
            pos.open_shift(PosdClient.cash_counts(total=10000))
            fake.fail_all(status=503)
            posted = pos.create_sale()  # the TSE fails: the outage opens
            pos.add_line(posted.sale_id, item_id="A")
            pos.add_payment(posted.sale_id, CASH, 1000)
            receipt = pos.post_sale(posted.sale_id)
            assert (receipt.tse.state, receipt.tse.outage_number) == ("OUTAGE", 1)
            aborted = pos.create_sale()  # started in the outage: no TSE transaction
            pos.add_line(aborted.sale_id, item_id="A")
            pos.cancel_sale(aborted.sale_id, "Kunde weg")
            fake.clear_faults()
            assert pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest()).recovered
            fake.wait_idle()
            with sqlite3.connect(running.config.database_path) as c:
                rows = c.execute(
                    "SELECT COUNT(*) FROM sale_tse WHERE sale_id = ?", (aborted.sale_id,)
                ).fetchone()
                (outage_serial,) = c.execute(
                    "SELECT tse_serial FROM tse_outages WHERE outage_number = 1"
                ).fetchone()
            assert rows == (0,)  # the case: no TSE row at all
            pos.close_shift(PosdClient.cash_counts(total=10899))
            z = pos.z_closing()
            t, _ = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    finally:
        running.stop()
    kinds = {r["BON_ID"]: r["BON_TYP"] for r in t["transactions.csv"]}
    tse_ids = {r["BON_ID"]: r["TSE_ID"] for r in t["transactions_tse.csv"]}
    tses = {r["TSE_ID"]: r["TSE_SERIAL"] for r in t["tse.csv"]}
    abort_bon = next(b for b, k in kinds.items() if k == "AVBelegabbruch")
    beleg_bon = next(b for b, k in kinds.items() if k == "Beleg")
    assert tse_ids[abort_bon] in tses, (tse_ids, tses)
    assert set(tse_ids.values()) <= set(tses)
    # the TSE that was out, as the outage recorded it: the one the posted sale names
    assert tses[tse_ids[abort_bon]] == tses[tse_ids[beleg_bon]] == outage_serial
