"""DSFinV-K Stamm_TSE (tse.csv) of a Z closed while the TSE is out.

Every Vorgang of such a Z is an outage Vorgang: its TSE row names the TSE serial (the
marking of the outage) but holds no signature, so no public key, signature algorithm
or time format. tse.csv took those from the Z's own Vorgänge only and wrote the TSE's
row with TSE_SIG_ALGO, TSE_ZEITFORMAT and TSE_PUBLIC_KEY empty, columns DSFinV-K
(Anhang G) marks mandatory, although the register's earlier Vorgänge of the same TSE
hold them. Through the API on a real SQLite file with a fake fiskaly cloud TSE.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.conftest import start_in_thread
from tests.integration.day.test_full_day import read_export
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.fake_fiskaly import FakeFiskaly

CASH = common_pb2.PAYMENT_METHOD_CASH


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def _sell(pos: PosdClient) -> None:
    sale = pos.create_sale()
    pos.add_line(sale.sale_id, item_id="A")
    pos.add_payment(sale.sale_id, CASH, 899)
    pos.post_sale(sale.sale_id)


def test_a_z_closed_in_an_outage_names_its_tse_in_full(tmp_path: Path, fake: FakeFiskaly) -> None:
    running = start_in_thread(tmp_path / "state", fiskaly_config(fake))
    try:
        with running.client(open_shift=False) as pos:
            pos.upsert_item("A", "Kaffee", 899)
            pos.open_shift(PosdClient.cash_counts(total=10000))
            _sell(pos)
            pos.close_shift(PosdClient.cash_counts(total=10899))
            z1 = pos.z_closing()
            pos.open_shift(PosdClient.cash_counts(total=10899))
            fake.fail_all(status=503)
            _sell(pos)  # the TSE fails: an outage Vorgang
            pos.close_shift(PosdClient.cash_counts(total=11798))
            z2 = pos.z_closing()
            first, _ = read_export(pos.export_dsfinvk(z_from=z1.z_nr, z_to=z1.z_nr))
            second, _ = read_export(pos.export_dsfinvk(z_from=z2.z_nr, z_to=z2.z_nr))
    finally:
        running.stop()
    (signed,) = first["tse.csv"]
    assert signed["TSE_PUBLIC_KEY"] and signed["TSE_SIG_ALGO"] and signed["TSE_ZEITFORMAT"]
    (tse,) = second["transactions_tse.csv"]
    assert tse["TSE_TA_FEHLER"].startswith("TSE-Ausfall Nr. 1:")
    (out,) = second["tse.csv"]
    assert out["TSE_ID"] == tse["TSE_ID"]
    assert out["TSE_SERIAL"] == signed["TSE_SERIAL"]
    for column in ("TSE_SIG_ALGO", "TSE_ZEITFORMAT", "TSE_PUBLIC_KEY", "TSE_PD_ENCODING"):
        assert out[column] == signed[column], column
