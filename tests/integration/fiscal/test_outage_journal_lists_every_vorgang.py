"""The outage journal names every Vorgang recorded during a TSE outage, not only sales:
a cash movement and a shift's booked cash difference recorded without the TSE appear on
the recovery receipt and in the outage CSV with their receipt number (the movement slip's
"K<n>"), the outage time, the outage number and the error code (fiscal-de.md, TSE outage:
JTL practice, the recovery receipt lists the affected receipts and the CSV export of the
outage log names each)."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import closing_pb2, fiscal_pb2

from tests.conftest import Running
from tests.integration.fiscal.test_fiscal_api import (
    CASH,
    fiskaly_register,  # noqa: F401  (the fixture)
    printed,
    seed,
    sell,
    wait_for,
)
from tests.support.e2e import db_query
from tests.support.fake_fiskaly import FakeFiskaly


def test_a_cash_movement_and_a_booked_difference_in_an_outage_are_on_the_recovery_receipt_and_csv(
    fiskaly_register: tuple[Running, FakeFiskaly],  # noqa: F811
) -> None:
    running, fake = fiskaly_register
    with running.client() as pos:
        seed(pos)
        pos.ensure_shift()
        assert sell(pos).tse.state == "SIGNED"
        fake.fail_all(status=503)
        sale = sell(pos, CASH)
        assert sale.tse.state == "OUTAGE"
        moved = pos.add_cash_movement(closing_pb2.CASH_MOVEMENT_KIND_DEPOSIT, 5000, "Wechselgeld")
        assert moved.tse.state == "OUTAGE"
        assert moved.tse.outage_number == 1
        # the drawer holds the sale's 12.48 and the 50.00 deposit; 1.00 more is counted:
        # the booked difference is a Vorgang of its own, recorded in the outage too
        expected = pos.get_shift().expected_cash
        counted = sum(b.amount_minor for b in expected) + 100
        pos.close_shift(PosdClient.cash_counts(total=counted))
        assert db_query(
            running.config.database_path,
            "SELECT number, tse_state, outage_number FROM cash_movements WHERE kind = 'DIFFERENCE'",
        ) == [(moved.number + 1, "OUTAGE", 1)]
        fake.clear_faults()
        assert pos.call(pos.fiscal.RecoverTse, fiscal_pb2.RecoverTseRequest()).recovered
        wait_for(lambda: "TSE wieder verfügbar" in printed(running))
        text = printed(running)
        recovery = text[text.rindex("TSE wieder verfügbar") :]
        assert f"Beleg-Nr. {sale.receipt_number}  Ausfallnummer 1" in recovery
        assert f"Beleg-Nr. K{moved.number}  Ausfallnummer 1" in recovery
        assert f"Beleg-Nr. K{moved.number + 1}  Ausfallnummer 1" in recovery, (
            "the booked cash difference is not listed"
        )
        assert "Betroffene Belege: 3" in recovery
        rows = [
            line.split(";")
            for line in pos.call(pos.fiscal.ExportOutages, fiscal_pb2.ExportOutagesRequest())
            .csv.decode()
            .split("\r\n")[1:]
            if line
        ]
        numbers = [r[2] for r in rows]
        assert numbers == [str(sale.receipt_number), f"K{moved.number}", f"K{moved.number + 1}"]
        (outage,) = pos.call(pos.fiscal.ListOutages, fiscal_pb2.ListOutagesRequest()).outages
        assert list(outage.vorgaenge) == numbers  # posctl outage list names them too
        assert list(outage.receipt_numbers) == [sale.receipt_number]
        for r in rows:
            assert r[0] == "fiskaly"
            assert r[3]  # the outage time
            assert r[4] == "1"
            assert r[5].startswith("HTTP_503") or r[5] == "TIMEOUT"
