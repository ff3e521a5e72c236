"""A shared drawer's opening difference during a TSE outage, and in the DSFinV-K export.

The DifferenzSollIst booked when a shift opens with a float short of the last count is a
Vorgang like a close's: in a TSE outage it is recorded with the outage number (AEAO zu
§146a Nr. 7), and the export of its Z lists it as a business case whose amount is the
Z's cash difference (the period's DifferenzSollIst Vorgänge)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import fiscal_pb2

from tests.conftest import start_in_thread
from tests.integration.day.test_full_day import cents, read_export
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def test_an_opening_difference_in_an_outage_names_it_and_is_the_zs_difference(
    tmp_path: Path, fake: FakeFiskaly
) -> None:
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake, drawer={"shared": True}))
    try:
        with running.client(open_shift=False) as pos:
            first = pos.open_shift(PosdClient.cash_counts(total=15000))
            pos.close_shift(PosdClient.cash_counts(total=14800), shift_id=first.shift_id)
            fake.fail_all(status=503)
            # 3.00 gone between the shifts: booked in the outage the TSE's failure opens
            second = pos.open_shift(PosdClient.cash_counts(total=14500))
            with sqlite3.connect(running.config.database_path) as c:
                rows = c.execute(
                    "SELECT amount, shift_id, tse_state, outage_number FROM cash_movements"
                    " WHERE kind = 'DIFFERENCE' ORDER BY number"
                ).fetchall()
            assert rows == [(-200, first.shift_id, "SIGNED", None),
                            (-300, second.shift_id, "OUTAGE", 1)]  # fmt: skip
            fake.clear_faults()
            assert pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest()).recovered
            fake.wait_idle()
            # the float holds the loss: the shift expects its float
            expected = pos.get_shift().expected_cash
            assert [(m.currency_code, m.amount_minor) for m in expected] == [("EUR", 14500)]
            pos.close_shift(PosdClient.cash_counts(total=14500), shift_id=second.shift_id)
            z = pos.z_closing()
            t, _ = read_export(pos.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    finally:
        running.stop()
    (eur,) = [b for b in z.report.cash_balances if b.currency_code == "EUR"]
    assert (eur.opening.amount_minor, eur.counted.amount_minor) == (15000, 14500)
    assert eur.difference.amount_minor == -500
    cases = [r for r in t["businesscases.csv"] if r["GV_TYP"] == "DifferenzSollIst"]
    assert sum(cents(r["Z_UMS_BRUTTO"]) for r in cases) == -500
    assert {r["UST_SCHLUESSEL"] for r in cases} == {"5"}
    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    errors = {r["BON_ID"]: r["TSE_TA_FEHLER"] for r in t["transactions_tse.csv"]}
    outage_bons = [b for b, e in errors.items() if e.startswith("TSE-Ausfall Nr. 1")]
    assert len(outage_bons) == 1
    assert cents(heads[outage_bons[0]]["UMS_BRUTTO"]) == -300
