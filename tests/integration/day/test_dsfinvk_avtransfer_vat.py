"""An AVTransfer Vorgang (a parked sale handed over to another register) carries the
sale's amounts: its TSE transaction signed them per VAT slot (``AVTransfer^79.80_…``)
and UMS_BRUTTO states them. DSFinV-K splits a Bonkopf's amounts per VAT key in
Bonkopf_USt (transactions_vat.csv), and its lines' in Bonpos_USt (lines_vat.csv): the
two agree per key, as for every Vorgang. Like every AV* type it stays out of the Z's
business cases (businesscases.csv: turnover of the Belege only)."""

from __future__ import annotations

from posd.client import PosdClient
from posd.v1 import common_pb2

from tests.conftest import Running
from tests.integration.day.test_dsfinvk_historic_keys import assert_reconciles
from tests.integration.day.test_full_day import cents, read_export
from tests.integration.day.test_transfer_export import call, store  # noqa: F401
from tests.support.fullsale import import_items, item


def test_an_avtransfer_has_its_amounts_per_vat_key(store: dict[str, Running]) -> None:  # noqa: F811
    bread = item("BROT", "Brot", 300, vat=common_pb2.VAT_CATEGORY_REDUCED)
    for running in store.values():
        with running.client(open_shift=False) as pos:
            import_items(pos, bread)
    with store["K1"].client() as k1:
        posted = k1.create_sale()  # a Beleg: BON_ID 1
        k1.add_line(posted.sale_id, item_id="LAMP")
        k1.add_payment(posted.sale_id, common_pb2.PAYMENT_METHOD_CASH, 3990)
        k1.post_sale(posted.sale_id)
        sid = k1.create_sale().sale_id  # handed over: BON_ID 2
        k1.add_line(sid, item_id="LAMP", quantity="2")
        k1.add_line(sid, item_id="BROT")
        code = call(k1, "ParkSale", sale_id=sid).sale.parking_code
    with store["K3"].client() as k3:
        call(k3, "ResumeSale", code=code)
    with store["K1"].client(open_shift=False) as k1:
        k1.close_shift(PosdClient.cash_counts(total=3990))
        z = k1.z_closing()
        t, _ = read_export(k1.export_dsfinvk(z_from=z.z_nr, z_to=z.z_nr))
    heads = {r["BON_ID"]: r for r in t["transactions.csv"]}
    assert (heads["2"]["BON_TYP"], heads["2"]["UMS_BRUTTO"]) == ("AVTransfer", "82,80")
    vat = {
        (r["BON_ID"], r["UST_SCHLUESSEL"]): (r["BON_BRUTTO"], r["BON_NETTO"], r["BON_UST"])
        for r in t["transactions_vat.csv"]
    }
    assert vat[("2", "1")] == ("79,80000", "67,06000", "12,74000")
    assert vat[("2", "2")] == ("3,00000", "2,80000", "0,20000")
    # UMS_BRUTTO is what its Bonkopf_USt rows add up to
    assert sum(v for (b, _), (g, _, _) in vat.items() if b == "2" for v in [cents(g)]) == 8280
    # no turnover of the Z: the one Beleg's
    turnover = sum(cents(r["Z_UMS_BRUTTO"]) for r in t["businesscases.csv"])
    assert turnover == 3990
    assert_reconciles(t)
