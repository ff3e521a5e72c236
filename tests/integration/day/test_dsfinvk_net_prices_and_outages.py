"""DSFinV-K: what a net-priced sale and a sale cancelled in an outage show.

* lines.csv STK_BR is "Preis pro Einheit inkl. USt": a net-priced (business) sale's
  lines carry a net unit price, which the export wrote there unchanged.
* transactions_tse.csv TSE_TA_FEHLER of a sale cancelled during a TSE outage before its
  TSE transaction could start (no TSE row at all) said "Keine TSE konfiguriert" although
  a TSE was configured and failed: the outage went unmentioned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from posd.client import PosdClient
from posd.v1 import common_pb2, fiscal_pb2

from tests.conftest import start_in_thread
from tests.integration.day.conftest import Day
from tests.integration.day.test_full_day import cents, read_export
from tests.integration.fiscal.test_outage_recovery import fiskaly_config
from tests.support.cash import close_as_expected
from tests.support.fake_fiskaly import FakeFiskaly
from tests.support.fullsale import customer

CASH = common_pb2.PAYMENT_METHOD_CASH
CARD = common_pb2.PAYMENT_METHOD_CARD


def test_stk_br_of_a_net_priced_sale_is_the_gross_unit_price(day: Day) -> None:
    pos, dc = day.pos, day.day
    pos.upsert_item("K", "Kabel", 333)  # gross 3.33 at 19 %
    pos.upsert_item("B", "Brot", 349, vat_category=common_pb2.VAT_CATEGORY_REDUCED)
    pos.create_customer(
        customer("B-1", "Muster GmbH", street="Hauptstr. 1", postal_code="10115",
                 city="Berlin", price_entry=common_pb2.PRICE_BASIS_NET)
    )  # fmt: skip
    dc.open_shift([])
    consumer = pos.create_sale()
    pos.add_line(consumer.sale_id, item_id="K", quantity="2")
    pos.add_payment(consumer.sale_id, CARD, 666)
    pos.post_sale(consumer.sale_id)
    b = pos.create_sale()
    pos.set_customer(b.sale_id, "B-1")
    pos.add_line(b.sale_id, item_id="K", quantity="3")
    pos.add_line(b.sale_id, item_id="B", quantity="1")
    sale = pos.get_sale(b.sale_id)
    net_prices = {ln.item_id: ln.unit_price.amount_minor for ln in sale.lines}
    assert net_prices == {"K": 280, "B": 326}  # the sale's terms: net prices
    pos.add_payment(b.sale_id, CARD, sale.total.amount_minor)
    business = pos.post_sale(b.sale_id)
    close_as_expected(dc)
    z = dc.z_closing()

    t, _ = read_export(dc.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    bon = next(
        r["BON_ID"] for r in t["transactions.csv"] if r["BON_NR"] == str(business.receipt_number)
    )
    stk = {r["ART_NR"]: r["STK_BR"] for r in t["lines.csv"] if r["BON_ID"] == bon}
    # 2.80 net + 19 % = 3.332 -> 3.33; 3.26 net + 7 % = 3.4882 -> 3.49
    assert stk == {"K": "3,33000", "B": "3,49000"}
    # the consumer sale's gross unit price is unchanged
    consumer_stk = {
        r["STK_BR"] for r in t["lines.csv"] if r["BON_ID"] != bon and r["ART_NR"] == "K"
    }
    assert consumer_stk == {"3,33000"}
    # each line's gross stays what the receipt says
    gross = sum(cents(r["POS_BRUTTO"]) for r in t["lines_vat.csv"] if r["BON_ID"] == bon)
    assert gross == business.total.amount_minor


@pytest.fixture
def fake() -> Iterator[FakeFiskaly]:
    with FakeFiskaly() as f:
        yield f


def test_a_sale_cancelled_in_an_outage_before_its_tse_start_names_the_outage(
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
    errors = {r["BON_ID"]: r["TSE_TA_FEHLER"] for r in t["transactions_tse.csv"]}
    assert set(kinds) == set(errors)
    abort_bon = next(b for b, k in kinds.items() if k == "AVBelegabbruch")
    beleg_bon = next(b for b, k in kinds.items() if k == "Beleg")
    assert errors[beleg_bon].startswith("TSE-Ausfall Nr. 1:")
    assert errors[abort_bon] == "TSE-Ausfall Nr. 1: Vorgang ohne TSE-Signatur aufgezeichnet"
    # and it names the TSE that was out, as the outage recorded it, a tse.csv row of its Z
    # (its TSE_ID was empty: only a Vorgang naming the TSE of unknown serial made that
    # row; "zur Referenzierung innerhalb eines Kassenabschlusses", DSFinV-K 2.x, 3.2.6)
    tse_ids = {r["BON_ID"]: r["TSE_ID"] for r in t["transactions_tse.csv"]}
    tses = {r["TSE_ID"]: r["TSE_SERIAL"] for r in t["tse.csv"]}
    assert set(tse_ids.values()) <= set(tses), (tse_ids, tses)
    assert tses[tse_ids[abort_bon]] == tses[tse_ids[beleg_bon]] == outage_serial
